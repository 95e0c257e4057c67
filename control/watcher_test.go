package control

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// newTestRegistry serves the given schemas as tenants of the dev stack's database.
func newTestRegistry(t *testing.T, direct string, tenants map[string]string) *Registry {
	t.Helper()
	cfg := &Config{Upstreams: map[string]*Upstream{"dev": {URL: direct}}}
	for name, schema := range tenants {
		cfg.Tenants = append(cfg.Tenants, &TenantConfig{Name: name, Schemas: []string{schema}})
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(cfg, nil)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("not ready after Start: %v", err)
	}
	return r
}

// waitVersion waits until tenant's version differs from old, failing after limit.
func waitVersion(t *testing.T, r *Registry, tenant, old string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if v := r.Tenant(tenant).Snapshot().Version; v != old {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("tenant %s still at version %s after %s", tenant, old, limit)
	return ""
}

func TestDDLChangesOnlyTheAffectedTenantsVersionWithinASecond(t *testing.T) {
	testenv.FreshSchema(t, "control_t_a", "CREATE TABLE items (id int PRIMARY KEY)")
	testenv.FreshSchema(t, "control_t_b", "CREATE TABLE items (id int PRIMARY KEY)")
	r := newTestRegistry(t, testenv.DirectURL(), map[string]string{"a": "control_t_a", "b": "control_t_b"})
	va := r.Tenant("a").Snapshot().Version
	loadedB := r.Tenant("b").Snapshot()

	testenv.Exec(t, "ALTER TABLE control_t_a.items ADD COLUMN name text")
	va2 := waitVersion(t, r, "a", va, time.Second)
	if r.Tenant("a").Snapshot().Catalog.Table("control_t_a", "items").Column("name") == nil {
		t.Fatalf("new column not in the reloaded catalog (version %s)", va2)
	}
	time.Sleep(300 * time.Millisecond) // past the debounce: any reload of b would have happened
	if r.Tenant("b").Snapshot() != loadedB {
		t.Fatalf("tenant b was reloaded by DDL in tenant a's schema")
	}

}

func TestPostgRESTsReloadNotificationIsHonoured(t *testing.T) {
	direct := testenv.FreshDatabase(t, "control_t_pgrst")
	c := testenv.ConnTo(t, direct)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY); COMMENT ON TABLE app.items IS 'before'"); err != nil {
		t.Fatal(err)
	}
	r := newTestRegistry(t, direct, map[string]string{"b": "app"})
	loaded := r.Tenant("b").Snapshot()
	// Change the catalog behind the event trigger's back (a direct catalog update fires no
	// DDL event), so only the pgrst notification can make Kapok see it.
	if _, err := c.Exec(ctx, `UPDATE pg_description SET description = 'changed quietly'
		WHERE objoid = 'app.items'::regclass AND objsubid = 0`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if r.Tenant("b").Snapshot() != loaded {
		t.Fatal("reloaded without any notification")
	}
	if _, err := c.Exec(ctx, "NOTIFY pgrst, 'reload schema'"); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, r, "b", loaded.Version, time.Second)
	if got := r.Tenant("b").Snapshot().Catalog.Table("app", "items").Comment; got != "changed quietly" {
		t.Fatalf("comment after reload = %q", got)
	}
}

// Policies, triggers and rules name no schema in their DDL events, and a DROP's
// ddl_command_end lists nothing: none of them may reload every tenant of the database
// (a thousand tenants' catalogs for one policy of one tenant's), only the tenant whose
// table they are on.
func TestDDLOnPoliciesTriggersRulesAndDropsReloadsOnlyItsTenant(t *testing.T) {
	direct := testenv.FreshDatabase(t, "control_t_ddlscope")
	c := testenv.ConnTo(t, direct)
	ctx := context.Background()
	if _, err := c.Exec(ctx, `CREATE SCHEMA a; CREATE SCHEMA b;
CREATE TABLE a.items (id int PRIMARY KEY); CREATE TABLE a.extra (id int);
CREATE TABLE b.items (id int PRIMARY KEY);
CREATE FUNCTION a.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$`); err != nil {
		t.Fatal(err)
	}
	r := newTestRegistry(t, direct, map[string]string{"a": "a", "b": "b"})
	debounce := r.cfg.ReloadDebounce.D()
	for _, step := range []struct{ what, ddl string }{
		{"a policy, a trigger and a rule made", `CREATE POLICY mine ON a.items USING (id > 0);
CREATE TRIGGER touch BEFORE UPDATE ON a.items FOR EACH ROW EXECUTE FUNCTION a.touch();
CREATE RULE quiet AS ON DELETE TO a.extra DO INSTEAD NOTHING`},
		{"a policy altered", "ALTER POLICY mine ON a.items USING (id > 1)"},
		{"a policy, a trigger and a rule dropped", "DROP POLICY mine ON a.items; DROP TRIGGER touch ON a.items; DROP RULE quiet ON a.extra"},
		{"a table dropped", "DROP TABLE a.extra"},
	} {
		before := r.introspections.Load()
		if _, err := c.Exec(ctx, "BEGIN; "+step.ddl+"; COMMIT"); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		time.Sleep(debounce + 400*time.Millisecond)
		if n := r.introspections.Load() - before; n != 1 {
			t.Errorf("%s in tenant a's schema: %d catalog loads, want 1 (tenant a's)", step.what, n)
		}
	}
	if r.Tenant("a").Snapshot().Catalog.Table("a", "extra") != nil {
		t.Error("tenant a still has the dropped table")
	}
}

