package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control/catalogload"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner/catalog"
)

// openTestStore serves no file tenants and attaches the control tables.
func openTestStore(t testing.TB) (*Registry, *Store) {
	t.Helper()
	cfg := &Config{Upstreams: map[string]*Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(cfg, nil)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	s, err := OpenStore(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.WarmTemplates(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r, s
}

// testTenantName makes base unique to this test process, so that two runs of the package at
// once do not share tenants.
func testTenantName(base string) string { return fmt.Sprintf("%s-%d", base, os.Getpid()) }

// dropTestTenant removes whatever a test tenant left behind, now and when the test ends.
func dropTestTenant(t testing.TB, name string) {
	t.Helper()
	testenv.DropTenant(name, TenantRole(name))
	t.Cleanup(func() { testenv.DropTenant(name, TenantRole(name)) })
}

func TestTemplateCloneCarriesTablesIndexesFunctionsPoliciesAndSeedRows(t *testing.T) {
	r, s := openTestStore(t)
	name := testTenantName("control-t-adm-clone")
	schema := strings.ReplaceAll(name, "-", "_")
	dropTestTenant(t, name)
	created, err := s.CreateTenant(context.Background(), &CreateTenant{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("schema tenant: provision %s, served after %s", created.Provision, created.Total)
	tn := r.Tenant(name)
	if tn == nil || tn.Snapshot() == nil {
		t.Fatal("tenant not served after CreateTenant")
	}
	var tmpl, clone string
	c := testenv.Conn(t)
	// Everything but the schema name must match the template schema.
	describe := `SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT 'index ' || indexname || ' ' || replace(indexdef, $1 || '.', '') FROM pg_indexes WHERE schemaname = $1
  UNION ALL SELECT 'policy ' || policyname || ' ' || qual FROM pg_policies WHERE schemaname = $1
  UNION ALL SELECT 'function ' || p.proname || ' ' || pg_get_function_arguments(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1
  UNION ALL SELECT 'rls ' || relname || ' ' || relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND relkind = 'r'
) d(x)`
	if err := c.QueryRow(context.Background(), describe, "kapok_template_default").Scan(&tmpl); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(context.Background(), describe, schema).Scan(&clone); err != nil {
		t.Fatal(err)
	}
	if tmpl != clone || !strings.Contains(clone, "policy todos_by_owner") || !strings.Contains(clone, "function open_todos") {
		t.Fatalf("clone differs from the template:\n%s\n---\n%s", tmpl, clone)
	}
	var n int
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM "+schema+".open_todos(1)").Scan(&n); err != nil || n != 2 {
		t.Fatalf("seed rows through the cloned function: %d, %v", n, err)
	}
	// Identity sequences continue after the seed rows.
	if err := c.QueryRow(context.Background(), "INSERT INTO "+schema+".todos (profile_id, title) VALUES (1, 'x') RETURNING id").Scan(&n); err != nil || n != 3 {
		t.Fatalf("next id %d, %v", n, err)
	}
	tmplCat, err := catalogload.Load(context.Background(), c, []string{"kapok_template_default"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(tn.Snapshot().Catalog.Tables), len(tmplCat.Tables); got != want {
		t.Fatalf("served %d tables, the template has %d", got, want)
	}
	if err := s.DeleteTenant(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	if r.Tenant(name) != nil {
		t.Fatal("deleted tenant still served")
	}
	var left int
	_ = c.QueryRow(context.Background(), "SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema).Scan(&left)
	var roles int
	_ = c.QueryRow(context.Background(), "SELECT count(*) FROM pg_roles WHERE rolname = $1", TenantRole(name)).Scan(&roles)
	if left+roles != 0 {
		t.Fatalf("schema (%d) or role (%d) left after delete", left, roles)
	}
}

func TestTwoRegistriesOnOneControlDatabaseAgreeWithinASecond(t *testing.T) {
	_, a := openTestStore(t)
	rb, _ := openTestStore(t)
	name := testTenantName("control-t-adm-shared")
	dropTestTenant(t, name)
	if _, err := a.CreateTenant(context.Background(), &CreateTenant{Name: name, Mode: "database"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for rb.Tenant(name) == nil || rb.Tenant(name).Snapshot() == nil {
		if time.Since(start) > time.Second {
			t.Fatal("the second registry does not serve the new tenant within a second")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("second registry serves it %s after the create call returned", time.Since(start))
	if err := a.DeleteTenant(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for rb.Tenant(name) != nil {
		if time.Since(start) > time.Second {
			t.Fatal("the second registry still serves the deleted tenant after a second")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCreateTenantRefusesBadRequests(t *testing.T) {
	_, s := openTestStore(t)
	cases := []struct {
		name string
		req  CreateTenant
		want error
	}{
		{"a name with capitals", CreateTenant{Name: "Control"}, ErrInvalid},
		{"a name with an underscore", CreateTenant{Name: "control_t"}, ErrInvalid},
		{"a name ending in a dash", CreateTenant{Name: "control-"}, ErrInvalid},
		{"an unknown mode", CreateTenant{Name: "control-t-adm-x", Mode: "cluster"}, ErrInvalid},
		{"a schema named like a system schema", CreateTenant{Name: "control-t-adm-x", Schema: "pg_x"}, ErrInvalid},
		{"an unknown template", CreateTenant{Name: "control-t-adm-x", Template: "nope"}, ErrInvalid},
		{"a pool section with an unknown key", CreateTenant{Name: "control-t-adm-x", Pool: []byte(`{"conns":1}`)}, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.CreateTenant(context.Background(), &c.req); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestDiffNamesAddedChangedAndDroppedTablesAndColumns(t *testing.T) {
	col := func(name, typ string, nullable bool) *catalog.Column {
		return &catalog.Column{Name: name, Type: typ, Nullable: nullable}
	}
	before := &catalog.Schema{Tables: []*catalog.Table{
		{Schema: "s", Name: "a", Columns: []*catalog.Column{col("id", "integer", false), col("x", "text", true), col("gone", "text", true)}},
		{Schema: "s", Name: "old", Columns: []*catalog.Column{col("id", "integer", false)}},
	}}
	after := &catalog.Schema{Tables: []*catalog.Table{
		{Schema: "s", Name: "a", Columns: []*catalog.Column{col("id", "integer", false), col("x", "text", false), col("y", "integer", true)}},
		{Schema: "s", Name: "new", Columns: []*catalog.Column{col("id", "integer", false)}},
	}}
	before.Index()
	after.Index()
	d := Diff(before, after)
	got := fmt.Sprintf("added %v dropped %v cols+ %s.%s cols- %s.%s changed %s.%s nullable %v->%v",
		d.TablesAdded, d.TablesDropped, d.ColumnsAdded[0].Table, d.ColumnsAdded[0].Column,
		d.ColumnsDropped[0].Table, d.ColumnsDropped[0].Column, d.ColumnsChanged[0].Table, d.ColumnsChanged[0].Column,
		d.ColumnsChanged[0].Before.Nullable, d.ColumnsChanged[0].Nullable)
	want := "added [s.new] dropped [s.old] cols+ s.a.y cols- s.a.gone changed s.a.x nullable true->false"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if d := Diff(after, after); !d.Empty() {
		t.Fatalf("diff of a catalog with itself: %+v", d)
	}
}

func TestSQLErrorsCarryLineAndColumn(t *testing.T) {
	c := testenv.Conn(t)
	sql := "SELECT 1;\nSELECT nope FROM\n  pg_class"
	_, err := c.Exec(context.Background(), sql)
	var se *SQLError
	if !errors.As(sqlError(err, sql), &se) || se.Line != 2 || se.Column != 8 || se.Code != "42703" {
		t.Fatalf("got %#v", sqlError(err, sql))
	}
}

// BenchmarkCreateTenant measures tenant creation from the warm template, up to the tenant
// being served (catalog loaded), in both modes; it reports the median and p99.
func BenchmarkCreateTenant(b *testing.B) {
	_, s := openTestStore(b)
	for _, mode := range []string{"schema", "database"} {
		b.Run(mode, func(b *testing.B) {
			var total, prov []time.Duration
			for i := 0; i < b.N; i++ {
				name := testTenantName(fmt.Sprintf("control-t-adm-bench-%s-%d", mode[:2], i))
				b.StopTimer()
				dropTestTenant(b, name)
				b.StartTimer()
				c, err := s.CreateTenant(context.Background(), &CreateTenant{Name: name, Mode: mode})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				total, prov = append(total, c.Total), append(prov, c.Provision)
				if err := s.DeleteTenant(context.Background(), name); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(ms(quantile(total, 0.5)), "median-ms")
			b.ReportMetric(ms(quantile(total, 0.99)), "p99-ms")
			b.ReportMetric(ms(quantile(prov, 0.5)), "provision-median-ms")
			b.ReportMetric(ms(quantile(prov, 0.99)), "provision-p99-ms")
		})
	}
}

func quantile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func TestDeleteTenantLeavesNoRoleSchemaOrMembershipBehind(t *testing.T) {
	_, s := openTestStore(t)
	ctx := context.Background()
	db := testenv.Conn(t)
	leftovers := func(name string) []string {
		t.Helper()
		role, obj := TenantRole(name), strings.ReplaceAll(name, "-", "_")
		rows, err := db.Query(ctx, `SELECT 'role ' || rolname FROM pg_roles WHERE rolname = $1 OR starts_with(rolname, $1 || '_')
UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname = $2
UNION ALL SELECT 'database ' || datname FROM pg_database WHERE datname = $2
UNION ALL SELECT 'membership ' || r.rolname || ' > ' || m.rolname FROM pg_auth_members a
  JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
  WHERE r.rolname = $1 OR m.rolname = $1 OR starts_with(r.rolname, $1 || '_') OR starts_with(m.rolname, $1 || '_')
UNION ALL SELECT 'row kapok.tenants' FROM kapok.tenants WHERE name = $3
UNION ALL SELECT 'row kapok.migrations' FROM kapok.migrations WHERE tenant = $3
ORDER BY 1`, role, obj, name)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct{ name, mode string }{
		{"a schema tenant", "schema"},
		{"a database tenant served through a superuser login", "database"},
	} {
		t.Run(tc.name+" leaves nothing behind", func(t *testing.T) {
			name := testTenantName("del-" + tc.mode)
			dropTestTenant(t, name)
			if got := leftovers(name); len(got) > 0 {
				t.Fatalf("before creation: %v", got)
			}
			c, err := s.CreateTenant(ctx, &CreateTenant{Name: name, Mode: tc.mode})
			if err != nil {
				t.Fatal(err)
			}
			// What serving the tenant adds: its role (created for a superuser login even
			// under isolation none), a role of its own named after it, and memberships.
			role := TenantRole(name)
			if _, err := EnsureTenantRole(ctx, db, c.Tenant.Config, "postgres"); err != nil {
				t.Fatal(err)
			}
			sub := pgx.Identifier{role + "_anon"}.Sanitize()
			if _, err := db.Exec(ctx, "CREATE ROLE "+sub+" NOLOGIN; GRANT "+sub+" TO "+pgx.Identifier{role}.Sanitize()); err != nil {
				t.Fatal(err)
			}
			if got := leftovers(name); len(got) < 4 {
				t.Fatalf("after creation, expected the tenant's objects: %v", got)
			}
			if err := s.DeleteTenant(ctx, name); err != nil {
				t.Fatal(err)
			}
			if got := leftovers(name); len(got) > 0 {
				t.Errorf("after delete: %v", got)
			}
		})
	}
}

func TestEnsureLiveTenantRoleCreatesNoRoleForADeletedTenant(t *testing.T) {
	_, s := openTestStore(t)
	ctx := context.Background()
	name := testTenantName("live-role")
	dropTestTenant(t, name)
	c, err := s.CreateTenant(ctx, &CreateTenant{Name: name, Mode: "schema"})
	if err != nil {
		t.Fatal(err)
	}
	tc := c.Tenant.Config
	conn := testenv.Conn(t)
	roleExists := func() bool {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", TenantRole(name)).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// A replica loading the tenant while it lives gets its role.
	if err := s.EnsureLiveTenantRole(ctx, conn, tc, "postgres"); err != nil || !roleExists() {
		t.Fatalf("live tenant: %v, role exists %v", err, roleExists())
	}
	if err := s.DeleteTenant(ctx, name); err != nil {
		t.Fatal(err)
	}
	// One that loaded it before the delete and ensures its role after: nothing is created.
	if err := s.EnsureLiveTenantRole(ctx, conn, tc, "postgres"); !errors.Is(err, ErrUnknownTenant) {
		t.Fatalf("deleted tenant: %v, want ErrUnknownTenant", err)
	}
	if roleExists() {
		t.Fatal("the deleted tenant's role was created again")
	}
}

// Deleting a tenant must not make every watched tenant of its database reload: the DDL
// notifications of the drop name the tenant's schemas, none is empty (reload everything).
// DROP OWNED names no schema of its own, which is what the drop sets kapok.ddl_schemas for.
func TestDroppingATenantNotifiesItsOwnSchemasOnly(t *testing.T) {
	openTestStore(t) // the event trigger is installed
	ctx := context.Background()
	name := testTenantName("drop-notify")
	dropTestTenant(t, name)
	tc := &TenantConfig{Name: name, Mode: "schema", Schemas: []string{strings.ReplaceAll(name, "-", "_")}}
	role := TenantRole(name)
	db := testenv.Conn(t)
	if _, err := db.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{tc.Schemas[0]}.Sanitize()+"; CREATE TABLE "+
		pgx.Identifier{tc.Schemas[0], "items"}.Sanitize()+" (id int PRIMARY KEY, note text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureTenantRole(ctx, db, tc, ""); err != nil {
		t.Fatal(err)
	}
	listener := testenv.Conn(t)
	if _, err := listener.Exec(ctx, "LISTEN "+SchemaChannel); err != nil {
		t.Fatal(err)
	}
	dropper := testenv.Conn(t)
	if err := pgx.BeginFunc(ctx, dropper, func(tx pgx.Tx) error { return dropTenantTx(ctx, tx, tc) }); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil || exists {
		t.Fatalf("role %s still exists (%v)", role, err)
	}
	checkDDLNotifications(t, listener, dropper, "the drop", tc.Schemas[0], AuthSchema(tc))
}

// checkDDLNotifications reads listener's kapok_schema notifications until it has been
// quiet for 300 ms and checks those sent by from's backend (other tests' DDL runs
// meanwhile): at least one, none empty (reload everything), none naming a schema other
// than schemas (or pg_toast, of dropped tables).
func checkDDLNotifications(t *testing.T, listener, from *pgx.Conn, what string, schemas ...string) {
	t.Helper()
	allowed := map[string]bool{"pg_toast": true}
	for _, s := range schemas {
		allowed[s] = true
	}
	ours := 0
	for {
		wctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		n, err := listener.WaitForNotification(wctx)
		cancel()
		if err != nil {
			break // quiet for 300 ms: all delivered
		}
		if n.PID != from.PgConn().PID() {
			continue // another test's DDL
		}
		ours++
		if n.Payload == "" {
			t.Errorf("%s notified an empty payload: every watched tenant of the database reloads", what)
		}
		for _, s := range strings.Split(n.Payload, ",") {
			if s != "" && !allowed[s] {
				t.Errorf("%s notified schema %q, not %v (payload %q)", what, s, schemas, n.Payload)
			}
		}
	}
	if ours == 0 {
		t.Fatalf("%s sent no notification at all: the tenants exposing %v would not reload", what, schemas)
	}
}
