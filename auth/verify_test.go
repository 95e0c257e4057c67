package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/mailsink"
	"github.com/kapok-dev/kapok/internal/testenv"
)

const (
	mailSecret  = "a-test-secret-of-at-least-32-characters!"
	testBaseURL = "http://kapok.test/auth/v1"
)

// mailEnv is a tenant with Kapok Auth on the dev stack's PostgreSQL, its own store
// schema, and a mail sink as its SMTP server.
type mailEnv struct {
	t      *testing.T
	s      *Service
	tenant *control.Tenant
	tn     *tenantCtx
	sink   *mailsink.Sink
	schema string

	mu  sync.Mutex
	now time.Time
}

var envSeq atomic.Int64

func newMailEnv(t *testing.T, mut func(*control.UsersConfig)) *mailEnv {
	t.Helper()
	sink := startSink(t, nil)
	users := &control.UsersConfig{
		SiteURL:      "http://app.test",
		RedirectURLs: []string{"http://localhost:3000/*", "myapp://callback"},
		SMTP:         control.SMTPConfig{Host: "127.0.0.1", Port: sink.Port(), TLS: "none", AdminEmail: "noreply@app.test", SenderName: "App"},
		RateLimits:   control.AuthRateLimits{EmailSent: -1, OTPPerIP: -1, SignInPerIP: -1, SignInPerAccount: -1},
	}
	if mut != nil {
		mut(users)
	}
	name := fmt.Sprintf("mail-%d-%d", os.Getpid(), envSeq.Add(1))
	cfg := &control.Config{
		Upstreams: map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}},
		Tenants:   []*control.TenantConfig{{Name: name, Auth: &control.AuthConfig{JWTSecret: mailSecret, AuthenticatedRole: "authenticated", Users: users}}},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.Default()
	}
	e := &mailEnv{t: t, sink: sink, now: time.Now()}
	reg := control.NewRegistry(cfg, log)
	e.tenant = reg.Tenant(name)
	e.schema = control.AuthSchema(e.tenant.Config)
	drop := func() { testenv.Exec(t, `DROP SCHEMA IF EXISTS "`+e.schema+`" CASCADE`) }
	drop()
	t.Cleanup(drop)
	e.s = New(Options{Registry: reg, Logger: log, Now: e.clock})
	t.Cleanup(e.s.Close)
	tn, resp := e.s.tenantCtx(context.Background(), e.tenant)
	if resp != nil {
		t.Fatalf("tenantCtx: %d %s", resp.Status, resp.Body)
	}
	e.tn = tn
	return e
}

