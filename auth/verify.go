package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// mailFlow is one kind of emailed code: the one_time_tokens kind it is stored as, the
// mail that carries it, the type= of its link, and the flow state (provider_type,
// authentication_method) a PKCE client's request for it records.
type mailFlow struct {
	token      string
	mail       string
	verifyType string
	provider   string
	method     string
}

var (
	flowConfirmation       = mailFlow{"confirmation", mailConfirmation, "signup", "email", "email/signup"}
	flowInvite             = mailFlow{"invite", mailInvite, "invite", "invite", "invite"}
	flowMagicLink          = mailFlow{"magiclink", mailMagicLink, "magiclink", "magiclink", "magiclink"}
	flowRecovery           = mailFlow{"recovery", mailRecovery, "recovery", "recovery", "recovery"}
	flowEmailChangeNew     = mailFlow{"email_change_new", mailEmailChange, "email_change", "email_change", "email_change"}
	flowEmailChangeCurrent = mailFlow{"email_change_current", mailEmailChange, "email_change", "email_change", "email_change"}
	flowReauthentication   = mailFlow{"reauthentication", mailReauthentication, "", "", ""}
)

// flowsByToken finds a mailFlow from a stored token's kind.
var flowsByToken = map[string]mailFlow{}

func init() {
	for _, f := range []mailFlow{flowConfirmation, flowInvite, flowMagicLink, flowRecovery, flowEmailChangeNew, flowEmailChangeCurrent, flowReauthentication} {
		flowsByToken[f.token] = f
	}
}

// verifyKinds are the token kinds each type of /verify consumes. "email" is what
// auth-js sends for a typed code, which may be a sign-up confirmation or a magic link
// (as GoTrue checks both); the link types accept their own kind only.
var verifyKinds = map[string][]string{
	"signup":       {"confirmation"},
	"invite":       {"invite"},
	"magiclink":    {"magiclink"},
	"recovery":     {"recovery"},
	"email_change": {"email_change_new", "email_change_current"},
	"email":        {"confirmation", "magiclink", "invite"},
}

// otpCode is n random decimal digits.
func otpCode(n int) (string, error) {
	if n <= 0 {
		n = 6
	}
	b := make([]byte, n)
	ten := big.NewInt(10)
	for i := range b {
		d, err := rand.Int(rand.Reader, ten)
		if err != nil {
			return "", err
		}
		b[i] = byte('0' + d.Int64())
	}
	return string(b), nil
}

// otpHash is the token of a code's link, as GoTrue makes it: hex SHA-224 of the address
// followed by the code. The link names the code without giving it away, and a typed code
// is found by the same hash.
func otpHash(email, code string) string {
	h := sha256.Sum224([]byte(strings.ToLower(email) + code))
	return hex.EncodeToString(h[:])
}

// newOneTimeToken creates the code of kind for the user and returns it with its link's
// token. A user has one live code per kind: an older one of that kind (and any expired
// code of the user) goes.
func (s *Service) newOneTimeToken(ctx context.Context, tn *tenantCtx, userID, kind, email, redirectTo string) (code, tokenHash string, err error) {
	email = strings.ToLower(email)
	now := s.now()
	for attempt := 0; ; attempt++ {
		if code, err = otpCode(tn.cfg.OTPLength); err != nil {
			return "", "", err
		}
		tokenHash = otpHash(email, code)
		_, err = tn.db.Exec(ctx, `WITH gone AS (
  DELETE FROM `+tn.schema+`.one_time_tokens
  WHERE user_id = $1::uuid AND (kind = $2::text OR created_at < $6::timestamptz - $7::interval))
INSERT INTO `+tn.schema+`.one_time_tokens (user_id, kind, token_hash, relates_to, redirect_to, created_at)
VALUES ($1::uuid, $2::text, $3::text, $4::text, nullif($5::text, ''), $6::timestamptz)`,
			userID, kind, tokenHash, email, redirectTo, now, tn.cfg.OTPExpiry.D())
		var pe *pgconn.PgError
		// The same hash is live already (another kind's code for this address drew the
		// same digits): draw again.
		if errors.As(err, &pe) && pe.Code == "23505" && attempt < 3 {
			continue
		}
		if err != nil {
			return "", "", fmt.Errorf("storing a one-time code: %w", err)
		}
		return code, tokenHash, nil
	}
}

// oneTimeToken is a consumed code.
type oneTimeToken struct {
	userID, kind, relatesTo, redirectTo string
	createdAt                           time.Time
}

