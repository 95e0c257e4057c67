package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/crypto/bcrypt"
)

var (
	// errNotFound: no such row (user, session, factor, flow state).
	errNotFound = errors.New("auth: not found")
	// errExists: a user with this email already exists.
	errExists = errors.New("auth: a user with this email already exists")
)

// User is one row of the store's users.
type User struct {
	ID, Aud, Role, Email string
	EncryptedPassword    *string
	EmailConfirmedAt, InvitedAt, ConfirmationSentAt, RecoverySentAt, EmailChangeSentAt,
	LastSignInAt, BannedUntil *time.Time
	EmailChange               *string
	AppMetadata, UserMetadata map[string]any
	IsAnonymous               bool
	CreatedAt, UpdatedAt      time.Time
}

// userColumns are the users' columns scanUser reads, in its order; @S@ is the store schema
// and u the users' alias.
const userColumns = `u.id::text, u.aud, u.role, coalesce(u.email, ''), u.encrypted_password,
  u.email_confirmed_at, u.invited_at, u.confirmation_sent_at, u.recovery_sent_at, u.email_change_sent_at,
  u.last_sign_in_at, u.banned_until, u.email_change, u.raw_app_meta_data, u.raw_user_meta_data,
  u.is_anonymous, u.created_at, u.updated_at`

// userScanTargets are the destinations of userColumns in u, followed by extra.
func userScanTargets(u *User, extra ...any) []any {
	return append([]any{&u.ID, &u.Aud, &u.Role, &u.Email, &u.EncryptedPassword,
		&u.EmailConfirmedAt, &u.InvitedAt, &u.ConfirmationSentAt, &u.RecoverySentAt, &u.EmailChangeSentAt,
		&u.LastSignInAt, &u.BannedUntil, &u.EmailChange, &u.AppMetadata, &u.UserMetadata,
		&u.IsAnonymous, &u.CreatedAt, &u.UpdatedAt}, extra...)
}

// sql writes the tenant's store schema into q, in place of @S@.
func (tn *tenantCtx) sql(q string) string { return strings.ReplaceAll(q, "@S@", tn.schema) }

// queryUser reads one user with q (selecting userColumns from @S@.users u): errNotFound
// when there is none.
func (s *Service) queryUser(ctx context.Context, tn *tenantCtx, q string, args ...any) (*User, error) {
	u := &User{}
	err := tn.db.QueryRow(ctx, tn.sql(q), args...).Scan(userScanTargets(u)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	u.fixMetadata()
	return u, nil
}

func (u *User) fixMetadata() {
	if u.AppMetadata == nil {
		u.AppMetadata = map[string]any{}
	}
	if u.UserMetadata == nil {
		u.UserMetadata = map[string]any{}
	}
}

// userByID loads a user: errNotFound when there is none (or id is not a UUID).
func (s *Service) userByID(ctx context.Context, tn *tenantCtx, id string) (*User, error) {
	if !validUUID(id) {
		return nil, errNotFound
	}
	return s.queryUser(ctx, tn, `SELECT `+userColumns+` FROM @S@.users u WHERE u.id = $1::uuid`, id)
}

// userByEmail loads the user with this address (compared lower-cased): errNotFound when
// there is none.
func (s *Service) userByEmail(ctx context.Context, tn *tenantCtx, email string) (*User, error) {
	email = normalizeEmail(email)
	if email == "" {
		return nil, errNotFound
	}
	return s.queryUser(ctx, tn, `SELECT `+userColumns+` FROM @S@.users u WHERE u.email = $1::text`, email)
}

// banned reports whether u may not sign in at now.
func (u *User) banned(now time.Time) bool {
	return u.BannedUntil != nil && u.BannedUntil.After(now)
}

// newUser is what createUser inserts.
type newUser struct {
	Email, Password string
	Confirmed       bool
	AppMetadata     map[string]any
	UserMetadata    map[string]any
	// Provider is "email" or an OAuth provider; an "email" user gets its email identity here,
	// an OAuth one gets its identity from the caller, which knows the provider's subject.
	Provider string
	Invited  bool
}

// createUser inserts a user (and for Provider "email" its email identity) in one
// statement: errExists when the address is taken.
func (s *Service) createUser(ctx context.Context, tn *tenantCtx, nu newUser) (*User, error) {
	now := s.now()
	provider := nu.Provider
	if provider == "" {
		provider = "email"
	}
	var hash *string
	if nu.Password != "" {
		h, err := hashPassword(nu.Password)
		if err != nil {
			return nil, err
		}
		hash = &h
	}
	app := map[string]any{"provider": provider, "providers": []string{provider}}
	for k, v := range nu.AppMetadata {
		app[k] = v
	}
	meta := nu.UserMetadata
	if meta == nil {
		meta = map[string]any{}
	}
	var confirmedAt, invitedAt *time.Time
	if nu.Confirmed {
		confirmedAt = &now
	}
	if nu.Invited {
		invitedAt = &now
	}
	u, err := s.queryUser(ctx, tn, `WITH u AS (
  INSERT INTO @S@.users (email, encrypted_password, email_confirmed_at, invited_at,
    raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
  VALUES (nullif($1::text, ''), $2::text, $3::timestamptz, $4::timestamptz, $5::jsonb, $6::jsonb,
    $7::timestamptz, $7::timestamptz)
  RETURNING *
), i AS (
  INSERT INTO @S@.identities (user_id, provider, provider_id, identity_data, email, last_sign_in_at,
    created_at, updated_at)
  SELECT u.id, 'email', u.id::text, jsonb_build_object('sub', u.id::text, 'email', u.email,
      'email_verified', u.email_confirmed_at IS NOT NULL, 'phone_verified', false),
    u.email, $7::timestamptz, $7::timestamptz, $7::timestamptz
  FROM u WHERE $8::text = 'email'
)
SELECT `+userColumns+` FROM u`,
		normalizeEmail(nu.Email), hash, confirmedAt, invitedAt, app, meta, now, provider)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return nil, errExists
	}
	if err != nil {
		return nil, fmt.Errorf("auth: create user: %w", err)
	}
	return u, nil
}

