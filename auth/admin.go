package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The admin API is the service_role key's (and Kapok's admin key's): supabase.auth.admin.

// requireService refuses a caller that is not the service: 403 not_admin.
func requireService(r *Request) *Response {
	if !r.Caller.Service {
		return apiError(http.StatusForbidden, "not_admin", "User not allowed")
	}
	return nil
}

// adminUserID is the {id} of /admin/users/{id}…: "" and a 404 when it is not a UUID.
func adminUserID(r *Request) (string, *Response) {
	id := pathSegment(r, 2)
	if !validUUID(id) {
		return "", apiError(http.StatusNotFound, "validation_failed", "user_id must be an UUID")
	}
	return strings.ToLower(id), nil
}

func userNotFound() *Response {
	return apiError(http.StatusNotFound, "user_not_found", "User not found")
}

// handleAdminListUsers answers GET /admin/users?page=&per_page=: {users, aud}, newest
// first, with X-Total-Count and a Link header (next, last) as auth-js reads them.
func (s *Service) handleAdminListUsers(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	if resp := requireService(r); resp != nil {
		return resp
	}
	page, perPage := 1, 50
	for _, q := range []struct {
		name string
		v    *int
		max  int
	}{{"page", &page, 1 << 30}, {"per_page", &perPage, 1000}} {
		if raw := r.Query.Get(q.name); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 1 || n > q.max {
				return apiError(http.StatusBadRequest, "validation_failed", fmt.Sprintf("Bad Pagination Parameters: %s must be between 1 and %d", q.name, q.max))
			}
			*q.v = n
		}
	}
	filter := ""
	if f := strings.TrimSpace(storableText(r.Query.Get("filter"))); f != "" {
		filter = "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(f)) + "%"
	}
	b := &pgx.Batch{}
	b.Queue(tn.sql(`SELECT count(*) FROM @S@.users u WHERE $1::text = '' OR u.email LIKE $1::text`), filter)
	b.Queue(tn.sql(`SELECT `+userColumns+` FROM @S@.users u WHERE $1::text = '' OR u.email LIKE $1::text
ORDER BY u.created_at DESC, u.id LIMIT $2::bigint OFFSET $3::bigint`), filter, perPage, int64(page-1)*int64(perPage))
	br := tn.db.SendBatch(ctx, b)
	var total int64
	err := br.QueryRow().Scan(&total)
	var users []*User
	if err == nil {
		var rows pgx.Rows
		rows, err = br.Query()
		if err == nil {
			users, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*User, error) {
				u := &User{}
				err := row.Scan(userScanTargets(u)...)
				u.fixMetadata()
				return u, err
			})
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return s.internalError(tn, "list the users", err)
	}
	list, err := s.usersJSON(ctx, tn, users)
	if err != nil {
		return s.internalError(tn, "list the users", err)
	}
	resp := jsonResponse(http.StatusOK, map[string]any{"users": list, "aud": "authenticated"})
	resp.Header.Set("X-Total-Count", strconv.FormatInt(total, 10))
	if total > 0 {
		last := (total + int64(perPage) - 1) / int64(perPage)
		link := func(p int64, rel string) string {
			return fmt.Sprintf(`<%s/admin/users?page=%d&per_page=%d>; rel="%s"`, r.BaseURL, p, perPage, rel)
		}
		var links []string
		if int64(page) < last {
			links = append(links, link(int64(page)+1, "next"))
		}
		links = append(links, link(last, "last"))
		resp.Header.Set("Link", strings.Join(links, ", "))
	}
	return resp
}

// adminUserParams are the attributes of POST /admin/users and PUT /admin/users/{id}.
type adminUserParams struct {
	Email        *string        `json:"email"`
	Phone        string         `json:"phone"`
	Password     *string        `json:"password"`
	EmailConfirm bool           `json:"email_confirm"`
	UserMetadata map[string]any `json:"user_metadata"`
	AppMetadata  map[string]any `json:"app_metadata"`
	BanDuration  string         `json:"ban_duration"`
}

