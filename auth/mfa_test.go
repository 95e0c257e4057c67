package auth

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image/color"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// mfaClock is the Service's clock in these tests: codes are computed for the same instant
// the Service checks them at, and tests move it to expire challenges.
type mfaClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *mfaClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *mfaClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type mfaEnv struct {
	t      *testing.T
	ctx    context.Context
	s      *Service
	tn     *tenantCtx
	clock  *mfaClock
	secret string // the tenant's JWT secret
}

var mfaTenants atomic.Int32

// newMFAEnv gives a tenant of its own, with its store installed in the dev database and
// reached through PgBouncer as in production.
func newMFAEnv(t *testing.T, users control.UsersConfig) *mfaEnv {
	t.Helper()
	name := fmt.Sprintf("authmfa%d", mfaTenants.Add(1))
	secret := "mfa-test-secret-0123456789abcdefghijklmnop"
	tc := &control.TenantConfig{Name: name, Mode: "schema",
		Auth: &control.AuthConfig{JWTSecret: secret, AuthenticatedRole: "authenticated", Users: &users}}
	schema := control.AuthSchema(tc)
	testenv.FreshSchema(t, schema, "")
	testenv.Exec(t, storeScript(pgx.Identifier{schema}.Sanitize(), schema))
	// Step-aligned plus ten seconds: every code below is computed well inside its step.
	clock := &mfaClock{t: time.Now().Truncate(30 * time.Second).Add(10 * time.Second)}
	return &mfaEnv{
		t:      t,
		ctx:    context.Background(),
		s:      New(Options{Now: clock.Now}),
		clock:  clock,
		secret: secret,
		tn: &tenantCtx{
			t:      &control.Tenant{Name: name, Config: tc},
			cfg:    usersConfig(tc),
			auth:   tc.Auth,
			schema: pgx.Identifier{schema}.Sanitize(),
			db:     testenv.Pool(t),
		},
	}
}

// mfaSession is a signed-in user: a users row and a session row, as a password sign-in
// leaves them.
type mfaSession struct {
	user, email, session string
}

func (e *mfaEnv) signUp(email string) mfaSession {
	e.t.Helper()
	var id string
	if err := e.tn.db.QueryRow(e.ctx, `INSERT INTO `+e.tn.schema+`.users (email, email_confirmed_at) VALUES ($1::text, now()) RETURNING id::text`,
		email).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return e.signIn(mfaSession{user: id, email: email})
}

// signIn opens another aal1 session of the user.
func (e *mfaEnv) signIn(u mfaSession) mfaSession {
	e.t.Helper()
	amr := fmt.Sprintf(`[{"method":"password","timestamp":%d}]`, e.clock.Now().Unix())
	if err := e.tn.db.QueryRow(e.ctx, `INSERT INTO `+e.tn.schema+`.sessions (user_id, amr) VALUES ($1::uuid, $2::jsonb) RETURNING id::text`,
		u.user, amr).Scan(&u.session); err != nil {
		e.t.Fatal(err)
	}
	return u
}

type mfaAnswer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// code is the error code of an error answer.
func (a mfaAnswer) code() string { s, _ := a.body["code"].(string); return s }

func (a mfaAnswer) str(k string) string { s, _ := a.body[k].(string); return s }

// call sends method /factors<rest> as the session's user would through the proxy: the
// claims of its access token, already verified.
func (e *mfaEnv) call(as mfaSession, method, rest string, body any) mfaAnswer {
	e.t.Helper()
	r := &Request{Method: method, Path: "/factors" + rest, ClientIP: netip.MustParseAddr("192.0.2.7"), Header: http.Header{}}
	if as.user != "" {
		c, _ := json.Marshal(map[string]any{"sub": as.user, "session_id": as.session, "aal": "aal1", "role": "authenticated",
			"aud": "authenticated", "email": as.email, "exp": e.clock.Now().Add(time.Hour).Unix()})
		r.Caller.Claims = c
	}
	switch b := body.(type) {
	case nil:
	case string:
		r.Body = []byte(b)
	default:
		r.Body, _ = json.Marshal(b)
	}
	resp := e.s.serveFactors(e.ctx, e.tn, r, rest)
	a := mfaAnswer{status: resp.Status, header: resp.Header, raw: string(resp.Body)}
	if len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, &a.body); err != nil {
			e.t.Fatalf("%s /factors%s: answer is not a JSON object: %v\n%s", method, rest, err, resp.Body)
		}
	}
	return a
}