func TestTheListenerSurvivesBeingTerminated(t *testing.T) {
	testenv.FreshSchema(t, "control_t_term", "CREATE TABLE t (id int PRIMARY KEY)")
	r := newTestRegistry(t, testenv.DirectURL(), map[string]string{"term": "control_t_term"})
	v := r.Tenant("term").Snapshot().Version
	c := testenv.Conn(t)
	ctx := context.Background()
	var killed int
	deadline := time.Now().Add(2 * time.Second)
	for killed == 0 && time.Now().Before(deadline) {
		// This process's listeners only: other packages' tests run alongside.
		if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1 AND query ILIKE 'LISTEN%'`, listenerName(SchemaListener)).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if killed == 0 {
		t.Fatal("found no listener connection to terminate")
	}
	// The listener reconnects with backoff (100ms first); DDL after that must be seen.
	time.Sleep(500 * time.Millisecond)
	testenv.Exec(t, "ALTER TABLE control_t_term.t ADD COLUMN x int")
	waitVersion(t, r, "term", v, 2*time.Second)
}

func TestDDLWhileTheListenerIsDownIsSeenAfterItReconnects(t *testing.T) {
	direct := testenv.FreshDatabase(t, "control_t_cut")
	c := testenv.ConnTo(t, direct)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	r := newTestRegistry(t, direct, map[string]string{"cut": "app"})
	admin := testenv.Conn(t)
	allow := func(on bool) {
		t.Helper()
		if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE control_t_cut ALLOW_CONNECTIONS %t", on)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "ALTER DATABASE control_t_cut ALLOW_CONNECTIONS true") })

	// Twice: the second cut finds a listener that came back from the first.
	for round := 1; round <= 2; round++ {
		loaded := r.Tenant("cut").Snapshot()
		// No new session may reach the database, so the listener stays down for as long
		// as the test says; c, already connected, still can.
		allow(false)
		var killed int
		if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
			WHERE datname = 'control_t_cut' AND application_name = $1`, listenerName(SchemaListener)).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		if killed != 1 {
			t.Fatalf("round %d: terminated %d listener sessions, want 1", round, killed)
		}
		column := fmt.Sprintf("added_%d", round)
		if _, err := c.Exec(ctx, "ALTER TABLE app.items ADD COLUMN "+column+" int"); err != nil {
			t.Fatal(err)
		}
		// Its notification went to nobody: nothing may have reloaded the tenant.
		time.Sleep(300 * time.Millisecond)
		if r.Tenant("cut").Snapshot() != loaded {
			t.Fatalf("round %d: reloaded while the listener was down", round)
		}
		allow(true)
		waitVersion(t, r, "cut", loaded.Version, 3*time.Second)
		if r.Tenant("cut").Snapshot().Catalog.Table("app", "items").Column(column) == nil {
			t.Fatalf("round %d: column %s not in the catalog loaded after the reconnect", round, column)
		}
	}
}

func TestListenerNamesTellProcessesApartWithinPostgresLimit(t *testing.T) {
	if got, want := processName(SchemaListener, "kapok-7d9f8-x2x", 1), "kapok-listener@kapok-7d9f8-x2x:1"; got != want {
		t.Fatalf("processName = %q, want %q", got, want)
	}
	long := processName(TenantsListener, strings.Repeat("h", 63), 4194304)
	if len(long) != 63 || !strings.HasSuffix(long, "h:4194304") || !strings.HasPrefix(long, TenantsListener+"@h") {
		t.Fatalf("a long host name gives %q (%d bytes)", long, len(long))
	}
	if got := listenerName(SchemaListener); !strings.HasSuffix(got, fmt.Sprintf(":%d", os.Getpid())) {
		t.Fatalf("listenerName = %q, without this process's pid", got)
	}
}

func TestListenBackoffStartsOverAfterAListeningSession(t *testing.T) {
	var b listenBackoff
	var got []time.Duration
	for _, listened := range []bool{true, false, false, false, false, false, false, false, true, false} {
		got = append(got, b.next(listened))
	}
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5000 * ms, 5000 * ms, 100 * ms, 200 * ms}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backoff %v, want %v", got, want)
	}
}

func TestWithoutEventTriggerRightsTheFingerprintIsPolled(t *testing.T) {
	// A database nobody installed the trigger in, and a role that may not install it.
	admin := testenv.Conn(t)
	ctx := context.Background()
	for _, q := range []string{
		"DROP DATABASE IF EXISTS control_t_poll WITH (FORCE)",
		"DROP ROLE IF EXISTS control_t_nosuper",
		"CREATE ROLE control_t_nosuper LOGIN",
		"CREATE DATABASE control_t_poll OWNER control_t_nosuper",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS control_t_poll WITH (FORCE)")
		_, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS control_t_nosuper")
	})
	u, _ := url.Parse(testenv.DirectURL())
	u.User = url.User("control_t_nosuper")
	u.Path = "/control_t_poll"
	direct := u.String()
	{
		r := testenv.ConnTo(t, direct)
		if _, err := r.Exec(ctx, "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &Config{Upstreams: map[string]*Upstream{"u": {URL: direct}}, SchemaPoll: Duration(100 * time.Millisecond)}
	cfg.Tenants = []*TenantConfig{{Name: "poll", Schemas: []string{"app"}}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(cfg, nil)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	v := r.Tenant("poll").Snapshot().Version
	time.Sleep(300 * time.Millisecond) // the poller takes its first fingerprint
	owner := testenv.ConnTo(t, direct)
	if _, err := owner.Exec(ctx, "ALTER TABLE app.t ADD COLUMN y text"); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, r, "poll", v, 2*time.Second)
}
