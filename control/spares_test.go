package control

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// spareOIDs lists the current spares of the default template: name by OID.
func spareOIDs(t *testing.T, s *Store) map[uint32]string {
	t.Helper()
	tmpl, err := s.template(context.Background(), DefaultTemplate)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := testenv.Conn(t).Query(context.Background(), `SELECT oid, nspname FROM pg_namespace
WHERE nspname LIKE $1 AND obj_description(oid, 'pg_namespace') = $2`, sparePattern(tmpl), tmpl.spareMark())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uint32]string{}
	for rows.Next() {
		var oid uint32
		var name string
		if err := rows.Scan(&oid, &name); err != nil {
			t.Fatal(err)
		}
		out[oid] = name
	}
	return out
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
	}
}

func TestASchemaTenantIsASpareRenamedAndTheSpareIsReplaced(t *testing.T) {
	r, s := openTestStore(t)
	ctx := context.Background()
	var spares map[uint32]string
	waitFor(t, "a spare schema", func() bool { spares = spareOIDs(t, s); return len(spares) > 0 })

	name := testTenantName("control-t-spare")
	schema := strings.ReplaceAll(name, "-", "_")
	dropTestTenant(t, name)
	c := testenv.Conn(t)
	var before time.Time
	if err := c.QueryRow(ctx, "SELECT now()").Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTenant(ctx, &CreateTenant{Name: name}); err != nil {
		t.Fatal(err)
	}
	var oid uint32
	var comment *string
	if err := c.QueryRow(ctx, "SELECT oid, obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1", schema).Scan(&oid, &comment); err != nil {
		t.Fatal(err)
	}
	// Other test processes may take spares meanwhile: the tenant's schema must be one of
	// those listed before, whichever.
	if _, ok := spares[oid]; !ok {
		t.Fatalf("schema %s (oid %d) is not one of the spares %v", schema, oid, spares)
	}
	if comment != nil {
		t.Errorf("the tenant's schema kept the spare's comment %q", *comment)
	}
	// The function made with SET search_path FROM CURRENT follows the rename.
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM "+schema+".open_todos(1)").Scan(&n); err != nil || n != 2 {
		t.Fatalf("open_todos in the renamed spare: %d rows, %v", n, err)
	}
	// The seed rows are the tenant's, made with it, not when the spare was.
	var fresh bool
	if err := c.QueryRow(ctx, "SELECT bool_and(created_at >= $1) FROM "+schema+".todos", before).Scan(&fresh); err != nil || !fresh {
		t.Fatalf("seed rows older than the tenant (%v)", err)
	}
	var cfg string
	if err := c.QueryRow(ctx, `SELECT array_to_string(proconfig, ',') FROM pg_proc
WHERE proname = 'open_todos' AND pronamespace = $1::regnamespace`, schema).Scan(&cfg); err != nil || !strings.Contains(cfg, schema) {
		t.Fatalf("open_todos's settings %q (%v) do not name %s", cfg, err, schema)
	}
	tn := r.Tenant(name)
	if tn == nil || tn.Snapshot() == nil || tn.Snapshot().Catalog.Table(schema, "todos") == nil {
		t.Fatal("the tenant made from a spare is not served with its tables")
	}
	// Served through its role: the grants of a fresh tenant apply to the renamed tables.
	if _, err := c.Exec(ctx, "SET ROLE "+pgx.Identifier{TenantRole(name)}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	err := c.QueryRow(ctx, "SELECT count(*) FROM "+schema+".todos").Scan(&n)
	_, _ = c.Exec(ctx, "RESET ROLE")
	if err != nil || n != 2 {
		t.Fatalf("the tenant role reads %d todos: %v", n, err)
	}
	waitFor(t, "a new spare replacing the one taken", func() bool {
		for o := range spareOIDs(t, s) {
			if _, old := spares[o]; !old {
				return true
			}
		}
		return false
	})
}

func TestAStaleSpareIsDroppedNotHandedOut(t *testing.T) {
	_, s := openTestStore(t)
	ctx := context.Background()
	tmpl, err := s.template(ctx, DefaultTemplate)
	if err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("%s%s_stale%d", sparePrefix, tmpl.name, os.Getpid())
	c := testenv.Conn(t)
	if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+stale+" CASCADE; CREATE SCHEMA "+stale+"; COMMENT ON SCHEMA "+stale+" IS 'an older template'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = testenv.Conn(t).Exec(context.Background(), "DROP SCHEMA IF EXISTS "+stale+" CASCADE") })
	s.fillSpares(testenv.DirectURL(), tmpl)
	waitFor(t, "the stale spare dropped", func() bool {
		var n int
		_ = c.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", stale).Scan(&n)
		return n == 0
	})
}

func TestATemplateReadingItsSchemaNameGetsNoSpares(t *testing.T) {
	for ddl, want := range map[string]bool{
		"CREATE TABLE a (id int)": true,
		"CREATE FUNCTION f() RETURNS text LANGUAGE sql SET search_path FROM CURRENT AS $$ SELECT 'x' $$": true,
		"DO $$ BEGIN EXECUTE format('COMMENT ON SCHEMA %I IS ''x''', current_schema()); END $$":          false,
		"CREATE TABLE a (s text DEFAULT CURRENT_SCHEMA)":                                                 false,
	} {
		if got := (&template{ddl: ddl}).spareable(); got != want {
			t.Errorf("spareable(%q) = %v", ddl, got)
		}
	}
}

func TestCreationsAtOnceFromTwoReplicasEachTakeTheirOwnSpare(t *testing.T) {
	_, a := openTestStore(t)
	_, b := openTestStore(t)
	waitFor(t, "spare schemas", func() bool { return len(spareOIDs(t, a)) >= 4 })
	ctx := context.Background()
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		name := testTenantName(fmt.Sprintf("control-t-race%d", i))
		dropTestTenant(t, name)
		s := a
		if i%2 == 1 {
			s = b
		}
		go func() {
			_, err := s.CreateTenant(ctx, &CreateTenant{Name: name})
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	c := testenv.Conn(t)
	for i := range n {
		schema := strings.ReplaceAll(testTenantName(fmt.Sprintf("control-t-race%d", i)), "-", "_")
		var rows int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM "+schema+".todos").Scan(&rows); err != nil || rows != 2 {
			t.Errorf("%s: %d seed rows, %v", schema, rows, err)
		}
	}
}