func (e *mfaEnv) want(a mfaAnswer, status int, code string) {
	e.t.Helper()
	if a.status != status || (code != "" && a.code() != code) {
		e.t.Fatalf("got %d %s, want %d %s", a.status, a.raw, status, code)
	}
}

type mfaFactor struct{ id, secret string }

func (e *mfaEnv) enroll(as mfaSession, name string) mfaFactor {
	e.t.Helper()
	a := e.call(as, "POST", "", map[string]any{"factor_type": "totp", "friendly_name": name})
	e.want(a, 200, "")
	totpPart, _ := a.body["totp"].(map[string]any)
	f := mfaFactor{id: a.str("id")}
	f.secret, _ = totpPart["secret"].(string)
	if f.id == "" || f.secret == "" {
		e.t.Fatalf("enroll answered %s", a.raw)
	}
	return f
}

func (e *mfaEnv) challenge(as mfaSession, f mfaFactor) string {
	e.t.Helper()
	a := e.call(as, "POST", "/"+f.id+"/challenge", map[string]any{"factorId": f.id})
	e.want(a, 200, "")
	return a.str("id")
}

// codeAt is what an authenticator app holding f's secret shows at t.
func (e *mfaEnv) codeAt(f mfaFactor, t time.Time) string {
	e.t.Helper()
	code, err := totp.GenerateCodeCustom(f.secret, t, totpOpts)
	if err != nil {
		e.t.Fatal(err)
	}
	return code
}

func (e *mfaEnv) verify(as mfaSession, f mfaFactor, challenge, code string) mfaAnswer {
	e.t.Helper()
	return e.call(as, "POST", "/"+f.id+"/verify", map[string]any{"challenge_id": challenge, "code": code})
}

// verifyNow challenges f and verifies it with the current code.
func (e *mfaEnv) verifyNow(as mfaSession, f mfaFactor) mfaAnswer {
	e.t.Helper()
	a := e.verify(as, f, e.challenge(as, f), e.codeAt(f, e.clock.Now()))
	e.want(a, 200, "")
	return a
}

func (e *mfaEnv) scalar(sql string, args ...any) string {
	e.t.Helper()
	var v *string
	if err := e.tn.db.QueryRow(e.ctx, strings.ReplaceAll(sql, "@S@", e.tn.schema), args...).Scan(&v); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	if v == nil {
		return "<null>"
	}
	return *v
}

type tokenClaims struct {
	jwt.RegisteredClaims
	AAL       string     `json:"aal"`
	AMR       []amrEntry `json:"amr"`
	SessionID string     `json:"session_id"`
}

