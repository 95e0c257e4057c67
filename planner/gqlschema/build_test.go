package gqlschema

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// golden compares got with testdata/name; -update rewrites the file instead. Review
// the diff of a rewritten file by hand before keeping it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./planner/gqlschema -update to create it)", err)
	}
	if string(want) != got {
		tmp := filepath.Join(t.TempDir(), name)
		_ = os.WriteFile(tmp, []byte(got), 0o644)
		t.Fatalf("%s differs from the generated document (written to %s); diff them, then run go test ./planner/gqlschema -update to accept", path, tmp)
	}
}

func buildFixture(t testing.TB) *Schema {
	t.Helper()
	s, err := Build(fixtureCatalog(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBuildMatchesGoldenSDL(t *testing.T) {
	s := buildFixture(t)
	golden(t, "fixture.graphql", s.SDL)
	golden(t, "fixture.skipped.txt", strings.Join(s.Skipped, "\n")+"\n")
}

func TestBuildIsDeterministic(t *testing.T) {
	a, b := buildFixture(t), buildFixture(t)
	if a.SDL != b.SDL {
		t.Fatal("two builds of the same catalog gave different SDL")
	}
}

func TestHasuraStyleQueriesValidate(t *testing.T) {
	s := buildFixture(t)
	for _, q := range hasuraQueries {
		t.Run(q.name, func(t *testing.T) {
			if _, errs := gqlparser.LoadQueryWithRules(s.AST, q.query, nil); len(errs) > 0 {
				t.Fatalf("gqlparser: %v", errs)
			}
			if errs := s.Record.ValidateWithVariables(q.query, map[string]any{"id": 1}); len(errs) > 0 {
				t.Fatalf("graphql-go: %v", errs)
			}
		})
	}
}

// hasuraQueries are written as a Hasura v2 client would write them for the fixture.
var hasuraQueries = []struct{ name, query string }{
	{"list with every argument", `query {
  authors(where: {_and: [{name: {_ilike: "%a%"}}, {_or: [{rating: {_gt: "1.5"}}, {mood: {_eq: happy}}]}], _not: {active: {_eq: false}}},
          order_by: [{created_at: desc_nulls_last}, {articles_by_author_id_aggregate: {count: desc}}], limit: 10, offset: 5, distinct_on: [id]) {
    id name email tags lucky_numbers profile(path: "$.a") settings mood moods
    articles_by_author_id(where: {published: {_eq: true}}, order_by: {id: asc}, limit: 2) { title author { name } }
    articles_by_author_id_aggregate { aggregate { count(columns: [id], distinct: true) max { id title } avg { id } } nodes { id } }
    invoices { amount status author { id } }
  }
}`},
	{"by pk and aggregate", `query Q($id: Int!) {
  authors_by_pk(id: $id) { id }
  orders_by_pk(order_no: 1, region: "eu") { order_lines { line qty } order_lines_aggregate { aggregate { sum { qty } } } }
  authors_aggregate(where: {articles_by_author_id_aggregate: {count: {predicate: {_gt: 2}, filter: {published: {_eq: true}}}}}) {
    aggregate { count stddev { score } var_samp { rank } sum { followers balance } min { created_at mood } }
  }
  billing_invoices(where: {author: {name: {_eq: "x"}}, status: {_in: [paid]}}) { id }
  author_stats { author_id article_count }
  daily_totals_aggregate { aggregate { sum { total } } }
  events(where: {payload: {_contains: {a: 1}, _has_keys_any: ["a"], _cast: {String: {_like: "%x%"}}}}) { name }
}`},
	{"streaming subscription", `subscription { authors_stream(batch_size: 10, cursor: {initial_value: {id: 1}, ordering: ASC}, where: {active: {_eq: true}}) { id } }`},
	{"array filters", `query { authors(where: {tags: {_contains: ["a"], _contained_in: ["a","b"]}, lucky_numbers: {_in: [[1,2]]}}) { id } }`},
	{"introspection and typename", `query { __typename __schema { queryType { name } } t: __type(name: "authors") { fields { name } } }`},
	{"insert with nested rows and upsert", `mutation {
  insert_authors(objects: [{name: "a", tags: ["x"], articles_by_author_id: {data: [{title: "t"}], on_conflict: {constraint: articles_pkey, update_columns: [title]}}}],
                 on_conflict: {constraint: authors_email_key, update_columns: [], where: {active: {_eq: true}}}) {
    affected_rows returning { id articles_by_author_id { id } }
  }
  insert_articles_one(object: {title: "t", author: {data: {name: "n", tags: []}}}) { id }
  insert_events(objects: [{name: "e"}]) { affected_rows }
}`},
	{"updates and deletes", `mutation {
  update_authors(where: {id: {_eq: 1}}, _set: {name: "x"}, _inc: {followers: "1", rank: 1}, _append: {profile: {a: 1}}, _prepend: {profile: [1]},
                 _delete_key: {profile: "a"}, _delete_elem: {profile: 0}, _delete_at_path: {profile: ["a", "b"]}) { affected_rows }
  update_authors_by_pk(pk_columns: {id: 1}, _set: {bio: null}) { id }
  update_authors_many(updates: [{where: {id: {_eq: 1}}, _set: {bio: "b"}}]) { affected_rows }
  update_order_lines_by_pk(pk_columns: {order_no: 1, region: "eu", line: 2}, _inc: {qty: 1}) { qty }
  delete_categories(where: {parent: {name: {_eq: "x"}}}) { affected_rows }
  delete_billing_invoices_by_pk(id: "00000000-0000-0000-0000-000000000000") { id }
  update_recent_articles(where: {}, _set: {title: "t"}) { affected_rows }
}`},
}
