package difftest

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
)

// Approx is a value PostgreSQL computes with rounding (avg): equal within 1e-9 relative.
type Approx struct{ R *big.Rat }

// tv is SQL's three-valued truth.
type tv int8

const (
	tFalse tv = iota
	tTrue
	tUnknown
)

// Oracle answers requests over the rows of a DB.
type Oracle struct {
	db       *DB
	children map[*Rel]map[int64][]Row
}

// NewOracle indexes db's relationships.
func NewOracle(db *DB) *Oracle {
	o := &Oracle{db: db, children: map[*Rel]map[int64][]Row{}}
	for _, t := range db.Tables {
		for _, rel := range t.Rels {
			if !rel.Many {
				continue
			}
			m := map[int64][]Row{}
			for _, r := range db.Tables[rel.Target].Rows {
				if id, ok := r[rel.FK].(int64); ok {
					m[id] = append(m[id], r)
				}
			}
			o.children[rel] = m
		}
	}
	return o
}

// Answer is the oracle's answer to req: GraphQL's data object or REST's array.
func (o *Oracle) Answer(req *Request) any {
	if req.REST {
		a := o.field(req.Roots[0], nil, true)
		if req.Timezone != "" {
			loc, err := time.LoadLocation(req.Timezone)
			if err != nil {
				panic(fmt.Sprintf("difftest: zone %s: %v", req.Timezone, err))
			}
			a = inZone(a, loc)
		}
		return a
	}
	data := map[string]any{}
	for _, q := range req.Roots {
		data[q.key()] = o.field(q, nil, false)
	}
	return data
}

// field answers q, below parent when q is a relationship.
func (o *Oracle) field(q *Query, parent Row, rest bool) any {
	t := o.db.Tables[q.Table]
	if q.ByPK != nil {
		r, ok := t.byID[*q.ByPK]
		if !ok {
			return nil
		}
		return o.project(q, r, rest)
	}
	rows := t.Rows
	if q.Rel != nil {
		if !q.Rel.Many {
			r := o.object(q.Rel, parent)
			if r == nil || (q.Where != nil && o.eval(q.Where, q.Table, r) != tTrue) || (rest && !o.innerHolds(q, r)) {
				if rest && grouped(q) {
					return groupObject(q, nil)
				}
				return nil
			}
			if rest && grouped(q) {
				return groupObject(q, []Row{r})
			}
			return o.project(q, r, rest)
		}
		rows = o.children[q.Rel][parent["id"].(int64)]
	}
	if q.Agg != nil {
		rows = o.rows(q, rows, rest)
		agg := map[string]any{}
		if a := q.Agg; a.Count || len(a.Funcs) > 0 {
			agg["aggregate"] = aggregate(a, rows)
		}
		if q.Agg.Groups != nil {
			agg["groups"] = groups(q.Agg.Groups, rows)
		}
		if q.Agg.Nodes {
			nodes := make([]any, 0, len(rows))
			for _, r := range rows {
				nodes = append(nodes, o.project(q, r, rest))
			}
			agg["nodes"] = nodes
		}
		return agg
	}
	if rest && grouped(q) {
		return restGroups(q, o.rows(q, rows, rest))
	}
	return o.list(q, rows, rest)
}

func (o *Oracle) list(q *Query, rows []Row, rest bool) []any {
	rows = o.rows(q, rows, rest)
	out := make([]any, 0, len(rows))
	for _, r := range rows {
		out = append(out, o.project(q, r, rest))
	}
	return out
}

// rows filters, orders, de-duplicates and pages rows as q says.
func (o *Oracle) rows(q *Query, rows []Row, rest bool) []Row {
	var kept []Row
	for _, r := range rows {
		if q.Where != nil && o.eval(q.Where, q.Table, r) != tTrue {
			continue
		}
		if rest && !o.innerHolds(q, r) {
			continue
		}
		kept = append(kept, r)
	}
	sort.SliceStable(kept, func(i, j int) bool { return o.less(q, kept[i], kept[j]) })
	if len(q.DistinctOn) > 0 {
		var d []Row
		for i, r := range kept {
			if i > 0 && sameOn(q.DistinctOn, kept[i-1], r) {
				continue
			}
			d = append(d, r)
		}
		kept = d
	}
	if q.Range != nil {
		// The Range header and the page: the rows whose position is in both.
		var page []Row
		for i, r := range kept {
			if inPage(q, i) && inRange(*q.Range, i) {
				page = append(page, r)
			}
		}
		return page
	}
	if q.Offset > 0 {
		if q.Offset >= len(kept) {
			kept = nil
		} else {
			kept = kept[q.Offset:]
		}
	}
	if q.Limit >= 0 && q.Limit < len(kept) {
		kept = kept[:q.Limit]
	}
	return kept
}

