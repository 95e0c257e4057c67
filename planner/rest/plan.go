package rest

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/ir"
)

// ActionPlan is a REST request lowered to IR, one kind per action as PostgREST plans
// them: *ReadPlan (GET and HEAD of a table or view), *MutatePlan (POST, PATCH, PUT and
// DELETE of a table) and *CallPlan (rpc/<function>). Compile turns any of them into a
// Statement.
type ActionPlan interface {
	slots() *Slots
}

// Slots is how a plan's IR parameter slots map to a request: slots below NumValues are
// the request's values (the Shaper's values, in order), ir.Param slot SourceBody is the
// body, and slots from NumValues on hold Consts, text that sits in the shape key (JSON
// path keys, text search configurations) but must still reach SQL as a bound parameter.
type Slots struct {
	Schema    string // the exposed schema the request addressed
	NumValues int
	Consts    [][]byte
}

func (s *Slots) slots() *Slots { return s }

// AppendArgs appends the text of every IR slot but the body's, given the request's
// values, to dst.
func (s *Slots) AppendArgs(dst, values [][]byte) [][]byte {
	return append(append(dst, values...), s.Consts...)
}

// ReadPlan reads a table or view.
type ReadPlan struct {
	Slots
	// Query is the read as a bare query: one root, the selected rows.
	Query *ir.Query
	// Read is the statement's form: the rows inside the envelope, with counts.
	Read *ir.RESTRead
}

// MutatePlan inserts, updates, upserts or deletes rows of a table.
type MutatePlan struct {
	Slots
	Write *ir.RESTWrite
	Table *catalog.Table
}

// CallPlan calls a function.
type CallPlan struct {
	Slots
	Call *ir.RESTCall
}

// ErrNotLowered is returned (wrapped) for requests the IR cannot express yet: aggregates
// next to embeds, an aggregating embed's own order or page, CSV with embeds, and some
// quantified operators.
var ErrNotLowered = errors.New("rest: request not lowered to IR yet")

// Plan resolves a request against the tenant catalog and lowers it to IR. body is read
// for its key set only (writes without ?columns=, POST rpc arguments).
func Plan(cat *catalog.Schema, req *ApiRequest, body []byte) (ActionPlan, error) {
	schema, err := req.ResolveSchema(cat.Schemas)
	if err != nil {
		return nil, err
	}
	if req.Action != ActionCall && len(req.RPCArgs) > 0 {
		// On a table a parameter is a filter: one without an operator does not parse.
		a := req.RPCArgs[0]
		return nil, parseError("filter", a.Value.Text, 0, "unexpected \""+firstRune(a.Value.Text)+"\" expecting an operator")
	}
	l := &lowering{cat: cat, schema: schema, req: req, next: req.NumValues}
	switch req.Action {
	case ActionRead:
		return l.read()
	case ActionInsert, ActionUpdate, ActionUpsert, ActionDelete:
		t := cat.Table(schema, req.Target)
		if t == nil {
			return nil, undefinedTable(schema, req.Target)
		}
		w, err := l.write(t, body)
		if err != nil {
			return nil, err
		}
		return &MutatePlan{Slots: l.slots(), Write: w, Table: t}, nil
	case ActionCall:
		c, err := l.call(schema, body)
		if err != nil {
			return nil, err
		}
		return &CallPlan{Slots: l.slots(), Call: c}, nil
	}
	return nil, notLowered("action")
}

func undefinedTable(schema, name string) *Error {
	return &Error{Status: 404, Code: CodeUndefinedTable, Message: `relation "` + schema + `.` + name + `" does not exist`}
}

func (l *lowering) slots() Slots {
	return Slots{Schema: l.schema, NumValues: l.req.NumValues, Consts: l.consts}
}

// page gives sel, the root of a read or of a function's rows, the request's page.
func page(sel *ir.Select, req *ApiRequest) {
	off, lim := req.Page()
	if off != nil {
		sel.Offset = &ir.Param{Slot: off.Slot, Type: "int8"}
	}
	if lim != nil {
		sel.Limit = &ir.Param{Slot: lim.Slot, Type: "int8"}
	}
}

