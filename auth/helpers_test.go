package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/mailsink"
	"github.com/kapok-dev/kapok/internal/testenv"
)

const testSecret = "kapok-auth-test-secret-0123456789abcdef"

// clock is the Service's clock in tests: it moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one test tenant with Kapok Auth, its store in a schema of its own that is
// dropped when the test ends.
type env struct {
	t      testing.TB
	name   string
	tenant *control.Tenant
	svc    *Service
	met    *Metrics
	clock  *clock
	store  string // unquoted store schema
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newEnv creates a tenant named after base (unique to this process) with Kapok Auth set
// up by mut, and a Service for it alone.
func newEnv(t testing.TB, base string, mut func(*control.UsersConfig)) *env {
	t.Helper()
	users := &control.UsersConfig{SiteURL: "http://app.test", RedirectURLs: []string{"http://app.test/welcome"}}
	if mut != nil {
		mut(users)
	}
	e := newEnvWith(t, base, &control.AuthConfig{JWTSecret: testSecret, AuthenticatedRole: "authenticated", Users: users})
	return e
}

func newEnvWith(t testing.TB, base string, ac *control.AuthConfig) *env {
	t.Helper()
	name := fmt.Sprintf("au-%s-%d", base, os.Getpid())
	cfg := &control.Config{
		Upstreams: map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}},
		Tenants:   []*control.TenantConfig{{Name: name, Isolation: control.IsolationNone, Auth: ac}},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	reg := control.NewRegistry(cfg, quietLog())
	tenant := reg.Tenant(name)
	store := control.AuthSchema(tenant.Config)
	drop := func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{store}.Sanitize()+" CASCADE")
	}
	drop()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	met := NewMetrics()
	svc := New(Options{Registry: reg, Logger: quietLog(), Metrics: met, Now: clk.Now})
	t.Cleanup(func() {
		svc.Close()
		drop()
	})
	return &env{t: t, name: name, tenant: tenant, svc: svc, met: met, clock: clk, store: store}
}

// reply is a Response with its body decoded.
type reply struct {
	*Response
	obj  map[string]any
	list []any
}

func (r reply) str(key string) string {
	s, _ := r.obj[key].(string)
	return s
}

// code is the GoTrue error code of an error answer.
func (r reply) code() string { return r.str("code") }

// call sends one request; caller is the credential the proxy would have checked.
func (e *env) call(method, target string, body any, caller Caller) reply {
	e.t.Helper()
	path, rawQuery, _ := strings.Cut(target, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		e.t.Fatal(err)
	}
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		if b, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	req := &Request{Method: method, Path: path, Query: q, Body: b,
		Header:   http.Header{"User-Agent": {"kapok-auth-test"}},
		ClientIP: netip.MustParseAddr("192.0.2.10"), BaseURL: "http://kapok.test/t/" + e.name + "/auth/v1",
		Caller: caller}
	resp := e.svc.Serve(context.Background(), e.tenant, req)
	rep := reply{Response: resp}
	if len(resp.Body) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var v any
		if err := json.Unmarshal(resp.Body, &v); err != nil {
			e.t.Fatalf("%s %s: answer is not JSON: %v: %s", method, target, err, resp.Body)
		}
		switch v := v.(type) {
		case map[string]any:
			rep.obj = v
		case []any:
			rep.list = v
		}
	}
	return rep
}