// identityRow is one row of identities.
type identityRow struct {
	ID, Provider, ProviderID string
	Data                     map[string]any
	Email                    *string
	LastSignInAt             *time.Time
	CreatedAt, UpdatedAt     time.Time
}

// factorRow is one MFA factor as the user JSON and the admin API show it.
type factorRow struct {
	ID, FriendlyName, FactorType, Status string
	CreatedAt, UpdatedAt                 time.Time
}

func (f factorRow) json() map[string]any {
	return map[string]any{
		"id":            f.ID,
		"friendly_name": f.FriendlyName,
		"factor_type":   f.FactorType,
		"status":        f.Status,
		"created_at":    timeJSON(f.CreatedAt),
		"updated_at":    timeJSON(f.UpdatedAt),
	}
}

const factorColumns = `id::text, coalesce(friendly_name, ''), factor_type, status, created_at, updated_at`

func scanFactors(rows pgx.Rows) ([]factorRow, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (factorRow, error) {
		var f factorRow
		err := row.Scan(&f.ID, &f.FriendlyName, &f.FactorType, &f.Status, &f.CreatedAt, &f.UpdatedAt)
		return f, err
	})
}

// userFactors lists a user's factors, oldest first.
func (s *Service) userFactors(ctx context.Context, tn *tenantCtx, userID string) ([]factorRow, error) {
	rows, err := tn.db.Query(ctx, tn.sql(`SELECT `+factorColumns+` FROM @S@.mfa_factors
WHERE user_id = $1::uuid ORDER BY created_at, id`), userID)
	if err != nil {
		return nil, err
	}
	return scanFactors(rows)
}

