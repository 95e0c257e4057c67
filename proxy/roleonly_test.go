package proxy

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

const roleOnlyDDL = `
CREATE TABLE pub (id int PRIMARY KEY, owner text NOT NULL);
INSERT INTO pub VALUES (1, 'alice'), (2, 'bob'), (3, 'alice');
CREATE TABLE mine (id int PRIMARY KEY, owner text NOT NULL, pub_id int REFERENCES pub);
INSERT INTO mine VALUES (1, 'alice', 1), (2, 'bob', 2), (3, 'bob', 1);
ALTER TABLE mine ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON mine USING (owner = current_setting('request.jwt.claims', true)::json->>'sub');
CREATE VIEW whoami AS SELECT current_setting('request.jwt.claims', true)::json->>'sub' AS sub,
  current_setting('request.method', true) AS method, current_setting('request.headers', true)::json->>'x-trace' AS trace;
GRANT USAGE ON SCHEMA rest_t_roleonly TO rest_t_anon, rest_t_user;
GRANT SELECT ON pub, mine, whoami TO rest_t_user;
`

// Reads of plain tables run with the role alone (ir.RoleOnly); whatever else a request
// reaches still sees every setting: row-level security the JWT's claims, a view the
// method and headers, wherever in the request they are, in both dialects. A table that
// gets row security later is read with its claims from the reload on.
func TestReadsSetTheSettingsTheirTablesCanSee(t *testing.T) {
	testenv.Exec(t, restRolesSQL)
	testenv.FreshSchema(t, "rest_t_roleonly", roleOnlyDDL)
	grantTenantRoles(t, "ro", "rest_t_user")
	ts := startServer(t, &control.Config{DefaultTenant: "ro", Tenants: []*control.TenantConfig{
		{Name: "ro", Schemas: []string{"rest_t_roleonly"}, Auth: &control.AuthConfig{JWTSecret: restSecret, AnonRole: "rest_t_anon"}},
	}})
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "rest_t_user"}).SignedString([]byte(restSecret))
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Authorization: Bearer " + tok
	// Each case twice: the second runs the cached plan.
	cases := []restCase{
		{name: "a plain table, all its rows", method: "GET", path: "/pub?select=id&order=id", headers: []string{bearer},
			status: 200, want: `[{"id":1},{"id":2},{"id":3}]`},
		{name: "a plain table runs as the anonymous role", method: "GET", path: "/pub?select=id", status: 401,
			want: `{"code":"42501","details":null,"hint":null,"message":"permission denied for table pub"}`},
		{name: "a row-secured table sees the claims", method: "GET", path: "/mine?select=id&order=id", headers: []string{bearer},
			status: 200, want: `[{"id":1}]`},
		{name: "a row-secured table embedded in a plain one", method: "GET", path: "/pub?select=id,mine(id)&order=id", headers: []string{bearer},
			status: 200, want: `[{"id":1,"mine":[{"id":1}]},{"id":2,"mine":[]},{"id":3,"mine":[]}]`},
		{name: "a row-secured table in a filter", method: "GET", path: "/pub?select=id,mine!inner(id)&order=id", headers: []string{bearer},
			status: 200, want: `[{"id":1,"mine":[{"id":1}]}]`},
		{name: "a view sees the method and the headers", method: "GET", path: "/whoami", headers: []string{bearer, "X-Trace: t-1"},
			status: 200, want: `[{"sub":"alice","method":"GET","trace":"t-1"}]`},
	}
	runRESTCasesAt(t, ts, "/t/ro/rest/v1", append(cases, cases...))
	gql := func(query, want string) {
		t.Helper()
		for range 2 {
			jsonEq(t, ts.gql("/t/ro/v1/graphql", query, nil, bearer).body, want)
		}
	}
	gql(`{ pub(order_by: {id: asc}) { id } }`, `{"data":{"pub":[{"id":1},{"id":2},{"id":3}]}}`)
	gql(`{ mine { id } }`, `{"data":{"mine":[{"id":1}]}}`)
	gql(`{ pub(order_by: {id: asc}) { id mines { id } } }`, `{"data":{"pub":[{"id":1,"mines":[{"id":1}]},{"id":2,"mines":[]},{"id":3,"mines":[]}]}}`)
	gql(`{ pub(where: {mines: {}}) { id } }`, `{"data":{"pub":[{"id":1}]}}`)
	gql(`{ whoami { sub method } }`, `{"data":{"whoami":[{"sub":"alice","method":"POST"}]}}`)

	testenv.Exec(t, `ALTER TABLE rest_t_roleonly.pub ENABLE ROW LEVEL SECURITY;
		CREATE POLICY own_rows ON rest_t_roleonly.pub USING (owner = current_setting('request.jwt.claims', true)::json->>'sub')`)
	want := `[{"id":1},{"id":3}]`
	var r response
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); sleepMs(20) {
		if r = ts.do("GET", "/t/ro/rest/v1/pub?select=id&order=id", "", bearer); r.body == want {
			break
		}
	}
	if r.body != want {
		t.Fatalf("after row security was enabled on pub: %d %s, want %s", r.status, r.body, want)
	}
	gql(`{ pub(order_by: {id: asc}) { id } }`, `{"data":{"pub":[{"id":1},{"id":3}]}}`)
}
