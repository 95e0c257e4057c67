package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kapok-dev/kapok/control"
)

func TestBadInputNeverAnswers500(t *testing.T) {
	e := newEnv(t, "bad-input", func(u *control.UsersConfig) { u.Autoconfirm = true })
	e.createUser("ned@example.com", "secret-1")
	s := e.signIn("ned@example.com", "secret-1")
	id := s.userID
	bodies := []struct {
		name, body, code string
	}{
		{"malformed JSON", `{"email": "a@b.c",`, "bad_json"},
		{"an array", `[1, 2]`, "bad_json"},
		{"a string", `"hello"`, "bad_json"},
		{"a number where a string goes", `{"email": 5, "password": 6, "refresh_token": 7, "auth_code": 8, "code_verifier": 9}`, "bad_json"},
		{"an object where a string goes", `{"email": {"x": 1}, "refresh_token": {}, "auth_code": {}}`, "bad_json"},
		{"a string where an object goes", `{"email": "x@example.com", "data": "x", "user_metadata": "x", "app_metadata": "x"}`, ""},
		{"a NUL in metadata", `{"email": "nul@example.com", "password": "secret-1", "data": {"a\u0000": "b\u0000"}, "user_metadata": {"k": ["\u0000"]}}`, ""},
		{"not UTF-8 in a string", "{\"email\": \"\xff\xfe@example.com\"}", ""},
		{"a NUL in the address", `{"email": "a\u0000b@example.com", "password": "secret-1"}`, ""},
		{"an address of 10 kB", `{"email": "` + strings.Repeat("a", 10000) + `@example.com", "password": "secret-1"}`, ""},
		{"a password of 10 kB", `{"email": "long@example.com", "password": "` + strings.Repeat("p", 10000) + `"}`, ""},
		{"an empty object", `{}`, ""},
		{"null", `null`, "bad_json"},
		{"trailing garbage", `{} {}`, "bad_json"},
	}
	endpoints := []struct {
		method, path string
		caller       Caller
	}{
		{"POST", "/signup", Caller{}},
		{"POST", "/token?grant_type=password", Caller{}},
		{"POST", "/token?grant_type=refresh_token", Caller{}},
		{"POST", "/token?grant_type=pkce", Caller{}},
		{"PUT", "/user", s.caller},
		{"POST", "/admin/users", serviceKey},
		{"PUT", "/admin/users/" + id, serviceKey},
		{"POST", "/admin/generate_link", serviceKey},
		{"POST", "/invite", serviceKey},
	}
	for _, ep := range endpoints {
		for _, b := range bodies {
			t.Run(ep.method+" "+ep.path+" with "+b.name, func(t *testing.T) {
				r := e.call(ep.method, ep.path, b.body, ep.caller)
				if r.Status >= 500 || r.Status < 400 && b.code != "" {
					t.Fatalf("%d %s", r.Status, r.Body)
				}
				if b.code != "" && (r.Status != 400 || r.code() != b.code) {
					t.Fatalf("got %d %s, want 400 %s", r.Status, r.Body, b.code)
				}
				if r.Status >= 400 && r.code() == "" {
					t.Fatalf("an error without a code: %d %s", r.Status, r.Body)
				}
			})
		}
	}
	for _, c := range []struct {
		method, path string
		caller       Caller
		status       int
		code         string
	}{
		{"POST", "/token", Caller{}, 400, "validation_failed"},
		{"POST", "/token?grant_type=id_token", Caller{}, 400, "validation_failed"},
		{"GET", "/nowhere", Caller{}, 404, "not_found"},
		{"DELETE", "/signup", Caller{}, 405, "method_not_allowed"},
		{"GET", "/user", Caller{}, 401, "no_authorization"},
		{"GET", "/user", Caller{Err: "token is expired"}, 401, "bad_jwt"},
		{"GET", "/user", Caller{Claims: []byte(`{"role": "service_role"}`)}, 403, "bad_jwt"},
		{"GET", "/user", Caller{Claims: []byte(`{"sub": "not-a-uuid"}`)}, 403, "bad_jwt"},
		{"GET", "/user", Caller{Claims: []byte(`{"sub": "` + id + `", "session_id": "x"}`)}, 403, "session_not_found"},
		{"GET", "/user", Caller{Claims: []byte(`{"sub": "` + newRandomUUID() + `"}`)}, 403, "user_not_found"},
		{"GET", "/user", Caller{Claims: []byte(`[]`)}, 401, "bad_jwt"},
		{"GET", "/admin/users/" + strings.ToUpper(id) + "x", serviceKey, 404, "validation_failed"},
		{"GET", "/admin/users?per_page=abc", serviceKey, 400, "validation_failed"},
		{"POST", "/signup", Caller{}, 400, "validation_failed"},
	} {
		t.Run(c.method+" "+c.path+" "+strconv.Itoa(c.status), func(t *testing.T) {
			e.must(e.call(c.method, c.path, nil, c.caller), c.status, c.code)
		})
	}
}

