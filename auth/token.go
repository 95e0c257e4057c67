package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
)

// handleToken answers POST /token?grant_type=password|refresh_token|pkce.
func (s *Service) handleToken(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	switch gt := r.Query.Get("grant_type"); gt {
	case "password":
		return s.passwordGrant(ctx, tn, r)
	case "refresh_token":
		return s.refreshGrant(ctx, tn, r)
	case "pkce":
		return s.pkceGrant(ctx, tn, r)
	case "":
		return apiError(http.StatusBadRequest, "validation_failed", "grant_type is required (password, refresh_token or pkce)")
	default:
		return apiError(http.StatusBadRequest, "validation_failed", "unsupported grant_type "+gt)
	}
}

// invalidCredentials is the one answer to a wrong address or password, whichever it is.
func invalidCredentials() *Response {
	return apiError(http.StatusBadRequest, "invalid_credentials", "Invalid login credentials")
}

// passwordGrant signs in with {email, password}. An unknown address and a wrong password
// cost one bcrypt comparison each and answer the same. Failures count against the
// account's limit; every attempt counts against the client address's.
func (s *Service) passwordGrant(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	var p struct {
		Email    string `json:"email"`
		Phone    string `json:"phone"`
		Password string `json:"password"`
	}
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	email := normalizeEmail(p.Email)
	if email == "" {
		if p.Phone != "" {
			return apiError(http.StatusBadRequest, "phone_provider_disabled", "Phone logins are disabled")
		}
		return apiError(http.StatusBadRequest, "validation_failed", "missing email or phone")
	}
	if p.Password == "" {
		return apiError(http.StatusBadRequest, "validation_failed", "missing password")
	}
	if ok, retry := s.allow(tn, "signin_ip", ipParam(r)); !ok {
		return rateLimited("signin_ip", retry)
	}
	if blocked, retry := s.blocked(tn, "signin_account", email); blocked {
		return rateLimited("signin_account", retry)
	}
	var u *User
	if validEmail(email) {
		var err error
		u, err = s.userByEmail(ctx, tn, email)
		if err != nil && !errors.Is(err, errNotFound) {
			return s.internalError(tn, "look the user up", err)
		}
	}
	if !passwordMatches(u, p.Password) {
		s.allow(tn, "signin_account", email)
		s.met.signIn("password", false)
		id := ""
		if u != nil {
			id = u.ID
		}
		s.audit(ctx, tn, r, "login_failed", id, email, map[string]any{"provider": "email", "reason": "invalid_credentials"})
		return invalidCredentials()
	}
	now := s.now()
	if u.banned(now) {
		s.met.signIn("password", false)
		return apiError(http.StatusBadRequest, "user_banned", "User is banned")
	}
	if u.EmailConfirmedAt == nil {
		s.met.signIn("password", false)
		return apiError(http.StatusBadRequest, "email_not_confirmed", "Email not confirmed")
	}
	resp, err := s.issueSession(ctx, tn, r, u, "password")
	if err != nil {
		return s.internalError(tn, "sign the user in", err)
	}
	s.audit(ctx, tn, r, "login", u.ID, u.Email, map[string]any{"provider": "email"})
	return resp
}

// refreshGrant rotates a refresh token (sessions.go's refresh).
func (s *Service) refreshGrant(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	var p struct {
		RefreshToken string `json:"refresh_token"`
	}
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	if p.RefreshToken == "" {
		return apiError(http.StatusBadRequest, "validation_failed", "refresh_token required")
	}
	if ok, retry := s.allow(tn, "refresh_ip", ipParam(r)); !ok {
		return rateLimited("refresh_ip", retry)
	}
	return s.refresh(ctx, tn, r, p.RefreshToken)
}

// pkceGrant exchanges a PKCE code and its verifier for a session. The flow state is
// consumed by the first attempt, right or wrong: a code is good once, and a verifier
// cannot be guessed at.
func (s *Service) pkceGrant(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	var p struct {
		AuthCode     string `json:"auth_code"`
		CodeVerifier string `json:"code_verifier"`
	}
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	if p.AuthCode == "" || p.CodeVerifier == "" {
		return apiError(http.StatusBadRequest, "validation_failed", "invalid request: both auth code and code verifier should be non-empty")
	}
	if ok, retry := s.allow(tn, "signin_ip", ipParam(r)); !ok {
		return rateLimited("signin_ip", retry)
	}
	var (
		userID                                  *string
		challenge, method, provider, authMethod string
		created                                 time.Time
	)
	err := tn.db.QueryRow(ctx, tn.sql(`DELETE FROM @S@.flow_state WHERE auth_code = $1::text
RETURNING user_id::text, code_challenge, code_challenge_method, provider_type, authentication_method, created_at`),
		tokenHash(p.AuthCode)).Scan(&userID, &challenge, &method, &provider, &authMethod, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return apiError(http.StatusNotFound, "flow_state_not_found", "invalid flow state, no valid flow state found")
	}
	if err != nil {
		return s.internalError(tn, "read the PKCE flow", err)
	}
	now := s.now()
	if !now.Before(created.Add(flowStateLifetime)) {
		return apiError(http.StatusForbidden, "flow_state_expired", "PKCE flow state has expired")
	}
	if !verifierMatches(p.CodeVerifier, challenge, method) {
		s.met.signIn("pkce", false)
		return apiError(http.StatusForbidden, "bad_code_verifier", "code challenge does not match previously saved code verifier")
	}
	if userID == nil {
		return apiError(http.StatusNotFound, "flow_state_not_found", "invalid flow state, no valid flow state found")
	}
	u, err := s.userByID(ctx, tn, *userID)
	if errors.Is(err, errNotFound) {
		return apiError(http.StatusNotFound, "user_not_found", "User not found")
	}
	if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	if u.banned(now) {
		return apiError(http.StatusBadRequest, "user_banned", "User is banned")
	}
	if provider == "email" && u.EmailConfirmedAt == nil {
		return apiError(http.StatusBadRequest, "email_not_confirmed", "Email not confirmed")
	}
	resp, err := s.issueSession(ctx, tn, r, u, authMethod)
	if err != nil {
		return s.internalError(tn, "sign the user in", err)
	}
	s.audit(ctx, tn, r, "login", u.ID, u.Email, map[string]any{"provider": provider, "flow": "pkce"})
	return resp
}
