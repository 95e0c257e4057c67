package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/oidctest"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// oauthEnv is a Kapok Auth service with two tenants, a and b, that share one JWT secret
// (so only the state's tenant tells their states apart), and a running provider that
// knows both tenants' callbacks. The tests play the browser: they follow each redirect
// by hand, to the provider over HTTP and back to Kapok through Serve.
type oauthEnv struct {
	t       *testing.T
	s       *Service
	idp     *oidctest.Provider
	tenants map[string]*control.Tenant
	schemas map[string]string
	secret  string
	conn    *pgx.Conn
	// skew moves the service's clock.
	skew atomic.Int64
}

const oauthSite = "http://app.test"

func newOAuthEnv(t *testing.T, configure func(*control.UsersConfig)) *oauthEnv {
	t.Helper()
	e := &oauthEnv{t: t, idp: oidctest.Start(t), tenants: map[string]*control.Tenant{}, schemas: map[string]string{},
		secret: "oauth-test-secret-0123456789abcdef"}
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	prefix := fmt.Sprintf("oauthtest-%08x-", h.Sum32())
	cfg := &control.Config{Upstreams: map[string]*control.Upstream{"main": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}}}
	for _, n := range []string{"a", "b"} {
		users := &control.UsersConfig{
			SiteURL:      oauthSite,
			RedirectURLs: []string{oauthSite + "/*"},
			External: map[string]*control.OAuthProvider{
				"google": {ClientID: e.idp.ClientID, ClientSecret: e.idp.ClientSecret, Issuer: e.idp.URL},
				"acme":   {ClientID: e.idp.ClientID, ClientSecret: e.idp.ClientSecret, Issuer: e.idp.URL},
				"github": {ClientID: e.idp.ClientID, ClientSecret: e.idp.ClientSecret,
					AuthURL: e.idp.URL + "/login/oauth/authorize", TokenURL: e.idp.URL + "/login/oauth/access_token",
					UserInfoURL: e.idp.URL + "/user"},
				// No issuer: not a provider Kapok can reach.
				"gitlab": {ClientID: e.idp.ClientID, ClientSecret: e.idp.ClientSecret},
			},
		}
		if configure != nil {
			configure(users)
		}
		cfg.Tenants = append(cfg.Tenants, &control.TenantConfig{Name: prefix + n, Upstream: "main",
			Auth: &control.AuthConfig{JWTSecret: e.secret, AuthenticatedRole: "authenticated", Users: users}})
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"a", "b"} {
		schema := control.AuthSchema(cfg.Tenants[i])
		e.schemas[n] = pgx.Identifier{schema}.Sanitize()
		testenv.Exec(t, "DROP SCHEMA IF EXISTS "+e.schemas[n]+" CASCADE")
		t.Cleanup(func() { testenv.Exec(t, "DROP SCHEMA IF EXISTS "+e.schemas[n]+" CASCADE") })
	}
	reg := control.NewRegistry(cfg, nil)
	e.s = New(Options{Registry: reg, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Now: func() time.Time { return time.Now().Add(time.Duration(e.skew.Load())) }})
	t.Cleanup(e.s.Close)
	for _, n := range []string{"a", "b"} {
		e.tenants[n] = reg.Tenant(prefix + n)
		if err := e.s.Prepare(context.Background(), e.tenants[n]); err != nil {
			t.Fatal(err)
		}
		e.idp.AllowRedirect(e.base(n) + "/callback")
	}
	return e
}

// base is the tenant's external /auth/v1 URL.
func (e *oauthEnv) base(tenant string) string {
	return "http://kapok.test/t/" + e.tenants[tenant].Name + "/auth/v1"
}

func (e *oauthEnv) serve(tenant, method, path string, q url.Values, body []byte, header http.Header) *Response {
	e.t.Helper()
	if header == nil {
		header = http.Header{}
	}
	return e.s.Serve(context.Background(), e.tenants[tenant], &Request{
		Method: method, Path: path, Query: q, Header: header, Body: body, BaseURL: e.base(tenant),
	})
}

