package proxy

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
)

// createTenantWithKeys creates a schema tenant with a random JWT secret and returns its keys.
func createTenantWithKeys(t *testing.T, ts *testServer, name string) control.TenantKeys {
	t.Helper()
	cleanupTenant(t, name)
	if r := ts.admin("POST", "/tenants", mustJSON(t, map[string]any{"name": name, "keys": true})); r.status != 201 {
		t.Fatalf("create %s: %d %s", name, r.status, r.body)
	}
	var k control.TenantKeys
	r := ts.admin("GET", "/tenants/"+name+"/keys", "")
	if err := json.Unmarshal([]byte(r.body), &k); err != nil || r.status != 200 || k.ServiceRole == "" {
		t.Fatalf("keys of %s: %d %s", name, r.status, r.body)
	}
	return k
}

func TestAServiceKeyOpensItsOwnTenantsAdminRoutesOnly(t *testing.T) {
	ts := adminServer(t, nil)
	a, b := testTenantName("admin-t-sk-a"), testTenantName("admin-t-sk-b")
	ka := createTenantWithKeys(t, ts, a)
	kb := createTenantWithKeys(t, ts, b)
	as := func(key, method, path, body string) response {
		return ts.do(method, "/admin/v1"+path, body, "Authorization: Bearer "+key)
	}
	for _, c := range []struct {
		name, key, method, path, body string
		status                        int
		says                          string
	}{
		{"its tenant", ka.ServiceRole, "GET", "/tenants/" + a, "", 200, `"name":"` + a + `"`},
		{"its migrations", ka.ServiceRole, "GET", "/tenants/" + a + "/migrations", "", 200, `"migrations"`},
		{"its SQL", ka.ServiceRole, "POST", "/tenants/" + a + "/sql", `{"sql":"SELECT 1 AS one"}`, 200, `"one":1`},
		{"its monitor", ka.ServiceRole, "GET", "/tenants/" + a + "/monitor", "", 200, `"statements"`},
		{"another tenant", ka.ServiceRole, "GET", "/tenants/" + b, "", 401, "invalid admin key"},
		{"another tenant's SQL", ka.ServiceRole, "POST", "/tenants/" + b + "/sql", `{"sql":"SELECT 1"}`, 401, "invalid admin key"},
		{"the tenant list", ka.ServiceRole, "GET", "/tenants", "", 401, "invalid admin key"},
		{"every tenant's figures", ka.ServiceRole, "GET", "/monitor", "", 401, "invalid admin key"},
		{"an unknown tenant", ka.ServiceRole, "GET", "/tenants/admin-t-nobody", "", 401, "invalid admin key"},
		{"the anon key", ka.Anon, "GET", "/tenants/" + a, "", 401, "invalid admin key"},
		{"deleting it", ka.ServiceRole, "DELETE", "/tenants/" + a + "?confirm=" + a, "", 403, "needs the admin key"},
		{"changing it", ka.ServiceRole, "PATCH", "/tenants/" + a, `{"allow_cidrs":[]}`, 403, "needs the admin key"},
		{"rotating its keys", ka.ServiceRole, "POST", "/tenants/" + a + "/keys/rotate", "", 403, "needs the admin key"},
		{"moving it", ka.ServiceRole, "POST", "/tenants/" + a + "/move", `{"mode":"database"}`, 403, "needs the admin key"},
		{"its usage", ka.ServiceRole, "GET", "/tenants/" + a + "/usage", "", 200, `"db_seconds"`},
		{"another tenant's usage", ka.ServiceRole, "GET", "/tenants/" + b + "/usage", "", 401, "invalid admin key"},
		{"every tenant's usage", ka.ServiceRole, "GET", "/usage", "", 401, "invalid admin key"},
		{"the other's key on its own tenant", kb.ServiceRole, "GET", "/tenants/" + b + "/schema", "", 200, `"tables"`},
	} {
		r := as(c.key, c.method, c.path, c.body)
		if r.status != c.status || !strings.Contains(r.body, c.says) {
			t.Errorf("%s: %s %s: %d %.300s (want %d, %q)", c.name, c.method, c.path, r.status, r.body, c.status, c.says)
		}
	}
}

