package sqlgen

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/planner/ir"
)

// Statement is generated SQL text and, for each placeholder $i+1, the IR slot it binds.
type Statement struct {
	SQL   string
	Slots []int
	// Result says whether the statement returns its value, or rows the executor gathers.
	Result statement.Result
}

// ErrInvalid wraps IR that cannot be rendered (a front-end bug, never user input).
var ErrInvalid = errors.New("sqlgen: invalid IR")

type gen struct {
	slot   map[int]int
	slots  []int
	nalias int
	err    error
	// inserted maps a table to the nested-insert steps that added rows to it in this
	// statement; reads of the table union them in (a statement does not see its own
	// writes otherwise). steps lists every step, for affected_rows.
	inserted map[ir.Relation][]string
	steps    []string
	// maxAffected caps the rows of a REST write or call at the count affected, an SQL
	// expression (capped).
	maxAffected *int64
	affected    string
}

// Build renders q as one statement.
func Build(q *ir.Query) (Statement, error) {
	g := &gen{slot: map[int]int{}}
	var b strings.Builder
	if q.Bare && len(q.Roots) == 1 {
		if n, ok := q.Roots[0].Value.(*ir.Nested); ok && n.Select.Link == nil {
			if st, ok := g.bareSelect(n.Select, q.Rows); ok {
				return st, g.err
			}
		}
	}
	b.WriteString("SELECT ")
	if q.Bare {
		if len(q.Roots) != 1 {
			return Statement{}, fmt.Errorf("%w: bare query with %d roots", ErrInvalid, len(q.Roots))
		}
		v := q.Roots[0].Value
		if n, ok := v.(*ir.Nested); ok && n.Select.Shape != ir.ShapeObject {
			b.WriteString(g.rootValue(v).expr)
		} else {
			// The statement's one value must be JSON, never SQL NULL.
			b.WriteString("coalesce(" + g.rootValue(v).expr + ", 'null'::json)")
		}
	} else {
		// The statement's value is read as text, so the object of the roots stays text.
		pairs := make([]pair, 0, len(q.Roots))
		for _, r := range q.Roots {
			p := g.rootValue(r.Value)
			p.key = r.Name
			pairs = append(pairs, p)
		}
		b.WriteString(concatObject(pairs))
	}
	if g.err != nil {
		return Statement{}, g.err
	}
	return Statement{SQL: b.String(), Slots: g.slots}, nil
}

// bareSelect renders a bare root select as the statement itself, not as a sub-select of
// one: with rows allowed, its row objects (ResultArray, or ResultOne for an object);
// otherwise an array or aggregate, which always make one row. ok is false for what it
// does not cover (an object without rows: no row must still give null).
func (g *gen) bareSelect(sel *ir.Select, rows bool) (st Statement, ok bool) {
	var b strings.Builder
	switch {
	case rows && (sel.Shape == ir.ShapeArray || sel.Shape == ir.ShapeObject) && g.objectRows(&b, sel):
		st.Result = statement.Array
		if sel.Shape == ir.ShapeObject {
			st.Result = statement.One
		}
	case sel.Shape == ir.ShapeArray || sel.Shape == ir.ShapeAggregate:
		b.WriteString(g.selectSQL(sel, "", true))
	default:
		return Statement{}, false
	}
	if g.err != nil {
		return Statement{}, true
	}
	st.SQL, st.Slots = b.String(), g.slots
	return st, true
}

