package sqlgen

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/planner/ir"
)

// BuildRESTRead renders a REST read as one statement returning the envelope
// `<rows>,<total>,<body>` as text (see ir.RESTRead).
func BuildRESTRead(r *ir.RESTRead) (Statement, error) {
	g := &gen{slot: map[int]int{}}
	var b strings.Builder
	switch {
	case r.CSV:
		g.csvEnvelope(&b, r.Select, r.Total)
	case r.Grouped:
		if g.groupedEnvelope(&b, r.Select, !r.Total) {
			st, err := g.done(&b)
			st.Result = statement.Envelope
			return st, err
		}
	case !r.Total && g.objectRows(&b, r.Select):
		st, err := g.done(&b)
		st.Result = statement.Envelope
		return st, err
	default:
		g.envelope(&b, r.Select, r.Total)
	}
	return g.done(&b)
}

// objectRows renders `SELECT row_to_json(oN) FROM (<row sub-select>) AS oN`: one object
// per row, in order, for the executor to gather. It writes nothing and returns false when
// the output cannot be a row sub-select (see rowsObject).
func (g *gen) objectRows(b *strings.Builder, sel *ir.Select) bool {
	if sel.Link != nil || sel.Output == nil || !columnKeys(sel.Output) {
		return false
	}
	sc := &scope{alias: g.alias("t")}
	var outerOrder []string
	rows := g.rowsSQL(sel, "", sc, &outerOrder)
	pairs := g.objectPairs(sel.Output, sc, false, nil)
	o, ok := g.rowsObject(pairs, rows, sc, outerOrder)
	if !ok {
		g.fail("row objects for an output whose keys fit columns")
		return true
	}
	b.WriteString("SELECT row_to_json(" + o.alias + ") FROM " + o.from)
	return true
}

// groupedEnvelope renders a grouped read: the filtered rows, grouped by the output's
// columns, one object per group. The total is the number of groups. With perRow and keys
// that fit column names, the statement returns one object per group instead
// (statement.Envelope) and groupedEnvelope returns true.
func (g *gen) groupedEnvelope(b *strings.Builder, sel *ir.Select, perRow bool) bool {
	if sel.Link != nil || sel.Output == nil {
		g.fail("grouped read over a linked or output-less select")
		return false
	}
	rows := *sel
	rows.OrderBy, rows.Limit, rows.Offset = nil, nil, nil
	sc := &scope{alias: g.alias("t")}
	var ignored []string
	from := g.rowsSQL(&rows, "", sc, &ignored)
	var cols, keys, exprs []string
	pairs := make([]pair, 0, len(sel.Output.Fields))
	for i, f := range sel.Output.Fields {
		name := fmt.Sprintf(`"g%d"`, i)
		var e string
		switch v := f.Value.(type) {
		case *ir.Column:
			e = g.columnRef(v, sc.alias)
			keys = append(keys, e)
		case *ir.Agg:
			e = g.aggCall(v, sc.alias)
		default:
			g.fail("grouped output %T", v)
			return false
		}
		cols = append(cols, e+" AS "+name)
		exprs = append(exprs, e)
		pairs = append(pairs, pair{key: f.Name, expr: "g." + name})
	}
	group := ""
	if len(keys) > 0 {
		group = " GROUP BY " + strings.Join(keys, ", ")
	}
	var order, inner, direct []string
	for _, o := range sel.OrderBy {
		if o.Column == nil {
			g.fail("grouped order through a relation")
			return false
		}
		k, d := "", ""
		for i, f := range sel.Output.Fields {
			if c, ok := f.Value.(*ir.Column); ok && c.Name == o.Column.Name && len(c.Path) == 0 && c.Cast == "" {
				k, d = fmt.Sprintf(`"g%d"`, i), exprs[i]
			}
		}
		if k == "" {
			g.fail("grouped order on %q, which is not a grouping column", o.Column.Name)
			return false
		}
		inner = append(inner, orderKey(k, o))
		order = append(order, orderKey("g."+k, o))
		direct = append(direct, orderKey(d, o))
	}
	var limits string
	if sel.Limit != nil {
		limits += " LIMIT " + g.scalar(sel.Limit, "")
	}
	if sel.Offset != nil {
		limits += " OFFSET " + g.scalar(sel.Offset, "")
	}
	page := orderSuffix(inner) + limits
	if perRow && pairKeysFit(pairs) && !sc.computed {
		// One level: the groups' columns, named by the output's keys, are the rows
		// sub-select's own list.
		var list strings.Builder
		for i, p := range pairs {
			if i > 0 {
				list.WriteString(", ")
			}
			list.WriteString(exprs[i] + " AS " + ir.QuoteIdent(p.key))
		}
		o := g.alias("o")
		b.WriteString("SELECT row_to_json(" + o + ") FROM (" + from.with(list.String()) + group + orderSuffix(direct) + limits + ") AS " + o)
		return true
	}
	groups := "(SELECT " + strings.Join(cols, ", ") + " FROM (" + from.sql() + ") AS " + sc.alias + group + page + ") AS g"
	elem := ""
	if pairKeysFit(pairs) {
		// Each group's object is a lateral row named by the output's keys.
		elem = g.alias("n")
		list := make([]string, len(pairs))
		for i, p := range pairs {
			list[i] = p.expr + " AS " + ir.QuoteIdent(p.key)
		}
		groups += " CROSS JOIN LATERAL (SELECT " + strings.Join(list, ", ") + ") AS " + elem
	} else {
		elem = jsonObject(pairs)
	}
	b.WriteString(`SELECT ` + envelopeSQL(`count(*)`, `count(*)`, jsonArray(elem, order)) + ` FROM ` + groups)
	return false
}