// consumeToken deletes the code with hash among kinds and returns it: a code works once,
// even when two requests present it at the same time.
func (s *Service) consumeToken(ctx context.Context, tn *tenantCtx, hash string, kinds []string) (*oneTimeToken, error) {
	var t oneTimeToken
	err := tn.db.QueryRow(ctx, `DELETE FROM `+tn.schema+`.one_time_tokens WHERE token_hash = $1::text AND kind = ANY($2::text[])
RETURNING user_id::text, kind, relates_to, coalesce(redirect_to, ''), created_at`, hash, kinds).Scan(
		&t.userID, &t.kind, &t.relatesTo, &t.redirectTo, &t.createdAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// redirectTo is want when the tenant allows it, else the site URL: want is allowed when
// it is below site_url (same scheme and host, a path under its path) or matches an entry
// of redirect_urls (exactly, or below an entry's prefix ending in "*").
func (s *Service) redirectTo(tn *tenantCtx, want string) string {
	if want != "" && allowedRedirect(tn.cfg.SiteURL, tn.cfg.RedirectURLs, want) {
		return want
	}
	return tn.cfg.SiteURL
}

func allowedRedirect(site string, list []string, want string) bool {
	w, err := url.Parse(want)
	if err != nil || w.Scheme == "" || strings.ContainsAny(want, "\\\r\n\t ") {
		return false
	}
	for _, e := range list {
		if e == want {
			return true
		}
		prefix, wild := strings.CutSuffix(e, "*")
		if !wild {
			continue
		}
		prefix = strings.TrimRight(prefix, "*")
		if rest, ok := strings.CutPrefix(want, prefix); ok && w.User == nil &&
			(rest == "" || strings.HasSuffix(prefix, "/") || strings.ContainsRune("/?#", rune(rest[0]))) {
			return true
		}
	}
	su, err := url.Parse(site)
	if err != nil || site == "" || w.User != nil || !strings.EqualFold(su.Scheme, w.Scheme) || !strings.EqualFold(su.Host, w.Host) {
		return false
	}
	base := strings.TrimSuffix(su.Path, "/")
	return w.Path == base || strings.HasPrefix(w.Path, base+"/")
}

// noBaseURL answers a request that needs a link to /auth/v1 when the proxy had no URL it
// could trust for it (see Request.BaseURL): the deployment's configuration is missing, not
// the client's request.
func noBaseURL() *Response {
	return apiError(http.StatusInternalServerError, "unexpected_failure",
		"Kapok has no public URL to build this tenant's links on: set public_url in its config (or auth.users.external_url)")
}

// actionLink is a mail's link: GET /verify with the code's hash, its type and where to go.
func actionLink(r *Request, tokenHash, verifyType, redirectTo string) string {
	q := url.Values{"token": {tokenHash}, "type": {verifyType}}
	if redirectTo != "" {
		q.Set("redirect_to", redirectTo)
	}
	return r.BaseURL + "/verify?" + q.Encode()
}

// requestPKCE is pkceParams of any request body that carries them (sign-up, /otp,
// /recover, /resend, PUT /user), which the caller has decoded already.
func requestPKCE(r *Request) (string, string, *Response) {
	var p struct {
		Challenge string `json:"code_challenge"`
		Method    string `json:"code_challenge_method"`
	}
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return "", "", nil
	}
	if resp := decodeBody(r, &p); resp != nil {
		return "", "", nil
	}
	return pkceParams(p.Challenge, p.Method)
}

// flowCodeHash is how flow_state stores an auth code.
func flowCodeHash(code string) string {
	h := sha256.Sum256([]byte(code))
	return hex.EncodeToString(h[:])
}

// sendTokenMail makes u's code of flow f, records the PKCE flow state the request asked
// for (a client in the implicit flow gets none, and a stale one of this kind goes), and
// mails the code to to.
func (s *Service) sendTokenMail(ctx context.Context, tn *tenantCtx, r *Request, u *User, f mailFlow, to, redirectTo, newEmail string) *Response {
	challenge, method, resp := requestPKCE(r)
	if resp != nil {
		return resp
	}
	if resp := s.mailConfigured(tn); resp != nil {
		return resp
	}
	if f.verifyType != "" && r.BaseURL == "" {
		return noBaseURL()
	}
	redirectTo = s.redirectTo(tn, redirectTo)
	code, hash, err := s.newOneTimeToken(ctx, tn, u.ID, f.token, to, redirectTo)
	if err != nil {
		return s.failure("one-time code", err)
	}
	if f.provider != "" {
		if _, err := tn.db.Exec(ctx, `DELETE FROM `+tn.schema+`.flow_state WHERE user_id = $1::uuid AND provider_type = $2::text`, u.ID, f.provider); err != nil {
			return s.failure("flow state", err)
		}
		if challenge != "" {
			// The code newFlowState returns is not handed out: GET /verify issues the one
			// the client gets, in the redirect.
			if _, err := s.newFlowState(ctx, tn, u.ID, challenge, method, f.provider, f.method); err != nil {
				return s.failure("flow state", err)
			}
		}
	}
	data := mailData{Token: code, TokenHash: hash, SiteURL: tn.cfg.SiteURL, Email: u.Email, NewEmail: newEmail, RedirectTo: redirectTo}
	if data.Email == "" {
		data.Email = to
	}
	if f.verifyType != "" {
		data.ConfirmationURL = actionLink(r, hash, f.verifyType, redirectTo)
	}
	return s.sendMail(ctx, tn, f.mail, to, data)
}

// failure logs an internal error and answers 500.
func (s *Service) failure(what string, err error) *Response {
	s.log.Error("auth: "+what, "err", err)
	return apiError(http.StatusInternalServerError, "unexpected_failure", "Internal error: "+what)
}

// sendConfirmation mails u the link and code that confirm its address, and records when.
func (s *Service) sendConfirmation(ctx context.Context, tn *tenantCtx, r *Request, u *User, redirectTo string) *Response {
	if resp := s.sendTokenMail(ctx, tn, r, u, flowConfirmation, u.Email, redirectTo, ""); resp != nil {
		return resp
	}
	if _, err := tn.db.Exec(ctx, `UPDATE `+tn.schema+`.users SET confirmation_sent_at = $2::timestamptz WHERE id = $1::uuid`, u.ID, s.now()); err != nil {
		return s.failure("user", err)
	}
	s.audit(ctx, tn, r, "user_confirmation_requested", u.ID, u.Email, map[string]any{"provider": "email"})
	return nil
}

// sendInvite mails an invited user (created with Invited) the link that accepts the
// invitation; it audits user_invited.
func (s *Service) sendInvite(ctx context.Context, tn *tenantCtx, r *Request, u *User, redirectTo string) *Response {
	if resp := s.sendTokenMail(ctx, tn, r, u, flowInvite, u.Email, redirectTo, ""); resp != nil {
		return resp
	}
	if _, err := tn.db.Exec(ctx, `UPDATE `+tn.schema+`.users SET invited_at = coalesce(invited_at, $2::timestamptz), confirmation_sent_at = $2::timestamptz WHERE id = $1::uuid`, u.ID, s.now()); err != nil {
		return s.failure("user", err)
	}
	s.audit(ctx, tn, r, "user_invited", u.ID, u.Email, nil)
	return nil
}

// sendMagicLink mails a confirmed user a sign-in link and code.
func (s *Service) sendMagicLink(ctx context.Context, tn *tenantCtx, r *Request, u *User, redirectTo string) *Response {
	if resp := s.sendTokenMail(ctx, tn, r, u, flowMagicLink, u.Email, redirectTo, ""); resp != nil {
		return resp
	}
	s.audit(ctx, tn, r, "user_recovery_requested", u.ID, u.Email, map[string]any{"type": "magiclink"})
	return nil
}

// sendEmailChange records newEmail as u's pending address and mails a code to it and,
// when u has one, to the current address: the change applies once both are confirmed, so
// that neither a stolen session nor a mistyped address takes the account.
func (s *Service) sendEmailChange(ctx context.Context, tn *tenantCtx, r *Request, u *User, newEmail, redirectTo string) *Response {
	newEmail, resp := mailAddress(newEmail)
	if resp != nil {
		return resp
	}
	if newEmail == strings.ToLower(u.Email) {
		return nil
	}
	if other, err := s.userByEmail(ctx, tn, newEmail); err == nil && other.ID != u.ID {
		return apiError(http.StatusUnprocessableEntity, "email_exists", "A user with this email address has already been registered")
	} else if err != nil && !errors.Is(err, errNotFound) {
		return s.failure("user", err)
	}
	if _, err := tn.db.Exec(ctx, `UPDATE `+tn.schema+`.users SET email_change = $2::text, email_change_sent_at = $3::timestamptz WHERE id = $1::uuid`,
		u.ID, newEmail, s.now()); err != nil {
		return s.failure("user", err)
	}
	if u.Email != "" {
		if resp := s.sendTokenMail(ctx, tn, r, u, flowEmailChangeCurrent, u.Email, redirectTo, newEmail); resp != nil {
			return resp
		}
	}
	if resp := s.sendTokenMail(ctx, tn, r, u, flowEmailChangeNew, newEmail, redirectTo, newEmail); resp != nil {
		return resp
	}
	s.audit(ctx, tn, r, "user_confirmation_requested", u.ID, u.Email, map[string]any{"type": "email_change", "new_email": newEmail})
	return nil
}

// mailAddress checks and lower-cases an address given by a client.
func mailAddress(raw string) (string, *Response) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", apiError(http.StatusBadRequest, "validation_failed", "An email address is required")
	}
	a, err := mail.ParseAddress(raw)
	if err != nil || a.Address != raw || len(raw) > 255 || !strings.Contains(raw[strings.LastIndexByte(raw, '@')+1:], ".") && !strings.HasSuffix(raw, "@localhost") {
		return "", apiError(http.StatusBadRequest, "validation_failed", "Unable to validate email address: invalid format")
	}
	return strings.ToLower(raw), nil
}

