package proxy

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// The roles are cluster-wide: created idempotently, never dropped.
const restRolesSQL = `
DO $$BEGIN CREATE ROLE rest_t_anon NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN CREATE ROLE rest_t_user NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
`

const restAuthDDL = `
CREATE TABLE notes (id int PRIMARY KEY, owner text NOT NULL, body text);
INSERT INTO notes VALUES (1, 'alice', 'a1'), (2, 'bob', 'b1'), (3, 'alice', 'a2');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes USING (owner = current_setting('request.jwt.claims', true)::json->>'sub');
CREATE FUNCTION request_info() RETURNS json LANGUAGE sql STABLE AS $$
  SELECT json_build_object('role', current_user, 'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'sub', current_setting('request.jwt.claims', true)::json->>'sub',
    'x_trace', current_setting('request.headers', true)::json->>'x-trace')
$$;
GRANT USAGE ON SCHEMA rest_t_auth TO rest_t_anon, rest_t_user;
GRANT SELECT ON notes TO rest_t_user;
GRANT EXECUTE ON FUNCTION request_info() TO rest_t_anon, rest_t_user;
`

const restSecret = "rest-t-secret-rest-t-secret-0123456789"

func TestRESTRunsAsThePrincipal(t *testing.T) {
	testenv.Exec(t, restRolesSQL)
	testenv.FreshSchema(t, "rest_t_auth", restAuthDDL)
	grantTenantRoles(t, "sec", "rest_t_user")
	ts := startServer(t, &control.Config{DefaultTenant: "sec", Tenants: []*control.TenantConfig{
		{Name: "sec", Schemas: []string{"rest_t_auth"}, Auth: &control.AuthConfig{JWTSecret: restSecret, AnonRole: "rest_t_anon"}},
	}})
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "rest_t_user"}).SignedString([]byte(restSecret))
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Authorization: Bearer " + tok
	runRESTCasesAt(t, ts, "/t/sec/rest/v1", []restCase{
		{name: "row-level security sees the JWT's claims", method: "GET", path: "/notes?select=id&order=id", headers: []string{bearer},
			status: 200, want: `[{"id":1},{"id":3}]`},
		{name: "the request settings reach SQL", method: "GET", path: "/rpc/request_info", headers: []string{bearer, "X-Trace: t-1"},
			status: 200, want: `{"role":"rest_t_user","method":"GET","path":"/t/sec/rest/v1/rpc/request_info","sub":"alice","x_trace":"t-1"}`},
		{name: "anonymous requests run as the anonymous role", method: "GET", path: "/rpc/request_info",
			status: 200, want: `{"role":"rest_t_anon","method":"GET","path":"/t/sec/rest/v1/rpc/request_info","sub":null,"x_trace":null}`},
		{name: "a permission error is 401 for the anonymous role", method: "GET", path: "/notes", status: 401,
			want: `{"code":"42501","details":null,"hint":null,"message":"permission denied for table notes"}`},
		{name: "a permission error is 403 with a JWT", method: "DELETE", path: "/notes?id=eq.1", headers: []string{bearer}, status: 403,
			want: `{"code":"42501","details":null,"hint":null,"message":"permission denied for table notes"}`},
		{name: "a bad token is 401", method: "GET", path: "/notes", headers: []string{"Authorization: Bearer a.b.c"}, status: 401},
	})
}