func (g *gen) fail(format string, args ...any) string {
	if g.err == nil {
		g.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	return "NULL"
}

func (g *gen) alias(prefix string) string {
	a := prefix + strconv.Itoa(g.nalias)
	g.nalias++
	return a
}

// rootValue renders a root's value as a pair without its key.
func (g *gen) rootValue(v ir.Value) pair {
	switch v := v.(type) {
	case *ir.Nested:
		if v.Select.Link != nil {
			return pair{expr: g.fail("root select with a link")}
		}
		return g.selectValue(v.Select, "", true)
	case *ir.Literal:
		return g.literal(&v.Param)
	}
	return pair{expr: g.fail("root value %T", v)}
}

// literal is a parameter's value: json parameters are JSON already.
func (g *gen) literal(p *ir.Param) pair {
	if p.Type == "json" {
		return pair{expr: g.param(p), kind: kindJSON}
	}
	return pair{expr: g.param(p)}
}

// scope is one Select being rendered: its row alias and the lateral joins its output
// needs.
type scope struct {
	alias    string
	laterals []string
	orderCol int
	// paged: the rows sub-select orders, limits or skips rows; computed: it has
	// DISTINCT ON or computed order columns; subqueries: the output holds sub-selects.
	// They decide whether the output can be written into the rows sub-select itself
	// (see rowsObject).
	paged, computed, subqueries bool
	// sel and parent are the Select being rendered and its parent's alias, which
	// groups (groups.go) read its rows again with.
	sel    *ir.Select
	parent string
}

// selectSQL renders `SELECT <json> AS "j" …` for sel; parent is the alias of the
// parent row for a linked Select. With text, an aggregate's object may stay JSON text
// (kindText) for a reader that takes the value as it is.
func (g *gen) selectSQL(sel *ir.Select, parent string, text bool) string {
	v, from := g.selectParts(sel, parent, text)
	return "SELECT " + v.expr + ` AS "j"` + from
}

// selectValue renders sel as a value: an array is an expression of its own, anything
// else a scalar sub-select (one row, or none: null).
func (g *gen) selectValue(sel *ir.Select, parent string, text bool) pair {
	v, from := g.selectParts(sel, parent, text)
	if from == "" {
		return v
	}
	return pair{expr: "(SELECT " + v.expr + ` AS "j"` + from + ")", kind: v.kind}
}

// selectParts renders sel's JSON value and the ` FROM …` clause it reads, "" when the
// value needs none. Arrays and objects are built from a row sub-select whose columns are
// the output's keys (see rowsObject); aggregates and outputs whose keys cannot be
// columns are concatObject over the rows.
func (g *gen) selectParts(sel *ir.Select, parent string, text bool) (pair, string) {
	if sel.Output == nil {
		return pair{expr: g.fail("select of %s.%s without output", sel.From.Schema, sel.From.Name)}, ""
	}
	if sel.Link != nil && (sel.Shape == ir.ShapeArray || sel.Shape == ir.ShapeObject) && hasAgg(sel.Output) {
		return g.embedGroups(sel, parent)
	}
	sc := &scope{alias: g.alias("t"), sel: sel, parent: parent}
	// The rows sub-select is rendered first so that aliases and parameters are
	// numbered in reading order (filters before output).
	var outerOrder []string
	rows := g.rowsSQL(sel, parent, sc, &outerOrder)

	if sel.Shape == ir.ShapeArray || sel.Shape == ir.ShapeObject {
		pairs := g.objectPairs(sel.Output, sc, false, nil)
		if o, ok := g.rowsObject(pairs, rows, sc, outerOrder); ok {
			if sel.Shape == ir.ShapeArray {
				return pair{expr: arrayOf("SELECT " + o.alias + " FROM " + o.from), kind: kindJSON, notNull: true}, ""
			}
			return pair{expr: "row_to_json(" + o.alias + ")", kind: kindJSON}, " FROM " + o.from
		}
		j := jsonObject(pairs)
		if sel.Shape == ir.ShapeArray {
			return pair{expr: arrayOf("SELECT " + j + " FROM " + fromRows(rows, sc) + orderSuffix(outerOrder)), kind: kindJSON, notNull: true}, ""
		}
		return pair{expr: j, kind: kindJSON}, " FROM " + fromRows(rows, sc)
	}
	if sel.Shape != ir.ShapeAggregate {
		return pair{expr: g.fail("shape %d", sel.Shape)}, ""
	}
	j := pair{expr: concatObject(g.objectPairs(sel.Output, sc, true, outerOrder)), kind: kindText, notNull: true}
	if !text {
		j = pair{expr: j.column(), kind: kindJSON, notNull: true}
	}
	if !readsRows(sel.Output) {
		// Without an aggregate over them, reading the rows would make one object per row.
		return j, ""
	}
	if flat, ok := flatRows(rows, sc); ok {
		return j, " " + flat
	}
	return j, " FROM " + fromRows(rows, sc)
}

// flatRows turns a rows sub-select that only filters (`SELECT <columns> FROM rel AS tN
// WHERE …`) into the FROM and WHERE clauses an aggregate can read directly, sparing
// Postgres a sub-select to plan. ok is false when the rows are ordered, limited,
// computed or joined.
func flatRows(rows *rowSet, sc *scope) (string, bool) {
	if sc.paged || sc.computed || len(sc.laterals) > 0 {
		return "", false
	}
	return rows.from[1:], true
}

// columnKey tells whether an output key can name a column: 1 to 63 bytes, Postgres'
// identifier limit (a longer alias would be cut, and the key with it).
func columnKey(k string) bool { return k != "" && len(k) <= 63 }

// pairKeysFit tells whether pairs are some and their keys can all name columns.
func pairKeysFit(pairs []pair) bool {
	for _, p := range pairs {
		if !columnKey(p.key) {
			return false
		}
	}
	return len(pairs) > 0
}

// columnKeys tells whether a non-aggregate output can be a row sub-select (rowsObject).
func columnKeys(o *ir.Object) bool {
	if len(o.Fields) == 0 {
		return false
	}
	for _, f := range o.Fields {
		switch f.Value.(type) {
		case *ir.Agg, *ir.Rows:
			return false
		}
		if !columnKey(f.Name) {
			return false
		}
	}
	return true
}

// fromRows is `(<rows>) AS tN <laterals>`.
func fromRows(rows *rowSet, sc *scope) string {
	var b strings.Builder
	b.WriteString("(")
	b.WriteString(rows.sql())
	b.WriteString(") AS ")
	b.WriteString(sc.alias)
	for _, l := range sc.laterals {
		b.WriteString(" ")
		b.WriteString(l)
	}
	return b.String()
}

// rowObjects is a row sub-select whose columns are an output object's keys, in order:
// from is `(SELECT <expr> AS "<key>", … FROM (<rows>) AS tN <laterals> ORDER BY …) AS oN`.
type rowObjects struct {
	alias, from string
}

// rowsObject turns pairs into a row sub-select, so that the statement builds each object
// with row_to_json (or an array of its rows) over the sub-select: Postgres does that with
// one cached row descriptor and writes compact JSON, and an array keeps the rows' order
// without sorting them again. Keys must fit a column name (63 bytes); otherwise ok is
// false and concatObject is used.
func (g *gen) rowsObject(pairs []pair, rows *rowSet, sc *scope, order []string) (rowObjects, bool) {
	if !pairKeysFit(pairs) {
		return rowObjects{}, false
	}
	o := g.alias("o")
	cols := columnList(pairs)
	if len(sc.laterals) == 0 && !sc.computed && (!sc.paged || !sc.subqueries) {
		// One level: the output's columns are the rows sub-select's own list. Sub-selects
		// in the output stay above a sub-select that orders or limits, so that they run
		// for the rows kept only.
		return rowObjects{alias: o, from: "(" + rows.with(cols) + ") AS " + o}, true
	}
	var b strings.Builder
	b.WriteString("(SELECT ")
	b.WriteString(cols)
	b.WriteString(" FROM ")
	b.WriteString(fromRows(rows, sc))
	// The rows sub-select is ordered already and lateral joins keep that order, so
	// Postgres sees the input sorted and adds no Sort node; the aggregate reads rows in
	// the sub-select's order.
	b.WriteString(orderSuffix(order))
	b.WriteString(") AS ")
	b.WriteString(o)
	return rowObjects{alias: o, from: b.String()}, true
}

// orderSuffix is " ORDER BY <keys>", or nothing without keys.
func orderSuffix(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return " ORDER BY " + strings.Join(keys, ", ")
}

// rowsSQL renders the filtered, ordered, limited rows of sel under sc.alias, and fills
// outerOrder with the same ordering expressed over the sub-select's output (for
// the array or aggregate above it, since a join may not keep the sub-select's order).
func (g *gen) rowsSQL(sel *ir.Select, parent string, sc *scope, outerOrder *[]string) *rowSet {
	a := sc.alias
	r := &rowSet{alias: a, columns: readColumns(sel, a)}
	var conds []string
	if sel.Link != nil {
		if parent == "" {
			g.fail("linked select without a parent")
			return r
		}
		conds = append(conds, g.linkCond(sel.Link, parent, a))
	}
	if sel.Where != nil {
		conds = append(conds, g.conjunction(sel.Where, a))
	}

	var keys, outer []string
	for _, c := range sel.DistinctOn {
		if !hasPlainOrder(sel.OrderBy, c) {
			k := a + "." + ir.QuoteIdent(c)
			keys = append(keys, k)
			outer = append(outer, k)
		}
	}
	// Distinct-on columns must lead the ORDER BY: the front end checks that order_by
	// starts with the ones it lists (Hasura's rule); the others are put first here.
	for _, o := range sel.OrderBy {
		var e string
		var oe string
		switch {
		case o.Column != nil:
			e = g.columnRef(o.Column, a)
			oe = e
			if !plainColumn(o.Column) {
				// Computed keys are output columns of the rows sub-select: its ORDER BY
				// names them, and so does the ORDER BY over the sub-select.
				name := fmt.Sprintf(`"__order_%d"`, sc.orderCol)
				sc.orderCol++
				r.computed = append(r.computed, e+" AS "+name)
				e, oe = name, a+"."+name
			}
		case o.Via != nil:
			name := fmt.Sprintf(`"__order_%d"`, sc.orderCol)
			sc.orderCol++
			r.computed = append(r.computed, g.viaExpr(o.Via, a)+" AS "+name)
			e, oe = name, a+"."+name
		default:
			g.fail("order item without a key")
			return r
		}
		keys = append(keys, orderKey(e, o))
		outer = append(outer, orderKey(oe, o))
	}

	if len(sel.DistinctOn) > 0 {
		cols := make([]string, len(sel.DistinctOn))
		for i, c := range sel.DistinctOn {
			cols[i] = a + "." + ir.QuoteIdent(c)
		}
		r.distinct = "DISTINCT ON (" + strings.Join(cols, ", ") + ") "
	}
	var b strings.Builder
	b.WriteString(" FROM ")
	b.WriteString(g.readRelation(sel.From))
	b.WriteString(" AS ")
	b.WriteString(a)
	if len(conds) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(conds, " AND "))
	}
	b.WriteString(orderSuffix(keys))
	switch {
	case sel.Limit != nil:
		b.WriteString(" LIMIT ")
		b.WriteString(g.scalar(sel.Limit, a))
	case sel.Shape == ir.ShapeObject && sel.Link != nil:
		b.WriteString(" LIMIT 1")
	}
	if sel.Offset != nil {
		b.WriteString(" OFFSET ")
		b.WriteString(g.scalar(sel.Offset, a))
	}
	r.from = b.String()
	*outerOrder = outer
	sc.paged = len(keys) > 0 || sel.Limit != nil || sel.Offset != nil || (sel.Shape == ir.ShapeObject && sel.Link != nil)
	sc.computed = len(r.computed) > 0 || len(sel.DistinctOn) > 0
	return r
}