// innerHolds is PostgREST's !inner and its null filters on embeds: with !inner or
// rel=not.is.null the parent stays only with a non-empty embed, with rel=is.null only
// with an empty one.
func (o *Oracle) innerHolds(q *Query, r Row) bool {
	for _, f := range q.Sel {
		if f.Sub == nil || (!f.Sub.Inner && f.Sub.NullFilter == 0) {
			continue
		}
		has := o.embedHas(f.Sub, r)
		if (f.Sub.Inner || f.Sub.NullFilter == 2) && !has {
			return false
		}
		if f.Sub.NullFilter == 1 && has {
			return false
		}
	}
	return true
}

// embedHas tells whether the REST embed sub has a row for the parent r, after its filters.
func (o *Oracle) embedHas(sub *Query, r Row) bool {
	if grouped(sub) {
		// An aggregate makes a group even over no rows; !inner asks for matching rows.
		return o.matches(sub, r)
	}
	switch v := o.field(sub, r, true).(type) {
	case nil:
		return false
	case []any:
		return len(v) > 0
	}
	return true
}

func sameOn(cols []string, a, b Row) bool {
	for _, c := range cols {
		x, y := a[c], b[c]
		if (x == nil) != (y == nil) || (x != nil && compare(x, y) != 0) {
			return false
		}
	}
	return true
}

func (o *Oracle) object(rel *Rel, parent Row) Row {
	id, ok := parent[rel.FK].(int64)
	if !ok {
		return nil
	}
	return o.db.Tables[rel.Target].byID[id]
}

func (o *Oracle) orderValue(k OrderKey, r Row) any {
	switch {
	case k.Rel == nil:
		return r[k.Col]
	case k.Rel.Many:
		return int64(len(o.children[k.Rel][r["id"].(int64)]))
	}
	t := o.object(k.Rel, r)
	if t == nil {
		return nil
	}
	return t[k.Col]
}

func (o *Oracle) less(q *Query, a, b Row) bool {
	for _, k := range q.Order {
		x, y := o.orderValue(k, a), o.orderValue(k, b)
		nullsFirst := k.Desc
		if k.Nulls != 0 {
			nullsFirst = k.Nulls == 1
		}
		var c int
		switch {
		case x == nil && y == nil:
			c = 0
		case x == nil:
			c = 1
			if nullsFirst {
				c = -1
			}
		case y == nil:
			c = -1
			if nullsFirst {
				c = 1
			}
		default:
			c = compare(x, y)
			if k.Desc {
				c = -c
			}
		}
		if c != 0 {
			return c < 0
		}
	}
	return false
}

func (o *Oracle) project(q *Query, r Row, rest bool) map[string]any {
	m := map[string]any{}
	if q.Star {
		for _, c := range o.db.Tables[q.Table].Cols {
			m[c.Name] = r[c.Name]
		}
	}
	for _, f := range q.Sel {
		if f.Skipped {
			continue
		}
		if f.Sub == nil {
			m[f.key(rest)] = r[f.Col]
			continue
		}
		if f.Sub.Empty {
			continue
		}
		m[f.key(rest)] = o.field(f.Sub, r, rest)
	}
	return m
}