// must checks an answer's status (and for errors, its code).
func (e *env) must(r reply, status int, code string) reply {
	e.t.Helper()
	if r.Status != status || code != "" && r.code() != code {
		e.t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
	return r
}

var serviceKey = Caller{Service: true}

// user verifies an access token as the proxy does and returns the Caller it makes.
func (e *env) user(accessToken string) Caller {
	e.t.Helper()
	var mc jwt.MapClaims
	_, err := jwt.ParseWithClaims(accessToken, &mc, func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(e.clock.Now))
	if err != nil {
		e.t.Fatalf("access token: %v", err)
	}
	b, _ := json.Marshal(mc)
	return Caller{Claims: b}
}

// signedIn is a signed-in user's tokens.
type signedIn struct {
	access, refresh, userID, sessionID string
	caller                             Caller
}

func (e *env) sessionOf(r reply) signedIn {
	e.t.Helper()
	e.must(r, 200, "")
	access, refresh := r.str("access_token"), r.str("refresh_token")
	if access == "" || refresh == "" {
		e.t.Fatalf("not a token response: %s", r.Body)
	}
	c := e.user(access)
	var cl map[string]any
	_ = json.Unmarshal(c.Claims, &cl)
	sid, _ := cl["session_id"].(string)
	sub, _ := cl["sub"].(string)
	return signedIn{access: access, refresh: refresh, userID: sub, sessionID: sid, caller: c}
}

// createUser writes a confirmed user with its email identity straight into the store.
// Its password hash has bcrypt's least cost, so that signing it in costs the tests
// little; the hashes Kapok writes (sign-up, the admin API) have the real cost.
func (e *env) createUser(email, password string) string {
	e.t.Helper()
	e.tc() // installs the store
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.scalar(`WITH u AS (
  INSERT INTO @S@.users (email, encrypted_password, email_confirmed_at, raw_app_meta_data, created_at, updated_at)
  VALUES ($1::text, $2::text, $3::timestamptz, '{"provider": "email", "providers": ["email"]}', $3::timestamptz, $3::timestamptz)
  RETURNING id, email
)
INSERT INTO @S@.identities (user_id, provider, provider_id, identity_data, email, created_at, updated_at)
SELECT id, 'email', id::text, jsonb_build_object('sub', id::text, 'email', email), email, $3::timestamptz, $3::timestamptz
FROM u RETURNING user_id::text`, email, string(h), e.clock.Now())
}

func (e *env) signIn(email, password string) signedIn {
	e.t.Helper()
	return e.sessionOf(e.call("POST", "/token?grant_type=password", map[string]any{"email": email, "password": password}, Caller{}))
}

// count runs a count(*) query on the store (@S@ is its schema).
func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	e.queryRow(q, args, &n)
	return n
}

// scalar runs a query of one text value on the store.
func (e *env) scalar(q string, args ...any) string {
	e.t.Helper()
	var v string
	e.queryRow(q, args, &v)
	return v
}

func (e *env) queryRow(q string, args []any, dest ...any) {
	e.t.Helper()
	c := testenv.Conn(e.t)
	if err := c.QueryRow(context.Background(), strings.ReplaceAll(q, "@S@", pgx.Identifier{e.store}.Sanitize()), args...).Scan(dest...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// testutilCount reads one counter of vec.
func testutilCount(vec *prometheus.CounterVec, labels ...string) float64 {
	return testutil.ToFloat64(vec.WithLabelValues(labels...))
}

// exec runs SQL on the store (@S@ is its schema).
func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	c := testenv.Conn(e.t)
	if _, err := c.Exec(context.Background(), strings.ReplaceAll(q, "@S@", pgx.Identifier{e.store}.Sanitize()), args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

// tc is the env's tenantCtx, for calling the package's internals as other files do.
func (e *env) tc() *tenantCtx {
	e.t.Helper()
	tn, resp := e.svc.tenantCtx(context.Background(), e.tenant)
	if resp != nil {
		e.t.Fatalf("tenantCtx: %d %s", resp.Status, resp.Body)
	}
	return tn
}

// withMailSink gives the tenant a mail sink on loopback as its SMTP server.
func withMailSink(t testing.TB) func(*control.UsersConfig) {
	sink, err := mailsink.StartLoopback()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	return func(u *control.UsersConfig) {
		u.SMTP = control.SMTPConfig{Host: "127.0.0.1", Port: sink.Port(), TLS: "none", AdminEmail: "noreply@app.test"}
	}
}