// BuildRESTWrite renders a REST write as `WITH "m" AS (<dml> RETURNING *)` and the
// envelope over the affected rows.
func BuildRESTWrite(w *ir.RESTWrite) (Statement, error) {
	g := &gen{slot: map[int]int{}, maxAffected: w.MaxAffected, affected: `(SELECT count(*) FROM "m")`}
	var b strings.Builder
	a := g.alias("t")
	returning := true
	insertedCount := "" // the count of rows an upsert inserted, when it counts them
	switch w.Op {
	case ir.MutInsert:
		body := g.param(w.Body)
		rows := "CASE WHEN json_typeof(" + body + ") = 'array' THEN " + body + " ELSE json_build_array(" + body + ") END"
		b.WriteString("INSERT INTO " + relation(w.Table) + " AS " + a)
		if len(w.Columns) > 0 {
			b.WriteString(" (")
			g.columnList(&b, w.Columns, "")
			b.WriteString(") SELECT ")
		}
		switch {
		case len(w.Columns) == 0:
			// A body of empty objects ({} or [{}, {}]): a row of defaults for each.
			b.WriteString(" SELECT FROM json_array_elements(" + rows + ") AS e(j)")
		case w.MissingDefault:
			if len(w.Defaults) != len(w.Columns) {
				g.fail("missing=default without a default per column")
			}
			for i, c := range w.Columns {
				if i > 0 {
					b.WriteString(", ")
				}
				d := "NULL"
				switch {
				case i < len(w.Defaults) && w.Defaults[i] != "":
					d = w.Defaults[i]
				case i < len(w.Identity) && w.Identity[i]:
					d = "nextval(pg_get_serial_sequence(" + quoteLiteral(relation(w.Table)) + ", " + quoteLiteral(c) + "))"
				}
				b.WriteString("CASE WHEN e.j::jsonb ? " + quoteLiteral(c) + " THEN x." + ir.QuoteIdent(c) + " ELSE " + d + " END")
			}
			b.WriteString(" FROM json_array_elements(" + rows + ") AS e(j), LATERAL json_populate_record(NULL::" + relation(w.Table) + ", e.j) AS x")
		case w.BodyObject:
			g.columnList(&b, w.Columns, "x.")
			b.WriteString(" FROM json_populate_record(NULL::" + relation(w.Table) + ", " + body + ") AS x")
		default:
			g.columnList(&b, w.Columns, "x.")
			b.WriteString(" FROM json_populate_recordset(NULL::" + relation(w.Table) + ", " + rows + ") AS x")
		}
		counting := w.CountInserted && len(w.OnConflict) > 0 && !w.DoNothing && len(w.Columns) > 0
		if counting {
			// Every row proposed adds one to the count, and every row updated instead
			// takes one off (the conditions always hold): what is left was inserted.
			b.WriteString(" WHERE " + bumpInserted("+") + " <> '0'")
		}
		if len(w.OnConflict) > 0 {
			b.WriteString(" ON CONFLICT (")
			g.columnList(&b, w.OnConflict, "")
			b.WriteString(")")
			if w.DoNothing || len(w.Columns) == 0 {
				b.WriteString(" DO NOTHING")
			} else {
				b.WriteString(" DO UPDATE SET ")
				for i, c := range w.Columns {
					if i > 0 {
						b.WriteString(", ")
					}
					b.WriteString(ir.QuoteIdent(c) + " = EXCLUDED." + ir.QuoteIdent(c))
				}
				if counting {
					b.WriteString(" WHERE " + bumpInserted("-") + " <> '-1'")
				}
			}
		}
		if counting {
			insertedCount = "coalesce(nullif(current_setting(" + quoteLiteral(insertedSetting) + ", true), ''), '0')"
		}
	case ir.MutUpdate:
		if len(w.Columns) == 0 {
			// Nothing to set: no row is affected.
			b.WriteString("SELECT " + a + ".* FROM " + relation(w.Table) + " AS " + a + " WHERE false")
			returning = false
			break
		}
		b.WriteString("UPDATE " + relation(w.Table) + " AS " + a + " SET ")
		for i, c := range w.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ir.QuoteIdent(c) + " = x." + ir.QuoteIdent(c))
		}
		b.WriteString(" FROM json_populate_record(NULL::" + relation(w.Table) + ", " + g.param(w.Body) + ") AS x")
		if w.Where != nil {
			b.WriteString(" WHERE " + g.conjunction(w.Where, a))
		}
	case ir.MutDelete:
		b.WriteString("DELETE FROM " + relation(w.Table) + " AS " + a)
		if w.Where != nil {
			b.WriteString(" WHERE " + g.conjunction(w.Where, a))
		}
	default:
		g.fail("rest write op %d", w.Op)
	}
	if w.Returning == nil && !w.Singular && insertedCount == "" && w.MaxAffected == nil {
		// Only the count is wanted: the statement alone, whose command tag has it.
		st, err := g.done(&b)
		st.Result = statement.Count
		return st, err
	}
	dml := b.String()
	b.Reset()
	b.WriteString(`WITH "m" AS (` + dml)
	if returning {
		b.WriteString(" RETURNING " + a + ".*")
	}
	b.WriteString(") ")
	switch {
	case w.Returning == nil:
		total := "NULL"
		if insertedCount != "" {
			total = insertedCount
		}
		b.WriteString(`SELECT ` + g.capped(singular(w.Singular, `count(*)`, envelopeSQL(`count(*)`, total, `'[]'`))) + ` FROM "m"`)
	default:
		g.envelopeOf(&b, w.Returning, false, w.Singular, insertedCount)
	}
	return g.done(&b)
}