func (e *mailEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *mailEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// request is a call of the API from a client at ip (query may be nil, body any JSON).
func request(method, path string, query url.Values, body any, ip string) *Request {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	if query == nil {
		query = url.Values{}
	}
	return &Request{Method: method, Path: path, Query: query, Body: b, Header: http.Header{},
		ClientIP: netip.MustParseAddr(ip), BaseURL: testBaseURL}
}

func (e *mailEnv) do(r *Request) *Response {
	e.t.Helper()
	return e.s.Serve(context.Background(), e.tenant, r)
}

func (e *mailEnv) post(path string, query url.Values, body any) *Response {
	e.t.Helper()
	return e.do(request(http.MethodPost, path, query, body, "192.0.2.10"))
}

// signUp makes an unconfirmed password user and sends the confirmation mail, as POST
// /signup does without autoconfirm.
func (e *mailEnv) signUp(email, redirectTo string, body map[string]any) *User {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.s.createUser(ctx, e.tn, newUser{Email: email, Password: "secret-password", Provider: "email"})
	if err != nil {
		e.t.Fatal(err)
	}
	if body == nil {
		body = map[string]any{}
	}
	body["email"], body["password"] = email, "secret-password"
	r := request(http.MethodPost, "/signup", url.Values{"redirect_to": {redirectTo}}, body, "192.0.2.10")
	if resp := e.s.sendConfirmation(ctx, e.tn, r, u, redirectTo); resp != nil {
		e.t.Fatalf("sendConfirmation: %d %s", resp.Status, resp.Body)
	}
	return u
}

var linkRE = regexp.MustCompile(regexp.QuoteMeta(testBaseURL) + `/verify\?\S+`)
var codeRE = regexp.MustCompile(`(?m)^(?:Or enter this code: )?(\d{6})$`)

// mailOf waits for the n-th mail to to and returns its link ("" when it has none) and code.
func (e *mailEnv) mailOf(to string, n int) (m *mailsink.Message, link, code string) {
	e.t.Helper()
	m = waitMail(e.t, e.sink, to, n)[n-1]
	link = linkRE.FindString(m.Text)
	sm := codeRE.FindStringSubmatch(m.Text)
	if sm == nil {
		e.t.Fatalf("no code in the mail:\n%s", m.Text)
	}
	return m, link, sm[1]
}

// follow opens a mail's link as a browser would (GET /verify) and returns the redirect.
func (e *mailEnv) follow(link string) *url.URL {
	e.t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		e.t.Fatal(err)
	}
	resp := e.do(request(http.MethodGet, "/verify", u.Query(), nil, "192.0.2.20"))
	if resp.Status != http.StatusSeeOther {
		e.t.Fatalf("GET /verify: %d %s", resp.Status, resp.Body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	return loc
}

func fragment(t *testing.T, u *url.URL) url.Values {
	t.Helper()
	v, err := url.ParseQuery(u.Fragment)
	if err != nil {
		t.Fatalf("fragment %q: %v", u.Fragment, err)
	}
	return v
}

// checkAccessToken verifies the token's signature and returns its claims.
func checkAccessToken(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return []byte(mailSecret), nil }); err != nil {
		t.Fatalf("access token: %v", err)
	}
	return c
}