// orderKey is one ORDER BY key: the expression e with o's direction and NULLs placement.
func orderKey(e string, o ir.OrderItem) string {
	if o.Descending {
		e += " DESC"
	} else {
		e += " ASC"
	}
	switch o.Nulls {
	case ir.NullsFirst:
		e += " NULLS FIRST"
	case ir.NullsLast:
		e += " NULLS LAST"
	}
	return e
}

func hasPlainOrder(items []ir.OrderItem, col string) bool {
	for _, o := range items {
		if plainColumn(o.Column) && o.Column.Name == col {
			return true
		}
	}
	return false
}

// linkCond correlates alias (the linked relation) with the parent row.
func (g *gen) linkCond(l *ir.Link, parent, alias string) string {
	if len(l.Columns) == 0 || len(l.Columns) != len(l.RemoteColumns) {
		return g.fail("link with %d/%d columns", len(l.Columns), len(l.RemoteColumns))
	}
	if l.Through != nil {
		j := g.alias("j")
		var c []string
		for i := range l.Columns {
			c = append(c, j+"."+ir.QuoteIdent(l.Through.Columns[i])+" = "+parent+"."+ir.QuoteIdent(l.Columns[i]))
		}
		for i := range l.RemoteColumns {
			c = append(c, j+"."+ir.QuoteIdent(l.Through.RemoteColumns[i])+" = "+alias+"."+ir.QuoteIdent(l.RemoteColumns[i]))
		}
		if len(l.Through.Columns) != len(l.Columns) || len(l.Through.RemoteColumns) != len(l.RemoteColumns) {
			return g.fail("junction columns do not match the link")
		}
		return "EXISTS (SELECT 1 FROM " + relation(l.Through.Relation) + " AS " + j + " WHERE " + strings.Join(c, " AND ") + ")"
	}
	var c []string
	for i := range l.Columns {
		c = append(c, alias+"."+ir.QuoteIdent(l.RemoteColumns[i])+" = "+parent+"."+ir.QuoteIdent(l.Columns[i]))
	}
	return strings.Join(c, " AND ")
}

