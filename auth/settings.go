package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kapok-dev/kapok/control"
)

// tenantCtx is one request's tenant: its Kapok Auth settings with the defaults applied,
// and its store.
type tenantCtx struct {
	t      *control.Tenant
	cfg    control.UsersConfig // with defaults applied
	auth   *control.AuthConfig
	schema string // quoted store schema, e.g. "kapok_auth_demo"
	db     *pgxpool.Pool
}

// Defaults of UsersConfig's zero values.
const (
	defaultJWTExpiry            = time.Hour
	defaultRefreshReuseInterval = 10 * time.Second
	defaultPasswordMinLength    = 6
	defaultOTPExpiry            = time.Hour
	defaultOTPLength            = 6
	defaultMaxFactors           = 10

	defaultSignInPerIP      = 30
	defaultSignInPerAccount = 10
	defaultEmailSent        = 100
	defaultOTPPerIP         = 30
	defaultTokenRefresh     = 150
)

// usersConfig returns the tenant's UsersConfig with every zero value replaced by its
// default. The maps and slices are shared with the configuration: callers only read them.
func usersConfig(tc *control.TenantConfig) control.UsersConfig {
	var c control.UsersConfig
	if tc.Auth != nil && tc.Auth.Users != nil {
		c = *tc.Auth.Users
	}
	dur := func(d *control.Duration, def time.Duration) {
		if *d <= 0 {
			*d = control.Duration(def)
		}
	}
	num := func(n *int, def int) {
		if *n == 0 {
			*n = def
		}
	}
	dur(&c.JWTExpiry, defaultJWTExpiry)
	dur(&c.RefreshReuseInterval, defaultRefreshReuseInterval)
	dur(&c.OTPExpiry, defaultOTPExpiry)
	num(&c.PasswordMinLength, defaultPasswordMinLength)
	num(&c.OTPLength, defaultOTPLength)
	num(&c.RateLimits.SignInPerIP, defaultSignInPerIP)
	num(&c.RateLimits.SignInPerAccount, defaultSignInPerAccount)
	num(&c.RateLimits.EmailSent, defaultEmailSent)
	num(&c.RateLimits.OTPPerIP, defaultOTPPerIP)
	num(&c.RateLimits.TokenRefresh, defaultTokenRefresh)
	num(&c.MFA.MaxFactors, defaultMaxFactors)
	if c.MFA.Issuer == "" {
		c.MFA.Issuer = tc.Name
	}
	return c
}

// tenantCtx resolves t's Kapok Auth: nil and a 404 when the tenant has none, a 500 when
// its store cannot be reached or installed.
func (s *Service) tenantCtx(ctx context.Context, t *control.Tenant) (*tenantCtx, *Response) {
	tn, resp := s.tenantConfig(t)
	if resp != nil {
		return nil, resp
	}
	db, err := s.store(ctx, t)
	if errors.Is(err, control.ErrConflict) {
		// An upstream Kapok only reads: the store cannot be created there.
		return nil, apiError(http.StatusNotFound, "not_found", err.Error())
	}
	if err != nil {
		return nil, s.internalError(tn, "reach its store", err)
	}
	tn.db = db
	return tn, nil
}

// tenantConfig is tenantCtx without the store, for the endpoints that read only the
// configuration (/settings, the JWKS).
func (s *Service) tenantConfig(t *control.Tenant) (*tenantCtx, *Response) {
	if !s.Enabled(t) {
		return nil, notEnabled()
	}
	return &tenantCtx{
		t:      t,
		cfg:    usersConfig(t.Config),
		auth:   t.Config.Auth,
		schema: pgx.Identifier{control.AuthSchema(t.Config)}.Sanitize(),
	}, nil
}

// notEnabled answers the requests of a tenant without Kapok Auth.
func notEnabled() *Response {
	return apiError(http.StatusNotFound, "not_found", "Kapok Auth is not enabled for this tenant (auth.users)")
}

// handleSettings answers GET /settings: what auth-js and Supabase's UI read to know which
// sign-in methods the tenant offers.
func (s *Service) handleSettings(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	external := map[string]bool{"email": true, "phone": false, "anonymous_users": false}
	for name, p := range tn.cfg.External {
		if p != nil {
			external[name] = true
		}
	}
	return jsonResponse(http.StatusOK, map[string]any{
		"external":           external,
		"disable_signup":     tn.cfg.DisableSignup,
		"mailer_autoconfirm": tn.cfg.Autoconfirm,
		"phone_autoconfirm":  false,
		"sms_provider":       "",
		"saml_enabled":       false,
	})
}