// banUntil reads ban_duration: "" leaves the ban as it is (set false), "none" lifts it,
// a Go duration ("24h", "30m") bans from now.
func (s *Service) banUntil(d string) (set bool, until *time.Time, resp *Response) {
	switch d {
	case "":
		return false, nil, nil
	case "none":
		return true, nil, nil
	}
	dur, err := time.ParseDuration(d)
	if err != nil || dur < 0 {
		return false, nil, apiError(http.StatusBadRequest, "validation_failed", "invalid format for ban duration: "+d)
	}
	t := s.now().Add(dur)
	return true, &t, nil
}

// handleAdminCreateUser answers POST /admin/users: a user with an email, confirmed when
// email_confirm says so, and no mail sent.
func (s *Service) handleAdminCreateUser(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	if resp := requireService(r); resp != nil {
		return resp
	}
	var p adminUserParams
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	if p.Email == nil || *p.Email == "" {
		if p.Phone != "" {
			return apiError(http.StatusBadRequest, "phone_provider_disabled", "Phone logins are disabled")
		}
		return apiError(http.StatusBadRequest, "validation_failed", "email is required")
	}
	email := normalizeEmail(*p.Email)
	if !validEmail(email) {
		return emailError()
	}
	password := ""
	if p.Password != nil && *p.Password != "" {
		if resp := s.checkPassword(tn, *p.Password); resp != nil {
			return resp
		}
		password = *p.Password
	}
	banSet, banned, resp := s.banUntil(p.BanDuration)
	if resp != nil {
		return resp
	}
	u, err := s.createUser(ctx, tn, newUser{Email: email, Password: password, Confirmed: p.EmailConfirm,
		AppMetadata: p.AppMetadata, UserMetadata: p.UserMetadata, Provider: "email"})
	if errors.Is(err, errExists) {
		return emailTaken()
	}
	if err != nil {
		return s.internalError(tn, "create the user", err)
	}
	if banSet && banned != nil {
		if _, err := tn.db.Exec(ctx, tn.sql(`UPDATE @S@.users SET banned_until = $2::timestamptz WHERE id = $1::uuid`), u.ID, banned); err != nil {
			return s.internalError(tn, "ban the user", err)
		}
	}
	s.audit(ctx, tn, r, "user_signedup", u.ID, u.Email, map[string]any{"provider": "email", "by": "admin"})
	return s.userAnswer(ctx, tn, u.ID)
}

// handleAdminGetUser answers GET /admin/users/{id}.
func (s *Service) handleAdminGetUser(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	if resp := requireService(r); resp != nil {
		return resp
	}
	id, resp := adminUserID(r)
	if resp != nil {
		return resp
	}
	u, err := s.userByID(ctx, tn, id)
	if errors.Is(err, errNotFound) {
		return userNotFound()
	}
	if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	uj, err := s.userJSON(ctx, tn, u)
	if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	return jsonResponse(http.StatusOK, uj)
}