// userJSON is u as GoTrue answers a user: with its identities, and its factors when it
// has some. Times are RFC 3339 in UTC; the unset ones are left out, as GoTrue does.
func (s *Service) userJSON(ctx context.Context, tn *tenantCtx, u *User) (map[string]any, error) {
	out, err := s.usersJSON(ctx, tn, []*User{u})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// usersJSON is userJSON for several users, in one round trip.
func (s *Service) usersJSON(ctx context.Context, tn *tenantCtx, users []*User) ([]map[string]any, error) {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	b := &pgx.Batch{}
	b.Queue(tn.sql(`SELECT user_id::text, id::text, provider, provider_id, identity_data, email, last_sign_in_at,
  created_at, updated_at FROM @S@.identities WHERE user_id = ANY($1::text[]::uuid[]) ORDER BY created_at, id`), ids)
	b.Queue(tn.sql(`SELECT user_id::text, `+factorColumns+` FROM @S@.mfa_factors
WHERE user_id = ANY($1::text[]::uuid[]) ORDER BY created_at, id`), ids)
	br := tn.db.SendBatch(ctx, b)
	defer br.Close()
	identities := map[string][]identityRow{}
	rows, err := br.Query()
	if err == nil {
		var i identityRow
		var owner string
		_, err = pgx.ForEachRow(rows, []any{&owner, &i.ID, &i.Provider, &i.ProviderID, &i.Data, &i.Email,
			&i.LastSignInAt, &i.CreatedAt, &i.UpdatedAt}, func() error {
			identities[owner] = append(identities[owner], i)
			i = identityRow{}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("auth: identities: %w", err)
	}
	factors := map[string][]factorRow{}
	rows, err = br.Query()
	if err == nil {
		var f factorRow
		var owner string
		_, err = pgx.ForEachRow(rows, []any{&owner, &f.ID, &f.FriendlyName, &f.FactorType, &f.Status,
			&f.CreatedAt, &f.UpdatedAt}, func() error {
			factors[owner] = append(factors[owner], f)
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("auth: factors: %w", err)
	}
	out := make([]map[string]any, len(users))
	for i, u := range users {
		out[i] = userObject(u, identities[u.ID], factors[u.ID])
	}
	return out, nil
}

// userObject builds the user JSON from its rows.
func userObject(u *User, ids []identityRow, factors []factorRow) map[string]any {
	m := map[string]any{
		"id":            u.ID,
		"aud":           u.Aud,
		"role":          u.Role,
		"email":         u.Email,
		"phone":         "",
		"app_metadata":  nonNilMap(u.AppMetadata),
		"user_metadata": nonNilMap(u.UserMetadata),
		"created_at":    timeJSON(u.CreatedAt),
		"updated_at":    timeJSON(u.UpdatedAt),
		"is_anonymous":  u.IsAnonymous,
	}
	optTime := func(key string, t *time.Time) {
		if t != nil {
			m[key] = timeJSON(*t)
		}
	}
	optTime("email_confirmed_at", u.EmailConfirmedAt)
	optTime("confirmed_at", u.EmailConfirmedAt)
	optTime("invited_at", u.InvitedAt)
	optTime("confirmation_sent_at", u.ConfirmationSentAt)
	optTime("recovery_sent_at", u.RecoverySentAt)
	optTime("email_change_sent_at", u.EmailChangeSentAt)
	optTime("last_sign_in_at", u.LastSignInAt)
	optTime("banned_until", u.BannedUntil)
	if u.EmailChange != nil && *u.EmailChange != "" {
		m["new_email"] = *u.EmailChange
	}
	identities := make([]map[string]any, 0, len(ids))
	for _, i := range ids {
		e := map[string]any{
			"identity_id":   i.ID,
			"id":            i.ProviderID,
			"user_id":       u.ID,
			"identity_data": nonNilMap(i.Data),
			"provider":      i.Provider,
			"created_at":    timeJSON(i.CreatedAt),
			"updated_at":    timeJSON(i.UpdatedAt),
		}
		if i.LastSignInAt != nil {
			e["last_sign_in_at"] = timeJSON(*i.LastSignInAt)
		}
		if i.Email != nil {
			e["email"] = *i.Email
		}
		identities = append(identities, e)
	}
	m["identities"] = identities
	if len(factors) > 0 {
		fs := make([]map[string]any, len(factors))
		for i, f := range factors {
			fs[i] = f.json()
		}
		m["factors"] = fs
	}
	return m
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// timeJSON writes t as GoTrue does: RFC 3339 with fractional seconds, in UTC.
func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// bcryptCost is the cost of stored password hashes.
const bcryptCost = 10

// dummyHash is a bcrypt hash (cost 10) of a password no one is given: signing in with an
// unknown address compares against it, so that it costs what a wrong password costs.
const dummyHash = "$2a$10$QfwlVlQJAGqO1tOmiiYz/eb2yppvmMuzrkSa86mefB3O5rcgOHLcq"

// hashPassword hashes p with bcrypt.
func hashPassword(p string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(p), bcryptCost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// passwordMatches compares p with u's password; a user without one (or no user) costs a
// comparison all the same and never matches.
func passwordMatches(u *User, p string) bool {
	if u == nil || u.EncryptedPassword == nil || *u.EncryptedPassword == "" {
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte(p))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(*u.EncryptedPassword), []byte(p)) == nil
}

// maxPasswordBytes is bcrypt's limit: it ignores (or refuses) what lies beyond.
const maxPasswordBytes = 72

// checkPassword refuses a password the tenant does not accept: 422 weak_password.
func (s *Service) checkPassword(tn *tenantCtx, p string) *Response {
	if utf8.RuneCountInString(p) < tn.cfg.PasswordMinLength {
		return weakPasswordError(fmt.Sprintf("Password should be at least %d characters.", tn.cfg.PasswordMinLength), "length")
	}
	if len(p) > maxPasswordBytes {
		return apiError(http.StatusUnprocessableEntity, "validation_failed",
			fmt.Sprintf("Password cannot be longer than %d characters", maxPasswordBytes))
	}
	return nil
}

// normalizeEmail trims and lower-cases an address, as the store keeps them.
func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// validEmail is a plain syntactic check: one @, a local part, a dotted domain, no spaces
// or control characters, at most 255 bytes.
func validEmail(e string) bool {
	if len(e) > 255 {
		return false
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return false
	}
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return false
	}
	for _, r := range e {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' || r == ',' || r == ';' {
			return false
		}
	}
	return true
}

// storableText is s as PostgreSQL's text takes it: valid UTF-8 without NUL.
func storableText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, ""), "\x00", "")
}

// emailError is the answer to an address validEmail refuses.
func emailError() *Response {
	return apiError(http.StatusBadRequest, "validation_failed", "Unable to validate email address: invalid format")
}

// validUUID reports whether s is a UUID in its text form, so that a cast to uuid in SQL
// cannot fail on client input.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// metadataPatch splits a metadata update as GoTrue applies it: keys set to null are
// removed, the others replace the stored values.
func metadataPatch(update map[string]any) (set map[string]any, remove []string) {
	set = map[string]any{}
	remove = []string{}
	for k, v := range update {
		if v == nil {
			remove = append(remove, k)
		} else {
			set[k] = v
		}
	}
	return set, remove
}