func (e *mfaEnv) accessToken(a mfaAnswer) tokenClaims {
	e.t.Helper()
	var c tokenClaims
	if _, err := jwt.ParseWithClaims(a.str("access_token"), &c, func(*jwt.Token) (any, error) { return []byte(e.secret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(e.clock.Now)); err != nil {
		e.t.Fatalf("access token of %s: %v", a.raw, err)
	}
	return c
}

func TestMFAEnrollChallengeVerifyRaisesTheSessionToAAL2(t *testing.T) {
	e := newMFAEnv(t, control.UsersConfig{})
	alice := e.signUp("alice@example.com")
	other := e.signIn(alice) // a second device, still at aal1

	f := e.enroll(alice, "phone app")
	if got := e.scalar(`SELECT status FROM @S@.mfa_factors WHERE id = $1::uuid`, f.id); got != "unverified" {
		t.Fatalf("new factor is %s", got)
	}
	ch := e.call(alice, "POST", "/"+f.id+"/challenge", map[string]any{"factorId": f.id})
	e.want(ch, 200, "")
	if ch.str("type") != "totp" || ch.body["expires_at"] != float64(e.clock.Now().Add(5*time.Minute).Unix()) {
		t.Fatalf("challenge: %s", ch.raw)
	}

	a := e.verify(alice, f, ch.str("id"), e.codeAt(f, e.clock.Now()))
	e.want(a, 200, "")
	if a.str("token_type") != "bearer" || a.str("refresh_token") == "" || a.body["user"] == nil {
		t.Fatalf("verify answered %s", a.raw)
	}
	c := e.accessToken(a)
	if c.AAL != "aal2" || len(c.AMR) == 0 || c.AMR[0].Method != "totp" || c.SessionID != alice.session || c.Subject != alice.user {
		t.Fatalf("access token claims: aal %q amr %+v session %q sub %q", c.AAL, c.AMR, c.SessionID, c.Subject)
	}
	if got := e.scalar(`SELECT status FROM @S@.mfa_factors WHERE id = $1::uuid`, f.id); got != "verified" {
		t.Fatalf("factor is %s after verify", got)
	}
	if got := e.scalar(`SELECT aal || ' ' || factor_id FROM @S@.sessions WHERE id = $1::uuid`, alice.session); got != "aal2 "+f.id {
		t.Fatalf("session: %s", got)
	}
	if got := e.scalar(`SELECT (verified_at IS NOT NULL)::text FROM @S@.mfa_challenges WHERE id = $1::uuid`, ch.str("id")); got != "true" {
		t.Fatal("challenge not marked verified")
	}
	if got := e.scalar(`SELECT count(*)::text FROM @S@.sessions WHERE id = $1::uuid`, other.session); got != "0" {
		t.Fatal("the user's other aal1 session survived the factor's verification")
	}
	if got := e.scalar(`SELECT string_agg(action, ',' ORDER BY id) FROM @S@.audit_log WHERE actor_id = $1::uuid`, alice.user); got != "factor_enrolled,factor_verified" {
		t.Fatalf("audit log: %s", got)
	}

	// A verified factor verifies again in a later session, and that session reaches aal2 too.
	later := e.signIn(alice)
	e.clock.Advance(time.Minute)
	if c := e.accessToken(e.verifyNow(later, f)); c.AAL != "aal2" || c.SessionID != later.session {
		t.Fatalf("second sign-in: aal %q session %q", c.AAL, c.SessionID)
	}
}

func TestMFAVerifyRefusesAWrongCode(t *testing.T) {
	e := newMFAEnv(t, control.UsersConfig{})
	bob := e.signUp("bob@example.com")
	f := e.enroll(bob, "")
	ch := e.challenge(bob, f)
	right := e.codeAt(f, e.clock.Now())
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, right)+1)%1000000)

	for _, code := range []string{wrong, "12345", "abcdef", e.codeAt(f, e.clock.Now().Add(-2*time.Minute))} {
		e.want(e.verify(bob, f, ch, code), 422, "mfa_verification_failed")
	}
	if got := e.scalar(`SELECT status FROM @S@.mfa_factors WHERE id = $1::uuid`, f.id); got != "unverified" {
		t.Fatalf("factor is %s after wrong codes", got)
	}
	if got := e.scalar(`SELECT aal FROM @S@.sessions WHERE id = $1::uuid`, bob.session); got != "aal1" {
		t.Fatalf("session is %s after wrong codes", got)
	}
	if got := e.scalar(`SELECT count(*)::text FROM @S@.audit_log WHERE action = 'login_failed' AND actor_id = $1::uuid`, bob.user); got != "4" {
		t.Fatalf("%s failed verifications audited, want 4", got)
	}
	e.want(e.verify(bob, f, ch, ""), 400, "validation_failed")
	e.want(e.verify(bob, f, "not-a-uuid", right), 400, "validation_failed")
	e.want(e.call(bob, "POST", "/"+f.id+"/verify", `{"code":`), 400, "bad_json")
	// The challenge survives wrong codes: the right one still passes it.
	e.want(e.verify(bob, f, ch, right), 200, "")
}

