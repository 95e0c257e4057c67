package graphql

import (
	"sort"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/planner/ir"
	"github.com/kapok-dev/kapok/planner/sqlgen"
)

// mutation compiles each root field of a mutation into its own statement (a
// data-modifying CTE), in order; the proxy runs them in one transaction.
func (c *compiler) mutation() error {
	fields, err := c.collect(c.op.SelectionSet)
	if err != nil {
		return err
	}
	if len(fields) > c.lim.MaxRootFields {
		return validationf("$.selectionSet", "too many root fields: %d, the limit is %d", len(fields), c.lim.MaxRootFields)
	}
	type pending struct {
		key string
		m   *ir.Mutation
		q   *ir.Query
		// many: the field's value is the array of the results of ms, in order.
		many bool
		ms   []*ir.Mutation
	}
	var stmts []pending
	for _, of := range fields {
		f := of.fields[0]
		path := "$.selectionSet." + of.key
		if f.Name == "__typename" {
			q := &ir.Query{Bare: true, Roots: []ir.Root{{Value: &ir.Literal{Param: *c.constParam("json", []byte(`"mutation_root"`), false)}}}}
			stmts = append(stmts, pending{key: of.key, q: q})
			continue
		}
		rf := c.s.MutationField(f.Name)
		if rf == nil {
			return validationf(path, "field '%s' not found in type: 'mutation_root'", f.Name)
		}
		if rf.Kind == gqlschema.RootUpdateMany {
			ms, err := c.updateMany(rf.Table, of, path)
			if err != nil {
				return err
			}
			if len(ms) == 0 {
				q := &ir.Query{Bare: true, Roots: []ir.Root{{Value: &ir.Literal{Param: *c.constParam("json", []byte(`[]`), false)}}}}
				stmts = append(stmts, pending{key: of.key, q: q})
				continue
			}
			stmts = append(stmts, pending{key: of.key, many: true, ms: ms})
			continue
		}
		m, err := c.mutationField(rf, of, path)
		if err != nil {
			return err
		}
		stmts = append(stmts, pending{key: of.key, m: m})
	}
	c.finishKeyVars()
	for _, s := range stmts {
		if s.q != nil {
			if err := c.addStatement(s.q, s.key); err != nil {
				return err
			}
			continue
		}
		if !s.many {
			s.ms = []*ir.Mutation{s.m}
		}
		for i, m := range s.ms {
			st, err := sqlgen.BuildMutation(m)
			if err != nil {
				return planner.Errorf(planner.CodeUnexpected, "$", "%v", err)
			}
			ps := planner.Statement{SQL: st.SQL, ResponseKey: s.key, Params: c.paramsOf(st.Slots), Result: st.Result}
			if s.many {
				ps.Part, ps.Parts = i+1, len(s.ms)
			}
			c.plan.Statements = append(c.plan.Statements, ps)
		}
	}
	return nil
}

