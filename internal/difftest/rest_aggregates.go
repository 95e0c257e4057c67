package difftest

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// PostgREST aggregates (col.sum(), count(), an embed's bare count): a query holding them
// answers one object per group of its plain columns, or exactly one object without such
// columns, computed here from the fixture's rows independently of Kapok's SQL.

// Unordered is an oracle array whose elements may come in any order (the groups of a
// grouped read, which PostgREST does not order).
type Unordered []any

func diffUnordered(path string, want Unordered, got any) string {
	g, ok := got.([]any)
	if !ok {
		return fmt.Sprintf("%s: want an array, got %s", path, show(got))
	}
	if len(g) != len(want) {
		return fmt.Sprintf("%s: want %d elements (any order), got %d: %s", path, len(want), len(g), show(got))
	}
	used := make([]bool, len(g))
next:
	for i, w := range want {
		for j, e := range g {
			if !used[j] && diff(path, w, e) == "" {
				used[j] = true
				continue next
			}
		}
		return fmt.Sprintf("%s: no element matches the oracle's %s (element %d of %s)", path, show(w), i, show(want))
	}
	return ""
}

// grouped tells whether q holds aggregates.
func grouped(q *Query) bool {
	for _, f := range q.Sel {
		if f.Agg != "" {
			return true
		}
	}
	return false
}

// hasAggregates tells whether q or a query below it holds aggregates.
func hasAggregates(q *Query) bool {
	if grouped(q) {
		return true
	}
	for _, f := range q.Sel {
		if f.Sub != nil && hasAggregates(f.Sub) {
			return true
		}
	}
	return false
}

// groupedOK keeps shrunk requests meaningful: a list whose aggregates were shrunk away
// has no order (generated groups carry none), and its rows would come in any order.
func groupedOK(q *Query) bool {
	if grouped(q) {
		for _, f := range q.Sel {
			if f.Sub != nil {
				return false
			}
		}
		return len(q.Order) == 0 && q.Limit < 0 && q.Offset == 0 && q.Range == nil && !q.Star
	}
	return len(q.Order) > 0 || (q.Rel != nil && !q.Rel.Many) || q.ByPK != nil
}

func restAggregate(f *Field) string {
	s := ""
	if f.Alias != "" {
		s = f.Alias + ":"
	}
	switch {
	case f.Col == "" && f.BareCount:
		return s + "count"
	case f.Col == "":
		s += "count()"
	default:
		s += f.Col
		if f.InCast != "" {
			s += "::" + f.InCast
		}
		s += "." + f.Agg + "()"
	}
	if f.OutCast != "" {
		s += "::" + f.OutCast
	}
	return s
}

// matches tells whether some row related to parent passes q's filters.
func (o *Oracle) matches(q *Query, parent Row) bool {
	if !q.Rel.Many {
		r := o.object(q.Rel, parent)
		return r != nil && (q.Where == nil || o.eval(q.Where, q.Table, r) == tTrue)
	}
	for _, r := range o.children[q.Rel][parent["id"].(int64)] {
		if q.Where == nil || o.eval(q.Where, q.Table, r) == tTrue {
			return true
		}
	}
	return false
}

// restGroups answers a grouped list over its filtered rows.
func restGroups(q *Query, rows []Row) Unordered {
	var keyCols []string
	for _, f := range q.Sel {
		if f.Agg == "" && f.Sub == nil {
			keyCols = append(keyCols, f.Col)
		}
	}
	if len(keyCols) == 0 {
		return Unordered{groupValue(q, rows)}
	}
	var order []string
	byKey := map[string][]Row{}
	for _, r := range rows {
		var k strings.Builder
		for _, c := range keyCols {
			fmt.Fprintf(&k, "%s|", show(r[c]))
		}
		if _, ok := byKey[k.String()]; !ok {
			order = append(order, k.String())
		}
		byKey[k.String()] = append(byKey[k.String()], r)
	}
	out := make(Unordered, 0, len(order))
	for _, k := range order {
		out = append(out, groupValue(q, byKey[k]))
	}
	return out
}