// verifyFailure is why a code was refused, for a JSON answer (POST) or a redirect (GET).
type verifyFailure struct {
	status    int
	code, msg string
	retry     time.Duration
}

func (f *verifyFailure) response() *Response {
	if f.status == http.StatusTooManyRequests {
		return tooManyRequests(f.code, f.msg, f.retry)
	}
	return apiError(f.status, f.code, f.msg)
}

// verified is what a consumed code did.
type verified struct {
	user *User
	flow mailFlow
	// partial: one of the two codes of an email change; the other is still due.
	partial bool
	// redirectTo is what the code was mailed with.
	redirectTo string
}

const emailChangeHalfDone = "Confirmation link accepted. Please proceed to confirm link sent to the other email"

var errTokenInvalid = &verifyFailure{status: http.StatusForbidden, code: "otp_expired", msg: "Token has expired or is invalid"}

// verify consumes the code with hash for a /verify of type typ and applies it: it
// confirms the address (sign-up, invite, magic link, recovery), or moves an email
// change on. Every attempt counts against the client's signin_ip limit, so that codes
// cannot be guessed at speed.
func (s *Service) verify(ctx context.Context, tn *tenantCtx, r *Request, hash, typ string) (*verified, *verifyFailure) {
	kinds, ok := verifyKinds[typ]
	if !ok {
		return nil, &verifyFailure{status: http.StatusBadRequest, code: "validation_failed", msg: "Unsupported verification type " + typ}
	}
	if ok, retry := s.allow(tn, "signin_ip", r.ClientIP.String()); !ok {
		return nil, &verifyFailure{status: http.StatusTooManyRequests, code: "over_request_rate_limit", msg: "Request rate limit reached", retry: retry}
	}
	tok, err := s.consumeToken(ctx, tn, hash, kinds)
	if errors.Is(err, errNotFound) {
		s.audit(ctx, tn, r, "login_failed", "", "", map[string]any{"method": "otp", "type": typ, "reason": "unknown code"})
		return nil, errTokenInvalid
	}
	if err != nil {
		return nil, s.verifyInternal("one-time code", err)
	}
	u, err := s.userByID(ctx, tn, tok.userID)
	if errors.Is(err, errNotFound) {
		return nil, errTokenInvalid
	}
	if err != nil {
		return nil, s.verifyInternal("user", err)
	}
	now := s.now()
	if now.After(tok.createdAt.Add(tn.cfg.OTPExpiry.D())) {
		s.audit(ctx, tn, r, "login_failed", u.ID, u.Email, map[string]any{"method": "otp", "type": typ, "reason": "expired code"})
		return nil, errTokenInvalid
	}
	if u.BannedUntil != nil && u.BannedUntil.After(now) {
		return nil, &verifyFailure{status: http.StatusForbidden, code: "user_banned", msg: "User is banned"}
	}
	v := &verified{user: u, flow: flowsByToken[tok.kind], redirectTo: tok.redirectTo}
	switch tok.kind {
	case "email_change_new", "email_change_current":
		return s.verifyEmailChange(ctx, tn, r, v, tok)
	}
	// A code mailed to an address the user no longer has confirms nothing.
	if !strings.EqualFold(tok.relatesTo, u.Email) {
		return nil, errTokenInvalid
	}
	if u.EmailConfirmedAt == nil {
		if _, err := tn.db.Exec(ctx, `UPDATE `+tn.schema+`.users SET email_confirmed_at = coalesce(email_confirmed_at, $2::timestamptz), updated_at = $2::timestamptz WHERE id = $1::uuid`,
			u.ID, now); err != nil {
			return nil, s.verifyInternal("user", err)
		}
		u.EmailConfirmedAt = &now
		s.audit(ctx, tn, r, "user_signedup", u.ID, u.Email, map[string]any{"provider": "email", "type": typ})
	} else {
		s.audit(ctx, tn, r, "login", u.ID, u.Email, map[string]any{"method": "otp", "type": typ})
	}
	return v, nil
}