// updateMany compiles update_<t>_many: one UPDATE per element of updates, each its own
// statement. One statement cannot do it: the data-modifying CTEs of one statement all
// see the same snapshot, so a second update of a row would not see the first (and
// Postgres modifies a row at most once per statement).
func (c *compiler) updateMany(t *gqlschema.Table, of *outField, path string) ([]*ir.Mutation, error) {
	f := of.fields[0]
	apath := path + ".args.updates"
	a := f.Arguments.ForName("updates")
	if a == nil {
		return nil, validationf(path+".args", "missing required field 'updates'")
	}
	v, err := c.structural(a.Value)
	if err != nil {
		return nil, err
	}
	var ms []*ir.Mutation
	for i, it := range items(v) {
		ipath := apath + "[" + strconv.Itoa(i) + "]"
		it, err := c.structural(it)
		if err != nil {
			return nil, err
		}
		if isNull(it) || it.Kind != ast.ObjectValue {
			return nil, validationf(ipath, "expected an object for type '%s'", t.Names.Updates)
		}
		args := make(ast.ArgumentList, 0, len(it.Children))
		for _, ch := range it.Children {
			args = append(args, &ast.Argument{Name: ch.Name, Value: ch.Value})
		}
		m := &ir.Mutation{Op: ir.MutUpdate, Table: c.relationOf(t)}
		if err := c.updateSet(t, m, args, ipath); err != nil {
			return nil, err
		}
		if m.Where, err = c.mutationWhere(t, args, ipath); err != nil {
			return nil, err
		}
		if m.Response, err = c.mutationResponse(t, of, path); err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func (c *compiler) mutationField(rf *gqlschema.RootField, of *outField, path string) (*ir.Mutation, error) {
	f := of.fields[0]
	t := rf.Table
	m := &ir.Mutation{Table: c.relationOf(t)}
	apath := path + ".args"
	var err error
	switch rf.Kind {
	case gqlschema.RootInsert, gqlschema.RootInsertOne:
		m.Op = ir.MutInsert
		var objs []*ast.Value
		input := f.Arguments.ForName("objects")
		if input == nil {
			input = f.Arguments.ForName("object")
		}
		rows, err := c.rowsInput(t, input)
		if err != nil {
			return nil, err
		}
		if rows != nil {
			m.Columns, m.Rows = rows.cols, rows.param
		} else if a := f.Arguments.ForName("objects"); a != nil {
			v, err := c.structural(a.Value)
			if err != nil {
				return nil, err
			}
			objs = items(v)
		}
		if a := f.Arguments.ForName("object"); a != nil && rows == nil {
			objs = []*ast.Value{a.Value}
		}
		var oc *ir.OnConflict
		if a := f.Arguments.ForName("on_conflict"); a != nil {
			if oc, err = c.onConflict(t, a.Value, apath+".on_conflict"); err != nil {
				return nil, err
			}
		}
		if rows != nil {
			m.OnConflict = oc
		} else if err := c.insertRows(t, m, objs, oc, apath+".objects"); err != nil {
			return nil, err
		}
	case gqlschema.RootUpdate, gqlschema.RootUpdateByPK:
		m.Op = ir.MutUpdate
		if err := c.updateSet(t, m, f.Arguments, apath); err != nil {
			return nil, err
		}
		if rf.Kind == gqlschema.RootUpdate {
			m.Where, err = c.mutationWhere(t, f.Arguments, apath)
		} else {
			m.Where, err = c.pkColumns(t, f.Arguments.ForName("pk_columns"), apath+".pk_columns")
		}
		if err != nil {
			return nil, err
		}
	case gqlschema.RootDelete:
		m.Op = ir.MutDelete
		if m.Where, err = c.mutationWhere(t, f.Arguments, apath); err != nil {
			return nil, err
		}
	case gqlschema.RootDeleteByPK:
		m.Op = ir.MutDelete
		var conds []ir.Expr
		for _, col := range t.PrimaryKey {
			a := f.Arguments.ForName(col.Name)
			if a == nil {
				return nil, validationf(apath, "missing required field '%s'", col.Name)
			}
			v, err := c.leaf(a.Value, colType(col), false)
			if err != nil {
				return nil, err
			}
			conds = append(conds, &ir.Compare{Left: &ir.Column{Name: col.Name}, Op: ir.OpEq, Right: v})
		}
		m.Where = andOf(conds)
	default:
		return nil, planner.Errorf(planner.CodeNotSupported, path, "%s is not supported yet", f.Name)
	}

	switch rf.Kind {
	case gqlschema.RootInsertOne, gqlschema.RootUpdateByPK, gqlschema.RootDeleteByPK:
		out, err := c.rowObject(t, of, path, 1)
		if err != nil {
			return nil, err
		}
		m.Response = &ir.Nested{Select: &ir.Select{From: ir.MutatedRows, Shape: ir.ShapeObject, Output: out}}
	default:
		if m.Response, err = c.mutationResponse(t, of, path); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (c *compiler) mutationWhere(t *gqlschema.Table, args ast.ArgumentList, path string) (ir.Expr, error) {
	a := args.ForName("where")
	if a == nil {
		return nil, validationf(path, "missing required field 'where'")
	}
	w, err := c.boolExp(t, a.Value, path+".where")
	if err != nil {
		return nil, err
	}
	if w == nil {
		w = &ir.Bool{Value: true}
	}
	return w, nil
}

func (c *compiler) pkColumns(t *gqlschema.Table, a *ast.Argument, path string) (ir.Expr, error) {
	if a == nil {
		return nil, validationf(path, "missing required field 'pk_columns'")
	}
	v, err := c.structural(a.Value)
	if err != nil {
		return nil, err
	}
	var conds []ir.Expr
	for _, col := range t.PrimaryKey {
		var cv *ast.Value
		if v != nil {
			for _, ch := range v.Children {
				if ch.Name == col.Name {
					cv = ch.Value
				}
			}
		}
		if cv == nil {
			return nil, validationf(path, "missing required field '%s'", col.Name)
		}
		e, err := c.leaf(cv, colType(col), false)
		if err != nil {
			return nil, err
		}
		conds = append(conds, &ir.Compare{Left: &ir.Column{Name: col.Name}, Op: ir.OpEq, Right: e})
	}
	return andOf(conds), nil
}

// insertRows compiles the objects of an insert. Without relationship fields they
// become one multi-row INSERT; with them, a chain of steps (see ir.Mutation.Steps).
func (c *compiler) insertRows(t *gqlschema.Table, m *ir.Mutation, objs []*ast.Value, oc *ir.OnConflict, path string) error {
	b := &insertBuilder{c: c}
	res, err := b.rows(t, objs, nil, oc, path)
	if err != nil {
		return err
	}
	if len(b.steps) == 1 && !b.nested {
		st := b.steps[0]
		m.Columns, m.Values, m.OnConflict = st.Columns, st.Values, st.OnConflict
		return nil
	}
	m.Steps, m.Result = b.steps, res
	return nil
}

// insertBuilder accumulates the steps of one insert mutation.
type insertBuilder struct {
	c      *compiler
	steps  []*ir.InsertStep
	nested bool
}

type childRows struct {
	rel  *gqlschema.Relationship
	data []*ast.Value
	oc   *ir.OnConflict
	path string
}

// rows inserts objs into t (fixed columns added to every row) and returns the names of
// the steps holding them: one step for all rows, or one per row when rows have array
// relationship children (which must reference their own parent row).
func (b *insertBuilder) rows(t *gqlschema.Table, objs []*ast.Value, fixed map[string]ir.Expr, oc *ir.OnConflict, path string) ([]string, error) {
	type row struct {
		cols     []string
		vals     map[string]ir.Expr
		children []childRows
	}
	var rows []row
	split := false
	for i, o := range objs {
		cols, vals, children, err := b.row(t, o, fixed, path+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		split = split || len(children) > 0
		rows = append(rows, row{cols, vals, children})
	}
	step := func(rs []row) *ir.InsertStep {
		st := &ir.InsertStep{Name: "i" + strconv.Itoa(len(b.steps)), Table: relationOf(t), OnConflict: oc}
		idx := map[string]int{}
		for _, r := range rs {
			for _, col := range r.cols {
				if _, ok := idx[col]; !ok {
					idx[col] = len(st.Columns)
					st.Columns = append(st.Columns, col)
				}
			}
		}
		for _, r := range rs {
			vals := make([]ir.Expr, len(st.Columns))
			for col, v := range r.vals {
				vals[idx[col]] = v
			}
			st.Values = append(st.Values, vals)
		}
		b.steps = append(b.steps, st)
		return st
	}
	if !split {
		return []string{step(rows).Name}, nil
	}
	var names []string
	for _, r := range rows {
		st := step([]row{r})
		names = append(names, st.Name)
		for _, ch := range r.children {
			fk := map[string]ir.Expr{}
			for i, rc := range ch.rel.Catalog.RemoteColumns {
				fk[rc] = &ir.RowRef{Step: st.Name, Column: ch.rel.Catalog.Columns[i]}
			}
			if _, err := b.rows(ch.rel.Remote, ch.data, fk, ch.oc, ch.path); err != nil {
				return nil, err
			}
		}
	}
	return names, nil
}

// row reads one insert object: its columns, parents inserted first through object
// relationships (their keys fill this row's FK columns), and children to insert after.
func (b *insertBuilder) row(t *gqlschema.Table, o *ast.Value, fixed map[string]ir.Expr, path string) ([]string, map[string]ir.Expr, []childRows, error) {
	c := b.c
	o, err := c.structural(o)
	if err != nil {
		return nil, nil, nil, err
	}
	if isNull(o) || o.Kind != ast.ObjectValue {
		return nil, nil, nil, validationf(path, "expected an object for type '%s'", t.Names.InsertInput)
	}
	var cols []string
	vals := map[string]ir.Expr{}
	set := func(col string, v ir.Expr) {
		if _, ok := vals[col]; !ok {
			cols = append(cols, col)
		}
		vals[col] = v
	}
	var children []childRows
	for _, ch := range o.Children {
		cpath := path + "." + ch.Name
		ref := c.s.Field(t.Names.InsertInput, ch.Name)
		if ref == nil {
			return nil, nil, nil, validationf(cpath, "field '%s' not found in type: '%s'", ch.Name, t.Names.InsertInput)
		}
		switch ref.Kind {
		case gqlschema.FieldColumn:
			col := ref.Column
			v, err := c.leaf(ch.Value, colType(col), isJSONColumn(col))
			if err != nil {
				return nil, nil, nil, err
			}
			set(col.Name, v)
		case gqlschema.FieldObjectRel, gqlschema.FieldArrayRel:
			b.nested = true
			r := ref.Rel
			data, oc, err := b.relInput(r, ch.Value, cpath)
			if err != nil {
				return nil, nil, nil, err
			}
			if ref.Kind == gqlschema.FieldArrayRel {
				children = append(children, childRows{rel: r, data: data, oc: oc, path: cpath + ".data"})
				continue
			}
			if !holdsFK(t, r) {
				return nil, nil, nil, planner.Errorf(planner.CodeNotSupported, cpath, "inserting through '%s' is not supported: the foreign key is on the remote table", ch.Name)
			}
			names, err := b.rows(r.Remote, data, nil, oc, cpath+".data")
			if err != nil {
				return nil, nil, nil, err
			}
			for i, lc := range r.Catalog.Columns {
				set(lc, &ir.RowRef{Step: names[0], Column: r.Catalog.RemoteColumns[i]})
			}
		default:
			return nil, nil, nil, validationf(cpath, "field '%s' cannot be inserted", ch.Name)
		}
	}
	for col, v := range fixed {
		set(col, v)
	}
	sortFixed(cols, fixed)
	return cols, vals, children, nil
}

// sortFixed keeps generated SQL deterministic: map iteration put the fixed columns at
// the end in random order; order them by name.
func sortFixed(cols []string, fixed map[string]ir.Expr) {
	if len(fixed) < 2 {
		return
	}
	start := len(cols)
	for start > 0 {
		if _, ok := fixed[cols[start-1]]; !ok {
			break
		}
		start--
	}
	sort.Strings(cols[start:])
}

// relInput reads "<t>_obj_rel_insert_input" / "<t>_arr_rel_insert_input".
func (b *insertBuilder) relInput(r *gqlschema.Relationship, v *ast.Value, path string) ([]*ast.Value, *ir.OnConflict, error) {
	c := b.c
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return nil, nil, err
	}
	var data []*ast.Value
	var oc *ir.OnConflict
	for _, ch := range v.Children {
		switch ch.Name {
		case "data":
			dv, err := c.structural(ch.Value)
			if err != nil {
				return nil, nil, err
			}
			data = items(dv)
		case "on_conflict":
			if oc, err = c.onConflict(r.Remote, ch.Value, path+".on_conflict"); err != nil {
				return nil, nil, err
			}
		}
	}
	return data, oc, nil
}

// holdsFK reports whether t has a foreign key on exactly the relationship's columns.
func holdsFK(t *gqlschema.Table, r *gqlschema.Relationship) bool {
	for _, fk := range t.Catalog.ForeignKeys {
		if fk.Name == r.Catalog.Constraint {
			return true
		}
	}
	return false
}

func isJSONColumn(col *gqlschema.Column) bool {
	return !col.IsArray && (col.Scalar.Class == gqlschema.ClassJSONB || col.Scalar.Class == gqlschema.ClassJSON)
}

func (c *compiler) onConflict(t *gqlschema.Table, v *ast.Value, path string) (*ir.OnConflict, error) {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return nil, err
	}
	oc := &ir.OnConflict{}
	for _, ch := range v.Children {
		cv, err := c.structural(ch.Value)
		if err != nil {
			return nil, err
		}
		switch ch.Name {
		case "constraint":
			ti := c.s.Type(t.Names.Constraint)
			var ev *gqlschema.EnumValue
			if ti != nil && cv != nil {
				ev = ti.Values[cv.Raw]
			}
			if ev == nil || ev.Constraint == nil {
				return nil, validationf(path+".constraint", "unexpected value for enum: '%s'", t.Names.Constraint)
			}
			oc.Constraint = ev.Constraint.Name
		case "update_columns":
			ti := c.s.Type(t.Names.UpdateColumn)
			for _, it := range items(cv) {
				var ev *gqlschema.EnumValue
				if ti != nil {
					ev = ti.Values[it.Raw]
				}
				if ev == nil || ev.Column == nil {
					return nil, validationf(path+".update_columns", "unexpected value %q for enum: '%s'", it.Raw, t.Names.UpdateColumn)
				}
				oc.UpdateColumns = append(oc.UpdateColumns, ev.Column.Name)
			}
		case "where":
			if oc.Where, err = c.boolExp(t, cv, path+".where"); err != nil {
				return nil, err
			}
		}
	}
	if oc.Constraint == "" {
		return nil, validationf(path, "missing required field 'constraint'")
	}
	return oc, nil
}

// updateOps are the update operators in the order Hasura lists them.
var updateOps = [...]string{"_set", "_inc", "_prepend", "_append", "_delete_key", "_delete_elem", "_delete_at_path"}

// updateSet reads _set, _inc and the jsonb operators into assignments. At least one
// operator must be given, as in Hasura; an empty one (`_set: {}`) is allowed and
// leaves m.Set empty, which updates no row.
func (c *compiler) updateSet(t *gqlschema.Table, m *ir.Mutation, args ast.ArgumentList, path string) error {
	seen := map[string]string{}
	given := false
	for _, a := range args {
		op := a.Name
		switch op {
		case "_set", "_inc", "_append", "_prepend", "_delete_key", "_delete_elem", "_delete_at_path":
		default:
			continue
		}
		v, err := c.structural(a.Value)
		if err != nil {
			return err
		}
		if isNull(v) {
			continue
		}
		given = true
		for _, ch := range v.Children {
			cpath := path + "." + op + "." + ch.Name
			col := t.Column(ch.Name)
			if col == nil {
				return validationf(cpath, "field '%s' not found in type: '%s'", ch.Name, t.Names.SetInput)
			}
			if prev, ok := seen[col.Name]; ok {
				return validationf(path, "column found in multiple operators; %q in %s, %s operators", col.Name, prev, op)
			}
			seen[col.Name] = op
			cur := &ir.Column{Name: col.Name}
			var e ir.Expr
			switch op {
			case "_set":
				e, err = c.leaf(ch.Value, colType(col), isJSONColumn(col))
			case "_inc":
				var r ir.Expr
				if r, err = c.leaf(ch.Value, colType(col), false); err == nil {
					e = &ir.Compare{Left: cur, Op: ir.OpAdd, Right: r}
				}
			case "_append", "_prepend":
				var r ir.Expr
				if r, err = c.leaf(ch.Value, "jsonb", true); err == nil {
					if op == "_append" {
						e = &ir.Compare{Left: cur, Op: ir.OpConcat, Right: r}
					} else {
						e = &ir.Compare{Left: r, Op: ir.OpConcat, Right: cur}
					}
				}
			case "_delete_key":
				var r ir.Expr
				if r, err = c.leaf(ch.Value, "text", false); err == nil {
					e = &ir.Compare{Left: cur, Op: ir.OpMinus, Right: r}
				}
			case "_delete_elem":
				var r ir.Expr
				if r, err = c.leaf(ch.Value, "int4", false); err == nil {
					e = &ir.Compare{Left: cur, Op: ir.OpMinus, Right: r}
				}
			case "_delete_at_path":
				var r ir.Expr
				if r, err = c.leaf(ch.Value, "text[]", false); err == nil {
					e = &ir.Compare{Left: cur, Op: ir.OpDeletePath, Right: r}
				}
			}
			if err != nil {
				return err
			}
			m.Set = append(m.Set, ir.Assignment{Column: col.Name, Value: e})
		}
	}
	if !given {
		var allowed []string
		for _, op := range updateOps {
			if c.s.Field(t.Names.Updates, op) != nil {
				allowed = append(allowed, op)
			}
		}
		return validationf(path, "at least any one of %s is expected", strings.Join(allowed, ", "))
	}
	return nil
}

// mutationResponse builds "<t>_mutation_response": affected_rows, returning, __typename.
func (c *compiler) mutationResponse(t *gqlschema.Table, of *outField, path string) (ir.Value, error) {
	fields, err := c.collect(of.selections())
	if err != nil {
		return nil, err
	}
	obj := &ir.Object{}
	for _, sub := range fields {
		f := sub.fields[0]
		fpath := path + ".selectionSet." + sub.key
		var v ir.Value
		switch f.Name {
		case "__typename":
			v = &ir.Literal{Param: *c.constParam("text", []byte(t.Names.MutationResponse), false)}
		case "affected_rows":
			v = &ir.AffectedRows{}
		case "returning":
			out, err := c.rowObject(t, sub, fpath, 2)
			if err != nil {
				return nil, err
			}
			v = &ir.Nested{Select: &ir.Select{From: ir.MutatedRows, Shape: ir.ShapeArray, Output: out}}
		default:
			return nil, validationf(fpath, "field '%s' not found in type: '%s'", f.Name, t.Names.MutationResponse)
		}
		obj.Fields = append(obj.Fields, ir.Field{Name: sub.key, Value: v})
	}
	return &ir.Nest{Object: obj}, nil
}

// jsonRows is a whole insert-input variable bound as one json parameter.
type jsonRows struct {
	cols  []string
	param *ir.Param
}

// rowsInput binds `objects: $objs` / `object: $obj` as one json parameter when the
// value is of shape planner.ShapeRows: the plan then depends on the objects' keys
// only, not on their values or number (Plan.Shapes tells the cache). Otherwise it
// returns nil and the caller compiles the value itself (a key variable).
func (c *compiler) rowsInput(t *gqlschema.Table, a *ast.Argument) (*jsonRows, error) {
	if a == nil || a.Value == nil || a.Value.Kind != ast.Variable {
		return nil, nil
	}
	name := a.Value.Raw
	vi, ok := c.varIdx[name]
	if !ok {
		return nil, nil
	}
	var nested []string
	if ti := c.s.Type(t.Names.InsertInput); ti != nil {
		for n, ref := range ti.Fields {
			if ref.Kind == gqlschema.FieldObjectRel || ref.Kind == gqlschema.FieldArrayRel {
				nested = append(nested, n)
			}
		}
	}
	sort.Strings(nested)
	c.shapes = append(c.shapes, planner.VarShape{Var: name, Nested: nested})
	raw, present := c.rawVars[name]
	if !present {
		raw = c.plan.Vars[vi].Default
	}
	kind, keys := planner.InputKeys(raw, nested)
	if kind != planner.ShapeRows {
		return nil, nil
	}
	c.keyVars[name] = true
	rows := &planner.RowsInput{Keys: keys, Checks: make([]planner.Var, len(keys))}
	var cols []string
	for i, k := range keys {
		ref := c.s.Field(t.Names.InsertInput, k)
		if ref == nil {
			return nil, validationf("$.variableValues."+name, "field '%s' not found in type: '%s'", k, t.Names.InsertInput)
		}
		switch ref.Kind {
		case gqlschema.FieldColumn:
			rows.Checks[i] = c.inputCheck(k, ref.Column.InputType)
			cols = append(cols, ref.Column.Name)
		case gqlschema.FieldObjectRel, gqlschema.FieldArrayRel:
			rows.Checks[i] = planner.Var{Name: k, Kind: planner.ScalarOther}
		default:
			return nil, validationf("$.variableValues."+name, "field '%s' cannot be inserted", k)
		}
	}
	if len(cols) == 0 {
		// Only null relationships: the rows are compiled from the value, whose number
		// of objects the shape does not tell.
		c.noShape[name] = true
		return nil, nil
	}
	c.rowsVars[name] = true
	slot := len(c.params)
	c.params = append(c.params, planner.Param{Var: vi, Type: "json", Rows: rows})
	return &jsonRows{cols: cols, param: &ir.Param{Slot: slot, Type: "json"}}, nil
}

// inputCheck is the variable-like check of a value of GraphQL input type typ ("Int",
// "[String!]").
func (c *compiler) inputCheck(name, typ string) planner.Var {
	v := planner.Var{Name: name}
	for strings.HasPrefix(typ, "[") {
		v.ListDepth++
		typ = strings.TrimSuffix(typ, "!")
		typ = strings.TrimSuffix(typ[1:], "]")
	}
	if strings.HasSuffix(typ, "!") {
		typ = strings.TrimSuffix(typ, "!")
		if v.ListDepth > 0 {
			v.ElemNonNull = true
		} else {
			v.NonNull = true
		}
	}
	v.TypeName = typ
	v.Kind = c.scalarKind(typ)
	return v
}
