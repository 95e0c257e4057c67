package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
)

func TestSignupWithAutoconfirmSignsTheUserIn(t *testing.T) {
	e := newEnv(t, "signup-auto", func(u *control.UsersConfig) { u.Autoconfirm = true })
	r := e.call("POST", "/signup", map[string]any{"email": "Ann@Example.com", "password": "secret-1",
		"data": map[string]any{"name": "Ann"}, "gotrue_meta_security": map[string]any{}}, Caller{})
	s := e.sessionOf(r)
	if r.obj["token_type"] != "bearer" || r.obj["expires_in"] != float64(3600) {
		t.Fatalf("token response: %s", r.Body)
	}
	if exp, _ := r.obj["expires_at"].(float64); int64(exp) != e.clock.Now().Add(time.Hour).Unix() {
		t.Fatalf("expires_at %v, want now + 1h", r.obj["expires_at"])
	}
	u := r.obj["user"].(map[string]any)
	if u["email"] != "ann@example.com" || u["aud"] != "authenticated" || u["role"] != "authenticated" || u["phone"] != "" {
		t.Fatalf("user: %v", u)
	}
	if u["email_confirmed_at"] == nil || u["confirmed_at"] != u["email_confirmed_at"] || u["last_sign_in_at"] == nil {
		t.Fatalf("confirmation and sign-in times: %v", u)
	}
	if _, err := time.Parse(time.RFC3339Nano, u["created_at"].(string)); err != nil {
		t.Fatalf("created_at: %v", err)
	}
	if app := u["app_metadata"].(map[string]any); app["provider"] != "email" {
		t.Fatalf("app_metadata: %v", app)
	}
	if meta := u["user_metadata"].(map[string]any); meta["name"] != "Ann" {
		t.Fatalf("user_metadata: %v", meta)
	}
	ids := u["identities"].([]any)
	if len(ids) != 1 {
		t.Fatalf("identities: %v", ids)
	}
	id := ids[0].(map[string]any)
	if id["provider"] != "email" || id["id"] != u["id"] || id["user_id"] != u["id"] || id["identity_id"] == u["id"] {
		t.Fatalf("identity: %v", id)
	}
	if _, ok := u["factors"]; ok {
		t.Fatalf("factors listed for a user without any: %v", u)
	}

	var cl map[string]any
	_ = json.Unmarshal(s.caller.Claims, &cl)
	for k, want := range map[string]any{"iss": "kapok", "ref": e.name, "aud": "authenticated", "role": "authenticated",
		"sub": u["id"], "email": "ann@example.com", "phone": "", "aal": "aal1", "is_anonymous": false} {
		if cl[k] != want {
			t.Errorf("claim %s = %v, want %v", k, cl[k], want)
		}
	}
	if amr, _ := cl["amr"].([]any); len(amr) != 1 || amr[0].(map[string]any)["method"] != "password" {
		t.Errorf("amr = %v", cl["amr"])
	}

	got := e.must(e.call("GET", "/user", nil, s.caller), 200, "")
	if got.str("id") != s.userID || got.str("email") != "ann@example.com" {
		t.Fatalf("GET /user: %s", got.Body)
	}
	e.must(e.call("POST", "/signup", map[string]any{"email": "ann@example.com", "password": "other-pass"}, Caller{}), 422, "user_already_exists")
	if n := e.count(`SELECT count(*) FROM @S@.audit_log WHERE action IN ('user_signedup', 'login') AND actor_id = $1::uuid`, s.userID); n != 2 {
		t.Fatalf("audit rows: %d, want user_signedup and login", n)
	}
	if got.Header.Get("X-Supabase-Api-Version") != "2024-01-01" {
		t.Fatalf("no API version header: %v", got.Header)
	}
}