// verifyEmailChange applies a code of an email change: the first of two leaves the change
// waiting for the other; the last makes the new address the user's. The user's row is
// locked meanwhile, so two codes presented at once still apply the change once.
func (s *Service) verifyEmailChange(ctx context.Context, tn *tenantCtx, r *Request, v *verified, tok *oneTimeToken) (*verified, *verifyFailure) {
	u := v.user
	if u.EmailChange == nil {
		return nil, errTokenInvalid
	}
	want := *u.EmailChange
	if tok.kind == "email_change_current" {
		want = u.Email
	}
	if !strings.EqualFold(tok.relatesTo, want) {
		return nil, errTokenInvalid
	}
	newEmail := *u.EmailChange
	now := s.now()
	err := pgx.BeginFunc(ctx, tn.db, func(tx pgx.Tx) error {
		var pending string
		if err := tx.QueryRow(ctx, `SELECT coalesce(email_change, '') FROM `+tn.schema+`.users WHERE id = $1::uuid FOR UPDATE`, u.ID).Scan(&pending); err != nil {
			return err
		}
		if pending != newEmail {
			return nil // applied by the other code meanwhile
		}
		var waiting bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+tn.schema+`.one_time_tokens
WHERE user_id = $1::uuid AND kind IN ('email_change_new', 'email_change_current') AND created_at > $2::timestamptz - $3::interval)`,
			u.ID, now, tn.cfg.OTPExpiry.D()).Scan(&waiting); err != nil {
			return err
		}
		if waiting {
			v.partial = true
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE `+tn.schema+`.users SET email = $2::text, email_change = NULL, email_change_sent_at = NULL,
  email_confirmed_at = coalesce(email_confirmed_at, $3::timestamptz), updated_at = $3::timestamptz WHERE id = $1::uuid`, u.ID, newEmail, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE `+tn.schema+`.identities SET email = $2::text,
  identity_data = identity_data || jsonb_build_object('email', $2::text, 'email_verified', true), updated_at = $3::timestamptz
WHERE user_id = $1::uuid AND provider = 'email'`, u.ID, newEmail, now)
		return err
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return nil, &verifyFailure{status: http.StatusUnprocessableEntity, code: "email_exists", msg: "A user with this email address has already been registered"}
	}
	if err != nil {
		return nil, s.verifyInternal("email change", err)
	}
	if v.partial {
		s.audit(ctx, tn, r, "user_modified", u.ID, u.Email, map[string]any{"email_change": "one of two addresses confirmed"})
		return v, nil
	}
	s.audit(ctx, tn, r, "user_modified", u.ID, newEmail, map[string]any{"old_email": u.Email, "new_email": newEmail})
	if v.user, err = s.userByID(ctx, tn, u.ID); err != nil {
		return nil, s.verifyInternal("user", err)
	}
	return v, nil
}

