package auth

// Stand-ins for what service.go, settings.go, respond.go, users.go, sessions.go,
// ratelimit.go and audit.go define, with the shared design's signatures and the simplest
// bodies that let mail.go and verify.go run against a real store. The integrator deletes
// this file.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kapok-dev/kapok/control"
)

type Service struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	pools     map[string]*pgxpool.Pool
	installed map[string]bool
	windows   map[string]*standInWindow
}

func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{opts: opts, log: opts.Logger, pools: map[string]*pgxpool.Pool{}, installed: map[string]bool{}, windows: map[string]*standInWindow{}}
}

func (s *Service) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools {
		p.Close()
	}
}

// Serve routes only the endpoints of mail.go and verify.go.
func (s *Service) Serve(ctx context.Context, t *control.Tenant, r *Request) *Response {
	tn, resp := s.tenantCtx(ctx, t)
	if resp != nil {
		return resp
	}
	switch {
	case r.Path == "/verify" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		return s.serveVerify(ctx, tn, r)
	case r.Path == "/otp" && r.Method == http.MethodPost:
		return s.serveOTP(ctx, tn, r)
	case r.Path == "/magiclink" && r.Method == http.MethodPost:
		return s.serveMagicLink(ctx, tn, r)
	case r.Path == "/recover" && r.Method == http.MethodPost:
		return s.serveRecover(ctx, tn, r)
	case r.Path == "/resend" && r.Method == http.MethodPost:
		return s.serveResend(ctx, tn, r)
	case r.Path == "/reauthenticate" && r.Method == http.MethodGet:
		return s.serveReauthenticate(ctx, tn, r)
	}
	return apiError(http.StatusNotFound, "not_found", "no such endpoint")
}

type tenantCtx struct {
	t      *control.Tenant
	cfg    control.UsersConfig
	auth   *control.AuthConfig
	schema string
	db     *pgxpool.Pool
}

func (s *Service) tenantCtx(ctx context.Context, t *control.Tenant) (*tenantCtx, *Response) {
	ac := t.Config.Auth
	if ac == nil || ac.Users == nil {
		return nil, apiError(http.StatusNotFound, "not_found", "Kapok Auth is not enabled for this tenant (auth.users)")
	}
	cfg := *ac.Users
	if cfg.OTPExpiry == 0 {
		cfg.OTPExpiry = control.Duration(time.Hour)
	}
	if cfg.OTPLength == 0 {
		cfg.OTPLength = 6
	}
	if cfg.JWTExpiry == 0 {
		cfg.JWTExpiry = control.Duration(time.Hour)
	}
	name := control.AuthSchema(t.Config)
	qs := pgx.Identifier{name}.Sanitize()
	url := s.opts.Registry.Config().LoginURL(t.Config)
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pools[url]
	if p == nil {
		pc, err := pgxpool.ParseConfig(url)
		if err != nil {
			return nil, apiError(500, "unexpected_failure", err.Error())
		}
		pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
		if p, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			return nil, apiError(500, "unexpected_failure", err.Error())
		}
		s.pools[url] = p
	}
	if !s.installed[url+" "+qs] {
		if _, err := p.Exec(ctx, storeScript(qs, name)+helpersSQL, pgx.QueryExecModeSimpleProtocol); err != nil {
			return nil, apiError(500, "unexpected_failure", err.Error())
		}
		s.installed[url+" "+qs] = true
	}
	return &tenantCtx{t: t, cfg: cfg, auth: ac, schema: qs, db: p}, nil
}

func jsonResponse(status int, v any) *Response {
	b, _ := json.Marshal(v)
	return &Response{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: b}
}

func apiError(status int, code, msg string) *Response {
	r := jsonResponse(status, map[string]string{"code": code, "error_code": code, "msg": msg})
	r.Header.Set("X-Supabase-Api-Version", "2024-01-01")
	return r
}

func redirect(to string) *Response {
	return &Response{Status: http.StatusSeeOther, Header: http.Header{"Location": {to}}}
}

func decodeBody(r *Request, v any) *Response {
	if len(r.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return apiError(http.StatusBadRequest, "bad_json", "Could not parse request body as JSON: "+err.Error())
	}
	return nil
}

var (
	errNotFound = errors.New("not found")
	errExists   = errors.New("already exists")
)

type User struct {
	ID, Aud, Role, Email                            string
	EncryptedPassword                               *string
	EmailConfirmedAt, InvitedAt, ConfirmationSentAt *time.Time
	RecoverySentAt, EmailChangeSentAt               *time.Time
	LastSignInAt, BannedUntil                       *time.Time
	EmailChange                                     *string
	AppMetadata, UserMetadata                       map[string]any
	IsAnonymous                                     bool
	CreatedAt, UpdatedAt                            time.Time
}

const standInUserCols = `id::text, aud, role, coalesce(email, ''), encrypted_password, email_confirmed_at, invited_at,
 confirmation_sent_at, recovery_sent_at, email_change_sent_at, last_sign_in_at, banned_until, email_change,
 raw_app_meta_data, raw_user_meta_data, is_anonymous, created_at, updated_at`

