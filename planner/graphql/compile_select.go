package graphql

import (
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/planner/ir"
)

// outField is one response key with every field merged under it.
type outField struct {
	key    string
	fields []*ast.Field
}

// selections returns the merged sub-selections of every field under the key.
func (of *outField) selections() ast.SelectionSet {
	if len(of.fields) == 1 {
		return of.fields[0].SelectionSet
	}
	var set ast.SelectionSet
	for _, f := range of.fields {
		set = append(set, f.SelectionSet...)
	}
	return set
}

// collect flattens fragments and applies @skip/@include, merging fields by response key
// in first-appearance order (GraphQL's CollectFields).
func (c *compiler) collect(set ast.SelectionSet) ([]*outField, error) {
	var out []*outField
	idx := map[string]int{}
	var walk func(ast.SelectionSet) error
	walk = func(set ast.SelectionSet) error {
		if err := c.tick(); err != nil {
			return err
		}
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				ok, err := c.included(s.Directives)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				key := s.Alias
				if key == "" {
					key = s.Name
				}
				if i, ok := idx[key]; ok {
					out[i].fields = append(out[i].fields, s)
					continue
				}
				idx[key] = len(out)
				out = append(out, &outField{key: key, fields: []*ast.Field{s}})
			case *ast.InlineFragment:
				ok, err := c.included(s.Directives)
				if err != nil {
					return err
				}
				if ok {
					if err := walk(s.SelectionSet); err != nil {
						return err
					}
				}
			case *ast.FragmentSpread:
				ok, err := c.included(s.Directives)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				def := s.Definition
				if def == nil {
					def = c.doc.Fragments.ForName(s.Name)
				}
				if def == nil {
					return validationf("$", "fragment %q is not defined", s.Name)
				}
				if err := walk(def.SelectionSet); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(set)
}

// included evaluates @skip and @include.
func (c *compiler) included(dirs ast.DirectiveList) (bool, error) {
	for _, d := range dirs {
		if d.Name != "skip" && d.Name != "include" {
			continue
		}
		a := d.Arguments.ForName("if")
		if a == nil {
			continue
		}
		b, ok, err := c.boolValue(a.Value)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, validationf("$", "expected a boolean for the argument 'if' of @%s", d.Name)
		}
		if (d.Name == "skip") == b {
			return false, nil
		}
	}
	return true, nil
}

func (c *compiler) relationOf(t *gqlschema.Table) ir.Relation {
	c.reads(t)
	return ir.Relation{Schema: t.Catalog.Schema, Name: t.Catalog.Name}
}

// reads records that the operation reads t, for Plan.Reads.
func (c *compiler) reads(t *gqlschema.Table) {
	for _, r := range c.plan.Reads {
		if r.Schema == t.Catalog.Schema && r.Name == t.Catalog.Name {
			return
		}
	}
	c.plan.Reads = append(c.plan.Reads, planner.Relation{Schema: t.Catalog.Schema, Name: t.Catalog.Name, Table: t.Catalog.Kind == catalog.KindTable || t.Catalog.Kind == catalog.KindPartitionedTable})
}

func linkOf(r *gqlschema.Relationship) *ir.Link {
	return &ir.Link{Columns: r.Catalog.Columns, RemoteColumns: r.Catalog.RemoteColumns}
}

// colType is the Postgres type of a column for parameter casts.
func colType(col *gqlschema.Column) string {
	return ir.TypeName(col.Catalog.TypeSchema, col.Catalog.TypeName, col.Catalog.IsArray)
}

func colElemType(col *gqlschema.Column) string {
	return ir.TypeName(col.Catalog.TypeSchema, col.Catalog.TypeName, false)
}