// read lowers GET and HEAD of a table or view.
func (l *lowering) read() (*ReadPlan, error) {
	req := l.req
	t := l.cat.Table(l.schema, req.Target)
	if t == nil {
		return nil, undefinedTable(l.schema, req.Target)
	}
	sel, err := l.selectFor(t, req.Select, nil)
	if err != nil {
		return nil, err
	}
	sel.Shape = ir.ShapeArray
	page(sel, req)
	grouped := hasAgg(sel.Output)
	if grouped {
		if err := checkGrouped(sel.Output); err != nil {
			return nil, err
		}
	}
	csv := req.Accept == MediaCSV
	if csv {
		for _, f := range sel.Output.Fields {
			if _, ok := f.Value.(*ir.Column); !ok {
				return nil, notLowered("text/csv with embeds, spreads or aggregates")
			}
		}
	}
	return &ReadPlan{Slots: l.slots(),
		Query: &ir.Query{Bare: true, Roots: []ir.Root{{Name: req.Target, Value: &ir.Nested{Select: sel}}}},
		Read:  &ir.RESTRead{Select: sel, Total: req.Prefer.Count != "", Grouped: grouped, CSV: csv}}, nil
}

type lowering struct {
	cat    *catalog.Schema
	schema string
	req    *ApiRequest
	next   int
	consts [][]byte
}

func (l *lowering) constParam(text, typ string) *ir.Param {
	l.consts = append(l.consts, []byte(text))
	l.next++
	return &ir.Param{Slot: l.next - 1, Type: typ}
}

func undefinedColumn(t *catalog.Table, name string) *Error {
	return &Error{Status: 400, Code: CodeUndefinedColumn,
		Message: "column " + t.Name + "." + name + " does not exist"}
}

// notLowered is a lowering failure that is not the request's fault.
type notLowered string

func (n notLowered) Error() string { return ErrNotLowered.Error() + ": " + string(n) }
func (n notLowered) Unwrap() error { return ErrNotLowered }

// column lowers a field of t to an IR column and the SQL type of its value.
func (l *lowering) column(t *catalog.Table, f Field, cast string) (*ir.Column, string, error) {
	c := t.Column(f.Name)
	if c == nil {
		return nil, "", undefinedColumn(t, f.Name)
	}
	col := &ir.Column{Name: f.Name, Cast: cast}
	typ := ir.TypeName(c.TypeSchema, c.TypeName, c.IsArray)
	for i, op := range f.JSON {
		if op.Text && i != len(f.JSON)-1 {
			return nil, "", &Error{Status: 400, Code: CodeQueryParam, Message: "->> must be the last step of a JSON path: " + f.Name}
		}
		if op.Index {
			n, err := strconv.Atoi(op.Key)
			if err != nil {
				return nil, "", &Error{Status: 400, Code: CodeQueryParam, Message: "invalid JSON index " + op.Key}
			}
			col.Path = append(col.Path, ir.PathStep{Index: n})
		} else {
			col.Path = append(col.Path, ir.PathStep{Key: l.constParam(op.Key, "text")})
		}
		col.PathText = op.Text
		typ = "jsonb"
		if op.Text {
			typ = "text"
		}
	}
	if cast != "" {
		typ = cast
	}
	return col, typ, nil
}

func fieldKey(it *SelectItem) string {
	if it.Alias != "" {
		return it.Alias
	}
	for i := len(it.Field.JSON) - 1; i >= 0; i-- {
		if !it.Field.JSON[i].Index {
			return it.Field.JSON[i].Key
		}
	}
	return it.Field.Name
}