func (e *mailEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.tn.db.QueryRow(context.Background(), strings.ReplaceAll(sql, "@S", e.tn.schema), args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func status(t *testing.T, resp *Response, want int, code string) map[string]any {
	t.Helper()
	if resp == nil {
		t.Fatalf("no answer (nil), want %d %s", want, code)
	}
	var body map[string]any
	_ = json.Unmarshal(resp.Body, &body)
	if resp.Status != want || (code != "" && body["code"] != code) {
		t.Fatalf("got %d %s, want %d %s", resp.Status, resp.Body, want, code)
	}
	return body
}

func TestSignupConfirmationLink(t *testing.T) {
	e := newMailEnv(t, nil)
	u := e.signUp("Ann@Example.com", "http://app.test/welcome", nil)

	m, link, code := e.mailOf("ann@example.com", 1)
	if m.Subject != "Confirm your email" || m.From != "noreply@app.test" || !strings.Contains(m.HTML, code) {
		t.Fatalf("mail %q from %q:\n%s", m.Subject, m.From, m.Text)
	}
	lu, _ := url.Parse(link)
	if lu.Query().Get("type") != "signup" || lu.Query().Get("redirect_to") != "http://app.test/welcome" ||
		lu.Query().Get("token") != otpHash("ann@example.com", code) {
		t.Fatalf("link %s", link)
	}
	if n := e.count(`SELECT count(*) FROM @S.users WHERE id = $1::uuid AND confirmation_sent_at IS NOT NULL AND email_confirmed_at IS NULL`, u.ID); n != 1 {
		t.Fatal("confirmation_sent_at not set, or confirmed before the link")
	}

	loc := e.follow(link)
	if loc.Scheme+"://"+loc.Host+loc.Path != "http://app.test/welcome" || loc.RawQuery != "" {
		t.Fatalf("redirected to %s", loc)
	}
	f := fragment(t, loc)
	if f.Get("type") != "signup" || f.Get("token_type") != "bearer" || f.Get("refresh_token") == "" || f.Get("expires_in") != "3600" || f.Get("expires_at") == "" {
		t.Fatalf("fragment %v", f)
	}
	c := checkAccessToken(t, f.Get("access_token"))
	if c["sub"] != u.ID || c["session_id"] == "" {
		t.Fatalf("claims %v", c)
	}
	if n := e.count(`SELECT count(*) FROM @S.users WHERE id = $1::uuid AND email_confirmed_at IS NOT NULL`, u.ID); n != 1 {
		t.Fatal("email not confirmed")
	}
	if n := e.count(`SELECT count(*) FROM @S.sessions WHERE id = $1::uuid AND user_id = $2::uuid`, c["session_id"], u.ID); n != 1 {
		t.Fatal("no session")
	}
	for _, action := range []string{"user_confirmation_requested", "user_signedup"} {
		if n := e.count(`SELECT count(*) FROM @S.audit_log WHERE action = $1::text AND actor_id = $2::uuid`, action, u.ID); n != 1 {
			t.Fatalf("%d audit rows %s", n, action)
		}
	}

	t.Run("the link works once", func(t *testing.T) {
		loc := e.follow(link)
		f := fragment(t, loc)
		if loc.Host != "app.test" || f.Get("error") != "access_denied" || f.Get("error_code") != "otp_expired" ||
			f.Get("error_description") != "Email link is invalid or has expired" || f.Get("access_token") != "" {
			t.Fatalf("reused link: %s", loc)
		}
		if n := e.count(`SELECT count(*) FROM @S.sessions WHERE user_id = $1::uuid`, u.ID); n != 1 {
			t.Fatalf("%d sessions", n)
		}
	})
	t.Run("the typed code is gone with the link", func(t *testing.T) {
		status(t, e.post("/verify", nil, map[string]any{"type": "signup", "email": "ann@example.com", "token": code}), 403, "otp_expired")
	})
}

func TestInviteLink(t *testing.T) {
	e := newMailEnv(t, nil)
	ctx := context.Background()
	u, err := e.s.createUser(ctx, e.tn, newUser{Email: "ida@example.com", Invited: true, Provider: "email"})
	if err != nil {
		t.Fatal(err)
	}
	r := request(http.MethodPost, "/invite", nil, map[string]any{"email": "ida@example.com"}, "192.0.2.10")
	if resp := e.s.sendInvite(ctx, e.tn, r, u, "http://localhost:3000/join"); resp != nil {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	m, link, _ := e.mailOf("ida@example.com", 1)
	if m.Subject != "You have been invited" || !strings.Contains(m.Text, "on http://app.test") {
		t.Fatalf("%q\n%s", m.Subject, m.Text)
	}
	// A confirmation link is not an invitation.
	lu, _ := url.Parse(link)
	q := lu.Query()
	q.Set("type", "signup")
	lu.RawQuery = q.Encode()
	if f := fragment(t, e.follow(lu.String())); f.Get("error_code") != "otp_expired" {
		t.Fatalf("invite link as signup: %v", f)
	}
	loc := e.follow(link)
	if f := fragment(t, loc); loc.Path != "/join" || f.Get("type") != "invite" || f.Get("access_token") == "" {
		t.Fatalf("invite link: %s", loc)
	}
	if n := e.count(`SELECT count(*) FROM @S.users WHERE id = $1::uuid AND email_confirmed_at IS NOT NULL AND invited_at IS NOT NULL`, u.ID); n != 1 {
		t.Fatal("not confirmed")
	}
	if n := e.count(`SELECT count(*) FROM @S.audit_log WHERE action IN ('user_invited', 'user_signedup') AND actor_id = $1::uuid`, u.ID); n != 2 {
		t.Fatalf("%d audit rows", n)
	}
}

func TestResendReplacesTheCode(t *testing.T) {
	e := newMailEnv(t, nil)
	e.signUp("bo@example.com", "", nil)
	_, first, _ := e.mailOf("bo@example.com", 1)
	status(t, e.post("/resend", nil, map[string]any{"type": "signup", "email": "bo@example.com"}), 200, "")
	_, second, _ := e.mailOf("bo@example.com", 2)
	if first == second {
		t.Fatal("the same link twice")
	}
	if f := fragment(t, e.follow(first)); f.Get("error_code") != "otp_expired" {
		t.Fatalf("the replaced link still works: %v", f)
	}
	// No redirect_to: the site URL.
	loc := e.follow(second)
	if loc.Host != "app.test" || fragment(t, loc).Get("access_token") == "" {
		t.Fatalf("second link: %s", loc)
	}
	// Confirmed, unknown, malformed.
	status(t, e.post("/resend", nil, map[string]any{"type": "signup", "email": "bo@example.com"}), 200, "")
	status(t, e.post("/resend", nil, map[string]any{"type": "signup", "email": "nobody@example.com"}), 200, "")
	status(t, e.post("/resend", nil, map[string]any{"type": "recovery", "email": "bo@example.com"}), 400, "validation_failed")
	if ms := e.sink.Messages(); len(ms) != 2 {
		t.Fatalf("%d mails", len(ms))
	}
}

func TestExpiredCodes(t *testing.T) {
	e := newMailEnv(t, func(c *control.UsersConfig) { c.OTPExpiry = control.Duration(10 * time.Minute) })
	u := e.signUp("cy@example.com", "", nil)
	_, _, code := e.mailOf("cy@example.com", 1)
	e.advance(11 * time.Minute)
	status(t, e.post("/verify", nil, map[string]any{"type": "email", "email": "cy@example.com", "token": code}), 403, "otp_expired")
	if n := e.count(`SELECT count(*) FROM @S.audit_log WHERE action = 'login_failed' AND actor_id = $1::uuid`, u.ID); n != 1 {
		t.Fatalf("%d login_failed rows", n)
	}

	status(t, e.post("/resend", nil, map[string]any{"type": "signup", "email": "cy@example.com"}), 200, "")
	_, link, _ := e.mailOf("cy@example.com", 2)
	e.advance(11 * time.Minute)
	f := fragment(t, e.follow(link))
	if f.Get("error_code") != "otp_expired" {
		t.Fatalf("expired link: %v", f)
	}
	if n := e.count(`SELECT count(*) FROM @S.users WHERE id = $1::uuid AND email_confirmed_at IS NULL`, u.ID); n != 1 {
		t.Fatal("confirmed by an expired link")
	}
	if n := e.count(`SELECT count(*) FROM @S.sessions`); n != 0 {
		t.Fatalf("%d sessions", n)
	}
}

func TestRecoverTellsNothing(t *testing.T) {
	e := newMailEnv(t, nil)
	ctx := context.Background()
	u, err := e.s.createUser(ctx, e.tn, newUser{Email: "dee@example.com", Password: "pw-123456", Confirmed: true, Provider: "email"})
	if err != nil {
		t.Fatal(err)
	}
	known := e.post("/recover", url.Values{"redirect_to": {"http://localhost:3000/reset"}}, map[string]any{"email": "dee@example.com"})
	unknown := e.post("/recover", url.Values{"redirect_to": {"http://localhost:3000/reset"}}, map[string]any{"email": "nobody@example.com"})
	same(t, known, unknown, 200)
	m, link, _ := e.mailOf("dee@example.com", 1)
	if m.Subject != "Reset your password" || len(e.sink.Messages()) != 1 {
		t.Fatalf("mails: %d, %q", len(e.sink.Messages()), m.Subject)
	}
	if n := e.count(`SELECT count(*) FROM @S.users WHERE id = $1::uuid AND recovery_sent_at IS NOT NULL`, u.ID); n != 1 {
		t.Fatal("recovery_sent_at not set")
	}
	loc := e.follow(link)
	f := fragment(t, loc)
	if loc.String()[:len("http://localhost:3000/reset#")] != "http://localhost:3000/reset#" || f.Get("type") != "recovery" || f.Get("access_token") == "" {
		t.Fatalf("recovery link: %s", loc)
	}

	t.Run("a mail server that fails does not show either", func(t *testing.T) {
		e.sink.Close()
		same(t, e.post("/recover", nil, map[string]any{"email": "dee@example.com"}), e.post("/recover", nil, map[string]any{"email": "nobody@example.com"}), 200)
	})
	t.Run("nor does the mail limit", func(t *testing.T) {
		e := newMailEnv(t, func(c *control.UsersConfig) { c.RateLimits.EmailSent = 2 })
		if _, err := e.s.createUser(ctx, e.tn, newUser{Email: "dee@example.com", Confirmed: true}); err != nil {
			t.Fatal(err)
		}
		known, unknown := map[string]any{"email": "dee@example.com"}, map[string]any{"email": "nobody@example.com"}
		same(t, e.post("/recover", nil, known), e.post("/recover", nil, unknown), 200)
		same(t, e.post("/recover", nil, known), e.post("/recover", nil, unknown), 429)
	})
	t.Run("a malformed address is refused", func(t *testing.T) {
		status(t, e.post("/recover", nil, map[string]any{"email": "not an address"}), 400, "validation_failed")
	})
}

// same checks that two answers cannot be told apart.
func same(t *testing.T, a, b *Response, status int) {
	t.Helper()
	if a.Status != status || a.Status != b.Status || string(a.Body) != string(b.Body) || fmt.Sprint(a.Header) != fmt.Sprint(b.Header) {
		t.Fatalf("known %d %v %s\nunknown %d %v %s", a.Status, a.Header, a.Body, b.Status, b.Header, b.Body)
	}
}

func TestOTPCodes(t *testing.T) {
	e := newMailEnv(t, nil)
	status(t, e.post("/otp", url.Values{"redirect_to": {"myapp://callback"}}, map[string]any{"email": "eve@example.com", "data": map[string]any{"plan": "pro"}}), 200, "")
	m, link, code := e.mailOf("eve@example.com", 1)
	// A new address gets an account and its confirmation, with the code and the link.
	if m.Subject != "Confirm your email" || !strings.Contains(link, "redirect_to=myapp%3A%2F%2Fcallback") {
		t.Fatalf("%q %s", m.Subject, link)
	}
	u, err := e.s.userByEmail(context.Background(), e.tn, "eve@example.com")
	if err != nil || u.EncryptedPassword != nil || u.UserMetadata["plan"] != "pro" {
		t.Fatalf("user %+v %v", u, err)
	}

	status(t, e.post("/verify", nil, map[string]any{"type": "email", "email": "eve@example.com", "token": "000000"}), 403, "otp_expired")
	body := status(t, e.post("/verify", nil, map[string]any{"type": "email", "email": "EVE@example.com", "token": code}), 200, "")
	if body["token_type"] != "bearer" || body["refresh_token"] == "" || body["user"].(map[string]any)["id"] != u.ID {
		t.Fatalf("token response %v", body)
	}
	checkAccessToken(t, body["access_token"].(string))

	// Confirmed now: the next /otp is a magic link.
	status(t, e.post("/magiclink", nil, map[string]any{"email": "eve@example.com"}), 200, "")
	m, link, code = e.mailOf("eve@example.com", 2)
	if m.Subject != "Your sign-in link" || !strings.Contains(link, "type=magiclink") {
		t.Fatalf("%q %s", m.Subject, link)
	}
	// A magic link's code is not a recovery code.
	status(t, e.post("/verify", nil, map[string]any{"type": "recovery", "email": "eve@example.com", "token": code}), 403, "otp_expired")
	hash := otpHash("eve@example.com", code)
	status(t, e.post("/verify", nil, map[string]any{"type": "magiclink", "token_hash": hash}), 200, "")
	if n := e.count(`SELECT count(*) FROM @S.audit_log WHERE action = 'login' AND actor_id = $1::uuid`, u.ID); n != 1 {
		t.Fatalf("%d login rows", n)
	}

	t.Run("unknown addresses", func(t *testing.T) {
		status(t, e.post("/otp", nil, map[string]any{"email": "new@example.com", "create_user": false}), 422, "otp_disabled")
		d := newMailEnv(t, func(c *control.UsersConfig) { c.DisableSignup = true })
		status(t, d.post("/otp", nil, map[string]any{"email": "new@example.com"}), 422, "signup_disabled")
		if n := e.count(`SELECT count(*) FROM @S.users WHERE email = 'new@example.com'`); n != 0 {
			t.Fatal("created")
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		status(t, e.post("/otp", nil, map[string]any{"phone": "+15550100"}), 400, "validation_failed")
		status(t, e.post("/otp", nil, map[string]any{"email": "x@example.com", "code_challenge": "short", "code_challenge_method": "s256"}), 400, "validation_failed")
		status(t, e.do(&Request{Method: "POST", Path: "/otp", Body: []byte("{"), ClientIP: netip.MustParseAddr("192.0.2.1")}), 400, "bad_json")
		status(t, e.post("/verify", nil, map[string]any{"type": "sms", "email": "eve@example.com", "token": "1"}), 400, "validation_failed")
		status(t, e.post("/verify", nil, map[string]any{"type": "email"}), 400, "validation_failed")
	})
}

func TestPKCEMailRedirectsWithACode(t *testing.T) {
	e := newMailEnv(t, nil)
	verifier := "a-verifier-of-more-than-forty-three-characters-0123456789"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	status(t, e.post("/otp", url.Values{"redirect_to": {"http://localhost:3000/cb?x=1"}},
		map[string]any{"email": "pk@example.com", "code_challenge": challenge, "code_challenge_method": "S256"}), 200, "")
	_, link, _ := e.mailOf("pk@example.com", 1)
	loc := e.follow(link)
	code := loc.Query().Get("code")
	if loc.Host != "localhost:3000" || loc.Path != "/cb" || loc.Query().Get("x") != "1" || code == "" || loc.Fragment != "" {
		t.Fatalf("redirected to %s", loc)
	}
	h := sha256.Sum256([]byte(code))
	n := e.count(`SELECT count(*) FROM @S.flow_state f JOIN @S.users u ON u.id = f.user_id
WHERE u.email = 'pk@example.com' AND f.auth_code = $1::text AND f.code_challenge = $2::text AND f.code_challenge_method = 's256'
  AND f.provider_type = 'email' AND f.authentication_method = 'email/signup'`, hex.EncodeToString(h[:]), challenge)
	if n != 1 {
		t.Fatal("the flow state does not hold the code handed out")
	}
	// The session is the code exchange's to make, not the link's.
	if n := e.count(`SELECT count(*) FROM @S.sessions`); n != 0 {
		t.Fatalf("%d sessions", n)
	}

	// Each mail has its own flow: a magic link asked for without PKCE signs in at once.
	status(t, e.post("/otp", nil, map[string]any{"email": "pk@example.com"}), 200, "")
	_, link, _ = e.mailOf("pk@example.com", 2)
	if loc := e.follow(link); loc.Query().Get("code") != "" || fragment(t, loc).Get("access_token") == "" {
		t.Fatalf("implicit magic link: %s", loc)
	}
	status(t, e.post("/otp", nil, map[string]any{"email": "pk@example.com", "code_challenge": challenge, "code_challenge_method": "s256"}), 200, "")
	_, link, _ = e.mailOf("pk@example.com", 3)
	if loc := e.follow(link); loc.Query().Get("code") == "" {
		t.Fatalf("magic link with PKCE: %s", loc)
	}
	// The flow state of that link waits for its exchange; the next mail without PKCE
	// drops it, so that its link is not answered with a code.
	status(t, e.post("/otp", nil, map[string]any{"email": "pk@example.com"}), 200, "")
	_, link, _ = e.mailOf("pk@example.com", 4)
	if loc := e.follow(link); loc.Query().Get("code") != "" || fragment(t, loc).Get("access_token") == "" {
		t.Fatalf("magic link without PKCE: %s", loc)
	}
}

func TestVerifyAttemptsAreLimited(t *testing.T) {
	e := newMailEnv(t, func(c *control.UsersConfig) { c.RateLimits.SignInPerIP = 3 })
	e.signUp("fay@example.com", "", nil)
	_, _, code := e.mailOf("fay@example.com", 1)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for range 3 {
		status(t, e.post("/verify", nil, map[string]any{"type": "email", "email": "fay@example.com", "token": wrong}), 403, "otp_expired")
	}
	resp := e.post("/verify", nil, map[string]any{"type": "email", "email": "fay@example.com", "token": code})
	status(t, resp, 429, "over_request_rate_limit")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// Another address may still verify; the code was not used up by the refusal.
	r := request(http.MethodPost, "/verify", nil, map[string]any{"type": "email", "email": "fay@example.com", "token": code}, "198.51.100.7")
	status(t, e.do(r), 200, "")
}

func TestMailLimits(t *testing.T) {
	e := newMailEnv(t, func(c *control.UsersConfig) { c.RateLimits.EmailSent = 1; c.RateLimits.OTPPerIP = 2 })
	status(t, e.post("/otp", nil, map[string]any{"email": "g1@example.com"}), 200, "")
	status(t, e.post("/otp", nil, map[string]any{"email": "g2@example.com"}), 429, "over_email_send_rate_limit")
	status(t, e.post("/otp", nil, map[string]any{"email": "g3@example.com"}), 429, "over_request_rate_limit")

	d := newMailEnv(t, func(c *control.UsersConfig) { c.SMTP = control.SMTPConfig{} })
	status(t, d.post("/otp", nil, map[string]any{"email": "h@example.com"}), 422, "smtp_not_configured")
	status(t, d.post("/recover", nil, map[string]any{"email": "h@example.com"}), 422, "smtp_not_configured")
	if n := d.count(`SELECT count(*) FROM @S.users`); n != 0 {
		t.Fatal("a user was created for a mail that cannot be sent")
	}
}

func TestEmailChangeNeedsBothAddresses(t *testing.T) {
	e := newMailEnv(t, nil)
	ctx := context.Background()
	u, err := e.s.createUser(ctx, e.tn, newUser{Email: "old@example.com", Confirmed: true, Provider: "email"})
	if err != nil {
		t.Fatal(err)
	}
	r := request(http.MethodPut, "/user", nil, map[string]any{"email": "new@example.com"}, "192.0.2.10")
	if resp := e.s.sendEmailChange(ctx, e.tn, r, u, "New@Example.com", "http://app.test/settings"); resp != nil {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	mOld, oldLink, _ := e.mailOf("old@example.com", 1)
	mNew, _, newCode := e.mailOf("new@example.com", 1)
	if mOld.Subject != "Confirm the change of your email address" || !strings.Contains(mNew.Text, "from old@example.com to new@example.com") {
		t.Fatalf("%q\n%s", mOld.Subject, mNew.Text)
	}

	loc := e.follow(oldLink)
	if f := fragment(t, loc); f.Get("message") != emailChangeHalfDone || f.Get("access_token") != "" || loc.Path != "/settings" {
		t.Fatalf("first confirmation: %s", loc)
	}
	if v, _ := e.s.userByID(ctx, e.tn, u.ID); v.Email != "old@example.com" || v.EmailChange == nil {
		t.Fatal("changed after one confirmation")
	}
	body := status(t, e.post("/verify", nil, map[string]any{"type": "email_change", "email": "new@example.com", "token": newCode}), 200, "")
	if body["user"].(map[string]any)["email"] != "new@example.com" {
		t.Fatalf("%v", body)
	}
	if n := e.count(`SELECT count(*) FROM @S.identities WHERE user_id = $1::uuid AND email = 'new@example.com' AND identity_data->>'email' = 'new@example.com'`, u.ID); n != 1 {
		t.Fatal("identity keeps the old address")
	}
	if n := e.count(`SELECT count(*) FROM @S.users WHERE id = $1::uuid AND email_change IS NULL AND email = 'new@example.com'`, u.ID); n != 1 {
		t.Fatal("pending change left")
	}

	t.Run("resend mails both again", func(t *testing.T) {
		if resp := e.s.sendEmailChange(ctx, e.tn, r, &User{ID: u.ID, Email: "new@example.com"}, "third@example.com", ""); resp != nil {
			t.Fatalf("%d %s", resp.Status, resp.Body)
		}
		status(t, e.post("/resend", nil, map[string]any{"type": "email_change", "email": "new@example.com"}), 200, "")
		waitMail(t, e.sink, "third@example.com", 2)
		waitMail(t, e.sink, "new@example.com", 3)
	})
	t.Run("an address another user has is refused", func(t *testing.T) {
		if _, err := e.s.createUser(ctx, e.tn, newUser{Email: "taken@example.com", Confirmed: true}); err != nil {
			t.Fatal(err)
		}
		status(t, e.s.sendEmailChange(ctx, e.tn, r, u, "taken@example.com", ""), 422, "email_exists")
	})
}

func TestReauthenticate(t *testing.T) {
	e := newMailEnv(t, nil)
	e.signUp("hal@example.com", "", nil)
	_, _, code := e.mailOf("hal@example.com", 1)
	body := status(t, e.post("/verify", nil, map[string]any{"type": "signup", "email": "hal@example.com", "token": code}), 200, "")
	claims, _ := json.Marshal(checkAccessToken(t, body["access_token"].(string)))

	r := request(http.MethodGet, "/reauthenticate", nil, nil, "192.0.2.10")
	status(t, e.do(r), 401, "no_authorization")
	r.Caller.Claims = claims
	status(t, e.do(r), 200, "")
	m, link, code := e.mailOf("hal@example.com", 2)
	if m.Subject != "Confirm it is you" || link != "" || len(code) != 6 {
		t.Fatalf("%q link %q code %q", m.Subject, link, code)
	}
	if n := e.count(`SELECT count(*) FROM @S.one_time_tokens WHERE kind = 'reauthentication' AND token_hash = $1::text`, otpHash("hal@example.com", code)); n != 1 {
		t.Fatal("code not stored")
	}
	if n := e.count(`SELECT count(*) FROM @S.users WHERE reauthentication_sent_at IS NOT NULL`); n != 1 {
		t.Fatal("reauthentication_sent_at not set")
	}

	u, _ := e.s.userByEmail(context.Background(), e.tn, "hal@example.com")
	ctx := context.Background()
	status(t, e.s.checkReauthentication(ctx, e.tn, u, ""), 400, "reauthentication_needed")
	status(t, e.s.checkReauthentication(ctx, e.tn, u, "not-it"), 400, "reauthentication_not_valid")
	// The code is not a sign-in code.
	status(t, e.post("/verify", nil, map[string]any{"type": "email", "email": "hal@example.com", "token": code}), 403, "otp_expired")
	if resp := e.s.checkReauthentication(ctx, e.tn, u, code); resp != nil {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	status(t, e.s.checkReauthentication(ctx, e.tn, u, code), 400, "reauthentication_not_valid")
}

func TestRedirectAllowList(t *testing.T) {
	tn := &tenantCtx{cfg: control.UsersConfig{SiteURL: "https://app.example.com/base",
		RedirectURLs: []string{"http://localhost:3000/*", "https://preview.example.com*", "myapp://callback"}}}
	s := New(Options{})
	for want, allowed := range map[string]bool{
		"https://app.example.com/base":             true,
		"https://app.example.com/base/x?y=1#z":     true,
		"https://APP.example.com/base/x":           true,
		"https://app.example.com/basement":         false,
		"https://app.example.com/other":            false,
		"http://app.example.com/base":              false,
		"https://app.example.com.evil.com/base":    false,
		"https://user@app.example.com/base":        false,
		"http://localhost:3000/":                   true,
		"http://localhost:3000/a/b?c":              true,
		"http://localhost:30001/":                  false,
		"https://preview.example.com/x":            true,
		"https://preview.example.com":              true,
		"https://preview.example.com.evil.com/":    false,
		"https://preview.example.com@evil.com/":    false,
		"myapp://callback":                         true,
		"myapp://callback/other":                   false,
		"javascript:alert(1)":                      false,
		"/relative":                                false,
		"https://app.example.com/base/\\evil.com/": false,
	} {
		got := s.redirectTo(tn, want)
		if (got == want) != allowed {
			t.Errorf("%s: allowed %v, got %s", want, allowed, got)
		}
		if got != want && got != tn.cfg.SiteURL {
			t.Errorf("%s: fell back to %s", want, got)
		}
	}
	if got := s.redirectTo(tn, ""); got != tn.cfg.SiteURL {
		t.Errorf("empty: %s", got)
	}
}
