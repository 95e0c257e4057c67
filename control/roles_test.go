package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
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
	for _, r := range []string{"kapok_t_other", "KAPOK_T_other", "pg_read_all_data", "PG_x", "", "none", "NONE", "None",
		"default", "public", "current_user", "session_user", "current_role"} {
		if !IsReservedRole(r) {
			t.Errorf("%q is not reserved", r)
		}
	}
	for _, r := range []string{"authenticated", "anon", "nonexistent", "pgx_user", "kapok_admin"} {
		if IsReservedRole(r) {
			t.Errorf("%q is reserved", r)
		}
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

// The roles are cluster-wide: created idempotently, never dropped. Membership:
// rr_user -> rr_nested; rr_sneaky -> rr_bypass (BYPASSRLS); rr_reader -> pg_read_all_data.
const requestRolesSQL = `
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['control_t_rr_user', 'control_t_rr_nested', 'control_t_rr_anon', 'control_t_rr_key',
    'control_t_rr_sneaky', 'control_t_rr_reader', 'control_t_rr_stranger', 'kapok_t_control_t_rr_other'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN EXECUTE format('CREATE ROLE %I NOLOGIN', r); END IF;
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'control_t_rr_bypass') THEN CREATE ROLE control_t_rr_bypass NOLOGIN BYPASSRLS; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'control_t_rr_creator') THEN CREATE ROLE control_t_rr_creator NOLOGIN CREATEROLE; END IF;
END $$;
GRANT control_t_rr_nested TO control_t_rr_user;
GRANT control_t_rr_bypass TO control_t_rr_sneaky;
GRANT pg_read_all_data TO control_t_rr_reader;
`

func TestRequestRolesAreTheGrantedUnprivilegedOnes(t *testing.T) {
	ctx := context.Background()
	conn := testenv.Conn(t)
	testenv.Exec(t, requestRolesSQL)
	tc := &TenantConfig{Name: "control-t-rr", Isolation: IsolationRole, Auth: &AuthConfig{AnonRole: "control_t_rr_anon",
		APIKeys: map[string]string{"k1": "control_t_rr_key", "k2": "control_t_rr_sneaky", "k3": "postgres", "k4": "none", "k5": "kapok_t_control_t_rr_other"}}}
	role, err := EnsureTenantRole(ctx, conn, tc, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Exec(t, `GRANT control_t_rr_user, control_t_rr_bypass, control_t_rr_creator, control_t_rr_reader TO "`+role+`"`)

	t.Run("configured roles are granted to the tenant's role, privileged ones never", func(t *testing.T) {
		for r, want := range map[string]bool{"control_t_rr_anon": true, "control_t_rr_key": true,
			"control_t_rr_sneaky": false, "postgres": false, "kapok_t_control_t_rr_other": false} {
			var got bool
			if err := conn.QueryRow(ctx, "SELECT pg_has_role($1, $2, 'MEMBER')", role, r).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s granted to %s: %v, want %v", r, role, got, want)
			}
		}
	})
	t.Run("usable roles are the granted ones that cannot reach past the tenant", func(t *testing.T) {
		rr, err := LoadRequestRoles(ctx, conn, tc, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		if rr.Default != role {
			t.Errorf("default role %q, want %q", rr.Default, role)
		}
		if got, want := usableList(rr), "control_t_rr_anon,control_t_rr_key,control_t_rr_nested,control_t_rr_user"; got != want {
			t.Errorf("usable %s, want %s", got, want)
		}
	})
	t.Run("under isolation login requests without a role run as the pool's login", func(t *testing.T) {
		lc := *tc
		lc.Isolation = IsolationLogin
		rr, err := LoadRequestRoles(ctx, conn, &lc, "postgres")
		if err != nil || rr.Default != "" || len(rr.Usable) != 4 {
			t.Fatalf("%+v %v", rr, err)
		}
	})
	t.Run("under isolation none a superuser login is replaced by the tenant's role", func(t *testing.T) {
		nc := *tc
		nc.Isolation = IsolationNone
		rr, err := LoadRequestRoles(ctx, conn, &nc, "postgres")
		if err != nil || rr.Default != role || len(rr.Usable) != 4 {
			t.Fatalf("%+v %v", rr, err)
		}
	})
	t.Run("under isolation none an unprivileged login serves as itself, with the roles granted to it", func(t *testing.T) {
		nc := *tc
		nc.Isolation = IsolationNone
		rr, err := LoadRequestRoles(ctx, conn, &nc, "control_t_rr_user")
		if err != nil {
			t.Fatal(err)
		}
		if rr.Default != "" || usableList(rr) != "control_t_rr_nested" {
			t.Fatalf("default %q, usable %s", rr.Default, usableList(rr))
		}
	})
	t.Run("a login role that does not exist makes nothing usable", func(t *testing.T) {
		nc := *tc
		nc.Isolation = IsolationNone
		rr, err := LoadRequestRoles(ctx, conn, &nc, "control_t_rr_missing")
		if err != nil || rr.Default != "" || len(rr.Usable) != 0 {
			t.Fatalf("%+v %v", rr, err)
		}
	})
}

func usableList(rr *RequestRoles) string {
	var names []string
	for n := range rr.Usable {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func TestTwoDatabasesCreatingOneTenantRoleAtOnceBothSucceed(t *testing.T) {
	// A database tenant's role is made from its own database (its first load) and from the
	// control database (provisioning, tests) at once; advisory locks do not span databases.
	var roles []string
	// Registered first, so it runs after the private database is gone: the roles then hold
	// privileges in the control database only.
	t.Cleanup(func() {
		for _, role := range roles {
			testenv.Exec(t, `DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+role+`') THEN
  DROP OWNED BY "`+role+`"; DROP ROLE "`+role+`"; END IF; END $$`)
		}
	})
	other := testenv.ConnTo(t, testenv.FreshDatabase(t, "control_t_roles_race"))
	main := testenv.Conn(t)
	ctx := context.Background()
	for i := range 10 {
		tc := &TenantConfig{Name: fmt.Sprintf("roles-race-%d-%d", os.Getpid(), i), Schemas: []string{"public"}}
		roles = append(roles, TenantRole(tc.Name))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, c := range []*pgx.Conn{main, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[j] = EnsureTenantRole(ctx, c, tc, "")
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
	}
}
