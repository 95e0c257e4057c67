package auth

import (
	"context"
	"errors"
	"net/http"

	"github.com/jackc/pgx/v5/pgconn"
)

// handleGetUser answers GET /user: the signed-in user.
func (s *Service) handleGetUser(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	u, _, resp := s.currentUser(ctx, tn, r)
	if resp != nil {
		return resp
	}
	uj, err := s.userJSON(ctx, tn, u)
	if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	return jsonResponse(http.StatusOK, uj)
}

type userUpdateParams struct {
	Email               *string        `json:"email"`
	Phone               string         `json:"phone"`
	Password            *string        `json:"password"`
	Data                map[string]any `json:"data"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
}

// emailTaken is the answer to an address another user has.
func emailTaken() *Response {
	return apiError(http.StatusUnprocessableEntity, "email_exists", "A user with this email address has already been registered")
}

// newAddress checks the address u is to move to: normalized, "" when it is u's own
// already; 400 when it is not an address, 422 when another user has it.
func (s *Service) newAddress(ctx context.Context, tn *tenantCtx, u *User, raw string) (string, *Response) {
	email := normalizeEmail(raw)
	if !validEmail(email) {
		return "", emailError()
	}
	if email == u.Email {
		return "", nil
	}
	other, err := s.userByEmail(ctx, tn, email)
	switch {
	case err == nil && other.ID != u.ID:
		return "", emailTaken()
	case err != nil && !errors.Is(err, errNotFound):
		return "", s.internalError(tn, "look the address up", err)
	}
	return email, nil
}

// handleUpdateUser answers PUT /user: the signed-in user changes their metadata (data:
// keys set to null are removed), password (their other sessions end, as a stolen session
// should not outlive the change) or address (confirmed by mail, unless autoconfirm).
// Everything is checked before anything is written.
func (s *Service) handleUpdateUser(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	u, c, resp := s.currentUser(ctx, tn, r)
	if resp != nil {
		return resp
	}
	var p userUpdateParams
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	if p.Phone != "" {
		return apiError(http.StatusBadRequest, "phone_provider_disabled", "Phone logins are disabled")
	}
	if _, _, resp := pkceParams(p.CodeChallenge, p.CodeChallengeMethod); resp != nil {
		return resp
	}
	var newEmail string
	if p.Email != nil {
		if newEmail, resp = s.newAddress(ctx, tn, u, *p.Email); resp != nil {
			return resp
		}
	}
	var hash *string
	if p.Password != nil {
		if resp := s.checkPassword(tn, *p.Password); resp != nil {
			return resp
		}
		if passwordMatches(u, *p.Password) {
			return apiError(http.StatusUnprocessableEntity, "same_password", "New password should be different from the old password.")
		}
		h, err := hashPassword(*p.Password)
		if err != nil {
			return s.internalError(tn, "hash the password", err)
		}
		hash = &h
	}

	if hash != nil || p.Data != nil {
		set, remove := metadataPatch(p.Data)
		_, err := tn.db.Exec(ctx, tn.sql(`UPDATE @S@.users SET
  encrypted_password = coalesce($2::text, encrypted_password),
  raw_user_meta_data = CASE WHEN $3::boolean THEN (raw_user_meta_data || $4::jsonb) - $5::text[] ELSE raw_user_meta_data END,
  updated_at = $6::timestamptz
WHERE id = $1::uuid`), u.ID, hash, p.Data != nil, set, remove, s.now())
		if err != nil {
			return s.internalError(tn, "update the user", err)
		}
	}
	if hash != nil {
		if _, err := tn.db.Exec(ctx, tn.sql(`DELETE FROM @S@.sessions
WHERE user_id = $1::uuid AND id IS DISTINCT FROM nullif($2::text, '')::uuid`), u.ID, c.SessionID); err != nil {
			return s.internalError(tn, "end the other sessions", err)
		}
		s.audit(ctx, tn, r, "user_updated_password", u.ID, u.Email, nil)
	}
	if newEmail != "" {
		if resp := s.changeEmail(ctx, tn, r, u, newEmail, p); resp != nil {
			return resp
		}
	}
	s.audit(ctx, tn, r, "user_modified", u.ID, u.Email, nil)
	return s.userAnswer(ctx, tn, u.ID)
}

// changeEmail moves u to newEmail: at once with autoconfirm, else by the mails that
// confirm it.
func (s *Service) changeEmail(ctx context.Context, tn *tenantCtx, r *Request, u *User, newEmail string, p userUpdateParams) *Response {
	if tn.cfg.Autoconfirm {
		if err := s.setEmail(ctx, tn, u.ID, newEmail, true); err != nil {
			if errors.Is(err, errExists) {
				return emailTaken()
			}
			return s.internalError(tn, "change the address", err)
		}
		return nil
	}
	if p.CodeChallenge != "" {
		if _, err := s.newFlowState(ctx, tn, u.ID, p.CodeChallenge, p.CodeChallengeMethod, "email_change", "email_change"); err != nil {
			return s.internalError(tn, "record the PKCE flow", err)
		}
	}
	return s.sendEmailChange(ctx, tn, r, u, newEmail, s.redirectTo(tn, r.Query.Get("redirect_to")))
}

// setEmail gives user id the address email (and its email identity with it); confirmed
// marks it confirmed now. errExists when another user has it.
func (s *Service) setEmail(ctx context.Context, tn *tenantCtx, id, email string, confirmed bool) error {
	_, err := tn.db.Exec(ctx, tn.sql(`WITH u AS (
  UPDATE @S@.users SET email = $2::text, email_change = NULL, email_change_sent_at = NULL,
    email_confirmed_at = CASE WHEN $3::boolean THEN coalesce(email_confirmed_at, $4::timestamptz) ELSE email_confirmed_at END,
    updated_at = $4::timestamptz
  WHERE id = $1::uuid RETURNING id
)
UPDATE @S@.identities SET email = $2::text,
  identity_data = identity_data || jsonb_build_object('email', $2::text),
  updated_at = $4::timestamptz
WHERE user_id IN (SELECT id FROM u) AND provider = 'email'`), id, email, confirmed, s.now())
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return errExists
	}
	return err
}

// handleLogout answers POST /logout?scope=global|local|others: it ends the user's
// sessions (global, the default), this one (local) or all but this one (others). The
// access tokens of ended sessions stop working at once for Kapok Auth's own endpoints
// (session_not_found); elsewhere they run until they expire.
func (s *Service) handleLogout(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	u, c, resp := s.currentUser(ctx, tn, r)
	if resp != nil {
		return resp
	}
	q, args := `DELETE FROM @S@.sessions WHERE user_id = $1::uuid`, []any{u.ID}
	switch scope := r.Query.Get("scope"); scope {
	case "", "global":
	case "local":
		q, args = q+` AND id = nullif($2::text, '')::uuid`, append(args, c.SessionID)
	case "others":
		q, args = q+` AND id IS DISTINCT FROM nullif($2::text, '')::uuid`, append(args, c.SessionID)
	default:
		return apiError(http.StatusBadRequest, "validation_failed", "scope must be one of global, local, others")
	}
	if _, err := tn.db.Exec(ctx, tn.sql(q), args...); err != nil {
		return s.internalError(tn, "end the sessions", err)
	}
	s.audit(ctx, tn, r, "logout", u.ID, u.Email, map[string]any{"scope": r.Query.Get("scope")})
	return noContent()
}
