package proxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestTenantKeysResolveToSupabasesRoles(t *testing.T) {
	const secret = "supa-t-secret-supa-t-secret-0123456789"
	ac := &control.AuthConfig{JWTSecret: secret, AnonRole: "web_anon"}
	keys, err := control.KeysFor("shop", ac)
	if err != nil {
		t.Fatal(err)
	}
	a := mustAuth(t, "adm1n", ac)
	foreign := hs256(t, secret, jwt.MapClaims{"role": "service_role", "iss": "someone-else"})
	other, err := control.KeysFor("shop", &control.AuthConfig{JWTSecret: "another-secret-another-secret-0123"})
	if err != nil {
		t.Fatal(err)
	}
	// Another tenant with the same secret (one identity provider for many tenants).
	neighbour, err := control.KeysFor("shop2", ac)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		headers map[string]string
		admin   bool
		role    string
		status  int
	}{
		{"the anon key as apikey runs as the anonymous role", map[string]string{"apikey": keys.Anon}, false, "web_anon", 0},
		{"the anon key as apikey and bearer, as supabase-js sends it", map[string]string{"apikey": keys.Anon, "Authorization": "Bearer " + keys.Anon}, false, "web_anon", 0},
		{"the service_role key runs as the tenant's own role", map[string]string{"apikey": keys.ServiceRole, "Authorization": "Bearer " + keys.ServiceRole}, true, "", 0},
		{"the service_role key may act as a role, as the admin key may", map[string]string{"apikey": keys.ServiceRole, "X-Hasura-Role": "web_anon"}, true, "web_anon", 0},
		{"a service_role claim from another issuer is an ordinary role", map[string]string{"Authorization": "Bearer " + foreign}, false, "service_role", 0},
		{"a key signed with another secret is refused", map[string]string{"apikey": other.ServiceRole}, false, "", 401},
		{"another tenant's service_role key under the same secret is refused", map[string]string{"apikey": neighbour.ServiceRole}, false, "", 401},
		{"another tenant's anon key under the same secret is refused", map[string]string{"apikey": neighbour.Anon, "Authorization": "Bearer " + neighbour.Anon}, false, "", 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := a.authenticate(reqWith(c.headers))
			if c.status != 0 {
				ae, ok := err.(*authError)
				if !ok || ae.status != c.status {
					t.Fatalf("got %+v, %v; want status %d", p, err, c.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Admin != c.admin || p.Role != c.role {
				t.Fatalf("got admin=%v role=%q", p.Admin, p.Role)
			}
		})
	}
	t.Run("the keys carry Supabase's claims and do not change between calls", func(t *testing.T) {
		again, _ := control.KeysFor("shop", ac)
		if again != keys {
			t.Fatal("keys changed between two calls")
		}
		var c map[string]any
		p, _ := a.authenticate(reqWith(map[string]string{"apikey": keys.Anon}))
		if err := json.Unmarshal(p.Claims, &c); err != nil {
			t.Fatal(err)
		}
		if c["role"] != "anon" || c["iss"] != "kapok" || c["ref"] != "shop" || c["exp"] == nil || c["iat"] == nil {
			t.Fatalf("claims %v", c)
		}
	})
	t.Run("a tenant without a shared secret has no keys", func(t *testing.T) {
		for _, ac := range []*control.AuthConfig{nil, {AnonRole: "a"}, {JWTSecret: "-----BEGIN PUBLIC KEY-----\n"}} {
			if _, err := control.KeysFor("shop", ac); err == nil {
				t.Fatalf("%+v: keys signed", ac)
			}
		}
	})
	t.Run("an anon key of a tenant without an anonymous role is refused", func(t *testing.T) {
		_, err := mustAuth(t, "", &control.AuthConfig{JWTSecret: secret}).authenticate(reqWith(map[string]string{"apikey": keys.Anon}))
		if ae, ok := err.(*authError); !ok || ae.status != 401 {
			t.Fatalf("got %v", err)
		}
	})
}

func TestAnOpenTenantTakesAnyKeyAsAnon(t *testing.T) {
	a := mustAuth(t, "", nil)
	for _, h := range []map[string]string{
		{"apikey": "anything"},
		{"Authorization": "Bearer some.jwt.value", "apikey": "x"},
		{"Authorization": "Bearer not-a-jwt"},
	} {
		p, err := a.authenticate(reqWith(h))
		if err != nil || !p.Admin || p.Role != "" {
			t.Fatalf("%v: got %+v, %v", h, p, err)
		}
	}
}

const supaDDL = `
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items VALUES (1, 'one'), (2, 'two');
CREATE FUNCTION whoami() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_user::text $$;
GRANT USAGE ON SCHEMA supa_t_keys TO rest_t_anon;
GRANT EXECUTE ON FUNCTION whoami() TO rest_t_anon;
`

func TestSupabaseJSDefaultsWork(t *testing.T) {
	testenv.Exec(t, restRolesSQL)
	testenv.FreshSchema(t, "supa_t_keys", supaDDL)
	testenv.FreshSchema(t, "supa_t_open", "CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (7);")
	testenv.FreshSchema(t, "supa_t_open2", "CREATE TABLE things (id int PRIMARY KEY); INSERT INTO things VALUES (8);")
	const secret = "supa-t-secret-supa-t-secret-0123456789"
	auth := &control.AuthConfig{JWTSecret: secret, AnonRole: "rest_t_anon"}
	ts := startServer(t, &control.Config{AdminKey: "supa-admin", Tenants: []*control.TenantConfig{
		{Name: "supakeys", Schemas: []string{"supa_t_keys"}, Auth: auth},
		{Name: "supanokeys", Schemas: []string{"supa_t_open"}},
	}})
	// Open: no admin key and no auth settings, as the demo of make run.
	open := startServer(t, &control.Config{Tenants: []*control.TenantConfig{
		{Name: "supaopen", Schemas: []string{"supa_t_open", "supa_t_open2"}},
	}})
	// kapok dev: the stack's own admin key guards the admin API; the tenants with no auth
	// section stay open, as the README's first requests (no key) need.
	dev := startServer(t, &control.Config{AdminKey: "supa-dev-admin", OpenWithoutAuth: true, Tenants: []*control.TenantConfig{
		{Name: "supadevopen", Schemas: []string{"supa_t_open"}},
		{Name: "supadevauth", Schemas: []string{"supa_t_open2"}, Auth: &control.AuthConfig{JWTSecret: secret}},
	}})
	keys, err := control.KeysFor("supakeys", auth)
	if err != nil {
		t.Fatal(err)
	}
	anon := []string{"apikey: " + keys.Anon, "Authorization: Bearer " + keys.Anon}
	service := []string{"apikey: " + keys.ServiceRole, "Authorization: Bearer " + keys.ServiceRole}
	runRESTCasesAt(t, ts, "/t/supakeys/rest/v1", []restCase{
		{name: "the anon key runs as the anonymous role", method: "GET", path: "/rpc/whoami", headers: anon, status: 200, want: `"rest_t_anon"`},
		{name: "the anon key gets no more than the anonymous role", method: "GET", path: "/items", headers: anon, status: 403},
		{name: "the service_role key reads every table", method: "GET", path: "/items?select=id&order=id", headers: service, status: 200, want: `[{"id":1},{"id":2}]`},
		{name: "the service_role key cannot reset the role", method: "GET", path: "/items", headers: append([]string{"X-Hasura-Role: none"}, service...), status: 403},
		{name: "the service_role key cannot take a pg_ role", method: "GET", path: "/items", headers: append([]string{"X-Hasura-Role: pg_read_all_data"}, service...), status: 403},
		{name: "the service_role key cannot take the login role", method: "GET", path: "/items", headers: append([]string{"X-Hasura-Role: postgres"}, service...), status: 403},
		{name: "the profile public names the tenant's schema", method: "GET", path: "/items?select=id&id=eq.2", headers: append([]string{"Accept-Profile: public"}, service...), status: 200, want: `[{"id":2}]`},
		{name: "the profile public also names it for writes", method: "PATCH", path: "/items?id=eq.2", body: `{"name":"deux"}`, headers: append([]string{"Content-Profile: public", "Prefer: return=representation"}, service...), status: 200, want: `[{"id":2,"name":"deux"}]`},
	})
	runRESTCasesAt(t, open, "/t/supaopen/rest/v1", []restCase{
		{name: "an open tenant takes any key", method: "GET", path: "/items", headers: []string{"apikey: anything", "Authorization: Bearer anything"}, status: 200, want: `[{"id":7}]`},
		{name: "an open tenant's profile public is its first schema", method: "GET", path: "/items", headers: []string{"apikey: x", "Accept-Profile: public"}, status: 200, want: `[{"id":7}]`},
		{name: "a second schema is still chosen by name", method: "GET", path: "/things", headers: []string{"apikey: x", "Accept-Profile: supa_t_open2"}, status: 200, want: `[{"id":8}]`},
		{name: "an unknown profile is still refused", method: "GET", path: "/items", headers: []string{"Accept-Profile: nope"}, status: 406},
	})

	runRESTCasesAt(t, dev, "/t/supadevopen/rest/v1", []restCase{
		{name: "kapok dev: a tenant with no auth section answers no key", method: "GET", path: "/items", status: 200, want: `[{"id":7}]`},
		{name: "kapok dev: and any key", method: "GET", path: "/items", headers: []string{"apikey: anon", "Authorization: Bearer anon"}, status: 200, want: `[{"id":7}]`},
		{name: "kapok dev: and the admin key", method: "GET", path: "/items", headers: []string{"X-Kapok-Admin-Key: supa-dev-admin"}, status: 200, want: `[{"id":7}]`},
		{name: "kapok dev: a wrong admin key is still refused", method: "GET", path: "/items", headers: []string{"X-Kapok-Admin-Key: wrong"}, status: 401},
	})
	runRESTCasesAt(t, dev, "/t/supadevauth/rest/v1", []restCase{
		{name: "kapok dev: a tenant with an auth section still wants credentials", method: "GET", path: "/things", status: 401},
		{name: "kapok dev: it takes the admin key", method: "GET", path: "/things", headers: []string{"X-Kapok-Admin-Key: supa-dev-admin"}, status: 200, want: `[{"id":8}]`},
	})
	if r := dev.do("GET", "/admin/v1/tenants", ""); r.status != 401 {
		t.Fatalf("kapok dev: the admin API without its key: %d %s", r.status, r.body)
	}
	if r := dev.do("GET", "/t/supadevopen/ai-spec.md", ""); r.status != 200 || !strings.Contains(r.body, "REST=") || strings.Contains(r.body, "TOKEN=") {
		t.Fatalf("kapok dev: the open tenant's ai-spec asks for no credential: %d %.600s", r.status, r.body)
	}

	t.Run("the admin API shows the keys", func(t *testing.T) {
		r := ts.do("GET", "/admin/v1/tenants/supakeys/keys", "", "X-Kapok-Admin-Key: supa-admin")
		var got control.TenantKeys
		if r.status != 200 || json.Unmarshal([]byte(r.body), &got) != nil || got != keys {
			t.Fatalf("%d %s", r.status, r.body)
		}
		r = ts.do("GET", "/admin/v1/tenants/supanokeys/keys", "", "X-Kapok-Admin-Key: supa-admin")
		if r.status != 409 || !strings.Contains(r.body, "no-jwt-secret") {
			t.Fatalf("open tenant: %d %s", r.status, r.body)
		}
		if r := ts.do("GET", "/admin/v1/tenants/supanope/keys", "", "X-Kapok-Admin-Key: supa-admin"); r.status != 404 {
			t.Fatalf("unknown tenant: %d %s", r.status, r.body)
		}
		for _, h := range [][]string{nil, {"X-Kapok-Admin-Key: wrong"}, anon} {
			if r := ts.do("GET", "/admin/v1/tenants/supakeys/keys", "", h...); r.status != 401 && r.status != 403 || strings.Contains(r.body, "eyJ") {
				t.Fatalf("%v: %d %s", h, r.status, r.body)
			}
		}
		// The service_role key opens its own tenant's admin routes (the console's tenant
		// sign-in): it reads its keys, nobody else's.
		if r := ts.do("GET", "/admin/v1/tenants/supakeys/keys", "", service...); r.status != 200 || !strings.Contains(r.body, keys.Anon) {
			t.Fatalf("the service key reading its keys: %d %s", r.status, r.body)
		}
		if r := ts.do("GET", "/admin/v1/tenants/supanokeys/keys", "", service...); r.status != 401 || strings.Contains(r.body, "eyJ") {
			t.Fatalf("the service key reading another tenant's keys: %d %s", r.status, r.body)
		}
	})

	t.Run("the ai-spec's examples send the tenant's anon key", func(t *testing.T) {
		r := ts.do("GET", "/t/supakeys/ai-spec.md", "", anon...)
		if r.status != 200 || !strings.Contains(r.body, "ANON_KEY="+keys.Anon+"\n") || !strings.Contains(r.body, `-H "apikey: $ANON_KEY"`) ||
			strings.Contains(r.body, "$TOKEN") {
			t.Fatalf("%d %.600s", r.status, r.body)
		}
	})

	unserved := []struct {
		name, method, path string
		headers            []string
		want               string
	}{
		{"storage answers in Storage's shape", "GET", "/storage/v1/bucket", nil, `"statusCode":"501","error":"Not Implemented","message":"Kapok does not serve Supabase Storage`},
		{"functions answer with a JSON body", "POST", "/t/supanokeys/functions/v1/hello", nil, `Kapok does not serve Supabase Edge Functions`},
	}
	for _, c := range unserved {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do(c.method, c.path, "", c.headers...)
			if r.status != 501 || !strings.Contains(r.body, c.want) || !strings.HasPrefix(r.header["Content-Type"], "application/json") {
				t.Fatalf("%d %v %s", r.status, r.header["Content-Type"], r.body)
			}
		})
	}
	t.Run("auth of a tenant without auth.users answers 404 in GoTrue's shape", func(t *testing.T) {
		r := ts.do("POST", "/t/supakeys/auth/v1/token?grant_type=password", `{"email":"a@b.c","password":"x"}`, anon...)
		if r.status != 404 || !strings.Contains(r.body, `"code":"not_found"`) || !strings.Contains(r.body, "auth.users") ||
			r.header["X-Supabase-Api-Version"] == "" {
			t.Fatalf("%d %v %s", r.status, r.header, r.body)
		}
	})
	t.Run("a path that only starts like another API is no such API", func(t *testing.T) {
		if r := ts.do("GET", "/t/supanokeys/authors/v1", ""); r.status == 501 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}