// insertedSetting counts, in a transaction-local setting, the rows an upsert inserts.
const insertedSetting = "kapok.upsert_inserted"

// bumpInserted adds one to (op "+") or takes one off (op "-") the count of inserted rows
// and yields its new text.
func bumpInserted(op string) string {
	cur := "coalesce(nullif(current_setting(" + quoteLiteral(insertedSetting) + ", true), '')::int, 0)"
	return "set_config(" + quoteLiteral(insertedSetting) + ", (" + cur + " " + op + " 1)::text, true)"
}

// capped wraps the envelope expression so that a statement over more rows than
// g.maxAffected fails, undoing its writes (see ir.RESTWrite.MaxAffected).
func (g *gen) capped(env string) string {
	if g.maxAffected == nil {
		return env
	}
	return "CASE WHEN " + g.affected + " <= " + strconv.FormatInt(*g.maxAffected, 10) + " THEN " + env +
		" ELSE current_setting(" + quoteLiteral(ir.MaxAffectedSetting) + " || " + g.affected + ") END"
}

// singular wraps the envelope expression so that a row count n other than 1 fails the
// statement (see ir.RESTWrite.Singular).
func singular(on bool, n, env string) string {
	if !on {
		return env
	}
	return "CASE WHEN " + n + " = 1 THEN " + env + " ELSE current_setting(" + quoteLiteral(ir.SingularSetting) + " || " + n + ") END"
}

