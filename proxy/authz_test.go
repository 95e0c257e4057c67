package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// The roles below are cluster-wide; they are created idempotently and never dropped, as
// other runs of this package may be using them.
const authRolesSQL = `
DO $$BEGIN
  CREATE ROLE auth_t_user NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN
  CREATE ROLE auth_t_reader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN
  CREATE ROLE auth_t_colreader NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN
  CREATE ROLE auth_t_nobody NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
`

// authDDL is a tenant whose notes are protected by row-level security keyed on the JWT's
// sub claim, as in PostgREST/Supabase.
const authDDL = `
CREATE TABLE notes (id int PRIMARY KEY, owner text NOT NULL, body text);
INSERT INTO notes VALUES (1, 'alice', 'a1'), (2, 'bob', 'b1'), (3, 'alice', 'a2');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes USING (owner = current_setting('request.jwt.claims', true)::json->>'sub');
CREATE VIEW whoami AS SELECT current_user::text AS name;
CREATE FUNCTION slow_value() RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT pg_sleep(3); SELECT 1 $$;
CREATE VIEW slow AS SELECT slow_value() AS v;
`

const authSecret = "auth-t-secret-auth-t-secret-0123456789"

func authGrants(schema string) string {
	return fmt.Sprintf(`
GRANT USAGE ON SCHEMA %[1]s TO auth_t_user, auth_t_reader, auth_t_colreader;
GRANT SELECT, INSERT, UPDATE, DELETE ON %[1]s.notes TO auth_t_user;
GRANT SELECT ON %[1]s.notes, %[1]s.whoami TO auth_t_reader, auth_t_user;
GRANT SELECT (id, body) ON %[1]s.notes TO auth_t_colreader;`, schema)
}

// authTenants serves two tenants with identically named tables: auth-t-a (JWT secret
// authSecret, audience "app") and auth-t-b (another secret).
func authTenants(t testing.TB, mutate func(*control.Config)) *testServer {
	t.Helper()
	testenv.Exec(t, authRolesSQL)
	testenv.FreshSchema(t, "auth_t_a", authDDL+authGrants("auth_t_a"))
	testenv.FreshSchema(t, "auth_t_b", authDDL+authGrants("auth_t_b")+
		`; UPDATE notes SET body = 'tenant-b ' || body`)
	for _, tenant := range []string{"auth-t-a", "auth-t-b"} {
		grantTenantRoles(t, tenant, "auth_t_user", "auth_t_reader", "auth_t_colreader", "auth_t_nobody")
	}
	cfg := &control.Config{AdminKey: "auth-t-admin", Tenants: []*control.TenantConfig{
		{Name: "auth-t-a", Schemas: []string{"auth_t_a"}, Auth: &control.AuthConfig{JWTSecret: authSecret, JWTAudience: "app"}},
		{Name: "auth-t-b", Schemas: []string{"auth_t_b"}, Auth: &control.AuthConfig{JWTSecret: authSecret + "-b", JWTAudience: "app"}},
	}}
	if mutate != nil {
		mutate(cfg)
	}
	return startServer(t, cfg)
}

func signHS(t testing.TB, secret string, m jwt.SigningMethod, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func userJWT(t testing.TB, sub, role string) string {
	return signHS(t, authSecret, jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "role": role, "aud": "app", "exp": time.Now().Add(time.Hour).Unix()})
}

func bearer(tok string) string { return "Authorization: Bearer " + tok }