func (s *Service) verifyInternal(what string, err error) *verifyFailure {
	s.log.Error("auth: verify: "+what, "err", err)
	return &verifyFailure{status: http.StatusInternalServerError, code: "unexpected_failure", msg: "Internal error: " + what}
}

// serveVerify is GET /verify (the link of a mail: answers with a redirect) and POST
// /verify (a code typed into the app: answers with the session).
func (s *Service) serveVerify(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	if r.Method == http.MethodGet {
		return s.verifyLink(ctx, tn, r)
	}
	var p struct {
		Type      string `json:"type"`
		Email     string `json:"email"`
		Phone     string `json:"phone"`
		Token     string `json:"token"`
		TokenHash string `json:"token_hash"`
	}
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	if p.Phone != "" {
		return apiError(http.StatusBadRequest, "validation_failed", "Kapok Auth sends codes by email only: phone verification is not supported")
	}
	if p.Type == "" {
		return apiError(http.StatusBadRequest, "validation_failed", "Verify requires a verification type")
	}
	hash := strings.TrimSpace(p.TokenHash)
	if hash == "" {
		code := strings.ReplaceAll(strings.TrimSpace(p.Token), "-", "")
		if code == "" {
			return apiError(http.StatusBadRequest, "validation_failed", "Verify requires a token or a token_hash")
		}
		email, resp := mailAddress(p.Email)
		if resp != nil {
			return resp
		}
		// A code is short: it is also counted per account, so that addresses from
		// many clients cannot guess it together.
		if resp := s.overLimit(tn, "signin_account", email); resp != nil {
			return resp
		}
		hash = otpHash(email, code)
	}
	v, fail := s.verify(ctx, tn, r, hash, p.Type)
	if fail != nil {
		return fail.response()
	}
	if v.partial {
		return jsonResponse(http.StatusOK, map[string]any{"msg": emailChangeHalfDone, "code": "200"})
	}
	tokens, err := s.newSession(ctx, tn, r, v.user, "otp")
	if err != nil {
		return s.failure("session", err)
	}
	return jsonResponse(http.StatusOK, tokens)
}