func (c *compiler) rootSelect(rf *gqlschema.RootField, of *outField, path string) (*ir.Select, error) {
	f := of.fields[0]
	t := rf.Table
	switch rf.Kind {
	case gqlschema.RootSelect:
		return c.listSelect(t, of, path, 1, ir.ShapeArray, nil)
	case gqlschema.RootSelectAggregate:
		return c.listSelect(t, of, path, 1, ir.ShapeAggregate, nil)
	case gqlschema.RootSelectByPK:
		sel := &ir.Select{From: c.relationOf(t), Shape: ir.ShapeObject}
		var conds []ir.Expr
		for _, col := range t.PrimaryKey {
			a := f.Arguments.ForName(col.Name)
			if a == nil {
				return nil, validationf(path+".args", "missing required field '%s'", col.Name)
			}
			v, err := c.leaf(a.Value, colType(col), false)
			if err != nil {
				return nil, err
			}
			conds = append(conds, &ir.Compare{Left: &ir.Column{Name: col.Name}, Op: ir.OpEq, Right: v})
		}
		sel.Where = andOf(conds)
		var err error
		sel.Output, err = c.rowObject(t, of, path, 1)
		return sel, err
	case gqlschema.RootSelectStream:
		return c.streamSelect(t, of, path)
	}
	return nil, validationf(path, "field '%s' is not a query", rf.Name)
}

func andOf(es []ir.Expr) ir.Expr {
	switch len(es) {
	case 0:
		return nil
	case 1:
		return es[0]
	}
	return &ir.And{Exprs: es}
}

// selectArgs reads where, order_by, distinct_on, limit and offset.
func (c *compiler) selectArgs(t *gqlschema.Table, args ast.ArgumentList, path string) (*ir.Select, error) {
	sel := &ir.Select{From: c.relationOf(t)}
	apath := path + ".args"
	var err error
	if a := args.ForName("where"); a != nil {
		if sel.Where, err = c.boolExp(t, a.Value, apath+".where"); err != nil {
			return nil, err
		}
	}
	if a := args.ForName("order_by"); a != nil {
		if sel.OrderBy, err = c.orderBy(t, a.Value, apath+".order_by"); err != nil {
			return nil, err
		}
	}
	if a := args.ForName("distinct_on"); a != nil {
		if sel.DistinctOn, err = c.distinctOn(t, a.Value, apath+".distinct_on"); err != nil {
			return nil, err
		}
		if err := checkDistinctPrefix(sel.DistinctOn, sel.OrderBy, apath); err != nil {
			return nil, err
		}
	}
	if a := args.ForName("limit"); a != nil && !isNull(a.Value) {
		if sel.Limit, err = c.leaf(a.Value, "int4", false); err != nil {
			return nil, err
		}
	}
	if a := args.ForName("offset"); a != nil && !isNull(a.Value) {
		if sel.Offset, err = c.leaf(a.Value, "int4", false); err != nil {
			return nil, err
		}
	}
	return sel, nil
}

// listSelect compiles a list of table t, or its aggregate (shape), as the field of of
// asks: its arguments, its output at depth, the row cap; link ties it to a parent row.
func (c *compiler) listSelect(t *gqlschema.Table, of *outField, path string, depth int, shape ir.Shape, link *ir.Link) (*ir.Select, error) {
	sel, err := c.selectArgs(t, of.fields[0].Arguments, path)
	if err != nil {
		return nil, err
	}
	sel.Shape, sel.Link = shape, link
	if shape == ir.ShapeAggregate {
		sel.Output, err = c.aggregateObject(t, of, path, depth)
	} else {
		sel.Output, err = c.rowObject(t, of, path, depth)
	}
	if err != nil {
		return nil, err
	}
	c.capLimit(sel)
	return sel, nil
}

// capLimit applies the tenant's MaxLimit to a list's rows. An aggregate is capped only
// when it returns its nodes: its count and sums are over every matching row.
func (c *compiler) capLimit(sel *ir.Select) {
	if c.lim.MaxLimit <= 0 || (sel.Shape == ir.ShapeAggregate && !hasRows(sel.Output)) {
		return
	}
	lim := c.constParam("int4", []byte(strconv.Itoa(c.lim.MaxLimit)), false)
	if sel.Limit == nil {
		sel.Limit = lim
	} else {
		sel.Limit = &ir.Func{Name: "least", Args: []ir.Expr{sel.Limit, lim}}
	}
}

