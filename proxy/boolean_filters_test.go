package proxy

import (
	"context"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// boolFixtureDDL has two customers whose orders both match the same or-filters, so a
// filter that escapes its link (`link AND a OR b`) shows another customer's orders.
const boolFixtureDDL = `
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, status text NOT NULL, amount int NOT NULL);
INSERT INTO customers VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
INSERT INTO orders VALUES (1, 1, 'a', 10), (2, 1, 'b', 20), (3, 1, 'c', 30), (4, 2, 'a', 40), (5, 2, 'b', 50), (6, 3, 'c', 60);
CREATE TABLE labels (id int PRIMARY KEY, label text);
INSERT INTO labels VALUES (1, ''), (2, 'x'), (3, NULL);`

// TestNestedBooleanFiltersKeepToTheirParent checks rows, not SQL: a nested or/and/not
// filter (GraphQL where, REST or=/and=/not.or=, !inner, aggregates, the returning of a
// mutation) selects among its own parent's rows only.
func TestNestedBooleanFiltersKeepToTheirParent(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_boolf", boolFixtureDDL)
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{{Name: "boolf", Schemas: []string{"proxy_t_boolf"}}}})
	const gql = "/t/boolf/v1/graphql"
	const rest = "/t/boolf/rest/v1"
	or := `{_or: [{status: {_eq: "a"}}, {status: {_eq: "b"}}]}`

	graphql := []struct{ name, query, want string }{{
		name:  "a nested _or lists each customer's own matching orders",
		query: `{ customers(order_by: {id: asc}) { id orders(where: ` + or + `, order_by: {id: asc}) { id } } }`,
		want:  `{"data":{"customers":[{"id":1,"orders":[{"id":1},{"id":2}]},{"id":2,"orders":[{"id":4},{"id":5}]},{"id":3,"orders":[]}]}}`,
	}, {
		name:  "a nested aggregate's _or counts each customer's own orders",
		query: `{ customers(order_by: {id: asc}) { id orders_aggregate(where: ` + or + `) { aggregate { count sum { amount } } } } }`,
		want: `{"data":{"customers":[{"id":1,"orders_aggregate":{"aggregate":{"count":2,"sum":{"amount":30}}}},` +
			`{"id":2,"orders_aggregate":{"aggregate":{"count":2,"sum":{"amount":90}}}},{"id":3,"orders_aggregate":{"aggregate":{"count":0,"sum":{"amount":null}}}}]}}`,
	}, {
		name:  "a nested _or inside _and with a limit stays with its customer",
		query: `{ customers(order_by: {id: asc}) { id orders(where: {_and: [` + or + `, {amount: {_gt: 15}}]}, order_by: {id: asc}, limit: 5) { id } } }`,
		want:  `{"data":{"customers":[{"id":1,"orders":[{"id":2}]},{"id":2,"orders":[{"id":4},{"id":5}]},{"id":3,"orders":[]}]}}`,
	}, {
		name:  "an object relationship under a nested _or is each order's own customer",
		query: `{ customers(where: {id: {_eq: 2}}) { orders(where: ` + or + `, order_by: {id: asc}) { id customer { name } } } }`,
		want:  `{"data":{"customers":[{"orders":[{"id":4,"customer":{"name":"bob"}},{"id":5,"customer":{"name":"bob"}}]}]}}`,
	}, {
		name:  "a relationship filter with _or keeps the customers that have such an order",
		query: `{ customers(where: {orders: {_or: [{status: {_eq: "c"}}, {amount: {_eq: 40}}]}}, order_by: {id: asc}) { id } }`,
		want:  `{"data":{"customers":[{"id":1},{"id":2},{"id":3}]}}`,
	}, {
		name:  "_not: {} matches no row, nested or not",
		query: `{ a: customers(where: {_not: {}}) { id } b: customers(where: {id: {_eq: 1}}) { orders(where: {_not: {}}) { id } } }`,
		want:  `{"data":{"a":[],"b":[{"orders":[]}]}}`,
	}, {
		name:  "_and: [] matches every row, _or: [] none, _not: {_or: []} every row",
		query: `{ a: customers(where: {_and: []}, order_by: {id: asc}) { id } b: customers(where: {_or: []}) { id } c: customers(where: {_not: {_or: []}}, order_by: {id: asc}) { id } }`,
		want:  `{"data":{"a":[{"id":1},{"id":2},{"id":3}],"b":[],"c":[{"id":1},{"id":2},{"id":3}]}}`,
	}, {
		name:  "@include(if: false) and @skip(if: true) drop only their own field",
		query: `{ customers(where: {id: {_eq: 1}}) { id @include(if: false) name orders(where: {id: {_eq: 1}}) @skip(if: true) { id } c: id } }`,
		want:  `{"data":{"customers":[{"name":"ann","c":1}]}}`,
	}}
	for _, c := range graphql {
		t.Run(c.name, func(t *testing.T) {
			r := ts.gql(gql, c.query, nil)
			jsonEq(t, r.body, c.want)
		})
	}

	restCases := []struct{ name, path, want string }{{
		name: "an embedded or= lists each customer's own matching orders",
		path: "/customers?select=id,orders(id)&orders.or=(status.eq.a,status.eq.b)&order=id&orders.order=id",
		want: `[{"id":1,"orders":[{"id":1},{"id":2}]},{"id":2,"orders":[{"id":4},{"id":5}]},{"id":3,"orders":[]}]`,
	}, {
		name: "an !inner embed with or= drops customers without a match and keeps each one's own orders",
		path: "/customers?select=id,orders!inner(id)&orders.or=(status.eq.a,status.eq.b)&order=id&orders.order=id",
		want: `[{"id":1,"orders":[{"id":1},{"id":2}]},{"id":2,"orders":[{"id":4},{"id":5}]}]`,
	}, {
		name: "an embedded and= with a nested or stays with its customer",
		path: "/customers?select=id,orders(id)&orders.and=(amount.gt.15,or(status.eq.a,status.eq.b))&order=id&orders.order=id",
		want: `[{"id":1,"orders":[{"id":2}]},{"id":2,"orders":[{"id":4},{"id":5}]},{"id":3,"orders":[]}]`,
	}, {
		name: "a to-one embed with or= is each order's own customer or null",
		path: "/orders?select=id,customers(name)&customers.or=(name.eq.ann,name.eq.bob)&order=id",
		want: `[{"id":1,"customers":{"name":"ann"}},{"id":2,"customers":{"name":"ann"}},{"id":3,"customers":{"name":"ann"}},` +
			`{"id":4,"customers":{"name":"bob"}},{"id":5,"customers":{"name":"bob"}},{"id":6,"customers":null}]`,
	}, {
		name: `a quoted "" in or= is the empty string, not NULL`,
		path: `/labels?select=id&or=(label.eq."",id.eq.2)&order=id`,
		want: `[{"id":1},{"id":2}]`,
	}}
	for _, c := range restCases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do("GET", rest+c.path, "")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			jsonEq(t, r.body, c.want)
		})
	}

	t.Run("a mutation's returning keeps a nested _or to each returned row", func(t *testing.T) {
		r := ts.gql(gql, `mutation { update_customers(where: {_or: [{id: {_eq: 1}}, {id: {_eq: 2}}]}, _set: {name: "x"}) {
			returning { id orders(where: `+or+`, order_by: {id: asc}) { id } } } }`, nil)
		jsonEq(t, r.body, `{"data":{"update_customers":{"returning":[{"id":1,"orders":[{"id":1},{"id":2}]},{"id":2,"orders":[{"id":4},{"id":5}]}]}}}`)
		testenv.Exec(t, `UPDATE proxy_t_boolf.customers SET name = CASE id WHEN 1 THEN 'ann' WHEN 2 THEN 'bob' ELSE name END`)
	})
}

