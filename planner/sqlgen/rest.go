package sqlgen

import (
	"fmt"
	"strings"

	"github.com/kapok-dev/kapok/planner/ir"
)

// BuildRESTRead renders a REST read as one statement returning the envelope
// {"n":…,"t":…,"b":…} as text (see ir.RESTRead).
func BuildRESTRead(r *ir.RESTRead) (Statement, error) {
	g := &gen{slot: map[int]int{}}
	var b strings.Builder
	g.envelope(&b, r.Select, r.Total)
	return g.done(&b)
}

// BuildRESTWrite renders a REST write as `WITH "m" AS (<dml> RETURNING *)` and the
// envelope over the affected rows.
func BuildRESTWrite(w *ir.RESTWrite) (Statement, error) {
	g := &gen{slot: map[int]int{}}
	var b strings.Builder
	a := g.alias("t")
	b.WriteString(`WITH "m" AS (`)
	switch w.Op {
	case ir.MutInsert:
		body := g.param(w.Body)
		b.WriteString("INSERT INTO " + relation(w.Table) + " AS " + a + " (")
		g.columnList(&b, w.Columns, "")
		b.WriteString(") SELECT ")
		g.columnList(&b, w.Columns, "x.")
		b.WriteString(" FROM json_populate_recordset(NULL::" + relation(w.Table) + ", CASE WHEN json_typeof(" +
			body + ") = 'array' THEN " + body + " ELSE json_build_array(" + body + ") END) AS x")
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
			}
		}
	case ir.MutUpdate:
		if len(w.Columns) == 0 {
			// Nothing to set: no row is affected.
			b.WriteString("SELECT " + a + ".* FROM " + relation(w.Table) + " AS " + a + " WHERE false")
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
			b.WriteString(" WHERE " + g.boolExpr(w.Where, a))
		}
	case ir.MutDelete:
		b.WriteString("DELETE FROM " + relation(w.Table) + " AS " + a)
		if w.Where != nil {
			b.WriteString(" WHERE " + g.boolExpr(w.Where, a))
		}
	default:
		g.fail("rest write op %d", w.Op)
	}
	if !strings.HasSuffix(b.String(), "WHERE false") {
		b.WriteString(" RETURNING " + a + ".*")
	}
	b.WriteString(") ")
	if w.Returning == nil {
		b.WriteString(`SELECT '{"n":' || count(*) || ',"t":null,"b":[]}' FROM "m"`)
	} else {
		g.envelope(&b, w.Returning, false)
	}
	return g.done(&b)
}

// BuildRESTCall renders a function call: `WITH "c" AS (SELECT * FROM fn(…))` and the
// envelope over its rows. A scalar result's body is the value itself.
func BuildRESTCall(c *ir.RESTCall) (Statement, error) {
	g := &gen{slot: map[int]int{}}
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
		b.WriteString(`SELECT '{"n":1,"t":null,"b":null}' FROM (SELECT ` + call.String() + from + `) AS v`)
	case c.Composite:
		b.WriteString(`WITH "c" AS (SELECT y.* FROM` + strings.TrimPrefix(from, " FROM") + sep(from) + "LATERAL " + call.String() + " AS y) ")
		if c.Rows == nil {
			return Statement{}, fmt.Errorf("%w: composite call without rows", ErrInvalid)
		}
		if !c.Set {
			// A single composite value is an object, not an array.
			b.WriteString(`SELECT '{"n":' || count(*) || ',"t":null,"b":' || coalesce((SELECT to_json(c) FROM "c" AS c LIMIT 1), 'null'::json)::text || '}' FROM "c"`)
			break
		}
		g.envelope(&b, c.Rows, c.Total)
	case c.Set:
		b.WriteString(`WITH "c" AS (SELECT y AS "v" FROM` + strings.TrimPrefix(from, " FROM") + sep(from) + "LATERAL " + call.String() + " AS y) ")
		b.WriteString(`SELECT '{"n":' || count(*) || ',"t":null,"b":' || coalesce(json_agg(c."v"), '[]'::json)::text || '}' FROM "c" AS c`)
	default:
		b.WriteString(`SELECT '{"n":1,"t":null,"b":' || coalesce(to_json(` + call.String() + `), 'null'::json)::text || '}'` + from)
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

// envelope renders `SELECT '{"n":' || n || ',"t":' || total || ',"b":' || body || '}'`
// over the rows of sel (a root Select: no Link).
func (g *gen) envelope(b *strings.Builder, sel *ir.Select, total bool) {
	if sel.Link != nil || sel.Output == nil {
		g.fail("rest envelope over a linked or output-less select")
		return
	}
	sc := &scope{alias: g.alias("t")}
	var outerOrder []string
	rows := g.rowsSQL(sel, "", sc, &outerOrder)
	obj := g.objectValue(sel.Output, sc, false, nil)
	t := "'null'"
	if total {
		all := *sel
		all.Limit, all.Offset, all.OrderBy = nil, nil, nil
		tc := &scope{alias: g.alias("t")}
		var ignored []string
		t = "(SELECT count(*) FROM (" + g.rowsSQL(&all, "", tc, &ignored) + ") AS " + tc.alias + ")::text"
	}
	b.WriteString(`SELECT '{"n":' || r."n" || ',"t":' || ` + t + ` || ',"b":' || r."j"::text || '}' FROM (SELECT coalesce(json_agg(`)
	b.WriteString(obj + orderSuffix(outerOrder) + `), '[]'::json) AS "j", count(*) AS "n" FROM (` + rows + ") AS " + sc.alias)
	for _, l := range sc.laterals {
		b.WriteString(" " + l)
	}
	b.WriteString(") AS r")
}