// selectFor builds the Select over t for a select list at the embed path.
func (l *lowering) selectFor(t *catalog.Table, items []SelectItem, path []string) (*ir.Select, error) {
	sel := &ir.Select{From: ir.Relation{Schema: t.Schema, Name: t.Name}, Output: &ir.Object{}}
	embeds := map[string]*embedInfo{}
	var where []ir.Expr
	for i := range items {
		it := &items[i]
		switch it.Kind {
		case SelectColumn:
			if it.Star {
				for _, c := range t.Columns {
					sel.Output.Fields = append(sel.Output.Fields, ir.Field{Name: c.Name, Value: &ir.Column{Name: c.Name}})
				}
				continue
			}
			if it.Agg != "" {
				f, err := l.aggregate(t, it)
				if err != nil {
					return nil, err
				}
				sel.Output.Fields = append(sel.Output.Fields, f)
				continue
			}
			if len(path) > 0 && it.Field.Name == "count" && len(it.Field.JSON) == 0 && it.Cast == "" && t.Column("count") == nil {
				// orders(count): the embed's row count, as PostgREST reads a bare count
				// that names no column of the embedded table.
				name := it.Alias
				if name == "" {
					name = "count"
				}
				sel.Output.Fields = append(sel.Output.Fields, ir.Field{Name: name, Value: &ir.Agg{Func: ir.AggCount}})
				continue
			}
			cast, err := l.castType(it.Cast)
			if err != nil {
				return nil, err
			}
			col, _, err := l.column(t, it.Field, cast)
			if err != nil {
				return nil, err
			}
			sel.Output.Fields = append(sel.Output.Fields, ir.Field{Name: fieldKey(it), Value: col})
		case SelectCount:
			name := it.Alias
			if name == "" {
				name = "count"
			}
			cast, err := l.castType(it.CountCast)
			if err != nil {
				return nil, err
			}
			sel.Output.Fields = append(sel.Output.Fields, ir.Field{Name: name, Value: &ir.Agg{Func: ir.AggCount, Cast: cast}})
		case SelectSpread:
			rel, rerr := l.resolve(t, it.Relation, it.Hint)
			if rerr != nil {
				return nil, rerr
			}
			if !rel.toOne {
				return nil, &Error{Status: 400, Code: CodeSpreadToMany,
					Message: "A spread operation on '" + it.Relation + "' is not possible",
					Details: "'" + t.Name + "' and '" + it.Relation + "' do not form a many-to-one or one-to-one relationship"}
			}
			target := l.cat.Table(rel.target.Schema, rel.target.Name)
			child, err := l.selectFor(target, it.Children, append(append([]string(nil), path...), it.Relation))
			if err != nil {
				return nil, err
			}
			if hasAgg(child.Output) {
				// PostgREST applies a spread's aggregates to the top level, grouped by
				// its other columns, not within the spread relation.
				return nil, notLowered("aggregates inside a spread")
			}
			child.Link, child.Shape = rel.link, ir.ShapeObject
			embeds[it.Relation] = &embedInfo{rel: rel, sel: child}
			for _, f := range child.Output.Fields {
				sel.Output.Fields = append(sel.Output.Fields, ir.Field{Name: f.Name, Value: &ir.Spread{Select: child, Key: f.Name}})
			}
		case SelectEmbed:
			rel, rerr := l.resolve(t, it.Relation, it.Hint)
			if rerr != nil {
				return nil, rerr
			}
			name := it.Alias
			if name == "" {
				name = it.Relation
			}
			target := l.cat.Table(rel.target.Schema, rel.target.Name)
			child, err := l.selectFor(target, it.Children, append(append([]string(nil), path...), name))
			if err != nil {
				return nil, err
			}
			if err := checkGroupedEmbed(child); err != nil {
				return nil, err
			}
			child.Link = rel.link
			child.Shape = ir.ShapeArray
			if rel.toOne {
				child.Shape = ir.ShapeObject
			}
			if it.Join == JoinInner {
				child.Link.Inner = true
				where = append(where, &ir.Exists{Relation: child.From, Link: child.Link, Where: child.Where})
			}
			embeds[name] = &embedInfo{rel: rel, sel: child}
			if len(it.Children) == 0 {
				continue // rel(): it filters, and the response leaves it out
			}
			sel.Output.Fields = append(sel.Output.Fields, ir.Field{Name: name, Value: &ir.Nested{Select: child}})
		}
	}
	for _, f := range l.req.Filters {
		if !equalPath(f.Path, path) {
			continue
		}
		x, err := l.filterAt(t, embeds, f.Field, f.Expr)
		if err != nil {
			return nil, err
		}
		where = append(where, x)
	}
	for _, lg := range l.req.Logic {
		if !equalPath(lg.Path, path) {
			continue
		}
		x, err := l.logic(t, embeds, &lg.Tree)
		if err != nil {
			return nil, err
		}
		where = append(where, x)
	}
	switch len(where) {
	case 0:
	case 1:
		sel.Where = where[0]
	default:
		sel.Where = &ir.And{Exprs: where}
	}
	for _, o := range l.req.Order {
		if !equalPath(o.Path, path) {
			continue
		}
		for _, term := range o.Terms {
			item := ir.OrderItem{Descending: term.Desc}
			if term.Nulls {
				item.Nulls = ir.NullsLast
				if term.NullsFirst {
					item.Nulls = ir.NullsFirst
				}
			}
			if term.Relation != "" {
				e := embeds[term.Relation]
				if e == nil {
					return nil, &Error{Status: 400, Code: CodeNotEmbedded,
						Message: "'" + term.Relation + "' is not an embedded resource in this request",
						Hint:    "Verify that '" + term.Relation + "' is included in the 'select' query parameter."}
				}
				if !e.rel.toOne {
					return nil, &Error{Status: 400, Code: CodeRelatedOrder,
						Message: "A related order on '" + term.Relation + "' is not possible",
						Details: "'" + term.Relation + "' must be a many-to-one or one-to-one relationship"}
				}
				target := l.cat.Table(e.sel.From.Schema, e.sel.From.Name)
				col, _, err := l.column(target, term.Field, "")
				if err != nil {
					return nil, err
				}
				item.Via = &ir.OrderVia{Relation: e.sel.From, Link: e.sel.Link, Column: col}
			} else {
				col, _, err := l.column(t, term.Field, "")
				if err != nil {
					return nil, err
				}
				item.Column = col
			}
			sel.OrderBy = append(sel.OrderBy, item)
		}
	}
	if len(path) > 0 {
		for _, rg := range l.req.Ranges {
			if !equalPath(rg.Path, path) {
				continue
			}
			if rg.Limit != nil {
				sel.Limit = &ir.Param{Slot: rg.Limit.Slot, Type: "int8"}
			}
			if rg.Offset != nil {
				sel.Offset = &ir.Param{Slot: rg.Offset.Slot, Type: "int8"}
			}
		}
	}
	return sel, nil
}