// TestUpdateOperatorsAsHasura checks what an update without an operator, or with an
// empty one, does to the data.
func TestUpdateOperatorsAsHasura(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_updop", boolFixtureDDL)
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{{Name: "updop", Schemas: []string{"proxy_t_updop"}}}})
	const gql = "/t/updop/v1/graphql"
	state := func(t *testing.T) string {
		var s string
		if err := testenv.Conn(t).QueryRow(context.Background(), `SELECT string_agg(id || '=' || status || amount, ',' ORDER BY id) FROM proxy_t_updop.orders`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	const before = "1=a10,2=b20,3=c30,4=a40,5=b50,6=c60"

	for _, c := range []struct{ name, query, wantMessage string }{{
		name:        "update without an operator is a validation error",
		query:       `mutation { update_orders(where: {id: {_eq: 1}}) { affected_rows } }`,
		wantMessage: "at least any one of _set, _inc is expected",
	}, {
		name:        "update_by_pk without an operator is a validation error",
		query:       `mutation { update_orders_by_pk(pk_columns: {id: 1}) { id } }`,
		wantMessage: "at least any one of _set, _inc is expected",
	}, {
		name:        "an update_many entry without an operator is a validation error, and the other entries do not run",
		query:       `mutation { update_orders_many(updates: [{where: {id: {_eq: 1}}, _inc: {amount: 1}}, {where: {id: {_eq: 2}}}]) { affected_rows } }`,
		wantMessage: "at least any one of _set, _inc is expected",
	}} {
		t.Run(c.name, func(t *testing.T) {
			r := ts.gql(gql, c.query, nil)
			if r.status != 200 || !strings.Contains(r.body, `"code":"validation-failed"`) || !strings.Contains(r.body, c.wantMessage) || strings.Contains(r.body, `"data"`) {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := state(t); got != before {
				t.Fatalf("database: %s", got)
			}
		})
	}

	t.Run("an empty _set affects and returns no row", func(t *testing.T) {
		r := ts.gql(gql, `mutation ($s: orders_set_input) {
			a: update_orders(where: {}, _set: {}) { affected_rows returning { id } }
			b: update_orders_by_pk(pk_columns: {id: 1}, _set: {}) { id }
			c: update_orders_many(updates: [{where: {id: {_eq: 2}}, _set: {}}]) { affected_rows }
			d: update_orders(where: {id: {_eq: 3}}, _set: $s) { affected_rows } }`, map[string]any{"s": map[string]any{}})
		jsonEq(t, r.body, `{"data":{"a":{"affected_rows":0,"returning":[]},"b":null,"c":[{"affected_rows":0}],"d":{"affected_rows":0}}}`)
		if got := state(t); got != before {
			t.Fatalf("database: %s", got)
		}
	})
}
