package proxy

import (
	"strings"
	"sync"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

const tenantDDL = `
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, total numeric(10,2));
`

// twoTenants serves two schemas with identically named tables and different rows.
func twoTenants(t testing.TB, mutate func(*control.Config)) *testServer {
	return startServer(t, twoTenantsConfig(t, mutate))
}

// twoTenantsConfig makes twoTenants' schemas and returns its config, for tests that start
// the server themselves.
func twoTenantsConfig(t testing.TB, mutate func(*control.Config)) *control.Config {
	testenv.FreshSchema(t, "proxy_t_one", tenantDDL+`INSERT INTO customers VALUES (1,'one-a'),(2,'one-b'); INSERT INTO orders VALUES (10,1,5.50)`)
	testenv.FreshSchema(t, "proxy_t_two", tenantDDL+`INSERT INTO customers VALUES (1,'two-a')`)
	cfg := &control.Config{DefaultTenant: "one", Tenants: []*control.TenantConfig{
		{Name: "one", Schemas: []string{"proxy_t_one"}},
		{Name: "two", Schemas: []string{"proxy_t_two"}},
	}}
	if mutate != nil {
		mutate(cfg)
	}
	return cfg
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	ts := twoTenants(t, func(c *control.Config) { c.Tenants[1].Pool.MinIdleConns = 1 })
	if r := ts.do("GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz %d %s", r.status, r.body)
	}
	if r := ts.do("GET", "/readyz", ""); r.status != 200 || !strings.Contains(r.body, "ready") {
		t.Fatalf("readyz %d %s", r.status, r.body)
	}
	ts.gql("/v1/graphql", "{ customers { id } }", nil)
	r := ts.do("GET", "/metrics", "")
	if r.status != 200 {
		t.Fatalf("/metrics %d: %s", r.status, r.body)
	}
	// The registry refuses a name registered twice; a second family of one name would be
	// a collector that registered none.
	helps := map[string]bool{}
	for _, line := range strings.Split(r.body, "\n") {
		if name, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ = strings.Cut(name, " ")
			if helps[name] {
				t.Errorf("/metrics has two families named %s", name)
			}
			helps[name] = true
		}
	}
	for _, want := range []string{
		`kapok_realtime_connections`, `kapok_realtime_pushed_total`, `kapok_realtime_deliveries_total`,
		`kapok_pool_acquired_conns{tenant="one"}`, `kapok_shared_pool_max_conns{pool="`,
		`kapok_requests_total{outcome="ok",route="graphql"} 1`,
		`kapok_request_duration_seconds_bucket{route="graphql"`,
		`kapok_plan_cache_misses_total`,
		`go_goroutines`, `process_cpu_seconds_total`,
		`kapok_pool_max_conns{tenant="two"}`, // opened at start-up: it keeps idle connections
		`kapok_schema_load_failures_total 0`, `kapok_tenants_unloaded 0`, `kapok_tenants_resident 2`, `kapok_tenant_hibernations_total 0`,
		`kapok_db_execution_seconds_count 1`,
		`kapok_tenant_requests_total{api="graphql",outcome="ok",tenant="one"} 1`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestTenantsAreResolvedInDesignOrder(t *testing.T) {
	ts := twoTenants(t, nil)
	q := "{ customers(order_by: {id: asc}) { name } }"
	one := `{"data":{"customers":[{"name":"one-a"},{"name":"one-b"}]}}`
	two := `{"data":{"customers":[{"name":"two-a"}]}}`
	cases := []struct {
		name, path string
		headers    []string
		want       string
	}{
		{"the path prefix", "/t/two/v1/graphql", nil, two},
		{"the path prefix wins over the header", "/t/one/v1/graphql", []string{"X-Kapok-Tenant: two"}, one},
		{"the X-Kapok-Tenant header", "/v1/graphql", []string{"X-Kapok-Tenant: two"}, two},
		{"the first label of Host", "/v1/graphql", []string{"Host: two.api.example.com"}, two},
		{"a Host label that is no tenant falls back to the default", "/v1/graphql", []string{"Host: www.example.com"}, one},
		{"the default tenant", "/v1/graphql", nil, one},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.gql(c.path, q, nil, c.headers...)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			jsonEq(t, r.body, c.want)
		})
	}
	t.Run("an unknown tenant is a 404 in the API's own format", func(t *testing.T) {
		r := ts.gql("/t/nobody/v1/graphql", q, nil)
		if r.status != 404 {
			t.Fatalf("status %d", r.status)
		}
		jsonEq(t, r.body, `{"errors":[{"message":"tenant \"nobody\" not found","extensions":{"code":"tenant-not-found","path":"$"}}]}`)
		r = ts.gql("/v1/graphql", q, nil, "X-Kapok-Tenant: nobody")
		if r.status != 404 || strings.Contains(r.body, "proxy_t_") {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
	})
}

func TestATenantNeverSeesAnotherTenantsRowsOrNames(t *testing.T) {
	ts := twoTenants(t, nil)
	r := ts.gql("/t/two/v1/graphql", "{ orders { id } }", nil)
	jsonEq(t, r.body, `{"data":{"orders":[]}}`)
	r = ts.gql("/t/two/v1/graphql", `{ __type(name: "customers") { fields { name } } }`, nil)
	if strings.Contains(r.body, "proxy_t_one") {
		t.Fatalf("introspection names the other tenant's schema: %s", r.body)
	}
	// Concurrent requests to both tenants with one query text share nothing but the text.
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := 0; i < 50; i++ {
		for _, tn := range []string{"one", "two"} {
			wg.Add(1)
			go func(tn string) {
				defer wg.Done()
				r := ts.gql("/t/"+tn+"/v1/graphql", "{ customers(limit: 1, order_by: {id: asc}) { name } }", nil)
				if !strings.Contains(r.body, tn+"-a") {
					errs <- tn + ": " + r.body
				}
			}(tn)
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestDDLIsServedWithoutARestart(t *testing.T) {
	ts := twoTenants(t, nil)
	r := ts.gql("/t/one/v1/graphql", "{ customers { email } }", nil)
	if !strings.Contains(r.body, "validation-failed") {
		t.Fatalf("unknown column accepted: %s", r.body)
	}
	testenv.Exec(t, "ALTER TABLE proxy_t_one.customers ADD COLUMN email text DEFAULT 'x@y'")
	deadline := 100
	for i := 0; i < deadline; i++ {
		r = ts.gql("/t/one/v1/graphql", "{ customers(limit: 1) { email } }", nil)
		if strings.Contains(r.body, `"x@y"`) {
			return
		}
		sleepMs(20)
	}
	t.Fatalf("new column not served after 2s: %s", r.body)
}
