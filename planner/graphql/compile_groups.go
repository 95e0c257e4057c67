package graphql

import (
	"slices"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/planner/ir"
)

// groupsValue compiles the "groups" field of "<t>_aggregate" (see gqlschema/groups.go):
// group_by, having, order_by, limit, offset, and each group's keys and aggregate.
func (c *compiler) groupsValue(t *gqlschema.Table, of *outField, path string, depth int) (*ir.Groups, error) {
	if err := c.checkDepth(depth, path); err != nil {
		return nil, err
	}
	f := of.fields[0]
	apath := path + ".args"
	gr := &ir.Groups{}
	a := f.Arguments.ForName("group_by")
	if a == nil {
		return nil, validationf(apath, "missing required field 'group_by'")
	}
	v, err := c.structural(a.Value)
	if err != nil {
		return nil, err
	}
	ti := c.s.Type(t.Names.GroupByColumn)
	for _, it := range items(v) {
		var ev *gqlschema.EnumValue
		if ti != nil && it != nil {
			ev = ti.Values[it.Raw]
		}
		if ev == nil || ev.Column == nil {
			raw := ""
			if it != nil {
				raw = it.Raw
			}
			return nil, validationf(apath+".group_by", "unexpected value %q for enum: '%s'", raw, t.Names.GroupByColumn)
		}
		if !slices.Contains(gr.Keys, ev.Column.Name) {
			gr.Keys = append(gr.Keys, ev.Column.Name)
		}
	}
	if len(gr.Keys) == 0 {
		return nil, validationf(apath+".group_by", "group_by needs at least one column")
	}
	if a := f.Arguments.ForName("having"); a != nil {
		if gr.Having, err = c.having(t, a.Value, apath+".having"); err != nil {
			return nil, err
		}
	}
	if a := f.Arguments.ForName("order_by"); a != nil {
		if gr.OrderBy, err = c.groupOrder(t, a.Value, gr.Keys, apath+".order_by"); err != nil {
			return nil, err
		}
	}
	if a := f.Arguments.ForName("limit"); a != nil && !isNull(a.Value) {
		if gr.Limit, err = c.leaf(a.Value, "int4", false); err != nil {
			return nil, err
		}
	}
	if a := f.Arguments.ForName("offset"); a != nil && !isNull(a.Value) {
		if gr.Offset, err = c.leaf(a.Value, "int4", false); err != nil {
			return nil, err
		}
	}
	c.capGroups(gr)
	if gr.Object, err = c.groupObject(t, of, gr.Keys, path, depth); err != nil {
		return nil, err
	}
	return gr, nil
}

// capGroups applies the tenant's MaxLimit to the groups, as to any list.
func (c *compiler) capGroups(gr *ir.Groups) {
	sel := &ir.Select{Shape: ir.ShapeArray, Limit: gr.Limit}
	c.capLimit(sel)
	gr.Limit = sel.Limit
}

// groupObject builds one group's object: keys { <grouped columns> } and aggregate.
func (c *compiler) groupObject(t *gqlschema.Table, of *outField, keys []string, path string, depth int) (*ir.Object, error) {
	fields, err := c.collect(of.selections())
	if err != nil {
		return nil, err
	}
	obj := &ir.Object{}
	for _, sub := range fields {
		g := sub.fields[0]
		fpath := path + ".selectionSet." + sub.key
		var v ir.Value
		switch g.Name {
		case "__typename":
			v = &ir.Literal{Param: *c.constParam("text", []byte(t.Names.Group), false)}
		case "keys":
			kf, err := c.collect(sub.selections())
			if err != nil {
				return nil, err
			}
			o := &ir.Object{}
			for _, k := range kf {
				h := k.fields[0]
				var kv ir.Value
				if h.Name == "__typename" {
					kv = &ir.Literal{Param: *c.constParam("text", []byte(t.Names.GroupKeys), false)}
				} else {
					ref := c.s.Field(t.Names.GroupKeys, h.Name)
					if ref == nil || ref.Column == nil {
						return nil, validationf(fpath+".selectionSet."+k.key, "field '%s' not found in type: '%s'", h.Name, t.Names.GroupKeys)
					}
					if !slices.Contains(keys, ref.Column.Name) {
						return nil, validationf(fpath+".selectionSet."+k.key, "the groups are not grouped by '%s': add it to group_by", h.Name)
					}
					kv = &ir.Column{Name: ref.Column.Name}
				}
				o.Fields = append(o.Fields, ir.Field{Name: k.key, Value: kv})
			}
			v = &ir.Nest{Object: o}
		case "aggregate":
			agg, err := c.aggregateFields(t, sub, fpath, depth+1)
			if err != nil {
				return nil, err
			}
			v = &ir.Nest{Object: agg}
		default:
			return nil, validationf(fpath, "field '%s' not found in type: '%s'", g.Name, t.Names.Group)
		}
		obj.Fields = append(obj.Fields, ir.Field{Name: sub.key, Value: v})
	}
	return obj, nil
}

