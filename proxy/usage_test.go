package proxy

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control"
)

const usageAdminKey = "usage-admin-key"

// adm authenticates a request with the admin key: full API access as the tenant's role.
const adm = "X-Kapok-Admin-Key: " + usageAdminKey

// usageServer serves twoTenants with an admin key and tenant one's limits.
func usageServer(t *testing.T, limits control.Limits) *testServer {
	t.Helper()
	return twoTenants(t, func(c *control.Config) {
		c.AdminKey = usageAdminKey
		c.Tenancy.UsageInterval = -1 // measured by the test, not by a ticker
		l := limits
		c.Tenants[0].Limits = &l
	})
}

func (ts *testServer) usageOf(tenant string) usageReport {
	ts.t.Helper()
	r := ts.do("GET", "/admin/v1/tenants/"+tenant+"/usage", "", "X-Kapok-Admin-Key: "+usageAdminKey)
	if r.status != 200 {
		ts.t.Fatalf("usage of %s: %d %s", tenant, r.status, r.body)
	}
	var u usageReport
	if err := json.Unmarshal([]byte(r.body), &u); err != nil {
		ts.t.Fatal(err)
	}
	return u
}

func TestARequestsQuotaRefusesTheRequestsPastIt(t *testing.T) {
	ts := usageServer(t, control.Limits{QuotaRequests: 3})
	for i := range 3 {
		if r := ts.do("GET", "/t/one/rest/v1/customers?select=id", "", adm); r.status != 200 {
			t.Fatalf("request %d within the quota: %d %s", i+1, r.status, r.body)
		}
	}
	for _, tc := range []struct {
		name  string
		send  func() response
		check func(t *testing.T, r response)
	}{
		{"REST answers 429 in PostgREST's error format", func() response { return ts.do("GET", "/t/one/rest/v1/customers?select=id", "", adm) },
			func(t *testing.T, r response) {
				if r.status != 429 || !strings.Contains(r.body, `"code":"quota-exceeded"`) || !strings.Contains(r.body, `"message":"the tenant's requests quota`) {
					t.Fatalf("%d %s", r.status, r.body)
				}
			}},
		{"GraphQL answers 429 with an errors array", func() response { return ts.gql("/t/one/v1/graphql", "{ customers { id } }", nil, adm) },
			func(t *testing.T, r response) {
				if r.status != 429 || !strings.Contains(r.body, `"errors"`) || !strings.Contains(r.body, "quota-exceeded") {
					t.Fatalf("%d %s", r.status, r.body)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.send()
			tc.check(t, r)
			if secs, err := strconv.Atoi(r.header["Retry-After"]); err != nil || secs < 1 || secs > 24*3600 {
				t.Errorf("Retry-After %q: want the seconds until the window turns", r.header["Retry-After"])
			}
		})
	}
	// The other tenant has no quota and is not affected.
	if r := ts.do("GET", "/t/two/rest/v1/customers?select=id", "", adm); r.status != 200 {
		t.Fatalf("tenant two: %d %s", r.status, r.body)
	}
	u := ts.usageOf("one")
	if u.Window == nil || u.Window.Requests != 3 || u.Refused[quotaRequests] != 2 || u.Quotas[quotaRequests] != float64(3) {
		t.Fatalf("usage %+v (window %+v): want 3 requests in the window, 2 refused, quota 3", u, u.Window)
	}
	if u.Requests != 5 {
		t.Errorf("usage counts %d requests, want 5 (3 served, 2 refused)", u.Requests)
	}
}

func TestADatabaseTimeQuotaRefusesOnceSpent(t *testing.T) {
	ts := usageServer(t, control.Limits{QuotaDBSeconds: 0.000001})
	if r := ts.do("GET", "/t/one/rest/v1/customers?select=id", "", adm); r.status != 200 {
		t.Fatalf("first request: %d %s", r.status, r.body)
	}
	r := ts.do("GET", "/t/one/rest/v1/customers?select=id", "", adm)
	if r.status != 429 || !strings.Contains(r.body, "database time quota") {
		t.Fatalf("after the quota was spent: %d %s", r.status, r.body)
	}
	if u := ts.usageOf("one"); u.DBSeconds <= 0 || u.Window.DBSeconds <= 0 || u.Refused[quotaDBSeconds] != 1 {
		t.Fatalf("usage %+v", u)
	}
}

func TestOverItsStorageQuotaATenantReadsAndDeletesButDoesNotWrite(t *testing.T) {
	ts := usageServer(t, control.Limits{QuotaDatabaseBytes: 1})
	ts.srv.api.measureOnce(context.Background())
	u := ts.usageOf("one")
	if u.Storage == nil || u.Storage.DatabaseBytes <= 1 || u.Storage.MeasuredAt.IsZero() {
		t.Fatalf("storage not measured: %+v", u.Storage)
	}
	cases := []struct {
		name, method, path, body string
		gql                      string
		want                     int
	}{
		{name: "a REST read goes on", method: "GET", path: "/t/one/rest/v1/customers?select=id", want: 200},
		{name: "a REST insert is refused", method: "POST", path: "/t/one/rest/v1/customers", body: `{"id":9,"name":"x"}`, want: 507},
		{name: "a REST update is refused", method: "PATCH", path: "/t/one/rest/v1/customers?id=eq.1", body: `{"name":"y"}`, want: 507},
		{name: "a GraphQL mutation is refused", gql: `mutation { insert_customers(objects: [{id: 8, name: "z"}]) { affected_rows } }`, want: 507},
		{name: "a GraphQL query goes on", gql: `{ customers { id } }`, want: 200},
		{name: "a REST delete goes on, to make room", method: "DELETE", path: "/t/one/rest/v1/orders?id=eq.10", want: 204},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.gql != "" {
				r = ts.gql("/t/one/v1/graphql", tc.gql, nil, adm)
			} else {
				r = ts.do(tc.method, tc.path, tc.body, adm)
			}
			if r.status != tc.want {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.want)
			}
			if tc.want == 507 && !strings.Contains(r.body, "storage quota") {
				t.Fatalf("refusal does not say why: %s", r.body)
			}
		})
	}
	// The other tenant writes on.
	if r := ts.do("POST", "/t/two/rest/v1/customers", `{"id":7,"name":"fine"}`, adm); r.status != 201 {
		t.Fatalf("tenant two: %d %s", r.status, r.body)
	}
	if n := ts.usageOf("one").Refused[quotaDatabaseBytes]; n != 3 {
		t.Errorf("%d storage refusals counted, want 3", n)
	}
}

