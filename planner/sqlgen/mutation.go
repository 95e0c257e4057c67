package sqlgen

import (
	"strconv"
	"strings"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/planner/ir"
)

// BuildMutation renders m as `WITH "m" AS (<dml> RETURNING *) SELECT <response>`: one
// statement returning one json value. A mutation of at most one row that answers with
// that row's object (insert_one, update_by_pk, delete_by_pk) is the DML alone, its object
// built in RETURNING: zero or one row (statement.One), and no CTE for Postgres to plan
// and materialise.
func BuildMutation(m *ir.Mutation) (Statement, error) {
	g := &gen{slot: map[int]int{}}
	var b strings.Builder
	if m.Op == ir.MutInsert && len(m.Steps) > 0 {
		g.stepsSQL(&b, m)
		return g.finish(&b, m)
	}
	a := g.alias("t")
	row := returnedObject(m)
	if row == nil {
		b.WriteString(`WITH "m" AS (`)
	}
	switch m.Op {
	case ir.MutInsert:
		g.insertSQL(&b, &ir.InsertStep{Table: m.Table, Columns: m.Columns, Values: m.Values, Rows: m.Rows, OnConflict: m.OnConflict}, a)
	case ir.MutUpdate:
		if len(m.Set) == 0 {
			// Nothing to set (`_set: {}`): like Hasura, no row is updated or returned.
			b.WriteString("SELECT " + a + ".* FROM " + relation(m.Table) + " AS " + a + " WHERE false")
			break
		}
		b.WriteString("UPDATE " + relation(m.Table) + " AS " + a + " SET ")
		for i, s := range m.Set {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ir.QuoteIdent(s.Column) + " = " + g.scalar(s.Value, a))
		}
		if m.Where != nil {
			b.WriteString(" WHERE " + g.conjunction(m.Where, a))
		}
		b.WriteString(" RETURNING ")
	case ir.MutDelete:
		b.WriteString("DELETE FROM " + relation(m.Table) + " AS " + a)
		if m.Where != nil {
			b.WriteString(" WHERE " + g.conjunction(m.Where, a))
		}
		b.WriteString(" RETURNING ")
	default:
		g.fail("mutation op %d", m.Op)
	}
	if row != nil {
		// Rendered after the DML, so that parameters stay numbered in reading order.
		b.WriteString(g.rowObject(row, a))
		if g.err != nil {
			return Statement{}, g.err
		}
		return Statement{SQL: b.String(), Slots: g.slots, Result: statement.One}, nil
	}
	if writes(m) {
		b.WriteString(a + ".*")
	}
	b.WriteString(")")
	return g.finish(&b, m)
}

// returnedObject is the output of a mutation that writes at most one row and answers with
// its object, or nil when the mutation needs the general form: a nested insert, a list or
// affected_rows response, a filtered or ordered read of the rows, output that needs joins
// of its own, or a mutation that writes nothing at all (no values, an empty _set), whose
// null answer needs no DML.
func returnedObject(m *ir.Mutation) *ir.Object {
	n, ok := m.Response.(*ir.Nested)
	if !ok || len(m.Steps) > 0 {
		return nil
	}
	s := n.Select
	if s.From != ir.MutatedRows || s.Shape != ir.ShapeObject || s.Link != nil || s.Where != nil || len(s.OrderBy) > 0 ||
		len(s.DistinctOn) > 0 || s.Limit != nil || s.Offset != nil || s.Output == nil || !plainObject(s.Output) {
		return nil
	}
	if !writes(m) || m.Op == ir.MutInsert && len(m.Values) != 1 {
		return nil
	}
	return s.Output
}

// writes tells whether m's SQL is DML ending in RETURNING, rather than a select of no row
// (an insert of no values, an empty _set).
func writes(m *ir.Mutation) bool {
	switch m.Op {
	case ir.MutInsert:
		return m.Rows != nil || len(m.Values) > 0
	case ir.MutUpdate:
		return len(m.Set) > 0
	}
	return true
}

// plainObject tells whether o is built from its row alone: columns, literals, nested
// selects and nested objects of those, nothing that needs a join (a spread) or an
// aggregate over rows.
func plainObject(o *ir.Object) bool {
	for _, f := range o.Fields {
		switch v := f.Value.(type) {
		case *ir.Column, *ir.Literal, *ir.Nested:
		case *ir.Nest:
			if !plainObject(v.Object) {
				return false
			}
		default:
			return false
		}
	}
	return len(o.Fields) > 0
}

// rowObject renders o over the row under alias a as one JSON value: row_to_json over a
// row of the output's keys, or the concatenated object when a key cannot be a column.
func (g *gen) rowObject(o *ir.Object, a string) string {
	sc := &scope{alias: a}
	pairs := g.objectPairs(o, sc, false, nil)
	if !pairKeysFit(pairs) {
		return jsonObject(pairs)
	}
	r := g.alias("o")
	return "(SELECT row_to_json(" + r + ") FROM (SELECT " + columnList(pairs) + ") AS " + r + ")"
}

// stepsSQL renders a nested insert: one CTE per step, then "m" over the result steps.
func (g *gen) stepsSQL(b *strings.Builder, m *ir.Mutation) {
	g.inserted = map[ir.Relation][]string{}
	b.WriteString("WITH ")
	for _, st := range m.Steps {
		if !validStepName(st.Name) {
			g.fail("step name %q", st.Name)
			return
		}
		b.WriteString(ir.QuoteIdent(st.Name) + " AS (")
		a := g.alias("t")
		g.insertSQL(b, st, a)
		if st.Rows != nil || len(st.Values) > 0 {
			b.WriteString(a + ".*") // after the RETURNING that insertSQL wrote
		}
		b.WriteString("), ")
		g.inserted[st.Table] = append(g.inserted[st.Table], st.Name)
		g.steps = append(g.steps, st.Name)
	}
	b.WriteString(`"m" AS (`)
	for i, r := range m.Result {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		b.WriteString("SELECT * FROM " + ir.QuoteIdent(r))
	}
	b.WriteString(")")
}

