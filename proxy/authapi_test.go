package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/auth"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// authCalls records the requests the proxy hands Kapok Auth, and answers each with a fixed
// response that echoes its path.
type authCalls struct {
	mu   sync.Mutex
	reqs []authCall
}

type authCall struct {
	tenant string
	req    *auth.Request
}

func (c *authCalls) serve(_ context.Context, t *control.Tenant, r *auth.Request) *auth.Response {
	c.mu.Lock()
	c.reqs = append(c.reqs, authCall{t.Name, r})
	c.mu.Unlock()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Location", "http://app.example/cb#access_token=x")
	h.Set("X-Total-Count", "7")
	h.Add("Link", `<a>; rel="next"`)
	h.Add("Link", `<b>; rel="last"`)
	h.Set("Content-Length", "999") // never copied: the body decides
	b, _ := json.Marshal(map[string]string{"path": r.Path})
	return &auth.Response{Status: http.StatusCreated, Header: h, Body: b}
}

func (c *authCalls) take() []authCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reqs
	c.reqs = nil
	return out
}

// serveTCP serves ts on a TCP port of its own until the test ends, and returns its base
// URL. Call it after changing ts's hooks: the port's connections start after.
func serveTCP(t *testing.T, ts *testServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ts.srv.Serve(ln) }()
	return "http://" + ln.Addr().String()
}