func hasRows(o *ir.Object) bool {
	if o == nil {
		return false
	}
	for _, f := range o.Fields {
		switch v := f.Value.(type) {
		case *ir.Rows:
			return true
		case *ir.Nest:
			if hasRows(v.Object) {
				return true
			}
		}
	}
	return false
}

// checkDistinctPrefix applies Hasura's rule: with both distinct_on and order_by, the
// order_by must start with the distinct_on columns.
func checkDistinctPrefix(distinct []string, order []ir.OrderItem, path string) error {
	if len(order) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, d := range distinct {
		want[d] = true
	}
	for i := 0; i < len(distinct); i++ {
		if i >= len(order) || order[i].Column == nil || !want[order[i].Column.Name] {
			return validationf(path, "\"distinct_on\" columns must match initial \"order_by\" columns")
		}
	}
	return nil
}

func (c *compiler) distinctOn(t *gqlschema.Table, v *ast.Value, path string) ([]string, error) {
	v, err := c.structural(v)
	if err != nil {
		return nil, err
	}
	ti := c.s.Type(t.Names.SelectColumn)
	var out []string
	for _, it := range items(v) {
		ev := ti.Values[it.Raw]
		if ev == nil || ev.Column == nil {
			return nil, validationf(path, "unexpected value %q for enum: '%s'", it.Raw, t.Names.SelectColumn)
		}
		out = append(out, ev.Column.Name)
	}
	return out, nil
}

func (c *compiler) checkDepth(depth int, path string) error {
	if depth > c.lim.MaxDepth {
		return validationf(path, "the query is nested too deeply: the limit is %d levels", c.lim.MaxDepth)
	}
	return nil
}

// rowObject builds the JSON object of one row of t from the selections under of.
func (c *compiler) rowObject(t *gqlschema.Table, of *outField, path string, depth int) (*ir.Object, error) {
	if err := c.checkDepth(depth, path); err != nil {
		return nil, err
	}
	fields, err := c.collect(of.selections())
	if err != nil {
		return nil, err
	}
	typeName := t.Names.Base
	obj := &ir.Object{}
	for _, sub := range fields {
		f := sub.fields[0]
		fpath := path + ".selectionSet." + sub.key
		var v ir.Value
		if f.Name == "__typename" {
			v = &ir.Literal{Param: *c.constParam("text", []byte(typeName), false)}
			obj.Fields = append(obj.Fields, ir.Field{Name: sub.key, Value: v})
			continue
		}
		ref := c.s.Field(typeName, f.Name)
		if ref == nil {
			return nil, validationf(fpath, "field '%s' not found in type: '%s'", f.Name, typeName)
		}
		switch ref.Kind {
		case gqlschema.FieldColumn:
			col := &ir.Column{Name: ref.Column.Name}
			if a := f.Arguments.ForName("path"); a != nil {
				if err := c.jsonPath(col, a.Value, fpath+".args.path"); err != nil {
					return nil, err
				}
			}
			v = col
		case gqlschema.FieldObjectRel:
			r := ref.Rel
			out, err := c.rowObject(r.Remote, sub, fpath, depth+1)
			if err != nil {
				return nil, err
			}
			v = &ir.Nested{Select: &ir.Select{From: c.relationOf(r.Remote), Shape: ir.ShapeObject, Link: linkOf(r), Output: out}}
		case gqlschema.FieldArrayRel, gqlschema.FieldArrayRelAggregate:
			shape := ir.ShapeArray
			if ref.Kind == gqlschema.FieldArrayRelAggregate {
				shape = ir.ShapeAggregate
			}
			sel, err := c.listSelect(ref.Rel.Remote, sub, fpath, depth+1, shape, linkOf(ref.Rel))
			if err != nil {
				return nil, err
			}
			v = &ir.Nested{Select: sel}
		default:
			return nil, validationf(fpath, "field '%s' cannot be selected here", f.Name)
		}
		obj.Fields = append(obj.Fields, ir.Field{Name: sub.key, Value: v})
	}
	return obj, nil
}