func TestRotatingKeysRetiresTheOldOnes(t *testing.T) {
	ts := adminServer(t, nil)
	name := testTenantName("admin-t-rot")
	old := createTenantWithKeys(t, ts, name)
	rest := "/t/" + name + "/rest/v1/todos?select=id"
	if r := ts.do("GET", rest, "", "apikey: "+old.ServiceRole, "Authorization: Bearer "+old.ServiceRole); r.status != 200 {
		t.Fatalf("the service key before rotation: %d %s", r.status, r.body)
	}
	r := ts.admin("POST", "/tenants/"+name+"/keys/rotate", "")
	var nk control.TenantKeys
	if err := json.Unmarshal([]byte(r.body), &nk); err != nil || r.status != 200 || nk.ServiceRole == "" || nk.ServiceRole == old.ServiceRole || nk.Anon == old.Anon {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if r := ts.do("GET", rest, "", "apikey: "+old.ServiceRole, "Authorization: Bearer "+old.ServiceRole); r.status != 401 {
		t.Errorf("the old service key after rotation: %d %s", r.status, r.body)
	}
	if r := ts.do("GET", "/admin/v1/tenants/"+name, "", "Authorization: Bearer "+old.ServiceRole); r.status != 401 {
		t.Errorf("the old service key on the admin API: %d %s", r.status, r.body)
	}
	if r := ts.do("GET", rest, "", "apikey: "+nk.ServiceRole, "Authorization: Bearer "+nk.ServiceRole); r.status != 200 {
		t.Errorf("the new service key: %d %s", r.status, r.body)
	}
	if r := ts.admin("GET", "/tenants/"+name+"/keys", ""); !strings.Contains(r.body, nk.ServiceRole) {
		t.Errorf("GET keys after rotation answers other keys: %s", r.body)
	}
	// The other auth settings stay: a tenant without a secret has nothing to rotate.
	plain := testTenantName("admin-t-rot-plain")
	createTenant(t, ts, plain, "schema")
	if r := ts.admin("POST", "/tenants/"+plain+"/keys/rotate", ""); r.status != 409 {
		t.Errorf("rotating a tenant without a secret: %d %s", r.status, r.body)
	}
}

func TestMintedTokensRunAsTheirRole(t *testing.T) {
	ts := adminServer(t, nil)
	name := testTenantName("admin-t-tok")
	createTenantWithKeys(t, ts, name)
	obj := objectName(name)
	reader := "admin_t_tok_reader_" + strings.ReplaceAll(name[len("admin-t-tok-"):], "-", "_")
	dropTestRoles(reader)
	t.Cleanup(func() { dropTestRoles(reader) })
	if r := ts.admin("POST", "/tenants/"+name+"/sql", mustJSON(t, map[string]any{"sql": "CREATE TABLE " + obj + ".notes (id int PRIMARY KEY, body text); " +
		"INSERT INTO " + obj + ".notes VALUES (1, 'a'), (2, 'b'); CREATE ROLE " + reader + " NOLOGIN; GRANT " + reader + " TO " +
		`"` + control.TenantRole(name) + `"` + "; GRANT USAGE ON SCHEMA " + obj + " TO " + reader + "; GRANT SELECT (id) ON " + obj + ".notes TO " + reader})); r.status != 200 {
		t.Fatalf("role: %d %s", r.status, r.body)
	}
	mint := func(body string) (int, string) {
		r := ts.admin("POST", "/tenants/"+name+"/token", body)
		var out struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal([]byte(r.body), &out)
		if out.Token == "" {
			return r.status, r.body
		}
		return r.status, out.Token
	}
	status, tok := mint(`{"role":"` + reader + `","claims":{"sub":"u1"},"expires_in":60}`)
	if status != 200 {
		t.Fatalf("mint: %d %s", status, tok)
	}
	get := func(q string) response {
		return ts.do("GET", "/t/"+name+"/rest/v1/notes?"+q, "", "Authorization: Bearer "+tok)
	}
	if r := ts.admin("POST", "/tenants/"+name+"/reload", ""); r.status != 200 {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}
	if r := get("select=id&order=id"); r.status != 200 || r.body != `[{"id":1},{"id":2}]` {
		t.Errorf("the role's own column: %d %s", r.status, r.body)
	}
	if r := get("select=body"); r.status != 401 && r.status != 403 && r.status != 400 {
		t.Errorf("a column the role may not read: %d %s", r.status, r.body)
	}
	// A token may name any role; the APIs still run only the tenant's usable roles.
	for _, reserved := range []string{"postgres", "none", "pg_read_all_data", control.TenantRole(name)} {
		status, rtok := mint(`{"role":"` + reserved + `"}`)
		if status != 200 {
			t.Fatalf("mint %s: %d %s", reserved, status, rtok)
		}
		r := ts.do("GET", "/t/"+name+"/rest/v1/notes?select=id", "", "Authorization: Bearer "+rtok)
		if (r.status != 401 && r.status != 403) || strings.HasPrefix(r.body, "[") {
			t.Errorf("a token for role %s: %d %s", reserved, r.status, r.body)
		}
	}
	for _, bad := range []string{`{"role":""}`, `{"role":"x","expires_in":999999}`, `{"role":"x","expires_in":-1}`, `{"role":"x","bogus":1}`, `[]`} {
		if status, body := mint(bad); status != 400 {
			t.Errorf("mint %s: %d %s", bad, status, body)
		}
	}
}

func TestMonitorCountsEachTenantsRequestsAndLatency(t *testing.T) {
	ts := adminServer(t, nil)
	name := testTenantName("admin-t-mon")
	k := createTenantWithKeys(t, ts, name)
	for i := 0; i < 5; i++ {
		ts.do("GET", "/t/"+name+"/rest/v1/todos?select=id", "", "apikey: "+k.ServiceRole, "Authorization: Bearer "+k.ServiceRole)
	}
	ts.do("GET", "/t/"+name+"/rest/v1/nope", "", "apikey: "+k.ServiceRole, "Authorization: Bearer "+k.ServiceRole)
	var all struct {
		At      int64                   `json:"at"`
		Tenants map[string]liveCounters `json:"tenants"`
	}
	r := ts.admin("GET", "/monitor", "")
	if err := json.Unmarshal([]byte(r.body), &all); err != nil || r.status != 200 || all.At == 0 {
		t.Fatalf("monitor: %d %.300s", r.status, r.body)
	}
	c, ok := all.Tenants[name]
	if !ok {
		t.Fatalf("monitor lacks %s", name)
	}
	if c.Requests.OK != 5 || c.Requests.ClientError != 1 {
		t.Errorf("requests %+v, want 5 ok and 1 client error", c.Requests)
	}
	if n := len(c.Latency.Counts); n != len(c.Latency.Bounds)+1 || c.Latency.Counts[n-1] != 6 || c.Latency.SumSeconds <= 0 {
		t.Errorf("latency %+v", c.Latency)
	}

	var one struct {
		Requests   map[string]uint64      `json:"requests"`
		Pool       map[string]any         `json:"pool"`
		Database   *control.DatabaseStats `json:"database"`
		Statements *control.Statements    `json:"statements"`
	}
	// A backend reports its table statistics when a transaction ends at least a second
	// after its last report, an idle one only after 10 s: keep it busy until they show.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ts.do("GET", "/t/"+name+"/rest/v1/todos?select=id", "", "apikey: "+k.ServiceRole, "Authorization: Bearer "+k.ServiceRole)
		r = ts.admin("GET", "/tenants/"+name+"/monitor", "")
		if err := json.Unmarshal([]byte(r.body), &one); err != nil || r.status != 200 {
			t.Fatalf("tenant monitor: %d %.300s", r.status, r.body)
		}
		if (one.Database != nil && one.Database.RowsRead > 0) || time.Now().After(deadline) {
			break
		}
	}
	if one.Requests["ok"] < 5 || one.Pool == nil || one.Database == nil || len(one.Database.Tables) == 0 || one.Statements == nil {
		t.Fatalf("tenant monitor: %s", r.body)
	}
	if one.Database.RowsRead == 0 {
		t.Errorf("rows read: %+v", one.Database)
	}
	if !one.Statements.Available {
		t.Fatalf("pg_stat_statements unavailable on the dev stack: %s", one.Statements.Reason)
	}
	var seen bool
	for _, st := range one.Statements.Rows {
		seen = seen || strings.Contains(st.Query, objectName(name))
		if !strings.Contains(st.Query, objectName(name)) {
			t.Errorf("a statement of another tenant or of Kapok: %s", st.Query)
		}
	}
	if !seen {
		t.Errorf("none of the tenant's statements: %+v", one.Statements.Rows)
	}
}

