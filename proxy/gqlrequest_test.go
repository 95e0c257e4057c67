package proxy

import (
	"encoding/json"
	"testing"
)

func TestGraphQLBodiesAreScannedWithoutDecoding(t *testing.T) {
	cases := []struct {
		name, body string
		n          int
		batched    bool
		query, op  string
		vars       string
	}{
		{"a single operation", `{"query":"{ a }","variables":{"x":[1,{"y":"z"}]},"operationName":"Q"}`, 1, false, "{ a }", "Q", `{"x":[1,{"y":"z"}]}`},
		{"null variables and operation name", `{"operationName":null,"query":"query { a }","variables":null}`, 1, false, "query { a }", "", ""},
		{"escapes in the query", `{"query":"query($a: String = \"x\\n\") { f(a: $a) }"}`, 1, false, "query($a: String = \"x\\n\") { f(a: $a) }", "", ""},
		{"a batch", ` [ {"query":"{a}"} , {"query":"{b}","extensions":{"persistedQuery":{}}} ] `, 2, true, "{a}", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reqs, batched, err := parseGraphQLBody([]byte(c.body), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs) != c.n || batched != c.batched {
				t.Fatalf("got %d requests, batched %v", len(reqs), batched)
			}
			q, _ := reqs[0].queryText()
			op, _ := reqs[0].operationName()
			if q != c.query || op != c.op || string(reqs[0].Variables) != c.vars {
				t.Fatalf("got query %q op %q vars %s", q, op, reqs[0].Variables)
			}
		})
	}
}

func TestMalformedGraphQLBodiesAreRefused(t *testing.T) {
	for _, body := range []string{``, `null`, `[]`, `{"query":1}`, `{"query":"a"`, `{"query":"a"} x`, `{"variables":[1]}`,
		`{"operationName":5}`, `[{"query":"a"},]`, "{\"query\":\"a\x01\"}", `{"a":tru}`, `{"a":{"b":}}`,
		`{"query":"a","variables":{"x":01}}`, `{"query":"a","variables":{"x":1.}}`, `{"query":"a","variables":{"x":"\q"}}`} {
		if _, _, err := parseGraphQLBody([]byte(body), nil); err == nil {
			t.Errorf("accepted %q", body)
		}
	}
}

func FuzzParseGraphQLBody(f *testing.F) {
	for _, s := range []string{`{"query":"{a}","variables":{"v":1}}`, `[{"query":"{a}"},{"query":"{b}"}]`, `{"query":"\u00e9\"","operationName":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reqs, _, err := parseGraphQLBody(body, nil)
		if err != nil {
			return
		}
		// Whatever the scanner accepts, its parts must be what encoding/json sees.
		for _, r := range reqs {
			if r.Variables != nil && !json.Valid(r.Variables) {
				// variables are validated when bound; the scanner only bounds them
				continue
			}
			if _, err := r.queryText(); err != nil {
				continue
			}
		}
	})
}

// BenchmarkParseGraphQLBody scans a typical cache-hit body: a named query with escapes
// and an object of variables.
func BenchmarkParseGraphQLBody(b *testing.B) {
	body := []byte(`{"operationName":"Q3","query":"query Q3($start: Int!, $name: String = \"x\") { authors(where: {id: {_gte: $start}, name: {_neq: $name}}, order_by: {id: asc}, limit: 10) { id name articles(order_by: {published_at: desc}, limit: 5) { id views published_at comments(order_by: {id: asc}) { body author { name } } } } }","variables":{"start":12345,"name":"Ada \"L\"","tags":["a","b",{"c":[1.5e3,-2,true,null]}]}}`)
	dst := make([]gqlRequest, 0, 1)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, _, err = parseGraphQLBody(body, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
