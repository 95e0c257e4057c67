package difftest

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"time"
)

// Avoid turns off constructs that hit a Kapok bug still open, so that the bug does not
// hide every other difference; each switch names its bug and goes away with the fix.
// None is open now; a switch looks like
//
//	// RESTEmptyQuotedValue: or=(title.eq."") matches no row where PostgREST reads ''.
//	RESTEmptyQuotedValue bool
type Avoid struct{}

// Generator draws random requests over a fixture.
type Generator struct {
	db    *DB
	r     *rand.Rand
	rest  bool
	alias int
	Avoid Avoid
}

// NewGenerator draws from r; each case gets its own r, so a case is reproducible alone.
func NewGenerator(db *DB, r *rand.Rand) *Generator { return &Generator{db: db, r: r} }

func (g *Generator) p(x float64) bool { return g.r.Float64() < x }

func (g *Generator) newAlias() string {
	g.alias++
	return fmt.Sprintf("x%d", g.alias)
}

// GraphQL draws a GraphQL request of one to three root fields.
func (g *Generator) GraphQL() *Request {
	g.rest = false
	req := &Request{}
	n := 1
	if g.p(0.3) {
		n += 1 + g.r.IntN(2)
	}
	for i := 0; i < n; i++ {
		t := g.db.Order[g.r.IntN(len(g.db.Order))]
		var q *Query
		switch x := g.r.Float64(); {
		case x < 0.1:
			q = &Query{Table: t, Limit: -1}
			id := int64(g.r.IntN(len(g.db.Tables[t].Rows)+3)) + 1
			q.ByPK = &id
			q.Sel = g.fields(t, 0)
		case x < 0.35:
			q = g.aggregate(t, nil, 0)
		default:
			q = g.list(t, nil, 0)
		}
		if n > 1 || g.p(0.2) {
			q.Alias = g.newAlias()
		}
		req.Roots = append(req.Roots, q)
	}
	return req
}

// REST draws a PostgREST read.
func (g *Generator) REST() *Request {
	g.rest = true
	t := g.db.Order[g.r.IntN(len(g.db.Order))]
	q := g.list(t, nil, 0)
	if g.p(0.08) {
		g.restAggregates(q)
	}
	g.embedNullIn(q)
	if !grouped(q) && g.p(0.15) { // groups come in no order: no page of them
		lo, up := g.r.IntN(4), -1
		if g.p(0.7) {
			up = lo + g.r.IntN(5)
		}
		if rng := [2]int{lo, up}; pageMeets(q, rng) {
			q.Range = &rng
		}
	}
	req := &Request{REST: true, Roots: []*Query{q}}
	if g.p(0.12) {
		req.Timezone = Timezones[g.r.IntN(len(Timezones))]
	}
	return req
}

// Timezones are the zones a REST read may ask its timestamps in: offsets behind and ahead
// of UTC, half and quarter hours, with and without summer time.
var Timezones = []string{"America/Los_Angeles", "America/St_Johns", "Europe/Paris", "Asia/Kolkata", "Asia/Kathmandu",
	"Australia/Adelaide", "Pacific/Chatham", "Asia/Tokyo"}

// pageMeets reports whether a Range header rng has items in common with q's page, or q
// asks for none (limit=0): PostgREST refuses the other pairs with 416.
func pageMeets(q *Query, rng [2]int) bool {
	if q.Limit == 0 {
		return true
	}
	for i := 0; i <= max(rng[0], q.Offset); i++ {
		if inPage(q, i) && inRange(rng, i) {
			return true
		}
	}
	return false
}

func inPage(q *Query, i int) bool { return i >= q.Offset && (q.Limit < 0 || i < q.Offset+q.Limit) }

func inRange(rng [2]int, i int) bool { return i >= rng[0] && (rng[1] < 0 || i <= rng[1]) }