// viaExpr is a scalar sub-select reaching an order key through relationships.
func (g *gen) viaExpr(v *ir.OrderVia, parent string) string {
	if v.Link == nil {
		return g.fail("order via without a link")
	}
	a := g.alias("s")
	var val string
	switch {
	case v.Next != nil:
		val = g.viaExpr(v.Next, a)
	case v.Agg != nil:
		val = g.aggCall(v.Agg, a)
	case v.Column != nil:
		val = g.columnRef(v.Column, a)
	default:
		return g.fail("order via without a key")
	}
	s := "(SELECT " + val + " FROM " + relation(v.Relation) + " AS " + a + " WHERE " + g.linkCond(v.Link, parent, a)
	if v.Agg == nil {
		s += " LIMIT 1"
	}
	return s + ")"
}

// objectPairs renders the key/value pairs of an output object over the row alias of sc.
// In an aggregate select, Agg fields are aggregate calls and Rows fields aggregate the
// rows in rowOrder; objects nested in it are JSON text.
func (g *gen) objectPairs(o *ir.Object, sc *scope, aggregate bool, rowOrder []string) []pair {
	pairs := make([]pair, 0, len(o.Fields))
	spreads := map[*ir.Select]string{}
	for _, f := range o.Fields {
		var p pair
		switch v := f.Value.(type) {
		case *ir.Column:
			if aggregate {
				g.fail("column %q in an aggregate object", v.Name)
				return nil
			}
			p = pair{expr: g.columnRef(v, sc.alias)}
		case *ir.Literal:
			p = g.literal(&v.Param)
		case *ir.Nested:
			if aggregate {
				g.fail("nested select in an aggregate object")
				return nil
			}
			// One row (an aggregate, or an object limited to one row) or none (null).
			p = g.selectValue(v.Select, sc.alias, false)
			sc.subqueries = true
		case *ir.Spread:
			if aggregate {
				g.fail("spread in an aggregate object")
				return nil
			}
			r, ok := spreads[v.Select]
			if !ok {
				r = g.alias("r")
				sub := g.selectSQL(v.Select, sc.alias, false)
				sc.laterals = append(sc.laterals, "LEFT JOIN LATERAL ("+sub+") AS "+r+" ON true")
				spreads[v.Select] = r
			}
			p = pair{expr: "(" + r + `."j"->` + quoteLiteral(v.Key) + ")", kind: kindJSON}
		case *ir.Nest:
			p = objectPair(g.objectPairs(v.Object, sc, aggregate, rowOrder))
		case *ir.Agg:
			if !aggregate {
				g.fail("aggregate %s outside an aggregate select", v.Func)
				return nil
			}
			p = pair{expr: g.aggCall(v, sc.alias)}
			if v.Func == ir.AggCount && v.Cast == "" {
				p.kind = kindCount
			}
		case *ir.Rows:
			if !aggregate {
				g.fail("rows outside an aggregate select")
				return nil
			}
			p = pair{expr: jsonArray(g.rowElement(v.Object, sc), rowOrder), kind: kindJSON, notNull: true}
		case *ir.Groups:
			if !aggregate {
				g.fail("groups outside an aggregate select")
				return nil
			}
			p = g.groups(v, sc)
		default:
			g.fail("output value %T", v)
			return nil
		}
		p.key = f.Name
		pairs = append(pairs, p)
	}
	return pairs
}

