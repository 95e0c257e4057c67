package control

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestIsolationDefaultsToRoleForSchemaTenants(t *testing.T) {
	cfg := &Config{Upstreams: map[string]*Upstream{"u": {URL: "postgres://x@h/db"}}}
	cases := []struct {
		name string
		tc   TenantConfig
		want string
	}{
		{"a schema tenant runs as its own role", TenantConfig{Name: "a"}, IsolationRole},
		{"a database tenant is isolated by its database", TenantConfig{Name: "b", Mode: "database", Database: "b"}, IsolationNone},
		{"isolation can be turned off", TenantConfig{Name: "c", Isolation: "none"}, IsolationNone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := c.tc
			if err := cfg.NormalizeTenant(&tc); err != nil {
				t.Fatal(err)
			}
			if tc.Isolation != c.want {
				t.Fatalf("isolation %q, want %q", tc.Isolation, c.want)
			}
		})
	}
	bad := TenantConfig{Name: "d", Isolation: "roles"}
	if err := cfg.NormalizeTenant(&bad); err == nil || !strings.Contains(err.Error(), "isolation") {
		t.Fatalf("an unknown isolation mode was accepted: %v", err)
	}
}

func TestTenantRoleNamesStayDistinctWithinPostgresLimit(t *testing.T) {
	long1 := strings.Repeat("a", 60) + "-x1"
	long2 := strings.Repeat("a", 60) + "-x2"
	r1, r2 := TenantRole(long1), TenantRole(long2)
	if len(r1) > 63 || len(r2) > 63 || r1 == r2 {
		t.Fatalf("long names: %q (%d) %q (%d)", r1, len(r1), r2, len(r2))
	}
	if TenantRole("shop-1") != "kapok_t_shop-1" {
		t.Fatalf("short name: %q", TenantRole("shop-1"))
	}
	for _, r := range []string{"kapok_t_other", "pg_read_all_data"} {
		if !IsReservedRole(r) {
			t.Errorf("%s is not reserved", r)
		}
	}
	if IsReservedRole("authenticated") {
		t.Error("authenticated is reserved")
	}
}

const rolesDDL = `CREATE TABLE items (id int PRIMARY KEY, secret text);
INSERT INTO items VALUES (1, 'mine')`

func TestATenantRoleReachesOnlyItsOwnSchemas(t *testing.T) {
	testenv.FreshSchema(t, "auth_t_roles_a", rolesDDL)
	testenv.FreshSchema(t, "auth_t_roles_b", rolesDDL)
	ctx := context.Background()
	conn := testenv.Conn(t)
	tc := &TenantConfig{Name: "auth-t-roles-a", Schemas: []string{"auth_t_roles_a", "auth_t_roles_missing"}}

	// Concurrent calls (replicas starting together) and repeated calls all succeed.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.Connect(ctx, testenv.DirectURL())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close(ctx)
			_, err = EnsureTenantRole(ctx, c, tc, "postgres")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	role, err := EnsureTenantRole(ctx, conn, tc, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	// A table created later is granted by default privileges, before any call.
	testenv.Exec(t, "CREATE TABLE auth_t_roles_a.later (id int)")

	asRole := func(sql string) error {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, "SELECT set_config('role', $1, true)", role); err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, sql)
		return err
	}
	for _, ok := range []string{
		"SELECT * FROM auth_t_roles_a.items",
		"INSERT INTO auth_t_roles_a.items VALUES (2, 'x')",
		"SELECT * FROM auth_t_roles_a.later",
	} {
		if err := asRole(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, refused := range []string{
		"SELECT * FROM auth_t_roles_b.items",
		"DROP TABLE auth_t_roles_a.items",
		"CREATE TABLE auth_t_roles_a.mine (id int)",
		"SELECT * FROM pg_authid",
	} {
		err := asRole(refused)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s as the tenant role: %v, want permission denied (42501)", refused, err)
		}
	}
	var login, bypass bool
	if err := conn.QueryRow(ctx, "SELECT rolcanlogin, rolbypassrls FROM pg_roles WHERE rolname = $1", role).Scan(&login, &bypass); err != nil {
		t.Fatal(err)
	}
	if login || !bypass {
		t.Errorf("role %s: login %v, bypassrls %v; want no login, bypassrls (created by a superuser)", role, login, bypass)
	}
}