func TestUsageIsRankedAndExported(t *testing.T) {
	ts := usageServer(t, control.Limits{})
	for range 3 {
		ts.do("GET", "/t/one/rest/v1/customers?select=id", "", adm)
	}
	ts.do("GET", "/t/two/rest/v1/customers?select=id", "", adm)
	ts.srv.api.measureOnce(context.Background())
	r := ts.do("GET", "/admin/v1/usage?by=requests&top=1", "", "X-Kapok-Admin-Key: "+usageAdminKey)
	var top struct {
		By      string        `json:"by"`
		Tenants []usageReport `json:"tenants"`
	}
	if err := json.Unmarshal([]byte(r.body), &top); err != nil || r.status != 200 {
		t.Fatalf("%d %s (%v)", r.status, r.body, err)
	}
	if len(top.Tenants) != 1 || top.Tenants[0].Tenant != "one" || top.Tenants[0].Requests != 3 {
		t.Fatalf("top tenant by requests: %+v", top.Tenants)
	}
	for _, bad := range []string{"?by=rows", "?top=0", "?top=x"} {
		if r := ts.do("GET", "/admin/v1/usage"+bad, "", "X-Kapok-Admin-Key: "+usageAdminKey); r.status != 400 {
			t.Errorf("usage%s: %d %s, want 400", bad, r.status, r.body)
		}
	}
	m := ts.do("GET", "/metrics", "")
	for _, want := range []string{`kapok_tenant_db_seconds_total{tenant="one"}`, `kapok_tenant_database_bytes{tenant="two"}`, `kapok_tenant_rows_read_total{tenant="one"}`} {
		if !strings.Contains(m.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
