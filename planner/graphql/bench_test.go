package graphql_test

import (
	"testing"

	"github.com/kapok-dev/kapok/planner/graphql"
)

// q3 is the workload's 3-level nested shape on the fixture.
const q3 = `query Q3($start: Int!) { authors(where: {id: {_gte: $start}}, order_by: {id: asc}, limit: 10) {
  id name articles(order_by: {published_at: desc}, limit: 5) {
    id views published_at comments(order_by: {id: asc}) { body author { name } } } } }`

func BenchmarkCompileQ3(b *testing.B) {
	s := fixtureGraphQL(b)
	vars := []byte(`{"start": 1}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := graphql.Compile(s, q3, "Q3", vars, graphql.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBindQ3(b *testing.B) {
	p, err := graphql.Compile(fixtureGraphQL(b), q3, "Q3", []byte(`{"start": 1}`), graphql.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	vars := []byte(`{"start": 12345}`)
	dst := make([][]byte, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		if dst, err = p.BindStatement(0, vars, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBindAllocatesNothingForScalars pins the cache-hit budget of Bind: scalar variables
// without JSON escapes are sliced from the request body, so binding allocates nothing.
func TestBindAllocatesNothingForScalars(t *testing.T) {
	p, err := graphql.Compile(fixtureGraphQL(t),
		`query ($start: Int!, $name: String, $j: jsonb, $b: Boolean) { authors(where: {id: {_gte: $start}, name: {_eq: $name}, profile: {_contains: $j}, is_active: {_eq: $b}}, limit: 3) { id } }`,
		"", []byte(`{"start": 1}`), graphql.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	vars := []byte(`{"start": 12345, "name": "Ada", "j": {"a": [1, 2]}, "b": true}`)
	dst := make([][]byte, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		if dst, err = p.BindStatement(0, vars, dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Bind allocated %.0f times per call, want 0", allocs)
	}
	if got := string(dst[0]) + "|" + string(dst[1]) + "|" + string(dst[2]) + "|" + string(dst[3]) + "|" + string(dst[4]); got != `12345|Ada|{"a": [1, 2]}|true|3` {
		t.Fatalf("params %s", got)
	}
}
