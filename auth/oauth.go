package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/kapok-dev/kapok/control"
)

// Sign-in through OAuth2 and OpenID Connect providers, as supabase.auth.signInWithOAuth
// drives it:
//
//	GET /authorize?provider=…&redirect_to=…[&scopes=…][&code_challenge=…&code_challenge_method=…]
//	    → 302 to the provider, with a signed state and redirect_uri = <BaseURL>/callback
//	GET|POST /callback?code=…&state=…
//	    → 303 to redirect_to#access_token=…&refresh_token=…   (implicit flow)
//	    → 303 to redirect_to?code=<auth code>                    (PKCE: the client then
//	      exchanges it at POST /token?grant_type=pkce with its code_verifier)
//
// Failures after the provider redirect go to redirect_to (or site_url when the state
// cannot be trusted) with error, error_code and error_description in both the query and
// the fragment, where auth-js looks for them.
//
// The state is an HS256 JWT whose key is derived from the tenant's secret (jwt_secret,
// else signing_key) for this one use, so it can never pass for an access token nor an
// access token for it, and it names its tenant: a state minted by one tenant is refused
// by every other, even one sharing the secret. It carries all the sign-in needs at the
// callback (provider, redirect_to, the client's PKCE challenge, the ID token's nonce), so
// nothing is stored until the user is known; the PKCE flow state is created at the
// callback with the user's id in it.
//
// Towards the provider Kapok uses PKCE itself when an OpenID Connect provider advertises
// S256. Its code_verifier is never sent through the browser: it is an HMAC of the state's
// id under the state key, so only Kapok can compute it again at the callback.

const (
	googleIssuer   = "https://accounts.google.com"
	githubAuthURL  = "https://github.com/login/oauth/authorize"
	githubTokenURL = "https://github.com/login/oauth/access_token"
	githubUserURL  = "https://api.github.com/user"

	// oauthStateLifetime bounds the time a user may spend at the provider.
	oauthStateLifetime = 10 * time.Minute
	// oauthStateAudience keeps a state from being mistaken for any other token.
	oauthStateAudience = "kapok-oauth-state"
	// oauthMethod is the amr method and flow_state authentication_method of these sessions.
	oauthMethod = "oauth"
	// oauthDiscoveryTTL is how long a provider's discovery document is trusted before it is
	// fetched again (its keys are refetched by go-oidc whenever an unknown kid shows up).
	oauthDiscoveryTTL = time.Hour
	// oauthTimeout bounds the calls to a provider during one request.
	oauthTimeout = 15 * time.Second
	// maxProviderResponse bounds what is read of a provider's API answers.
	maxProviderResponse = 1 << 20
)

// errUnsupportedProvider is GoTrue's answer for a provider the tenant has not configured.
const errUnsupportedProvider = "Unsupported provider: provider is not enabled"

// oauthProviders is what OAuth sign-ins share across tenants: the HTTP client that reaches
// providers and the OpenID Connect providers discovered so far, by issuer. The cache is
// bounded by the issuers tenants configure.
type oauthProviders struct {
	http *http.Client
	log  *slog.Logger

	group    singleflight.Group
	mu       sync.Mutex
	byIssuer map[string]*discovered
}

// discovered is one issuer's provider, as its discovery document described it.
type discovered struct {
	provider *oidc.Provider
	// s256 and postAuth: the provider takes PKCE with S256, and wants the client's secret
	// in the token request's body rather than in Basic authentication.
	s256     bool
	postAuth bool
	at       time.Time
}

func newOAuthProviders(opts Options) *oauthProviders {
	c := opts.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &oauthProviders{http: c, log: log, byIssuer: map[string]*discovered{}}
}