func TestRowLevelSecurityFollowsTheJWT(t *testing.T) {
	ts := authTenants(t, nil)
	const q = "{ notes(order_by: {id: asc}) { id body } }"
	cases := []struct {
		name   string
		header string
		want   string
	}{
		{"alice sees only her notes", bearer(userJWT(t, "alice", "auth_t_user")),
			`{"data":{"notes":[{"id":1,"body":"a1"},{"id":3,"body":"a2"}]}}`},
		{"bob sees only his", bearer(userJWT(t, "bob", "auth_t_user")),
			`{"data":{"notes":[{"id":2,"body":"b1"}]}}`},
		{"a reader role is bound by the same policy", bearer(userJWT(t, "bob", "auth_t_reader")),
			`{"data":{"notes":[{"id":2,"body":"b1"}]}}`},
		{"a subject with no rows sees none", bearer(userJWT(t, "carol", "auth_t_user")),
			`{"data":{"notes":[]}}`},
		{"the admin key acts for the tenant and is not bound by its policies", "X-Kapok-Admin-Key: auth-t-admin",
			`{"data":{"notes":[{"id":1,"body":"a1"},{"id":2,"body":"b1"},{"id":3,"body":"a2"}]}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.gql("/t/auth-t-a/v1/graphql", q, nil, c.header)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			jsonEq(t, r.body, c.want)
		})
	}
	t.Run("requests run as the JWT's role, admin requests as the tenant's role", func(t *testing.T) {
		r := ts.gql("/t/auth-t-a/v1/graphql", "{ whoami { name } }", nil, bearer(userJWT(t, "alice", "auth_t_reader")))
		jsonEq(t, r.body, `{"data":{"whoami":[{"name":"auth_t_reader"}]}}`)
		r = ts.gql("/t/auth-t-a/v1/graphql", "{ whoami { name } }", nil, "X-Kapok-Admin-Key: auth-t-admin")
		jsonEq(t, r.body, `{"data":{"whoami":[{"name":"kapok_t_auth-t-a"}]}}`)
	})
	t.Run("a row the policy does not allow is refused with permission-error", func(t *testing.T) {
		r := ts.gql("/t/auth-t-a/v1/graphql", `mutation { insert_notes_one(object: {id: 7, owner: "bob", body: "forged"}) { id } }`,
			nil, bearer(userJWT(t, "alice", "auth_t_user")))
		if r.status != 200 || !strings.Contains(r.body, `"permission-error"`) || !strings.Contains(r.body, "row-level security") {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		r = ts.gql("/t/auth-t-a/v1/graphql", `mutation { insert_notes_one(object: {id: 7, owner: "alice", body: "mine"}) { id } }`,
			nil, bearer(userJWT(t, "alice", "auth_t_user")))
		jsonEq(t, r.body, `{"data":{"insert_notes_one":{"id":7}}}`)
	})
	t.Run("a role without INSERT cannot insert", func(t *testing.T) {
		r := ts.gql("/t/auth-t-a/v1/graphql", `mutation { insert_notes_one(object: {id: 8, owner: "bob", body: "x"}) { id } }`,
			nil, bearer(userJWT(t, "bob", "auth_t_reader")))
		if r.status != 200 || !strings.Contains(r.body, `"validation-failed"`) || strings.Contains(r.body, `"data"`) {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
}

func TestIntrospectionFollowsPrivileges(t *testing.T) {
	ts := authTenants(t, nil)
	const q = `{ notes: __type(name: "notes") { fields { name } } mutations: __type(name: "mutation_root") { fields { name } }
  whoami: __type(name: "whoami") { name } }`
	fields := func(r response, typ string) string {
		t.Helper()
		var out struct {
			Data map[string]*struct {
				Name   string
				Fields []struct{ Name string }
			}
		}
		if err := json.Unmarshal([]byte(r.body), &out); err != nil || out.Data == nil {
			t.Fatalf("%d %s", r.status, r.body)
		}
		v := out.Data[typ]
		if v == nil {
			return "absent"
		}
		var names []string
		for _, f := range v.Fields {
			names = append(names, f.Name)
		}
		sort.Strings(names)
		return strings.Join(names, ",")
	}
	cases := []struct {
		name, header        string
		notes, muts, whoami string
	}{
		{"the admin sees everything", "X-Kapok-Admin-Key: auth-t-admin", "body,id,owner",
			"delete_notes,delete_notes_by_pk,insert_notes,insert_notes_one,update_notes,update_notes_by_pk,update_notes_many", ""},
		{"a role with every privilege on notes", bearer(userJWT(t, "alice", "auth_t_user")), "body,id,owner",
			"delete_notes,delete_notes_by_pk,insert_notes,insert_notes_one,update_notes,update_notes_by_pk,update_notes_many", ""},
		{"a read-only role gets no mutations", bearer(userJWT(t, "alice", "auth_t_reader")), "body,id,owner", "absent", ""},
		{"a column grant shows those columns only", bearer(userJWT(t, "alice", "auth_t_colreader")), "body,id", "absent", "absent"},
		{"a role with no grant sees nothing", bearer(userJWT(t, "alice", "auth_t_nobody")), "absent", "absent", "absent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.gql("/t/auth-t-a/v1/graphql", q, nil, c.header)
			if got := fields(r, "notes"); got != c.notes {
				t.Errorf("notes fields: %s, want %s", got, c.notes)
			}
			if got := fields(r, "mutations"); got != c.muts {
				t.Errorf("mutations: %s, want %s", got, c.muts)
			}
			if got := fields(r, "whoami"); got != c.whoami {
				t.Errorf("whoami: %q, want %q", got, c.whoami)
			}
		})
	}
	t.Run("a column the role may not read cannot be queried", func(t *testing.T) {
		r := ts.gql("/t/auth-t-a/v1/graphql", "{ notes { owner } }", nil, bearer(userJWT(t, "alice", "auth_t_colreader")))
		if !strings.Contains(r.body, `"validation-failed"`) {
			t.Fatalf("%d %s", r.status, r.body)
		}
		// The columns it may read answer once the generated SQL names columns instead of
		// SELECT * (planner/sqlgen); until then Postgres refuses the statement, which must
		// surface as permission-error and never as data.
		r = ts.gql("/t/auth-t-a/v1/graphql", "{ notes(order_by: {id: asc}) { id body } }", nil, bearer(userJWT(t, "alice", "auth_t_colreader")))
		if !strings.Contains(r.body, `"permission-error"`) {
			jsonEq(t, r.body, `{"data":{"notes":[{"id":1,"body":"a1"},{"id":3,"body":"a2"}]}}`)
		}
	})
	t.Run("a GRANT is served without a restart", func(t *testing.T) {
		testenv.Exec(t, "GRANT INSERT ON auth_t_a.notes TO auth_t_reader")
		for i := 0; i < 100; i++ {
			r := ts.gql("/t/auth-t-a/v1/graphql", q, nil, bearer(userJWT(t, "alice", "auth_t_reader")))
			if strings.Contains(fields(r, "mutations"), "insert_notes_one") {
				return
			}
			sleepMs(20)
		}
		t.Fatal("the new grant is not in the reader's schema after 2s")
	})
}

func TestBadTokensAreRefusedWith401ThroughTheServer(t *testing.T) {
	ts := authTenants(t, nil)
	future := time.Now().Add(time.Hour).Unix()
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "alice", "role": "auth_t_user", "aud": "app", "exp": future}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token, message string
	}{
		{"an expired token", signHS(t, authSecret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "auth_t_user", "aud": "app",
			"exp": time.Now().Add(-time.Hour).Unix()}), "JWT expired"},
		{"a badly signed token", signHS(t, "not-the-secret-not-the-secret-0123456", jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice",
			"role": "auth_t_user", "aud": "app", "exp": future}), "signature is invalid"},
		{"a token for another audience", signHS(t, authSecret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "auth_t_user",
			"aud": "other", "exp": future}), "audience"},
		{"an unsigned token (alg none)", none, "JWT"},
		{"another tenant's valid token", signHS(t, authSecret+"-b", jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice",
			"role": "auth_t_user", "aud": "app", "exp": future}), "signature is invalid"},
		{"a malformed token", "a.b.c", "JWT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.gql("/t/auth-t-a/v1/graphql", "{ notes { id } }", nil, bearer(c.token))
			if r.status != 401 || !strings.Contains(r.body, `"invalid-jwt"`) || !strings.Contains(r.body, c.message) {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
		})
	}
	t.Run("no credentials on a tenant without an anonymous role", func(t *testing.T) {
		if r := ts.gql("/t/auth-t-a/v1/graphql", "{ notes { id } }", nil); r.status != 401 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	for _, role := range []string{"postgres", "kapok_t_auth-t-b", "pg_read_all_data"} {
		t.Run("a valid token may not pick the role "+role, func(t *testing.T) {
			r := ts.gql("/t/auth-t-a/v1/graphql", "{ notes { id } }", nil, bearer(userJWT(t, "alice", role)))
			if r.status != 403 || strings.Contains(r.body, `"data"`) {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
		})
	}
	t.Run("nor may the admin's x-hasura-role", func(t *testing.T) {
		r := ts.gql("/t/auth-t-a/v1/graphql", "{ notes { id } }", nil, "X-Kapok-Admin-Key: auth-t-admin", "X-Hasura-Role: postgres")
		if r.status != 403 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
}

func TestTenantsWithIdenticalTablesStayApart(t *testing.T) {
	ts := authTenants(t, nil)
	const q = "{ notes(order_by: {id: asc}) { body } }"
	r := ts.gql("/t/auth-t-b/v1/graphql", q, nil, "X-Kapok-Admin-Key: auth-t-admin")
	jsonEq(t, r.body, `{"data":{"notes":[{"body":"tenant-b a1"},{"body":"tenant-b b1"},{"body":"tenant-b a2"}]}}`)
	r = ts.gql("/t/auth-t-a/v1/graphql", q, nil, "X-Kapok-Admin-Key: auth-t-admin")
	jsonEq(t, r.body, `{"data":{"notes":[{"body":"a1"},{"body":"b1"},{"body":"a2"}]}}`)
	// Tenant b's token on tenant a's URL is refused: each tenant checks its own secret.
	tokB := signHS(t, authSecret+"-b", jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "auth_t_user", "aud": "app",
		"exp": time.Now().Add(time.Hour).Unix()})
	if r := ts.gql("/t/auth-t-a/v1/graphql", q, nil, bearer(tokB)); r.status != 401 {
		t.Fatalf("tenant b's token on tenant a: %d %s", r.status, r.body)
	}
	r = ts.gql("/t/auth-t-b/v1/graphql", q, nil, bearer(tokB))
	jsonEq(t, r.body, `{"data":{"notes":[{"body":"tenant-b a1"},{"body":"tenant-b a2"}]}}`)
	// Errors name only the tenant's own objects.
	for _, q := range []string{"{ auth_t_a_notes { id } }", "{ notes { nope } }", `{ __type(name: "notes") { name } }`} {
		r := ts.gql("/t/auth-t-b/v1/graphql", q, nil, "X-Kapok-Admin-Key: auth-t-admin")
		if strings.Contains(r.body, "auth_t_a\"") || strings.Contains(r.body, "auth_t_a.") || strings.Contains(r.body, "kapok_t_auth-t-a") {
			t.Fatalf("%s: the answer names tenant a: %s", q, r.body)
		}
	}
}

// limitsServer serves one tenant per limit under test, all on one schema.
func limitsServer(t testing.TB) *testServer {
	t.Helper()
	testenv.FreshSchema(t, "auth_t_limits", authDDL)
	tenant := func(name string, f func(*control.TenantConfig)) *control.TenantConfig {
		tc := &control.TenantConfig{Name: name, Schemas: []string{"auth_t_limits"}}
		f(tc)
		return tc
	}
	return startServer(t, &control.Config{Tenants: []*control.TenantConfig{
		tenant("auth-t-timeout", func(tc *control.TenantConfig) {
			tc.Limits = &control.Limits{StatementTimeout: control.Duration(300 * time.Millisecond)}
		}),
		tenant("auth-t-rate", func(tc *control.TenantConfig) { tc.Limits = &control.Limits{RateLimit: 0.5, RateBurst: 2} }),
		tenant("auth-t-cidr", func(tc *control.TenantConfig) { tc.AllowCIDRs = []string{"10.0.0.0/8", "192.168.1.7"} }),
		tenant("auth-t-body", func(tc *control.TenantConfig) { tc.Limits = &control.Limits{MaxBodyBytes: 200} }),
		tenant("auth-t-inflight", func(tc *control.TenantConfig) {
			tc.Pool = control.PoolConfig{MaxInFlight: 1, QueueTimeout: control.Duration(50 * time.Millisecond)}
		}),
	}})
}

// from sends a GraphQL request from the client address ip.
func (ts *testServer) from(ip, path, query string) response {
	ts.t.Helper()
	c := &fasthttp.Client{Dial: func(string) (net.Conn, error) {
		return ts.ln.DialWithLocalAddr(&net.TCPAddr{IP: net.ParseIP(ip), Port: 40000})
	}}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://kapok.test" + path)
	req.Header.SetMethod("POST")
	req.SetBodyString(`{"query":"` + query + `"}`)
	if err := c.DoTimeout(req, resp, 10*time.Second); err != nil {
		ts.t.Fatal(err)
	}
	return response{status: resp.StatusCode(), body: string(resp.Body())}
}

func TestTenantLimitsAreEnforcedAndCounted(t *testing.T) {
	ts := limitsServer(t)
	t.Run("a statement over the tenant's timeout is cancelled with a clear error", func(t *testing.T) {
		start := time.Now()
		r := ts.gql("/t/auth-t-timeout/v1/graphql", "{ slow { v } }", nil)
		if r.status != 200 || !strings.Contains(r.body, "statement timeout") {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("the 300ms timeout took %v", d)
		}
		if r := ts.gql("/t/auth-t-timeout/v1/graphql", "{ notes(limit: 1) { id } }", nil); !strings.Contains(r.body, `"data"`) {
			t.Fatalf("a fast query after the timeout: %s", r.body)
		}
	})
	t.Run("the rate limit answers 429 with Retry-After", func(t *testing.T) {
		var last response
		for i := 0; i < 3; i++ {
			last = ts.gql("/t/auth-t-rate/v1/graphql", "{ notes { id } }", nil)
		}
		if last.status != 429 || last.header["Retry-After"] == "" || !strings.Contains(last.body, "too-many-requests") {
			t.Fatalf("third request in a burst of 2: %d %v %s", last.status, last.header, last.body)
		}
	})
	t.Run("the IP allow-list answers 403 to other addresses", func(t *testing.T) {
		if r := ts.from("10.1.2.3", "/t/auth-t-cidr/v1/graphql", "{ notes { id } }"); r.status != 200 {
			t.Fatalf("allowed CIDR: %d %s", r.status, r.body)
		}
		if r := ts.from("192.168.1.7", "/t/auth-t-cidr/v1/graphql", "{ notes { id } }"); r.status != 200 {
			t.Fatalf("allowed address: %d %s", r.status, r.body)
		}
		if r := ts.from("192.168.1.8", "/t/auth-t-cidr/v1/graphql", "{ notes { id } }"); r.status != 403 || !strings.Contains(r.body, "access-denied") {
			t.Fatalf("other address: %d %s", r.status, r.body)
		}
	})
	t.Run("a body over the tenant's limit answers 413", func(t *testing.T) {
		big := "{ notes { id " + strings.Repeat(" ", 300) + "} }"
		if r := ts.gql("/t/auth-t-body/v1/graphql", big, nil); r.status != 413 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("requests over the tenant's in-flight cap answer 429", func(t *testing.T) {
		var wg sync.WaitGroup
		results := make([]response, 3)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				results[i] = ts.gql("/t/auth-t-inflight/v1/graphql", "{ slow { v } }", nil)
			}(i)
			time.Sleep(20 * time.Millisecond)
		}
		wg.Wait()
		n429 := 0
		for _, r := range results {
			if r.status == 429 {
				n429++
				if !strings.Contains(r.body, "too many requests in flight") {
					t.Errorf("429 body: %s", r.body)
				}
			}
		}
		if n429 == 0 {
			t.Fatalf("no request was refused: %+v", results)
		}
	})
	t.Run("every rejection is counted by reason", func(t *testing.T) {
		body := ts.do("GET", "/metrics", "").body
		for _, reason := range []string{"rate_limit", "ip_not_allowed", "body_too_large", "tenant_in_flight"} {
			if !strings.Contains(body, `kapok_rejected_requests_total{reason="`+reason+`"}`) {
				t.Errorf("/metrics has no rejection count for %s", reason)
			}
		}
	})
}

func TestRowLevelSecurityFollowsTheJWTOverREST(t *testing.T) {
	ts := authTenants(t, nil)
	get := func(header string) response {
		return ts.do("GET", "/t/auth-t-a/rest/v1/notes?select=id,body&order=id.asc", "", header)
	}
	r := get(bearer(userJWT(t, "alice", "auth_t_user")))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	jsonEq(t, r.body, `[{"id":1,"body":"a1"},{"id":3,"body":"a2"}]`)
	jsonEq(t, get(bearer(userJWT(t, "bob", "auth_t_reader"))).body, `[{"id":2,"body":"b1"}]`)
	jsonEq(t, get("X-Kapok-Admin-Key: auth-t-admin").body, `[{"id":1,"body":"a1"},{"id":2,"body":"b1"},{"id":3,"body":"a2"}]`)

	t.Run("a role without INSERT gets 403 (PostgREST's status for an authenticated role)", func(t *testing.T) {
		r := ts.do("POST", "/t/auth-t-a/rest/v1/notes", `{"id": 9, "owner": "bob", "body": "x"}`, bearer(userJWT(t, "bob", "auth_t_reader")))
		if r.status != 403 || !strings.Contains(r.body, `"42501"`) {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("a row the policy refuses gets 403", func(t *testing.T) {
		r := ts.do("POST", "/t/auth-t-a/rest/v1/notes", `{"id": 9, "owner": "bob", "body": "x"}`, bearer(userJWT(t, "alice", "auth_t_user")))
		if r.status != 403 || !strings.Contains(r.body, "row-level security") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("bad tokens and reserved roles are refused", func(t *testing.T) {
		expired := signHS(t, authSecret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "auth_t_user", "aud": "app",
			"exp": time.Now().Add(-time.Hour).Unix()})
		if r := get(bearer(expired)); r.status != 401 {
			t.Fatalf("expired: %d %s", r.status, r.body)
		}
		if r := get(bearer(userJWT(t, "alice", "postgres"))); r.status != 403 {
			t.Fatalf("role postgres: %d %s", r.status, r.body)
		}
	})
}