type embedInfo struct {
	rel *resolved
	sel *ir.Select
}

var simpleOps = map[Operator]ir.Op{
	"eq": ir.OpEq, "neq": ir.OpNeq, "gt": ir.OpGt, "gte": ir.OpGte, "lt": ir.OpLt, "lte": ir.OpLte,
	"like": ir.OpLike, "ilike": ir.OpILike, "match": ir.OpRegex, "imatch": ir.OpIRegex,
	"isdistinct": ir.OpDistinct, "cs": ir.OpContains, "cd": ir.OpContainedIn, "ov": ir.OpOverlaps,
	"sl": ir.OpStrictLeft, "sr": ir.OpStrictRight, "nxr": ir.OpNotExtRight, "nxl": ir.OpNotExtLeft,
	"adj": ir.OpAdjacent,
}

var ftsFuncs = map[Operator]string{
	"fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery", "wfts": "websearch_to_tsquery",
}

func (l *lowering) filter(t *catalog.Table, f Field, e OpExpr) (ir.Expr, error) {
	col, typ, err := l.column(t, f, "")
	if err != nil {
		return nil, err
	}
	var x ir.Expr
	switch {
	case e.Op == "is":
		switch e.Is {
		case "null", "unknown":
			x = &ir.IsNull{Expr: col}
		default:
			x = &ir.Compare{Left: col, Op: ir.OpNotDistinct, Right: &ir.Cast{Expr: &ir.Bool{Value: e.Is == "true"}, Type: "bool"}}
		}
	case e.Op == "in":
		x = &ir.Compare{Left: col, Op: ir.OpEqAny, Right: &ir.Param{Slot: e.Value.Slot, Type: arrayOf(typ)}}
	case ftsFuncs[e.Op] != "":
		args := []ir.Expr{}
		if e.Lang != "" {
			args = append(args, l.constParam(e.Lang, "regconfig"))
		}
		args = append(args, &ir.Param{Slot: e.Value.Slot, Type: "text"})
		// A text column is searched through to_tsvector, in the same configuration.
		var left ir.Expr = col
		if typ != "tsvector" {
			vargs := []ir.Expr{}
			if e.Lang != "" {
				vargs = append(vargs, l.constParam(e.Lang, "regconfig"))
			}
			left = &ir.Func{Name: "to_tsvector", Args: append(vargs, col)}
		}
		x = &ir.Compare{Left: left, Op: ir.OpTextSearch, Right: &ir.Func{Name: ftsFuncs[e.Op], Args: args}}
	case e.Quant != QuantNone:
		var op ir.Op
		switch {
		case e.Op == "eq" && e.Quant == QuantAny:
			op = ir.OpEqAny
		case e.Op == "like" && e.Quant == QuantAny:
			op = ir.OpLikeAny
		case e.Op == "like":
			op = ir.OpLikeAll
		case e.Op == "ilike" && e.Quant == QuantAny:
			op = ir.OpILikeAny
		case e.Op == "ilike":
			op = ir.OpILikeAll
		default:
			return nil, notLowered(string(e.Op) + "(any|all)")
		}
		pt := arrayOf(typ)
		if isLikeOp(e.Op) {
			pt = "text[]"
		}
		x = &ir.Compare{Left: col, Op: op, Right: &ir.Param{Slot: e.Value.Slot, Type: pt}}
	default:
		op, ok := simpleOps[e.Op]
		if !ok {
			return nil, notLowered("operator " + string(e.Op))
		}
		pt := typ
		switch e.Op {
		case "like", "ilike", "match", "imatch":
			pt = "text"
			if typ != "text" && typ != "varchar" && typ != "bpchar" {
				x = &ir.Compare{Left: &ir.Cast{Expr: col, Type: "text"}, Op: op, Right: &ir.Param{Slot: e.Value.Slot, Type: pt}}
			}
		}
		if x == nil {
			x = &ir.Compare{Left: col, Op: op, Right: &ir.Param{Slot: e.Value.Slot, Type: pt}}
		}
	}
	if e.Negate {
		x = &ir.Not{Expr: x}
	}
	return x, nil
}