// handleAdminUpdateUser answers PUT /admin/users/{id}: address (set as given, confirmed
// with email_confirm), password, metadata (merged; null removes a key), ban. A new
// password or a ban ends the user's sessions.
func (s *Service) handleAdminUpdateUser(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	if resp := requireService(r); resp != nil {
		return resp
	}
	id, resp := adminUserID(r)
	if resp != nil {
		return resp
	}
	var p adminUserParams
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	u, err := s.userByID(ctx, tn, id)
	if errors.Is(err, errNotFound) {
		return userNotFound()
	}
	if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	newEmail := ""
	if p.Email != nil && *p.Email != "" {
		if newEmail, resp = s.newAddress(ctx, tn, u, *p.Email); resp != nil {
			return resp
		}
	}
	var hash *string
	if p.Password != nil && *p.Password != "" {
		if resp := s.checkPassword(tn, *p.Password); resp != nil {
			return resp
		}
		h, err := hashPassword(*p.Password)
		if err != nil {
			return s.internalError(tn, "hash the password", err)
		}
		hash = &h
	}
	banSet, banned, resp := s.banUntil(p.BanDuration)
	if resp != nil {
		return resp
	}
	if newEmail != "" {
		if err := s.setEmail(ctx, tn, u.ID, newEmail, p.EmailConfirm); err != nil {
			if errors.Is(err, errExists) {
				return emailTaken()
			}
			return s.internalError(tn, "change the address", err)
		}
	}
	userSet, userRemove := metadataPatch(p.UserMetadata)
	appSet, appRemove := metadataPatch(p.AppMetadata)
	now := s.now()
	_, err = tn.db.Exec(ctx, tn.sql(`UPDATE @S@.users SET
  encrypted_password = coalesce($2::text, encrypted_password),
  raw_user_meta_data = CASE WHEN $3::boolean THEN (raw_user_meta_data || $4::jsonb) - $5::text[] ELSE raw_user_meta_data END,
  raw_app_meta_data = CASE WHEN $6::boolean THEN (raw_app_meta_data || $7::jsonb) - $8::text[] ELSE raw_app_meta_data END,
  email_confirmed_at = CASE WHEN $9::boolean THEN coalesce(email_confirmed_at, $12::timestamptz) ELSE email_confirmed_at END,
  banned_until = CASE WHEN $10::boolean THEN $11::timestamptz ELSE banned_until END,
  updated_at = $12::timestamptz
WHERE id = $1::uuid`), u.ID, hash, p.UserMetadata != nil, userSet, userRemove,
		p.AppMetadata != nil, appSet, appRemove, p.EmailConfirm, banSet, banned, now)
	if err != nil {
		return s.internalError(tn, "update the user", err)
	}
	if hash != nil || banned != nil {
		if _, err := tn.db.Exec(ctx, tn.sql(`DELETE FROM @S@.sessions WHERE user_id = $1::uuid`), u.ID); err != nil {
			return s.internalError(tn, "end the user's sessions", err)
		}
	}
	s.audit(ctx, tn, r, "user_modified", u.ID, u.Email, map[string]any{"by": "admin"})
	return s.userAnswer(ctx, tn, u.ID)
}

// handleAdminDeleteUser answers DELETE /admin/users/{id}: the user, its identities,
// sessions and factors go. should_soft_delete is accepted and deletes all the same: the
// store keeps no deleted users.
func (s *Service) handleAdminDeleteUser(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	if resp := requireService(r); resp != nil {
		return resp
	}
	id, resp := adminUserID(r)
	if resp != nil {
		return resp
	}
	var p struct {
		ShouldSoftDelete bool `json:"should_soft_delete"`
	}
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	var email *string
	err := tn.db.QueryRow(ctx, tn.sql(`DELETE FROM @S@.users WHERE id = $1::uuid RETURNING email`), id).Scan(&email)
	if errors.Is(err, pgx.ErrNoRows) {
		return userNotFound()
	}
	if err != nil {
		return s.internalError(tn, "delete the user", err)
	}
	actorEmail := ""
	if email != nil {
		actorEmail = *email
	}
	s.audit(ctx, tn, r, "user_deleted", id, actorEmail, map[string]any{"by": "admin"})
	return jsonResponse(http.StatusOK, map[string]any{})
}

// handleAdminListFactors answers GET /admin/users/{id}/factors.
func (s *Service) handleAdminListFactors(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	if resp := requireService(r); resp != nil {
		return resp
	}
	id, resp := adminUserID(r)
	if resp != nil {
		return resp
	}
	if _, err := s.userByID(ctx, tn, id); errors.Is(err, errNotFound) {
		return userNotFound()
	} else if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	factors, err := s.userFactors(ctx, tn, id)
	if err != nil {
		return s.internalError(tn, "list the factors", err)
	}
	out := make([]map[string]any, len(factors))
	for i, f := range factors {
		out[i] = f.json()
	}
	return jsonResponse(http.StatusOK, out)
}

