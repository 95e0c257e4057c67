package sqlgen

import (
	"strings"

	"github.com/kapok-dev/kapok/planner/ir"
)

// hasAgg tells whether an output holds aggregates at its top level.
func hasAgg(o *ir.Object) bool {
	for _, f := range o.Fields {
		if _, ok := f.Value.(*ir.Agg); ok {
			return true
		}
	}
	return false
}

// embedGroups renders a linked Select whose output holds aggregates (PostgREST's
// orders(count), orders(status,total.sum())): the parent's related rows grouped by the
// output's columns, one object per group. Without columns the aggregate query yields
// exactly one row, so a to-many embed is [{"count":0}] over no rows, as PostgREST
// answers. The grouped rows are read straight from the relation (no rows sub-select):
// the embed has no order, limit or offset to keep.
func (g *gen) embedGroups(sel *ir.Select, parent string) (pair, string) {
	rows := *sel
	// Groups are made of all the related rows: a to-one embed's rows are not cut to one
	// before grouping (its one group is taken below).
	rows.OrderBy, rows.Limit, rows.Offset, rows.DistinctOn, rows.Shape = nil, nil, nil, nil, ir.ShapeArray
	sc := &scope{alias: g.alias("t")}
	var ignored []string
	from := g.rowsSQL(&rows, parent, sc, &ignored)
	var keys []string
	pairs := make([]pair, 0, len(sel.Output.Fields))
	for _, f := range sel.Output.Fields {
		p := pair{key: f.Name}
		switch v := f.Value.(type) {
		case *ir.Column:
			p.expr = g.columnRef(v, sc.alias)
			keys = append(keys, p.expr)
		case *ir.Agg:
			p.expr = g.aggCall(v, sc.alias)
			if v.Func == ir.AggCount && v.Cast == "" {
				p.kind = kindCount
			}
		default:
			return pair{expr: g.fail("grouped embed output %T", v)}, ""
		}
		pairs = append(pairs, p)
	}
	group := ""
	if len(keys) > 0 {
		group = " GROUP BY " + strings.Join(keys, ", ")
	}
	o := g.alias("o")
	var groups, elem string
	if pairKeysFit(pairs) {
		groups, elem = "("+from.with(columnList(pairs))+group+") AS "+o, o
	} else {
		groups, elem = "("+from.with(jsonObject(pairs)+` AS "j"`)+group+") AS "+o, o+`."j"`
	}
	if sel.Shape == ir.ShapeArray {
		return pair{expr: arrayOf("SELECT " + elem + " FROM " + groups), kind: kindJSON, notNull: true}, ""
	}
	if elem == o {
		elem = "row_to_json(" + o + ")"
	}
	return pair{expr: elem, kind: kindJSON}, " FROM " + groups + " LIMIT 1"
}
