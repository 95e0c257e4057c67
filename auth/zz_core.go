package auth

// Stand-ins for what mail.go, verify.go, oauth.go and mfa.go define; the integrator
// deletes this file.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
)

func (s *Service) sendConfirmation(ctx context.Context, tn *tenantCtx, r *Request, u *User, redirectTo string) *Response {
	return nil
}

func (s *Service) sendEmailChange(ctx context.Context, tn *tenantCtx, r *Request, u *User, newEmail, redirectTo string) *Response {
	return nil
}

func (s *Service) sendInvite(ctx context.Context, tn *tenantCtx, r *Request, u *User, redirectTo string) *Response {
	return nil
}

func (s *Service) redirectTo(tn *tenantCtx, want string) string {
	if want == "" {
		return tn.cfg.SiteURL
	}
	for _, u := range tn.cfg.RedirectURLs {
		if u == want {
			return want
		}
	}
	return tn.cfg.SiteURL
}

func (s *Service) newOneTimeToken(ctx context.Context, tn *tenantCtx, userID, kind, email, redirectTo string) (code, tokenHash string, err error) {
	code = "123456"
	sum := sha256.Sum224([]byte(email + code))
	tokenHash = hex.EncodeToString(sum[:])
	_, err = tn.db.Exec(ctx, tn.sql(`INSERT INTO @S@.one_time_tokens (user_id, kind, token_hash, relates_to, redirect_to)
VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::text)
ON CONFLICT (token_hash) DO NOTHING`), userID, kind, tokenHash, email, redirectTo)
	return code, tokenHash, err
}

func notYet(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return apiError(http.StatusNotImplemented, "not_implemented", "not implemented")
}

func (s *Service) handleVerify(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleOTP(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleMagicLink(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleRecover(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleResend(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleReauthenticate(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleAuthorize(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleCallback(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleFactorEnroll(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleFactorChallenge(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleFactorVerify(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}
func (s *Service) handleFactorUnenroll(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return notYet(ctx, tn, r)
}

// redirect is for verify.go and oauth.go.
var _ = redirect