func arrayOf(typ string) string {
	if strings.HasSuffix(typ, "[]") {
		return typ
	}
	return typ + "[]"
}

// filterAt lowers a filter on t, at a level whose embeds are embeds: a column's, or, on an
// embed that is not also a column, rel=is.null / rel=not.is.null (the embed has no / some
// matching row), in a parameter of its own or inside and=/or=.
func (l *lowering) filterAt(t *catalog.Table, embeds map[string]*embedInfo, fld Field, ex OpExpr) (ir.Expr, error) {
	e := embeds[fld.Name]
	if e == nil || t.Column(fld.Name) != nil || len(fld.JSON) > 0 {
		return l.filter(t, fld, ex)
	}
	if ex.Op != "is" || ex.Is != "null" {
		return nil, &Error{Status: 400, Code: CodeEmbeddedFilter,
			Message: "Bad operator on the '" + fld.Name + "' embedded resource",
			Hint:    "Only is null or not is null filters are allowed on embedded resources"}
	}
	var x ir.Expr = &ir.Exists{Relation: e.sel.From, Link: e.sel.Link, Where: e.sel.Where}
	if !ex.Negate {
		x = &ir.Not{Expr: x}
	}
	return x, nil
}

func (l *lowering) logic(t *catalog.Table, embeds map[string]*embedInfo, tree *LogicTree) (ir.Expr, error) {
	if tree.Leaf != nil {
		return l.filterAt(t, embeds, tree.Leaf.Field, tree.Leaf.Expr)
	}
	kids := make([]ir.Expr, 0, len(tree.Children))
	for i := range tree.Children {
		x, err := l.logic(t, embeds, &tree.Children[i])
		if err != nil {
			return nil, err
		}
		kids = append(kids, x)
	}
	var x ir.Expr = &ir.And{Exprs: kids}
	if tree.Or {
		x = &ir.Or{Exprs: kids}
	}
	if tree.Negate {
		x = &ir.Not{Expr: x}
	}
	return x, nil
}

// ---- embedding resolution ----

type resolved struct {
	target      ir.Relation
	link        *ir.Link
	toOne       bool
	cardinality string // many-to-one, one-to-many, one-to-one, many-to-many
	desc        string // PostgREST's "relationship" text for PGRST201
	hintName    string // what to put after ! to pick this one
}

