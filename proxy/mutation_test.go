package proxy

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/poolmgr"
)

func TestMutationsOverHTTPAreAtomicAndTakeOneRoundTrip(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_mut", `
		CREATE TABLE authors (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
		CREATE TABLE articles (id serial PRIMARY KEY, author_id int NOT NULL REFERENCES authors, title text NOT NULL);
		INSERT INTO authors (name) VALUES ('ada');`)
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{{Name: "mut", Schemas: []string{"proxy_t_mut"}}}})
	var runs atomic.Int32
	var stmts atomic.Int32
	ts.srv.api.run = func(p *poolmgr.Pool, c context.Context, req *poolmgr.Request, dst []byte) ([]byte, []int, error) {
		runs.Add(1)
		stmts.Add(int32(len(req.Statements)))
		return p.Run(c, req, dst)
	}
	const path = "/t/mut/v1/graphql"
	count := func(sql string) string {
		var n string
		if err := testenv.Conn(t).QueryRow(context.Background(), sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("a nested insert fills the foreign key and returns the new rows", func(t *testing.T) {
		runs.Store(0)
		r := ts.gql(path, `mutation { insert_authors_one(object: {name: "bob", articles: {data: [{title: "one"}, {title: "two"}]}}) {
			name articles(order_by: {title: asc}) { title } } }`, nil)
		jsonEq(t, r.body, `{"data":{"insert_authors_one":{"name":"bob","articles":[{"title":"one"},{"title":"two"}]}}}`)
		if got := count(`SELECT count(*) FROM proxy_t_mut.articles a JOIN proxy_t_mut.authors w ON w.id = a.author_id WHERE w.name = 'bob'`); got != "2" {
			t.Fatalf("%s articles of bob in the database", got)
		}
		if runs.Load() != 1 {
			t.Fatalf("%d runs for one request", runs.Load())
		}
	})

	t.Run("several root fields run in order in one round trip and roll back together", func(t *testing.T) {
		runs.Store(0)
		stmts.Store(0)
		before := count(`SELECT count(*) FROM proxy_t_mut.authors`)
		r := ts.gql(path, `mutation {
			a: insert_authors_one(object: {name: "cy"}) { id }
			b: update_authors(where: {name: {_eq: "ada"}}, _set: {name: "ada l."}) { affected_rows }
			c: insert_authors_one(object: {name: "bob"}) { id } }`, nil)
		if !strings.Contains(r.body, `"constraint-violation"`) || !strings.Contains(r.body, "Uniqueness violation") ||
			!strings.Contains(r.body, "authors_name_key") || strings.Contains(r.body, `"data"`) {
			t.Fatalf("want a uniqueness violation naming the constraint: %s", r.body)
		}
		if got := count(`SELECT count(*) FROM proxy_t_mut.authors`); got != before {
			t.Fatalf("authors %s after a failed request, %s before", got, before)
		}
		if got := count(`SELECT count(*) FROM proxy_t_mut.authors WHERE name = 'ada'`); got != "1" {
			t.Fatal("the update of the failed request was kept")
		}
		if runs.Load() != 1 || stmts.Load() != 3 {
			t.Fatalf("%d runs with %d statements, want 1 run of 3", runs.Load(), stmts.Load())
		}
	})

	t.Run("a foreign key violation is a constraint violation", func(t *testing.T) {
		r := ts.gql(path, `mutation { insert_articles_one(object: {author_id: 999, title: "x"}) { id } }`, nil)
		if !strings.Contains(r.body, `"constraint-violation"`) || !strings.Contains(r.body, "Foreign key violation") {
			t.Fatalf("got %s", r.body)
		}
	})

	t.Run("results of several root fields are keyed by their aliases", func(t *testing.T) {
		r := ts.gql(path, `mutation { x: update_authors(where: {name: {_eq: "cy"}}, _set: {name: "cy2"}) { affected_rows }
			y: delete_articles(where: {title: {_eq: "none"}}) { affected_rows } }`, nil)
		jsonEq(t, r.body, `{"data":{"x":{"affected_rows":0},"y":{"affected_rows":0}}}`)
	})
}