// discover returns issuer's provider, fetching its discovery document at most once at a
// time however many sign-ins wait for it.
func (o *oauthProviders) discover(ctx context.Context, issuer string) (*discovered, error) {
	o.mu.Lock()
	d := o.byIssuer[issuer]
	o.mu.Unlock()
	if d != nil && time.Since(d.at) < oauthDiscoveryTTL {
		return d, nil
	}
	v, err, _ := o.group.Do(issuer, func() (any, error) {
		// Other requests may wait on this fetch: it must not end with the one that started it.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), oauthTimeout)
		defer cancel()
		p, err := oidc.NewProvider(oidc.ClientContext(dctx, o.http), issuer)
		if err != nil {
			return nil, err
		}
		var meta struct {
			CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
			TokenAuthMethods     []string `json:"token_endpoint_auth_methods_supported"`
		}
		if err := p.Claims(&meta); err != nil {
			return nil, err
		}
		d := &discovered{
			provider: p,
			s256:     slices.Contains(meta.CodeChallengeMethods, "S256"),
			// client_secret_basic is the default when the document names no method.
			postAuth: len(meta.TokenAuthMethods) > 0 && !slices.Contains(meta.TokenAuthMethods, "client_secret_basic") &&
				slices.Contains(meta.TokenAuthMethods, "client_secret_post"),
			at: time.Now(),
		}
		o.mu.Lock()
		o.byIssuer[issuer] = d
		o.mu.Unlock()
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*discovered), nil
}

// oauthProvider is a tenant's provider resolved for one request.
type oauthProvider struct {
	name        string
	conf        oauth2.Config
	oidc        *oidc.Provider // nil: GitHub's plain OAuth2
	pkce        bool
	userInfoURL string
}

// oauthProvider resolves the tenant's provider name. google and any name with an issuer
// are OpenID Connect providers (google's issuer defaults to Google's); github is GitHub's
// OAuth2 apps. extraScopes are the client's, added to the provider's defaults and the
// configured ones.
func (s *Service) oauthProvider(ctx context.Context, tn *tenantCtx, name, callbackURL, extraScopes string) (*oauthProvider, *Response) {
	pc := tn.cfg.External[name]
	if name == "" || pc == nil || pc.ClientID == "" {
		return nil, apiError(http.StatusBadRequest, "validation_failed", errUnsupportedProvider)
	}
	p := &oauthProvider{name: name, conf: oauth2.Config{
		ClientID:     pc.ClientID,
		ClientSecret: pc.ClientSecret,
		RedirectURL:  callbackURL,
	}}
	var scopes []string
	if name == "github" {
		p.conf.Endpoint = oauth2.Endpoint{
			AuthURL:  orElse(pc.AuthURL, githubAuthURL),
			TokenURL: orElse(pc.TokenURL, githubTokenURL),
			// GitHub documents the secret as a form parameter.
			AuthStyle: oauth2.AuthStyleInParams,
		}
		p.userInfoURL = orElse(pc.UserInfoURL, githubUserURL)
		scopes = []string{"user:email"}
	} else {
		issuer := pc.Issuer
		if issuer == "" && name == "google" {
			issuer = googleIssuer
		}
		if issuer == "" {
			return nil, apiError(http.StatusBadRequest, "validation_failed", errUnsupportedProvider)
		}
		d, err := s.oauth.discover(ctx, issuer)
		if err != nil {
			s.oauth.log.Warn("auth: OpenID Connect discovery failed", "tenant", tn.t.Name, "provider", name, "issuer", issuer, "err", err)
			return nil, apiError(http.StatusBadRequest, "validation_failed", "Unsupported provider: the discovery of its issuer failed")
		}
		p.oidc = d.provider
		p.pkce = d.s256
		ep := d.provider.Endpoint()
		p.conf.Endpoint = oauth2.Endpoint{AuthURL: orElse(pc.AuthURL, ep.AuthURL), TokenURL: orElse(pc.TokenURL, ep.TokenURL), AuthStyle: oauth2.AuthStyleInHeader}
		if d.postAuth {
			p.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
		}
		p.userInfoURL = orElse(pc.UserInfoURL, d.provider.UserInfoEndpoint())
		scopes = []string{"openid", "email", "profile"}
	}
	// auth-js documents scopes as space-separated; GoTrue splits them at commas: take both.
	sep := func(r rune) bool { return r == ',' || unicode.IsSpace(r) }
	for _, sc := range append(slices.Clone(pc.Scopes), strings.FieldsFunc(extraScopes, sep)...) {
		if sc != "" && !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	p.conf.Scopes = scopes
	return p, nil
}

// oauthState is the state parameter's payload.
type oauthState struct {
	Tenant          string `json:"ref"`
	Provider        string `json:"provider"`
	RedirectTo      string `json:"redirect_to"`
	CodeChallenge   string `json:"code_challenge,omitempty"`
	ChallengeMethod string `json:"code_challenge_method,omitempty"`
	Nonce           string `json:"nonce"`
	// PKCE says a code_challenge went to the provider, so the exchange sends its verifier.
	PKCE bool `json:"pkce,omitempty"`
	jwt.RegisteredClaims
}

// oauthStateKey derives the state's HMAC key from the tenant's secret.
func oauthStateKey(tn *tenantCtx) ([]byte, error) {
	secret := tn.auth.JWTSecret
	if secret == "" {
		secret = tn.cfg.SigningKey
	}
	if secret == "" {
		return nil, errors.New("the tenant has neither auth.jwt_secret nor auth.users.signing_key")
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("kapok oauth state"))
	return m.Sum(nil), nil
}

// oauthVerifier is the PKCE code_verifier Kapok uses towards the provider for the
// sign-in whose state has id jti: 43 URL-safe characters, as RFC 7636 asks.
func oauthVerifier(key []byte, jti string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("pkce verifier\x00" + jti))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Service) signOAuthState(key []byte, st *oauthState) (string, error) {
	now := s.now()
	st.Issuer = control.Issuer
	st.Audience = jwt.ClaimStrings{oauthStateAudience}
	st.IssuedAt = jwt.NewNumericDate(now)
	st.ExpiresAt = jwt.NewNumericDate(now.Add(oauthStateLifetime))
	return jwt.NewWithClaims(jwt.SigningMethodHS256, st).SignedString(key)
}

func (s *Service) readOAuthState(tn *tenantCtx, key []byte, raw string) (*oauthState, error) {
	st := &oauthState{}
	_, err := jwt.ParseWithClaims(raw, st, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(control.Issuer),
		jwt.WithAudience(oauthStateAudience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now))
	if err != nil {
		return nil, err
	}
	if st.Tenant != tn.t.Name {
		return nil, fmt.Errorf("the state is tenant %q's", st.Tenant)
	}
	if st.Provider == "" || st.ID == "" || st.Nonce == "" {
		return nil, errors.New("the state lacks its provider, id or nonce")
	}
	return st, nil
}

// authorizeParams are the /authorize query parameters that Kapok reads or sets itself;
// any other is passed on to the provider (access_type, prompt, login_hint, hd, …), as
// auth-js's queryParams expect.
var authorizeParams = []string{
	"provider", "redirect_to", "scopes", "code_challenge", "code_challenge_method", "skip_http_redirect",
	"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
}

// oauthAuthorize answers GET /authorize: a redirect to the provider's consent page.
func (s *Service) oauthAuthorize(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	q := r.Query
	name := strings.ToLower(strings.TrimSpace(q.Get("provider")))
	if r.BaseURL == "" {
		return noBaseURL()
	}
	p, resp := s.oauthProvider(ctx, tn, name, r.BaseURL+"/callback", q.Get("scopes"))
	if resp != nil {
		return resp
	}
	challenge, method, resp := pkceParams(q.Get("code_challenge"), q.Get("code_challenge_method"))
	if resp != nil {
		return resp
	}
	redirectTo := s.redirectTo(tn, q.Get("redirect_to"))
	if redirectTo == "" {
		return apiError(http.StatusBadRequest, "validation_failed", "redirect_to is not allowed and the tenant has no site_url to return to")
	}
	key, err := oauthStateKey(tn)
	if err != nil {
		return apiError(http.StatusInternalServerError, "unexpected_failure", err.Error())
	}
	st := &oauthState{
		Tenant:          tn.t.Name,
		Provider:        name,
		RedirectTo:      redirectTo,
		CodeChallenge:   challenge,
		ChallengeMethod: method,
		Nonce:           oauthRandom(),
		PKCE:            p.pkce,
	}
	st.ID = oauthRandom()
	state, err := s.signOAuthState(key, st)
	if err != nil {
		return apiError(http.StatusInternalServerError, "unexpected_failure", err.Error())
	}
	var opts []oauth2.AuthCodeOption
	for k, vs := range q {
		if !slices.Contains(authorizeParams, k) && len(vs) > 0 {
			opts = append(opts, oauth2.SetAuthURLParam(k, vs[0]))
		}
	}
	if p.oidc != nil {
		opts = append(opts, oidc.Nonce(st.Nonce))
	}
	if p.pkce {
		opts = append(opts, oauth2.S256ChallengeOption(oauthVerifier(key, st.ID)))
	}
	to := p.conf.AuthCodeURL(state, opts...)
	if q.Get("skip_http_redirect") == "true" {
		return jsonResponse(http.StatusOK, map[string]any{"url": to})
	}
	resp = redirect(to)
	resp.Status = http.StatusFound
	return resp
}

// pkceParams checks the client's PKCE parameters: both or neither, a known method, a
// challenge of RFC 7636's length. The method comes back lower-cased, as flow_state keeps it.
func pkceParams(challenge, method string) (string, string, *Response) {
	switch {
	case challenge == "" && method == "":
		return "", "", nil
	case challenge == "" || method == "":
		return "", "", apiError(http.StatusBadRequest, "validation_failed", "PKCE flow requires code_challenge_method and code_challenge")
	}
	method = strings.ToLower(method)
	if method != "s256" && method != "plain" {
		return "", "", apiError(http.StatusBadRequest, "validation_failed", fmt.Sprintf("Unsupported code_challenge_method %q: use s256 or plain", method))
	}
	if len(challenge) < 43 || len(challenge) > 128 {
		return "", "", apiError(http.StatusBadRequest, "validation_failed", "code_challenge has to be between 43 and 128 characters")
	}
	return challenge, method, nil
}

// oauthFailure is a sign-in refused after the provider redirect: the browser goes back
// to the client with it.
type oauthFailure struct {
	// oauthError is RFC 6749's error (invalid_request, access_denied, server_error …),
	// code GoTrue's error_code ("" for an error the provider sent).
	oauthError, code, description string
}

func oauthFail(oauthError, code, description string) *oauthFailure {
	return &oauthFailure{oauthError, code, description}
}

// redirect sends the failure to the client at to. Without anywhere to go, it is a JSON error.
func (f *oauthFailure) redirect(to string) *Response {
	u, err := url.Parse(to)
	if to == "" || err != nil {
		status := http.StatusBadRequest
		if f.oauthError == "server_error" {
			status = http.StatusInternalServerError
		}
		return apiError(status, orElse(f.code, f.oauthError), f.description)
	}
	v := url.Values{"error": {f.oauthError}, "error_description": {f.description}}
	if f.code != "" {
		v.Set("error_code", f.code)
	}
	q := u.Query()
	for k := range v {
		q.Set(k, v.Get(k))
	}
	u.RawQuery = q.Encode()
	u.Fragment, u.RawFragment = "", ""
	return redirect(u.String() + "#" + v.Encode())
}

// oauthIdentity is who the provider says signed in.
type oauthIdentity struct {
	Subject       string
	Email         string
	EmailVerified bool
	// Data is the identity's identity_data, merged into the user's user_metadata.
	Data                                map[string]any
	ProviderToken, ProviderRefreshToken string
}

// oauthCallback answers GET and POST /callback, where the provider sends the browser back.
func (s *Service) oauthCallback(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	params := callbackParams(r)
	home := s.redirectTo(tn, "")
	key, err := oauthStateKey(tn)
	if err != nil {
		return oauthFail("server_error", "unexpected_failure", err.Error()).redirect(home)
	}
	raw := params.Get("state")
	if raw == "" {
		return oauthFail("invalid_request", "bad_oauth_callback", "OAuth state parameter missing").redirect(home)
	}
	st, err := s.readOAuthState(tn, key, raw)
	if err != nil {
		s.oauth.log.Info("auth: OAuth callback with an invalid state", "tenant", tn.t.Name, "err", err)
		return oauthFail("invalid_request", "bad_oauth_state", "OAuth callback with invalid state").redirect(home)
	}
	back := s.redirectTo(tn, st.RedirectTo)
	if e := params.Get("error"); e != "" {
		return oauthFail(clipText(e), "", clipText(params.Get("error_description"))).redirect(back)
	}
	code := params.Get("code")
	if code == "" {
		return oauthFail("invalid_request", "bad_oauth_callback", "OAuth callback with missing authorization code").redirect(back)
	}
	p, resp := s.oauthProvider(ctx, tn, st.Provider, r.BaseURL+"/callback", "")
	if resp != nil {
		return oauthFail("invalid_request", "provider_disabled", errUnsupportedProvider).redirect(back)
	}
	pctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, s.oauth.http), oauthTimeout)
	defer cancel()
	id, f := s.oauthExchange(pctx, p, st, oauthVerifier(key, st.ID), code)
	if f != nil {
		return f.redirect(back)
	}
	u, f := s.oauthSignIn(ctx, tn, r, st.Provider, id, back)
	if f != nil {
		return f.redirect(back)
	}
	s.audit(ctx, tn, r, "oauth_login", u.ID, u.Email, map[string]any{"provider": st.Provider})
	to, err := url.Parse(back)
	if err != nil {
		return oauthFail("server_error", "unexpected_failure", "redirect_to is not a URL").redirect("")
	}
	if st.CodeChallenge != "" {
		authCode, err := s.newFlowState(ctx, tn, u.ID, st.CodeChallenge, st.ChallengeMethod, st.Provider, oauthMethod)
		if err != nil {
			return s.oauthInternal(tn, st.Provider, err).redirect(back)
		}
		q := to.Query()
		q.Set("code", authCode)
		to.RawQuery = q.Encode()
		return redirect(to.String())
	}
	tok, err := s.newSession(ctx, tn, r, u, oauthMethod)
	if err != nil {
		return s.oauthInternal(tn, st.Provider, err).redirect(back)
	}
	v := url.Values{}
	for _, k := range []string{"access_token", "refresh_token", "token_type", "expires_in", "expires_at"} {
		if x, ok := tok[k]; ok {
			v.Set(k, fmt.Sprint(x))
		}
	}
	v.Set("provider_token", id.ProviderToken)
	if id.ProviderRefreshToken != "" {
		v.Set("provider_refresh_token", id.ProviderRefreshToken)
	}
	to.Fragment, to.RawFragment = "", ""
	return redirect(to.String() + "#" + v.Encode())
}

