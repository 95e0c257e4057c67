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
	m := &Mutation{REST: rest, Table: table, Delete: g.p(0.4), Where: g.expr(table, 0)}
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
	Touched   []Row
	After     []Row
	Violation string // "23503" (foreign key), "" when none
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