// jsonPath applies Hasura's `path` argument of json/jsonb columns: "$.a.b[0]" or "a.b".
func (c *compiler) jsonPath(col *ir.Column, v *ast.Value, path string) error {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return err
	}
	p := strings.TrimPrefix(v.Raw, "$")
	for len(p) > 0 {
		switch {
		case p[0] == '.':
			p = p[1:]
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return validationf(path, "parse json path error: unterminated index")
			}
			inner := p[1:end]
			p = p[end+1:]
			if n, err := strconv.Atoi(inner); err == nil && n >= 0 {
				col.Path = append(col.Path, ir.PathStep{Index: n})
				continue
			}
			key := strings.Trim(inner, `"'`)
			col.Path = append(col.Path, ir.PathStep{Key: c.constParam("text", []byte(key), false)})
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			col.Path = append(col.Path, ir.PathStep{Key: c.constParam("text", []byte(p[:end]), false)})
			p = p[end:]
		}
	}
	return nil
}

// aggregateObject builds "<t>_aggregate": aggregate { count sum {…} … } and nodes.
func (c *compiler) aggregateObject(t *gqlschema.Table, of *outField, path string, depth int) (*ir.Object, error) {
	if err := c.checkDepth(depth, path); err != nil {
		return nil, err
	}
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
			v = &ir.Literal{Param: *c.constParam("text", []byte(t.Names.AggregateType), false)}
		case "nodes":
			rows, err := c.rowObject(t, sub, fpath, depth+1)
			if err != nil {
				return nil, err
			}
			v = &ir.Rows{Object: rows}
		case "aggregate":
			agg, err := c.aggregateFields(t, sub, fpath, depth+1)
			if err != nil {
				return nil, err
			}
			v = &ir.Nest{Object: agg}
		case "groups":
			if v, err = c.groupsValue(t, sub, fpath, depth+1); err != nil {
				return nil, err
			}
		default:
			return nil, validationf(fpath, "field '%s' not found in type: '%s'", f.Name, t.Names.AggregateType)
		}
		obj.Fields = append(obj.Fields, ir.Field{Name: sub.key, Value: v})
	}
	return obj, nil
}

func (c *compiler) aggregateFields(t *gqlschema.Table, of *outField, path string, depth int) (*ir.Object, error) {
	fields, err := c.collect(of.selections())
	if err != nil {
		return nil, err
	}
	typeName := t.Names.AggregateFields
	obj := &ir.Object{}
	for _, sub := range fields {
		f := sub.fields[0]
		fpath := path + ".selectionSet." + sub.key
		var v ir.Value
		if f.Name == "__typename" {
			obj.Fields = append(obj.Fields, ir.Field{Name: sub.key, Value: &ir.Literal{Param: *c.constParam("text", []byte(typeName), false)}})
			continue
		}
		ref := c.s.Field(typeName, f.Name)
		if ref == nil {
			return nil, validationf(fpath, "field '%s' not found in type: '%s'", f.Name, typeName)
		}
		switch ref.Kind {
		case gqlschema.FieldAggCount:
			agg := &ir.Agg{Func: ir.AggCount}
			if a := f.Arguments.ForName("columns"); a != nil {
				if agg.Columns, err = c.distinctOn(t, a.Value, fpath+".args.columns"); err != nil {
					return nil, err
				}
			}
			if a := f.Arguments.ForName("distinct"); a != nil {
				d, _, err := c.boolValue(a.Value)
				if err != nil {
					return nil, err
				}
				agg.Distinct = d && len(agg.Columns) > 0
			}
			v = agg
		case gqlschema.FieldAggFunc:
			fn := ref.Func
			ftype := t.Names.FuncFields[fn]
			inner, err := c.collect(sub.selections())
			if err != nil {
				return nil, err
			}
			o := &ir.Object{}
			for _, cf := range inner {
				g := cf.fields[0]
				if g.Name == "__typename" {
					o.Fields = append(o.Fields, ir.Field{Name: cf.key, Value: &ir.Literal{Param: *c.constParam("text", []byte(ftype), false)}})
					continue
				}
				cref := c.s.Field(ftype, g.Name)
				if cref == nil || cref.Column == nil {
					return nil, validationf(fpath+".selectionSet."+cf.key, "field '%s' not found in type: '%s'", g.Name, ftype)
				}
				o.Fields = append(o.Fields, ir.Field{Name: cf.key, Value: &ir.Agg{Func: ir.AggFunc(fn), Columns: []string{cref.Column.Name}}})
			}
			v = &ir.Nest{Object: o}
		default:
			return nil, validationf(fpath, "field '%s' cannot be selected here", f.Name)
		}
		obj.Fields = append(obj.Fields, ir.Field{Name: sub.key, Value: v})
	}
	return obj, nil
}

