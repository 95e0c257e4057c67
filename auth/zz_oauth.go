package auth

// Stand-ins for the core of the package (service.go, settings.go, respond.go, users.go,
// sessions.go, audit.go, mail.go), with the shared design's signatures and the simplest
// bodies that work against the real store, so that oauth.go compiles and its tests run.
// The integrator deletes this file.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/kapok-dev/kapok/control"
)

type Service struct {
	opts  Options
	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
	ready map[string]bool
	oauth *oauthProviders
}

func New(opts Options) *Service {
	return &Service{opts: opts, pools: map[string]*pgxpool.Pool{}, ready: map[string]bool{}, oauth: newOAuthProviders(opts)}
}

func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools {
		p.Close()
	}
}

func (s *Service) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Service) Prepare(ctx context.Context, t *control.Tenant) error {
	_, resp := s.tenantCtx(ctx, t)
	if resp != nil {
		return fmt.Errorf("prepare %s: %s", t.Name, resp.Body)
	}
	return nil
}

func (s *Service) Serve(ctx context.Context, t *control.Tenant, r *Request) *Response {
	tn, resp := s.tenantCtx(ctx, t)
	if resp != nil {
		return resp
	}
	switch {
	case r.Path == "/authorize" && r.Method == http.MethodGet:
		return s.oauthAuthorize(ctx, tn, r)
	case r.Path == "/callback" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		return s.oauthCallback(ctx, tn, r)
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
	if t.Config.Auth == nil || t.Config.Auth.Users == nil {
		return nil, apiError(http.StatusNotFound, "not_found", "Kapok Auth is not enabled for this tenant (auth.users)")
	}
	cfg := *t.Config.Auth.Users
	if cfg.JWTExpiry == 0 {
		cfg.JWTExpiry = control.Duration(time.Hour)
	}
	url := s.opts.Registry.Config().LoginURL(t.Config)
	name := control.AuthSchema(t.Config)
	s.mu.Lock()
	defer s.mu.Unlock()
	db := s.pools[url]
	if db == nil {
		pc, err := pgxpool.ParseConfig(url)
		if err != nil {
			return nil, apiError(http.StatusInternalServerError, "unexpected_failure", err.Error())
		}
		pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
		if db, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			return nil, apiError(http.StatusInternalServerError, "unexpected_failure", err.Error())
		}
		s.pools[url] = db
	}
	qs := pgx.Identifier{name}.Sanitize()
	if !s.ready[url+" "+name] {
		if _, err := db.Exec(ctx, storeScript(qs, name), pgx.QueryExecModeSimpleProtocol); err != nil {
			return nil, apiError(http.StatusInternalServerError, "unexpected_failure", err.Error())
		}
		if _, err := db.Exec(ctx, helpersSQL, pgx.QueryExecModeSimpleProtocol); err != nil {
			return nil, apiError(http.StatusInternalServerError, "unexpected_failure", err.Error())
		}
		s.ready[url+" "+name] = true
	}
	return &tenantCtx{t: t, cfg: cfg, auth: t.Config.Auth, schema: qs, db: db}, nil
}

func jsonResponse(status int, v any) *Response {
	b, _ := json.Marshal(v)
	return &Response{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: b}
}

func apiError(status int, code, msg string) *Response {
	r := jsonResponse(status, map[string]any{"code": code, "error_code": code, "msg": msg})
	r.Header.Set("X-Supabase-Api-Version", "2024-01-01")
	return r
}

func redirect(to string) *Response {
	return &Response{Status: http.StatusSeeOther, Header: http.Header{"Location": {to}}}
}

type User struct {
	ID, Aud, Role, Email                                                               string
	EncryptedPassword                                                                  *string
	EmailConfirmedAt, InvitedAt, ConfirmationSentAt, RecoverySentAt, EmailChangeSentAt *time.Time
	LastSignInAt, BannedUntil                                                          *time.Time
	EmailChange                                                                        *string
	AppMetadata, UserMetadata                                                          map[string]any
	IsAnonymous                                                                        bool
	CreatedAt, UpdatedAt                                                               time.Time
}

