package graphql

import (
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/planner/ir"
)

// orderBy compiles `order_by: [<t>_order_by!]`, keys in the order written.
func (c *compiler) orderBy(t *gqlschema.Table, v *ast.Value, path string) ([]ir.OrderItem, error) {
	v, err := c.structural(v)
	if err != nil {
		return nil, err
	}
	var out []ir.OrderItem
	for _, it := range items(v) {
		o, err := c.orderObject(t, it, path)
		if err != nil {
			return nil, err
		}
		out = append(out, o...)
	}
	return out, nil
}

func (c *compiler) orderObject(t *gqlschema.Table, v *ast.Value, path string) ([]ir.OrderItem, error) {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return nil, err
	}
	var out []ir.OrderItem
	for _, ch := range v.Children {
		cpath := path + "." + ch.Name
		ref := c.s.Field(t.Names.OrderBy, ch.Name)
		if ref == nil {
			return nil, validationf(cpath, "field '%s' not found in type: '%s'", ch.Name, t.Names.OrderBy)
		}
		switch ref.Kind {
		case gqlschema.FieldColumn:
			it, ok, err := c.direction(ch.Value, cpath)
			if err != nil {
				return nil, err
			}
			if ok {
				it.Column = &ir.Column{Name: ref.Column.Name}
				out = append(out, it)
			}
		case gqlschema.FieldObjectRel:
			r := ref.Rel
			sub, err := c.orderObject(r.Remote, ch.Value, cpath)
			if err != nil {
				return nil, err
			}
			for _, s := range sub {
				via := &ir.OrderVia{Relation: c.relationOf(r.Remote), Link: linkOf(r)}
				if s.Column != nil {
					via.Column = s.Column
				} else {
					via.Next = s.Via
				}
				s.Column, s.Via = nil, via
				out = append(out, s)
			}
		case gqlschema.FieldArrayRelAggregate:
			sub, err := c.aggregateOrder(ref.Rel, ch.Value, cpath)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		default:
			return nil, validationf(cpath, "field '%s' cannot be used in order_by", ch.Name)
		}
	}
	return out, nil
}

// direction reads an order_by enum value; ok is false for null.
func (c *compiler) direction(v *ast.Value, path string) (ir.OrderItem, bool, error) {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return ir.OrderItem{}, false, err
	}
	ti := c.s.Type("order_by")
	var ev *gqlschema.EnumValue
	if ti != nil {
		ev = ti.Values[v.Raw]
	}
	if ev == nil {
		return ir.OrderItem{}, false, validationf(path, "expected one of the values [asc, asc_nulls_first, asc_nulls_last, desc, desc_nulls_first, desc_nulls_last] for type 'order_by', but found %q", v.Raw)
	}
	it := ir.OrderItem{Descending: ev.Desc, Nulls: ir.NullsLast}
	if ev.NullsFirst {
		it.Nulls = ir.NullsFirst
	}
	return it, true, nil
}

// aggregateOrder compiles "<remote>_aggregate_order_by": count, or fn { column }.
func (c *compiler) aggregateOrder(r *gqlschema.Relationship, v *ast.Value, path string) ([]ir.OrderItem, error) {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return nil, err
	}
	remote := r.Remote
	var out []ir.OrderItem
	add := func(it ir.OrderItem, agg *ir.Agg) {
		it.Via = &ir.OrderVia{Relation: c.relationOf(remote), Link: linkOf(r), Agg: agg}
		out = append(out, it)
	}
	for _, ch := range v.Children {
		cpath := path + "." + ch.Name
		if ch.Name == "count" {
			it, ok, err := c.direction(ch.Value, cpath)
			if err != nil {
				return nil, err
			}
			if ok {
				add(it, &ir.Agg{Func: ir.AggCount})
			}
			continue
		}
		ftype := remote.Names.FuncOrderBy[ch.Name]
		if ftype == "" {
			return nil, validationf(cpath, "field '%s' not found in type: '%s'", ch.Name, remote.Names.AggregateOrderBy)
		}
		fv, err := c.structural(ch.Value)
		if err != nil {
			return nil, err
		}
		if isNull(fv) {
			continue
		}
		for _, cc := range fv.Children {
			ref := c.s.Field(ftype, cc.Name)
			if ref == nil || ref.Column == nil {
				return nil, validationf(cpath+"."+cc.Name, "field '%s' not found in type: '%s'", cc.Name, ftype)
			}
			it, ok, err := c.direction(cc.Value, cpath+"."+cc.Name)
			if err != nil {
				return nil, err
			}
			if ok {
				add(it, &ir.Agg{Func: ir.AggFunc(ch.Name), Columns: []string{ref.Column.Name}})
			}
		}
	}
	return out, nil
}