// having compiles "<t>_aggregate_having": aggregates of a group compared as a where
// compares columns; nil means no filter.
func (c *compiler) having(t *gqlschema.Table, v *ast.Value, path string) (ir.Expr, error) {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return nil, err
	}
	typeName := t.Names.AggregateHaving
	if v.Kind != ast.ObjectValue {
		return nil, validationf(path, "expected an object for type '%s'", typeName)
	}
	var conds []ir.Expr
	for _, ch := range v.Children {
		cpath := path + "." + ch.Name
		ref := c.s.Field(typeName, ch.Name)
		if ref == nil {
			return nil, validationf(cpath, "field '%s' not found in type: '%s'", ch.Name, typeName)
		}
		var e ir.Expr
		switch ref.Kind {
		case gqlschema.FieldAnd, gqlschema.FieldOr, gqlschema.FieldNot:
			e, err = c.connective(ref.Kind, ch.Value, cpath, func(v *ast.Value, path string) (ir.Expr, error) { return c.having(t, v, path) })
		case gqlschema.FieldAggCount:
			e, err = c.comparison(&ir.Agg{Func: ir.AggCount}, operand{typ: "int8", compType: "Int_comparison_exp"}, ch.Value, cpath)
		case gqlschema.FieldAggFunc:
			e, err = c.havingFunc(t, ref.Func, ch.Value, cpath)
		default:
			return nil, validationf(cpath, "field '%s' cannot be used in having", ch.Name)
		}
		if err != nil {
			return nil, err
		}
		if e != nil {
			conds = append(conds, e)
		}
	}
	return andOf(conds), nil
}

// havingFunc compiles "<t>_<fn>_having": { column: <comparison> } for one function.
func (c *compiler) havingFunc(t *gqlschema.Table, fn string, v *ast.Value, path string) (ir.Expr, error) {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return nil, err
	}
	ftype := t.Names.FuncHaving[fn]
	var conds []ir.Expr
	for _, ch := range v.Children {
		cpath := path + "." + ch.Name
		ref := c.s.Field(ftype, ch.Name)
		if ref == nil || ref.Column == nil {
			return nil, validationf(cpath, "field '%s' not found in type: '%s'", ch.Name, ftype)
		}
		o := operandOf(ref.Column)
		if ref.Type == "Float_comparison_exp" {
			o = operand{typ: "float8", compType: ref.Type}
		}
		if o.array {
			return nil, planner.Errorf(planner.CodeNotSupported, cpath, "%s of an array column is not supported in having", fn)
		}
		e, err := c.comparison(&ir.Agg{Func: ir.AggFunc(fn), Columns: []string{ref.Column.Name}}, o, ch.Value, cpath)
		if err != nil {
			return nil, err
		}
		if e != nil {
			conds = append(conds, e)
		}
	}
	return andOf(conds), nil
}

// groupOrder compiles `order_by: [<t>_aggregate_group_order_by!]`: keys { column } and
// aggregate { count, fn { column } }, in the order written.
func (c *compiler) groupOrder(t *gqlschema.Table, v *ast.Value, keys []string, path string) ([]ir.GroupOrder, error) {
	v, err := c.structural(v)
	if err != nil {
		return nil, err
	}
	var out []ir.GroupOrder
	for _, it := range items(v) {
		it, err := c.structural(it)
		if err != nil {
			return nil, err
		}
		if isNull(it) {
			continue
		}
		for _, ch := range it.Children {
			cpath := path + "." + ch.Name
			cv, err := c.structural(ch.Value)
			if err != nil {
				return nil, err
			}
			if isNull(cv) {
				continue
			}
			switch ch.Name {
			case "keys":
				for _, k := range cv.Children {
					ref := c.s.Field(t.Names.GroupKeysOrderBy, k.Name)
					if ref == nil || ref.Column == nil {
						return nil, validationf(cpath+"."+k.Name, "field '%s' not found in type: '%s'", k.Name, t.Names.GroupKeysOrderBy)
					}
					if !slices.Contains(keys, ref.Column.Name) {
						return nil, validationf(cpath+"."+k.Name, "the groups are not grouped by '%s': add it to group_by", k.Name)
					}
					d, ok, err := c.direction(k.Value, cpath+"."+k.Name)
					if err != nil {
						return nil, err
					}
					if ok {
						out = append(out, ir.GroupOrder{Key: ref.Column.Name, Descending: d.Descending, Nulls: d.Nulls})
					}
				}
			case "aggregate":
				for _, a := range cv.Children {
					apath := cpath + "." + a.Name
					if a.Name == "count" {
						d, ok, err := c.direction(a.Value, apath)
						if err != nil {
							return nil, err
						}
						if ok {
							out = append(out, ir.GroupOrder{Agg: &ir.Agg{Func: ir.AggCount}, Descending: d.Descending, Nulls: d.Nulls})
						}
						continue
					}
					ftype := t.Names.FuncOrderBy[a.Name]
					if ftype == "" || c.s.Type(ftype) == nil {
						return nil, validationf(apath, "field '%s' not found in type: '%s'", a.Name, t.Names.AggregateOrderBy)
					}
					fv, err := c.structural(a.Value)
					if err != nil {
						return nil, err
					}
					if isNull(fv) {
						continue
					}
					for _, cc := range fv.Children {
						ref := c.s.Field(ftype, cc.Name)
						if ref == nil || ref.Column == nil {
							return nil, validationf(apath+"."+cc.Name, "field '%s' not found in type: '%s'", cc.Name, ftype)
						}
						d, ok, err := c.direction(cc.Value, apath+"."+cc.Name)
						if err != nil {
							return nil, err
						}
						if ok {
							out = append(out, ir.GroupOrder{Agg: &ir.Agg{Func: ir.AggFunc(a.Name), Columns: []string{ref.Column.Name}}, Descending: d.Descending, Nulls: d.Nulls})
						}
					}
				}
			default:
				return nil, validationf(cpath, "field '%s' not found in type: '%s'", ch.Name, t.Names.GroupOrderBy)
			}
		}
	}
	return out, nil
}