func TestMFAVerifyRefusesAReplayedCode(t *testing.T) {
	e := newMFAEnv(t, control.UsersConfig{})
	carol := e.signUp("carol@example.com")
	f := e.enroll(carol, "")
	code := e.codeAt(f, e.clock.Now())
	ch := e.challenge(carol, f)
	e.want(e.verify(carol, f, ch, code), 200, "")

	// The same challenge is spent, and the same code fails on a new one, also a step later
	// while the skew would still match it.
	e.want(e.verify(carol, f, ch, code), 422, "mfa_challenge_expired")
	e.want(e.verify(carol, f, e.challenge(carol, f), code), 422, "mfa_verification_failed")
	e.clock.Advance(30 * time.Second)
	e.want(e.verify(carol, f, e.challenge(carol, f), code), 422, "mfa_verification_failed")

	// The next step's code is a new one.
	e.want(e.verify(carol, f, e.challenge(carol, f), e.codeAt(f, e.clock.Now())), 200, "")
	// Steps the skew no longer reaches are forgotten.
	e.clock.Advance(5 * time.Minute)
	e.want(e.verify(carol, f, e.challenge(carol, f), e.codeAt(f, e.clock.Now())), 200, "")
	if got := e.scalar(`SELECT count(*)::text FROM @S@.mfa_used_codes WHERE factor_id = $1::uuid`, f.id); got != "1" {
		t.Fatalf("%s used codes kept, want 1", got)
	}
}

func TestMFAChallengeExpiresAfterFiveMinutes(t *testing.T) {
	e := newMFAEnv(t, control.UsersConfig{})
	dan := e.signUp("dan@example.com")
	f := e.enroll(dan, "")

	ch := e.challenge(dan, f)
	e.clock.Advance(5*time.Minute - time.Second)
	e.want(e.verify(dan, f, ch, e.codeAt(f, e.clock.Now())), 200, "")

	e.clock.Advance(time.Minute)
	ch = e.challenge(dan, f)
	e.clock.Advance(5 * time.Minute)
	e.want(e.verify(dan, f, ch, e.codeAt(f, e.clock.Now())), 422, "mfa_challenge_expired")

	// A new challenge clears the factor's spent and expired ones.
	e.challenge(dan, f)
	if got := e.scalar(`SELECT count(*)::text FROM @S@.mfa_challenges WHERE factor_id = $1::uuid`, f.id); got != "1" {
		t.Fatalf("%s challenges kept, want 1", got)
	}
	e.want(e.verify(dan, f, ch, e.codeAt(f, e.clock.Now())), 422, "mfa_factor_not_found")
}

func TestMFAAnotherUsersFactorIsNotFound(t *testing.T) {
	e := newMFAEnv(t, control.UsersConfig{})
	erin := e.signUp("erin@example.com")
	frank := e.signUp("frank@example.com")
	f := e.enroll(erin, "")
	ch := e.challenge(erin, f)
	unknown := mfaFactor{id: "00000000-0000-4000-8000-000000000000", secret: f.secret}

	for _, target := range []mfaFactor{f, unknown} {
		code := e.codeAt(f, e.clock.Now())
		answers := []mfaAnswer{
			e.call(frank, "POST", "/"+target.id+"/challenge", map[string]any{}),
			e.verify(frank, target, ch, code),
			e.call(frank, "DELETE", "/"+target.id, nil),
		}
		for _, a := range answers {
			e.want(a, 404, "mfa_factor_not_found")
			if a.raw != string(factorNotFound().Body) {
				t.Fatalf("another user's factor answered %s", a.raw)
			}
		}
	}
	e.want(e.call(frank, "POST", "/not-a-uuid/challenge", nil), 404, "mfa_factor_not_found")

	// Erin's challenge is no challenge of Frank's factor either.
	g := e.enroll(frank, "")
	e.want(e.verify(frank, g, ch, e.codeAt(g, e.clock.Now())), 422, "mfa_factor_not_found")

	if got := e.scalar(`SELECT status FROM @S@.mfa_factors WHERE id = $1::uuid`, f.id); got != "unverified" {
		t.Fatalf("Erin's factor is %s", got)
	}
	e.want(e.verify(erin, f, ch, e.codeAt(f, e.clock.Now())), 200, "")
}

