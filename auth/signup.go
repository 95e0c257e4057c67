package auth

import (
	"context"
	"errors"
	"net/http"
)

type signupParams struct {
	Email               string         `json:"email"`
	Phone               string         `json:"phone"`
	Password            string         `json:"password"`
	Data                map[string]any `json:"data"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
}

// handleSignup answers POST /signup: a new email user. With autoconfirm the user is
// signed in at once (the token response); otherwise a confirmation mail goes out and the
// answer is the user, without a session. An address already confirmed gets GoTrue's
// obfuscated answer (a user that does not exist, and no mail), so that sign-up does not
// tell who has an account; with autoconfirm there is nothing to hide behind, and it is
// 422 user_already_exists.
func (s *Service) handleSignup(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	var p signupParams
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	if tn.cfg.DisableSignup {
		return apiError(http.StatusUnprocessableEntity, "signup_disabled", "Signups not allowed for this instance")
	}
	if p.Email == "" && p.Phone != "" {
		return apiError(http.StatusBadRequest, "phone_provider_disabled", "Phone signups are disabled")
	}
	email := normalizeEmail(p.Email)
	if email == "" {
		return apiError(http.StatusBadRequest, "validation_failed", "To signup, please provide your email")
	}
	if !validEmail(email) {
		return emailError()
	}
	if p.Password == "" {
		return apiError(http.StatusBadRequest, "validation_failed", "Signup requires a valid password")
	}
	if resp := s.checkPassword(tn, p.Password); resp != nil {
		return resp
	}
	if _, _, resp := pkceParams(p.CodeChallenge, p.CodeChallengeMethod); resp != nil {
		return resp
	}
	if ok, retry := s.allow(tn, "signin_ip", ipParam(r)); !ok {
		return rateLimited("signin_ip", retry)
	}
	redirectTo := s.redirectTo(tn, r.Query.Get("redirect_to"))

	existing, err := s.userByEmail(ctx, tn, email)
	switch {
	case errors.Is(err, errNotFound):
	case err != nil:
		return s.internalError(tn, "look the user up", err)
	case existing.EmailConfirmedAt != nil || tn.cfg.Autoconfirm:
		return s.repeatedSignup(tn, email, p)
	default:
		// Not confirmed yet: the confirmation goes out again, to the address's owner, and
		// nothing of the user changes, since who asked is not known.
		if resp := s.startEmailFlow(ctx, tn, existing, p); resp != nil {
			return resp
		}
		if resp := s.sendConfirmation(ctx, tn, r, existing, redirectTo); resp != nil {
			return resp
		}
		s.audit(ctx, tn, r, "user_confirmation_requested", existing.ID, existing.Email, map[string]any{"provider": "email"})
		return s.userAnswer(ctx, tn, existing.ID)
	}

	u, err := s.createUser(ctx, tn, newUser{Email: email, Password: p.Password, Confirmed: tn.cfg.Autoconfirm,
		UserMetadata: p.Data, Provider: "email"})
	if errors.Is(err, errExists) {
		return s.repeatedSignup(tn, email, p)
	}
	if err != nil {
		return s.internalError(tn, "create the user", err)
	}
	if tn.cfg.Autoconfirm {
		s.audit(ctx, tn, r, "user_signedup", u.ID, u.Email, map[string]any{"provider": "email"})
		resp, err := s.issueSession(ctx, tn, r, u, "password")
		if err != nil {
			return s.internalError(tn, "sign the user in", err)
		}
		s.audit(ctx, tn, r, "login", u.ID, u.Email, map[string]any{"provider": "email"})
		return resp
	}
	if resp := s.startEmailFlow(ctx, tn, u, p); resp != nil {
		s.dropUser(ctx, tn, u.ID)
		return resp
	}
	if resp := s.sendConfirmation(ctx, tn, r, u, redirectTo); resp != nil {
		// As GoTrue does in its transaction: no mail, no user, so that signing up again
		// starts afresh.
		s.dropUser(ctx, tn, u.ID)
		return resp
	}
	s.audit(ctx, tn, r, "user_confirmation_requested", u.ID, u.Email, map[string]any{"provider": "email"})
	return s.userAnswer(ctx, tn, u.ID)
}

// startEmailFlow records the PKCE flow of a sign-up that asked for one: the confirmation
// link then leads back with ?code= for the client to exchange.
func (s *Service) startEmailFlow(ctx context.Context, tn *tenantCtx, u *User, p signupParams) *Response {
	if p.CodeChallenge == "" {
		return nil
	}
	if _, err := s.newFlowState(ctx, tn, u.ID, p.CodeChallenge, p.CodeChallengeMethod, "email", "email/signup"); err != nil {
		return s.internalError(tn, "record the PKCE flow", err)
	}
	return nil
}

// repeatedSignup answers a sign-up for an address that has a confirmed user.
func (s *Service) repeatedSignup(tn *tenantCtx, email string, p signupParams) *Response {
	if tn.cfg.Autoconfirm {
		return apiError(http.StatusUnprocessableEntity, "user_already_exists", "User already registered")
	}
	// The password is hashed as a real sign-up would, so that the answer takes as long.
	if _, err := hashPassword(p.Password); err != nil {
		return s.internalError(tn, "hash the password", err)
	}
	now := s.now()
	fake := &User{ID: newRandomUUID(), Aud: "authenticated", Role: "authenticated", Email: email,
		ConfirmationSentAt: &now, CreatedAt: now, UpdatedAt: now, UserMetadata: p.Data,
		AppMetadata: map[string]any{"provider": "email", "providers": []string{"email"}}}
	return jsonResponse(http.StatusOK, userObject(fake, nil, nil))
}

// userAnswer answers the user id as it is now in the store.
func (s *Service) userAnswer(ctx context.Context, tn *tenantCtx, id string) *Response {
	u, err := s.userByID(ctx, tn, id)
	if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	uj, err := s.userJSON(ctx, tn, u)
	if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	return jsonResponse(http.StatusOK, uj)
}

// dropUser deletes a user created by a request that then failed.
func (s *Service) dropUser(ctx context.Context, tn *tenantCtx, id string) {
	if _, err := tn.db.Exec(ctx, tn.sql(`DELETE FROM @S@.users WHERE id = $1::uuid`), id); err != nil {
		s.log.Warn("kapok auth: drop a user after a failed sign-up", "tenant", tn.t.Name, "err", err)
	}
}