// callbackParams are the callback's query, with a form_post body's fields over them.
func callbackParams(r *Request) url.Values {
	params := url.Values{}
	for k, vs := range r.Query {
		params[k] = vs
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if form, err := url.ParseQuery(string(r.Body)); err == nil {
			for k, vs := range form {
				params[k] = vs
			}
		}
	}
	return params
}

// oauthInternal logs a failure of Kapok's own (its database) and names it for the client.
func (s *Service) oauthInternal(tn *tenantCtx, provider string, err error) *oauthFailure {
	s.oauth.log.Error("auth: OAuth sign-in failed", "tenant", tn.t.Name, "provider", provider, "err", err)
	return oauthFail("server_error", "unexpected_failure", "Database error signing in with the provider")
}

// oauthExchange redeems the code at the provider and reads who signed in: from the
// verified ID token of an OpenID Connect provider (its userinfo when the token carries no
// email), from GitHub's /user and /user/emails otherwise.
func (s *Service) oauthExchange(ctx context.Context, p *oauthProvider, st *oauthState, verifier, code string) (*oauthIdentity, *oauthFailure) {
	var opts []oauth2.AuthCodeOption
	if st.PKCE {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := p.conf.Exchange(ctx, code, opts...)
	if err != nil {
		s.oauth.log.Info("auth: OAuth code exchange failed", "provider", p.name, "err", err)
		return nil, oauthFail("invalid_request", "bad_oauth_callback", "Unable to exchange external code")
	}
	id := &oauthIdentity{ProviderToken: tok.AccessToken, ProviderRefreshToken: tok.RefreshToken}
	var iss, name, picture, login string
	if p.oidc != nil {
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			return nil, oauthFail("invalid_request", "bad_oauth_callback", "The provider sent no ID token")
		}
		idt, err := p.oidc.Verifier(&oidc.Config{ClientID: p.conf.ClientID, Now: s.now}).Verify(ctx, raw)
		if err != nil {
			return nil, oauthFail("invalid_request", "bad_oauth_callback", "Invalid ID token: "+err.Error())
		}
		if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
			return nil, oauthFail("invalid_request", "bad_oauth_callback", "Invalid ID token: its nonce is not the sign-in's")
		}
		var c oidcClaims
		if err := idt.Claims(&c); err != nil {
			return nil, oauthFail("invalid_request", "bad_oauth_callback", "Invalid ID token: "+err.Error())
		}
		if c.Email == "" && p.userInfoURL != "" {
			var info oidcClaims
			if err := fetchJSON(ctx, p.userInfoURL, tok.AccessToken, &info); err != nil {
				s.oauth.log.Info("auth: OpenID Connect userinfo failed", "provider", p.name, "err", err)
				return nil, oauthFail("server_error", "bad_oauth_callback", "Error getting user profile from external provider")
			}
			// OpenID Connect Core 5.3.2: userinfo of another subject must not be used.
			if info.Subject == idt.Subject {
				c.Email, c.EmailVerified = info.Email, info.EmailVerified
				c.Name, c.Picture = orElse(c.Name, info.Name), orElse(c.Picture, info.Picture)
			}
		}
		iss, id.Subject = idt.Issuer, idt.Subject
		id.Email, id.EmailVerified = c.Email, bool(c.EmailVerified)
		name, picture, login = c.Name, c.Picture, c.PreferredUsername
	} else {
		var gu struct {
			ID        json.RawMessage `json:"id"`
			Login     string          `json:"login"`
			Name      string          `json:"name"`
			AvatarURL string          `json:"avatar_url"`
		}
		var emails []struct {
			Email    string `json:"email"`
			Primary  bool   `json:"primary"`
			Verified bool   `json:"verified"`
		}
		if err := fetchJSON(ctx, p.userInfoURL, tok.AccessToken, &gu); err != nil {
			s.oauth.log.Info("auth: GitHub /user failed", "provider", p.name, "err", err)
			return nil, oauthFail("server_error", "bad_oauth_callback", "Error getting user profile from external provider")
		}
		if err := fetchJSON(ctx, strings.TrimSuffix(p.userInfoURL, "/")+"/emails", tok.AccessToken, &emails); err != nil {
			s.oauth.log.Info("auth: GitHub /user/emails failed", "provider", p.name, "err", err)
			return nil, oauthFail("server_error", "bad_oauth_callback", "Error getting user email from external provider")
		}
		// The primary address, else the first verified one: an unverified secondary address
		// must not stand for the account.
		for _, e := range emails {
			if e.Primary || (id.Email == "" && e.Verified) {
				id.Email, id.EmailVerified = e.Email, e.Verified
				if e.Primary {
					break
				}
			}
		}
		id.Subject = strings.Trim(string(gu.ID), `"`)
		if u, err := url.Parse(p.userInfoURL); err == nil {
			iss = u.Scheme + "://" + u.Host
		}
		name, picture, login = gu.Name, gu.AvatarURL, gu.Login
	}
	if id.Subject == "" || id.Subject == "null" {
		return nil, oauthFail("server_error", "bad_oauth_callback", "The provider did not say who signed in")
	}
	if id.Email == "" {
		return nil, oauthFail("server_error", "bad_oauth_callback", "Error getting user email from external provider")
	}
	id.Email = strings.ToLower(id.Email)
	id.Data = map[string]any{
		"iss": iss, "sub": id.Subject, "provider_id": id.Subject,
		"email": id.Email, "email_verified": id.EmailVerified, "phone_verified": false,
	}
	for k, v := range map[string]string{"name": name, "full_name": name, "picture": picture, "avatar_url": picture,
		"user_name": login, "preferred_username": login} {
		if v != "" {
			id.Data[k] = v
		}
	}
	return id, nil
}