func TestMFAUnenrollOfAVerifiedFactorNeedsAAL2(t *testing.T) {
	e := newMFAEnv(t, control.UsersConfig{})
	gina := e.signUp("gina@example.com")

	// An unverified factor goes from an aal1 session.
	loose := e.enroll(gina, "abandoned")
	a := e.call(gina, "DELETE", "/"+loose.id, nil)
	e.want(a, 200, "")
	if a.str("id") != loose.id {
		t.Fatalf("unenroll answered %s", a.raw)
	}

	f := e.enroll(gina, "app")
	e.verifyNow(gina, f)
	weak := e.signIn(gina)
	e.want(e.call(weak, "DELETE", "/"+f.id, nil), 403, "insufficient_aal")
	if got := e.scalar(`SELECT count(*)::text FROM @S@.mfa_factors WHERE id = $1::uuid`, f.id); got != "1" {
		t.Fatal("an aal1 session removed a verified factor")
	}

	e.want(e.call(gina, "DELETE", "/"+f.id, nil), 200, "")
	if got := e.scalar(`SELECT count(*)::text FROM @S@.mfa_factors WHERE user_id = $1::uuid`, gina.user); got != "0" {
		t.Fatalf("%s factors left", got)
	}
	if got := e.scalar(`SELECT aal || ' ' || coalesce(factor_id::text, '-') || ' ' || (amr @> '[{"method":"totp"}]')::text
		FROM @S@.sessions WHERE id = $1::uuid`, gina.session); got != "aal1 - false" {
		t.Fatalf("session after its factor went: %s", got)
	}
	if got := e.scalar(`SELECT string_agg(action, ',' ORDER BY id) FROM @S@.audit_log WHERE action = 'factor_unenrolled' AND actor_id = $1::uuid`, gina.user); got != "factor_unenrolled,factor_unenrolled" {
		t.Fatalf("audit log: %s", got)
	}
	e.want(e.call(gina, "DELETE", "/"+f.id, nil), 404, "mfa_factor_not_found")
}

func TestMFAEnrollingAnotherFactorNeedsAAL2(t *testing.T) {
	e := newMFAEnv(t, control.UsersConfig{})
	hal := e.signUp("hal@example.com")
	// Before any factor is verified, enrolling needs no second factor.
	f := e.enroll(hal, "first")
	e.enroll(hal, "spare")
	e.verifyNow(hal, f)
	// Verifying the first factor dropped the spare, unverified one.
	if got := e.scalar(`SELECT string_agg(friendly_name, ',') FROM @S@.mfa_factors WHERE user_id = $1::uuid`, hal.user); got != "first" {
		t.Fatalf("factors after verification: %s", got)
	}

	weak := e.signIn(hal)
	e.want(e.call(weak, "POST", "", map[string]any{"factor_type": "totp", "friendly_name": "second"}), 403, "insufficient_aal")
	e.enroll(hal, "second")
	// A verified factor's name is taken.
	e.want(e.call(hal, "POST", "", map[string]any{"factor_type": "totp", "friendly_name": "first"}), 422, "mfa_factor_name_conflict")
}

