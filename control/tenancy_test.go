package control

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// startRegistry starts a registry of cfg's tenants with hooks registered first, without
// requiring it to be ready (cold tenants are the point here).
func startRegistry(t *testing.T, cfg *Config, hooks ...func(*Tenant, *Snapshot, *Snapshot)) *Registry {
	t.Helper()
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(cfg, nil)
	for _, h := range hooks {
		r.OnChange(h)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// tenantsOf serves schemas (tenant name → schema) from the database at direct.
func tenantsOf(direct string, tenancy TenancyConfig, schemas map[string]string) *Config {
	cfg := &Config{Upstreams: map[string]*Upstream{"dev": {URL: direct}}, Tenancy: tenancy}
	for name, schema := range schemas {
		cfg.Tenants = append(cfg.Tenants, &TenantConfig{Name: name, Schemas: []string{schema}})
	}
	return cfg
}

// changeLog records what the OnChange hooks saw, per tenant: "load" (old nil: a first load
// or a wake-up), "change" (a new version), "hibernate" (cur nil).
type changeLog struct {
	mu     sync.Mutex
	events map[string][]string
}

func (l *changeLog) record(t *Tenant, old, cur *Snapshot) {
	kind := "change"
	switch {
	case cur == nil:
		kind = "hibernate"
	case old == nil:
		kind = "load"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.events == nil {
		l.events = map[string][]string{}
	}
	l.events[t.Name] = append(l.events[t.Name], kind)
}

func (l *changeLog) of(tenant string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events[tenant]...)
}

// waitState waits until tenant is in state want, failing after limit.
func waitState(t *testing.T, r *Registry, tenant string, want TenantState, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if r.Tenant(tenant).State() == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("tenant %s is %s after %s, want %s", tenant, r.Tenant(tenant).State(), limit, want)
}

func TestAboveEagerLoadMaxTenantsStartColdAndLoadOnceOnFirstUse(t *testing.T) {
	// A database of its own: another package's DDL can make every watched catalog reload,
	// and this test counts loads.
	direct := testenv.FreshDatabase(t, "control_t_lazy")
	c := testenv.ConnTo(t, direct)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE SCHEMA a; CREATE TABLE a.items (id int PRIMARY KEY); CREATE SCHEMA b; CREATE TABLE b.items (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	var changes changeLog
	r := startRegistry(t, tenantsOf(direct, TenancyConfig{EagerLoadMax: 1}, map[string]string{"lazy-a": "a", "lazy-b": "b"}), changes.record)

	if n := r.introspections.Load(); n != 0 {
		t.Fatalf("Start introspected %d catalogs of 2 tenants above eager_load_max 1", n)
	}
	for _, name := range []string{"lazy-a", "lazy-b"} {
		if tn := r.Tenant(name); tn.State() != TenantCold || tn.Snapshot() != nil {
			t.Fatalf("tenant %s after Start: %s, snapshot %v", name, tn.State(), tn.Snapshot())
		}
	}
	if r.Resident() != 0 || r.Unloaded() != 0 {
		t.Fatalf("after Start: %d resident, %d unloaded; want 0 and 0", r.Resident(), r.Unloaded())
	}

	const callers = 50
	a := r.Tenant("lazy-a")
	snaps := make([]*Snapshot, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			snaps[i], errs[i] = r.Ensure(ctx, a)
		}()
	}
	close(start)
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || snaps[i] == nil || snaps[i] != snaps[0] {
			t.Fatalf("caller %d: snapshot %p (first caller's %p), err %v", i, snaps[i], snaps[0], errs[i])
		}
	}
	if snaps[0].Catalog.Table("a", "items") == nil {
		t.Fatal("the loaded catalog lacks a.items")
	}
	if n := r.introspections.Load(); n != 1 {
		t.Fatalf("%d concurrent first uses introspected %d times, want once", callers, n)
	}
	if got := changes.of("lazy-a"); strings.Join(got, ",") != "load" {
		t.Fatalf("hooks of lazy-a saw %v, want one first load", got)
	}
	if again, err := r.Ensure(ctx, a); err != nil || again != snaps[0] || r.introspections.Load() != 1 {
		t.Fatalf("a later use reloaded: %p (was %p), err %v, %d introspections", again, snaps[0], err, r.introspections.Load())
	}
	if st := r.Tenant("lazy-b").State(); st != TenantCold || r.Resident() != 1 {
		t.Fatalf("lazy-b is %s and %d tenants resident after only lazy-a was used", st, r.Resident())
	}
}

func TestAHibernatedTenantWakesUpWithTheSchemaChangedWhileItSlept(t *testing.T) {
	testenv.FreshSchema(t, "control_t_hib", "CREATE TABLE items (id int PRIMARY KEY)")
	var changes changeLog
	r := startRegistry(t, tenantsOf(testenv.DirectURL(), TenancyConfig{HibernateAfter: Duration(50 * time.Millisecond)},
		map[string]string{"hib": "control_t_hib"}), changes.record)
	if got := changes.of("hib"); len(got) == 0 || got[0] != "load" {
		t.Fatalf("below eager_load_max Start did not load the tenant: hooks saw %v", got)
	}

	waitState(t, r, "hib", TenantHibernated, 2*time.Second)
	if r.Hibernations() != 1 || r.Resident() != 0 || r.Tenant("hib").Snapshot() != nil {
		t.Fatalf("after hibernating: %d hibernations, %d resident, snapshot %v", r.Hibernations(), r.Resident(), r.Tenant("hib").Snapshot())
	}
	if err := r.Ready(context.Background()); err != nil {
		t.Fatalf("a hibernated tenant made the registry unready: %v", err)
	}

	testenv.Exec(t, "ALTER TABLE control_t_hib.items ADD COLUMN note text")
	testenv.Exec(t, "CREATE TABLE control_t_hib.added_while_asleep (id int PRIMARY KEY)")
	time.Sleep(300 * time.Millisecond) // past the debounce: a reload would have happened
	if st := r.Tenant("hib").State(); st != TenantHibernated {
		t.Fatalf("DDL in a hibernated tenant's schema made it %s", st)
	}

	snap, err := r.Ensure(context.Background(), r.Tenant("hib"))
	if err != nil {
		t.Fatal(err)
	}
	if snap.Catalog.Table("control_t_hib", "items").Column("note") == nil || snap.Catalog.Table("control_t_hib", "added_while_asleep") == nil {
		t.Fatal("the catalog loaded on waking up lacks what changed while the tenant slept")
	}
	// Waking up to a changed catalog is a first load again; the tenant may already sleep
	// once more (50ms).
	if got := changes.of("hib"); len(got) < 3 || strings.Join(got[:3], ",") != "load,hibernate,load" {
		t.Fatalf("hooks saw %v, want load, hibernate, load", got)
	}

	// Asleep again, with nothing changed since: waking up needs no hooks (they would re-run
	// the tenant role's GRANTs), only the catalog.
	waitState(t, r, "hib", TenantHibernated, 2*time.Second)
	seen := changes.of("hib")
	again, err := r.Ensure(context.Background(), r.Tenant("hib"))
	if err != nil {
		t.Fatal(err)
	}
	if again.Version != snap.Version {
		t.Fatalf("woke up to version %s, it went to sleep with %s", again.Version, snap.Version)
	}
	// It may sleep once more meanwhile (50ms): only a hibernate hook may follow.
	for _, h := range changes.of("hib")[len(seen):] {
		if h != "hibernate" {
			t.Fatalf("waking up to the same version ran hooks: %v, then %v", seen, changes.of("hib"))
		}
	}
}

func TestTheWatcherLeavesColdTenantsCold(t *testing.T) {
	direct := testenv.FreshDatabase(t, "control_t_cold")
	c := testenv.ConnTo(t, direct)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE SCHEMA cold; CREATE TABLE cold.items (id int PRIMARY KEY); CREATE SCHEMA warm; CREATE TABLE warm.items (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	r := startRegistry(t, tenantsOf(direct, TenancyConfig{EagerLoadMax: -1}, map[string]string{"cold": "cold", "warm": "warm"}))
	if _, err := r.Ensure(ctx, r.Tenant("warm")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		// notify makes the watcher reload; it returns once warm's reload happened.
		notify func(t *testing.T)
	}{
		{"DDL in the cold tenant's schema does not load it", func(t *testing.T) {
			v := r.Tenant("warm").Snapshot().Version
			// One transaction: both schemas' notifications arrive within one debounce.
			if _, err := c.Exec(ctx, "ALTER TABLE cold.items ADD COLUMN x int; ALTER TABLE warm.items ADD COLUMN x int"); err != nil {
				t.Fatal(err)
			}
			waitVersion(t, r, "warm", v, 2*time.Second)
		}},
		{"a reload of every tenant does not load it", func(t *testing.T) {
			n := r.introspections.Load()
			if _, err := c.Exec(ctx, "NOTIFY pgrst, 'reload schema'"); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for r.introspections.Load() == n && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if r.introspections.Load() != n+1 {
				t.Fatalf("%d introspections after reloading everything, want %d (warm only)", r.introspections.Load(), n+1)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.notify(t)
			if tn := r.Tenant("cold"); tn.State() != TenantCold || tn.Snapshot() != nil {
				t.Fatalf("the cold tenant is %s", tn.State())
			}
		})
	}
}

func TestReadyIsFineWithColdTenantsAndReportsAFailedOne(t *testing.T) {
	gone := testenv.FreshDatabase(t, "control_t_gone")
	g := testenv.ConnTo(t, gone)
	if _, err := g.Exec(context.Background(), "CREATE SCHEMA app"); err != nil {
		t.Fatal(err)
	}
	g.Close(context.Background())
	testenv.FreshSchema(t, "control_t_ready", "CREATE TABLE items (id int PRIMARY KEY)")
	cfg := &Config{
		Upstreams: map[string]*Upstream{"dev": {URL: testenv.DirectURL()}, "gone": {URL: gone}},
		Tenants: []*TenantConfig{
			{Name: "fine", Schemas: []string{"control_t_ready"}, Upstream: "dev"},
			{Name: "broken", Schemas: []string{"app"}, Upstream: "gone"},
		},
		Tenancy: TenancyConfig{EagerLoadMax: -1},
	}
	r := startRegistry(t, cfg)
	ctx := context.Background()
	if err := r.Ready(ctx); err != nil {
		t.Fatalf("cold tenants made the registry unready: %v", err)
	}

	// Its database goes away before its first use: the load fails.
	admin := testenv.Conn(t)
	if _, err := admin.Exec(ctx, "DROP DATABASE control_t_gone WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	broken := r.Tenant("broken")
	if snap, err := r.Ensure(ctx, broken); err == nil || snap != nil {
		t.Fatalf("Ensure of a tenant whose database is gone: %v, %v", snap, err)
	}
	if _, err := r.Ensure(ctx, r.Tenant("fine")); err != nil {
		t.Fatal(err)
	}
	err := r.Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "tenant broken") {
		t.Fatalf("Ready after a failed load = %v, want the broken tenant named", err)
	}
	if broken.State() != TenantFailed || broken.LoadError() == nil || r.Unloaded() != 1 || r.Resident() != 1 {
		t.Fatalf("broken is %s (%v); %d unloaded, %d resident", broken.State(), broken.LoadError(), r.Unloaded(), r.Resident())
	}
}

func TestGrantingOneTenantsRoleReloadsThatTenantAlone(t *testing.T) {
	direct := testenv.FreshDatabase(t, "control_t_grantone")
	c := testenv.ConnTo(t, direct)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE SCHEMA ga; CREATE TABLE ga.items (id int PRIMARY KEY); CREATE SCHEMA gb; CREATE TABLE gb.items (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	r := startRegistry(t, tenantsOf(direct, TenancyConfig{}, map[string]string{"control-t-ga": "ga", "control-t-gb": "gb"}))
	a, b := r.Tenant("control-t-ga"), r.Tenant("control-t-gb")
	for _, tn := range []*Tenant{a, b} {
		if _, err := r.Ensure(ctx, tn); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		testenv.Exec(t, `DROP DATABASE IF EXISTS control_t_grantone WITH (FORCE)`)
		testenv.Exec(t, `DROP ROLE IF EXISTS "`+TenantRole(a.Name)+`"`)
	})
	n := r.introspections.Load()
	// The GRANTs of its role's script are reported without a schema: the script names its
	// tenant's, so only it is reloaded.
	if _, err := EnsureTenantRole(ctx, c, a.Config, "postgres"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for r.introspections.Load() == n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// Let any further reload the notifications would cause happen.
	time.Sleep(500 * time.Millisecond)
	if got := r.introspections.Load() - n; got != 1 {
		t.Fatalf("granting one tenant's role caused %d catalog loads, want 1 (that tenant's)", got)
	}
	// Ensuring it again grants nothing: no DDL, no reload.
	n = r.introspections.Load()
	if _, err := EnsureTenantRole(ctx, c, a.Config, "postgres"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := r.introspections.Load() - n; got != 0 {
		t.Fatalf("ensuring a role that has its grants caused %d catalog loads, want none", got)
	}
	// A GRANT that names no schema and comes from elsewhere still reloads everything.
	n = r.introspections.Load()
	if _, err := c.Exec(ctx, `GRANT SELECT ON ALL TABLES IN SCHEMA gb TO PUBLIC`); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(2 * time.Second)
	for r.introspections.Load() < n+2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := r.introspections.Load() - n; got != 2 {
		t.Fatalf("a GRANT naming no schema caused %d catalog loads, want 2 (every tenant)", got)
	}
}

func TestATenantKeptAwakeDoesNotHibernate(t *testing.T) {
	testenv.FreshSchema(t, "control_t_awake", "CREATE TABLE items (id int PRIMARY KEY)")
	cfg := tenantsOf(testenv.DirectURL(), TenancyConfig{HibernateAfter: Duration(30 * time.Millisecond)},
		map[string]string{"awake": "control_t_awake"})
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(cfg, nil)
	var live sync.Mutex
	subscribed := true
	r.KeepAwake(func(tn *Tenant) bool {
		live.Lock()
		defer live.Unlock()
		return tn.Name == "awake" && subscribed
	})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	time.Sleep(300 * time.Millisecond) // ten times hibernate_after, no request
	if st := r.Tenant("awake").State(); st != TenantResident {
		t.Fatalf("a tenant with live subscriptions is %s, want resident", st)
	}
	live.Lock()
	subscribed = false
	live.Unlock()
	waitState(t, r, "awake", TenantHibernated, 2*time.Second)
}

// A load that began after the watcher heard of a change already holds it (the
// notification is sent at commit): the debounced refresh must not introspect again. A
// tenant created through the admin API is loaded right after its schema's DDL commits, and
// used to be introspected a second time when that DDL's notification came round.
func TestALoadBegunAfterTheWatcherHeardOfAChangeIsNotRepeated(t *testing.T) {
	direct := testenv.FreshDatabase(t, "control_t_heard")
	c := testenv.ConnTo(t, direct)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE SCHEMA a; CREATE TABLE a.items (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	r := startRegistry(t, tenantsOf(direct, TenancyConfig{}, map[string]string{"heard-a": "a"}))
	tn := r.Tenant("heard-a")
	if _, err := r.Ensure(ctx, tn); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	db := r.dbs[tn.DirectURL]
	r.mu.Unlock()

	// No DDL until the end: the watcher has nothing to load meanwhile, the count is ours.
	heard := time.Now()
	if err := db.reload(ctx, tn); err != nil { // as CreateTenant's AddTenant, after the commit
		t.Fatal(err)
	}
	n := r.introspections.Load()
	db.refresh(ctx, tn, heard)
	if got := r.introspections.Load(); got != n {
		t.Fatalf("a change heard before the last load began was introspected again (%d loads, want %d)", got, n)
	}
	// The debounced batch also names other schemas, heard later (tenants created one
	// after the other): what counts is when this tenant's schema was heard of.
	db.reloadSchemas(ctx, map[string]time.Time{"a": heard, "other": time.Now()}, time.Time{})
	if got := r.introspections.Load(); got != n {
		t.Fatalf("a batch naming a later change of another schema reloaded heard-a (%d loads, want %d)", got, n)
	}
	// Heard after the load began, or at an unknown time: the load may predate the commit.
	db.refresh(ctx, tn, time.Now())
	db.refresh(ctx, tn, time.Time{})
	if got := r.introspections.Load(); got != n+2 {
		t.Fatalf("%d loads after two refreshes the last load does not cover, want %d", got, n+2)
	}
	// End to end: DDL after the last load is still seen through the watcher.
	if _, err := c.Exec(ctx, "CREATE TABLE a.after (id int)"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tn.Snapshot().Catalog.Table("a", "after") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not load a.after, made after the last load")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
