package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
)

// amrEntry is one authentication method of a session, as the amr claim lists them.
type amrEntry struct {
	Method    string `json:"method"`
	Timestamp int64  `json:"timestamp"`
}

// claims are the parts of a verified access token Kapok Auth reads.
type claims struct {
	Sub, SessionID, AAL, Email, Role string
	AMR                              []amrEntry
	Exp                              int64
	raw                              map[string]any
}

// session is one row of sessions.
type session struct {
	ID, UserID, AAL string
	FactorID        *string
	AMR             []amrEntry
	NotAfter        *time.Time
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on the platforms Go supports.
		panic(fmt.Sprintf("auth: crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is how the store keeps a secret handed to a client: SHA-256, hex.
func tokenHash(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// newRandomUUID returns a random (version 4) UUID.
func newRandomUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("auth: crypto/rand: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// refreshKey keys the derivation of refresh tokens: a tenant's secrets, which no client
// knows.
func refreshKey(tn *tenantCtx) []byte {
	h := sha256.New()
	h.Write([]byte("kapok auth refresh token\x00"))
	h.Write([]byte(tn.auth.JWTSecret))
	h.Write([]byte{0})
	h.Write([]byte(tn.cfg.SigningKey))
	return h.Sum(nil)
}

// childToken is the refresh token that replaces t. It is derived from t rather than
// drawn at random because the store keeps only hashes: a client that presents t again
// within the reuse interval (two tabs refreshing at once) must get the same token as the
// first, and this is how Kapok finds it again. Only the tenant's secrets make the
// derivation, so holding t does not tell its child.
func childToken(key []byte, t string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(t))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// maxReuseChain is how many rotations after a token's a concurrent refresh may still
// follow to find the session's current token.
const maxReuseChain = 8

// sortedAMR is the amr claim: the most recent method first, as GoTrue lists them.
func sortedAMR(amr []amrEntry) []amrEntry {
	out := append([]amrEntry{}, amr...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp > out[j].Timestamp })
	return out
}

// accessToken signs u's access token for sess.
func (s *Service) accessToken(tn *tenantCtx, u *User, sess *session, now time.Time) (string, int64, error) {
	exp := now.Add(tn.cfg.JWTExpiry.D()).Unix()
	aal := sess.AAL
	if aal == "" {
		aal = "aal1"
	}
	amr := sortedAMR(sess.AMR)
	tok, err := s.signToken(tn, map[string]any{
		"iss":           control.Issuer,
		"ref":           tn.t.Name,
		"aud":           "authenticated",
		"sub":           u.ID,
		"exp":           exp,
		"iat":           now.Unix(),
		"email":         u.Email,
		"phone":         "",
		"app_metadata":  nonNilMap(u.AppMetadata),
		"user_metadata": nonNilMap(u.UserMetadata),
		"role":          "authenticated",
		"aal":           aal,
		"amr":           amr,
		"session_id":    sess.ID,
		"is_anonymous":  u.IsAnonymous,
	})
	return tok, exp, err
}

// tokenBody is the token response: {access_token, token_type, expires_in, expires_at,
// refresh_token, user}.
func (s *Service) tokenBody(ctx context.Context, tn *tenantCtx, u *User, sess *session, refresh string) (map[string]any, error) {
	access, exp, err := s.accessToken(tn, u, sess, s.now())
	if err != nil {
		return nil, err
	}
	uj, err := s.userJSON(ctx, tn, u)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"access_token":  access,
		"token_type":    "bearer",
		"expires_in":    int64(tn.cfg.JWTExpiry.D() / time.Second),
		"expires_at":    exp,
		"refresh_token": refresh,
		"user":          uj,
	}, nil
}

// ipParam is the client's address for an inet parameter ("" = unknown; cast with
// nullif($n::text, ”)::inet).
func ipParam(r *Request) string {
	if r == nil || !r.ClientIP.IsValid() {
		return ""
	}
	return r.ClientIP.Unmap().String()
}

func userAgent(r *Request) *string {
	if r == nil || r.Header == nil {
		return nil
	}
	ua := r.Header.Get("User-Agent")
	if len(ua) > 512 {
		ua = ua[:512]
	}
	if ua = storableText(ua); ua == "" {
		return nil
	}
	return &ua
}

// issueSession signs u in (newSession) and answers the 200 token response.
func (s *Service) issueSession(ctx context.Context, tn *tenantCtx, r *Request, u *User, method string) (*Response, error) {
	body, err := s.newSession(ctx, tn, r, u, method)
	if err != nil {
		return nil, err
	}
	return jsonResponse(http.StatusOK, body), nil
}

// newSession signs u in: a new session (aal1, amr [{method, now}]) with its first
// refresh token, and u's last_sign_in_at, in one statement; it returns the token
// response's fields (a redirect carries them in its fragment).
func (s *Service) newSession(ctx context.Context, tn *tenantCtx, r *Request, u *User, method string) (map[string]any, error) {
	now := s.now()
	refresh := randomToken(24)
	amr := []amrEntry{{Method: method, Timestamp: now.Unix()}}
	var notAfter *time.Time
	if d := tn.cfg.SessionTimebox.D(); d > 0 {
		t := now.Add(d)
		notAfter = &t
	}
	sess := &session{UserID: u.ID, AAL: "aal1", AMR: amr, NotAfter: notAfter}
	err := tn.db.QueryRow(ctx, tn.sql(`WITH s AS (
  INSERT INTO @S@.sessions (user_id, aal, amr, not_after, user_agent, ip, created_at, updated_at)
  VALUES ($1::uuid, 'aal1', $2::jsonb, $3::timestamptz, $4::text, nullif($5::text, '')::inet,
    $6::timestamptz, $6::timestamptz)
  RETURNING id
), t AS (
  INSERT INTO @S@.refresh_tokens (token_hash, user_id, session_id, created_at, updated_at)
  SELECT $7::text, $1::uuid, s.id, $6::timestamptz, $6::timestamptz FROM s
), u AS (
  UPDATE @S@.users SET last_sign_in_at = $6::timestamptz WHERE id = $1::uuid
)
SELECT id::text FROM s`), u.ID, amr, notAfter, userAgent(r), ipParam(r), now, tokenHash(refresh)).Scan(&sess.ID)
	if err != nil {
		return nil, fmt.Errorf("auth: create session: %w", err)
	}
	u.LastSignInAt = &now
	body, err := s.tokenBody(ctx, tn, u, sess, refresh)
	if err != nil {
		return nil, err
	}
	s.met.signIn(method, true)
	return body, nil
}

// tokenResponse signs a new access token for an existing session of u (after a factor
// raised its assurance level) and hands out a new refresh token in it, which replaces
// the session's current one: errNotFound when the session is gone.
func (s *Service) tokenResponse(ctx context.Context, tn *tenantCtx, u *User, sessionID string) (map[string]any, error) {
	if !validUUID(sessionID) {
		return nil, errNotFound
	}
	now := s.now()
	refresh := randomToken(24)
	sess := &session{ID: sessionID, UserID: u.ID}
	err := tn.db.QueryRow(ctx, tn.sql(`WITH s AS (
  SELECT id, aal, amr, factor_id, not_after FROM @S@.sessions
  WHERE id = $1::uuid AND user_id = $2::uuid FOR UPDATE
), old AS (
  UPDATE @S@.refresh_tokens rt SET revoked = true, updated_at = $3::timestamptz
  FROM s WHERE rt.session_id = s.id AND NOT rt.revoked
  RETURNING rt.id, rt.token_hash
), ins AS (
  INSERT INTO @S@.refresh_tokens (token_hash, user_id, session_id, parent, created_at, updated_at)
  SELECT $4::text, $2::uuid, s.id, (SELECT token_hash FROM old ORDER BY id DESC LIMIT 1),
    $3::timestamptz, $3::timestamptz FROM s
), upd AS (
  UPDATE @S@.sessions SET refreshed_at = $3::timestamptz, updated_at = $3::timestamptz
  WHERE id IN (SELECT id FROM s)
)
SELECT aal, amr, factor_id::text, not_after FROM s`), sessionID, u.ID, now, tokenHash(refresh)).
		Scan(&sess.AAL, &sess.AMR, &sess.FactorID, &sess.NotAfter)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("auth: renew session: %w", err)
	}
	return s.tokenBody(ctx, tn, u, sess, refresh)
}

// upgradeSession records that factorID was verified in the session with method
// ("totp"): the session becomes aal2 and its amr lists the method first, newest first
// as GoTrue's do.
func (s *Service) upgradeSession(ctx context.Context, tn *tenantCtx, sessionID, factorID, method string) error {
	if !validUUID(sessionID) || !validUUID(factorID) {
		return errNotFound
	}
	now := s.now()
	tag, err := tn.db.Exec(ctx, tn.sql(`UPDATE @S@.sessions SET aal = 'aal2', factor_id = $2::uuid,
  amr = jsonb_build_array(jsonb_build_object('method', $3::text, 'timestamp', $4::bigint)) || amr,
  updated_at = $5::timestamptz
WHERE id = $1::uuid`), sessionID, factorID, method, now.Unix(), now)
	if err != nil {
		return fmt.Errorf("auth: upgrade session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errNotFound
	}
	return nil
}

// parseClaims reads the proxy-verified payload of an access token.
func parseClaims(payload []byte) (*claims, error) {
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, err
	}
	c := &claims{raw: raw}
	str := func(k string) string {
		v, _ := raw[k].(string)
		return v
	}
	c.Sub, c.SessionID, c.AAL, c.Email, c.Role = str("sub"), str("session_id"), str("aal"), str("email"), str("role")
	if exp, ok := raw["exp"].(float64); ok {
		c.Exp = int64(exp)
	}
	// Tokens of other issuers may carry amr as a list of strings (RFC 8176); only
	// Kapok's objects are read, the rest are left out.
	if list, ok := raw["amr"].([]any); ok {
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				method, _ := m["method"].(string)
				ts, _ := m["timestamp"].(float64)
				c.AMR = append(c.AMR, amrEntry{Method: method, Timestamp: int64(ts)})
			}
		}
	}
	return c, nil
}

