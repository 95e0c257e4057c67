package proxy

// Stand-in for internal/oidctest: a minimal OpenID Connect provider that signs every
// authorization request in as one user. The integrator replaces startOIDCProvider's body
// with the oidctest provider and deletes this file.

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// startOIDCProvider serves, until the test ends, an OpenID Connect provider for one client
// (clientID, clientSecret) that signs every authorization request in as the user with
// email, without asking; it returns the provider's issuer URL.
func startOIDCProvider(t *testing.T, clientID, clientSecret, email string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	nonces := map[string]string{} // code -> nonce
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuer := srv.URL
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/authorize", "token_endpoint": issuer + "/token",
			"jwks_uri": issuer + "/jwks", "userinfo_endpoint": issuer + "/userinfo", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		back, err := url.Parse(q.Get("redirect_uri"))
		if q.Get("client_id") != clientID || q.Get("response_type") != "code" || err != nil || back.Host == "" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		code := hex.EncodeToString(b)
		mu.Lock()
		nonces[code] = q.Get("nonce")
		mu.Unlock()
		bq := back.Query()
		bq.Set("code", code)
		if s := q.Get("state"); s != "" {
			bq.Set("state", s)
		}
		back.RawQuery = bq.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
		}
		mu.Lock()
		nonce, known := nonces[r.PostFormValue("code")]
		delete(nonces, r.PostFormValue("code"))
		mu.Unlock()
		if id != clientID || secret != clientSecret || !known || r.PostFormValue("grant_type") != "authorization_code" {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]string{"error": "invalid_grant"})
			return
		}
		now := time.Now()
		claims := jwt.MapClaims{"iss": issuer, "sub": "oidc-subject-1", "aud": clientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"email": email, "email_verified": true, "name": "OIDC User"}
		if nonce != "" {
			claims["nonce"] = nonce
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "k1"
		idToken, err := tok.SignedString(key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"access_token": "at-" + r.PostFormValue("code"), "token_type": "Bearer", "expires_in": 3600, "id_token": idToken})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		k := rsaJWK("k1", &key.PublicKey)
		k["alg"], k["use"] = "RS256", "sig"
		writeJSON(w, map[string]any{"keys": []map[string]string{k}})
	})
	mux.HandleFunc("/userinfo", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"sub": "oidc-subject-1", "email": email, "email_verified": true, "name": "OIDC User"})
	})
	return issuer
}