// handleAdminDeleteFactor answers DELETE /admin/users/{id}/factors/{factor}: the factor
// goes, and the sessions it raised to aal2 fall back to aal1.
func (s *Service) handleAdminDeleteFactor(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	if resp := requireService(r); resp != nil {
		return resp
	}
	id, resp := adminUserID(r)
	if resp != nil {
		return resp
	}
	fid := pathSegment(r, 4)
	if !validUUID(fid) {
		return apiError(http.StatusNotFound, "validation_failed", "factor_id must be an UUID")
	}
	var f factorRow
	err := tn.db.QueryRow(ctx, tn.sql(`WITH f AS (
  DELETE FROM @S@.mfa_factors WHERE id = $2::uuid AND user_id = $1::uuid RETURNING *
), s AS (
  UPDATE @S@.sessions SET aal = 'aal1', factor_id = NULL, updated_at = $3::timestamptz
  WHERE factor_id IN (SELECT id FROM f)
)
SELECT `+factorColumns+` FROM f`), id, fid, s.now()).
		Scan(&f.ID, &f.FriendlyName, &f.FactorType, &f.Status, &f.CreatedAt, &f.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return apiError(http.StatusNotFound, "mfa_factor_not_found", "Factor not found")
	}
	if err != nil {
		return s.internalError(tn, "delete the factor", err)
	}
	s.audit(ctx, tn, r, "factor_unenrolled", id, "", map[string]any{"factor_id": f.ID, "by": "admin"})
	return jsonResponse(http.StatusOK, f.json())
}

// linkKinds maps generate_link's types to the one-time token kind and the verify type of
// the link.
var linkKinds = map[string]struct{ kind, verifyType string }{
	"signup":               {"confirmation", "signup"},
	"invite":               {"invite", "invite"},
	"magiclink":            {"magiclink", "magiclink"},
	"recovery":             {"recovery", "recovery"},
	"email_change_current": {"email_change_current", "email_change"},
	"email_change_new":     {"email_change_new", "email_change"},
}