func TestSignInRateLimits(t *testing.T) {
	e := newEnv(t, "limits", func(u *control.UsersConfig) {
		u.RateLimits = control.AuthRateLimits{SignInPerAccount: 2, SignInPerIP: 4, TokenRefresh: 2}
	})
	e.createUser("olga@example.com", "secret-1")
	bad := map[string]any{"email": "olga@example.com", "password": "wrong-pass"}
	e.must(e.call("POST", "/token?grant_type=password", bad, Caller{}), 400, "invalid_credentials")
	e.must(e.call("POST", "/token?grant_type=password", bad, Caller{}), 400, "invalid_credentials")
	r := e.must(e.call("POST", "/token?grant_type=password", bad, Caller{}), 429, "over_request_rate_limit")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 300 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Even the right password waits for the account's limit to pass.
	e.must(e.call("POST", "/token?grant_type=password", map[string]any{"email": "olga@example.com", "password": "secret-1"}, Caller{}), 429, "over_request_rate_limit")
	// Another account from the same address: the address's limit (4) is now reached.
	e.must(e.call("POST", "/token?grant_type=password", map[string]any{"email": "pia@example.com", "password": "x-secret"}, Caller{}), 429, "over_request_rate_limit")
	if v := testutilCount(e.met.limited, "signin_account"); v != 2 {
		t.Fatalf("signin_account refusals counted: %v", v)
	}
	if v := testutilCount(e.met.limited, "signin_ip"); v != 1 {
		t.Fatalf("signin_ip refusals counted: %v", v)
	}
	// 80 s later a token has come back for the address (4 per 5 minutes: one every 75 s),
	// not yet for the account (2 per 5 minutes: one every 150 s).
	e.clock.advance(80 * time.Second)
	e.must(e.call("POST", "/token?grant_type=password", map[string]any{"email": "olga@example.com", "password": "secret-1"}, Caller{}), 429, "over_request_rate_limit")
	e.clock.advance(80 * time.Second)
	s := e.signIn("olga@example.com", "secret-1")

	refresh := func(tok string) reply {
		return e.call("POST", "/token?grant_type=refresh_token", map[string]any{"refresh_token": tok}, Caller{})
	}
	s = e.sessionOf(refresh(s.refresh))
	s = e.sessionOf(refresh(s.refresh))
	e.must(refresh(s.refresh), 429, "over_request_rate_limit")
}

func TestTokensOfOneTenantAreRefusedByAnother(t *testing.T) {
	a := newEnv(t, "tenant-a", func(u *control.UsersConfig) { u.Autoconfirm = true })
	b := newEnv(t, "tenant-b", func(u *control.UsersConfig) { u.Autoconfirm = true })
	a.createUser("quinn@example.com", "secret-1")
	s := a.signIn("quinn@example.com", "secret-1")
	r := b.call("GET", "/user", nil, s.caller)
	if r.Status != 403 || r.code() != "user_not_found" && r.code() != "session_not_found" {
		t.Fatalf("tenant B took tenant A's token: %d %s", r.Status, r.Body)
	}
	// The same address in B is another user with other sessions.
	b.createUser("quinn@example.com", "secret-1")
	sb := b.signIn("quinn@example.com", "secret-1")
	forged := Caller{Claims: []byte(`{"sub": "` + sb.userID + `", "session_id": "` + s.sessionID + `"}`)}
	b.must(b.call("GET", "/user", nil, forged), 403, "session_not_found")
	b.must(b.call("POST", "/token?grant_type=refresh_token", map[string]any{"refresh_token": s.refresh}, Caller{}), 400, "refresh_token_not_found")
	a.must(a.call("GET", "/user", nil, s.caller), 200, "")
}

