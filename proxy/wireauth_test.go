package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// TestWireCredentialsFollowTheHTTPRules checks the credentials the wire port accepts as a
// password: the same keys and tokens as HTTP, each running as a role the tenant may use.
func TestWireCredentialsFollowTheHTTPRules(t *testing.T) {
	testenv.Exec(t, requestRolesSQL)
	testenv.FreshSchema(t, "wireauth_t_a", "CREATE TABLE x (id int)")
	testenv.FreshSchema(t, "wireauth_t_b", "CREATE TABLE x (id int)")
	grantTenantRoles(t, "wireauth-t-a", "roles_t_user", "roles_t_bypass")
	grantTenantRoles(t, "wireauth-t-b", "roles_t_user")
	const otherSecret = "wireauth-t-other-secret-0123456789abcdef"
	ts := startServer(t, &control.Config{AdminKey: "wireauth-t-admin", Tenants: []*control.TenantConfig{
		{Name: "wireauth-t-a", Schemas: []string{"wireauth_t_a"}, Auth: &control.AuthConfig{JWTSecret: authSecret, JWTAudience: "app",
			APIKeys: map[string]string{"wa-key-user": "roles_t_user", "wa-key-other-tenant-role": "kapok_t_wireauth-t-b", "wa-key-login": "postgres"}}},
		{Name: "wireauth-t-b", Schemas: []string{"wireauth_t_b"}, Auth: &control.AuthConfig{JWTSecret: otherSecret,
			APIKeys: map[string]string{"wb-key-user": "roles_t_user"}}},
	}})
	w := ts.srv.WireAuth()

	accepted := []struct {
		name, secret, role, claim string
	}{
		{"the admin key runs as the tenant's own role", "wireauth-t-admin", "", ""},
		{"an API key runs as its role", "wa-key-user", "roles_t_user", ""},
		{"a JWT runs as its role with its claims", userJWT(t, "alice", "roles_t_user"), "roles_t_user", `"sub":"alice"`},
	}
	for _, c := range accepted {
		t.Run(c.name, func(t *testing.T) {
			role, claims, err := w.Credential("wireauth-t-a", c.secret)
			if err != nil || role != c.role || !strings.Contains(string(claims), c.claim) || (c.claim == "") != (claims == nil) {
				t.Fatalf("Credential = %q, %s, %v; want %q with claims containing %q", role, claims, err, c.role, c.claim)
			}
		})
	}

	expired := signHS(t, authSecret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "roles_t_user", "aud": "app",
		"exp": time.Now().Add(-time.Hour).Unix()})
	otherTenantJWT := signHS(t, otherSecret, jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "roles_t_user",
		"exp": time.Now().Add(time.Hour).Unix()})
	refused := []struct{ name, tenant, secret string }{
		{"an expired JWT", "wireauth-t-a", expired},
		{"a JWT naming another tenant's role", "wireauth-t-a", userJWT(t, "alice", "kapok_t_wireauth-t-b")},
		{"a JWT naming a predefined role", "wireauth-t-a", userJWT(t, "alice", "pg_read_all_data")},
		{"a JWT naming none", "wireauth-t-a", userJWT(t, "alice", "none")},
		{"a JWT naming a BYPASSRLS role", "wireauth-t-a", userJWT(t, "alice", "roles_t_bypass")},
		{"a JWT naming the login role", "wireauth-t-a", userJWT(t, "alice", "postgres")},
		{"an API key mapped to another tenant's role", "wireauth-t-a", "wa-key-other-tenant-role"},
		{"an API key mapped to the login role", "wireauth-t-a", "wa-key-login"},
		{"another tenant's API key", "wireauth-t-a", "wb-key-user"},
		{"another tenant's JWT", "wireauth-t-a", otherTenantJWT},
		{"a wrong admin key", "wireauth-t-a", "wireauth-t-admin-not"},
		{"an empty password", "wireauth-t-a", ""},
		{"an unknown tenant", "wireauth-t-nope", "wireauth-t-admin"},
	}
	for _, c := range refused {
		t.Run(c.name+" is refused", func(t *testing.T) {
			if role, _, err := w.Credential(c.tenant, c.secret); err == nil {
				t.Fatalf("Credential accepted it as role %q", role)
			}
		})
	}

	for role, want := range map[string]bool{"roles_t_user": true, "roles_t_stranger": false, "roles_t_bypass": false,
		"postgres": false, "kapok_t_wireauth-t-b": false, "none": false} {
		if got := w.Usable("wireauth-t-a", role); got != want {
			t.Errorf("Usable(%q) = %v, want %v", role, got, want)
		}
	}
}

func TestCollectorsOfOptionsJoinMetrics(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kapok_wire_test_collector_total", Help: "A collector handed in Options."})
	c.Add(3)
	cfg := &control.Config{Upstreams: map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	reg := control.NewRegistry(cfg, nil)
	srv, err := New(Options{Config: cfg, Registry: reg, Collectors: []prometheus.Collector{c}})
	if err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/metrics")
	srv.Handler()(&ctx)
	if body := string(ctx.Response.Body()); !strings.Contains(body, "kapok_wire_test_collector_total 3") {
		t.Fatalf("/metrics lacks the collector:\n%.2000s", body)
	}
	if _, err := New(Options{Config: cfg, Registry: reg, Collectors: []prometheus.Collector{c, c}}); err == nil {
		t.Fatal("a collector registered twice was accepted")
	}
}