// rowElement is the JSON object of one row of sc for an aggregate to gather: a lateral
// row whose columns are the object's keys, or the object as json when the keys cannot be
// columns.
func (g *gen) rowElement(o *ir.Object, sc *scope) string {
	pairs := g.objectPairs(o, sc, false, nil)
	if !pairKeysFit(pairs) {
		return jsonObject(pairs)
	}
	n := g.alias("n")
	sc.laterals = append(sc.laterals, "CROSS JOIN LATERAL (SELECT "+columnList(pairs)+") AS "+n)
	return n
}

var aggFuncs = map[ir.AggFunc]bool{
	ir.AggCount: true, ir.AggSum: true, ir.AggAvg: true, ir.AggMax: true, ir.AggMin: true,
	ir.AggStddev: true, ir.AggStddevPop: true, ir.AggStddevSamp: true,
	ir.AggVariance: true, ir.AggVarPop: true, ir.AggVarSamp: true, ir.AggBoolAnd: true, ir.AggBoolOr: true,
}

func (g *gen) aggCall(a *ir.Agg, alias string) string {
	if !aggFuncs[a.Func] {
		return g.fail("aggregate function %q", a.Func)
	}
	var s string
	switch {
	case a.Input != nil:
		d := ""
		if a.Distinct {
			d = "DISTINCT "
		}
		s = string(a.Func) + "(" + d + g.columnRef(a.Input, alias) + ")"
	case a.Func == ir.AggCount && len(a.Columns) == 0:
		if a.Distinct {
			return g.fail("count(distinct) without columns")
		}
		s = "count(*)"
	case a.Func == ir.AggCount:
		// count(DISTINCT (a, b)) counts distinct non-null rows of the columns; a
		// multi-column count counts rows where every column is non-null, as Hasura does.
		cols := make([]string, len(a.Columns))
		for i, c := range a.Columns {
			cols[i] = alias + "." + ir.QuoteIdent(c)
		}
		arg := cols[0]
		if len(cols) > 1 {
			arg = "(" + strings.Join(cols, ", ") + ")"
			conds := make([]string, len(cols))
			for i, c := range cols {
				conds[i] = c + " IS NOT NULL"
			}
			filter := " FILTER (WHERE " + strings.Join(conds, " AND ") + ")"
			if a.Distinct {
				s = "count(DISTINCT " + arg + ")" + filter
			} else {
				s = "count(*)" + filter
			}
			break
		}
		if a.Distinct {
			s = "count(DISTINCT " + arg + ")"
		} else {
			s = "count(" + arg + ")"
		}
	default:
		if len(a.Columns) != 1 {
			return g.fail("%s over %d columns", a.Func, len(a.Columns))
		}
		d := ""
		if a.Distinct {
			d = "DISTINCT "
		}
		s = string(a.Func) + "(" + d + alias + "." + ir.QuoteIdent(a.Columns[0]) + ")"
	}
	if a.Cast != "" {
		s = "(" + s + ")::" + g.typ(a.Cast)
	}
	return s
}