func validStepName(s string) bool {
	if s == "" || s == "m" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (g *gen) finish(b *strings.Builder, m *ir.Mutation) (Statement, error) {
	// The statement's one value must be JSON, never SQL NULL (a by_pk miss is null); it is
	// read as text, so an object of the response stays text.
	b.WriteString(" SELECT ")
	switch r := g.responseValue(m.Response); r.kind {
	case kindText, kindCount:
		b.WriteString(r.expr)
	case kindScalar:
		b.WriteString("coalesce(to_json(" + r.expr + "), 'null'::json)")
	default:
		b.WriteString("coalesce(" + r.expr + ", 'null'::json)")
	}
	if g.err != nil {
		return Statement{}, g.err
	}
	return Statement{SQL: b.String(), Slots: g.slots}, nil
}

// insertSQL renders an insert up to and including the RETURNING keyword, for the caller to
// end with what it returns; an insert of no rows is a select of none (no RETURNING).
func (g *gen) insertSQL(b *strings.Builder, m *ir.InsertStep, a string) {
	if m.Rows != nil {
		g.insertRowsSQL(b, m, a)
		return
	}
	if len(m.Values) == 0 {
		b.WriteString("SELECT " + a + ".* FROM " + relation(m.Table) + " AS " + a + " WHERE false")
		return
	}
	b.WriteString("INSERT INTO " + relation(m.Table) + " AS " + a)
	if len(m.Columns) == 0 {
		if len(m.Values) > 1 {
			// Several objects without fields: a row of defaults for each.
			b.WriteString(" SELECT FROM generate_series(1, " + strconv.Itoa(len(m.Values)) + ")")
		} else {
			b.WriteString(" DEFAULT VALUES")
		}
	} else {
		b.WriteString(" (")
		for i, c := range m.Columns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ir.QuoteIdent(c))
		}
		b.WriteString(") VALUES ")
		for r, row := range m.Values {
			if r > 0 {
				b.WriteString(", ")
			}
			if len(row) != len(m.Columns) {
				g.fail("row %d has %d values for %d columns", r, len(row), len(m.Columns))
			}
			b.WriteString("(")
			for i, v := range row {
				if i > 0 {
					b.WriteString(", ")
				}
				if v == nil {
					b.WriteString("DEFAULT")
				} else {
					b.WriteString(g.scalar(v, a))
				}
			}
			b.WriteString(")")
		}
	}
	g.onConflictSQL(b, m, a)
}

// insertRowsSQL renders an insert of the objects of one json array parameter:
// json_populate_recordset converts each key as the column's type input would (JSON
// arrays become SQL arrays, json/jsonb columns keep the value), in array order. Only
// the listed columns are inserted, so the others get their defaults.
func (g *gen) insertRowsSQL(b *strings.Builder, m *ir.InsertStep, a string) {
	if len(m.Columns) == 0 {
		g.fail("json rows without columns")
		return
	}
	r := g.alias("r")
	rel := relation(m.Table)
	b.WriteString("INSERT INTO " + rel + " AS " + a + " (")
	for i, c := range m.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ir.QuoteIdent(c))
	}
	b.WriteString(") SELECT ")
	for i, c := range m.Columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r + "." + ir.QuoteIdent(c))
	}
	b.WriteString(" FROM json_populate_recordset(NULL::" + rel + ", " + g.param(m.Rows) + ") AS " + r)
	g.onConflictSQL(b, m, a)
}

// onConflictSQL ends an insert: its ON CONFLICT clause, then the RETURNING keyword.
func (g *gen) onConflictSQL(b *strings.Builder, m *ir.InsertStep, a string) {
	if oc := m.OnConflict; oc != nil {
		b.WriteString(" ON CONFLICT ON CONSTRAINT " + ir.QuoteIdent(oc.Constraint))
		if len(oc.UpdateColumns) == 0 {
			b.WriteString(" DO NOTHING")
		} else {
			b.WriteString(" DO UPDATE SET ")
			for i, c := range oc.UpdateColumns {
				if i > 0 {
					b.WriteString(", ")
				}
				q := ir.QuoteIdent(c)
				b.WriteString(q + " = EXCLUDED." + q)
			}
			if oc.Where != nil {
				b.WriteString(" WHERE " + g.conjunction(oc.Where, a))
			}
		}
	}
	b.WriteString(" RETURNING ")
}

// responseValue renders a mutation response: no row is in scope, only the CTE.
func (g *gen) responseValue(v ir.Value) pair {
	switch v := v.(type) {
	case *ir.AffectedRows:
		if len(g.steps) == 0 {
			return pair{expr: `(SELECT count(*) FROM "m")`, kind: kindCount}
		}
		parts := make([]string, len(g.steps))
		for i, s := range g.steps {
			parts[i] = "(SELECT count(*) FROM " + ir.QuoteIdent(s) + ")"
		}
		return pair{expr: "(" + strings.Join(parts, " + ") + ")", kind: kindCount}
	case *ir.Literal:
		return g.literal(&v.Param)
	case *ir.Nested:
		return g.selectValue(v.Select, "", false)
	case *ir.Nest:
		pairs := make([]pair, 0, len(v.Object.Fields))
		for _, f := range v.Object.Fields {
			p := g.responseValue(f.Value)
			p.key = f.Name
			pairs = append(pairs, p)
		}
		return objectPair(pairs)
	}
	return pair{expr: g.fail("mutation response value %T", v)}
}