var (
	errNotFound = errors.New("not found")
	errExists   = errors.New("already exists")
)

func (s *Service) userWhere(ctx context.Context, tn *tenantCtx, where string, arg any) (*User, error) {
	u := &User{}
	var email *string
	err := tn.db.QueryRow(ctx, `SELECT id::text, aud, role, email, encrypted_password, email_confirmed_at,
	  last_sign_in_at, banned_until, raw_app_meta_data, raw_user_meta_data, is_anonymous, created_at, updated_at
	  FROM `+tn.schema+`.users WHERE `+where, arg).Scan(&u.ID, &u.Aud, &u.Role, &email, &u.EncryptedPassword,
		&u.EmailConfirmedAt, &u.LastSignInAt, &u.BannedUntil, &u.AppMetadata, &u.UserMetadata, &u.IsAnonymous,
		&u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNotFound
	}
	if email != nil {
		u.Email = *email
	}
	return u, err
}

func (s *Service) userByID(ctx context.Context, tn *tenantCtx, id string) (*User, error) {
	return s.userWhere(ctx, tn, "id = $1::uuid", id)
}

func (s *Service) userByEmail(ctx context.Context, tn *tenantCtx, email string) (*User, error) {
	return s.userWhere(ctx, tn, "email = $1::text", strings.ToLower(email))
}

type newUser struct {
	Email, Password           string
	Confirmed                 bool
	AppMetadata, UserMetadata map[string]any
	Provider                  string
	Invited                   bool
}

func (s *Service) createUser(ctx context.Context, tn *tenantCtx, nu newUser) (*User, error) {
	app := map[string]any{"provider": nu.Provider, "providers": []string{nu.Provider}}
	for k, v := range nu.AppMetadata {
		app[k] = v
	}
	meta := nu.UserMetadata
	if meta == nil {
		meta = map[string]any{}
	}
	var hash *string
	if nu.Password != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(nu.Password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		hs := string(h)
		hash = &hs
	}
	var id string
	err := tn.db.QueryRow(ctx, `INSERT INTO `+tn.schema+`.users (email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data)
	  VALUES ($1::text, $2::text, CASE WHEN $3::bool THEN now() END, $4::jsonb, $5::jsonb)
	  ON CONFLICT (email) WHERE email IS NOT NULL DO NOTHING RETURNING id::text`,
		strings.ToLower(nu.Email), hash, nu.Confirmed, app, meta).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errExists
	}
	if err != nil {
		return nil, err
	}
	if nu.Provider == "email" {
		if _, err := tn.db.Exec(ctx, `INSERT INTO `+tn.schema+`.identities (user_id, provider, provider_id, identity_data, email)
		  VALUES ($1::uuid, 'email', $1::text, jsonb_build_object('sub', $1::text, 'email', $2::text), $2::text)`, id, strings.ToLower(nu.Email)); err != nil {
			return nil, err
		}
	}
	return s.userByID(ctx, tn, id)
}

func (s *Service) newFlowState(ctx context.Context, tn *tenantCtx, userID, challenge, method, providerType, authMethod string) (string, error) {
	code := randomToken()
	sum := sha256.Sum256([]byte(code))
	_, err := tn.db.Exec(ctx, `INSERT INTO `+tn.schema+`.flow_state (user_id, auth_code, code_challenge,
	  code_challenge_method, provider_type, authentication_method) VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::text, $6::text)`,
		userID, hex.EncodeToString(sum[:]), challenge, strings.ToLower(method), providerType, authMethod)
	return code, err
}

func (s *Service) signToken(tn *tenantCtx, c map[string]any) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(c)).SignedString([]byte(tn.auth.JWTSecret))
}