// BuildRESTCall renders a function call: `WITH "c" AS (SELECT * FROM fn(…))` and the
// envelope over its rows. A scalar result's body is the value itself.
func BuildRESTCall(c *ir.RESTCall) (Statement, error) {
	g := &gen{slot: map[int]int{}, maxAffected: c.MaxAffected, affected: `(SELECT count(*) FROM "c")`}
	if c.MaxAffected != nil && !c.Set {
		return Statement{}, fmt.Errorf("%w: max-affected on a call that returns one value", ErrInvalid)
	}
	var b strings.Builder
	var call strings.Builder
	call.WriteString(relation(c.Function) + "(")
	n := 0
	for _, a := range c.Args {
		if n > 0 {
			call.WriteString(", ")
		}
		n++
		call.WriteString(ir.QuoteIdent(a.Name) + " => " + g.scalar(a.Value, ""))
	}
	from := ""
	if c.Body != nil && len(c.BodyArgs) > 0 {
		from = " FROM json_to_record(" + g.param(c.Body) + ") AS x("
		for i, a := range c.BodyArgs {
			if i > 0 {
				from += ", "
			}
			from += ir.QuoteIdent(a.Name) + " " + g.typ(a.Type)
			if n > 0 {
				call.WriteString(", ")
			}
			n++
			call.WriteString(ir.QuoteIdent(a.Name) + " => x." + ir.QuoteIdent(a.Name))
		}
		from += ")"
	}
	call.WriteString(")")
	switch {
	case c.Void:
		b.WriteString(`SELECT '1,,null' FROM (SELECT ` + call.String() + from + `) AS v`)
	case c.Composite:
		b.WriteString(`WITH "c" AS (SELECT y.* FROM` + strings.TrimPrefix(from, " FROM") + sep(from) + "LATERAL " + call.String() + " AS y) ")
		if c.Rows == nil {
			return Statement{}, fmt.Errorf("%w: composite call without rows", ErrInvalid)
		}
		if !c.Set {
			// A single composite value is an object, not an array.
			b.WriteString(`SELECT ` + envelopeSQL(`count(*)`, `NULL`, `coalesce((SELECT to_json(c) FROM "c" AS c LIMIT 1), 'null'::json)`) + ` FROM "c"`)
			break
		}
		g.envelope(&b, c.Rows, c.Total)
	case c.Set:
		b.WriteString(`WITH "c" AS (SELECT y AS "v" FROM` + strings.TrimPrefix(from, " FROM") + sep(from) + "LATERAL " + call.String() + " AS y) ")
		b.WriteString(`SELECT ` + g.capped(envelopeSQL(`count(*)`, `NULL`, jsonArray(`to_json(c."v")`, nil))) + ` FROM "c" AS c`)
	default:
		b.WriteString(`SELECT ` + envelopeSQL(`1`, `NULL`, `coalesce(to_json(`+call.String()+`), 'null'::json)`) + from)
	}
	return g.done(&b)
}

func sep(from string) string {
	if from == "" {
		return " "
	}
	return ", "
}

func (g *gen) columnList(b *strings.Builder, cols []string, prefix string) {
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix + ir.QuoteIdent(c))
	}
}

func (g *gen) done(b *strings.Builder) (Statement, error) {
	if g.err != nil {
		return Statement{}, g.err
	}
	return Statement{SQL: b.String(), Slots: g.slots}, nil
}

// envelope renders `SELECT concat(n, ',', total, ',', body)` over the rows of sel (a
// root Select: no Link).
func (g *gen) envelope(b *strings.Builder, sel *ir.Select, total bool) {
	g.envelopeOf(b, sel, total, false, "")
}

