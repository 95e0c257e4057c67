package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// grantTenantRoles makes roles usable by tenant's requests: it creates the tenant's role
// (as the server would at start) and grants each role to it. Call it before startServer.
func grantTenantRoles(t testing.TB, tenant string, roles ...string) {
	t.Helper()
	c := testenv.Conn(t)
	if _, err := control.EnsureTenantRole(context.Background(), c, &control.TenantConfig{Name: tenant}, "postgres"); err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		testenv.Exec(t, "GRANT "+pgx.Identifier{r}.Sanitize()+" TO "+pgx.Identifier{control.TenantRole(tenant)}.Sanitize())
	}
}

// The roles are cluster-wide: created idempotently, never dropped. roles_t_user is granted to
// the tenant; roles_t_stranger exists but is not; roles_t_bypass has BYPASSRLS and
// roles_t_sneaky is a plain role that may become roles_t_bypass; both are granted.
const requestRolesSQL = `
DO $$BEGIN CREATE ROLE roles_t_user NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN CREATE ROLE roles_t_stranger NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN CREATE ROLE roles_t_bypass NOLOGIN BYPASSRLS; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN CREATE ROLE roles_t_sneaky NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN CREATE ROLE roles_t_later NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
GRANT roles_t_bypass TO roles_t_sneaky;
`

// requestRolesDDL is a tenant whose notes are protected by row-level security, readable by
// every role above, so only the role check stands between a token and the rows.
const requestRolesDDL = `
CREATE TABLE notes (id int PRIMARY KEY, owner text NOT NULL);
INSERT INTO notes VALUES (1, 'alice'), (2, 'bob');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes USING (owner = current_setting('request.jwt.claims', true)::json->>'sub');
CREATE VIEW whoami AS SELECT current_user::text AS name;
GRANT USAGE ON SCHEMA roles_t_a TO PUBLIC;
GRANT SELECT ON notes, whoami TO PUBLIC;
`

func requestRolesServer(t *testing.T) *testServer {
	t.Helper()
	testenv.Exec(t, requestRolesSQL)
	testenv.FreshSchema(t, "roles_t_a", requestRolesDDL)
	testenv.FreshSchema(t, "roles_t_b", "CREATE TABLE notes (id int)")
	grantTenantRoles(t, "roles-t-a", "roles_t_user", "roles_t_bypass", "roles_t_sneaky")
	testenv.Exec(t, `REVOKE roles_t_later FROM "kapok_t_roles-t-a"`)
	grantTenantRoles(t, "roles-t-b")
	return startServer(t, &control.Config{AdminKey: "roles-t-admin", Tenants: []*control.TenantConfig{
		{Name: "roles-t-a", Schemas: []string{"roles_t_a"}, Auth: &control.AuthConfig{JWTSecret: authSecret, JWTAudience: "app",
			APIKeys: map[string]string{"roles-t-key-none": "none", "roles-t-key-empty": ""}}},
		{Name: "roles-t-b", Schemas: []string{"roles_t_b"}},
	}})
}

// hasuraJWT is a token whose default role is def and whose allowed roles are allowed.
func hasuraJWT(t testing.TB, sub, def string, allowed ...string) string {
	return signHS(t, authSecret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "aud": "app", "exp": time.Now().Add(time.Hour).Unix(),
		"https://hasura.io/jwt/claims": map[string]any{"x-hasura-default-role": def, "x-hasura-allowed-roles": allowed}})
}