func (g *gen) columnRef(c *ir.Column, alias string) string {
	s := alias + "." + ir.QuoteIdent(c.Name)
	for i, st := range c.Path {
		op := "->"
		if c.PathText && i == len(c.Path)-1 {
			op = "->>"
		}
		if st.Key != nil {
			s += op + g.param(st.Key)
		} else {
			s += op + strconv.Itoa(st.Index)
		}
	}
	if len(c.Path) > 0 {
		s = "(" + s + ")"
	}
	if c.Cast != "" {
		s = "(" + s + ")::" + g.typ(c.Cast)
	}
	return s
}

func (g *gen) param(p *ir.Param) string {
	n, ok := g.slot[p.Slot]
	if !ok {
		g.slots = append(g.slots, p.Slot)
		n = len(g.slots)
		g.slot[p.Slot] = n
	}
	return "$" + strconv.Itoa(n) + "::" + g.typ(p.Type)
}

// typ checks a type spelled by ir.TypeName: bare lowercase names or quoted,
// schema-qualified names, optionally with [].
func (g *gen) typ(t string) string {
	if validType(t) {
		return t
	}
	return g.fail("type %q", t)
}

func validType(t string) bool {
	t = strings.TrimSuffix(t, "[]")
	if t == "" {
		return false
	}
	if t[0] != '"' {
		for i := 0; i < len(t); i++ {
			c := t[i]
			if !(c == '_' || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9')) {
				return false
			}
		}
		return true
	}
	parts := 0
	for len(t) > 0 {
		if t[0] != '"' {
			return false
		}
		i := 1
		for ; i < len(t); i++ {
			if t[i] == '"' {
				if i+1 < len(t) && t[i+1] == '"' {
					i++
					continue
				}
				break
			}
		}
		if i >= len(t) {
			return false
		}
		t = t[i+1:]
		parts++
		if len(t) > 0 {
			if t[0] != '.' || parts > 1 {
				return false
			}
			t = t[1:]
		}
	}
	return parts == 2
}

