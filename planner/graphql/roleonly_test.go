package graphql_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/planner/graphql"
)

// A query of plain tables is marked RoleOnly, and its Batch says so; a query that reaches
// a row-secured table anywhere, or casts to a type of the tenant's, and a mutation are not.
func TestQueriesOfPlainTablesAreRoleOnly(t *testing.T) {
	b, err := os.ReadFile(catalogSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	cat := &catalog.Schema{}
	if err := json.Unmarshal(b, cat); err != nil {
		t.Fatal(err)
	}
	cat.Index()
	cat.Table(fixtureSchema, "comments").RowSecurity = true
	s, err := gqlschema.Build(cat, gqlschema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query string
		want  bool
	}{
		{`{ authors(where: {id: {_gt: 1}}, order_by: {name: desc}, limit: 3) { id name } }`, true},
		{`{ authors(where: {articles: {title: {_like: "%Go%"}}}) { id articles(order_by: {author: {name: asc}}) { title article_tags { tag { name } } } } }`, true},
		{`{ authors_aggregate { aggregate { count sum { karma } } } articles_by_pk(id: 1) { title } }`, true},
		{`{ authors { comments { body } } }`, false},
		{`{ articles(where: {comments: {body: {_is_null: false}}}) { id } }`, false},
		{`{ articles_by_pk(id: 1) { id comments_aggregate { aggregate { count } } } }`, false},
		{`{ authors(order_by: {comments_aggregate: {count: desc}}) { id } }`, false},
		{`{ authors(where: {mood: {_eq: happy}}) { id } }`, false},
	} {
		p, err := graphql.Compile(s, c.query, "", nil, graphql.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		var batch planner.Batch
		if err := p.Bind(&planner.Input{}, &batch); err != nil {
			t.Fatalf("%s: bind: %v", c.query, err)
		}
		if p.RoleOnly != c.want || batch.RoleOnly != c.want {
			t.Errorf("%s: RoleOnly = %v, batch %v, want %v", c.query, p.RoleOnly, batch.RoleOnly, c.want)
		}
	}
	p, err := graphql.Compile(s, `mutation { delete_tags(where: {id: {_eq: 0}}) { affected_rows } }`, "", nil, graphql.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var batch planner.Batch
	batch.RoleOnly = true
	if err := p.Bind(&planner.Input{}, &batch); err != nil || p.RoleOnly || batch.RoleOnly {
		t.Errorf("a mutation: RoleOnly = %v, batch %v (%v)", p.RoleOnly, batch.RoleOnly, err)
	}
}