// TestARequestRoleMustBeAGrantedUnprivilegedRole checks that no credential can make a request
// run as a role the tenant may not use, and that every refusal reads the same, so a caller
// cannot learn which roles exist.
func TestARequestRoleMustBeAGrantedUnprivilegedRole(t *testing.T) {
	ts := requestRolesServer(t)
	const gqlPath, restPath = "/t/roles-t-a/v1/graphql", "/t/roles-t-a/rest/v1/notes?select=id&order=id"
	const q = "{ notes(order_by: {id: asc}) { id } }"
	const gqlRefusal = `{"errors":[{"message":"the request's role may not be used with this tenant","extensions":{"code":"access-denied","path":"$"}}]}`
	const restRefusal = `{"code":"42501","details":null,"hint":null,"message":"the request's role may not be used with this tenant"}`
	refused := []struct {
		name    string
		headers []string
	}{
		{"a JWT role of none (RESET ROLE)", []string{bearer(userJWT(t, "alice", "none"))}},
		{"a JWT role of NONE", []string{bearer(userJWT(t, "alice", "NONE"))}},
		{"a JWT role of None", []string{bearer(userJWT(t, "alice", "None"))}},
		{"a JWT role of default", []string{bearer(userJWT(t, "alice", "default"))}},
		{"a JWT role of public", []string{bearer(userJWT(t, "alice", "public"))}},
		{"a JWT role of current_user", []string{bearer(userJWT(t, "alice", "current_user"))}},
		{"a predefined role", []string{bearer(userJWT(t, "alice", "pg_read_all_data"))}},
		{"the superuser the pool logs in as", []string{bearer(userJWT(t, "alice", "postgres"))}},
		{"a granted role with BYPASSRLS", []string{bearer(userJWT(t, "alice", "roles_t_bypass"))}},
		{"a granted role that may become a BYPASSRLS role", []string{bearer(userJWT(t, "alice", "roles_t_sneaky"))}},
		{"another tenant's role", []string{bearer(userJWT(t, "alice", "kapok_t_roles-t-b"))}},
		{"the tenant's own role", []string{bearer(userJWT(t, "alice", "kapok_t_roles-t-a"))}},
		{"an existing role not granted to the tenant", []string{bearer(userJWT(t, "alice", "roles_t_stranger"))}},
		{"a role that does not exist", []string{bearer(userJWT(t, "alice", "roles_t_no_such_role"))}},
		{"x-hasura-default-role none", []string{bearer(hasuraJWT(t, "alice", "none", "none"))}},
		{"x-hasura-role none among the JWT's allowed roles", []string{bearer(hasuraJWT(t, "alice", "roles_t_user", "roles_t_user", "none")), "X-Hasura-Role: none"}},
		{"x-hasura-role postgres among the JWT's allowed roles", []string{bearer(hasuraJWT(t, "alice", "roles_t_user", "roles_t_user", "postgres")), "X-Hasura-Role: postgres"}},
		{"the admin key acting as none", []string{"X-Kapok-Admin-Key: roles-t-admin", "X-Hasura-Role: none"}},
		{"the admin key acting as a role that does not exist", []string{"X-Kapok-Admin-Key: roles-t-admin", "X-Hasura-Role: roles_t_no_such_role"}},
		{"an API key mapped to none", []string{"apikey: roles-t-key-none"}},
		{"an API key mapped to no role", []string{"apikey: roles-t-key-empty"}},
	}
	for _, c := range refused {
		t.Run(c.name+" is refused over GraphQL", func(t *testing.T) {
			r := ts.gql(gqlPath, q, nil, c.headers...)
			if r.status != 403 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			jsonEq(t, r.body, gqlRefusal)
		})
		t.Run(c.name+" is refused over REST", func(t *testing.T) {
			r := ts.do("GET", restPath, "", c.headers...)
			if r.status != 403 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			jsonEq(t, r.body, restRefusal)
		})
	}

	t.Run("a granted role runs as itself and row-level security still applies", func(t *testing.T) {
		tok := bearer(userJWT(t, "alice", "roles_t_user"))
		jsonEq(t, ts.gql(gqlPath, q, nil, tok).body, `{"data":{"notes":[{"id":1}]}}`)
		jsonEq(t, ts.gql(gqlPath, "{ whoami { name } }", nil, tok).body, `{"data":{"whoami":[{"name":"roles_t_user"}]}}`)
		jsonEq(t, ts.do("GET", restPath, "", tok).body, `[{"id":1}]`)
	})
	t.Run("x-hasura-role and the admin key's role reach a granted role", func(t *testing.T) {
		r := ts.gql(gqlPath, "{ whoami { name } }", nil, bearer(hasuraJWT(t, "bob", "roles_t_stranger", "roles_t_user")), "X-Hasura-Role: roles_t_user")
		jsonEq(t, r.body, `{"data":{"whoami":[{"name":"roles_t_user"}]}}`)
		r = ts.gql(gqlPath, q, nil, "X-Kapok-Admin-Key: roles-t-admin", "X-Hasura-Role: roles_t_user")
		jsonEq(t, r.body, `{"data":{"notes":[]}}`)
	})
	t.Run("the admin key alone runs as the tenant's role", func(t *testing.T) {
		r := ts.gql(gqlPath, "{ whoami { name } }", nil, "X-Kapok-Admin-Key: roles-t-admin")
		jsonEq(t, r.body, `{"data":{"whoami":[{"name":"kapok_t_roles-t-a"}]}}`)
	})
	t.Run("a role granted while serving becomes usable", func(t *testing.T) {
		tok := bearer(userJWT(t, "alice", "roles_t_later"))
		if r := ts.gql(gqlPath, q, nil, tok); r.status != 403 {
			t.Fatalf("before the grant: %d %s", r.status, r.body)
		}
		testenv.Exec(t, `GRANT roles_t_later TO "kapok_t_roles-t-a"`)
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := ts.gql(gqlPath, q, nil, tok)
			if r.status == 200 {
				jsonEq(t, r.body, `{"data":{"notes":[{"id":1}]}}`)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the granted role is still refused: %d %s", r.status, r.body)
			}
			sleepMs(100)
		}
	})
}

