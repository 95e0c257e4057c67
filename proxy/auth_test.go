package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
)

func reqWith(headers map[string]string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	for k, v := range headers {
		ctx.Request.Header.Set(k, v)
	}
	return &ctx
}

func hs256(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustAuth builds the credentials check of tenant shop, the tenant the tests' keys are
// issued for.
func mustAuth(t *testing.T, admin string, ac *control.AuthConfig) *tenantAuth {
	t.Helper()
	open := (&control.Config{AdminKey: admin}).OpenTenant(&control.TenantConfig{Auth: ac})
	a, err := newTenantAuth("shop", admin, ac, open, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCredentialsResolveToTheRightPrincipal(t *testing.T) {
	const secret = "a-very-long-shared-secret-of-32-bytes!!"
	a := mustAuth(t, "adm1n", &control.AuthConfig{JWTSecret: secret, AnonRole: "anon", JWTAudience: "app",
		APIKeys: map[string]string{"svc-key": "service_role"}})
	future := time.Now().Add(time.Hour).Unix()
	good := hs256(t, secret, jwt.MapClaims{"sub": "u1", "role": "authenticated", "aud": "app", "exp": future})
	hasura := hs256(t, secret, jwt.MapClaims{"sub": "u2", "aud": "app", "exp": future,
		"https://hasura.io/jwt/claims": map[string]any{"x-hasura-default-role": "user", "x-hasura-allowed-roles": []string{"user", "editor"}}})
	cases := []struct {
		name    string
		headers map[string]string
		admin   bool
		role    string
		status  int
	}{
		{"no credentials run as the anonymous role", nil, false, "anon", 0},
		{"the admin key", map[string]string{"X-Kapok-Admin-Key": "adm1n"}, true, "", 0},
		{"Hasura's admin secret header", map[string]string{"X-Hasura-Admin-Secret": "adm1n"}, true, "", 0},
		{"a wrong admin key", map[string]string{"X-Kapok-Admin-Key": "nope"}, false, "", 401},
		{"an API key as apikey", map[string]string{"apikey": "svc-key"}, false, "service_role", 0},
		{"an API key as bearer", map[string]string{"Authorization": "Bearer svc-key"}, false, "service_role", 0},
		{"an unknown API key", map[string]string{"apikey": "what"}, false, "", 401},
		{"a JWT", map[string]string{"Authorization": "Bearer " + good, "apikey": "svc-key"}, false, "authenticated", 0},
		{"Hasura claims", map[string]string{"Authorization": "Bearer " + hasura}, false, "user", 0},
		{"Hasura claims with an allowed x-hasura-role", map[string]string{"Authorization": "Bearer " + hasura, "X-Hasura-Role": "editor"}, false, "editor", 0},
		{"Hasura claims with a role not allowed", map[string]string{"Authorization": "Bearer " + hasura, "X-Hasura-Role": "admin"}, false, "", 403},
		{"an expired JWT", map[string]string{"Authorization": "Bearer " + hs256(t, secret, jwt.MapClaims{"role": "r", "aud": "app", "exp": time.Now().Add(-time.Hour).Unix()})}, false, "", 401},
		{"a JWT not valid yet", map[string]string{"Authorization": "Bearer " + hs256(t, secret, jwt.MapClaims{"role": "r", "aud": "app", "nbf": future})}, false, "", 401},
		{"a JWT for another audience", map[string]string{"Authorization": "Bearer " + hs256(t, secret, jwt.MapClaims{"role": "r", "aud": "other"})}, false, "", 401},
		{"a JWT signed with another secret", map[string]string{"Authorization": "Bearer " + hs256(t, "another-secret-another-secret-xx", jwt.MapClaims{"role": "r", "aud": "app"})}, false, "", 401},
		{"an unsigned JWT (alg none)", map[string]string{"Authorization": "Bearer " + noneToken(t)}, false, "", 401},
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
	t.Run("claims are passed on exactly as signed", func(t *testing.T) {
		p, err := a.authenticate(reqWith(map[string]string{"Authorization": "Bearer " + good}))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(p.Claims, &m); err != nil || m["sub"] != "u1" {
			t.Fatalf("claims %s", p.Claims)
		}
	})
}

func noneToken(t *testing.T) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"role": "postgres", "aud": "app"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestATenantWithoutAuthIsOpenUnlessAnAdminKeyIsSet(t *testing.T) {
	p, err := mustAuth(t, "", nil).authenticate(reqWith(nil))
	if err != nil || !p.Admin {
		t.Fatalf("open tenant: %+v %v", p, err)
	}
	_, err = mustAuth(t, "k", nil).authenticate(reqWith(nil))
	if ae, ok := err.(*authError); !ok || ae.status != 401 {
		t.Fatalf("admin key set, no credentials: %v", err)
	}
}

func TestJWKSRotationIsPickedUp(t *testing.T) {
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var rotated atomic.Bool
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		keys := []map[string]string{rsaJWK("k1", &k1.PublicKey)}
		if rotated.Load() {
			keys = []map[string]string{ecJWK("k2", &k2.PublicKey)}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	defer srv.Close()
	a := mustAuth(t, "", &control.AuthConfig{JWKSURL: srv.URL})
	sign := func(m jwt.SigningMethod, kid string, key any) string {
		tok := jwt.NewWithClaims(m, jwt.MapClaims{"role": "r-" + kid, "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p, err := a.authenticate(reqWith(map[string]string{"Authorization": "Bearer " + sign(jwt.SigningMethodRS256, "k1", k1)}))
	if err != nil || p.Role != "r-k1" {
		t.Fatalf("RS256 via JWKS: %+v %v", p, err)
	}
	rotated.Store(true)
	time.Sleep(1100 * time.Millisecond) // refreshes are rate-limited to one a second
	p, err = a.authenticate(reqWith(map[string]string{"Authorization": "Bearer " + sign(jwt.SigningMethodES256, "k2", k2)}))
	if err != nil || p.Role != "r-k2" {
		t.Fatalf("ES256 after rotation: %+v %v", p, err)
	}
	if fetches.Load() != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", fetches.Load())
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]string {
	point, err := k.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
}
