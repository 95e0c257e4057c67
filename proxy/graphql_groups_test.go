package proxy

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// TestGroupedAggregatesAgreeWithREST asks the same grouping of GraphQL's
// <t>_aggregate { groups } and of REST's select=<keys>,count(),<col>.sum() and expects
// the same groups and numbers, in the same order; and checks grouping within a
// relationship, the row cap, and bad input.
func TestGroupedAggregatesAgreeWithREST(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_groups", boolFixtureDDL+`
INSERT INTO orders VALUES (7, 3, 'a', 5), (8, 2, 'a', 1);`)
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{{Name: "groups", Schemas: []string{"proxy_t_groups"}},
		{Name: "groupscap", Schemas: []string{"proxy_t_groups"}, Limits: &control.Limits{MaxLimit: 2}}}})
	const gql = "/t/groups/v1/graphql"
	const rest = "/t/groups/rest/v1"

	type group struct {
		Status string  `json:"status"`
		Count  int     `json:"count"`
		Sum    float64 `json:"sum"`
		Max    float64 `json:"max"`
	}
	agree := []struct{ name, query, path string }{{
		name:  "grouping by one column gives the same groups, counts and sums",
		query: `{ orders_aggregate { groups(group_by: [status], order_by: [{keys: {status: asc}}]) { keys { status } aggregate { count sum { amount } max { amount } } } } }`,
		path:  "/orders?select=status,count(),amount.sum(),amount.max()&order=status",
	}, {
		name:  "a filter on the rows and ordering by an aggregate give the same groups",
		query: `{ orders_aggregate(where: {amount: {_gt: 5}}) { groups(group_by: [status], order_by: [{aggregate: {sum: {amount: desc}}}]) { keys { status } aggregate { count sum { amount } max { amount } } } } }`,
		path:  "/orders?select=status,count(),amount.sum(),amount.max()&amount=gt.5&order=status.desc",
	}}
	for _, c := range agree {
		t.Run(c.name, func(t *testing.T) {
			var g struct {
				Data struct {
					OrdersAggregate struct {
						Groups []struct {
							Keys      struct{ Status string }
							Aggregate struct {
								Count int
								Sum   struct{ Amount float64 }
								Max   struct{ Amount float64 }
							}
						}
					} `json:"orders_aggregate"`
				}
			}
			r := ts.gql(gql, c.query, nil)
			if err := json.Unmarshal([]byte(r.body), &g); err != nil {
				t.Fatalf("%v: %s", err, r.body)
			}
			var fromGQL []group
			for _, x := range g.Data.OrdersAggregate.Groups {
				fromGQL = append(fromGQL, group{x.Keys.Status, x.Aggregate.Count, x.Aggregate.Sum.Amount, x.Aggregate.Max.Amount})
			}
			rr := ts.do("GET", rest+c.path, "")
			var fromREST []group
			if err := json.Unmarshal([]byte(rr.body), &fromREST); err != nil || rr.status != 200 {
				t.Fatalf("REST %d %v: %s", rr.status, err, rr.body)
			}
			if len(fromGQL) == 0 || !reflect.DeepEqual(fromGQL, fromREST) {
				t.Fatalf("GraphQL groups %+v\nREST groups    %+v", fromGQL, fromREST)
			}
		})
	}

	cases := []struct{ name, path, query, want string }{{
		name:  "each customer's orders are grouped apart, having filters the groups",
		query: `{ customers(order_by: {id: asc}) { id orders_aggregate { groups(group_by: [status], having: {sum: {amount: {_gte: 5}}}) { keys { status } aggregate { count } } } } }`,
		want: `{"data":{"customers":[{"id":1,"orders_aggregate":{"groups":[{"keys":{"status":"a"},"aggregate":{"count":1}},{"keys":{"status":"b"},"aggregate":{"count":1}},{"keys":{"status":"c"},"aggregate":{"count":1}}]}},` +
			`{"id":2,"orders_aggregate":{"groups":[{"keys":{"status":"a"},"aggregate":{"count":2}},{"keys":{"status":"b"},"aggregate":{"count":1}}]}},` +
			`{"id":3,"orders_aggregate":{"groups":[{"keys":{"status":"a"},"aggregate":{"count":1}},{"keys":{"status":"c"},"aggregate":{"count":1}}]}}]}}`,
	}, {
		name:  "the tenant's row cap limits the groups too",
		path:  "/t/groupscap/v1/graphql",
		query: `{ orders_aggregate { aggregate { count } groups(group_by: [customer_id], limit: 10) { keys { customer_id } } } }`,
		want:  `{"data":{"orders_aggregate":{"aggregate":{"count":8},"groups":[{"keys":{"customer_id":1}},{"keys":{"customer_id":2}}]}}}`,
	}, {
		name:  "group_by on an unknown column is a validation error",
		query: `{ orders_aggregate { groups(group_by: [nope]) { aggregate { count } } } }`,
		want:  `{"errors":[{"message":"Value \"nope\" does not exist in \"orders_group_by_column!\" enum.","extensions":{"code":"validation-failed","path":"$.selectionSet.orders_aggregate.selectionSet.groups.args.group_by[0]"}}]}`,
	}, {
		name:  "having on a column rather than an aggregate is a validation error",
		query: `{ orders_aggregate { groups(group_by: [status], having: {amount: {_gt: 1}}) { aggregate { count } } } }`,
		want:  `{"errors":[{"message":"field 'amount' not found in type: 'orders_aggregate_having'","extensions":{"code":"validation-failed","path":"$.selectionSet.orders_aggregate.selectionSet.groups.args.having.amount"}}]}`,
	}, {
		name:  "a key that is not grouped is a validation error",
		query: `{ orders_aggregate { groups(group_by: [status]) { keys { customer_id } } } }`,
		want:  `{"errors":[{"message":"the groups are not grouped by 'customer_id': add it to group_by","extensions":{"code":"validation-failed","path":"$.selectionSet.orders_aggregate.selectionSet.groups.selectionSet.keys.selectionSet.customer_id"}}]}`,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := gql
			if c.path != "" {
				path = c.path
			}
			r := ts.gql(path, c.query, nil)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			jsonEq(t, r.body, c.want)
		})
	}
}