// TestASuperuserLoginNeverServesRequests serves a tenant with isolation "none" (as
// `kapok serve --upstream postgres://postgres@…` does) through the dev stack's superuser
// login: requests run as the tenant's own role instead, and a token cannot reset to the login.
func TestASuperuserLoginNeverServesRequests(t *testing.T) {
	testenv.Exec(t, requestRolesSQL)
	testenv.FreshSchema(t, "roles_t_none", `
CREATE TABLE notes (id int PRIMARY KEY, owner text NOT NULL);
INSERT INTO notes VALUES (1, 'alice'), (2, 'bob');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes USING (owner = current_setting('request.jwt.claims', true)::json->>'sub');
CREATE VIEW whoami AS SELECT current_user::text AS name;
GRANT USAGE ON SCHEMA roles_t_none TO roles_t_user;
GRANT SELECT ON notes, whoami TO roles_t_user;`)
	testenv.FreshSchema(t, "roles_t_none_other", "CREATE TABLE secret (v text); INSERT INTO secret VALUES ('x')")
	grantTenantRoles(t, "roles-t-none", "roles_t_user")
	ts := startServer(t, &control.Config{AdminKey: "roles-t-admin", Tenants: []*control.TenantConfig{
		{Name: "roles-t-none", Schemas: []string{"roles_t_none"}, Isolation: control.IsolationNone,
			Auth: &control.AuthConfig{JWTSecret: authSecret, JWTAudience: "app"}},
	}})
	open := startServer(t, &control.Config{Tenants: []*control.TenantConfig{
		{Name: "roles-t-open", Schemas: []string{"roles_t_none"}, Isolation: control.IsolationNone},
	}})
	t.Run("the admin key runs as the tenant's role, not the superuser login", func(t *testing.T) {
		r := ts.gql("/t/roles-t-none/v1/graphql", "{ whoami { name } }", nil, "X-Kapok-Admin-Key: roles-t-admin")
		jsonEq(t, r.body, `{"data":{"whoami":[{"name":"kapok_t_roles-t-none"}]}}`)
	})
	t.Run("an open tenant runs as the tenant's role, not the superuser login", func(t *testing.T) {
		r := open.gql("/t/roles-t-open/v1/graphql", "{ whoami { name } }", nil)
		jsonEq(t, r.body, `{"data":{"whoami":[{"name":"kapok_t_roles-t-open"}]}}`)
	})
	t.Run("a JWT role of none is refused", func(t *testing.T) {
		r := ts.gql("/t/roles-t-none/v1/graphql", "{ notes { id } }", nil, bearer(userJWT(t, "alice", "none")))
		if r.status != 403 || strings.Contains(r.body, `"data"`) {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("a granted JWT role is bound by row-level security", func(t *testing.T) {
		r := ts.gql("/t/roles-t-none/v1/graphql", "{ notes { id } }", nil, bearer(userJWT(t, "alice", "roles_t_user")))
		jsonEq(t, r.body, `{"data":{"notes":[{"id":1}]}}`)
	})
	t.Run("the tenant's role reaches nothing outside its schemas", func(t *testing.T) {
		var ok, super bool
		if err := testenv.Conn(t).QueryRow(context.Background(), `SELECT has_schema_privilege($1, 'roles_t_none_other', 'USAGE'), rolsuper
			FROM pg_roles WHERE rolname = $1`, control.TenantRole("roles-t-open")).Scan(&ok, &super); err != nil || ok || super {
			t.Fatalf("usage %v, superuser %v (%v)", ok, super, err)
		}
	})
}

// TestTheRoleCheckStaysWithinTheAllocationBudget checks that a cached JWT request, whose role
// is checked against the tenant's usable roles, allocates no more than an admin request.
func TestTheRoleCheckStaysWithinTheAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector; make test runs this without it")
	}
	ts := requestRolesServer(t)
	ts.srv.api.run = fakeResult
	body := `{"query":"query Q($id: Int!) { notes_by_pk(id: $id) { id } }","variables":{"id":1},"operationName":"Q"}`
	ctx := newCtx("/t/roles-t-a/v1/graphql", body, "Authorization", "Bearer "+userJWT(t, "alice", "roles_t_user"))
	h := ts.srv.Handler()
	h(ctx)
	ts.srv.api.plans.c.Wait()
	ctx.Response.Reset()
	h(ctx)
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	allocs := testing.AllocsPerRun(200, func() {
		ctx.Response.Reset()
		h(ctx)
	})
	t.Logf("JWT cache hit: %.1f allocations per request", allocs)
	if allocs > cacheHitAllocBudget {
		t.Fatalf("a JWT cache hit allocates %.1f times, budget %d", allocs, cacheHitAllocBudget)
	}
}

// TestTheUsableRolesAreReloadedBoundedly checks the cache in front of the database: a
// role the set lacks reloads it at most once per rolesRetry, however many requests name
// unknown roles, and a set older than rolesMaxAge is reloaded before it grants a role, so a
// revoked role is refused.
func TestTheUsableRolesAreReloadedBoundedly(t *testing.T) {
	loads := 0
	granted := map[string]struct{}{"app_user": {}}
	r := &requestRoles{load: func(context.Context) (*control.RequestRoles, error) {
		loads++
		u := map[string]struct{}{}
		for k := range granted {
			u[k] = struct{}{}
		}
		return &control.RequestRoles{Usable: u}, nil
	}}
	t.Run("unknown roles reload the set once per interval", func(t *testing.T) {
		for i := 0; i < 100; i++ {
			if r.usable("made_up_" + string(rune('a'+i%26))) {
				t.Fatal("an unknown role was usable")
			}
		}
		if loads != 1 {
			t.Fatalf("%d loads for 100 unknown roles, want 1", loads)
		}
		if !r.usable("app_user") || loads != 1 {
			t.Fatalf("a loaded role: loads %d", loads)
		}
	})
	t.Run("a role granted since is found on the next reload", func(t *testing.T) {
		granted["later"] = struct{}{}
		r.tried = time.Now().Add(-rolesRetry)
		if !r.usable("later") || loads != 2 {
			t.Fatalf("the granted role was refused (loads %d)", loads)
		}
	})
	t.Run("a stale set is reloaded before it grants, so a revoked role is refused", func(t *testing.T) {
		delete(granted, "app_user")
		cur := r.cur.Load()
		r.cur.Store(&loadedRoles{RequestRoles: cur.RequestRoles, at: time.Now().Add(-rolesMaxAge - time.Second)})
		r.tried = time.Now().Add(-rolesMaxAge - time.Second)
		if r.usable("app_user") {
			t.Fatal("a revoked role stayed usable past rolesMaxAge")
		}
		if loads != 3 {
			t.Fatalf("%d loads, want 3", loads)
		}
	})
	t.Run("reserved names never reach the set", func(t *testing.T) {
		granted["none"] = struct{}{}
		r.tried = time.Time{}
		if r.usable("none") || r.usable("") {
			t.Fatal("a reserved name was usable")
		}
	})
}