// currentUser is the user whose access token made r, with the token's claims. The token
// must name a user that exists and is not banned and, when it names a session, a session
// of that user that was not signed out or timed out: else 401 (no token), 403
// user_not_found, session_not_found or user_banned.
func (s *Service) currentUser(ctx context.Context, tn *tenantCtx, r *Request) (*User, *claims, *Response) {
	if len(r.Caller.Claims) == 0 {
		if r.Caller.Err != "" {
			return nil, nil, apiError(http.StatusUnauthorized, "bad_jwt", r.Caller.Err)
		}
		return nil, nil, apiError(http.StatusUnauthorized, "no_authorization", "This endpoint requires a valid Bearer token")
	}
	c, err := parseClaims(r.Caller.Claims)
	if err != nil {
		return nil, nil, apiError(http.StatusUnauthorized, "bad_jwt", "invalid JWT: unable to parse claims")
	}
	if c.Sub == "" {
		return nil, nil, apiError(http.StatusForbidden, "bad_jwt", "invalid claim: missing sub claim")
	}
	if !validUUID(c.Sub) {
		return nil, nil, apiError(http.StatusForbidden, "bad_jwt", "invalid claim: sub claim must be a UUID")
	}
	if c.Exp != 0 && time.Unix(c.Exp, 0).Before(s.now()) {
		return nil, nil, apiError(http.StatusForbidden, "bad_jwt", "invalid JWT: token is expired")
	}
	var sessionID *string
	if c.SessionID != "" {
		if !validUUID(c.SessionID) {
			return nil, nil, apiError(http.StatusForbidden, "session_not_found", "Session from session_id claim in JWT does not exist")
		}
		sessionID = &c.SessionID
	}
	u := &User{}
	var hasSession bool
	var notAfter *time.Time
	err = tn.db.QueryRow(ctx, tn.sql(`SELECT `+userColumns+`, s.id IS NOT NULL, s.not_after
FROM @S@.users u LEFT JOIN @S@.sessions s ON s.id = $2::uuid AND s.user_id = u.id
WHERE u.id = $1::uuid`), c.Sub, sessionID).Scan(userScanTargets(u, &hasSession, &notAfter)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, apiError(http.StatusForbidden, "user_not_found", "User from sub claim in JWT does not exist")
	}
	if err != nil {
		return nil, nil, s.internalError(tn, "load the user", err)
	}
	u.fixMetadata()
	now := s.now()
	if sessionID != nil && (!hasSession || notAfter != nil && !notAfter.After(now)) {
		return nil, nil, apiError(http.StatusForbidden, "session_not_found", "Session from session_id claim in JWT does not exist")
	}
	if u.banned(now) {
		return nil, nil, apiError(http.StatusForbidden, "user_banned", "User is banned")
	}
	return u, c, nil
}

