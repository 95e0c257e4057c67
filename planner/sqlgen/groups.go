package sqlgen

import (
	"slices"
	"strings"

	"github.com/kapok-dev/kapok/planner/ir"
)

// groups renders an ir.Groups of the aggregate Select of sc: the Select's rows read
// again, grouped, as an ARRAY sub-select of one JSON object per group:
//
//	array_to_json(ARRAY(SELECT (concat('{"keys":{"k":', to_json(tN."k"), …))::json
//	  FROM rel AS tN WHERE … GROUP BY tN."k" HAVING … ORDER BY …, tN."k" ASC LIMIT …))
//
// A second scan rather than a GROUP BY of the aggregate's own: the aggregate and nodes
// of the same object are over all the rows, and a field may group them several ways.
// The sub-select refers to nothing of the aggregate's rows, only to its parent row,
// so it may stand in the aggregate's select list.
func (g *gen) groups(gr *ir.Groups, sc *scope) pair {
	if sc.sel == nil || len(gr.Keys) == 0 || gr.Object == nil {
		return pair{expr: g.fail("groups without a select, keys or output")}
	}
	in := &scope{alias: g.alias("t")}
	var rowOrder []string
	rows := g.rowsSQL(sc.sel, sc.parent, in, &rowOrder)
	a := in.alias
	keys := make([]string, len(gr.Keys))
	for i, k := range gr.Keys {
		keys[i] = a + "." + ir.QuoteIdent(k)
	}
	obj := jsonObject(g.groupPairs(gr.Object, gr.Keys, a))

	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(obj)
	if flat, ok := flatRows(rows, in); ok {
		b.WriteString(" ")
		b.WriteString(flat)
	} else {
		b.WriteString(" FROM ")
		b.WriteString(fromRows(rows, in))
	}
	b.WriteString(" GROUP BY ")
	b.WriteString(strings.Join(keys, ", "))
	if gr.Having != nil {
		b.WriteString(" HAVING ")
		b.WriteString(g.conjunction(gr.Having, a))
	}
	var order []string
	var ordered []string
	for _, o := range gr.OrderBy {
		var e string
		switch {
		case o.Agg != nil:
			e = g.aggCall(o.Agg, a)
		case slices.Contains(gr.Keys, o.Key):
			e = a + "." + ir.QuoteIdent(o.Key)
			ordered = append(ordered, o.Key)
		default:
			return pair{expr: g.fail("groups ordered by %q, not a key", o.Key)}
		}
		order = append(order, orderKey(e, ir.OrderItem{Descending: o.Descending, Nulls: o.Nulls}))
	}
	for i, k := range gr.Keys {
		if !slices.Contains(ordered, k) {
			order = append(order, keys[i]+" ASC NULLS LAST")
		}
	}
	b.WriteString(orderSuffix(order))
	if gr.Limit != nil {
		b.WriteString(" LIMIT ")
		b.WriteString(g.scalar(gr.Limit, a))
	}
	if gr.Offset != nil {
		b.WriteString(" OFFSET ")
		b.WriteString(g.scalar(gr.Offset, a))
	}
	return pair{expr: arrayOf(b.String()), kind: kindJSON, notNull: true}
}

// groupPairs renders a group's object over the grouped rows alias: key columns, and
// aggregates over the group.
func (g *gen) groupPairs(o *ir.Object, keys []string, alias string) []pair {
	pairs := make([]pair, 0, len(o.Fields))
	for _, f := range o.Fields {
		var p pair
		switch v := f.Value.(type) {
		case *ir.Column:
			if !slices.Contains(keys, v.Name) || len(v.Path) > 0 {
				g.fail("column %q of a group is not a key", v.Name)
				return nil
			}
			p = pair{expr: g.columnRef(v, alias)}
		case *ir.Agg:
			p = pair{expr: g.aggCall(v, alias)}
			if v.Func == ir.AggCount && v.Cast == "" {
				p.kind = kindCount
			}
		case *ir.Literal:
			p = g.literal(&v.Param)
		case *ir.Nest:
			p = objectPair(g.groupPairs(v.Object, keys, alias))
		default:
			g.fail("output value %T in a group", v)
			return nil
		}
		p.key = f.Name
		pairs = append(pairs, p)
	}
	return pairs
}

// groups adds the columns a grouping reads: its keys, and the arguments of the
// aggregates it outputs, filters and orders by.
func (c *columnSet) groups(gr *ir.Groups) {
	for _, k := range gr.Keys {
		c.add(k)
	}
	if gr.Object != nil {
		c.object(gr.Object)
	}
	c.exprAggs(gr.Having)
	for _, o := range gr.OrderBy {
		if o.Agg != nil {
			c.object(&ir.Object{Fields: []ir.Field{{Value: o.Agg}}})
		}
	}
}

func (c *columnSet) exprAggs(e ir.Expr) {
	switch e := e.(type) {
	case *ir.And:
		for _, x := range e.Exprs {
			c.exprAggs(x)
		}
	case *ir.Or:
		for _, x := range e.Exprs {
			c.exprAggs(x)
		}
	case *ir.Not:
		c.exprAggs(e.Expr)
	case *ir.Compare:
		c.exprAggs(e.Left)
		c.exprAggs(e.Right)
	case *ir.IsNull:
		c.exprAggs(e.Expr)
	case *ir.Cast:
		c.exprAggs(e.Expr)
	case *ir.Agg:
		for _, n := range e.Columns {
			c.add(n)
		}
	}
}

// readsRows tells whether an aggregate's output reads its rows in the aggregate's own
// scan (aggregates, nodes), rather than only in sub-selects of its own (groups).
func readsRows(o *ir.Object) bool {
	for _, f := range o.Fields {
		switch v := f.Value.(type) {
		case *ir.Agg, *ir.Rows:
			return true
		case *ir.Nest:
			if readsRows(v.Object) {
				return true
			}
		}
	}
	return false
}
