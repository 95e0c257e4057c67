package auth

// Stand-ins for the core functions mfa.go calls, with the shared design's signatures and
// the simplest bodies that work over the store's DDL, so that mfa.go compiles and its
// tests run. The integrator deletes this file.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kapok-dev/kapok/control"
)

type Service struct {
	opts Options

	mu       sync.Mutex
	attempts map[string][]time.Time
}

func New(opts Options) *Service { return &Service{opts: opts, attempts: map[string][]time.Time{}} }

func (s *Service) logger() *slog.Logger {
	if s.opts.Logger != nil {
		return s.opts.Logger
	}
	return slog.Default()
}

func (s *Service) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

type tenantCtx struct {
	t      *control.Tenant
	cfg    control.UsersConfig
	auth   *control.AuthConfig
	schema string
	db     *pgxpool.Pool
}

var errNotFound = errors.New("not found")

func jsonResponse(status int, v any) *Response {
	b, err := json.Marshal(v)
	if err != nil {
		return apiError(http.StatusInternalServerError, "unexpected_failure", err.Error())
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Supabase-Api-Version", "2024-01-01")
	return &Response{Status: status, Header: h, Body: b}
}

func apiError(status int, code, msg string) *Response {
	return jsonResponse(status, map[string]any{"code": code, "error_code": code, "msg": msg})
}

func decodeBody(r *Request, v any) *Response {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return apiError(http.StatusBadRequest, "bad_json", "Could not parse request body as JSON: "+err.Error())
	}
	return nil
}

type User struct {
	ID, Aud, Role, Email                                                                                          string
	EncryptedPassword                                                                                             *string
	EmailConfirmedAt, InvitedAt, ConfirmationSentAt, RecoverySentAt, EmailChangeSentAt, LastSignInAt, BannedUntil *time.Time
	EmailChange                                                                                                   *string
	AppMetadata, UserMetadata                                                                                     map[string]any
	IsAnonymous                                                                                                   bool
	CreatedAt, UpdatedAt                                                                                          time.Time
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

func (s *Service) userByID(ctx context.Context, tn *tenantCtx, id string) (*User, error) {
	u := &User{ID: id}
	err := tn.db.QueryRow(ctx, `SELECT coalesce(email, ''), is_anonymous, created_at, updated_at FROM `+tn.schema+`.users WHERE id = $1::uuid`, id).
		Scan(&u.Email, &u.IsAnonymous, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNotFound
	}
	return u, err
}

func (s *Service) currentUser(ctx context.Context, tn *tenantCtx, r *Request) (*User, *claims, *Response) {
	if len(r.Caller.Claims) == 0 {
		return nil, nil, apiError(http.StatusUnauthorized, "no_authorization", "This endpoint requires a valid Bearer token")
	}
	var raw struct {
		Sub       string     `json:"sub"`
		SessionID string     `json:"session_id"`
		AAL       string     `json:"aal"`
		Email     string     `json:"email"`
		Role      string     `json:"role"`
		AMR       []amrEntry `json:"amr"`
		Exp       int64      `json:"exp"`
	}
	if err := json.Unmarshal(r.Caller.Claims, &raw); err != nil || raw.Sub == "" || raw.SessionID == "" {
		return nil, nil, apiError(http.StatusUnauthorized, "bad_jwt", "invalid claims")
	}
	var live bool
	err := tn.db.QueryRow(ctx, `SELECT not_after IS NULL OR not_after > $2::timestamptz FROM `+tn.schema+`.sessions WHERE id = $1::uuid`, raw.SessionID, s.now()).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !live) {
		return nil, nil, apiError(http.StatusForbidden, "session_not_found", "Session from session_id claim in JWT does not exist")
	}
	if err != nil {
		return nil, nil, apiError(http.StatusInternalServerError, "unexpected_failure", err.Error())
	}
	u, err := s.userByID(ctx, tn, raw.Sub)
	if errors.Is(err, errNotFound) {
		return nil, nil, apiError(http.StatusForbidden, "user_not_found", "User from sub claim in JWT does not exist")
	}
	if err != nil {
		return nil, nil, apiError(http.StatusInternalServerError, "unexpected_failure", err.Error())
	}
	var all map[string]any
	_ = json.Unmarshal(r.Caller.Claims, &all)
	return u, &claims{raw: all, Sub: raw.Sub, SessionID: raw.SessionID, AAL: raw.AAL, Email: raw.Email, Role: raw.Role, AMR: raw.AMR, Exp: raw.Exp}, nil
}