// candidates lists every FK path from t to a relation named name (or, for to-one,
// an FK named name or whose single column is name), PostgREST's embedding rule.
func (l *lowering) candidates(t *catalog.Table) []*resolved {
	var out []*resolved
	cols := func(c []string) string { return strings.Join(c, ", ") }
	for _, fk := range t.ForeignKeys {
		if l.cat.Table(fk.RefSchema, fk.RefTable) == nil {
			continue
		}
		card := "many-to-one"
		if isUniqueKey(t, fk.Columns) {
			card = "one-to-one"
		}
		out = append(out, &resolved{
			target: ir.Relation{Schema: fk.RefSchema, Name: fk.RefTable}, toOne: true, cardinality: card,
			link:     &ir.Link{Columns: fk.Columns, RemoteColumns: fk.RefColumns},
			desc:     fk.Name + " using " + t.Name + "(" + cols(fk.Columns) + ") and " + fk.RefTable + "(" + cols(fk.RefColumns) + ")",
			hintName: fk.Name,
		})
	}
	for _, x := range l.cat.Tables {
		for _, fk := range x.ForeignKeys {
			if fk.RefSchema != t.Schema || fk.RefTable != t.Name {
				continue
			}
			one := isUniqueKey(x, fk.Columns)
			card := "one-to-many"
			if one {
				card = "one-to-one"
			}
			out = append(out, &resolved{
				target: ir.Relation{Schema: x.Schema, Name: x.Name}, toOne: one, cardinality: card,
				link:     &ir.Link{Columns: fk.RefColumns, RemoteColumns: fk.Columns},
				desc:     fk.Name + " using " + x.Name + "(" + cols(fk.Columns) + ") and " + t.Name + "(" + cols(fk.RefColumns) + ")",
				hintName: fk.Name,
			})
			// Many-to-many through x when x has another FK and both are in its primary key.
			if !subset(fk.Columns, x.PrimaryKey) {
				continue
			}
			for _, fk2 := range x.ForeignKeys {
				if fk2 == fk || !subset(fk2.Columns, x.PrimaryKey) || l.cat.Table(fk2.RefSchema, fk2.RefTable) == nil {
					continue
				}
				out = append(out, &resolved{
					target: ir.Relation{Schema: fk2.RefSchema, Name: fk2.RefTable}, cardinality: "many-to-many",
					link: &ir.Link{Columns: fk.RefColumns, RemoteColumns: fk2.RefColumns,
						Through: &ir.Junction{Relation: ir.Relation{Schema: x.Schema, Name: x.Name}, Columns: fk.Columns, RemoteColumns: fk2.Columns}},
					desc:     x.Name + " using " + fk.Name + "(" + cols(fk.Columns) + ") and " + fk2.Name + "(" + cols(fk2.Columns) + ")",
					hintName: x.Name,
				})
			}
		}
	}
	return out
}

func (l *lowering) resolve(t *catalog.Table, name, hint string) (*resolved, *Error) {
	var matches []*resolved
	for _, c := range l.candidates(t) {
		byName := c.target.Name == name
		if !byName && c.toOne && c.cardinality != "one-to-many" && c.link.Through == nil {
			// Embedding by FK constraint name or by its single column (to-one only).
			byName = c.hintName == name || (len(c.link.Columns) == 1 && c.link.Columns[0] == name)
		}
		if !byName {
			continue
		}
		if hint != "" && !matchesHint(c, hint) {
			continue
		}
		matches = append(matches, c)
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		using := ""
		if hint != "" {
			using = " using the hint '" + hint + "'"
		}
		return nil, &Error{Status: 400, Code: CodeNoRelationship,
			Message: "Could not find a relationship between '" + t.Name + "' and '" + name + "' in the schema cache",
			Details: "Searched for a foreign key relationship between '" + t.Name + "' and '" + name + "'" + using + " in the schema '" + l.schema + "', but no matches were found."}
	}
	type detail struct {
		Cardinality  string `json:"cardinality"`
		Embedding    string `json:"embedding"`
		Relationship string `json:"relationship"`
	}
	var ds []detail
	var hints []string
	for _, m := range matches {
		ds = append(ds, detail{m.cardinality, t.Name + " with " + m.target.Name, m.desc})
		hints = append(hints, "'"+name+"!"+m.hintName+"'")
	}
	raw, _ := json.Marshal(ds)
	return nil, &Error{Status: 300, Code: CodeAmbiguousEmbed,
		Message:     "Could not embed because more than one relationship was found for '" + t.Name + "' and '" + name + "'",
		DetailsJSON: raw,
		Hint:        "Try changing '" + name + "' to one of the following: " + strings.Join(hints, ", ") + ". Find the desired relationship in the 'details' key."}
}

func matchesHint(c *resolved, hint string) bool {
	if c.hintName == hint {
		return true
	}
	if c.link.Through != nil {
		return false
	}
	for _, col := range c.link.Columns {
		if col == hint {
			return true
		}
	}
	for _, col := range c.link.RemoteColumns {
		if col == hint {
			return true
		}
	}
	return false
}

func isUniqueKey(t *catalog.Table, cols []string) bool {
	if len(t.PrimaryKey) > 0 && sameSet(t.PrimaryKey, cols) {
		return true
	}
	for _, u := range t.Uniques {
		if sameSet(u.Columns, cols) {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool { return len(a) == len(b) && subset(a, b) }

func subset(a, b []string) bool {
	if len(b) == 0 {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			return false
		}
	}
	return true
}