// streamSelect compiles "<t>_stream(batch_size, cursor, where)": the next batch of rows
// after the cursor's initial values, ordered by the cursor columns.
func (c *compiler) streamSelect(t *gqlschema.Table, of *outField, path string) (*ir.Select, error) {
	f := of.fields[0]
	apath := path + ".args"
	sel := &ir.Select{From: c.relationOf(t), Shape: ir.ShapeArray}
	var conds []ir.Expr
	if a := f.Arguments.ForName("where"); a != nil {
		w, err := c.boolExp(t, a.Value, apath+".where")
		if err != nil {
			return nil, err
		}
		if w != nil {
			conds = append(conds, w)
		}
	}
	if a := f.Arguments.ForName("cursor"); a != nil {
		cv, err := c.structural(a.Value)
		if err != nil {
			return nil, err
		}
		for _, cur := range items(cv) {
			cur, err := c.structural(cur)
			if err != nil || isNull(cur) {
				return nil, err
			}
			desc := false
			var initial *ast.Value
			for _, ch := range cur.Children {
				switch ch.Name {
				case "ordering":
					o, err := c.structural(ch.Value)
					if err != nil {
						return nil, err
					}
					desc = o != nil && o.Raw == "DESC"
				case "initial_value":
					if initial, err = c.structural(ch.Value); err != nil {
						return nil, err
					}
				}
			}
			if initial == nil {
				continue
			}
			for _, ch := range initial.Children {
				col := t.Column(ch.Name)
				if col == nil {
					return nil, validationf(apath+".cursor.initial_value."+ch.Name, "field '%s' not found in type: '%s'", ch.Name, t.Names.Base)
				}
				v, err := c.leaf(ch.Value, colType(col), false)
				if err != nil {
					return nil, err
				}
				if p, ok := v.(*ir.Param); ok && c.lim.StreamCursor {
					// A placeholder of its own, which the server rebinds as the cursor moves.
					c.params = append(c.params, c.params[p.Slot])
					v = &ir.Param{Slot: len(c.params) - 1, Type: p.Type}
					c.cursorSlots = append(c.cursorSlots, len(c.params)-1)
					c.cursorCols = append(c.cursorCols, col.Name)
				}
				op, nulls := ir.OpGt, ir.NullsLast
				if desc {
					op, nulls = ir.OpLt, ir.NullsFirst
				}
				conds = append(conds, &ir.Compare{Left: &ir.Column{Name: col.Name}, Op: op, Right: v})
				sel.OrderBy = append(sel.OrderBy, ir.OrderItem{Column: &ir.Column{Name: col.Name}, Descending: desc, Nulls: nulls})
			}
		}
	}
	sel.Where = andOf(conds)
	if a := f.Arguments.ForName("batch_size"); a != nil {
		lim, err := c.leaf(a.Value, "int4", false)
		if err != nil {
			return nil, err
		}
		sel.Limit = lim
	}
	var err error
	if sel.Output, err = c.rowObject(t, of, path, 1); err != nil || len(c.cursorCols) == 0 {
		return sel, err
	}
	cur := &ir.Object{}
	for _, name := range c.cursorCols {
		cur.Fields = append(cur.Fields, ir.Field{Name: name, Value: &ir.Column{Name: name}})
	}
	sel.Output.Fields = append(sel.Output.Fields, ir.Field{Name: planner.CursorKey, Value: &ir.Nest{Object: cur}})
	return sel, nil
}

// relationOf names t's relation for writes, which Plan.Reads does not list.
func relationOf(t *gqlschema.Table) ir.Relation {
	return ir.Relation{Schema: t.Catalog.Schema, Name: t.Catalog.Name}
}