// verifyLink is GET /verify?token=…&type=…&redirect_to=…: it redirects (303) to
// redirect_to, or the site URL, with the session in the fragment (implicit flow), with
// ?code= when the mail was asked for by a PKCE client (its flow state waits), or with the
// error in the fragment.
func (s *Service) verifyLink(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	q := r.Query
	typ := q.Get("type")
	target := s.redirectTo(tn, q.Get("redirect_to"))
	var v *verified
	fail := &verifyFailure{status: http.StatusBadRequest, code: "validation_failed", msg: "Verify requires a token and a type"}
	if q.Get("token") != "" && typ != "" {
		v, fail = s.verify(ctx, tn, r, q.Get("token"), typ)
	}
	if q.Get("redirect_to") == "" && v != nil && v.redirectTo != "" {
		target = s.redirectTo(tn, v.redirectTo)
	}
	if fail != nil {
		if fail == errTokenInvalid {
			fail = &verifyFailure{status: fail.status, code: fail.code, msg: "Email link is invalid or has expired"}
		}
		if target == "" {
			return fail.response()
		}
		return redirectWith(target, nil, errorFragment(fail))
	}
	if v.partial {
		if target == "" {
			return jsonResponse(http.StatusOK, map[string]any{"msg": emailChangeHalfDone, "code": "200"})
		}
		return redirectWith(target, nil, url.Values{"message": {emailChangeHalfDone}})
	}
	if code, err := s.issueFlowCode(ctx, tn, v.user.ID, v.flow.provider); err != nil {
		return s.failure("flow state", err)
	} else if code != "" {
		if target == "" {
			return jsonResponse(http.StatusOK, map[string]any{"code": code})
		}
		return redirectWith(target, url.Values{"code": {code}}, nil)
	}
	tokens, err := s.newSession(ctx, tn, r, v.user, "otp")
	if err != nil {
		return s.failure("session", err)
	}
	if target == "" {
		return jsonResponse(http.StatusOK, tokens)
	}
	frag := url.Values{"type": {typ}}
	for _, k := range []string{"access_token", "expires_at", "expires_in", "refresh_token", "token_type"} {
		frag.Set(k, fmt.Sprint(tokens[k]))
	}
	return redirectWith(target, nil, frag)
}