func TestSignupWithConfirmationHidesExistingUsers(t *testing.T) {
	e := newEnv(t, "signup-confirm", withMailSink(t))
	r := e.must(e.call("POST", "/signup", map[string]any{"email": "bob@example.com", "password": "secret-1"}, Caller{}), 200, "")
	if r.obj["access_token"] != nil || r.str("email") != "bob@example.com" || r.obj["email_confirmed_at"] != nil {
		t.Fatalf("signup without autoconfirm: %s", r.Body)
	}
	if ids := r.obj["identities"].([]any); len(ids) != 1 {
		t.Fatalf("a new user has its identity: %s", r.Body)
	}
	id := r.str("id")
	e.must(e.call("POST", "/token?grant_type=password", map[string]any{"email": "bob@example.com", "password": "secret-1"}, Caller{}),
		400, "email_not_confirmed")

	// Once confirmed, signing up again answers a user that does not exist.
	e.exec(`UPDATE @S@.users SET email_confirmed_at = now() WHERE id = $1::uuid`, id)
	again := e.must(e.call("POST", "/signup", map[string]any{"email": "bob@example.com", "password": "another-1"}, Caller{}), 200, "")
	if again.str("id") == id || again.str("email") != "bob@example.com" || len(again.obj["identities"].([]any)) != 0 {
		t.Fatalf("repeated signup is not obfuscated: %s", again.Body)
	}
	if n := e.count(`SELECT count(*) FROM @S@.users`); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
	e.signIn("bob@example.com", "secret-1")

	// A PKCE sign-up records its flow for the confirmation link.
	challenge := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	e.must(e.call("POST", "/signup", map[string]any{"email": "carl@example.com", "password": "secret-1",
		"code_challenge": challenge, "code_challenge_method": "s256"}, Caller{}), 200, "")
	if n := e.count(`SELECT count(*) FROM @S@.flow_state f JOIN @S@.users u ON u.id = f.user_id
WHERE u.email = 'carl@example.com' AND f.provider_type = 'email' AND f.code_challenge = $1::text`, challenge); n != 1 {
		t.Fatalf("flow states: %d", n)
	}
}

func TestPasswordSignIn(t *testing.T) {
	e := newEnv(t, "signin", nil)
	e.createUser("dora@example.com", "right-pass")
	wrong := e.must(e.call("POST", "/token?grant_type=password", map[string]any{"email": "dora@example.com", "password": "wrong-pass"}, Caller{}), 400, "invalid_credentials")
	unknown := e.must(e.call("POST", "/token?grant_type=password", map[string]any{"email": "nobody@example.com", "password": "wrong-pass"}, Caller{}), 400, "invalid_credentials")
	if !bytes.Equal(wrong.Body, unknown.Body) {
		t.Fatalf("a wrong password and an unknown address answer differently:\n%s\n%s", wrong.Body, unknown.Body)
	}
	s := e.signIn("DORA@example.com", "right-pass")
	if n := e.count(`SELECT count(*) FROM @S@.audit_log WHERE action = 'login_failed'`); n != 2 {
		t.Fatalf("login_failed rows: %d", n)
	}
	e.must(e.call("PUT", "/admin/users/"+s.userID, map[string]any{"ban_duration": "24h"}, serviceKey), 200, "")
	e.must(e.call("POST", "/token?grant_type=password", map[string]any{"email": "dora@example.com", "password": "right-pass"}, Caller{}), 400, "user_banned")
	// The ban ended the user's sessions.
	e.must(e.call("GET", "/user", nil, s.caller), 403, "session_not_found")
	e.must(e.call("PUT", "/admin/users/"+s.userID, map[string]any{"ban_duration": "none"}, serviceKey), 200, "")
	e.signIn("dora@example.com", "right-pass")
	if v := testutilCount(e.met.signins, "password", "failed"); v != 3 {
		t.Fatalf("failed password sign-ins counted: %v", v)
	}
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	e := newEnv(t, "refresh", nil)
	e.createUser("eve@example.com", "secret-1")
	s := e.signIn("eve@example.com", "secret-1")
	refresh := func(token string) reply {
		return e.call("POST", "/token?grant_type=refresh_token", map[string]any{"refresh_token": token}, Caller{})
	}

	r1 := e.sessionOf(refresh(s.refresh))
	if r1.refresh == s.refresh || r1.sessionID != s.sessionID || len(r1.refresh) < 22 {
		t.Fatalf("rotation: %q -> %q (session %s -> %s)", s.refresh, r1.refresh, s.sessionID, r1.sessionID)
	}
	// Presented again within the reuse interval, the old token gets the same child.
	again := e.sessionOf(refresh(s.refresh))
	if again.refresh != r1.refresh {
		t.Fatalf("a concurrent refresh got %q, want the same child %q", again.refresh, r1.refresh)
	}

	// Two refreshes of the same token at once get one child between them.
	var wg sync.WaitGroup
	got := make([]reply, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = refresh(r1.refresh)
		}()
	}
	wg.Wait()
	r2 := e.sessionOf(got[0])
	for _, g := range got[1:] {
		if e.sessionOf(g).refresh != r2.refresh {
			t.Fatalf("concurrent refreshes got different tokens")
		}
	}
	// The first token, two rotations back, still finds the current one.
	if e.sessionOf(refresh(s.refresh)).refresh != r2.refresh {
		t.Fatal("a reused token within the interval did not get the session's current token")
	}
	if n := e.count(`SELECT count(*) FROM @S@.refresh_tokens WHERE session_id = $1::uuid AND NOT revoked`, s.sessionID); n != 1 {
		t.Fatalf("%d active tokens in the session", n)
	}

	// Past the interval, reuse ends the session: its tokens and access tokens die.
	e.clock.advance(11 * time.Second)
	e.must(refresh(s.refresh), 400, "refresh_token_already_used")
	e.must(e.call("GET", "/user", nil, r2.caller), 403, "session_not_found")
	e.must(refresh(r2.refresh), 400, "refresh_token_not_found")
	e.must(refresh("no-such-token-0123456789"), 400, "refresh_token_not_found")
	if n := e.count(`SELECT count(*) FROM @S@.audit_log WHERE action = 'token_revoked'`); n != 1 {
		t.Fatalf("token_revoked rows: %d", n)
	}
}