// oidcClaims are the ID token's and userinfo's claims Kapok reads.
type oidcClaims struct {
	Subject           string       `json:"sub"`
	Email             string       `json:"email"`
	EmailVerified     flexibleBool `json:"email_verified"`
	Name              string       `json:"name"`
	Picture           string       `json:"picture"`
	PreferredUsername string       `json:"preferred_username"`
}

// flexibleBool reads a boolean that some providers send as the string "true".
type flexibleBool bool

func (b *flexibleBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*b = flexibleBool(x)
	case string:
		*b = flexibleBool(strings.EqualFold(x, "true"))
	default:
		*b = false
	}
	return nil
}

// fetchJSON GETs a provider API's JSON with the user's access token.
func fetchJSON(ctx context.Context, to, token string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, to, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	// GitHub's API refuses requests without a User-Agent.
	req.Header.Set("User-Agent", "Kapok")
	c, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxProviderResponse))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", res.Status, clipText(string(body)))
	}
	return json.Unmarshal(body, v)
}

// oauthSignIn finds or makes the user of a provider's identity:
//
//   - the identity (provider, subject) is known: its user;
//   - else the provider vouches for the address (email_verified) and a user has it: that
//     user, who gains the identity. An unverified address never links, since anyone can
//     claim any address at many providers;
//   - else a new user, unless the tenant refuses sign-ups.
//
// The identity's data is refreshed and merged into user_metadata, app_metadata.providers
// lists the user's identities. A user whose address is still unconfirmed gets it confirmed
// when the provider vouches for it — and loses the password and email identity set before,
// which nobody proved to own the address (GoTrue's guard against pre-account takeover);
// otherwise the sign-in is refused until the address is confirmed.
func (s *Service) oauthSignIn(ctx context.Context, tn *tenantCtx, r *Request, provider string, id *oauthIdentity, back string) (*User, *oauthFailure) {
	var u *User
	var userID string
	err := tn.db.QueryRow(ctx, `SELECT user_id::text FROM `+tn.schema+`.identities
	  WHERE provider = $1::text AND provider_id = $2::text`, provider, id.Subject).Scan(&userID)
	switch {
	case err == nil:
		if u, err = s.userByID(ctx, tn, userID); err != nil {
			return nil, s.oauthInternal(tn, provider, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, s.oauthInternal(tn, provider, err)
	}
	created := false
	if u == nil && id.EmailVerified {
		if u, err = s.userByEmail(ctx, tn, id.Email); err != nil && !errors.Is(err, errNotFound) {
			return nil, s.oauthInternal(tn, provider, err)
		}
	}
	if u == nil {
		if tn.cfg.DisableSignup {
			return nil, oauthFail("access_denied", "signup_disabled", "Signups not allowed for this instance")
		}
		u, err = s.createUser(ctx, tn, newUser{
			Email:        id.Email,
			Confirmed:    id.EmailVerified || tn.cfg.Autoconfirm,
			UserMetadata: id.Data,
			Provider:     provider,
		})
		switch {
		case errors.Is(err, errExists) && id.EmailVerified:
			// A concurrent sign-in of the same person created the user first.
			u, err = s.userByEmail(ctx, tn, id.Email)
		case errors.Is(err, errExists):
			return nil, oauthFail("access_denied", "user_already_exists", "A user with this email address has already been registered")
		default:
			created = err == nil
		}
		if err != nil {
			return nil, s.oauthInternal(tn, provider, err)
		}
	}
	if u.BannedUntil != nil && u.BannedUntil.After(s.now()) {
		return nil, oauthFail("access_denied", "user_banned", "User is banned")
	}
	confirm := u.EmailConfirmedAt == nil && strings.EqualFold(u.Email, id.Email) && (id.EmailVerified || tn.cfg.Autoconfirm)
	userID, err = s.linkOAuthIdentity(ctx, tn, u.ID, provider, id, confirm)
	if err != nil {
		return nil, s.oauthInternal(tn, provider, err)
	}
	if u, err = s.userByID(ctx, tn, userID); err != nil {
		return nil, s.oauthInternal(tn, provider, err)
	}
	if created {
		s.audit(ctx, tn, r, "user_signedup", u.ID, u.Email, map[string]any{"provider": provider})
	}
	if u.EmailConfirmedAt == nil {
		msg := fmt.Sprintf("Unverified email with %s. Verify the email with %s in order to sign in", provider, provider)
		if s.sendConfirmation(ctx, tn, r, u, back) == nil {
			msg = fmt.Sprintf("Unverified email with %s. A confirmation email has been sent to your %s email", provider, provider)
		}
		return nil, oauthFail("access_denied", "provider_email_needs_verification", msg)
	}
	return u, nil
}

// linkOAuthIdentity records the identity for userID (or refreshes it) and updates the
// user, in one transaction. It returns the identity's user: userID, unless a concurrent
// sign-in linked the identity to another user first.
func (s *Service) linkOAuthIdentity(ctx context.Context, tn *tenantCtx, userID, provider string, id *oauthIdentity, confirm bool) (string, error) {
	tx, err := tn.db.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	err = tx.QueryRow(ctx, `INSERT INTO `+tn.schema+`.identities (user_id, provider, provider_id, identity_data, email, last_sign_in_at)
	  VALUES ($1::uuid, $2::text, $3::text, $4::jsonb, $5::text, now())
	  ON CONFLICT (provider, provider_id) DO UPDATE SET identity_data = EXCLUDED.identity_data, email = EXCLUDED.email,
	    last_sign_in_at = now(), updated_at = now()
	  RETURNING user_id::text`, userID, provider, id.Subject, id.Data, id.Email).Scan(&userID)
	if err != nil {
		return "", err
	}
	if confirm {
		if _, err := tx.Exec(ctx, `UPDATE `+tn.schema+`.users SET email_confirmed_at = now(), encrypted_password = NULL
		  WHERE id = $1::uuid AND email_confirmed_at IS NULL`, userID); err != nil {
			return "", err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+tn.schema+`.identities WHERE user_id = $1::uuid AND provider = 'email'`, userID); err != nil {
			return "", err
		}
	}
	_, err = tx.Exec(ctx, `UPDATE `+tn.schema+`.users u SET
	    raw_user_meta_data = u.raw_user_meta_data || $2::jsonb,
	    raw_app_meta_data = jsonb_build_object('provider', $3::text) || u.raw_app_meta_data || jsonb_build_object('providers',
	      (SELECT coalesce(jsonb_agg(DISTINCT i.provider ORDER BY i.provider), '[]') FROM `+tn.schema+`.identities i WHERE i.user_id = u.id)),
	    updated_at = now()
	  WHERE u.id = $1::uuid`, userID, id.Data, provider)
	if err != nil {
		return "", err
	}
	return userID, tx.Commit(ctx)
}

// clipText bounds a string that came from elsewhere before it is logged or sent back.
func clipText(s string) string {
	const max = 300
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "")
	}
	return s
}

func orElse(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// oauthRandom is 22 random URL-safe characters (128 bits).
func oauthRandom() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
