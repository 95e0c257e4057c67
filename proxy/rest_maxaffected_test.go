package proxy

import (
	"encoding/json"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// TestRESTMaxAffected: Prefer: handling=strict, max-affected=n fails a PATCH, a DELETE or
// a set-returning call that affects more rows, as PostgREST does (PGRST124), and the
// write is undone; handling=lenient ignores it; a call returning one value refuses it
// (PGRST128).
func TestRESTMaxAffected(t *testing.T) {
	const schema = "rest_t_maxaffected"
	testenv.FreshSchema(t, schema, restFixtureDDL+`
DELETE FROM article_tags;
CREATE FUNCTION delete_articles_of(author int) RETURNS SETOF articles LANGUAGE sql VOLATILE SET search_path FROM CURRENT
  AS 'DELETE FROM articles WHERE author_id = author RETURNING *';
`)
	ts := startServer(t, &control.Config{DefaultTenant: "blog", Tenants: []*control.TenantConfig{{Name: "blog", Schemas: []string{schema}}}})
	articles := func() string {
		t.Helper()
		r := ts.do("GET", "/t/blog/rest/v1/articles?select=id,views&order=id", "")
		if r.status != 200 {
			t.Fatalf("GET: %d %s", r.status, r.body)
		}
		return r.body
	}
	before := articles()
	exceeds := func(name, method, path, body, prefer, rows string) {
		t.Run(name, func(t *testing.T) {
			r := ts.do(method, "/t/blog/rest/v1"+path, body, "Prefer: "+prefer, "Content-Type: application/json")
			var e struct{ Code, Message, Details string }
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.status != 400 || e.Code != "PGRST124" ||
				e.Message != "Query result exceeds max-affected preference constraint" || e.Details != "The query affects "+rows+" rows" {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if now := articles(); now != before {
				t.Fatalf("the write was not undone: %s, before %s", now, before)
			}
		})
	}
	exceeds("a DELETE over the cap", "DELETE", "/articles?author_id=eq.1", "", "handling=strict, max-affected=1", "2")
	exceeds("a PATCH over the cap, with its representation", "PATCH", "/articles?id=gt.0", `{"views":1}`, "handling=strict, max-affected=3, return=representation", "4")
	exceeds("a PATCH with max-affected=0", "PATCH", "/articles?id=eq.1", `{"views":1}`, "handling=strict, max-affected=0", "1")
	exceeds("a function's rows over the cap", "POST", "/rpc/delete_articles_of", `{"author":1}`, "handling=strict, max-affected=1", "2")
	runRESTCases(t, ts, []restCase{
		{name: "a PATCH within the cap", method: "PATCH", path: "/articles?id=eq.1", body: `{"views":11}`,
			headers: []string{"Prefer: handling=strict, max-affected=1", "Content-Type: application/json"}, status: 204,
			wantHeaders: map[string]string{"Preference-Applied": "handling=strict, max-affected=1"}},
		{name: "lenient handling ignores the cap", method: "DELETE", path: "/articles?author_id=eq.2",
			headers: []string{"Prefer: handling=lenient, max-affected=1"}, status: 204,
			wantHeaders: map[string]string{"Preference-Applied": "handling=lenient"}},
		{name: "a function's rows within the cap", method: "POST", path: "/rpc/delete_articles_of?select=id&order=id", body: `{"author":1}`,
			headers: []string{"Prefer: handling=strict, max-affected=2", "Content-Type: application/json"}, status: 200,
			want: `[{"id":1},{"id":2}]`, wantHeaders: map[string]string{"Preference-Applied": "handling=strict, max-affected=2"}},
		{name: "a function returning one value refuses the cap", method: "POST", path: "/rpc/add", body: `{"a":1,"b":2}`,
			headers: []string{"Prefer: handling=strict, max-affected=1", "Content-Type: application/json"}, status: 400,
			want: `{"code":"PGRST128","details":null,"hint":null,"message":"Function must return SETOF or TABLE when max-affected preference is used with handling=strict"}`},
	})
	if now := articles(); now != `[]` {
		t.Fatalf("after the writes within the cap: %s", now)
	}
}