var funcs = map[string]bool{
	"to_tsquery": true, "plainto_tsquery": true, "phraseto_tsquery": true, "websearch_to_tsquery": true,
	"to_tsvector": true, "least": true, "greatest": true, "lower": true,
}

// scalar renders a value expression over the row alias.
func (g *gen) scalar(e ir.Expr, alias string) string {
	switch e := e.(type) {
	case *ir.Param:
		return g.param(e)
	case *ir.Column:
		return g.columnRef(e, alias)
	case *ir.Array:
		var b strings.Builder
		b.WriteString("ARRAY[")
		for i, it := range e.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(g.scalar(it, alias))
		}
		b.WriteString("]::")
		b.WriteString(g.typ(e.Type))
		return b.String()
	case *ir.Func:
		if !funcs[e.Name] {
			return g.fail("function %q", e.Name)
		}
		args := make([]string, len(e.Args))
		for i, a := range e.Args {
			args[i] = g.scalar(a, alias)
		}
		return e.Name + "(" + strings.Join(args, ", ") + ")"
	case *ir.Cast:
		return "(" + g.scalar(e.Expr, alias) + ")::" + g.typ(e.Type)
	case *ir.Agg:
		return g.aggCall(e, alias)
	case *ir.RowRef:
		if !validStepName(e.Step) {
			return g.fail("row reference to step %q", e.Step)
		}
		return "(SELECT " + ir.QuoteIdent(e.Column) + " FROM " + ir.QuoteIdent(e.Step) + ")"
	case *ir.Related:
		if e.Link == nil || e.Agg == nil {
			return g.fail("related aggregate without a link")
		}
		a := g.alias("s")
		s := "(SELECT " + g.aggCall(e.Agg, a) + " FROM " + relation(e.Relation) + " AS " + a + " WHERE " + g.linkCond(e.Link, alias, a)
		if e.Where != nil {
			s += " AND " + g.operand(e.Where, a)
		}
		return s + ")"
	}
	return g.operand(e, alias)
}

var ops = map[ir.Op]bool{}

func init() {
	for _, o := range []ir.Op{ir.OpEq, ir.OpNeq, ir.OpGt, ir.OpGte, ir.OpLt, ir.OpLte, ir.OpLike,
		ir.OpNotLike, ir.OpILike, ir.OpNotILike, ir.OpSimilar, ir.OpNotSimilar, ir.OpRegex,
		ir.OpNotRegex, ir.OpIRegex, ir.OpNotIRegex, ir.OpDistinct, ir.OpNotDistinct, ir.OpContains,
		ir.OpContainedIn, ir.OpOverlaps, ir.OpHasKey, ir.OpHasKeysAny, ir.OpHasKeysAll,
		ir.OpStrictLeft, ir.OpStrictRight, ir.OpNotExtRight, ir.OpNotExtLeft, ir.OpAdjacent,
		ir.OpTextSearch, ir.OpAdd, ir.OpConcat, ir.OpMinus, ir.OpDeletePath} {
		ops[o] = true
	}
}

