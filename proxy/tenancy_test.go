package proxy

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// tenancyAdminKey is the admin key of this file's servers; requests that send it
// (tenancyAdminHeader) run as the tenant's own role.
const (
	tenancyAdminKey    = "tenancy-test-key"
	tenancyAdminHeader = "X-Kapok-Admin-Key: " + tenancyAdminKey
)

// waitTenantState waits until the tenant is in state want, failing after limit.
func waitTenantState(t *testing.T, ts *testServer, tenant string, want control.TenantState, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for ts.reg.Tenant(tenant).State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("tenant %s is %s after %s, want %s", tenant, ts.reg.Tenant(tenant).State(), limit, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tenantStates lists the admin API's state of every tenant, as "name=state".
func tenantStates(t *testing.T, ts *testServer) string {
	t.Helper()
	r := ts.do("GET", "/admin/v1/tenants", "", tenancyAdminHeader)
	if r.status != 200 {
		t.Fatalf("tenant list: %d %s", r.status, r.body)
	}
	var out struct {
		Tenants []struct{ Name, State string }
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, tn := range out.Tenants {
		states = append(states, tn.Name+"="+tn.State)
	}
	return strings.Join(states, " ")
}

func TestAHibernatedTenantAnswersWithTheColumnAddedWhileItSlept(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_hib", tenantDDL+`INSERT INTO customers VALUES (1,'hib-a')`)
	ts := startServer(t, &control.Config{
		AdminKey: tenancyAdminKey,
		Tenants:  []*control.TenantConfig{{Name: "hib", Schemas: []string{"proxy_t_hib"}}},
		Tenancy:  control.TenancyConfig{HibernateAfter: control.Duration(100 * time.Millisecond)},
	})
	if r := ts.gql("/t/hib/v1/graphql", "{ customers { id name } }", nil, tenancyAdminHeader); r.status != 200 {
		t.Fatalf("before hibernating: %d %s", r.status, r.body)
	}

	waitTenantState(t, ts, "hib", control.TenantHibernated, 3*time.Second)
	ts.srv.api.schemas.mu.Lock()
	_, cached := ts.srv.api.schemas.tenants["hib"]
	ts.srv.api.schemas.mu.Unlock()
	if cached {
		t.Fatal("the hibernated tenant's GraphQL schemas are still cached")
	}
	if got := tenantStates(t, ts); got != "hib=hibernated" {
		t.Fatalf("admin API states: %s", got)
	}
	m := ts.do("GET", "/metrics", "").body
	for _, want := range []string{"kapok_tenants_resident 0", "kapok_tenant_hibernations_total 1", "kapok_schema_reloads_total 0", "kapok_tenants_unloaded 0"} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if r := ts.do("GET", "/readyz", ""); r.status != 200 {
		t.Fatalf("a hibernated tenant made the process unready: %d %s", r.status, r.body)
	}

	testenv.Exec(t, "ALTER TABLE proxy_t_hib.customers ADD COLUMN nickname text")
	testenv.Exec(t, "UPDATE proxy_t_hib.customers SET nickname = 'asleep'")
	time.Sleep(300 * time.Millisecond) // past the debounce: DDL must not have woken it
	if st := ts.reg.Tenant("hib").State(); st != control.TenantHibernated {
		t.Fatalf("DDL made the hibernated tenant %s", st)
	}
	r := ts.gql("/t/hib/v1/graphql", "{ customers { id nickname } }", nil, tenancyAdminHeader)
	if r.status != 200 {
		t.Fatalf("after waking up: %d %s", r.status, r.body)
	}
	jsonEq(t, r.body, `{"data":{"customers":[{"id":1,"nickname":"asleep"}]}}`)
}

func TestColdTenantsLoadOnTheirFirstRequest(t *testing.T) {
	ts := twoTenants(t, func(c *control.Config) {
		c.AdminKey = tenancyAdminKey
		c.Tenancy.EagerLoadMax = -1
	})
	if got := tenantStates(t, ts); got != "one=cold two=cold" {
		t.Fatalf("admin API states after start: %s", got)
	}
	if r := ts.do("GET", "/readyz", ""); r.status != 200 {
		t.Fatalf("cold tenants made the process unready: %d %s", r.status, r.body)
	}
	cases := []struct {
		name   string
		ask    func() response
		want   string
		states string
	}{
		{"a GraphQL request loads its tenant only",
			func() response {
				return ts.gql("/t/one/v1/graphql", "{ customers(order_by: {id: asc}) { name } }", nil, tenancyAdminHeader)
			},
			`{"data":{"customers":[{"name":"one-a"},{"name":"one-b"}]}}`, "one=resident two=cold"},
		{"a REST request loads its tenant",
			func() response { return ts.do("GET", "/t/two/rest/v1/customers?select=name", "", tenancyAdminHeader) },
			`[{"name":"two-a"}]`, "one=resident two=resident"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.ask()
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			jsonEq(t, r.body, tc.want)
			if got := tenantStates(t, ts); got != tc.states {
				t.Fatalf("admin API states: %s, want %s", got, tc.states)
			}
		})
	}
}

func TestAColdTenantsFirstRequestMayUseARoleItsFirstLoadGrants(t *testing.T) {
	testenv.Exec(t, `DO $$BEGIN CREATE ROLE tenancy_t_anon NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$`)
	testenv.FreshSchema(t, "proxy_t_coldauth", `CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO notes VALUES (1, 'first');
GRANT USAGE ON SCHEMA proxy_t_coldauth TO tenancy_t_anon;
GRANT SELECT ON notes TO tenancy_t_anon;`)
	// No tenant role yet: the first load creates it and grants it the anonymous role, which
	// authentication then has to find usable.
	const name = "tenancy-coldauth"
	testenv.DropTenant(name, control.TenantRole(name))
	t.Cleanup(func() { testenv.DropTenant(name, control.TenantRole(name)) })
	auth := &control.AuthConfig{JWTSecret: "tenancy-t-secret-0123456789abcdef0123", AnonRole: "tenancy_t_anon"}
	ts := startServer(t, &control.Config{
		Tenants: []*control.TenantConfig{{Name: name, Schemas: []string{"proxy_t_coldauth"}, Auth: auth}},
		Tenancy: control.TenancyConfig{EagerLoadMax: -1},
	})
	keys, err := control.KeysFor(name, auth)
	if err != nil {
		t.Fatal(err)
	}
	r := ts.do("GET", "/t/"+name+"/rest/v1/notes?select=body", "", "apikey: "+keys.Anon)
	if r.status != 200 {
		t.Fatalf("the first request, with the anon key: %d %s", r.status, r.body)
	}
	jsonEq(t, r.body, `[{"body":"first"}]`)
}

func TestAGoneTenantsPlansAreDropped(t *testing.T) {
	ts := twoTenants(t, nil)
	for _, tenant := range []string{"one", "two"} {
		if r := ts.gql("/t/"+tenant+"/v1/graphql", "{ customers { id } }", nil); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	pc := ts.srv.api.plans
	keysOf := func(tenant string) []string {
		pc.mu.Lock()
		defer pc.mu.Unlock()
		return append([]string(nil), pc.keys[tenant]...)
	}
	one, two := keysOf("one"), keysOf("two")
	if len(one) == 0 || len(two) == 0 {
		t.Fatal("compiled plans are not listed under their tenants")
	}
	ts.srv.api.forget("one")
	pc.c.Wait()
	for _, k := range one {
		if _, ok := pc.c.Get([]byte(k)); ok {
			t.Fatal("a plan of the forgotten tenant is still cached")
		}
	}
	if _, ok := pc.c.Get([]byte(two[0])); !ok {
		t.Fatal("another tenant's plan was dropped")
	}
}

// schemaCacheState reads the schema cache: schemas held, estimated bytes, evictions, and
// whether each tenant named has a schema in it.
func schemaCacheState(ts *testServer, tenants ...string) (n int, bytes int64, evicted uint64, held string) {
	n, bytes, evicted = ts.srv.api.schemas.stats()
	var h []string
	for _, tn := range tenants {
		if ts.srv.api.schemas.holds(tn) {
			h = append(h, tn)
		}
	}
	return n, bytes, evicted, strings.Join(h, ",")
}

func TestGraphQLSchemasStayUnderTheirBudget(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_sc_a", tenantDDL+`INSERT INTO customers VALUES (1,'sc-a')`)
	testenv.FreshSchema(t, "proxy_t_sc_b", tenantDDL+`INSERT INTO customers VALUES (2,'sc-b')`)
	ts := startServer(t, &control.Config{
		AdminKey: tenancyAdminKey,
		Tenants: []*control.TenantConfig{
			{Name: "sca", Schemas: []string{"proxy_t_sc_a"}},
			{Name: "scb", Schemas: []string{"proxy_t_sc_b"}},
		},
	})
	q := func(tenant, query, want string) {
		t.Helper()
		r := ts.gql("/t/"+tenant+"/v1/graphql", query, nil, tenancyAdminHeader)
		if r.status != 200 || !strings.Contains(r.body, want) {
			t.Fatalf("%s %s: %d %s, want %s", tenant, query, r.status, r.body, want)
		}
	}
	q("sca", "{ customers { id name } }", `"name":"sc-a"`)
	n, first, _, held := schemaCacheState(ts, "sca", "scb")
	if n != 1 || held != "sca" || first <= 0 {
		t.Fatalf("after one tenant's first query: %d schemas of %d bytes, held for %q", n, first, held)
	}
	ts.srv.api.schemas.mu.Lock()
	own, doc := ts.srv.api.schemas.tenants["sca"].roles[""].s.Footprint()
	// Room for one schema and half another: the second tenant's pushes the first out.
	ts.srv.api.schemas.budget = first + own/2
	ts.srv.api.schemas.mu.Unlock()
	if first != own+doc {
		t.Fatalf("one schema counts %d bytes, its footprint is %d + %d", first, own, doc)
	}

	q("scb", "{ customers { id name } }", `"name":"sc-b"`)
	if n, b, ev, held := schemaCacheState(ts, "sca", "scb"); n != 1 || ev != 1 || held != "scb" || b != first {
		t.Fatalf("over budget: %d schemas of %d bytes, %d evicted, held for %q; want 1 of %d, 1 evicted, scb", n, b, ev, held, first)
	}
	// A plan compiled before the eviction runs without its schema.
	q("sca", "{ customers { id name } }", `"name":"sc-a"`)
	if _, _, ev, held := schemaCacheState(ts, "sca", "scb"); ev != 1 || held != "scb" {
		t.Fatalf("a cached plan rebuilt its tenant's schema: %d evicted, held for %q", ev, held)
	}
	// A new shape needs the schema again: built, and the other tenant's goes.
	q("sca", "{ customers(where: {id: {_eq: 1}}) { name } orders { id } }", `"name":"sc-a"`)
	if n, _, ev, held := schemaCacheState(ts, "sca", "scb"); n != 1 || ev != 2 || held != "sca" {
		t.Fatalf("after a new shape on the evicted tenant: %d schemas, %d evicted, held for %q", n, ev, held)
	}

	// Unbounded, both stay, and the document they share is counted once.
	ts.srv.api.schemas.mu.Lock()
	ts.srv.api.schemas.budget = 0
	ts.srv.api.schemas.mu.Unlock()
	q("scb", "{ orders { id } }", `"orders":[]`)
	if n, b, _, held := schemaCacheState(ts, "sca", "scb"); n != 2 || held != "sca,scb" || b != doc+2*own {
		t.Fatalf("unbounded: %d schemas of %d bytes, held for %q; want 2 of %d (one document)", n, b, held, doc+2*own)
	}
	m := ts.do("GET", "/metrics", "").body
	for _, want := range []string{"kapok_graphql_schemas 2", "kapok_graphql_schema_evictions_total 2"} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// A tenant's next catalog version replaces its schemas and their bytes.
	ts.srv.api.schemas.forget("sca")
	if n, b, _, held := schemaCacheState(ts, "sca", "scb"); n != 1 || held != "scb" || b != first {
		t.Fatalf("after forgetting a tenant: %d schemas of %d bytes, held for %q", n, b, held)
	}

	// Room for one schema only, and new shapes of both tenants compiled at once: every
	// answer is its own tenant's, and the count comes back to what the cache holds.
	ts.srv.api.schemas.mu.Lock()
	ts.srv.api.schemas.budget = 1
	ts.srv.api.schemas.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan string, 40)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				tenant, want := "sca", `"name":"sc-a"`
				if (g+i)%2 == 1 {
					tenant, want = "scb", `"name":"sc-b"`
				}
				q := fmt.Sprintf("{ c%d_%d: customers { id name } }", g, i)
				if r := ts.gql("/t/"+tenant+"/v1/graphql", q, nil, tenancyAdminHeader); r.status != 200 || !strings.Contains(r.body, want) {
					errs <- fmt.Sprintf("%s %s: %d %s", tenant, q, r.status, r.body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	ts.srv.api.schemas.mu.Lock()
	var counted int64
	for e := ts.srv.api.schemas.lru.Front(); e != nil; e = e.Next() {
		own, doc := e.Value.(*cachedSchema).s.Footprint()
		counted += own + doc
	}
	ts.srv.api.schemas.mu.Unlock()
	if n, b, _, _ := schemaCacheState(ts); n != 1 || b != counted {
		t.Fatalf("after concurrent compilations under a budget of one: %d schemas counted as %d bytes, want 1 of %d", n, b, counted)
	}
}
