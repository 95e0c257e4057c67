package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// User is the account signed in at the provider.
type User struct {
	// Subject is the stable user id: the ID token's sub, GitHub's numeric id.
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Picture       string
	// Login is GitHub's user name (Subject when empty).
	Login string
}

// Provider is a running provider. ClientID and ClientSecret are the one client it knows;
// redirect URIs must be registered with AllowRedirect.
type Provider struct {
	// URL is the issuer, http://127.0.0.1:<port> without a trailing slash; GitHub's
	// endpoints are below it too.
	URL          string
	ClientID     string
	ClientSecret string

	srv *httptest.Server
	key *rsa.PrivateKey
	kid string

	mu            sync.Mutex
	redirects     map[string]bool
	user          User
	denyError     string
	denyDesc      string
	override      map[string]any
	codes         map[string]*grant
	tokens        map[string]User
	lastAuthorize url.Values
	lastTokenAuth string
}

// grant is an authorization code waiting for its exchange.
type grant struct {
	github              bool // issued by GitHub's endpoint, redeemable only there
	redirectURI         string
	scope               string
	nonce               string
	codeChallenge       string
	codeChallengeMethod string
	user                User
	expires             time.Time
}

// codeLifetime bounds an authorization code, as providers do (GitHub: 10 minutes).
const codeLifetime = 5 * time.Minute

// New starts a provider with a fresh RSA key and a random client.
func New() (*Provider, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	p := &Provider{
		key:          key,
		kid:          randomHex(8),
		ClientID:     "client-" + randomHex(8),
		ClientSecret: randomHex(16),
		redirects:    map[string]bool{},
		codes:        map[string]*grant{},
		tokens:       map[string]User{},
		user:         User{Subject: "1001", Email: "user@example.com", EmailVerified: true, Name: "Test User"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) { p.authorize(w, r, false) })
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) { p.token(w, r, false) })
	mux.HandleFunc("/userinfo", p.userinfo)
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) { p.authorize(w, r, true) })
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) { p.token(w, r, true) })
	mux.HandleFunc("GET /user", p.githubUser)
	mux.HandleFunc("GET /user/emails", p.githubEmails)
	p.srv = httptest.NewServer(mux)
	p.URL = p.srv.URL
	return p, nil
}

// Start is New for a test: it fails the test when the provider cannot start and stops
// the provider when the test ends.
func Start(t testing.TB) *Provider {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Close stops the server.
func (p *Provider) Close() { p.srv.Close() }

// AllowRedirect registers redirect URIs of the client; /authorize refuses any other.
func (p *Provider) AllowRedirect(uris ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range uris {
		p.redirects[u] = true
	}
}

// SetUser changes who is signed in at the provider for the next authorizations.
func (p *Provider) SetUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

// Deny makes /authorize redirect back with error (access_denied, …) and description
// instead of a code; an empty error signs users in again.
func (p *Provider) Deny(err, description string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.denyError, p.denyDesc = err, description
}

// OverrideClaims replaces claims in the ID tokens issued from now on (a nil value
// removes the claim): a wrong nonce, audience or issuer, an expired token. Nil claims
// ends the overrides.
func (p *Provider) OverrideClaims(claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.override = claims
}

// LastAuthorize returns the query of the last authorization request, on either endpoint.
func (p *Provider) LastAuthorize() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastAuthorize
}

// LastTokenAuth returns how the client authenticated its last token request:
// client_secret_basic or client_secret_post.
func (p *Provider) LastTokenAuth() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastTokenAuth
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"userinfo_endpoint":                     p.URL + "/userinfo",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256", "plain"},
		"grant_types_supported":                 []string{"authorization_code"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name", "picture"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	pub := p.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA",
		"use": "sig",
		"alg": "RS256",
		"kid": p.kid,
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// authorize answers an authorization request. What cannot be trusted to redirect (an
// unknown client, an unregistered redirect_uri) is answered here with 400, as RFC 6749
// 4.1.2.1 asks; every other error goes back to the client's redirect_uri.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request, github bool) {
	q := r.URL.Query()
	p.mu.Lock()
	p.lastAuthorize = q
	redirectOK := p.redirects[q.Get("redirect_uri")]
	user, denyError, denyDesc := p.user, p.denyError, p.denyDesc
	p.mu.Unlock()
	if q.Get("client_id") != p.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !redirectOK {
		http.Error(w, "redirect_uri is not registered for this client", http.StatusBadRequest)
		return
	}
	back := func(v url.Values) {
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		sep := "?"
		if strings.Contains(redirectURI, "?") {
			sep = "&"
		}
		http.Redirect(w, r, redirectURI+sep+v.Encode(), http.StatusFound)
	}
	fail := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }
	if !github && q.Get("response_type") != "code" {
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge != "" {
		switch method {
		case "":
			method = "plain"
		case "S256", "plain":
		default:
			fail("invalid_request", "code_challenge_method must be S256 or plain")
			return
		}
	}
	if denyError != "" {
		fail(denyError, denyDesc)
		return
	}
	code := randomHex(16)
	p.mu.Lock()
	p.codes[code] = &grant{
		github:              github,
		redirectURI:         redirectURI,
		scope:               q.Get("scope"),
		nonce:               q.Get("nonce"),
		codeChallenge:       challenge,
		codeChallengeMethod: method,
		user:                user,
		expires:             time.Now().Add(codeLifetime),
	}
	p.mu.Unlock()
	back(url.Values{"code": {code}})
}