// handleGenerateLink answers POST /admin/generate_link: the link (and code) a mail would
// carry, for the application to send itself. signup, invite and magiclink create the
// user when there is none; recovery and the email changes need one.
func (s *Service) handleGenerateLink(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	if resp := requireService(r); resp != nil {
		return resp
	}
	if r.BaseURL == "" {
		return noBaseURL()
	}
	var p struct {
		Type       string         `json:"type"`
		Email      string         `json:"email"`
		NewEmail   string         `json:"new_email"`
		Password   string         `json:"password"`
		Data       map[string]any `json:"data"`
		RedirectTo string         `json:"redirect_to"`
		// auth-js spreads its options into the body, so redirectTo arrives as named there
		// (and as the redirect_to query parameter).
		RedirectToJS string `json:"redirectTo"`
	}
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	lk, ok := linkKinds[p.Type]
	if !ok {
		return apiError(http.StatusBadRequest, "validation_failed", "Invalid email action link type requested: "+p.Type)
	}
	email := normalizeEmail(p.Email)
	if !validEmail(email) {
		return emailError()
	}
	want := r.Query.Get("redirect_to")
	if want == "" {
		want = p.RedirectTo
	}
	if want == "" {
		want = p.RedirectToJS
	}
	redirectTo := s.redirectTo(tn, want)

	u, err := s.userByEmail(ctx, tn, email)
	if err != nil && !errors.Is(err, errNotFound) {
		return s.internalError(tn, "look the user up", err)
	}
	relatesTo := email
	switch p.Type {
	case "signup", "invite":
		if u != nil && u.EmailConfirmedAt != nil {
			return emailTaken()
		}
	case "recovery", "email_change_current", "email_change_new":
		if u == nil {
			return userNotFound()
		}
	}
	if p.Type == "email_change_current" || p.Type == "email_change_new" {
		newEmail, resp := s.newAddress(ctx, tn, u, p.NewEmail)
		if resp != nil {
			return resp
		}
		if newEmail == "" {
			return apiError(http.StatusUnprocessableEntity, "email_address_not_provided", "new_email must differ from the user's address")
		}
		if p.Type == "email_change_new" {
			relatesTo = newEmail
		}
		if _, err := tn.db.Exec(ctx, tn.sql(`UPDATE @S@.users SET email_change = $2::text, updated_at = $3::timestamptz
WHERE id = $1::uuid`), u.ID, newEmail, s.now()); err != nil {
			return s.internalError(tn, "record the new address", err)
		}
	}
	if u == nil {
		if p.Password != "" {
			if resp := s.checkPassword(tn, p.Password); resp != nil {
				return resp
			}
		}
		u, err = s.createUser(ctx, tn, newUser{Email: email, Password: p.Password, UserMetadata: p.Data,
			Provider: "email", Invited: p.Type == "invite"})
		if errors.Is(err, errExists) {
			return emailTaken()
		}
		if err != nil {
			return s.internalError(tn, "create the user", err)
		}
		action := "user_signedup"
		if p.Type == "invite" {
			action = "user_invited"
		}
		s.audit(ctx, tn, r, action, u.ID, u.Email, map[string]any{"provider": "email", "by": "admin"})
	}
	code, hashed, err := s.newOneTimeToken(ctx, tn, u.ID, lk.kind, relatesTo, redirectTo)
	if err != nil {
		return s.internalError(tn, "create the link's token", err)
	}
	u, err = s.userByID(ctx, tn, u.ID)
	if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	body, err := s.userJSON(ctx, tn, u)
	if err != nil {
		return s.internalError(tn, "load the user", err)
	}
	q := url.Values{"token": {hashed}, "type": {lk.verifyType}, "redirect_to": {redirectTo}}
	body["action_link"] = r.BaseURL + "/verify?" + q.Encode()
	body["email_otp"] = code
	body["hashed_token"] = hashed
	body["verification_type"] = lk.verifyType
	body["redirect_to"] = redirectTo
	return jsonResponse(http.StatusOK, body)
}

// handleInvite answers POST /invite {email, data}: a user invited by mail (created when
// there is none; an unconfirmed one is invited again).
func (s *Service) handleInvite(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	if resp := requireService(r); resp != nil {
		return resp
	}
	var p struct {
		Email string         `json:"email"`
		Data  map[string]any `json:"data"`
	}
	if resp := decodeBody(r, &p); resp != nil {
		return resp
	}
	email := normalizeEmail(p.Email)
	if !validEmail(email) {
		return emailError()
	}
	redirectTo := s.redirectTo(tn, r.Query.Get("redirect_to"))
	u, err := s.userByEmail(ctx, tn, email)
	created := false
	switch {
	case errors.Is(err, errNotFound):
		u, err = s.createUser(ctx, tn, newUser{Email: email, UserMetadata: p.Data, Provider: "email", Invited: true})
		if errors.Is(err, errExists) {
			return emailTaken()
		}
		if err != nil {
			return s.internalError(tn, "create the user", err)
		}
		created = true
	case err != nil:
		return s.internalError(tn, "look the user up", err)
	case u.EmailConfirmedAt != nil:
		return emailTaken()
	}
	if resp := s.sendInvite(ctx, tn, r, u, redirectTo); resp != nil {
		if created {
			s.dropUser(ctx, tn, u.ID)
		}
		return resp
	}
	// sendInvite audits user_invited.
	return s.userAnswer(ctx, tn, u.ID)
}