func TestUpdateUser(t *testing.T) {
	e := newEnv(t, "update-user", func(u *control.UsersConfig) { u.Autoconfirm = true })
	e.createUser("rita@example.com", "secret-1")
	s, other := e.signIn("rita@example.com", "secret-1"), e.signIn("rita@example.com", "secret-1")
	e.must(e.call("PUT", "/user", map[string]any{"data": map[string]any{"a": 1, "b": 2}}, s.caller), 200, "")
	r := e.must(e.call("PUT", "/user", map[string]any{"data": map[string]any{"a": nil, "c": 3}, "code_challenge": nil}, s.caller), 200, "")
	if meta := r.obj["user_metadata"].(map[string]any); meta["a"] != nil || meta["b"] != float64(2) || meta["c"] != float64(3) {
		t.Fatalf("user_metadata: %v", meta)
	}
	e.must(e.call("PUT", "/user", map[string]any{"password": "secret-1"}, s.caller), 422, "same_password")
	e.must(e.call("PUT", "/user", map[string]any{"password": "abc"}, s.caller), 422, "weak_password")
	e.must(e.call("PUT", "/user", map[string]any{"password": "secret-2"}, s.caller), 200, "")
	e.must(e.call("GET", "/user", nil, other.caller), 403, "session_not_found")
	e.must(e.call("GET", "/user", nil, s.caller), 200, "")
	e.signIn("rita@example.com", "secret-2")

	e.createUser("sam@example.com", "secret-1")
	e.must(e.call("PUT", "/user", map[string]any{"email": "SAM@example.com"}, s.caller), 422, "email_exists")
	e.must(e.call("PUT", "/user", map[string]any{"email": "not an address"}, s.caller), 400, "validation_failed")
	r = e.must(e.call("PUT", "/user", map[string]any{"email": "rita2@example.com"}, s.caller), 200, "")
	if r.str("email") != "rita2@example.com" {
		t.Fatalf("with autoconfirm the address changes at once: %s", r.Body)
	}
	e.signIn("rita2@example.com", "secret-2")
	if n := e.count(`SELECT count(*) FROM @S@.audit_log WHERE action = 'user_updated_password'`); n != 1 {
		t.Fatalf("user_updated_password rows: %d", n)
	}
}

func TestSettings(t *testing.T) {
	e := newEnv(t, "settings", func(u *control.UsersConfig) {
		u.DisableSignup = true
		u.External = map[string]*control.OAuthProvider{"github": {ClientID: "x"}}
	})
	r := e.must(e.call("GET", "/settings", nil, Caller{}), 200, "")
	ext := r.obj["external"].(map[string]any)
	if ext["email"] != true || ext["github"] != true || ext["phone"] != false || r.obj["disable_signup"] != true ||
		r.obj["mailer_autoconfirm"] != false || r.obj["phone_autoconfirm"] != false || r.obj["saml_enabled"] != false {
		t.Fatalf("settings: %s", r.Body)
	}
	e.must(e.call("POST", "/signup", map[string]any{"email": "tom@example.com", "password": "secret-1"}, Caller{}), 422, "signup_disabled")
	jwks := e.must(e.call("GET", "/.well-known/jwks.json", nil, Caller{}), 200, "")
	if keys := jwks.obj["keys"].([]any); len(keys) != 0 {
		t.Fatalf("an HS256 tenant publishes keys: %s", jwks.Body)
	}
}