// groupObject answers a grouped to-one embed: its one group, or null when it has plain
// columns and no row.
func groupObject(q *Query, rows []Row) any {
	g := restGroups(q, rows)
	if len(g) == 0 {
		return nil
	}
	return g[0]
}

// groupValue is one group's object: its plain columns (equal on every row) and its
// aggregates.
func groupValue(q *Query, rows []Row) map[string]any {
	m := map[string]any{}
	for _, f := range q.Sel {
		if f.Agg == "" {
			m[f.key(true)] = rows[0][f.Col]
			continue
		}
		var acc any
		sum, n := new(big.Rat), int64(0)
		for _, r := range rows {
			if f.Col == "" {
				n++
				continue
			}
			v := r[f.Col]
			if v == nil {
				continue
			}
			n++
			switch f.Agg {
			case "sum", "avg":
				sum.Add(sum, rat(v))
			case "min":
				if acc == nil || compare(v, acc) < 0 {
					acc = v
				}
			case "max":
				if acc == nil || compare(v, acc) > 0 {
					acc = v
				}
			}
		}
		switch {
		case f.Agg == "count" && f.OutCast == "text":
			m[f.key(true)] = strconv.FormatInt(n, 10)
		case f.Agg == "count":
			m[f.key(true)] = n
		case n == 0:
			m[f.key(true)] = nil
		case f.OutCast == "text":
			// Only drawn for sums of integers, whose text is the integer's.
			m[f.key(true)] = sum.RatString()
		case f.Agg == "sum":
			m[f.key(true)] = sum
		case f.Agg == "avg":
			m[f.key(true)] = Approx{sum.Quo(sum, new(big.Rat).SetInt64(n))}
		default:
			m[f.key(true)] = acc
		}
	}
	return m
}

// restAggregates turns q into a grouped read: at most one plain column and one to three
// aggregates, no order, page or embeds (PostgREST's groups have none).
func (g *Generator) restAggregates(q *Query) {
	t := g.db.Tables[q.Table]
	q.Order, q.Limit, q.Offset, q.Star, q.DistinctOn = nil, -1, 0, false, nil
	q.Sel = nil
	keys := map[string]bool{}
	add := func(f *Field) {
		if keys[f.key(true)] {
			f.Alias = g.newAlias()
		}
		keys[f.key(true)] = true
		q.Sel = append(q.Sel, f)
	}
	if g.p(0.4) {
		add(&Field{Col: g.column(q.Table).Name})
	}
	var nums, ords []string
	for _, c := range t.Cols {
		if c.Kind == KInt || c.Kind == KNumeric {
			nums = append(nums, c.Name)
		}
		if c.Kind != KBool {
			ords = append(ords, c.Name)
		}
	}
	for i := 1 + g.r.IntN(3); i > 0; i-- {
		f := &Field{}
		switch fn := []string{"count", "count", "sum", "avg", "min", "max"}[g.r.IntN(6)]; fn {
		case "count":
			f.Agg = "count"
			if g.p(0.2) {
				f.OutCast = "text"
			}
			if g.p(0.3) {
				f.Col = t.Cols[g.r.IntN(len(t.Cols))].Name
			} else {
				// A bare count takes no cast.
				f.BareCount = q.Rel != nil && f.OutCast == "" && g.p(0.5)
			}
		case "sum", "avg":
			f.Agg, f.Col = fn, nums[g.r.IntN(len(nums))]
			if g.p(0.2) {
				f.InCast = "numeric"
			}
			if fn == "sum" && t.Col(f.Col).Kind == KInt && g.p(0.2) {
				f.OutCast = "text"
			}
		default:
			f.Agg, f.Col = fn, ords[g.r.IntN(len(ords))]
		}
		if g.p(0.2) {
			f.Alias = g.newAlias()
		}
		add(f)
	}
}