func (g *Generator) list(table string, rel *Rel, depth int) *Query {
	q := &Query{Table: table, Rel: rel, Limit: -1}
	if rel != nil && !rel.Many {
		// An object relationship takes no arguments in GraphQL; a to-one embed may carry
		// filters (the embed is then null when they fail) and !inner.
		if g.rest {
			if g.p(0.3) {
				q.Where = g.expr(table, 0)
			}
			q.Inner = g.p(0.2)
		}
		q.Sel = g.fields(table, depth)
		return q
	}
	g.args(q)
	if g.rest && rel != nil && g.p(0.15) {
		// An !inner embed with a page could be empty only because of its page; keep
		// the check to what its filters decide.
		q.Inner, q.Limit, q.Offset = true, -1, 0
	}
	if g.rest && g.p(0.1) {
		q.Star = true
	}
	q.Sel = g.fields(table, depth)
	if q.Star && len(q.Sel) > 0 && g.p(0.5) {
		q.Sel = nil
	}
	return q
}

// embedNullIn adds, now and then, or=(rel.not.is.null,…) or or=(rel.is.null,…) on one of
// q's embeds to its conditions: PostgREST's null filter on an embed, inside a logic tree.
// It comes after q's aggregates are drawn, which replace its embeds.
func (g *Generator) embedNullIn(q *Query) {
	if grouped(q) || !g.p(0.12) {
		return
	}
	var subs []*Query
	for _, f := range q.Sel {
		if f.Sub != nil && !grouped(f.Sub) {
			subs = append(subs, f.Sub)
		}
	}
	if len(subs) == 0 {
		return
	}
	sub := subs[g.r.IntN(len(subs))]
	sub.Limit, sub.Offset = -1, 0 // a page would decide it alone
	var x Expr = Or{Args: []Expr{EmbedNull{Sub: sub, Has: g.p(0.6)}, g.expr(q.Table, 1)}}
	if q.Where != nil {
		x = And{Args: []Expr{q.Where, x}}
	}
	q.Where = x
}

func (g *Generator) aggregate(table string, rel *Rel, depth int) *Query {
	q := &Query{Table: table, Rel: rel, Limit: -1}
	g.args(q)
	a := &AggSel{Funcs: map[string][]string{}}
	t := g.db.Tables[table]
	var nums, ords []string
	for _, c := range t.Cols {
		if c.Kind == KInt || c.Kind == KNumeric {
			nums = append(nums, c.Name)
		}
		if c.Kind != KBool {
			ords = append(ords, c.Name)
		}
	}
	if g.p(0.7) {
		a.Count = true
		if g.p(0.25) {
			a.CountCol = t.Cols[g.r.IntN(len(t.Cols))].Name
		}
	}
	for _, fn := range []string{"sum", "avg", "min", "max"} {
		if !g.p(0.35) {
			continue
		}
		from := nums
		if fn == "min" || fn == "max" {
			from = ords
		}
		a.Funcs[fn] = g.pick(from, 1+g.r.IntN(2))
	}
	if g.p(0.4) {
		a.Groups = g.groups(t, nums, ords)
	}
	if g.p(0.5) || (!a.Count && len(a.Funcs) == 0 && a.Groups == nil) {
		a.Nodes = true
		q.Sel = g.fields(table, depth)
	}
	q.Agg = a
	return q
}

// groups draws a grouping: one or two key columns, aggregates, having, order, limit.
func (g *Generator) groups(t *Table, nums, ords []string) *GroupSel {
	gs := &GroupSel{Keys: g.pick(colNames(t, func(Column) bool { return true }), 1+g.r.IntN(2)), Funcs: map[string][]string{}, Limit: -1}
	for _, fn := range []string{"sum", "avg", "min", "max"} {
		if g.p(0.3) {
			from := nums
			if fn == "min" || fn == "max" {
				from = ords
			}
			gs.Funcs[fn] = g.pick(from, 1)
		}
	}
	if g.p(0.4) {
		gs.HavingMin = 1 + g.r.Int64N(3)
	}
	gs.ByCount, gs.Desc = g.p(0.5), g.p(0.5)
	if g.p(0.4) {
		gs.Limit = g.r.IntN(4)
	}
	return gs
}