func TestAsymmetricSigningKeys(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	for _, c := range []struct {
		name, pem, alg string
	}{
		{"rsa", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})), "RS256"},
		{"rsa-pkcs8", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})), "RS256"},
		{"ec", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})), "ES256"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, "keys-"+c.name, func(u *control.UsersConfig) { u.Autoconfirm = true; u.SigningKey = c.pem })
			jwks := e.must(e.call("GET", "/.well-known/jwks.json", nil, Caller{}), 200, "")
			keys := jwks.obj["keys"].([]any)
			if len(keys) != 1 {
				t.Fatalf("jwks: %s", jwks.Body)
			}
			jwk := keys[0].(map[string]any)
			r := e.must(e.call("POST", "/signup", map[string]any{"email": "uma@example.com", "password": "secret-1"}, Caller{}), 200, "")
			tok, err := jwt.Parse(r.str("access_token"), func(tok *jwt.Token) (any, error) {
				if tok.Header["kid"] != jwk["kid"] {
					t.Fatalf("kid %v, JWKS has %v", tok.Header["kid"], jwk["kid"])
				}
				return publicKeyOf(t, jwk), nil
			}, jwt.WithValidMethods([]string{c.alg}), jwt.WithTimeFunc(e.clock.Now))
			if err != nil || !tok.Valid {
				t.Fatalf("the token does not verify with the published key: %v", err)
			}
			if jwk["alg"] != c.alg || len(jwk["kid"].(string)) != 16 {
				t.Fatalf("jwk: %v", jwk)
			}
		})
	}
}

// publicKeyOf reads a JWK as a verifier would.
func publicKeyOf(t *testing.T, jwk map[string]any) any {
	b := func(k string) []byte {
		v, err := base64.RawURLEncoding.DecodeString(jwk[k].(string))
		if err != nil {
			t.Fatalf("jwk %s: %v", k, err)
		}
		return v
	}
	switch jwk["kty"] {
	case "RSA":
		return &rsa.PublicKey{N: new(big.Int).SetBytes(b("n")), E: int(new(big.Int).SetBytes(b("e")).Int64())}
	case "EC":
		point := append(append([]byte{4}, b("x")...), b("y")...)
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			t.Fatal(err)
		}
		return pub
	}
	t.Fatalf("kty %v", jwk["kty"])
	return nil
}

func TestTenantWithoutAuthUsers(t *testing.T) {
	e := newEnvWith(t, "no-users", &control.AuthConfig{JWTSecret: testSecret})
	e.must(e.call("GET", "/settings", nil, Caller{}), 404, "not_found")
	e.must(e.call("POST", "/signup", map[string]any{"email": "x@example.com", "password": "secret-1"}, Caller{}), 404, "not_found")
	if err := e.svc.Prepare(context.Background(), e.tenant); err != nil {
		t.Fatal(err)
	}
	if e.svc.Enabled(e.tenant) {
		t.Fatal("enabled without auth.users")
	}
	if n := e.count(`SELECT count(*) FROM pg_namespace WHERE nspname = $1::text`, e.store); n != 0 {
		t.Fatal("a store was created for a tenant without Kapok Auth")
	}
}

func TestPrepareInstallsStoreAndHelpers(t *testing.T) {
	e := newEnv(t, "prepare", nil)
	if err := e.svc.Prepare(context.Background(), e.tenant); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM pg_tables WHERE schemaname = $1::text`, e.store); n < 10 {
		t.Fatalf("%d tables in the store", n)
	}
	if e.scalar(`SELECT set_config('request.jwt.claims', '{"sub":"00000000-0000-0000-0000-000000000001","role":"authenticated"}', false)
  || auth.uid()::text || auth.role()`) != `{"sub":"00000000-0000-0000-0000-000000000001","role":"authenticated"}00000000-0000-0000-0000-000000000001authenticated` {
		t.Fatal("auth.uid() and auth.role() do not read the claims")
	}
}

func TestServeRecoversFromPanics(t *testing.T) {
	e := newEnv(t, "panic", nil)
	broken := *e.tenant.Config
	broken.Upstream = "gone" // no such upstream: reaching the store dereferences nil
	tenant := &control.Tenant{Name: e.tenant.Name, Config: &broken}
	resp := e.svc.Serve(context.Background(), tenant, &Request{Method: "POST", Path: "/signup", Body: []byte(`{}`)})
	if resp.Status != 500 || !strings.Contains(string(resp.Body), `"unexpected_failure"`) {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	if v := testutilCount(e.met.requests, "signup", "server_error"); v != 1 {
		t.Fatalf("server errors counted: %v", v)
	}
}
