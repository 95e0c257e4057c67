package proxy

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/poolmgr"
)

func TestUpdateManyOverHTTP(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_mutm", `
		CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL UNIQUE, qty int NOT NULL DEFAULT 0 CHECK (qty >= 0));
		INSERT INTO items (name, qty) VALUES ('a', 1), ('b', 2);`)
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{{Name: "mutm", Schemas: []string{"proxy_t_mutm"}}}})
	var runs, stmts atomic.Int32
	ts.srv.api.run = func(p *poolmgr.Pool, c context.Context, req *poolmgr.Request, dst []byte) ([]byte, []int, error) {
		runs.Add(1)
		stmts.Add(int32(len(req.Statements)))
		return p.Run(c, req, dst)
	}
	const path = "/t/mutm/v1/graphql"
	state := func(t *testing.T) string {
		var s string
		if err := testenv.Conn(t).QueryRow(context.Background(), `SELECT string_agg(name || '=' || qty, ',' ORDER BY id) FROM proxy_t_mutm.items`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("each update sees the previous one; the results are an array in order, in one round trip", func(t *testing.T) {
		runs.Store(0)
		stmts.Store(0)
		r := ts.gql(path, `mutation ($n: Int!) {
			first: update_items_many(updates: [{where: {name: {_eq: "a"}}, _inc: {qty: $n}}, {where: {qty: {_gt: 10}}, _inc: {qty: 100}}]) { affected_rows returning { name qty } }
			empty: update_items_many(updates: []) { affected_rows }
			after: update_items(where: {name: {_eq: "b"}}, _inc: {qty: 1}) { affected_rows } }`, map[string]any{"n": 10})
		jsonEq(t, r.body, `{"data":{"first":[{"affected_rows":1,"returning":[{"name":"a","qty":11}]},{"affected_rows":1,"returning":[{"name":"a","qty":111}]}],"empty":[],"after":{"affected_rows":1}}}`)
		if got := state(t); got != "a=111,b=3" {
			t.Fatalf("database: %s", got)
		}
		if runs.Load() != 1 || stmts.Load() != 4 {
			t.Fatalf("%d runs with %d statements, want 1 run of 4", runs.Load(), stmts.Load())
		}
	})

	t.Run("a failing update rolls back the earlier ones", func(t *testing.T) {
		r := ts.gql(path, `mutation { update_items_many(updates: [{where: {name: {_eq: "a"}}, _set: {qty: 0}}, {where: {name: {_eq: "b"}}, _set: {qty: -1}}]) { affected_rows } }`, nil)
		if r.body == "" || !json.Valid([]byte(r.body)) || !strings.Contains(r.body, `"constraint-violation"`) || !strings.Contains(r.body, "Check constraint violation") {
			t.Fatalf("got %s", r.body)
		}
		if got := state(t); got != "a=111,b=3" {
			t.Fatalf("database: %s", got)
		}
	})

	t.Run("an objects variable is keyed by its keys: other values reuse the plan, other keys get their own", func(t *testing.T) {
		const q = `mutation ($objs: [items_insert_input!]!) { insert_items(objects: $objs) { returning { name qty } } }`
		for _, c := range []struct{ vars, want string }{
			{`{"objs":[{"name":"c","qty":3}]}`, `[{"name":"c","qty":3}]`},
			{`{"objs":[{"name":"d","qty":4},{"name":"e","qty":5}]}`, `[{"name":"d","qty":4},{"name":"e","qty":5}]`},
			{`{"objs":[{"name":"f"}]}`, `[{"name":"f","qty":0}]`},
			{`{"objs":[{"name":"g"},{"name":"h","qty":8}]}`, `[{"name":"g","qty":0},{"name":"h","qty":8}]`},
			{`{"objs":[{"name":"i"},{"name":"j","qty":9}]}`, `[{"name":"i","qty":0},{"name":"j","qty":9}]`},
			{`{"objs":{"name":"k","qty":10}}`, `[{"name":"k","qty":10}]`},
		} {
			r := ts.gql(path, q, json.RawMessage(c.vars))
			jsonEq(t, r.body, `{"data":{"insert_items":{"returning":`+c.want+`}}}`)
		}
		if got := state(t); got != "a=111,b=3,c=3,d=4,e=5,f=0,g=0,h=8,i=0,j=9,k=10" {
			t.Fatalf("database: %s", got)
		}
	})
}
