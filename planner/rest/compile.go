package rest

import (
	"encoding/json"
	"strings"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/ir"
	"github.com/kapok-dev/kapok/planner/sqlgen"
)

// SourceBody marks the placeholder that binds the request body (json).
const SourceBody = -1

// Statement is a request compiled to one SQL statement. The statement returns the
// envelope `<rows in body>,<total>,<body>` as its one value, the two counts plain
// integers (the total empty when not counted), so the front door can split it without
// decoding the body.
type Statement struct {
	SQL string
	// Result is statement.Envelope when the statement returns one object per row, which
	// the executor gathers into the envelope; statement.Value otherwise.
	Result statement.Result
	// Sources says, for each placeholder $i+1, where its text comes from: s >= 0 is the
	// request's value s, SourceBody the body, s <= -2 is Consts[-s-2].
	Sources []int
	Consts  [][]byte

	Action Action
	Schema string
	Table  string
	Prefer Preferences
	Accept MediaType
	// Scalar is set when the body is one value rather than an array of rows (a function
	// returning a scalar, a composite or void): no Content-Range.
	Scalar bool
	// Void is set for functions returning void.
	Void bool
	// Representation is set when the response carries the affected rows.
	Representation bool
	// PrimaryKey is the target table's key (Location headers of inserts).
	PrimaryKey []string
	// Location is set when the body holds the inserted rows' primary keys, for the
	// Location header of return=headers-only; the body itself is not sent.
	Location bool
	// Offset is the request value that holds the root offset, for Content-Range; -1: none.
	Offset int
	// RoleOnly: a read of plain tables only, which nothing of the request's session but
	// its role can change (ir.RoleOnly).
	RoleOnly bool
	// Inserted says the envelope's total is the number of rows an upsert inserted (not
	// updated), for the status: 201 when one was, else 200 (PostgREST v12).
	Inserted bool

	applied  []byte // Preference-Applied, "" for none: the same for every request of the plan
	timezone []byte // Prefer: timezone=…, the argument of sqlgen.SetTimezone
}

// Compile resolves req against the tenant catalog, plans it (Plan) and writes its
// statement. body is read on a compile only, for its key set.
func Compile(cat *catalog.Schema, req *ApiRequest, body []byte) (*Statement, error) {
	ap, err := Plan(cat, req, body)
	if err != nil {
		return nil, err
	}
	st := &Statement{Action: req.Action, Table: req.Target, Prefer: req.Prefer, Accept: req.Accept, Offset: -1}
	var stmt sqlgen.Statement
	switch p := ap.(type) {
	case *ReadPlan:
		if stmt, err = sqlgen.BuildRESTRead(p.Read); err != nil {
			return nil, err
		}
		st.Representation = true
		st.RoleOnly = ir.RoleOnly(p.Query, cat)
		if off, _ := req.Page(); off != nil {
			st.Offset = off.Slot
		}
	case *MutatePlan:
		st.PrimaryKey = p.Table.PrimaryKey
		st.Representation = req.Prefer.Return == "representation"
		st.Location = !st.Representation && p.Write.Returning != nil
		st.Inserted = p.Write.CountInserted
		if stmt, err = sqlgen.BuildRESTWrite(p.Write); err != nil {
			return nil, err
		}
	case *CallPlan:
		st.Scalar = !p.Call.Set
		st.Void = p.Call.Void
		st.Representation = true
		if off, _ := req.Page(); off != nil && p.Call.Rows != nil {
			st.Offset = off.Slot
		}
		if stmt, err = sqlgen.BuildRESTCall(p.Call); err != nil {
			return nil, err
		}
	}
	sl := ap.slots()
	st.Schema = sl.Schema
	st.SQL, st.Result = stmt.SQL, stmt.Result
	st.Consts = sl.Consts
	st.Sources = make([]int, len(stmt.Slots))
	for i, s := range stmt.Slots {
		switch {
		case s == SourceBody, s < sl.NumValues:
			st.Sources[i] = s
		default:
			st.Sources[i] = -2 - (s - sl.NumValues)
		}
	}
	st.applied, st.timezone = []byte(st.preferenceApplied()), []byte(req.Prefer.Timezone)
	return st, nil
}

// AppendArgs appends the text of every placeholder to dst.
func (s *Statement) AppendArgs(dst, values [][]byte, body []byte) [][]byte {
	for _, src := range s.Sources {
		switch {
		case src >= 0:
			dst = append(dst, values[src])
		case src == SourceBody:
			dst = append(dst, body)
		default:
			dst = append(dst, s.Consts[-src-2])
		}
	}
	return dst
}

// bodyKeys returns the keys of the body's object, or of its first object when it is
// an array, in order.
func bodyKeys(body []byte) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	tok, err := dec.Token()
	if err != nil {
		return nil, invalidBody()
	}
	if tok == json.Delim('[') {
		if !dec.More() {
			return nil, nil
		}
		if tok, err = dec.Token(); err != nil {
			return nil, invalidBody()
		}
	}
	if tok != json.Delim('{') {
		return nil, invalidBody()
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, invalidBody()
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, invalidBody()
		}
	}
	return keys, nil
}