func TestMFAEnrollRules(t *testing.T) {
	e := newMFAEnv(t, control.UsersConfig{MFA: control.MFAConfig{MaxFactors: 2}})
	ivy := e.signUp("ivy@example.com")

	for _, c := range []struct {
		body   any
		status int
		code   string
	}{
		{map[string]any{"factor_type": "phone", "phone": "+15555550100"}, 422, "mfa_phone_enroll_not_enabled"},
		{map[string]any{"factor_type": "webauthn"}, 422, "mfa_webauthn_enroll_not_enabled"},
		{map[string]any{"factor_type": "sms"}, 400, "validation_failed"},
		{map[string]any{"friendly_name": "no type"}, 400, "validation_failed"},
		{`{"factor_type":`, 400, "bad_json"},
		{`[1]`, 400, "bad_json"},
	} {
		e.want(e.call(ivy, "POST", "", c.body), c.status, c.code)
	}
	e.want(e.call(mfaSession{}, "POST", "", map[string]any{"factor_type": "totp"}), 401, "")
	e.want(e.call(ivy, "GET", "", nil), 405, "")
	e.want(e.call(ivy, "GET", "/00000000-0000-4000-8000-000000000000/verify", nil), 405, "")
	e.want(e.call(ivy, "POST", "/00000000-0000-4000-8000-000000000000/other", nil), 404, "")

	// Enrolling again under the name of an unverified factor replaces it.
	a := e.enroll(ivy, "laptop")
	b := e.enroll(ivy, "laptop")
	if a.id == b.id || a.secret == b.secret {
		t.Fatal("the second enrolment reused the first factor")
	}
	if got := e.scalar(`SELECT string_agg(id::text, ',') FROM @S@.mfa_factors WHERE user_id = $1::uuid`, ivy.user); got != b.id {
		t.Fatalf("factors: %s, want only %s", got, b.id)
	}
	e.enroll(ivy, "")
	e.want(e.call(ivy, "POST", "", map[string]any{"factor_type": "totp", "friendly_name": "third"}), 422, "too_many_enrolled_mfa_factors")
	// At the limit, replacing an unverified factor is still allowed.
	e.enroll(ivy, "laptop")

	off := newMFAEnv(t, control.UsersConfig{MFA: control.MFAConfig{Disabled: true}})
	e = off
	jim := e.signUp("jim@example.com")
	e.want(e.call(jim, "POST", "", map[string]any{"factor_type": "totp"}), 422, "mfa_totp_enroll_not_enabled")
}

func TestMFAVerifyAttemptsAreRateLimited(t *testing.T) {
	e := newMFAEnv(t, control.UsersConfig{RateLimits: control.AuthRateLimits{SignInPerAccount: 3}})
	kim := e.signUp("kim@example.com")
	f := e.enroll(kim, "")
	ch := e.challenge(kim, f)
	right := e.codeAt(f, e.clock.Now())
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, right)+1)%1000000)
	for range 3 {
		e.want(e.verify(kim, f, ch, wrong), 422, "mfa_verification_failed")
	}
	a := e.verify(kim, f, ch, right)
	e.want(a, 429, "over_request_rate_limit")
	if wait, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || wait <= 0 {
		t.Fatalf("Retry-After %q", a.header.Get("Retry-After"))
	}
	if got := e.scalar(`SELECT status FROM @S@.mfa_factors WHERE id = $1::uuid`, f.id); got != "unverified" {
		t.Fatalf("factor is %s after a refused attempt", got)
	}
}