// authorize calls GET /authorize and returns the provider URL it redirects to.
func (e *oauthEnv) authorize(tenant string, q url.Values) *url.URL {
	e.t.Helper()
	resp := e.serve(tenant, http.MethodGet, "/authorize", q, nil, nil)
	if resp.Status != http.StatusFound {
		e.t.Fatalf("authorize %v: %d %s", q, resp.Status, resp.Body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// visit is the browser at the provider: it must be sent back to a tenant's callback.
func (e *oauthEnv) visit(u *url.URL) *url.URL {
	e.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(u.String())
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		e.t.Fatalf("provider at %s answered %s", u, res.Status)
	}
	back, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return back
}

// callback delivers the provider's redirect to tenant and returns where Kapok sends the
// browser next.
func (e *oauthEnv) callback(tenant string, back *url.URL) *url.URL {
	e.t.Helper()
	if !strings.HasSuffix(back.Path, "/callback") {
		e.t.Fatalf("the provider sent the browser to %s, not to a callback", back)
	}
	return e.location(e.serve(tenant, http.MethodGet, "/callback", back.Query(), nil, nil))
}

func (e *oauthEnv) location(resp *Response) *url.URL {
	e.t.Helper()
	if resp.Status != http.StatusSeeOther && resp.Status != http.StatusFound {
		e.t.Fatalf("callback answered %d %s, not a redirect", resp.Status, resp.Body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// signIn runs the whole round trip for tenant.
func (e *oauthEnv) signIn(tenant string, q url.Values) *url.URL {
	e.t.Helper()
	return e.callback(tenant, e.visit(e.authorize(tenant, q)))
}

// session reads the tokens of an implicit-flow redirect and checks the access token.
func (e *oauthEnv) session(tenant string, to *url.URL) (url.Values, jwt.MapClaims) {
	e.t.Helper()
	frag, err := url.ParseQuery(to.EscapedFragment())
	if err != nil {
		e.t.Fatal(err)
	}
	if frag.Get("error") != "" {
		e.t.Fatalf("sign-in failed: %s", to)
	}
	for _, k := range []string{"access_token", "refresh_token", "expires_in", "expires_at", "provider_token"} {
		if frag.Get(k) == "" {
			e.t.Fatalf("redirect %s lacks %s", to, k)
		}
	}
	if frag.Get("token_type") != "bearer" {
		e.t.Errorf("token_type = %q", frag.Get("token_type"))
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(frag.Get("access_token"), claims, func(*jwt.Token) (any, error) { return []byte(e.secret), nil },
		jwt.WithValidMethods([]string{"HS256"})); err != nil {
		e.t.Fatalf("access token: %v", err)
	}
	if claims["ref"] != e.tenants[tenant].Name || claims["role"] != "authenticated" {
		e.t.Errorf("access token claims ref %v role %v", claims["ref"], claims["role"])
	}
	amr, _ := claims["amr"].([]any)
	if len(amr) != 1 || amr[0].(map[string]any)["method"] != "oauth" {
		e.t.Errorf("amr = %v, want one oauth entry", claims["amr"])
	}
	return frag, claims
}

// failure reads an error redirect, checking that the query and the fragment agree.
func (e *oauthEnv) failure(to *url.URL, wantPrefix string) url.Values {
	e.t.Helper()
	if !strings.HasPrefix(to.String(), wantPrefix) {
		e.t.Errorf("error redirect to %s, want it below %s", to, wantPrefix)
	}
	frag, err := url.ParseQuery(to.EscapedFragment())
	if err != nil {
		e.t.Fatal(err)
	}
	q := to.Query()
	for _, k := range []string{"error", "error_code", "error_description"} {
		if q.Get(k) != frag.Get(k) {
			e.t.Errorf("%s: query %q, fragment %q", k, q.Get(k), frag.Get(k))
		}
	}
	if frag.Get("error") == "" || frag.Has("access_token") || q.Has("code") {
		e.t.Errorf("not an error redirect: %s", to)
	}
	return frag
}

func (e *oauthEnv) queryRow(tenant, sql string, args []any, dest ...any) {
	e.t.Helper()
	sql = strings.ReplaceAll(sql, "@S", e.schemas[tenant])
	if e.conn == nil {
		e.conn = testenv.Conn(e.t)
	}
	if err := e.conn.QueryRow(context.Background(), sql, args...).Scan(dest...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *oauthEnv) count(tenant, sql string, args ...any) int {
	e.t.Helper()
	var n int
	e.queryRow(tenant, "SELECT count(*) FROM "+sql, args, &n)
	return n
}

func (e *oauthEnv) createUser(tenant string, nu newUser) *User {
	e.t.Helper()
	tn, resp := e.s.tenantCtx(context.Background(), e.tenants[tenant])
	if resp != nil {
		e.t.Fatalf("tenantCtx: %s", resp.Body)
	}
	u, err := e.s.createUser(context.Background(), tn, nu)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func TestOAuthOpenIDConnectSignIn(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, nil)
	e.idp.SetUser(oidctest.User{Subject: "g-100", Email: "Ann@Example.com", EmailVerified: true, Name: "Ann", Picture: "https://pic.example/ann"})

	to := e.authorize("a", url.Values{"provider": {"google"}, "redirect_to": {oauthSite + "/welcome"},
		"scopes": {"calendar.readonly"}, "access_type": {"offline"}})
	if got := to.Scheme + "://" + to.Host + to.Path; got != e.idp.URL+"/authorize" {
		t.Fatalf("authorize redirects to %s, want the discovered authorization endpoint", got)
	}
	q := to.Query()
	for k, want := range map[string]string{"client_id": e.idp.ClientID, "redirect_uri": e.base("a") + "/callback",
		"response_type": "code", "access_type": "offline", "code_challenge_method": "S256"} {
		if q.Get(k) != want {
			t.Errorf("provider URL %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if scopes := strings.Fields(q.Get("scope")); !slices.Equal(scopes, []string{"openid", "email", "profile", "calendar.readonly"}) {
		t.Errorf("scope = %q", q.Get("scope"))
	}
	if q.Get("nonce") == "" || q.Get("state") == "" || len(q.Get("code_challenge")) != 43 {
		t.Errorf("provider URL lacks nonce, state or Kapok's own PKCE challenge: %s", to)
	}
	if q.Has("provider") || q.Has("redirect_to") || q.Has("scopes") {
		t.Errorf("Kapok's own parameters leaked to the provider: %s", to)
	}

	final := e.callback("a", e.visit(to))
	if !strings.HasPrefix(final.String(), oauthSite+"/welcome#") {
		t.Fatalf("signed in to %s", final)
	}
	frag, claims := e.session("a", final)
	if frag.Get("expires_in") != "3600" {
		t.Errorf("expires_in = %s", frag.Get("expires_in"))
	}
	if e.idp.LastTokenAuth() != "client_secret_basic" {
		t.Errorf("token request authenticated with %s, want the discovery default client_secret_basic", e.idp.LastTokenAuth())
	}
	userID := claims["sub"].(string)
	var email string
	var confirmed bool
	var app, meta map[string]any
	e.queryRow("a", "SELECT email, email_confirmed_at IS NOT NULL, raw_app_meta_data, raw_user_meta_data FROM @S.users WHERE id = $1::uuid",
		[]any{userID}, &email, &confirmed, &app, &meta)
	if email != "ann@example.com" || !confirmed || claims["email"] != "ann@example.com" {
		t.Errorf("user %s confirmed %v (token says %v)", email, confirmed, claims["email"])
	}
	if app["provider"] != "google" || fmt.Sprint(app["providers"]) != "[google]" {
		t.Errorf("app_metadata = %v", app)
	}
	if meta["name"] != "Ann" || meta["avatar_url"] != "https://pic.example/ann" || meta["iss"] != e.idp.URL || meta["sub"] != "g-100" {
		t.Errorf("user_metadata = %v", meta)
	}
	if n := e.count("a", "@S.identities WHERE user_id = $1::uuid AND provider = 'google' AND provider_id = 'g-100' AND identity_data->>'email_verified' = 'true'", userID); n != 1 {
		t.Errorf("%d google identities g-100 for the user", n)
	}
	if n := e.count("a", "@S.audit_log WHERE actor_id = $1::uuid AND action IN ('user_signedup', 'oauth_login')", userID); n != 2 {
		t.Errorf("%d audit entries, want user_signedup and oauth_login", n)
	}

	t.Run("signing in again finds the identity and refreshes its data", func(t *testing.T) {
		e.idp.SetUser(oidctest.User{Subject: "g-100", Email: "ann@example.com", EmailVerified: true, Name: "Ann B."})
		// Through a form_post callback this time.
		back := e.visit(e.authorize("a", url.Values{"provider": {"google"}}))
		resp := e.serve("a", http.MethodPost, "/callback", nil, []byte(back.Query().Encode()),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
		final := e.location(resp)
		if !strings.HasPrefix(final.String(), oauthSite+"#") {
			t.Errorf("without redirect_to the sign-in ends at %s, want the site URL", final)
		}
		_, claims := e.session("a", final)
		if claims["sub"] != userID {
			t.Errorf("signed in as %v, want %s", claims["sub"], userID)
		}
		if n := e.count("a", "@S.users"); n != 1 {
			t.Errorf("%d users", n)
		}
		var name, metaName string
		e.queryRow("a", "SELECT i.identity_data->>'name', u.raw_user_meta_data->>'name' FROM @S.identities i JOIN @S.users u ON u.id = i.user_id WHERE i.provider = 'google'",
			nil, &name, &metaName)
		if name != "Ann B." || metaName != "Ann B." {
			t.Errorf("identity name %q, user_metadata name %q", name, metaName)
		}
	})

	t.Run("any provider with an issuer is discovered and links by its verified email", func(t *testing.T) {
		_, claims := e.session("a", e.signIn("a", url.Values{"provider": {"acme"}, "redirect_to": {oauthSite + "/x"}}))
		if claims["sub"] != userID {
			t.Errorf("acme sign-in is user %v, want %s", claims["sub"], userID)
		}
		var providers string
		e.queryRow("a", "SELECT raw_app_meta_data->>'providers' FROM @S.users WHERE id = $1::uuid", []any{userID}, &providers)
		if providers != `["acme", "google"]` {
			t.Errorf("providers = %s", providers)
		}
	})

	t.Run("a redirect_to outside the allowed URLs falls back to the site URL", func(t *testing.T) {
		final := e.signIn("a", url.Values{"provider": {"google"}, "redirect_to": {"http://evil.test/steal"}})
		if final.Host != "app.test" {
			t.Errorf("sign-in sent the tokens to %s", final)
		}
	})

	t.Run("skip_http_redirect answers the provider URL as JSON", func(t *testing.T) {
		resp := e.serve("a", http.MethodGet, "/authorize", url.Values{"provider": {"google"}, "skip_http_redirect": {"true"}}, nil, nil)
		var body struct{ URL string }
		if resp.Status != http.StatusOK || json.Unmarshal(resp.Body, &body) != nil || !strings.HasPrefix(body.URL, e.idp.URL+"/authorize?") {
			t.Errorf("answer %d %s", resp.Status, resp.Body)
		}
	})
}

func TestOAuthPKCEFlow(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, nil)
	e.idp.SetUser(oidctest.User{Subject: "g-200", Email: "pat@example.com", EmailVerified: true})
	verifier := strings.Repeat("v", 20) + oauthRandom()
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])

	final := e.signIn("a", url.Values{"provider": {"google"}, "redirect_to": {oauthSite + "/cb?next=home"},
		"code_challenge": {challenge}, "code_challenge_method": {"s256"}})
	code := final.Query().Get("code")
	if final.Host != "app.test" || final.Path != "/cb" || final.Query().Get("next") != "home" || code == "" {
		t.Fatalf("PKCE sign-in ends at %s, want redirect_to with ?code=", final)
	}
	if final.Fragment != "" {
		t.Errorf("PKCE redirect carries a fragment: %s", final)
	}
	h := sha256.Sum256([]byte(code))
	var userID, storedChallenge, method, providerType, authMethod string
	e.queryRow("a", `SELECT f.user_id::text, f.code_challenge, f.code_challenge_method, f.provider_type, f.authentication_method
	  FROM @S.flow_state f JOIN @S.users u ON u.id = f.user_id WHERE f.auth_code = $1::text AND u.email = 'pat@example.com'`,
		[]any{hex.EncodeToString(h[:])}, &userID, &storedChallenge, &method, &providerType, &authMethod)
	if storedChallenge != challenge || method != "s256" || providerType != "google" || authMethod != "oauth" {
		t.Errorf("flow state %s %s %s %s", storedChallenge, method, providerType, authMethod)
	}
	if n := e.count("a", "@S.sessions"); n != 0 {
		t.Errorf("%d sessions before the code exchange", n)
	}

	for _, c := range []struct {
		name string
		q    url.Values
	}{
		{"a challenge without its method", url.Values{"code_challenge": {challenge}}},
		{"a method without a challenge", url.Values{"code_challenge_method": {"s256"}}},
		{"an unknown method", url.Values{"code_challenge": {challenge}, "code_challenge_method": {"s512"}}},
		{"a short challenge", url.Values{"code_challenge": {"abc"}, "code_challenge_method": {"plain"}}},
	} {
		t.Run("authorize refuses "+c.name, func(t *testing.T) {
			c.q.Set("provider", "google")
			resp := e.serve("a", http.MethodGet, "/authorize", c.q, nil, nil)
			if resp.Status != http.StatusBadRequest || !strings.Contains(string(resp.Body), `"validation_failed"`) {
				t.Errorf("answer %d %s", resp.Status, resp.Body)
			}
		})
	}
}

func TestOAuthGitHub(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, nil)
	e.idp.SetUser(oidctest.User{Subject: "4242", Email: "Dev@Example.com", EmailVerified: true, Name: "Dev",
		Login: "octodev", Picture: "https://avatars.example/4242"})

	to := e.authorize("a", url.Values{"provider": {"github"}, "redirect_to": {oauthSite + "/gh"}})
	if got := to.Scheme + "://" + to.Host + to.Path; got != e.idp.URL+"/login/oauth/authorize" {
		t.Fatalf("authorize redirects to %s", got)
	}
	if q := to.Query(); q.Get("scope") != "user:email" || q.Has("nonce") || q.Has("code_challenge") {
		t.Errorf("GitHub authorize URL %s", to)
	}
	final := e.callback("a", e.visit(to))
	_, claims := e.session("a", final)
	if e.idp.LastTokenAuth() != "client_secret_post" {
		t.Errorf("GitHub token request authenticated with %s", e.idp.LastTokenAuth())
	}
	if claims["email"] != "dev@example.com" {
		t.Errorf("signed in as %v, want the primary address", claims["email"])
	}
	var login, iss string
	e.queryRow("a", "SELECT identity_data->>'user_name', identity_data->>'iss' FROM @S.identities WHERE provider = 'github' AND provider_id = '4242' AND user_id = $1::uuid",
		[]any{claims["sub"]}, &login, &iss)
	if login != "octodev" || iss != e.idp.URL {
		t.Errorf("identity user_name %q iss %q", login, iss)
	}

	t.Run("an unverified primary address creates an unconfirmed user and no session", func(t *testing.T) {
		e.idp.SetUser(oidctest.User{Subject: "4343", Email: "unv@example.com", EmailVerified: false})
		f := e.failure(e.signIn("a", url.Values{"provider": {"github"}, "redirect_to": {oauthSite + "/gh"}}), oauthSite+"/gh?")
		if f.Get("error") != "access_denied" || f.Get("error_code") != "provider_email_needs_verification" {
			t.Errorf("error %v", f)
		}
		if n := e.count("a", "@S.users u JOIN @S.identities i ON i.user_id = u.id WHERE u.email = 'unv@example.com' AND u.email_confirmed_at IS NULL AND i.provider_id = '4343'"); n != 1 {
			t.Errorf("%d unconfirmed users with the identity", n)
		}
		if n := e.count("a", "@S.sessions s JOIN @S.users u ON u.id = s.user_id WHERE u.email = 'unv@example.com'"); n != 0 {
			t.Errorf("%d sessions for the unconfirmed user", n)
		}

		e.idp.SetUser(oidctest.User{Subject: "4343", Email: "unv@example.com", EmailVerified: true})
		_, claims := e.session("a", e.signIn("a", url.Values{"provider": {"github"}}))
		if claims["email"] != "unv@example.com" {
			t.Errorf("signed in as %v", claims["email"])
		}
		if n := e.count("a", "@S.users WHERE email = 'unv@example.com' AND email_confirmed_at IS NOT NULL"); n != 1 {
			t.Error("once GitHub verified the address the user is still unconfirmed")
		}
	})
}

func TestOAuthAccountLinking(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, nil)

	t.Run("a verified address links to the user who has it", func(t *testing.T) {
		bob := e.createUser("a", newUser{Email: "bob@example.com", Password: "bob-password", Confirmed: true, Provider: "email"})
		e.idp.SetUser(oidctest.User{Subject: "g-bob", Email: "BOB@example.com", EmailVerified: true, Name: "Bob"})
		_, claims := e.session("a", e.signIn("a", url.Values{"provider": {"google"}}))
		if claims["sub"] != bob.ID {
			t.Errorf("signed in as %v, want bob %s", claims["sub"], bob.ID)
		}
		var providers string
		var hasPassword bool
		e.queryRow("a", "SELECT raw_app_meta_data->>'providers', encrypted_password IS NOT NULL FROM @S.users WHERE id = $1::uuid", []any{bob.ID}, &providers, &hasPassword)
		if providers != `["email", "google"]` || !hasPassword {
			t.Errorf("providers %s, password kept %v", providers, hasPassword)
		}
		if n := e.count("a", "@S.users WHERE email = 'bob@example.com'"); n != 1 {
			t.Errorf("%d users bob", n)
		}
	})

	t.Run("an unverified address does not link", func(t *testing.T) {
		carol := e.createUser("a", newUser{Email: "carol@example.com", Password: "carol-password", Confirmed: true, Provider: "email"})
		e.idp.SetUser(oidctest.User{Subject: "g-mallory", Email: "carol@example.com", EmailVerified: false})
		f := e.failure(e.signIn("a", url.Values{"provider": {"google"}, "redirect_to": {oauthSite + "/in"}}), oauthSite+"/in?")
		if f.Get("error") != "access_denied" || f.Get("error_code") != "user_already_exists" {
			t.Errorf("error %v", f)
		}
		if n := e.count("a", "@S.identities WHERE user_id = $1::uuid AND provider = 'google'", carol.ID); n != 0 {
			t.Error("the unverified address gave carol's account a google identity")
		}
		if n := e.count("a", "@S.sessions WHERE user_id = $1::uuid", carol.ID); n != 0 {
			t.Error("the unverified address signed in as carol")
		}
	})

	t.Run("linking an unconfirmed account confirms it and drops its unproven password", func(t *testing.T) {
		dave := e.createUser("a", newUser{Email: "dave@example.com", Password: "set-by-someone-else", Provider: "email"})
		e.idp.SetUser(oidctest.User{Subject: "g-dave", Email: "dave@example.com", EmailVerified: true})
		_, claims := e.session("a", e.signIn("a", url.Values{"provider": {"google"}}))
		if claims["sub"] != dave.ID {
			t.Fatalf("signed in as %v, want dave", claims["sub"])
		}
		var confirmed, hasPassword bool
		var providers string
		e.queryRow("a", "SELECT email_confirmed_at IS NOT NULL, encrypted_password IS NOT NULL, raw_app_meta_data->>'providers' FROM @S.users WHERE id = $1::uuid",
			[]any{dave.ID}, &confirmed, &hasPassword, &providers)
		if !confirmed || hasPassword || providers != `["google"]` {
			t.Errorf("confirmed %v, password kept %v, providers %s", confirmed, hasPassword, providers)
		}
	})

	t.Run("with sign-ups disabled a new identity is refused", func(t *testing.T) {
		e := newOAuthEnv(t, func(u *control.UsersConfig) { u.DisableSignup = true })
		e.idp.SetUser(oidctest.User{Subject: "g-new", Email: "new@example.com", EmailVerified: true})
		f := e.failure(e.signIn("a", url.Values{"provider": {"google"}}), oauthSite+"?")
		if f.Get("error") != "access_denied" || f.Get("error_code") != "signup_disabled" {
			t.Errorf("error %v", f)
		}
		if n := e.count("a", "@S.users"); n != 0 {
			t.Errorf("%d users", n)
		}
	})
}

func TestOAuthState(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, nil)
	e.idp.SetUser(oidctest.User{Subject: "g-300", Email: "sam@example.com", EmailVerified: true})
	start := func() *url.URL {
		return e.visit(e.authorize("a", url.Values{"provider": {"google"}, "redirect_to": {oauthSite + "/s"}}))
	}
	withState := func(back *url.URL, state string) *url.URL {
		q := back.Query()
		q.Set("state", state)
		c := *back
		c.RawQuery = q.Encode()
		return &c
	}
	badState := func(t *testing.T, to *url.URL) {
		t.Helper()
		f := e.failure(to, oauthSite+"?")
		if f.Get("error") != "invalid_request" || f.Get("error_code") != "bad_oauth_state" {
			t.Errorf("error %v", f)
		}
	}

	t.Run("a state whose payload was changed is refused", func(t *testing.T) {
		back := start()
		parts := strings.Split(back.Query().Get("state"), ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		claims["redirect_to"] = "http://evil.test/"
		payload, _ = json.Marshal(claims)
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		badState(t, e.callback("a", withState(back, strings.Join(parts, "."))))
	})

	t.Run("a state with another signature is refused", func(t *testing.T) {
		back := start()
		st := back.Query().Get("state")
		forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"ref": e.tenants["a"].Name, "provider": "google",
			"redirect_to": "http://evil.test/", "nonce": "n", "jti": "j", "iss": "kapok", "aud": "kapok-oauth-state",
			"exp": time.Now().Add(time.Minute).Unix()}).SignedString([]byte(e.secret))
		if err != nil || forged == st {
			t.Fatal(err)
		}
		badState(t, e.callback("a", withState(back, forged)))
	})

	t.Run("a state from another tenant is refused, and leaves the code to its own tenant", func(t *testing.T) {
		back := start()
		badState(t, e.callback("b", back))
		if n := e.count("b", "@S.users"); n != 0 {
			t.Errorf("tenant b has %d users", n)
		}
		e.session("a", e.callback("a", back))
	})

	t.Run("an expired state is refused", func(t *testing.T) {
		back := start()
		e.skew.Store(int64(11 * time.Minute))
		defer e.skew.Store(0)
		badState(t, e.callback("a", back))
	})

	t.Run("a callback without a state is refused", func(t *testing.T) {
		back := start()
		q := back.Query()
		q.Del("state")
		f := e.failure(e.location(e.serve("a", http.MethodGet, "/callback", q, nil, nil)), oauthSite+"?")
		if f.Get("error_code") != "bad_oauth_callback" {
			t.Errorf("error %v", f)
		}
	})

	t.Run("a callback without a code goes back to redirect_to with the error", func(t *testing.T) {
		back := start()
		q := back.Query()
		q.Del("code")
		f := e.failure(e.location(e.serve("a", http.MethodGet, "/callback", q, nil, nil)), oauthSite+"/s?")
		if f.Get("error_code") != "bad_oauth_callback" {
			t.Errorf("error %v", f)
		}
	})

	t.Run("a code is redeemed once", func(t *testing.T) {
		back := start()
		e.session("a", e.callback("a", back))
		f := e.failure(e.callback("a", back), oauthSite+"/s?")
		if f.Get("error_code") != "bad_oauth_callback" {
			t.Errorf("error %v", f)
		}
	})
}

func TestOAuthProviderError(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, nil)
	e.idp.Deny("access_denied", "The user denied the request")
	f := e.failure(e.signIn("a", url.Values{"provider": {"google"}, "redirect_to": {oauthSite + "/denied"}}), oauthSite+"/denied?")
	if f.Get("error") != "access_denied" || f.Get("error_description") != "The user denied the request" {
		t.Errorf("error %v", f)
	}
	if n := e.count("a", "@S.users"); n != 0 {
		t.Errorf("%d users", n)
	}
}

func TestOAuthUnsupportedProvider(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, nil)
	for _, p := range []string{"", "nope", "gitlab"} {
		t.Run("provider "+p, func(t *testing.T) {
			resp := e.serve("a", http.MethodGet, "/authorize", url.Values{"provider": {p}}, nil, nil)
			var body struct{ Code, Msg string }
			if err := json.Unmarshal(resp.Body, &body); err != nil {
				t.Fatal(err)
			}
			if resp.Status != http.StatusBadRequest || body.Code != "validation_failed" || body.Msg != "Unsupported provider: provider is not enabled" {
				t.Errorf("answer %d %s", resp.Status, resp.Body)
			}
		})
	}
}

func TestOAuthIDTokenRefused(t *testing.T) {
	t.Parallel()
	e := newOAuthEnv(t, nil)
	e.idp.SetUser(oidctest.User{Subject: "g-400", Email: "eve@example.com", EmailVerified: true})
	for _, c := range []struct {
		name   string
		claims map[string]any
		want   string
	}{
		{"another sign-in's nonce", map[string]any{"nonce": "not-this-sign-in"}, "nonce"},
		{"no nonce", map[string]any{"nonce": nil}, "nonce"},
		{"another audience", map[string]any{"aud": "another-client"}, "audience"},
		{"another issuer", map[string]any{"iss": "https://issuer.example"}, "issuer"},
		{"an expired token", map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}, "expired"},
	} {
		t.Run("an ID token with "+c.name, func(t *testing.T) {
			e.idp.OverrideClaims(c.claims)
			defer e.idp.OverrideClaims(nil)
			f := e.failure(e.signIn("a", url.Values{"provider": {"google"}, "redirect_to": {oauthSite + "/t"}}), oauthSite+"/t?")
			if f.Get("error_code") != "bad_oauth_callback" || !strings.Contains(f.Get("error_description"), c.want) {
				t.Errorf("error %v, want a description naming the %s", f, c.want)
			}
			if n := e.count("a", "@S.users"); n != 0 {
				t.Errorf("%d users", n)
			}
		})
	}
	_, claims := e.session("a", e.signIn("a", url.Values{"provider": {"google"}}))
	if claims["email"] != "eve@example.com" {
		t.Errorf("the untampered token signs in %v", claims["email"])
	}
}