func TestLiveLatencyBucketsHoldEachObservationUnderItsBound(t *testing.T) {
	if len(liveBounds)+1 != len(liveStats{}.buckets) {
		t.Fatalf("%d bounds for %d buckets", len(liveBounds), len(liveStats{}.buckets))
	}
	for i := 1; i < len(liveBounds); i++ {
		if liveBounds[i] <= liveBounds[i-1] {
			t.Fatalf("bounds not increasing at %d: %v", i, liveBounds)
		}
	}
	var l liveStats
	samples := []float64{0, 1e-6, 1e-4, 1.00001e-4, 0.00135, 0.0021, 0.05, 1, liveBounds[10], liveBounds[43], 100, math.Inf(1)}
	for _, s := range samples {
		l.observe(0, s)
	}
	c := l.snapshot()
	for _, s := range samples {
		i := 0
		for i < len(liveBounds) && liveBounds[i] < s {
			i++
		}
		// Every sample at or under bound i is counted at i.
		var under uint64
		for _, x := range samples {
			if i == len(liveBounds) || x <= liveBounds[i] {
				under++
			}
		}
		if c.Latency.Counts[i] != under {
			t.Errorf("sample %g: cumulative count at bucket %d is %d, want %d", s, i, c.Latency.Counts[i], under)
		}
	}
	if c.Requests.OK != uint64(len(samples)) || c.Latency.Counts[len(liveBounds)] != uint64(len(samples)) {
		t.Errorf("%+v", c)
	}
}

func TestTheConsoleIsServedAtSlashConsoleAndTheRootLeadsThere(t *testing.T) {
	ts := twoTenants(t, nil)
	if r := ts.do("GET", "/", ""); r.status != 302 || !strings.HasSuffix(r.header["Location"], "/console/") {
		t.Errorf("GET /: %d %v", r.status, r.header)
	}
	r := ts.do("GET", "/console/tenants", "")
	if r.status != 200 || !strings.Contains(r.body, `<div id="root">`) {
		t.Errorf("GET /console/tenants: %d %.200s", r.status, r.body)
	}
	// Under a tenant's prefix, console is an ordinary path of the tenant.
	if r := ts.do("GET", "/t/one/console", ""); r.status != 404 || strings.Contains(r.body, "root") {
		t.Errorf("GET /t/one/console: %d %.200s", r.status, r.body)
	}
	if r := ts.do("POST", "/", "{}"); r.status == 302 {
		t.Errorf("POST / redirects")
	}
}