func columnNotFound(t *catalog.Table, name string) *Error {
	return &Error{Status: 400, Code: CodeColumnNotFound,
		Message: "Could not find the '" + name + "' column of '" + t.Name + "' in the schema cache"}
}

// write lowers POST, PATCH, PUT and DELETE on table t.
func (l *lowering) write(t *catalog.Table, body []byte) (*ir.RESTWrite, error) {
	req := l.req
	w := &ir.RESTWrite{Table: ir.Relation{Schema: t.Schema, Name: t.Name}, Body: &ir.Param{Slot: SourceBody, Type: "json"},
		Singular: req.Accept == MediaObject, BodyObject: BodyIsObject(body)}
	if req.Action == ActionUpdate || req.Action == ActionDelete {
		w.MaxAffected = req.Prefer.maxAffected()
	}
	if req.Action != ActionDelete {
		cols := req.Columns
		if !req.HasColumns {
			keys, err := bodyKeys(body)
			if err != nil {
				return nil, err
			}
			cols = keys
		}
		for _, c := range cols {
			if t.Column(c) == nil {
				return nil, columnNotFound(t, c)
			}
		}
		w.Columns = cols
	}
	// The select list lowers once: its root filters are the statement's WHERE, the rest
	// shapes the returned rows.
	sel, err := l.selectFor(t, req.Select, nil)
	if err != nil {
		return nil, err
	}
	switch req.Action {
	case ActionInsert:
		w.Op = ir.MutInsert
		if req.Prefer.Missing == "default" {
			w.MissingDefault = true
			for _, name := range w.Columns {
				c := t.Column(name)
				w.Defaults = append(w.Defaults, c.Default)
				w.Identity = append(w.Identity, c.IsIdentity)
			}
		}
		if req.Prefer.Resolution != "" {
			w.OnConflict = req.OnConflict
			if len(w.OnConflict) == 0 {
				w.OnConflict = t.PrimaryKey
			}
			if len(w.OnConflict) == 0 {
				return nil, &Error{Status: 400, Code: CodeQueryParam, Message: "an upsert needs on_conflict or a primary key on " + t.Name}
			}
			w.DoNothing = req.Prefer.Resolution == "ignore-duplicates"
			w.CountInserted = !w.DoNothing && len(w.Columns) > 0
		}
	case ActionUpsert:
		w.Op = ir.MutInsert
		if err := checkPut(t, req); err != nil {
			return nil, err
		}
		w.OnConflict = t.PrimaryKey
		// Without the row, PUT answers 204 whatever it did.
		w.CountInserted = len(w.Columns) > 0 && req.Prefer.Return == "representation"
	case ActionUpdate:
		w.Op = ir.MutUpdate
		w.Where = sel.Where
	case ActionDelete:
		w.Op = ir.MutDelete
		w.Where = sel.Where
	}
	switch {
	case req.Prefer.Return == "representation":
		ret := *sel
		ret.From = ir.MutatedRows
		ret.Where, ret.Limit, ret.Offset = nil, nil, nil
		w.Returning = &ret
	case req.Prefer.Return == "headers-only" && req.Action == ActionInsert && len(t.PrimaryKey) > 0:
		key := &ir.Object{}
		for _, k := range t.PrimaryKey {
			key.Fields = append(key.Fields, ir.Field{Name: k, Value: &ir.Column{Name: k}})
		}
		w.Returning = &ir.Select{From: ir.MutatedRows, Output: key}
	}
	return w, nil
}

// checkPut applies PostgREST's PUT rules: the filters are exactly eq on every primary
// key column, and there is no limit or offset.
func checkPut(t *catalog.Table, req *ApiRequest) error {
	if len(req.Ranges) > 0 {
		return &Error{Status: 400, Code: CodePutLimit, Message: "limit/offset querystring parameters are not allowed for PUT"}
	}
	bad := &Error{Status: 405, Code: CodeInvalidFilters, Message: "Filters must include all and only primary key columns with 'eq' operators"}
	if len(t.PrimaryKey) == 0 || len(req.Logic) > 0 || len(req.Filters) != len(t.PrimaryKey) {
		return bad
	}
	for _, k := range t.PrimaryKey {
		found := false
		for _, f := range req.Filters {
			if len(f.Path) == 0 && f.Field.Name == k && len(f.Field.JSON) == 0 && f.Expr.Op == "eq" && !f.Expr.Negate && f.Expr.Quant == QuantNone {
				found = true
			}
		}
		if !found {
			return bad
		}
	}
	return nil
}