// newFlowState records a PKCE flow (the client's challenge and how to check it) for the
// code handed back to the client: the code exchanges for a session once, within
// flowStateLifetime. userID may be "" until the flow knows its user (OAuth).
func (s *Service) newFlowState(ctx context.Context, tn *tenantCtx, userID, challenge, method, providerType, authMethod string) (authCode string, err error) {
	m, ok := challengeMethod(method)
	if !ok || challenge == "" {
		return "", fmt.Errorf("auth: bad code challenge method %q", method)
	}
	if userID != "" && !validUUID(userID) {
		return "", errNotFound
	}
	authCode = newRandomUUID()
	_, err = tn.db.Exec(ctx, tn.sql(`INSERT INTO @S@.flow_state (user_id, auth_code, code_challenge,
  code_challenge_method, provider_type, authentication_method, created_at)
VALUES (nullif($1::text, '')::uuid, $2::text, $3::text, $4::text, $5::text, $6::text, $7::timestamptz)`),
		userID, tokenHash(authCode), challenge, m, providerType, authMethod, s.now())
	if err != nil {
		return "", fmt.Errorf("auth: create flow state: %w", err)
	}
	return authCode, nil
}

// flowStateLifetime is how long a PKCE code may wait for its exchange.
const flowStateLifetime = 10 * time.Minute