// TestAuthRequestsReachKapokAuthAsTheClientSentThem checks the proxy's half of /auth/v1:
// tenant routing, the request handed to auth (path, query, headers, body, client address,
// external base URL, the caller's credential as checked), auth's answer copied back, and
// the tenant's admission rules in GoTrue's error shape.
func TestAuthRequestsReachKapokAuthAsTheClientSentThem(t *testing.T) {
	const secret = "authapi-t-secret-0123456789abcdef012345"
	testenv.FreshSchema(t, "authapi_t", "CREATE TABLE x (id int)")
	users := func() *control.AuthConfig {
		return &control.AuthConfig{JWTSecret: secret, AnonRole: "authapi_t_anon", AuthenticatedRole: "authapi_t_user", Users: &control.UsersConfig{}}
	}
	ts := startServer(t, &control.Config{AdminKey: "authapi-admin", DefaultTenant: "authr", Tenants: []*control.TenantConfig{
		{Name: "authr", Schemas: []string{"authapi_t"}, Auth: users(), Limits: &control.Limits{MaxBodyBytes: 4096}},
		{Name: "authr-b", Schemas: []string{"authapi_t"}, Auth: users()},
		{Name: "authr-slow", Schemas: []string{"authapi_t"}, Auth: users(), Limits: &control.Limits{RateLimit: 0.01, RateBurst: 1}},
	}})
	calls := &authCalls{}
	ts.srv.api.authServe = calls.serve
	base := serveTCP(t, ts)
	keys, err := control.KeysFor("authr", users())
	if err != nil {
		t.Fatal(err)
	}
	user := hs256(t, secret, kapokUserClaims("authr", "7d3c5a2e-0000-4000-8000-000000000001"))
	userOfB := hs256(t, secret, kapokUserClaims("authr-b", "7d3c5a2e-0000-4000-8000-000000000002"))
	expired := kapokUserClaims("authr", "u")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()

	send := func(t *testing.T, method, path, body string, headers ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			if strings.EqualFold(k, "Host") {
				req.Host = strings.TrimSpace(v)
				continue
			}
			req.Header.Add(k, strings.TrimSpace(v))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	one := func(t *testing.T) authCall {
		t.Helper()
		got := calls.take()
		if len(got) != 1 {
			t.Fatalf("auth got %d requests, want 1", len(got))
		}
		return got[0]
	}

	routes := []struct {
		name, path, tenant, baseURL, authPath string
		headers                               []string
	}{
		{"under /t/{tenant}", "/t/authr/auth/v1/signup?redirect_to=http%3A%2F%2Fapp.example%2Fcb&x=1&x=2", "authr", base + "/t/authr/auth/v1", "/signup", nil},
		{"by X-Kapok-Tenant", "/auth/v1/admin/users/42", "authr-b", base + "/auth/v1", "/admin/users/42", []string{"X-Kapok-Tenant: authr-b"}},
		// A Host that is not this machine's is the client's word: nothing to build links on.
		{"by host name", "/auth/v1/settings", "authr-b", "", "/settings", []string{"Host: authr-b.kapok.test"}},
		{"to the default tenant", "/auth/v1/token?grant_type=password", "authr", base + "/auth/v1", "/token", nil},
		{"at the API's root", "/t/authr/auth/v1", "authr", base + "/t/authr/auth/v1", "/", nil},
	}
	for _, r := range routes {
		t.Run("a request is routed "+r.name, func(t *testing.T) {
			resp, body := send(t, "POST", r.path, `{"email":"a@example.com"}`, append(r.headers, "X-Client-Info: supabase-js-node/2.119.1", "Content-Type: application/json")...)
			if resp.StatusCode != 201 || body != `{"path":"`+r.authPath+`"}` {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			c := one(t)
			q := c.req
			if c.tenant != r.tenant || q.Method != "POST" || q.Path != r.authPath || q.BaseURL != r.baseURL {
				t.Fatalf("tenant %s, %s %s, base %s; want %s, POST %s, base %s", c.tenant, q.Method, q.Path, q.BaseURL, r.tenant, r.authPath, r.baseURL)
			}
			if string(q.Body) != `{"email":"a@example.com"}` || q.Header.Get("X-Client-Info") != "supabase-js-node/2.119.1" ||
				q.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("body %s, headers %v", q.Body, q.Header)
			}
			if q.ClientIP.String() != "127.0.0.1" {
				t.Fatalf("client address %v", q.ClientIP)
			}
			if u, _ := url.Parse(base + r.path); q.Query.Encode() != u.Query().Encode() {
				t.Fatalf("query %v, want %v", q.Query, u.Query())
			}
		})
	}
	t.Run("auth's answer is copied: status, headers, body", func(t *testing.T) {
		resp, body := send(t, "GET", "/t/authr/auth/v1/admin/users", "")
		calls.take()
		if resp.StatusCode != 201 || body != `{"path":"/admin/users"}` || resp.Header.Get("Location") != "http://app.example/cb#access_token=x" ||
			resp.Header.Get("X-Total-Count") != "7" || len(resp.Header.Values("Link")) != 2 || resp.ContentLength != int64(len(body)) {
			t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
	})

	callers := []struct {
		name    string
		headers []string
		want    auth.Caller
		claim   string
	}{
		{"no credential is no caller", nil, auth.Caller{}, ""},
		{"the anon key is no caller", []string{"apikey: " + keys.Anon, "Authorization: Bearer " + keys.Anon}, auth.Caller{}, ""},
		{"the service_role key is the service", []string{"apikey: " + keys.ServiceRole, "Authorization: Bearer " + keys.ServiceRole}, auth.Caller{Service: true}, ""},
		{"the admin key is the service", []string{"X-Kapok-Admin-Key: authapi-admin"}, auth.Caller{Service: true}, ""},
		{"a user's token gives its verified claims", []string{"apikey: " + keys.Anon, "Authorization: Bearer " + user}, auth.Caller{}, `"sub":"7d3c5a2e-0000-4000-8000-000000000001"`},
		{"another tenant's token is refused", []string{"apikey: " + keys.Anon, "Authorization: Bearer " + userOfB}, auth.Caller{Err: "the key was issued for another tenant"}, ""},
		{"an expired token is refused", []string{"apikey: " + keys.Anon, "Authorization: Bearer " + hs256(t, secret, expired)}, auth.Caller{Err: "JWT expired"}, ""},
		{"a forged token is refused", []string{"Authorization: Bearer " + hs256(t, "not-the-secret-not-the-secret-0123", kapokUserClaims("authr", "u"))}, auth.Caller{Err: "JWT signature is invalid"}, ""},
		{"a wrong admin key is refused", []string{"X-Kapok-Admin-Key: nope"}, auth.Caller{Err: "invalid admin key"}, ""},
	}
	for _, c := range callers {
		t.Run(c.name+", and the request still reaches auth", func(t *testing.T) {
			resp, body := send(t, "GET", "/t/authr/auth/v1/user", "", c.headers...)
			if resp.StatusCode != 201 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			got := one(t).req.Caller
			if got.Service != c.want.Service || got.Err != c.want.Err || (c.claim == "") != (got.Claims == nil) || !strings.Contains(string(got.Claims), c.claim) {
				t.Fatalf("caller %+v (claims %s), want %+v with claims containing %q", got, got.Claims, c.want, c.claim)
			}
		})
	}

	gotrueError := func(t *testing.T, resp *http.Response, body string, status int, code string) {
		t.Helper()
		var e struct {
			Code      string `json:"code"`
			ErrorCode string `json:"error_code"`
			Msg       string `json:"msg"`
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != status || e.Code != code || e.ErrorCode != code || e.Msg == "" ||
			resp.Header.Get("X-Supabase-Api-Version") != "2024-01-01" {
			t.Fatalf("%d %v %s; want %d with code %s in GoTrue's shape", resp.StatusCode, resp.Header, body, status, code)
		}
	}
	t.Run("an unknown tenant answers 404 in GoTrue's shape", func(t *testing.T) {
		resp, body := send(t, "GET", "/t/authr-nope/auth/v1/settings", "")
		gotrueError(t, resp, body, 404, "not_found")
	})
	t.Run("a body over the tenant's limit answers 413 in GoTrue's shape, before auth", func(t *testing.T) {
		resp, body := send(t, "POST", "/t/authr/auth/v1/signup", `{"email":"`+strings.Repeat("a", 5000)+`"}`, "Content-Type: application/json")
		gotrueError(t, resp, body, 413, "request_too_large")
		if n := len(calls.take()); n != 0 {
			t.Fatalf("auth got %d requests", n)
		}
	})
	t.Run("the tenant's rate limit answers 429 in GoTrue's shape, with Retry-After", func(t *testing.T) {
		resp, body := send(t, "GET", "/t/authr-slow/auth/v1/settings", "")
		if resp.StatusCode != 201 {
			t.Fatalf("first request: %d %s", resp.StatusCode, body)
		}
		calls.take()
		resp, body = send(t, "GET", "/t/authr-slow/auth/v1/settings", "")
		gotrueError(t, resp, body, 429, "over_request_rate_limit")
		if resp.Header.Get("Retry-After") == "" || len(calls.take()) != 0 {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	})
	t.Run("OPTIONS is answered like REST's, without auth", func(t *testing.T) {
		resp, body := send(t, "OPTIONS", "/t/authr/auth/v1/token", "", "Access-Control-Request-Method: POST")
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Allow"), "POST") || len(calls.take()) != 0 {
			t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
	})
	t.Run("a path that only starts like auth is not auth", func(t *testing.T) {
		send(t, "GET", "/t/authr/auth/v10/settings", "")
		send(t, "GET", "/t/authr/authors", "")
		if n := len(calls.take()); n != 0 {
			t.Fatalf("auth got %d requests", n)
		}
	})
	t.Run("requests are counted under route auth", func(t *testing.T) {
		_, body := send(t, "GET", "/metrics", "")
		for _, series := range []string{`kapok_requests_total{outcome="ok",route="auth"}`, `kapok_requests_total{outcome="rejected",route="auth"}`,
			`kapok_requests_total{outcome="client_error",route="auth"}`} {
			if !strings.Contains(body, series+" ") || strings.Contains(body, series+" 0\n") {
				t.Errorf("/metrics: %s is missing or 0", series)
			}
		}
	})
}