func (s *Service) standInUser(ctx context.Context, tn *tenantCtx, where string, arg string) (*User, error) {
	u := &User{}
	err := tn.db.QueryRow(ctx, `SELECT `+standInUserCols+` FROM `+tn.schema+`.users WHERE `+where, arg).Scan(
		&u.ID, &u.Aud, &u.Role, &u.Email, &u.EncryptedPassword, &u.EmailConfirmedAt, &u.InvitedAt,
		&u.ConfirmationSentAt, &u.RecoverySentAt, &u.EmailChangeSentAt, &u.LastSignInAt, &u.BannedUntil, &u.EmailChange,
		&u.AppMetadata, &u.UserMetadata, &u.IsAnonymous, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNotFound
	}
	return u, err
}

func (s *Service) userByID(ctx context.Context, tn *tenantCtx, id string) (*User, error) {
	return s.standInUser(ctx, tn, `id = $1::uuid`, id)
}

func (s *Service) userByEmail(ctx context.Context, tn *tenantCtx, email string) (*User, error) {
	return s.standInUser(ctx, tn, `email = lower($1::text)`, email)
}

type newUser struct {
	Email, Password           string
	Confirmed                 bool
	AppMetadata, UserMetadata map[string]any
	Provider                  string
	Invited                   bool
}

func (s *Service) createUser(ctx context.Context, tn *tenantCtx, nu newUser) (*User, error) {
	var hash *string
	if nu.Password != "" {
		h, err := hashPassword(nu.Password)
		if err != nil {
			return nil, err
		}
		hash = &h
	}
	if nu.UserMetadata == nil {
		nu.UserMetadata = map[string]any{}
	}
	var id string
	err := tn.db.QueryRow(ctx, `WITH u AS (
  INSERT INTO `+tn.schema+`.users (email, encrypted_password, email_confirmed_at, invited_at, raw_app_meta_data, raw_user_meta_data)
  VALUES (lower($1::text), $2::text, CASE WHEN $3::bool THEN now() END, CASE WHEN $4::bool THEN now() END,
          jsonb_build_object('provider', 'email', 'providers', jsonb_build_array('email')), $5::jsonb)
  RETURNING id, email)
INSERT INTO `+tn.schema+`.identities (user_id, provider, provider_id, identity_data, email)
SELECT id, 'email', id::text, jsonb_build_object('sub', id::text, 'email', email), email FROM u RETURNING user_id::text`,
		nu.Email, hash, nu.Confirmed, nu.Invited, nu.UserMetadata).Scan(&id)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return nil, errExists
	}
	if err != nil {
		return nil, err
	}
	return s.userByID(ctx, tn, id)
}

func hashPassword(p string) (string, error) { return "stand-in:" + p, nil }

func (s *Service) userJSON(ctx context.Context, tn *tenantCtx, u *User) (map[string]any, error) {
	return map[string]any{"id": u.ID, "aud": u.Aud, "role": u.Role, "email": u.Email,
		"email_confirmed_at": u.EmailConfirmedAt, "new_email": u.EmailChange,
		"app_metadata": u.AppMetadata, "user_metadata": u.UserMetadata, "identities": []any{}}, nil
}

type amrEntry struct {
	Method    string `json:"method"`
	Timestamp int64  `json:"timestamp"`
}

type claims struct {
	Sub, SessionID, AAL, Email, Role string
	AMR                              []amrEntry
	Exp                              int64
	raw                              map[string]any
}

func (s *Service) currentUser(ctx context.Context, tn *tenantCtx, r *Request) (*User, *claims, *Response) {
	if r.Caller.Claims == nil {
		return nil, nil, apiError(http.StatusUnauthorized, "no_authorization", "This endpoint requires a Bearer token")
	}
	var c struct {
		Sub       string `json:"sub"`
		SessionID string `json:"session_id"`
	}
	if json.Unmarshal(r.Caller.Claims, &c) != nil || c.Sub == "" {
		return nil, nil, apiError(http.StatusUnauthorized, "bad_jwt", "invalid claim: missing sub claim")
	}
	var live bool
	err := tn.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+tn.schema+`.sessions WHERE id = $1::uuid AND user_id = $2::uuid AND (not_after IS NULL OR not_after > now()))`,
		c.SessionID, c.Sub).Scan(&live)
	if err != nil || !live {
		return nil, nil, apiError(http.StatusForbidden, "session_not_found", "Session from session_id claim in JWT does not exist")
	}
	u, err := s.userByID(ctx, tn, c.Sub)
	if err != nil {
		return nil, nil, apiError(http.StatusNotFound, "user_not_found", "User from sub claim in JWT does not exist")
	}
	cl := &claims{Sub: c.Sub, SessionID: c.SessionID}
	_ = json.Unmarshal(r.Caller.Claims, &cl.raw)
	return u, cl, nil
}