func TestMFAEnrollAnswersAQRCodeOfTheOTPAuthURI(t *testing.T) {
	e := newMFAEnv(t, control.UsersConfig{})
	lee := e.signUp("lee@example.com")
	a := e.call(lee, "POST", "", map[string]any{"factor_type": "totp", "friendly_name": "Lee's phone", "issuer": "Acme Corp"})
	e.want(a, 200, "")
	if a.str("type") != "totp" || a.str("friendly_name") != "Lee's phone" {
		t.Fatalf("enroll answered %s", a.raw)
	}
	part := a.body["totp"].(map[string]any)
	svg, secret, uri := part["qr_code"].(string), part["secret"].(string), part["uri"].(string)

	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Acme Corp:lee@example.com" ||
		u.Query().Get("secret") != secret || u.Query().Get("issuer") != "Acme Corp" ||
		u.Query().Get("digits") != "6" || u.Query().Get("period") != "30" || u.Query().Get("algorithm") != "SHA1" {
		t.Fatalf("otpauth URI %s (secret %s)", uri, secret)
	}
	if got := e.scalar(`SELECT secret FROM @S@.mfa_factors WHERE id = $1::uuid`, a.str("id")); got != secret {
		t.Fatal("the stored secret is not the one handed out")
	}

	// auth-js makes the image's URL by prefixing the document; it must be one as it stands.
	dataURI := "data:image/svg+xml;utf-8," + svg
	doc, ok := strings.CutPrefix(dataURI, "data:image/svg+xml;utf-8,<svg ")
	if !ok || strings.ContainsAny(doc, "#%") {
		t.Fatalf("not a plain SVG data URI: %.80s…", dataURI)
	}
	var parsed struct {
		XMLName xml.Name
		ViewBox string `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal([]byte(svg), &parsed); err != nil || parsed.XMLName.Space != "http://www.w3.org/2000/svg" || parsed.XMLName.Local != "svg" {
		t.Fatalf("qr_code is not an SVG document (%v): %.80s…", err, svg)
	}

	// The drawing is the QR code of the URI, module for module.
	want, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	n := want.Bounds().Dx()
	if parsed.ViewBox != fmt.Sprintf("0 0 %d %d", n+8, n+8) {
		t.Fatalf("viewBox %q for a %d-module code", parsed.ViewBox, n)
	}
	drawn := make([][]bool, n)
	for i := range drawn {
		drawn[i] = make([]bool, n)
	}
	for _, m := range regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`).FindAllStringSubmatch(parsed.Path.D, -1) {
		x, y, w := mustAtoi(t, m[1])-4, mustAtoi(t, m[2])-4, mustAtoi(t, m[3])
		for i := range w {
			drawn[y][x+i] = true
		}
	}
	for y := range n {
		for x := range n {
			if drawn[y][x] != (want.At(x, y) == color.Black) {
				t.Fatalf("module (%d,%d) differs from the QR code of %s", x, y, uri)
			}
		}
	}

	// The issuer defaults to auth.users.mfa.issuer, then to the tenant's name.
	if got := e.enrollURI(lee, "b"); !strings.HasPrefix(got, "otpauth://totp/"+e.tn.t.Name+":lee@example.com?") {
		t.Fatalf("default issuer: %s", got)
	}
	e.tn.cfg.MFA.Issuer = "Kapok Demo"
	if got := e.enrollURI(lee, "c"); !strings.HasPrefix(got, "otpauth://totp/Kapok%20Demo:lee@example.com?") {
		t.Fatalf("configured issuer: %s", got)
	}
}

func (e *mfaEnv) enrollURI(as mfaSession, name string) string {
	e.t.Helper()
	a := e.call(as, "POST", "", map[string]any{"factor_type": "totp", "friendly_name": name})
	e.want(a, 200, "")
	return a.body["totp"].(map[string]any)["uri"].(string)
}

func TestTOTPStepTriesTheSkewAroundNow(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXP"
	now := time.Unix(1_700_000_015, 0)
	current := now.Unix() / 30
	for d := int64(-2); d <= 2; d++ {
		code, err := totp.GenerateCodeCustom(secret, time.Unix((current+d)*30, 0), totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		step, ok := totpStep(secret, code, now)
		if inSkew := d >= -1 && d <= 1; ok != inSkew || (ok && step != current+d) {
			t.Errorf("code of step now%+d: got step %d ok %v", d, step-current, ok)
		}
	}
	for _, code := range []string{"", "12345", "1234567"} {
		if _, ok := totpStep(secret, code, now); ok {
			t.Errorf("%q accepted", code)
		}
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