func aggregate(a *AggSel, rows []Row) map[string]any {
	out := map[string]any{}
	if a.Count {
		n := int64(0)
		for _, r := range rows {
			if a.CountCol == "" || r[a.CountCol] != nil {
				n++
			}
		}
		out["count"] = n
	}
	for fn, cols := range a.Funcs {
		m := map[string]any{}
		for _, c := range cols {
			var acc any
			sum, n := new(big.Rat), int64(0)
			for _, r := range rows {
				v := r[c]
				if v == nil {
					continue
				}
				n++
				switch fn {
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
			case n == 0:
				m[c] = nil
			case fn == "sum":
				m[c] = sum
			case fn == "avg":
				m[c] = Approx{sum.Quo(sum, new(big.Rat).SetInt64(n))}
			default:
				m[c] = acc
			}
		}
		out[fn] = m
	}
	return out
}

func (o *Oracle) eval(e Expr, table string, r Row) tv {
	switch e := e.(type) {
	case And:
		res := tTrue
		for _, a := range e.Args {
			switch o.eval(a, table, r) {
			case tFalse:
				return tFalse
			case tUnknown:
				res = tUnknown
			}
		}
		return res
	case Or:
		res := tFalse
		for _, a := range e.Args {
			switch o.eval(a, table, r) {
			case tTrue:
				return tTrue
			case tUnknown:
				res = tUnknown
			}
		}
		return res
	case Not:
		switch o.eval(e.Arg, table, r) {
		case tTrue:
			return tFalse
		case tFalse:
			return tTrue
		}
		return tUnknown
	case Exists:
		if !e.Rel.Many {
			t := o.object(e.Rel, r)
			if t == nil {
				return tFalse
			}
			if e.Where == nil || o.eval(e.Where, e.Rel.Target, t) == tTrue {
				return tTrue
			}
			return tFalse
		}
		for _, c := range o.children[e.Rel][r["id"].(int64)] {
			if e.Where == nil || o.eval(e.Where, e.Rel.Target, c) == tTrue {
				return tTrue
			}
		}
		return tFalse
	case EmbedNull:
		if o.embedHas(e.Sub, r) == e.Has {
			return tTrue
		}
		return tFalse
	case Cmp:
		return evalCmp(e, r[e.Col])
	}
	panic("difftest: unknown expression")
}

func truth(b bool) tv {
	if b {
		return tTrue
	}
	return tFalse
}

func evalCmp(e Cmp, v any) tv {
	switch e.Op {
	case "isnull":
		return truth(v == nil)
	case "notnull":
		return truth(v != nil)
	case "istrue":
		return truth(v == true)
	case "isfalse":
		return truth(v == false)
	}
	if v == nil {
		return tUnknown
	}
	switch e.Op {
	case "eq":
		return truth(compare(v, e.Val) == 0)
	case "neq":
		return truth(compare(v, e.Val) != 0)
	case "gt":
		return truth(compare(v, e.Val) > 0)
	case "gte":
		return truth(compare(v, e.Val) >= 0)
	case "lt":
		return truth(compare(v, e.Val) < 0)
	case "lte":
		return truth(compare(v, e.Val) <= 0)
	case "like":
		return truth(like(v.(string), e.Val.(string), false))
	case "nlike":
		return truth(!like(v.(string), e.Val.(string), false))
	case "ilike":
		return truth(like(v.(string), e.Val.(string), true))
	case "nilike":
		return truth(!like(v.(string), e.Val.(string), true))
	case "in", "nin":
		found := false
		for _, x := range e.Vals {
			if compare(v, x) == 0 {
				found = true
			}
		}
		return truth(found == (e.Op == "in"))
	}
	panic("difftest: unknown operator " + e.Op)
}

// like is SQL LIKE over ASCII text: % any run, _ one character, \ escapes the next one.
func like(s, p string, fold bool) bool {
	if fold {
		s, p = strings.ToLower(s), strings.ToLower(p)
	}
	// memo[i][j]: does s[i:] match p[j:]?
	memo := make(map[[2]int]bool)
	var m func(i, j int) bool
	m = func(i, j int) bool {
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		var res bool
		switch {
		case j == len(p):
			res = i == len(s)
		case p[j] == '%':
			res = m(i, j+1) || (i < len(s) && m(i+1, j))
		case p[j] == '_':
			res = i < len(s) && m(i+1, j+1)
		case p[j] == '\\' && j+1 < len(p):
			res = i < len(s) && s[i] == p[j+1] && m(i+1, j+2)
		default:
			res = i < len(s) && s[i] == p[j] && m(i+1, j+1)
		}
		memo[k] = res
		return res
	}
	return m(0, 0)
}

// groups groups rows by the values of gs.Keys, in Go: each group's keys and aggregates,
// the having, the order (by count if asked, then by the keys ascending, nulls last) and
// the limit.
func groups(gs *GroupSel, rows []Row) []any {
	type group struct {
		keys Row
		rows []Row
	}
	var list []*group
	byKey := map[string]*group{}
	for _, r := range rows {
		var id strings.Builder
		for _, k := range gs.Keys {
			switch v := r[k].(type) {
			case nil:
				id.WriteString("\x00null")
			case *big.Rat:
				id.WriteString(v.RatString())
			default:
				fmt.Fprintf(&id, "%v", v)
			}
			id.WriteString("\x00")
		}
		gr := byKey[id.String()]
		if gr == nil {
			gr = &group{keys: Row{}}
			for _, k := range gs.Keys {
				gr.keys[k] = r[k]
			}
			byKey[id.String()] = gr
			list = append(list, gr)
		}
		gr.rows = append(gr.rows, r)
	}
	kept := list[:0]
	for _, gr := range list {
		if int64(len(gr.rows)) >= gs.HavingMin {
			kept = append(kept, gr)
		}
	}
	q := &Query{}
	for _, k := range gs.Keys {
		q.Order = append(q.Order, OrderKey{Col: k, Nulls: 2})
	}
	keyOrder := &Oracle{}
	sort.SliceStable(kept, func(i, j int) bool {
		a, b := kept[i], kept[j]
		if gs.ByCount && len(a.rows) != len(b.rows) {
			return (len(a.rows) < len(b.rows)) != gs.Desc
		}
		return keyOrder.less(q, a.keys, b.keys)
	})
	if gs.Limit >= 0 && len(kept) > gs.Limit {
		kept = kept[:gs.Limit]
	}
	out := make([]any, 0, len(kept))
	for _, gr := range kept {
		keys := map[string]any{}
		for k, v := range gr.keys {
			keys[k] = v
		}
		out = append(out, map[string]any{"keys": keys, "aggregate": aggregate(&AggSel{Count: true, Funcs: gs.Funcs}, gr.rows)})
	}
	return out
}

// inZone is answer a with its timestamps in loc, the zone PostgreSQL renders them in.
func inZone(a any, loc *time.Location) any {
	switch x := a.(type) {
	case time.Time:
		return x.In(loc)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = inZone(v, loc)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, v := range x {
			l[i] = inZone(v, loc)
		}
		return l
	case Unordered:
		return Unordered(inZone([]any(x), loc).([]any))
	}
	return a
}