// newSession opens a session for u (aal1, amr [{method, now}]), sets last_sign_in_at and
// returns the token response. issueSession is meant to become a thin wrapper of it.
func (s *Service) newSession(ctx context.Context, tn *tenantCtx, r *Request, u *User, method string) (map[string]any, error) {
	amr, _ := json.Marshal([]amrEntry{{Method: method, Timestamp: s.now().Unix()}})
	var id string
	err := tn.db.QueryRow(ctx, `WITH s AS (INSERT INTO `+tn.schema+`.sessions (user_id, amr, ip) VALUES ($1::uuid, $2::jsonb, nullif($3::text, '')::inet) RETURNING id)
, u AS (UPDATE `+tn.schema+`.users SET last_sign_in_at = now() WHERE id = $1::uuid)
SELECT id::text FROM s`, u.ID, string(amr), standInIP(r)).Scan(&id)
	if err != nil {
		return nil, err
	}
	return s.tokenResponse(ctx, tn, u, id)
}

func standInIP(r *Request) string {
	if r.ClientIP.IsValid() {
		return r.ClientIP.String()
	}
	return ""
}

func (s *Service) tokenResponse(ctx context.Context, tn *tenantCtx, u *User, sessionID string) (map[string]any, error) {
	var b [24]byte
	_, _ = rand.Read(b[:])
	refresh := base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(refresh))
	if _, err := tn.db.Exec(ctx, `INSERT INTO `+tn.schema+`.refresh_tokens (token_hash, user_id, session_id) VALUES ($1::text, $2::uuid, $3::uuid)`,
		hex.EncodeToString(h[:]), u.ID, sessionID); err != nil {
		return nil, err
	}
	now := s.now()
	exp := now.Add(tn.cfg.JWTExpiry.D())
	tok, err := s.signToken(tn, map[string]any{"iss": control.Issuer, "ref": tn.t.Name, "aud": "authenticated", "sub": u.ID,
		"exp": exp.Unix(), "iat": now.Unix(), "email": u.Email, "role": "authenticated", "session_id": sessionID})
	if err != nil {
		return nil, err
	}
	uj, _ := s.userJSON(ctx, tn, u)
	return map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int64(tn.cfg.JWTExpiry.D().Seconds()),
		"expires_at": exp.Unix(), "refresh_token": refresh, "user": uj}, nil
}

func (s *Service) signToken(tn *tenantCtx, c map[string]any) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(c)).SignedString([]byte(tn.auth.JWTSecret))
}

func (s *Service) newFlowState(ctx context.Context, tn *tenantCtx, userID, challenge, method, providerType, authMethod string) (string, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	code := hex.EncodeToString(b[:])
	h := sha256.Sum256([]byte(code))
	_, err := tn.db.Exec(ctx, `INSERT INTO `+tn.schema+`.flow_state (user_id, auth_code, code_challenge, code_challenge_method, provider_type, authentication_method)
VALUES (nullif($1::text, '')::uuid, $2::text, $3::text, $4::text, $5::text, $6::text)`, userID, hex.EncodeToString(h[:]), challenge, strings.ToLower(method), providerType, authMethod)
	return code, err
}

// standInWindow is a fixed window counter: the real limiter is ratelimit.go's.
type standInWindow struct {
	start time.Time
	n     int
}

func (s *Service) allow(tn *tenantCtx, kind, key string) (bool, time.Duration) {
	rl := tn.cfg.RateLimits
	limit, per := 0, time.Hour
	switch kind {
	case "signin_ip":
		limit, per = rl.SignInPerIP, 5*time.Minute
		if limit == 0 {
			limit = 30
		}
	case "signin_account":
		limit, per = rl.SignInPerAccount, 5*time.Minute
		if limit == 0 {
			limit = 10
		}
	case "otp_ip":
		if limit = rl.OTPPerIP; limit == 0 {
			limit = 30
		}
	case "email_tenant":
		if limit = rl.EmailSent; limit == 0 {
			limit = 100
		}
	case "refresh_ip":
		limit, per = rl.TokenRefresh, 5*time.Minute
		if limit == 0 {
			limit = 150
		}
	}
	if limit < 0 {
		return true, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tn.t.Name + "\x00" + kind + "\x00" + key
	now := s.now()
	w := s.windows[k]
	if w == nil || now.Sub(w.start) >= per {
		w = &standInWindow{start: now}
		s.windows[k] = w
	}
	if w.n >= limit {
		return false, w.start.Add(per).Sub(now)
	}
	w.n++
	return true, 0
}

func (s *Service) audit(ctx context.Context, tn *tenantCtx, r *Request, action, actorID, actorEmail string, payload map[string]any) {
	if payload == nil {
		payload = map[string]any{}
	}
	if _, err := tn.db.Exec(ctx, `INSERT INTO `+tn.schema+`.audit_log (action, actor_id, actor_email, ip, payload)
VALUES ($1::text, nullif($2::text, '')::uuid, nullif($3::text, ''), nullif($4::text, '')::inet, $5::jsonb)`,
		action, actorID, actorEmail, standInIP(r), payload); err != nil {
		s.log.Warn("auth: audit", "action", action, "err", err)
	}
}