// token exchanges an authorization code. A code is redeemed once, by the client it was
// issued to, with the redirect_uri and (when a challenge was sent) the PKCE verifier of
// its authorization request.
func (p *Provider) token(w http.ResponseWriter, r *http.Request, github bool) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	f := r.PostForm
	clientID, secret, method := f.Get("client_id"), f.Get("client_secret"), "client_secret_post"
	if u, pw, ok := r.BasicAuth(); ok {
		// RFC 6749 2.3.1: both are form-encoded before they go into the header.
		id, err1 := url.QueryUnescape(u)
		sec, err2 := url.QueryUnescape(pw)
		if err1 != nil || err2 != nil {
			tokenError(w, http.StatusUnauthorized, "invalid_client", "malformed basic credentials")
			return
		}
		clientID, secret, method = id, sec, "client_secret_basic"
	}
	p.mu.Lock()
	p.lastTokenAuth = method
	p.mu.Unlock()
	if clientID != p.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if !github && f.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	p.mu.Lock()
	g := p.codes[f.Get("code")]
	delete(p.codes, f.Get("code"))
	p.mu.Unlock()
	switch {
	case g == nil || g.github != github || time.Now().After(g.expires):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "the code is unknown, used or expired")
		return
	case f.Get("redirect_uri") != g.redirectURI:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri differs from the authorization request's")
		return
	case g.codeChallenge != "" && !pkceMatches(g.codeChallenge, g.codeChallengeMethod, f.Get("code_verifier")):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code_challenge")
		return
	}
	access := randomHex(20)
	p.mu.Lock()
	p.tokens[access] = g.user
	p.mu.Unlock()
	if github {
		v := url.Values{"access_token": {access}, "token_type": {"bearer"}, "scope": {g.scope}}
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "bearer", "scope": g.scope})
			return
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		_, _ = w.Write([]byte(v.Encode()))
		return
	}
	resp := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": g.scope}
	if hasScope(g.scope, "openid") {
		idToken, err := p.idToken(g)
		if err != nil {
			tokenError(w, http.StatusInternalServerError, "server_error", err.Error())
			return
		}
		resp["id_token"] = idToken
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

func (p *Provider) idToken(g *grant) (string, error) {
	now := time.Now()
	c := jwt.MapClaims{
		"iss":            p.URL,
		"sub":            g.user.Subject,
		"aud":            p.ClientID,
		"iat":            now.Unix(),
		"auth_time":      now.Unix(),
		"exp":            now.Add(10 * time.Minute).Unix(),
		"email":          g.user.Email,
		"email_verified": g.user.EmailVerified,
	}
	if g.nonce != "" {
		c["nonce"] = g.nonce
	}
	if g.user.Name != "" {
		c["name"] = g.user.Name
	}
	if g.user.Picture != "" {
		c["picture"] = g.user.Picture
	}
	p.mu.Lock()
	for k, v := range p.override {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	p.mu.Unlock()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = p.kid
	return t.SignedString(p.key)
}

// bearer returns the user of the request's access token.
func (p *Provider) bearer(w http.ResponseWriter, r *http.Request) (User, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		// GitHub also takes "token <t>".
		tok, ok = strings.CutPrefix(r.Header.Get("Authorization"), "token ")
	}
	p.mu.Lock()
	u, known := p.tokens[strings.TrimSpace(tok)]
	p.mu.Unlock()
	if !ok || !known {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_token", "message": "Bad credentials"})
		return User{}, false
	}
	return u, true
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearer(w, r)
	if !ok {
		return
	}
	info := map[string]any{"sub": u.Subject, "email": u.Email, "email_verified": u.EmailVerified}
	if u.Name != "" {
		info["name"] = u.Name
	}
	if u.Picture != "" {
		info["picture"] = u.Picture
	}
	writeJSON(w, http.StatusOK, info)
}

// githubUser answers GET /user as GitHub's API does: a numeric id, the login, and the
// public email (null: the user keeps it private, as is common, so clients ask /user/emails).
func (p *Provider) githubUser(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearer(w, r)
	if !ok {
		return
	}
	var id any = u.Subject
	if n, err := strconv.ParseInt(u.Subject, 10, 64); err == nil {
		id = n
	}
	login := u.Login
	if login == "" {
		login = u.Subject
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "login": login, "name": u.Name, "email": nil, "avatar_url": u.Picture, "type": "User",
	})
}

// githubEmails lists the user's addresses: the user's email as the primary one, and an
// unverified secondary one that a client must not take for the primary.
func (p *Provider) githubEmails(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearer(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, []map[string]any{
		{"email": "secondary-" + u.Subject + "@users.example.com", "primary": false, "verified": false, "visibility": nil},
		{"email": u.Email, "primary": true, "verified": u.EmailVerified, "visibility": "private"},
	})
}

func pkceMatches(challenge, method, verifier string) bool {
	if verifier == "" {
		return false
	}
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

func hasScope(scope, s string) bool {
	for _, f := range strings.Fields(scope) {
		if f == s {
			return true
		}
	}
	return false
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, fmt.Sprint(err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
