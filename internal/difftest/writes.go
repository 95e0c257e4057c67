package difftest

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// Mutation is one generated write: an update or a delete of the rows of Table that Where
// selects, in the Hasura dialect (update_<table>, delete_<table>) or the PostgREST one
// (PATCH, DELETE). The oracle predicts the rows it touches and the table after it.
type Mutation struct {
	REST   bool
	Delete bool
	Table  string
	Where  Expr
	Set    []Assign // an update's new values, in column order
	// MaxAffected, for a PostgREST write, sends Prefer: handling=strict, max-affected=n:
	// more rows touched than that refuse the write (PGRST124). -1: none.
	MaxAffected int
}

// Assign is one column an update sets; a nil Val sets NULL.
type Assign struct {
	Col string
	Val any
}

// Mutation draws an update or a delete. Most go to comments, which nothing references;
// deletes of articles and authors often break a foreign key, and updates of a foreign key
// column may point nowhere: the oracle predicts those violations too.
func (g *Generator) Mutation(rest bool) *Mutation {
	g.rest = rest
	var table string
	switch x := g.r.Float64(); {
	case x < 0.5:
		table = "comments"
	case x < 0.8:
		table = "articles"
	default:
		table = "authors"
	}
	t := g.db.Tables[table]
	m := &Mutation{REST: rest, Table: table, Delete: g.p(0.4), Where: g.expr(table, 0), MaxAffected: -1}
	if !m.Delete {
		cols := g.pick(colNames(t, func(c Column) bool { return c.Name != "id" }), 1+g.r.IntN(2))
		sort.Slice(cols, func(i, j int) bool { return colIndex(t, cols[i]) < colIndex(t, cols[j]) })
		for _, name := range cols {
			c := t.Col(name)
			a := Assign{Col: name}
			if !c.Nullable || g.p(0.85) {
				a.Val = g.value(t, c)
			}
			m.Set = append(m.Set, a)
		}
	}
	if rest && g.p(0.2) {
		m.MaxAffected = g.r.IntN(4)
	}
	return m
}