// envelopeOf writes the envelope over sel's rows: a singular one when one is set, its
// total the count of every row sel selects when total is set, or totalExpr when given
// (an upsert's count of inserted rows), else NULL.
func (g *gen) envelopeOf(b *strings.Builder, sel *ir.Select, total, one bool, totalExpr string) {
	if sel.Link != nil || sel.Output == nil {
		g.fail("rest envelope over a linked or output-less select")
		return
	}
	sc := &scope{alias: g.alias("t")}
	var outerOrder []string
	rows := g.rowsSQL(sel, "", sc, &outerOrder)
	pairs := g.objectPairs(sel.Output, sc, false, nil)
	t := g.total(sel, total)
	if totalExpr != "" {
		t = totalExpr
	}
	var body, from string
	if o, ok := g.rowsObject(pairs, rows, sc, outerOrder); ok {
		body, from = jsonArray(o.alias, nil), o.from
	} else {
		body, from = jsonArray(jsonObject(pairs), outerOrder), fromRows(rows, sc)
	}
	b.WriteString(`SELECT ` + g.capped(singular(one, `count(*)`, envelopeSQL(`count(*)`, t, body))) + ` FROM ` + from)
}

// envelopeSQL is the statement's one value: `<rows>,<total>,<body>`, the total empty
// when unknown (NULL). concat() writes the numbers without the per-call output-function
// lookups of text || bigint.
func envelopeSQL(n, total, body string) string {
	return "concat(" + n + ", ',', " + total + ", ',', " + body + ")"
}

// csvEnvelope renders a read whose body is CSV text: the header line, then a line per
// row; a value holding a comma, quote or line break is quoted, NULL is empty.
func (g *gen) csvEnvelope(b *strings.Builder, sel *ir.Select, total bool) {
	if sel.Link != nil || sel.Output == nil {
		g.fail("csv over a linked or output-less select")
		return
	}
	sc := &scope{alias: g.alias("t")}
	var outerOrder []string
	rows := g.rowsSQL(sel, "", sc, &outerOrder)
	var header, line []string
	for _, f := range sel.Output.Fields {
		c, ok := f.Value.(*ir.Column)
		if !ok {
			g.fail("csv output %T", f.Value)
			return
		}
		header = append(header, csvQuote(f.Name))
		v := "(" + g.columnRef(c, sc.alias) + ")::text"
		line = append(line, "coalesce(CASE WHEN "+v+` ~ '[",\r\n]' THEN '"' || replace(`+v+`, '"', '""') || '"' ELSE `+v+" END, '')")
	}
	t := g.total(sel, total)
	head := quoteLiteral(strings.Join(header, ","))
	body := head + " || coalesce(E'\\n' || string_agg(" + strings.Join(line, " || ',' || ") + ", E'\\n'" + orderSuffix(outerOrder) + "), '')"
	b.WriteString(`SELECT ` + envelopeSQL(`count(*)`, t, body) + ` FROM (` + rows.sql() + ") AS " + sc.alias)
}

// csvQuote quotes a header name the way values are quoted.
func csvQuote(s string) string {
	if strings.ContainsAny(s, "\",\r\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// total renders the number of rows sel's filters match, ignoring its order, limit and
// offset, or NULL when not asked for.
func (g *gen) total(sel *ir.Select, want bool) string {
	if !want {
		return "NULL"
	}
	all := *sel
	all.Limit, all.Offset, all.OrderBy = nil, nil, nil
	tc := &scope{alias: g.alias("t")}
	var ignored []string
	rows := g.rowsSQL(&all, "", tc, &ignored)
	if flat, ok := flatRows(rows, tc); ok {
		return "(SELECT count(*) " + flat + ")"
	}
	// Only distinct rows are counted; DISTINCT ON needs a select list.
	rows.columns = rows.columns[:0]
	for _, c := range sel.DistinctOn {
		rows.columns = append(rows.columns, tc.alias+"."+ir.QuoteIdent(c))
	}
	return "(SELECT count(*) FROM (" + rows.sql() + ") AS " + tc.alias + ")"
}

// SetTimezone sets the transaction's TimeZone to $1, for PostgREST's Prefer: timezone=…:
// timestamps are rendered, and literals without an offset read, in that zone.
// PostgreSQL refuses a zone it does not know (22023).
const SetTimezone = "SELECT set_config('timezone', $1::text, true)"