// issueFlowCode finds the newest unexpired flow state that a PKCE client's request for a
// mail of provider left for the user, and gives it a fresh auth code (returned; ""
// when there is none). The code restarts the flow state's clock: the client has the
// usual time to exchange it, however long the mail waited.
func (s *Service) issueFlowCode(ctx context.Context, tn *tenantCtx, userID, provider string) (string, error) {
	if provider == "" {
		return "", nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	code := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	var id string
	err := tn.db.QueryRow(ctx, `UPDATE `+tn.schema+`.flow_state SET auth_code = $3::text, created_at = $4::timestamptz
WHERE id = (SELECT id FROM `+tn.schema+`.flow_state WHERE user_id = $1::uuid AND provider_type = $2::text
            AND created_at > $4::timestamptz - $5::interval ORDER BY created_at DESC LIMIT 1)
RETURNING id::text`, userID, provider, flowCodeHash(code), now, tn.cfg.OTPExpiry.D()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return code, nil
}

// errorFragment is how GoTrue reports a failed link to the app: error (OAuth's name for
// the class), error_code and error_description.
func errorFragment(f *verifyFailure) url.Values {
	class := "server_error"
	switch f.status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		class = "invalid_request"
	case http.StatusUnauthorized, http.StatusForbidden:
		class = "access_denied"
	case http.StatusTooManyRequests:
		class = "too_many_requests"
	}
	return url.Values{"error": {class}, "error_code": {f.code}, "error_description": {f.msg}}
}

// redirectWith redirects to target with query added to its query and frag as its
// fragment (replacing one it had).
func redirectWith(target string, query, frag url.Values) *Response {
	u, err := url.Parse(target)
	if err != nil {
		return apiError(http.StatusInternalServerError, "unexpected_failure", "The redirect URL does not parse")
	}
	if len(query) > 0 {
		q := u.Query()
		for k, vs := range query {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	to := u.String()
	if frag != nil {
		to += "#" + frag.Encode()
	}
	return redirect(to)
}

// otpRequest is the body of POST /otp and /magiclink.
type otpRequest struct {
	Email               string         `json:"email"`
	Phone               string         `json:"phone"`
	CreateUser          *bool          `json:"create_user"`
	Data                map[string]any `json:"data"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
}

// checkMailRequest checks what a request that mails a code sends (an address, PKCE
// parameters), that the tenant can send mail, and the client's otp_ip limit: the address
// lower-cased, or the answer to give.
func (s *Service) checkMailRequest(tn *tenantCtx, r *Request, address, challenge, method string) (string, *Response) {
	email, resp := mailAddress(address)
	if resp != nil {
		return "", resp
	}
	if _, _, resp := pkceParams(challenge, method); resp != nil {
		return "", resp
	}
	if resp := s.mailConfigured(tn); resp != nil {
		return "", resp
	}
	if r.BaseURL == "" { // before any lookup: the answer must not depend on the address
		return "", noBaseURL()
	}
	if resp := s.overLimit(tn, "otp_ip", r.ClientIP.String()); resp != nil {
		return "", resp
	}
	return email, nil
}

// serveOTP is POST /otp: a sign-in code and link by mail. An address without an account
// gets one (unless create_user is false or sign-ups are off) and a confirmation mail;
// a confirmed one gets a magic link.
func (s *Service) serveOTP(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	var p otpRequest
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	if p.Phone != "" && p.Email == "" {
		return apiError(http.StatusBadRequest, "validation_failed", "Kapok Auth sends codes by email only: phone sign-in is not supported")
	}
	email, resp := s.checkMailRequest(tn, r, p.Email, p.CodeChallenge, p.CodeChallengeMethod)
	if resp != nil {
		return resp
	}
	redirectTo := s.redirectTo(tn, r.Query.Get("redirect_to"))
	u, err := s.userByEmail(ctx, tn, email)
	if errors.Is(err, errNotFound) {
		switch {
		case p.CreateUser != nil && !*p.CreateUser:
			return apiError(http.StatusUnprocessableEntity, "otp_disabled", "Signups not allowed for otp")
		case tn.cfg.DisableSignup:
			return apiError(http.StatusUnprocessableEntity, "signup_disabled", "Signups not allowed for this instance")
		}
		u, err = s.createUser(ctx, tn, newUser{Email: email, UserMetadata: p.Data, Provider: "email"})
		if errors.Is(err, errExists) { // created by a concurrent request
			u, err = s.userByEmail(ctx, tn, email)
		}
	}
	if err != nil {
		return s.failure("user", err)
	}
	if u.EmailConfirmedAt == nil {
		resp = s.sendConfirmation(ctx, tn, r, u, redirectTo)
	} else {
		resp = s.sendMagicLink(ctx, tn, r, u, redirectTo)
	}
	if resp != nil {
		return resp
	}
	return jsonResponse(http.StatusOK, map[string]any{})
}

// serveMagicLink is POST /magiclink, the older name of /otp (always creating the user).
func (s *Service) serveMagicLink(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return s.serveOTP(ctx, tn, r)
}

// serveRecover is POST /recover: a password reset link. Its answer is the same whether
// the address has an account or not, errors of the mail server included, so that it
// tells nobody which addresses do.
func (s *Service) serveRecover(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	var p struct {
		Email               string `json:"email"`
		CodeChallenge       string `json:"code_challenge"`
		CodeChallengeMethod string `json:"code_challenge_method"`
	}
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	email, resp := s.checkMailRequest(tn, r, p.Email, p.CodeChallenge, p.CodeChallengeMethod)
	if resp != nil {
		return resp
	}
	done := jsonResponse(http.StatusOK, map[string]any{})
	u, err := s.userByEmail(ctx, tn, email)
	if errors.Is(err, errNotFound) {
		// The mail that is not sent counts against the tenant's mail limit all the same,
		// so that a 429 does not tell a known address from an unknown one.
		if resp := s.overLimit(tn, "email_tenant", tn.t.Name); resp != nil {
			return resp
		}
		return done
	}
	if err != nil {
		return s.failure("user", err)
	}
	resp = s.sendTokenMail(ctx, tn, r, u, flowRecovery, u.Email, r.Query.Get("redirect_to"), "")
	if resp != nil && resp.Status != http.StatusInternalServerError {
		return resp
	}
	if resp == nil {
		if _, err := tn.db.Exec(ctx, `UPDATE `+tn.schema+`.users SET recovery_sent_at = $2::timestamptz WHERE id = $1::uuid`, u.ID, s.now()); err != nil {
			s.log.Error("auth: recovery_sent_at", "err", err)
		}
	}
	s.audit(ctx, tn, r, "user_recovery_requested", u.ID, u.Email, map[string]any{"sent": resp == nil})
	return done
}

// serveResend is POST /resend {type: signup|email_change, email}: the confirmation or
// email-change mail again. Nothing is sent (and the answer is the same) when there is
// nothing to confirm.
func (s *Service) serveResend(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	var p struct {
		Type  string `json:"type"`
		Email string `json:"email"`
		Phone string `json:"phone"`
	}
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	switch p.Type {
	case "signup", "email_change":
	case "sms", "phone_change":
		return apiError(http.StatusBadRequest, "validation_failed", "Kapok Auth sends codes by email only: phone verification is not supported")
	default:
		return apiError(http.StatusBadRequest, "validation_failed", "Missing one of these types: signup, email_change")
	}
	email, resp := mailAddress(p.Email)
	if resp != nil {
		return resp
	}
	if resp := s.mailConfigured(tn); resp != nil {
		return resp
	}
	if resp := s.overLimit(tn, "otp_ip", r.ClientIP.String()); resp != nil {
		return resp
	}
	done := jsonResponse(http.StatusOK, map[string]any{})
	u, err := s.userByEmail(ctx, tn, email)
	if errors.Is(err, errNotFound) {
		return done
	}
	if err != nil {
		return s.failure("user", err)
	}
	redirectTo := r.Query.Get("redirect_to")
	switch {
	case p.Type == "signup" && u.EmailConfirmedAt == nil:
		resp = s.sendConfirmation(ctx, tn, r, u, redirectTo)
	case p.Type == "email_change" && u.EmailChange != nil:
		resp = s.sendEmailChange(ctx, tn, r, u, *u.EmailChange, redirectTo)
	}
	if resp != nil {
		return resp
	}
	return done
}

// checkReauthentication consumes u's reauthentication code (the nonce of a PUT /user
// that changes the password, where the tenant asks for one): nil when it is live.
// Attempts count against the account's signin_account limit.
func (s *Service) checkReauthentication(ctx context.Context, tn *tenantCtx, u *User, nonce string) *Response {
	if nonce == "" {
		return apiError(http.StatusBadRequest, "reauthentication_needed", "Password update requires reauthentication")
	}
	if resp := s.overLimit(tn, "signin_account", strings.ToLower(u.Email)); resp != nil {
		return resp
	}
	tok, err := s.consumeToken(ctx, tn, otpHash(u.Email, strings.TrimSpace(nonce)), []string{flowReauthentication.token})
	if err != nil && !errors.Is(err, errNotFound) {
		return s.failure("one-time code", err)
	}
	if err != nil || tok.userID != u.ID || s.now().After(tok.createdAt.Add(tn.cfg.OTPExpiry.D())) {
		return apiError(http.StatusBadRequest, "reauthentication_not_valid", "Verification code not found or expired")
	}
	return nil
}

// serveReauthenticate is GET /reauthenticate: a signed-in user gets a code by mail, to
// confirm a sensitive change (a new password) with.
func (s *Service) serveReauthenticate(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	u, _, resp := s.currentUser(ctx, tn, r)
	if resp != nil {
		return resp
	}
	if u.Email == "" {
		return apiError(http.StatusUnprocessableEntity, "validation_failed", "Reauthentication requires the user to have an email address")
	}
	if resp := s.mailConfigured(tn); resp != nil {
		return resp
	}
	if resp := s.overLimit(tn, "otp_ip", r.ClientIP.String()); resp != nil {
		return resp
	}
	if resp := s.sendTokenMail(ctx, tn, r, u, flowReauthentication, u.Email, "", ""); resp != nil {
		return resp
	}
	if _, err := tn.db.Exec(ctx, `UPDATE `+tn.schema+`.users SET reauthentication_sent_at = $2::timestamptz WHERE id = $1::uuid`, u.ID, s.now()); err != nil {
		return s.failure("user", err)
	}
	s.audit(ctx, tn, r, "user_reauthenticate_requested", u.ID, u.Email, nil)
	return jsonResponse(http.StatusOK, map[string]any{})
}
