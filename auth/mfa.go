package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"image/color"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Multi-factor authentication with TOTP factors, as supabase.auth.mfa speaks it:
//
//	POST   /factors                 enroll: a new unverified factor, its secret and QR code
//	POST   /factors/{id}/challenge  a challenge to verify against, valid for five minutes
//	POST   /factors/{id}/verify     a code for the challenge: the factor is verified and the
//	                                session raised to aal2, answered with new tokens
//	DELETE /factors/{id}            unenroll
//
// A factor is only ever visible to its user: another user's factor id answers exactly as
// an unknown one does. The user's factors are listed in the user JSON (users.go), which is
// what auth-js's listFactors and getAuthenticatorAssuranceLevel read.

const (
	// mfaChallengeTTL is how long a challenge can be verified.
	mfaChallengeTTL  = 5 * time.Minute
	factorTOTP       = "totp"
	factorVerified   = "verified"
	factorUnverified = "unverified"
)

// totpOpts is what authenticator apps assume when the otpauth URI names nothing else:
// 30-second steps, six digits, HMAC-SHA1. Skew 1 accepts the step before and after the
// current one, for clocks a little apart and codes typed near a step's end.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// serveFactors answers /factors…; rest is the path after "/factors".
func (s *Service) serveFactors(ctx context.Context, tn *tenantCtx, r *Request, rest string) *Response {
	u, c, resp := s.currentUser(ctx, tn, r)
	if resp != nil {
		return resp
	}
	if rest == "" || rest == "/" {
		if r.Method != http.MethodPost {
			return mfaMethodNotAllowed()
		}
		return s.enrollFactor(ctx, tn, r, u, c)
	}
	id, action, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	var want string
	switch action {
	case "":
		want = http.MethodDelete
	case "challenge", "verify":
		want = http.MethodPost
	default:
		return apiError(http.StatusNotFound, "not_found", "Not found")
	}
	if r.Method != want {
		return mfaMethodNotAllowed()
	}
	if !validUUID(id) {
		return factorNotFound()
	}
	switch action {
	case "challenge":
		return s.challengeFactor(ctx, tn, r, u, id)
	case "verify":
		return s.verifyFactor(ctx, tn, r, u, c, id)
	default:
		return s.unenrollFactor(ctx, tn, r, u, c, id)
	}
}

type enrollParams struct {
	FactorType   string `json:"factor_type"`
	FriendlyName string `json:"friendly_name"`
	Issuer       string `json:"issuer"`
}

