package graphql_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/planner/graphql"
)

// FuzzCompile: no input makes Compile or Bind panic or fail internally, and no string
// literal of the query text ever appears in the generated SQL (values are parameters).
func FuzzCompile(f *testing.F) {
	for _, seed := range []struct{ q, v string }{
		{q3, `{"start": 1}`},
		{`{ authors(where: {name: {_like: "%x'; DROP TABLE y; --"}}) { id } }`, ``},
		{`query ($w: authors_bool_exp) { authors(where: $w) { id articles_aggregate { aggregate { count } } } }`, `{"w": {"bio": {"_ilike": "a\"b"}}}`},
		{`{ articles(order_by: [{author: {name: desc}}], distinct_on: author_id) { id } }`, ``},
		{`{ __type(name: "authors") { name fields { name } } }`, ``},
		{`query ($ids: [Int!]) { tags(where: {id: {_in: $ids}}) { name } }`, `{"ids": [1, 2]}`},
		{`mutation ($objs: [tags_insert_input!]!) { insert_tags(objects: $objs) { affected_rows } }`, `{"objs": [{"name": "a"}, {"name": "b"}]}`},
		{`mutation ($u: [articles_updates!]!) { update_articles_many(updates: $u) { affected_rows } }`, `{"u": [{"where": {"id": {"_eq": 1}}, "_inc": {"views": 1}}]}`},
	} {
		f.Add(seed.q, seed.v)
	}
	s := fixtureGraphQL(f)
	f.Fuzz(func(t *testing.T, query, vars string) {
		p, err := graphql.Compile(s, query, "", []byte(vars), graphql.Limits{})
		if err != nil {
			var pe *planner.Error
			if !errors.As(err, &pe) {
				t.Fatalf("untyped error %v", err)
			}
			if pe.Code == planner.CodeUnexpected {
				t.Fatalf("internal error for %q: %v", query, err)
			}
			return
		}
		_ = p.Bind(&planner.Input{Variables: []byte(vars)}, &planner.Batch{})
		for _, st := range p.Statements {
			for _, lit := range queryStrings(query) {
				if len(lit) >= 6 && !gqlschema.ValidName(lit) && strings.Contains(st.SQL, lit) {
					t.Fatalf("literal %q reached the SQL:\n%s", lit, st.SQL)
				}
			}
		}
	})
}

// queryStrings returns the string literal values of a query document.
func queryStrings(q string) []string {
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		return nil
	}
	var out []string
	var value func(v *ast.Value)
	value = func(v *ast.Value) {
		if v == nil {
			return
		}
		if v.Kind == ast.StringValue || v.Kind == ast.BlockValue {
			out = append(out, v.Raw)
		}
		for _, ch := range v.Children {
			value(ch.Value)
		}
	}
	var sel func(set ast.SelectionSet)
	sel = func(set ast.SelectionSet) {
		for _, s := range set {
			switch s := s.(type) {
			case *ast.Field:
				for _, a := range s.Arguments {
					value(a.Value)
				}
				sel(s.SelectionSet)
			case *ast.InlineFragment:
				sel(s.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		sel(op.SelectionSet)
	}
	for _, fr := range doc.Fragments {
		sel(fr.SelectionSet)
	}
	return out
}