// args draws where, order_by (always ending with the primary key, so every order is
// total), distinct_on, limit and offset.
func (g *Generator) args(q *Query) {
	t := g.db.Tables[q.Table]
	if g.p(0.7) {
		q.Where = g.expr(q.Table, 0)
	}
	for i := g.r.IntN(3); i > 0; i-- {
		k := OrderKey{Desc: g.p(0.5), Nulls: g.r.IntN(3)}
		var objRels, arrRels []*Rel
		for _, rel := range t.Rels {
			if rel.Many {
				arrRels = append(arrRels, rel)
			} else {
				objRels = append(objRels, rel)
			}
		}
		switch x := g.r.Float64(); {
		case !g.rest && x < 0.12 && len(objRels) > 0:
			k.Rel = objRels[g.r.IntN(len(objRels))]
			k.Col = g.column(k.Rel.Target).Name
		case !g.rest && x < 0.2 && len(arrRels) > 0:
			k.Rel = arrRels[g.r.IntN(len(arrRels))]
		default:
			k.Col = g.column(q.Table).Name
		}
		q.Order = append(q.Order, k)
	}
	if !g.rest && g.p(0.15) {
		cols := g.pick(colNames(t, func(c Column) bool { return c.Name != "id" }), 1+g.r.IntN(2))
		var lead []OrderKey
		for _, c := range cols {
			lead = append(lead, OrderKey{Col: c, Desc: g.p(0.5), Nulls: g.r.IntN(3)})
		}
		q.DistinctOn = cols
		q.Order = append(lead, q.Order...)
	}
	q.Order = append(q.Order, OrderKey{Col: "id", Desc: g.p(0.3)})
	if g.p(0.5) {
		q.Limit = g.r.IntN(8)
		if g.p(0.1) {
			q.Limit = 0
		}
	}
	if g.p(0.3) {
		q.Offset = 1 + g.r.IntN(5)
	}
}