type enrolledTOTP struct {
	// QRCode is an SVG document: auth-js prefixes it with "data:image/svg+xml;utf-8,"
	// itself, so it goes out as is.
	QRCode string `json:"qr_code"`
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

type enrolledFactor struct {
	ID           string        `json:"id"`
	Type         string        `json:"type"`
	FriendlyName string        `json:"friendly_name"`
	TOTP         *enrolledTOTP `json:"totp,omitempty"`
}

// enrollFactor creates an unverified TOTP factor. A user who already has a verified factor
// must have proved it in this session (aal2) to add another, or a stolen password alone
// could add the thief's authenticator.
func (s *Service) enrollFactor(ctx context.Context, tn *tenantCtx, r *Request, u *User, c *claims) *Response {
	var p enrollParams
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	switch p.FactorType {
	case factorTOTP:
	case "phone":
		return apiError(http.StatusUnprocessableEntity, "mfa_phone_enroll_not_enabled", "Kapok Auth does not support phone factors; enroll a totp factor")
	case "webauthn":
		return apiError(http.StatusUnprocessableEntity, "mfa_webauthn_enroll_not_enabled", "Kapok Auth does not support WebAuthn factors; enroll a totp factor")
	default:
		return apiError(http.StatusBadRequest, "validation_failed", "factor_type needs to be totp")
	}
	if tn.cfg.MFA.Disabled {
		return apiError(http.StatusUnprocessableEntity, "mfa_totp_enroll_not_enabled", "MFA enroll is disabled for TOTP")
	}
	issuer := p.Issuer
	if issuer == "" {
		issuer = tn.cfg.MFA.Issuer
	}
	if issuer == "" {
		issuer = tn.t.Name
	}
	account := u.Email
	if account == "" {
		account = u.ID
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account,
		Period: totpOpts.Period, Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm})
	if err != nil {
		return s.mfaFailure(ctx, tn, "generating the TOTP secret", err)
	}
	svg, err := qrCodeSVG(key.URL())
	if err != nil {
		return s.mfaFailure(ctx, tn, "drawing the QR code", err)
	}
	maxFactors := tn.cfg.MFA.MaxFactors
	if maxFactors <= 0 {
		maxFactors = defaultMaxFactors
	}
	now := s.now()
	var factorID string
	resp, err := mfaTx(ctx, tn, func(tx pgx.Tx) (*Response, error) {
		// Locking the user serializes its enrolments, so that two at once cannot both pass
		// the count below.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM `+tn.schema+`.users WHERE id = $1::uuid FOR UPDATE`, u.ID); err != nil {
			return nil, err
		}
		aal, resp, err := sessionAAL(ctx, tx, tn, u, c)
		if resp != nil || err != nil {
			return resp, err
		}
		rows, err := tx.Query(ctx, `SELECT coalesce(friendly_name, ''), status FROM `+tn.schema+`.mfa_factors WHERE user_id = $1::uuid`, u.ID)
		if err != nil {
			return nil, err
		}
		var total, verified, replaced int
		conflict := false
		for rows.Next() {
			var name, status string
			if err := rows.Scan(&name, &status); err != nil {
				return nil, err
			}
			total++
			if status == factorVerified {
				verified++
			}
			if name == p.FriendlyName {
				if status == factorVerified {
					conflict = true
				} else {
					replaced++
				}
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		switch {
		case verified > 0 && aal != "aal2":
			return apiError(http.StatusForbidden, "insufficient_aal", "AAL2 required to enroll a new factor"), nil
		case conflict:
			return apiError(http.StatusUnprocessableEntity, "mfa_factor_name_conflict",
				fmt.Sprintf("A factor with the friendly name %q for this user already exists", p.FriendlyName)), nil
		case total-replaced >= maxFactors:
			return apiError(http.StatusUnprocessableEntity, "too_many_enrolled_mfa_factors",
				"Maximum number of enrolled factors reached, unenroll to continue"), nil
		}
		// An unverified factor of the same name is an enrolment the user gave up on (the
		// QR code never scanned, the page reloaded): the new one takes its place.
		// (Two statements: within one, the unique name would still see the deleted row.)
		if replaced > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM `+tn.schema+`.mfa_factors
				WHERE user_id = $1::uuid AND friendly_name = $2::text AND status = 'unverified'`, u.ID, p.FriendlyName); err != nil {
				return nil, err
			}
		}
		err = tx.QueryRow(ctx, `INSERT INTO `+tn.schema+`.mfa_factors (user_id, friendly_name, factor_type, secret, created_at, updated_at)
			VALUES ($1::uuid, $2::text, 'totp', $3::text, $4::timestamptz, $4::timestamptz)
			RETURNING id::text`, u.ID, p.FriendlyName, key.Secret(), now).Scan(&factorID)
		return nil, err
	})
	if resp != nil {
		return resp
	}
	if err != nil {
		return s.mfaFailure(ctx, tn, "enrolling the factor", err)
	}
	s.audit(ctx, tn, r, "factor_enrolled", u.ID, u.Email, map[string]any{"factor_id": factorID, "factor_type": factorTOTP})
	return jsonResponse(http.StatusOK, enrolledFactor{ID: factorID, Type: factorTOTP, FriendlyName: p.FriendlyName,
		TOTP: &enrolledTOTP{QRCode: svg, Secret: key.Secret(), URI: key.URL()}})
}

type challengeResponse struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	ExpiresAt int64  `json:"expires_at"`
}

// challengeFactor opens a challenge on one of the user's factors. It also clears the
// factor's used and expired challenges, so they never pile up.
func (s *Service) challengeFactor(ctx context.Context, tn *tenantCtx, r *Request, u *User, factorID string) *Response {
	if len(r.Body) > 0 {
		// auth-js sends its parameters (factorId, channel); only their syntax matters.
		var p struct {
			Channel string `json:"channel"`
		}
		if resp := decodeBody(r, &p); resp != nil {
			return resp
		}
	}
	now := s.now()
	var id, factorType string
	err := tn.db.QueryRow(ctx, `WITH f AS (
		UPDATE `+tn.schema+`.mfa_factors SET last_challenged_at = $3::timestamptz
		 WHERE id = $1::uuid AND user_id = $2::uuid RETURNING id, factor_type),
		old AS (DELETE FROM `+tn.schema+`.mfa_challenges c USING f
		 WHERE c.factor_id = f.id AND (c.verified_at IS NOT NULL OR c.created_at <= $4::timestamptz))
		INSERT INTO `+tn.schema+`.mfa_challenges (factor_id, ip, created_at)
		SELECT id, $5::inet, $3::timestamptz FROM f
		RETURNING id::text, (SELECT factor_type FROM f)`,
		factorID, u.ID, now, now.Add(-mfaChallengeTTL), clientInet(r)).Scan(&id, &factorType)
	if errors.Is(err, pgx.ErrNoRows) {
		return factorNotFound()
	}
	if err != nil {
		return s.mfaFailure(ctx, tn, "creating the challenge", err)
	}
	return jsonResponse(http.StatusOK, challengeResponse{ID: id, Type: factorType, ExpiresAt: now.Add(mfaChallengeTTL).Unix()})
}

type verifyParams struct {
	ChallengeID string `json:"challenge_id"`
	Code        string `json:"code"`
}

// verifyFactor checks a code against a challenge. On success the factor is verified (if it
// was not yet), the session is raised to aal2 and the answer is a token response for it,
// which auth-js stores as the new session.
func (s *Service) verifyFactor(ctx context.Context, tn *tenantCtx, r *Request, u *User, c *claims, factorID string) *Response {
	var p verifyParams
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	if p.Code == "" {
		return apiError(http.StatusBadRequest, "validation_failed", "Code needs to be non-empty")
	}
	if !validUUID(p.ChallengeID) {
		return apiError(http.StatusBadRequest, "validation_failed", "challenge_id needs to be a UUID")
	}
	now := s.now()
	failed := "" // why a code was refused, for the audit log
	resp, err := mfaTx(ctx, tn, func(tx pgx.Tx) (*Response, error) {
		// Locking the factor serializes its verifications: a code cannot be accepted twice
		// by two requests racing past the used-code check.
		var secret string
		var challenged bool
		var createdAt, verifiedAt *time.Time
		var ip *string
		err := tx.QueryRow(ctx, `SELECT f.secret, c.id IS NOT NULL, c.created_at, c.verified_at, host(c.ip)
			FROM `+tn.schema+`.mfa_factors f
			LEFT JOIN `+tn.schema+`.mfa_challenges c ON c.factor_id = f.id AND c.id = $3::uuid
			WHERE f.id = $1::uuid AND f.user_id = $2::uuid
			FOR UPDATE OF f`, factorID, u.ID, p.ChallengeID).Scan(&secret, &challenged, &createdAt, &verifiedAt, &ip)
		if errors.Is(err, pgx.ErrNoRows) {
			return factorNotFound(), nil
		}
		if err != nil {
			return nil, err
		}
		switch {
		case !challenged:
			return apiError(http.StatusUnprocessableEntity, "mfa_factor_not_found", "MFA factor with the provided challenge ID not found"), nil
		case verifiedAt != nil:
			return apiError(http.StatusUnprocessableEntity, "mfa_challenge_expired",
				"MFA challenge "+p.ChallengeID+" has already been used, create a new challenge"), nil
		case !now.Before(createdAt.Add(mfaChallengeTTL)):
			return apiError(http.StatusUnprocessableEntity, "mfa_challenge_expired",
				"MFA challenge "+p.ChallengeID+" has expired, verify against another challenge or create a new challenge"), nil
		case ip != nil && r.ClientIP.IsValid() && *ip != r.ClientIP.Unmap().String():
			return apiError(http.StatusUnprocessableEntity, "mfa_ip_address_mismatch", "Challenge and verify IP addresses mismatch"), nil
		}
		// Every attempt counts, not only the failed ones: a limit that only refused wrong
		// codes would still let the right guess of a brute force through.
		if ok, wait := s.allow(tn, "signin_account", u.ID); !ok {
			resp := apiError(http.StatusTooManyRequests, "over_request_rate_limit", "Too many MFA verification attempts, try again later")
			resp.Header.Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			return resp, nil
		}
		step, ok := totpStep(secret, p.Code, now)
		if !ok {
			failed = "invalid code"
			return apiError(http.StatusUnprocessableEntity, "mfa_verification_failed", "Invalid TOTP code entered"), nil
		}
		// A code is accepted once: its time step is recorded for the factor. Steps older
		// than the skew can never match again, so they are dropped here.
		tag, err := tx.Exec(ctx, `WITH old AS (
			DELETE FROM `+tn.schema+`.mfa_used_codes WHERE factor_id = $1::uuid AND step < $3::bigint)
			INSERT INTO `+tn.schema+`.mfa_used_codes (factor_id, step) VALUES ($1::uuid, $2::bigint)
			ON CONFLICT DO NOTHING`, factorID, step, now.Unix()/int64(totpOpts.Period)-int64(totpOpts.Skew))
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 0 {
			failed = "code already used"
			return apiError(http.StatusUnprocessableEntity, "mfa_verification_failed", "Invalid TOTP code entered: it was already used"), nil
		}
		// The first verification of a factor also drops the user's other unverified TOTP
		// factors: enrolments abandoned on the way to this one.
		_, err = tx.Exec(ctx, `WITH ch AS (
			UPDATE `+tn.schema+`.mfa_challenges SET verified_at = $3::timestamptz WHERE id = $4::uuid),
			verified AS (UPDATE `+tn.schema+`.mfa_factors SET status = 'verified', updated_at = $3::timestamptz
			 WHERE id = $1::uuid AND status = 'unverified' RETURNING id)
			DELETE FROM `+tn.schema+`.mfa_factors
			 WHERE user_id = $2::uuid AND status = 'unverified' AND factor_type = 'totp' AND id <> $1::uuid
			   AND EXISTS (SELECT FROM verified)`, factorID, u.ID, now, p.ChallengeID)
		return nil, err
	})
	if failed != "" {
		s.audit(ctx, tn, r, "login_failed", u.ID, u.Email, map[string]any{"factor_id": factorID, "challenge_id": p.ChallengeID, "reason": failed})
	}
	if resp != nil {
		return resp
	}
	if err != nil {
		return s.mfaFailure(ctx, tn, "verifying the code", err)
	}
	if err := s.upgradeSession(ctx, tn, c.SessionID, factorID, factorTOTP); err != nil {
		return s.mfaFailure(ctx, tn, "raising the session to aal2", err)
	}
	// As GoTrue does, the user's sessions that never passed a second factor end: with a
	// verified factor, signing in means passing it.
	if _, err := tn.db.Exec(ctx, `DELETE FROM `+tn.schema+`.sessions WHERE user_id = $1::uuid AND aal <> 'aal2' AND id <> $2::uuid`,
		u.ID, c.SessionID); err != nil {
		return s.mfaFailure(ctx, tn, "ending the sessions below aal2", err)
	}
	tokens, err := s.tokenResponse(ctx, tn, u, c.SessionID)
	if err != nil {
		return s.mfaFailure(ctx, tn, "issuing the tokens", err)
	}
	s.audit(ctx, tn, r, "factor_verified", u.ID, u.Email, map[string]any{"factor_id": factorID, "challenge_id": p.ChallengeID, "factor_type": factorTOTP})
	return jsonResponse(http.StatusOK, tokens)
}

// unenrollFactor deletes one of the user's factors. A verified one may only go from an
// aal2 session, and the sessions it raised fall back to aal1.
func (s *Service) unenrollFactor(ctx context.Context, tn *tenantCtx, r *Request, u *User, c *claims, factorID string) *Response {
	now := s.now()
	var status string
	resp, err := mfaTx(ctx, tn, func(tx pgx.Tx) (*Response, error) {
		err := tx.QueryRow(ctx, `SELECT status FROM `+tn.schema+`.mfa_factors WHERE id = $1::uuid AND user_id = $2::uuid FOR UPDATE`,
			factorID, u.ID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return factorNotFound(), nil
		}
		if err != nil {
			return nil, err
		}
		if status == factorVerified {
			aal, resp, err := sessionAAL(ctx, tx, tn, u, c)
			if resp != nil || err != nil {
				return resp, err
			}
			if aal != "aal2" {
				return apiError(http.StatusForbidden, "insufficient_aal", "AAL2 required to unenroll verified factor"), nil
			}
		}
		_, err = tx.Exec(ctx, `WITH gone AS (DELETE FROM `+tn.schema+`.mfa_factors WHERE id = $1::uuid)
			UPDATE `+tn.schema+`.sessions
			   SET aal = 'aal1', factor_id = NULL, updated_at = $3::timestamptz,
			       amr = coalesce((SELECT jsonb_agg(e) FROM jsonb_array_elements(amr) e WHERE e->>'method' <> 'totp'), '[]')
			 WHERE user_id = $2::uuid AND factor_id = $1::uuid`, factorID, u.ID, now)
		return nil, err
	})
	if resp != nil {
		return resp
	}
	if err != nil {
		return s.mfaFailure(ctx, tn, "unenrolling the factor", err)
	}
	s.audit(ctx, tn, r, "factor_unenrolled", u.ID, u.Email, map[string]any{"factor_id": factorID, "factor_status": status, "session_id": c.SessionID})
	return jsonResponse(http.StatusOK, map[string]string{"id": factorID})
}

// sessionAAL reads the caller's session's assurance level from the store rather than from
// the token, which may predate an unenrolment that lowered it.
func sessionAAL(ctx context.Context, tx pgx.Tx, tn *tenantCtx, u *User, c *claims) (string, *Response, error) {
	var aal string
	err := tx.QueryRow(ctx, `SELECT aal FROM `+tn.schema+`.sessions WHERE id = $1::uuid AND user_id = $2::uuid`, c.SessionID, u.ID).Scan(&aal)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", apiError(http.StatusForbidden, "session_not_found", "Session from session_id claim in JWT does not exist"), nil
	}
	return aal, nil, err
}

// mfaTx runs f in a transaction, committed unless f fails or answers the request itself
// (a refusal), which rolls back what f did.
func mfaTx(ctx context.Context, tn *tenantCtx, f func(pgx.Tx) (*Response, error)) (*Response, error) {
	tx, err := tn.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	resp, err := f(tx)
	if resp != nil || err != nil {
		return resp, err
	}
	return nil, tx.Commit(ctx)
}

// totpStep returns the time step, within the skew around now, that code is the TOTP code
// of, trying the current step first.
func totpStep(secret, code string, now time.Time) (int64, bool) {
	if len(code) != totpOpts.Digits.Length() {
		return 0, false
	}
	period := int64(totpOpts.Period)
	current := now.Unix() / period
	for _, d := range []int64{0, -1, 1} {
		step := current + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*period, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// qrCodeSVG draws the QR code of text as an SVG document: a white square with a four-module
// quiet zone, one black rectangle per run of dark modules in a row. The document has no
// '#' or '%', so that prefixing it with "data:image/svg+xml;utf-8," (as auth-js does)
// gives a data URI that needs no escaping.
func qrCodeSVG(text string) (string, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", err
	}
	const quiet, pixels = 4, 4
	b := code.Bounds()
	size := b.Dx() + 2*quiet
	dark := func(x, y int) bool { return code.At(b.Min.X+x, b.Min.Y+y) == color.Black }
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" shape-rendering="crispEdges">`,
		size*pixels, size*pixels, size, size)
	fmt.Fprintf(&sb, `<rect width="%d" height="%d" fill="white"/><path fill="black" d="`, size, size)
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); {
			if !dark(x, y) {
				x++
				continue
			}
			start := x
			for x < b.Dx() && dark(x, y) {
				x++
			}
			fmt.Fprintf(&sb, "M%d %dh%dv1h-%dz", start+quiet, y+quiet, x-start, x-start)
		}
	}
	sb.WriteString(`"/></svg>`)
	return sb.String(), nil
}

// clientInet is the request's client address for an inet parameter, nil when unknown.
func clientInet(r *Request) any {
	if !r.ClientIP.IsValid() {
		return nil
	}
	return r.ClientIP.Unmap().String()
}

func factorNotFound() *Response {
	return apiError(http.StatusNotFound, "mfa_factor_not_found", "Factor not found")
}

func mfaMethodNotAllowed() *Response {
	return apiError(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
}

// mfaFailure answers a failure of the store (or of a library that cannot fail on good
// input), never a client's mistake; the error itself goes to the log, not to the client.
func (s *Service) mfaFailure(ctx context.Context, tn *tenantCtx, what string, err error) *Response {
	s.log.ErrorContext(ctx, "kapok auth: "+what, "tenant", tn.t.Name, "err", err)
	return apiError(http.StatusInternalServerError, "unexpected_failure", "Kapok Auth failed "+what)
}