func TestLogoutScopes(t *testing.T) {
	e := newEnv(t, "logout", nil)
	e.createUser("fay@example.com", "secret-1")
	a, b, c := e.signIn("fay@example.com", "secret-1"), e.signIn("fay@example.com", "secret-1"), e.signIn("fay@example.com", "secret-1")
	alive := func(s signedIn) bool {
		r := e.call("GET", "/user", nil, s.caller)
		if r.Status != 200 && r.code() != "session_not_found" {
			t.Fatalf("GET /user: %d %s", r.Status, r.Body)
		}
		return r.Status == 200
	}
	r := e.call("POST", "/logout?scope=others", nil, a.caller)
	if r.Status != 204 {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if !alive(a) || alive(b) || alive(c) {
		t.Fatal("scope=others must end every session but this one")
	}
	e.must(e.call("POST", "/logout?scope=local", nil, a.caller), 204, "")
	if alive(a) {
		t.Fatal("scope=local must end this session")
	}
	d, f := e.signIn("fay@example.com", "secret-1"), e.signIn("fay@example.com", "secret-1")
	e.must(e.call("POST", "/logout", nil, d.caller), 204, "")
	if alive(d) || alive(f) {
		t.Fatal("the default scope (global) must end every session")
	}
	e.must(e.call("POST", "/token?grant_type=refresh_token", map[string]any{"refresh_token": f.refresh}, Caller{}), 400, "refresh_token_not_found")
	e.must(e.call("POST", "/logout?scope=everywhere", nil, e.signIn("fay@example.com", "secret-1").caller), 400, "validation_failed")
	e.must(e.call("POST", "/logout", nil, Caller{}), 401, "no_authorization")
}

func pkcePair(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func TestPKCEExchange(t *testing.T) {
	e := newEnv(t, "pkce", nil)
	uid := e.createUser("gil@example.com", "secret-1")
	tn := e.tc()
	ctx := context.Background()
	verifier := "verifier-" + string(bytes.Repeat([]byte("v"), 50))
	exchange := func(code, verifier string) reply {
		return e.call("POST", "/token?grant_type=pkce", map[string]any{"auth_code": code, "code_verifier": verifier}, Caller{})
	}
	code, err := e.svc.newFlowState(ctx, tn, uid, pkcePair(verifier), "s256", "email", "email/signup")
	if err != nil {
		t.Fatal(err)
	}
	s := e.sessionOf(exchange(code, verifier))
	var cl map[string]any
	_ = json.Unmarshal(s.caller.Claims, &cl)
	if amr := cl["amr"].([]any); amr[0].(map[string]any)["method"] != "email/signup" {
		t.Fatalf("amr: %v", amr)
	}
	e.must(exchange(code, verifier), 404, "flow_state_not_found")

	code, _ = e.svc.newFlowState(ctx, tn, uid, pkcePair(verifier), "s256", "email", "email/signup")
	e.must(exchange(code, "another-verifier-"+verifier), 403, "bad_code_verifier")
	e.must(exchange(code, verifier), 404, "flow_state_not_found")

	code, _ = e.svc.newFlowState(ctx, tn, uid, verifier, "plain", "github", "oauth")
	e.sessionOf(exchange(code, verifier))

	code, _ = e.svc.newFlowState(ctx, tn, uid, pkcePair(verifier), "s256", "email", "email/signup")
	e.clock.advance(11 * time.Minute)
	e.must(exchange(code, verifier), 403, "flow_state_expired")
	e.must(exchange("", verifier), 400, "validation_failed")
}

func TestSessionUpgradeAndRenewal(t *testing.T) {
	e := newEnv(t, "upgrade", nil)
	e.createUser("hal@example.com", "secret-1")
	s := e.signIn("hal@example.com", "secret-1")
	tn := e.tc()
	ctx := context.Background()
	fid := e.scalar(`INSERT INTO @S@.mfa_factors (user_id, friendly_name, status, secret)
VALUES ($1::uuid, 'phone', 'verified', 'JBSWY3DPEHPK3PXP') RETURNING id::text`, s.userID)
	e.clock.advance(time.Second)
	if err := e.svc.upgradeSession(ctx, tn, s.sessionID, fid, "mfa/totp"); err != nil {
		t.Fatal(err)
	}
	u, err := e.svc.userByID(ctx, tn, s.userID)
	if err != nil {
		t.Fatal(err)
	}
	body, err := e.svc.tokenResponse(ctx, tn, u, s.sessionID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(body)
	var obj map[string]any
	_ = json.Unmarshal(b, &obj)
	up := e.sessionOf(reply{Response: &Response{Status: 200, Body: b}, obj: obj})
	var cl map[string]any
	_ = json.Unmarshal(up.caller.Claims, &cl)
	amr := cl["amr"].([]any)
	if cl["aal"] != "aal2" || len(amr) != 2 || amr[0].(map[string]any)["method"] != "mfa/totp" {
		t.Fatalf("upgraded claims: aal %v amr %v", cl["aal"], amr)
	}
	if fs, _ := obj["user"].(map[string]any)["factors"].([]any); len(fs) != 1 {
		t.Fatalf("the user's factors: %v", obj["user"])
	}
	// The session's token changed hands: the new one refreshes, the old one is spent.
	e.sessionOf(e.call("POST", "/token?grant_type=refresh_token", map[string]any{"refresh_token": up.refresh}, Caller{}))
	e.must(e.call("POST", "/token?grant_type=refresh_token", map[string]any{"refresh_token": s.refresh}, Caller{}), 400, "refresh_token_already_used")
	e.must(e.call("GET", "/user", nil, up.caller), 200, "")

	// Admin removal of the factor brings the session back to aal1.
	e.must(e.call("DELETE", "/admin/users/"+s.userID+"/factors/"+fid, nil, serviceKey), 200, "")
	if n := e.count(`SELECT count(*) FROM @S@.sessions WHERE id = $1::uuid AND aal = 'aal1' AND factor_id IS NULL`, s.sessionID); n != 1 {
		t.Fatal("the session kept aal2 after its factor was deleted")
	}
	if _, err := e.svc.tokenResponse(ctx, tn, u, newRandomUUID()); err != errNotFound {
		t.Fatalf("tokenResponse for no session: %v", err)
	}
}