// fields draws a selection of columns and, above depth 2, relationships.
func (g *Generator) fields(table string, depth int) []*Field {
	t := g.db.Tables[table]
	var out []*Field
	for _, c := range g.pick(colNames(t, nil), 1+g.r.IntN(4)) {
		f := &Field{Col: c}
		if g.p(0.1) {
			f.Alias = g.newAlias()
		}
		out = append(out, f)
	}
	if depth < 2 {
		restKeys := map[string]bool{}
		for _, rel := range t.Rels {
			if !g.p(0.35) || (g.rest && restKeys[rel.RESTKey]) {
				continue
			}
			restKeys[rel.RESTKey] = true
			f := &Field{}
			if !g.rest && rel.Many && g.p(0.3) {
				f.Sub = g.aggregate(rel.Target, rel, depth+1)
			} else {
				f.Sub = g.list(rel.Target, rel, depth+1)
				switch {
				case g.rest && g.p(0.25):
					g.restAggregates(f.Sub)
				case g.rest && g.p(0.15):
					// rel() or rel!inner(): there only for its filters.
					f.Sub.Empty, f.Sub.Sel, f.Sub.Star = true, nil, false
				}
				if g.rest {
					g.embedNullIn(f.Sub)
				}
				if g.rest && !grouped(f.Sub) && g.p(0.12) {
					// rel=is.null or rel=not.is.null; a page would decide it alone.
					f.Sub.NullFilter = 1 + g.r.IntN(2)
					f.Sub.Limit, f.Sub.Offset = -1, 0
				}
			}
			if !g.rest && g.p(0.1) {
				f.Alias = g.newAlias()
			}
			out = append(out, f)
		}
	}
	if !g.rest {
		for _, f := range out {
			if g.p(0.1) {
				f.Dir = []string{"include", "skip"}[g.r.IntN(2)]
				f.Skipped = g.p(0.5)
				f.DirVar = g.p(0.3)
			}
		}
	}
	g.r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func colNames(t *Table, keep func(Column) bool) []string {
	var out []string
	for _, c := range t.Cols {
		if keep == nil || keep(c) {
			out = append(out, c.Name)
		}
	}
	return out
}

// pick draws up to n distinct names.
func (g *Generator) pick(from []string, n int) []string {
	idx := g.r.Perm(len(from))
	var out []string
	for i := 0; i < n && i < len(idx); i++ {
		out = append(out, from[idx[i]])
	}
	return out
}

func (g *Generator) column(table string) Column {
	t := g.db.Tables[table]
	return t.Cols[g.r.IntN(len(t.Cols))]
}

// expr draws a boolean expression; leaves get likelier with depth.
func (g *Generator) expr(table string, depth int) Expr {
	t := g.db.Tables[table]
	x := g.r.Float64()
	if depth >= 3 || x < 0.45+0.15*float64(depth) {
		return g.cmp(table)
	}
	min := 0
	if g.rest {
		min = 1 // PostgREST has no empty and=()/or=()
	}
	switch {
	case x < 0.7:
		var args []Expr
		for i := min + g.r.IntN(3); i > 0; i-- {
			args = append(args, g.expr(table, depth+1))
		}
		return And{Args: args, Implicit: !g.rest && g.p(0.5) && distinctKeys(args)}
	case x < 0.85:
		var args []Expr
		for i := min + g.r.IntN(3); i > 0; i-- {
			args = append(args, g.expr(table, depth+1))
		}
		return Or{Args: args}
	case x < 0.93 || g.rest || len(t.Rels) == 0:
		if !g.rest && g.p(0.1) {
			return Not{Arg: And{Implicit: true}}
		}
		return Not{Arg: g.expr(table, depth+1)}
	}
	rel := t.Rels[g.r.IntN(len(t.Rels))]
	e := Exists{Rel: rel}
	if g.p(0.8) {
		e.Where = g.expr(rel.Target, depth+1)
	}
	return e
}

// distinctKeys tells whether args can be written as one GraphQL object.
func distinctKeys(args []Expr) bool {
	seen := map[string]bool{}
	for _, a := range args {
		var k string
		switch a := a.(type) {
		case Cmp:
			k = a.Col
		case Exists:
			k = a.Rel.Name
		default:
			return false
		}
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

func (g *Generator) cmp(table string) Cmp {
	t := g.db.Tables[table]
	c := t.Cols[g.r.IntN(len(t.Cols))]
	ops := []string{"eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "isnull", "notnull"}
	switch c.Kind {
	case KText:
		ops = append(ops, "like", "nlike", "ilike", "nilike", "like", "ilike")
	case KBool:
		ops = []string{"eq", "neq", "isnull", "notnull"}
		if g.rest {
			ops = append(ops, "istrue", "isfalse")
		}
	}
	e := Cmp{Col: c.Name, Op: ops[g.r.IntN(len(ops))], Var: !g.rest && g.p(0.2)}
	switch e.Op {
	case "isnull", "notnull", "istrue", "isfalse":
		e.Var = false
	case "in", "nin":
		for i := 1 + g.r.IntN(4); i > 0; i-- {
			e.Vals = append(e.Vals, g.value(t, c))
		}
	case "like", "nlike", "ilike", "nilike":
		e.Val = g.pattern(t, c, e.Op == "ilike" || e.Op == "nilike")
	default:
		e.Val = g.value(t, c)
	}
	return e
}

// value draws a literal for c: mostly one the table holds, so that filters select.
func (g *Generator) value(t *Table, c Column) any {
	if g.p(0.8) {
		for i := 0; i < 10; i++ {
			if v := t.Rows[g.r.IntN(len(t.Rows))][c.Name]; v != nil {
				return v
			}
		}
	}
	switch c.Kind {
	case KInt:
		return int64(g.r.IntN(40) - 5)
	case KNumeric:
		return big.NewRat(int64(g.r.IntN(48)-8), 4)
	case KText:
		return words[g.r.IntN(len(words))]
	case KBool:
		return g.p(0.5)
	case KDate:
		return Date(fmt.Sprintf("%04d-%02d-%02d", 1950+g.r.IntN(6), 1+g.r.IntN(12), 1+g.r.IntN(28)))
	}
	return time.Date(2024, 1, 1+g.r.IntN(40), g.r.IntN(3), 0, 0, 0, time.UTC)
}

// pattern draws a LIKE pattern from a piece of a stored value: LIKE's own characters in
// it become _, and % may stand for either end.
func (g *Generator) pattern(t *Table, c Column, fold bool) string {
	s := g.value(t, c).(string)
	if len(s) > 0 {
		i := g.r.IntN(len(s))
		j := i + g.r.IntN(len(s)-i+1)
		s = s[i:j]
	}
	b := []byte(s)
	for i := range b {
		if b[i] == '%' || b[i] == '_' || b[i] == '\\' || g.p(0.1) {
			b[i] = '_'
		}
	}
	s = string(b)
	if fold && g.p(0.7) {
		if g.p(0.5) {
			s = strings.ToUpper(s)
		} else {
			s = strings.ToLower(s)
		}
	}
	if g.p(0.7) {
		s = "%" + s
	}
	if g.p(0.7) {
		s += "%"
	}
	return s
}

// Revalue returns req with other values drawn for the comparisons it sends as variables:
// the same document with other variables. ok is false when req has no such comparison.
func (g *Generator) Revalue(req *Request) (out *Request, ok bool) {
	n := 0
	out = &Request{REST: req.REST}
	for _, q := range req.Roots {
		out.Roots = append(out.Roots, g.revalueQuery(q, &n))
	}
	return out, n > 0
}

func (g *Generator) revalueQuery(q *Query, n *int) *Query {
	c := *q
	if q.Where != nil {
		c.Where = g.revalueExpr(q.Where, q.Table, n)
	}
	c.Sel = make([]*Field, len(q.Sel))
	for i, f := range q.Sel {
		fc := *f
		if f.Sub != nil {
			fc.Sub = g.revalueQuery(f.Sub, n)
		}
		c.Sel[i] = &fc
	}
	return &c
}

func (g *Generator) revalueExpr(e Expr, table string, n *int) Expr {
	switch e := e.(type) {
	case And:
		args := make([]Expr, len(e.Args))
		for i, a := range e.Args {
			args[i] = g.revalueExpr(a, table, n)
		}
		return And{Args: args, Implicit: e.Implicit}
	case Or:
		args := make([]Expr, len(e.Args))
		for i, a := range e.Args {
			args[i] = g.revalueExpr(a, table, n)
		}
		return Or{Args: args}
	case Not:
		return Not{Arg: g.revalueExpr(e.Arg, table, n)}
	case Exists:
		if e.Where != nil {
			e.Where = g.revalueExpr(e.Where, e.Rel.Target, n)
		}
		return e
	case Cmp:
		if !e.Var {
			return e
		}
		*n++
		t := g.db.Tables[table]
		c := t.Col(e.Col)
		switch e.Op {
		case "in", "nin":
			e.Vals = nil
			for i := 1 + g.r.IntN(4); i > 0; i-- {
				e.Vals = append(e.Vals, g.value(t, c))
			}
		case "like", "nlike", "ilike", "nilike":
			e.Val = g.pattern(t, c, e.Op == "ilike" || e.Op == "nilike")
		default:
			e.Val = g.value(t, c)
		}
		return e
	}
	return e
}
