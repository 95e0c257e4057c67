package proxy

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// fanOutQuery spreads each fragment ten times into the one before, levels deep.
func fanOutQuery(levels int) string {
	var b strings.Builder
	b.WriteString("{ customers { ...F0 } }\n")
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&b, "fragment F%d on customers {", i)
		if i == levels-1 {
			b.WriteString(" id")
		} else {
			for range 10 {
				fmt.Fprintf(&b, " ...F%d", i+1)
			}
		}
		b.WriteString(" }\n")
	}
	return b.String()
}

// TestGraphQLCostLimits: documents that expand past the field limit and queries whose
// estimated rows pass the tenant's max_cost are validation-failed errors (HTTP 200, as
// Hasura answers validation errors), found before anything expands.
func TestGraphQLCostLimits(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_limits", tenantDDL+`INSERT INTO customers VALUES (1,'a'),(2,'b'); INSERT INTO orders VALUES (10,1,5.50)`)
	ts := startServer(t, &control.Config{DefaultTenant: "lim", Tenants: []*control.TenantConfig{
		{Name: "lim", Schemas: []string{"proxy_t_limits"}, Limits: &control.Limits{MaxCost: 50_000}},
	}})
	const path = "/t/lim/v1/graphql"
	for _, c := range []struct {
		name, query, want string
	}{
		{"the fan-out query of 7 levels", fanOutQuery(7),
			`{"errors":[{"message":"the query selects more than 10000 fields once fragments are expanded, which is the limit","extensions":{"code":"validation-failed","path":"$"}}]}`},
		{"the fan-out query of 9 levels", fanOutQuery(9),
			`{"errors":[{"message":"the query selects more than 10000 fields once fragments are expanded, which is the limit","extensions":{"code":"validation-failed","path":"$"}}]}`},
		{"a query over the tenant's max_cost", "{ customers { orders { id } } }",
			`{"errors":[{"message":"the query is too expensive: its estimated cost is 100010000 rows, the limit is 50000; add limits to its lists","extensions":{"code":"validation-failed","path":"$"}}]}`},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			r := ts.gql(path, c.query, nil)
			runtime.ReadMemStats(&m1)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			jsonEq(t, r.body, c.want)
			if n := m1.TotalAlloc - m0.TotalAlloc; n > 8<<20 {
				t.Fatalf("the request allocated %d bytes", n)
			}
		})
	}
	t.Run("a query under the tenant's max_cost runs", func(t *testing.T) {
		r := ts.gql(path, "{ customers(limit: 2, order_by: {id: asc}) { id orders(limit: 3) { id } } }", nil)
		jsonEq(t, r.body, `{"data":{"customers":[{"id":1,"orders":[{"id":10}]},{"id":2,"orders":[]}]}}`)
	})
}