func (s *Service) redirectTo(tn *tenantCtx, want string) string {
	if want == "" {
		return tn.cfg.SiteURL
	}
	if want == tn.cfg.SiteURL || strings.HasPrefix(want, strings.TrimSuffix(tn.cfg.SiteURL, "/")+"/") {
		return want
	}
	for _, a := range tn.cfg.RedirectURLs {
		if p, ok := strings.CutSuffix(a, "*"); ok && strings.HasPrefix(want, p) || a == want {
			return want
		}
	}
	return tn.cfg.SiteURL
}

func (s *Service) audit(ctx context.Context, tn *tenantCtx, r *Request, action, actorID, actorEmail string, payload map[string]any) {
	var ip any
	if r.ClientIP.IsValid() {
		ip = r.ClientIP.String()
	}
	if payload == nil {
		payload = map[string]any{}
	}
	_, err := tn.db.Exec(ctx, `INSERT INTO `+tn.schema+`.audit_log (action, actor_id, actor_email, ip, payload)
	  VALUES ($1::text, nullif($2::text, '')::uuid, nullif($3::text, ''), $4::inet, $5::jsonb)`,
		action, actorID, actorEmail, ip, payload)
	if err != nil && s.opts.Logger != nil {
		s.opts.Logger.Error("auth: audit", "action", action, "err", err)
	}
}

// sendConfirmation stands in for mail.go: without SMTP nothing is sent.
func (s *Service) sendConfirmation(ctx context.Context, tn *tenantCtx, r *Request, u *User, redirectTo string) *Response {
	if tn.cfg.SMTP.Host == "" {
		return apiError(http.StatusInternalServerError, "unexpected_failure", "no SMTP server")
	}
	_, err := tn.db.Exec(ctx, `UPDATE `+tn.schema+`.users SET confirmation_sent_at = now() WHERE id = $1::uuid`, u.ID)
	if err != nil {
		return apiError(http.StatusInternalServerError, "unexpected_failure", err.Error())
	}
	return nil
}

// newSession stands in for sessions.go's issueSession, returning the token response's map.
func (s *Service) newSession(ctx context.Context, tn *tenantCtx, r *Request, u *User, method string) (map[string]any, error) {
	now := s.now()
	amr := []map[string]any{{"method": method, "timestamp": now.Unix()}}
	var sid string
	if err := tn.db.QueryRow(ctx, `INSERT INTO `+tn.schema+`.sessions (user_id, amr) VALUES ($1::uuid, $2::jsonb) RETURNING id::text`,
		u.ID, amr).Scan(&sid); err != nil {
		return nil, err
	}
	refresh := randomToken()
	sum := sha256.Sum256([]byte(refresh))
	if _, err := tn.db.Exec(ctx, `INSERT INTO `+tn.schema+`.refresh_tokens (token_hash, user_id, session_id) VALUES ($1::text, $2::uuid, $3::uuid);
	  `, hex.EncodeToString(sum[:]), u.ID, sid); err != nil {
		return nil, err
	}
	if _, err := tn.db.Exec(ctx, `UPDATE `+tn.schema+`.users SET last_sign_in_at = now() WHERE id = $1::uuid`, u.ID); err != nil {
		return nil, err
	}
	exp := now.Add(time.Duration(tn.cfg.JWTExpiry))
	tok, err := s.signToken(tn, map[string]any{
		"iss": control.Issuer, "ref": tn.t.Name, "aud": "authenticated", "sub": u.ID, "exp": exp.Unix(), "iat": now.Unix(),
		"email": u.Email, "phone": "", "app_metadata": u.AppMetadata, "user_metadata": u.UserMetadata,
		"role": "authenticated", "aal": "aal1", "amr": amr, "session_id": sid, "is_anonymous": u.IsAnonymous,
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"access_token": tok, "token_type": "bearer", "expires_in": int64(time.Duration(tn.cfg.JWTExpiry) / time.Second),
		"expires_at": exp.Unix(), "refresh_token": refresh, "user": map[string]any{"id": u.ID, "email": u.Email},
	}, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