func colIndex(t *Table, name string) int {
	for i, c := range t.Cols {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Outcome is what a mutation should do: the rows it touches (as they are after an update,
// as they were before a delete) and the table after it; or, when it breaks a constraint,
// the violation's SQLSTATE, and then the table stays as it was.
type Outcome struct {
	Touched []Row
	After   []Row
	// Violation is the code of the error: "23503" (foreign key), "PGRST124" (more rows
	// than max-affected), "23503|PGRST124" when either may be named (PostgREST checks
	// max-affected after the statement, Kapok inside it); "" when none.
	Violation string
	Inserted  int // rows an insert added (not updated by an upsert)
}

// Apply predicts m over the oracle's rows, which it leaves as they are.
func (o *Oracle) Apply(m *Mutation) Outcome {
	t := o.db.Tables[m.Table]
	var out Outcome
	touched := map[int64]bool{}
	for _, r := range t.Rows {
		if m.Where == nil || o.eval(m.Where, m.Table, r) == tTrue {
			touched[r["id"].(int64)] = true
		}
	}
	for _, r := range t.Rows {
		if !touched[r["id"].(int64)] {
			out.After = append(out.After, r)
			continue
		}
		if m.Delete {
			out.Touched = append(out.Touched, r)
			continue
		}
		n := Row{}
		for k, v := range r {
			n[k] = v
		}
		for _, a := range m.Set {
			n[a.Col] = a.Val
		}
		out.Touched = append(out.Touched, n)
		out.After = append(out.After, n)
	}
	if m.Delete {
		// A remaining row of another table that references a deleted one.
		for _, other := range o.db.Tables {
			for _, rel := range other.Rels {
				if rel.Many || rel.Target != m.Table {
					continue
				}
				for _, r := range other.Rows {
					if id, ok := r[rel.FK].(int64); ok && touched[id] {
						out.Violation = "23503"
					}
				}
			}
		}
	} else {
		// A touched row whose new foreign key names no row.
		for _, rel := range t.Rels {
			if rel.Many {
				continue
			}
			for _, r := range out.Touched {
				if id, ok := r[rel.FK].(int64); ok && o.db.Tables[rel.Target].byID[id] == nil {
					out.Violation = "23503"
				}
			}
		}
	}
	if m.MaxAffected >= 0 && len(touched) > m.MaxAffected {
		out.Violation = strings.TrimPrefix(out.Violation+"|PGRST124", "|")
	}
	if out.Violation != "" {
		out.Touched, out.After = nil, t.Rows
	}
	return out
}

// Rows are rows as an answer holds them (every column), in any order.
func (o *Oracle) Rows(table string, rows []Row) Unordered {
	q := &Query{Table: table, Star: true}
	out := Unordered{}
	for _, r := range rows {
		out = append(out, o.project(q, r, true))
	}
	return out
}

// MutationREST renders m as a PostgREST request: the method, the path with its filters
// (escaped for the wire) and the JSON body of a PATCH.
func MutationREST(m *Mutation) (method, path string, body []byte) {
	var params []string
	for _, p := range restWhere(m.Where, "") {
		params = append(params, url.QueryEscape(p[0])+"="+strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	path = "/" + m.Table + "?" + strings.Join(params, "&")
	if m.Delete {
		return "DELETE", path, nil
	}
	set := map[string]any{}
	for _, a := range m.Set {
		set[a.Col] = jsonValue(a.Val)
	}
	body, _ = json.Marshal(set)
	return "PATCH", path, body
}

// MutationGraphQL renders m as a Hasura mutation selecting affected_rows and every column
// of the rows returned, and its variables.
func MutationGraphQL(m *Mutation) (string, map[string]any) {
	g := &gqlWriter{vars: map[string]any{}}
	where := "{}"
	if m.Where != nil {
		where = g.where(m.Where, m.Table)
	}
	cols := colNames(Schema().Tables[m.Table], func(Column) bool { return true })
	field := "delete_" + m.Table + "(where: " + where
	if !m.Delete {
		var set []string
		for _, a := range m.Set {
			v := "null"
			if a.Val != nil {
				v = gqlLiteral(a.Val)
			}
			set = append(set, a.Col+": "+v)
		}
		field = "update_" + m.Table + "(where: " + where + ", _set: {" + strings.Join(set, ", ") + "}"
	}
	body := "{ " + field + ") { affected_rows returning { " + strings.Join(cols, " ") + " } } }"
	if len(g.decls) == 0 {
		return "mutation " + body, nil
	}
	return "mutation M(" + strings.Join(g.decls, ", ") + ") " + body, g.vars
}

// Insert is one generated insert of Rows (each with the same columns, id among them)
// into Table; with Upsert, a row whose id exists updates it instead: the columns named in
// Update (GraphQL on_conflict update_columns; in REST resolution=merge-duplicates, every
// column given), or none (DO NOTHING: REST resolution=ignore-duplicates).
type Insert struct {
	REST   bool
	Table  string
	Cols   []string
	Rows   []Row
	Upsert bool
	Update []string
}

// Insert draws an insert of one to three rows: mostly new ids, some taken (a conflict,
// or an upsert's update); now and then a NOT NULL column left out or a foreign key that
// names no row.
func (g *Generator) Insert(rest bool) *Insert {
	g.rest = rest
	table := g.db.Order[g.r.IntN(len(g.db.Order))]
	t := g.db.Tables[table]
	in := &Insert{REST: rest, Table: table, Upsert: g.p(0.4)}
	in.Cols = []string{"id"}
	for _, c := range t.Cols {
		if c.Name == "id" {
			continue
		}
		if (!c.Nullable && (in.Upsert || g.p(0.93))) || g.p(0.6) {
			in.Cols = append(in.Cols, c.Name)
		}
	}
	ids := map[int64]bool{}
	for n := 1 + g.r.IntN(3); len(in.Rows) < n; {
		id := int64(len(t.Rows) + 1 + g.r.IntN(20))
		if g.p(0.3) {
			id = int64(1 + g.r.IntN(len(t.Rows)))
		}
		if ids[id] {
			continue
		}
		ids[id] = true
		r := Row{"id": id}
		for _, name := range in.Cols[1:] {
			c := t.Col(name)
			if !c.Nullable || g.p(0.85) {
				r[name] = g.value(t, c)
			} else {
				r[name] = nil
			}
		}
		in.Rows = append(in.Rows, r)
	}
	if in.Upsert && !(rest && g.p(0.25)) {
		in.Update = g.pick(in.Cols[1:], g.r.IntN(len(in.Cols)))
		if rest {
			in.Update = in.Cols // merge-duplicates sets every column given
		}
	}
	return in
}

// ApplyInsert predicts in: the rows returned (inserted, or updated by an upsert) and the
// table after; or the violation ("23502" NOT NULL, "23505" duplicate key, "23503" foreign
// key) that makes it change nothing. PostgreSQL checks NOT NULL and the primary key row
// by row, in order, and foreign keys at the end of the statement.
func (o *Oracle) ApplyInsert(in *Insert) Outcome {
	t := o.db.Tables[in.Table]
	var out Outcome
	after := map[int64]Row{}
	var order []int64
	for _, r := range t.Rows {
		id := r["id"].(int64)
		after[id] = r
		order = append(order, id)
	}
	fail := func(code string) Outcome { return Outcome{After: t.Rows, Violation: code} }
	given := map[string]bool{}
	for _, c := range in.Cols {
		given[c] = true
	}
	for _, r := range in.Rows {
		for _, c := range t.Cols {
			if !c.Nullable && (!given[c.Name] || r[c.Name] == nil) {
				return fail("23502")
			}
		}
		id := r["id"].(int64)
		old, taken := after[id]
		switch {
		case !taken:
			n := Row{}
			for _, c := range t.Cols {
				n[c.Name] = r[c.Name] // nil when not given
			}
			after[id] = n
			order = append(order, id)
			out.Touched = append(out.Touched, n)
			out.Inserted++
		case !in.Upsert:
			return fail("23505")
		case len(in.Update) == 0:
			// DO NOTHING: the row stays and is not returned.
		default:
			n := Row{}
			for k, v := range old {
				n[k] = v
			}
			for _, c := range in.Update {
				n[c] = r[c]
			}
			after[id] = n
			out.Touched = append(out.Touched, n)
		}
	}
	for _, rel := range t.Rels {
		if rel.Many {
			continue
		}
		for _, r := range out.Touched {
			if id, ok := r[rel.FK].(int64); ok && o.db.Tables[rel.Target].byID[id] == nil {
				return fail("23503")
			}
		}
	}
	for _, id := range order {
		out.After = append(out.After, after[id])
	}
	return out
}

// InsertREST renders in as a PostgREST POST: its path, Prefer header and JSON body.
func InsertREST(in *Insert) (path, prefer string, body []byte) {
	prefer = "return=representation"
	if in.Upsert {
		if len(in.Update) == 0 {
			prefer += ",resolution=ignore-duplicates"
		} else {
			prefer += ",resolution=merge-duplicates"
		}
	}
	var rows []map[string]any
	for _, r := range in.Rows {
		m := map[string]any{}
		for _, c := range in.Cols {
			m[c] = jsonValue(r[c])
		}
		rows = append(rows, m)
	}
	var v any = rows
	if len(rows) == 1 {
		v = rows[0]
	}
	body, _ = json.Marshal(v)
	return "/" + in.Table, prefer, body
}

// InsertGraphQL renders in as a Hasura insert_<table> mutation (with on_conflict for an
// upsert) selecting affected_rows and every column returned.
func InsertGraphQL(in *Insert) string {
	var objs []string
	for _, r := range in.Rows {
		var fs []string
		for _, c := range in.Cols {
			v := "null"
			if r[c] != nil {
				v = gqlLiteral(r[c])
			}
			fs = append(fs, c+": "+v)
		}
		objs = append(objs, "{"+strings.Join(fs, ", ")+"}")
	}
	args := "objects: [" + strings.Join(objs, ", ") + "]"
	if in.Upsert {
		args += ", on_conflict: {constraint: " + in.Table + "_pkey, update_columns: [" + strings.Join(in.Update, ", ") + "]}"
	}
	cols := colNames(Schema().Tables[in.Table], func(Column) bool { return true })
	return "mutation { insert_" + in.Table + "(" + args + ") { affected_rows returning { " + strings.Join(cols, " ") + " } } }"
}