// boolExpr renders a filter over the row alias. Its result is always one operand that
// binds tighter than AND and OR: a group of several operands comes back parenthesised,
// so a caller may join it with other conditions (a link, an EXISTS) without
// changing its meaning — `link AND a OR b` would match b under every parent.
func (g *gen) boolExpr(e ir.Expr, alias string) string {
	switch e := e.(type) {
	case *ir.And:
		return g.group(e.Exprs, " AND ", "true", alias, true)
	case *ir.Or:
		return g.group(e.Exprs, " OR ", "false", alias, true)
	case *ir.Not:
		return "NOT " + g.operand(e.Expr, alias)
	case *ir.Bool:
		if e.Value {
			return "true"
		}
		return "false"
	case *ir.IsNull:
		if e.Negate {
			return g.scalar(e.Expr, alias) + " IS NOT NULL"
		}
		return g.scalar(e.Expr, alias) + " IS NULL"
	case *ir.Compare:
		l := g.scalar(e.Left, alias)
		r := g.scalar(e.Right, alias)
		switch e.Op {
		case ir.OpEqAny, ir.OpNeqAll, ir.OpLikeAny, ir.OpLikeAll, ir.OpILikeAny, ir.OpILikeAll:
			return l + " " + string(e.Op) + " (" + r + ")"
		}
		if !ops[e.Op] {
			return g.fail("operator %q", e.Op)
		}
		return l + " " + string(e.Op) + " " + r
	case *ir.Exists:
		if e.Link == nil {
			return g.fail("exists without a link")
		}
		a := g.alias("e")
		s := "EXISTS (SELECT 1 FROM " + relation(e.Relation) + " AS " + a + " WHERE " + g.linkCond(e.Link, alias, a)
		if e.Where != nil {
			s += " AND " + g.operand(e.Where, a)
		}
		return s + ")"
	case *ir.Column, *ir.Param, *ir.Func, *ir.Cast, *ir.Related:
		return g.scalar(e, alias)
	}
	return g.fail("filter %T", e)
}

// group renders operands joined by op ("true" or "false" when there are none) as one
// parenthesised operand (without the outer parentheses unless wrap); each operand is
// parenthesised unless it is a group already.
func (g *gen) group(es []ir.Expr, op, empty, alias string, wrap bool) string {
	switch len(es) {
	case 0:
		return empty
	case 1:
		return g.boolExpr(es[0], alias)
	}
	var b strings.Builder
	if wrap {
		b.WriteByte('(')
	}
	for i, x := range es {
		if i > 0 {
			b.WriteString(op)
		}
		b.WriteString(g.operand(x, alias))
	}
	if wrap {
		b.WriteByte(')')
	}
	return b.String()
}

// conjunction renders a filter as a WHERE clause: like boolExpr, but a top-level AND
// is left without its outer parentheses, which ANDing it with more conditions does not
// need.
func (g *gen) conjunction(e ir.Expr, alias string) string {
	if a, ok := e.(*ir.And); ok {
		return g.group(a.Exprs, " AND ", "true", alias, false)
	}
	return g.boolExpr(e, alias)
}

// operand is boolExpr in parentheses unless it has them already.
func (g *gen) operand(e ir.Expr, alias string) string {
	if isGroup(e) {
		return g.boolExpr(e, alias)
	}
	return "(" + g.boolExpr(e, alias) + ")"
}

// isGroup tells whether boolExpr renders e as a parenthesised group already.
func isGroup(e ir.Expr) bool {
	switch e := e.(type) {
	case *ir.And:
		return len(e.Exprs) > 1 || len(e.Exprs) == 1 && isGroup(e.Exprs[0])
	case *ir.Or:
		return len(e.Exprs) > 1 || len(e.Exprs) == 1 && isGroup(e.Exprs[0])
	}
	return false
}

// readRelation is relation, plus the rows this statement's nested-insert steps added.
func (g *gen) readRelation(r ir.Relation) string {
	steps := g.inserted[r]
	if len(steps) == 0 {
		return relation(r)
	}
	s := "(SELECT * FROM " + relation(r)
	for _, st := range steps {
		s += " UNION ALL SELECT * FROM " + ir.QuoteIdent(st)
	}
	return s + ")"
}

// relation names a table; a Relation without schema is a CTE of the statement
// (ir.MutatedRows).
func relation(r ir.Relation) string {
	if r.Schema == "" {
		return ir.QuoteIdent(r.Name)
	}
	return ir.QuoteIdent(r.Schema) + "." + ir.QuoteIdent(r.Name)
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