// call lowers GET/POST rpc/<fn>.
func (l *lowering) call(schema string, body []byte) (*ir.RESTCall, error) {
	req := l.req
	names := map[string]bool{}
	for _, a := range req.RPCArgs {
		names[a.Name] = true
	}
	var bodyNames []string
	if req.Method == "POST" {
		b := strings.TrimSpace(string(body))
		if b != "" {
			keys, err := bodyKeys(body)
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(b, "[") {
				return nil, &Error{Status: 400, Code: CodeInvalidBody, Message: "a function call takes a JSON object of named arguments"}
			}
			bodyNames = keys
			for _, k := range keys {
				names[k] = true
			}
		}
	}
	f := pickFunction(l.cat.FunctionsNamed(schema, req.Target), names)
	if f == nil {
		var given []string
		for n := range names {
			given = append(given, n)
		}
		msg := "Could not find the function " + schema + "." + req.Target + "(" + strings.Join(sortedCopy(given), ", ") + ") in the schema cache"
		return nil, &Error{Status: 404, Code: CodeNoFunction, Message: msg,
			Hint: "Check the function's name and the names of its arguments"}
	}
	if req.Method != "POST" && f.Volatility == "v" {
		return nil, &Error{Status: 405, Code: "25006", Message: "cannot execute a volatile function in a read-only request",
			Hint: "call it with POST"}
	}
	c := &ir.RESTCall{Function: ir.Relation{Schema: f.Schema, Name: f.Name}, Set: f.ReturnsSet, Total: req.Prefer.Count != "",
		MaxAffected: req.Prefer.maxAffected()}
	if c.MaxAffected != nil && !c.Set {
		return nil, &Error{Status: 400, Code: CodeMaxAffectedRPC,
			Message: "Function must return SETOF or TABLE when max-affected preference is used with handling=strict"}
	}
	for _, a := range req.RPCArgs {
		fa := funcArg(f, a.Name)
		c.Args = append(c.Args, ir.NamedArg{Name: a.Name, Value: &ir.Param{Slot: a.Value.Slot, Type: ir.TypeName(fa.TypeSchema, fa.TypeName, fa.IsArray)}})
	}
	if len(bodyNames) > 0 {
		c.Body = &ir.Param{Slot: SourceBody, Type: "json"}
		for _, n := range bodyNames {
			fa := funcArg(f, n)
			c.BodyArgs = append(c.BodyArgs, ir.TypedName{Name: n, Type: ir.TypeName(fa.TypeSchema, fa.TypeName, fa.IsArray)})
		}
	}
	var rowTable *catalog.Table
	switch {
	case f.ReturnTypeName == "void":
		c.Void = true
	case f.ReturnsRelation != nil:
		rowTable = l.cat.Table(f.ReturnsRelation.Schema, f.ReturnsRelation.Name)
	case f.ReturnsTable:
		rowTable = &catalog.Table{Name: f.Name}
		for _, o := range f.OutColumns {
			rowTable.Columns = append(rowTable.Columns, &catalog.Column{Name: o.Name, Type: o.Type, TypeName: o.TypeName, TypeSchema: o.TypeSchema, IsArray: o.IsArray})
		}
		// A throwaway schema indexes the result's columns for lookups.
		(&catalog.Schema{Tables: []*catalog.Table{rowTable}}).Index()
	}
	if rowTable != nil {
		c.Composite = true
		sel, err := l.selectFor(rowTable, req.Select, nil)
		if err != nil {
			return nil, err
		}
		sel.From = ir.CallRows
		sel.Shape = ir.ShapeArray
		page(sel, req)
		c.Rows = sel
	}
	return c, nil
}

func funcArg(f *catalog.Function, name string) *catalog.FunctionArg {
	for _, a := range f.Args {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// pickFunction chooses the overload whose named arguments cover the given names and
// whose arguments without defaults are all given.
func pickFunction(fs []*catalog.Function, names map[string]bool) *catalog.Function {
	for _, f := range fs {
		ok := true
		for n := range names {
			if funcArg(f, n) == nil {
				ok = false
			}
		}
		for _, a := range f.Args {
			if !a.HasDefault && !names[a.Name] {
				ok = false
			}
		}
		if ok {
			return f
		}
	}
	return nil
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// hasAgg reports whether a root output holds aggregates: the read is then grouped by
// its plain columns.
func hasAgg(o *ir.Object) bool {
	for _, f := range o.Fields {
		if _, ok := f.Value.(*ir.Agg); ok {
			return true
		}
	}
	return false
}

// checkGrouped refuses grouped outputs that hold more than columns and aggregates.
func checkGrouped(o *ir.Object) error {
	for _, f := range o.Fields {
		switch f.Value.(type) {
		case *ir.Agg, *ir.Column:
		default:
			return notLowered("aggregates next to embeds or spreads")
		}
	}
	return nil
}

func firstRune(s string) string {
	for _, r := range s {
		return string(r)
	}
	return ""
}