func (s *Service) upgradeSession(ctx context.Context, tn *tenantCtx, sessionID, factorID, method string) error {
	entry, _ := json.Marshal([]amrEntry{{Method: method, Timestamp: s.now().Unix()}})
	_, err := tn.db.Exec(ctx, `UPDATE `+tn.schema+`.sessions SET aal = 'aal2', factor_id = $2::uuid,
		amr = $3::jsonb || coalesce((SELECT jsonb_agg(e) FROM jsonb_array_elements(amr) e WHERE e->>'method' <> $4::text), '[]'),
		updated_at = $5::timestamptz WHERE id = $1::uuid`, sessionID, factorID, string(entry), method, s.now())
	return err
}

func (s *Service) tokenResponse(ctx context.Context, tn *tenantCtx, u *User, sessionID string) (map[string]any, error) {
	var aal string
	var amr []amrEntry
	if err := tn.db.QueryRow(ctx, `SELECT aal, amr FROM `+tn.schema+`.sessions WHERE id = $1::uuid`, sessionID).Scan(&aal, &amr); err != nil {
		return nil, err
	}
	now := s.now()
	exp := now.Add(time.Hour)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": control.Issuer, "ref": tn.t.Name, "aud": "authenticated", "sub": u.ID, "exp": exp.Unix(), "iat": now.Unix(),
		"email": u.Email, "phone": "", "role": "authenticated", "aal": aal, "amr": amr, "session_id": sessionID,
		"is_anonymous": u.IsAnonymous, "app_metadata": map[string]any{}, "user_metadata": map[string]any{},
	}).SignedString([]byte(tn.auth.JWTSecret))
	if err != nil {
		return nil, err
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	refresh := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(refresh))
	if _, err := tn.db.Exec(ctx, `INSERT INTO `+tn.schema+`.refresh_tokens (token_hash, user_id, session_id) VALUES ($1::text, $2::uuid, $3::uuid)`,
		hex.EncodeToString(h[:]), u.ID, sessionID); err != nil {
		return nil, err
	}
	return map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 3600, "expires_at": exp.Unix(),
		"refresh_token": refresh, "user": map[string]any{"id": u.ID, "email": u.Email}}, nil
}

func (s *Service) allow(tn *tenantCtx, kind, key string) (ok bool, retryAfter time.Duration) {
	limit := tn.cfg.RateLimits.SignInPerAccount
	if limit == 0 {
		limit = 10
	}
	if limit < 0 {
		return true, 0
	}
	const window = 5 * time.Minute
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tn.t.Name + "\x00" + kind + "\x00" + key
	now := s.now()
	var kept []time.Time
	for _, at := range s.attempts[k] {
		if now.Sub(at) < window {
			kept = append(kept, at)
		}
	}
	if len(kept) >= limit {
		s.attempts[k] = kept
		return false, window - now.Sub(kept[0])
	}
	s.attempts[k] = append(kept, now)
	return true, 0
}

func (s *Service) audit(ctx context.Context, tn *tenantCtx, r *Request, action, actorID, actorEmail string, payload map[string]any) {
	p, _ := json.Marshal(payload)
	var ip any
	if r.ClientIP.IsValid() {
		ip = r.ClientIP.String()
	}
	if _, err := tn.db.Exec(ctx, `INSERT INTO `+tn.schema+`.audit_log (action, actor_id, actor_email, ip, payload) VALUES ($1::text, nullif($2::text, '')::uuid, $3::text, $4::inet, $5::jsonb)`,
		action, actorID, actorEmail, ip, string(p)); err != nil {
		s.logger().Error("audit", "err", fmt.Sprint(err))
	}
}