// challengeMethod normalizes a code_challenge_method: s256 (the default) or plain.
func challengeMethod(m string) (string, bool) {
	switch m {
	case "", "s256", "S256":
		return "s256", true
	case "plain", "PLAIN":
		return "plain", true
	}
	return "", false
}

// verifierMatches checks a PKCE code_verifier against the stored challenge.
func verifierMatches(verifier, challenge, method string) bool {
	want := verifier
	if method == "s256" {
		h := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(h[:])
	}
	return hmac.Equal([]byte(want), []byte(challenge))
}

// refresh rotates a refresh token, GoTrue's way: the token presented is revoked and its
// child handed out with a new access token. A revoked token presented again within the
// reuse interval answers the session's current token (a client refreshing twice at once);
// later, it is taken for a stolen token replayed, and the session ends.
func (s *Service) refresh(ctx context.Context, tn *tenantCtx, r *Request, token string) *Response {
	now := s.now()
	hash := tokenHash(token)
	tx, err := tn.db.Begin(ctx)
	if err != nil {
		return s.internalError(tn, "refresh the session", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var (
		tokID     int64
		revoked   bool
		revokedAt time.Time
		bannedTil *time.Time
		sess      session
	)
	err = tx.QueryRow(ctx, tn.sql(`SELECT rt.id, rt.revoked, rt.updated_at, s.id::text, s.user_id::text,
  s.aal, s.amr, s.factor_id::text, s.not_after, u.banned_until
FROM @S@.refresh_tokens rt
JOIN @S@.sessions s ON s.id = rt.session_id
JOIN @S@.users u ON u.id = rt.user_id
WHERE rt.token_hash = $1::text
FOR UPDATE OF rt`), hash).Scan(&tokID, &revoked, &revokedAt, &sess.ID, &sess.UserID,
		&sess.AAL, &sess.AMR, &sess.FactorID, &sess.NotAfter, &bannedTil)
	if errors.Is(err, pgx.ErrNoRows) {
		return apiError(http.StatusBadRequest, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
	}
	if err != nil {
		return s.internalError(tn, "refresh the session", err)
	}
	if bannedTil != nil && bannedTil.After(now) {
		return apiError(http.StatusBadRequest, "user_banned", "Invalid Refresh Token: User Banned")
	}
	if sess.NotAfter != nil && !sess.NotAfter.After(now) {
		return apiError(http.StatusBadRequest, "session_expired", "Invalid Refresh Token: Session Expired")
	}
	key := refreshKey(tn)
	var issued string
	switch {
	case !revoked:
		issued = childToken(key, token)
		b := &pgx.Batch{}
		b.Queue(tn.sql(`UPDATE @S@.refresh_tokens SET revoked = true, updated_at = $2::timestamptz WHERE id = $1::bigint`), tokID, now)
		b.Queue(tn.sql(`INSERT INTO @S@.refresh_tokens (token_hash, user_id, session_id, parent, created_at, updated_at)
VALUES ($1::text, $2::uuid, $3::uuid, $4::text, $5::timestamptz, $5::timestamptz)`),
			tokenHash(issued), sess.UserID, sess.ID, hash, now)
		b.Queue(tn.sql(`UPDATE @S@.sessions SET refreshed_at = $2::timestamptz, updated_at = $2::timestamptz,
  user_agent = coalesce($3::text, user_agent), ip = coalesce(nullif($4::text, '')::inet, ip)
WHERE id = $1::uuid`), sess.ID, now, userAgent(r), ipParam(r))
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return s.internalError(tn, "refresh the session", err)
		}
	case now.Before(revokedAt.Add(tn.cfg.RefreshReuseInterval.D())):
		// A concurrent refresh: the session's current token is somewhere down this
		// token's chain of children.
		want := map[string]string{}
		c := token
		for range maxReuseChain {
			c = childToken(key, c)
			want[tokenHash(c)] = c
		}
		rows, err := tx.Query(ctx, tn.sql(`SELECT token_hash FROM @S@.refresh_tokens
WHERE session_id = $1::uuid AND NOT revoked`), sess.ID)
		if err != nil {
			return s.internalError(tn, "refresh the session", err)
		}
		current, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return s.internalError(tn, "refresh the session", err)
		}
		for _, h := range current {
			if t, ok := want[h]; ok {
				issued = t
				break
			}
		}
		if issued == "" {
			// The session moved on by other means (a factor verified in it): there is no
			// token to hand back, but nothing suggests a replay either.
			return apiError(http.StatusBadRequest, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
		}
	default:
		if _, err := tx.Exec(ctx, tn.sql(`DELETE FROM @S@.sessions WHERE id = $1::uuid`), sess.ID); err != nil {
			return s.internalError(tn, "revoke the session", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return s.internalError(tn, "revoke the session", err)
		}
		s.audit(ctx, tn, r, "token_revoked", sess.UserID, "", map[string]any{"session_id": sess.ID, "reason": "refresh token reused"})
		return apiError(http.StatusBadRequest, "refresh_token_already_used", "Invalid Refresh Token: Already Used")
	}
	if err := tx.Commit(ctx); err != nil {
		return s.internalError(tn, "refresh the session", err)
	}
	u, err := s.userByID(ctx, tn, sess.UserID)
	if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	body, err := s.tokenBody(ctx, tn, u, &sess, issued)
	if err != nil {
		return s.internalError(tn, "sign the access token", err)
	}
	s.audit(ctx, tn, r, "token_refreshed", u.ID, u.Email, map[string]any{"session_id": sess.ID})
	return jsonResponse(http.StatusOK, body)
}

// signer signs access tokens with a tenant's users.signing_key.
type signer struct {
	method jwt.SigningMethod
	key    crypto.Signer
	kid    string
	jwk    map[string]any
}

// parseSigner reads a PEM private key: RSA (RS256) or EC P-256 (ES256), in PKCS#1,
// SEC 1 or PKCS#8 form.
func parseSigner(pemText string) (*signer, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("auth: users.signing_key is not a PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: users.signing_key: %w", err)
	}
	sg := &signer{}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sg.method, sg.key = jwt.SigningMethodRS256, k
		sg.jwk = map[string]any{"kty": "RSA", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("auth: users.signing_key: an EC key must be on P-256 (ES256)")
		}
		pub, err := k.PublicKey.ECDH()
		if err != nil {
			return nil, fmt.Errorf("auth: users.signing_key: %w", err)
		}
		xy := pub.Bytes()[1:] // uncompressed point: 0x04 || X || Y
		sg.method, sg.key = jwt.SigningMethodES256, k
		sg.jwk = map[string]any{"kty": "EC", "alg": "ES256", "crv": "P-256",
			"x": base64.RawURLEncoding.EncodeToString(xy[:32]),
			"y": base64.RawURLEncoding.EncodeToString(xy[32:])}
	default:
		return nil, fmt.Errorf("auth: users.signing_key: a %T is neither an RSA nor an EC key", key)
	}
	der, err := x509.MarshalPKIXPublicKey(sg.key.Public())
	if err != nil {
		return nil, fmt.Errorf("auth: users.signing_key: %w", err)
	}
	sum := sha256.Sum256(der)
	sg.kid = hex.EncodeToString(sum[:])[:16]
	sg.jwk["kid"] = sg.kid
	sg.jwk["use"] = "sig"
	sg.jwk["key_ops"] = []string{"verify"}
	return sg, nil
}

// signerFor is the tenant's signer, parsed once per key; nil for HS256 (no signing_key).
func (s *Service) signerFor(tn *tenantCtx) (*signer, error) {
	pemText := tn.cfg.SigningKey
	if pemText == "" {
		return nil, nil
	}
	s.mu.Lock()
	sg := s.signers[pemText]
	s.mu.Unlock()
	if sg != nil {
		return sg, nil
	}
	sg, err := parseSigner(pemText)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.signers[pemText] = sg
	s.mu.Unlock()
	return sg, nil
}

// signToken signs claims c: RS256/ES256 with users.signing_key (its kid in the header),
// else HS256 with auth.jwt_secret.
func (s *Service) signToken(tn *tenantCtx, c map[string]any) (string, error) {
	sg, err := s.signerFor(tn)
	if err != nil {
		return "", err
	}
	if sg != nil {
		t := jwt.NewWithClaims(sg.method, jwt.MapClaims(c))
		t.Header["kid"] = sg.kid
		return t.SignedString(sg.key)
	}
	secret, ok := control.SharedSecret(tn.auth)
	if !ok {
		return "", errors.New("auth: no key to sign access tokens with: auth.users.signing_key, or a shared auth.jwt_secret")
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(c)).SignedString(secret)
}

// handleJWKS answers GET /.well-known/jwks.json: the public key access tokens are signed
// with, none for HS256 (a shared secret is never published).
func (s *Service) handleJWKS(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	keys := []map[string]any{}
	sg, err := s.signerFor(tn)
	if err != nil {
		return s.internalError(tn, "read its signing key", err)
	}
	if sg != nil {
		keys = append(keys, sg.jwk)
	}
	resp := jsonResponse(http.StatusOK, map[string]any{"keys": keys})
	resp.Header.Set("Cache-Control", "public, max-age=600")
	return resp
}
