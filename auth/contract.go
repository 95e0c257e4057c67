package auth

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/kapok-dev/kapok/control"
)

// The package's files:
//
//	contract.go   the Service's surface (Options, Request, Response, Caller) and this map
//	service.go    Service, New, Serve's router, per-database pools, installing the store
//	schema.go     the store's DDL (storeSQL) and the SQL helpers auth.uid() … (helpersSQL)
//	settings.go   a tenant's UsersConfig with defaults (tenantCtx), GET /settings
//	respond.go    JSON answers and GoTrue's error body
//	users.go      users: load, create, update, the JSON Supabase returns for them
//	sessions.go   sessions, access tokens (JWT), refresh tokens with rotation and reuse
//	              detection, PKCE flow state
//	signup.go     POST /signup
//	token.go      POST /token?grant_type=password|refresh_token|pkce
//	user.go       GET/PUT /user, POST /logout
//	admin.go      /admin/users…, /admin/generate_link, /invite (service_role)
//	ratelimit.go  per-tenant, per-address and per-account limits
//	audit.go      the audit log
//	mail.go       SMTP sending, the mail templates
//	verify.go     GET/POST /verify, POST /otp, /magiclink, /recover, /resend, /reauthenticate
//	oauth.go      GET /authorize, GET|POST /callback: OAuth2 / OpenID Connect providers
//	mfa.go        /factors…: TOTP enroll, challenge, verify, unenroll
//	metrics.go    kapok_auth_* collectors

// Options configure a Service.
type Options struct {
	// Registry gives each tenant's configuration and the process's Config (upstreams).
	Registry *control.Registry
	Logger   *slog.Logger
	// Metrics may be nil (no metrics).
	Metrics *Metrics
	// Now is the clock (tests move it); nil: time.Now.
	Now func() time.Time
	// HTTPClient reaches OAuth providers; nil: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Mailer sends mails; nil: SMTP from each tenant's auth.users.smtp.
	Mailer Mailer
}

// Mailer sends one message. The default sends through the tenant's SMTP server.
type Mailer interface {
	Send(ctx context.Context, smtp *control.SMTPConfig, m *Mail) error
}

// Mail is one rendered message.
type Mail struct {
	From, To, Subject string
	HTML, Text        string
}

// Request is one call of the GoTrue API, already routed to its tenant by the proxy.
type Request struct {
	Method string
	// Path is below /auth/v1: "/signup", "/token", "/admin/users/<id>".
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// ClientIP is the client's address, for rate limits and the audit log.
	ClientIP netip.Addr
	// BaseURL is the external URL of the tenant's /auth/v1, without a trailing slash
	// (https://api.example.com/t/demo/auth/v1): links in mails and OAuth callbacks use it.
	// It comes from the configuration, never from what the client sent; "" when there is
	// none, and then the endpoints that make links refuse.
	BaseURL string
	// Caller is what the proxy made of the request's credentials.
	Caller Caller
}

// Caller is a request's credential as the proxy checked it (signature, expiry, tenant).
type Caller struct {
	// Service is true for the tenant's service_role key and Kapok's admin key: the
	// /admin endpoints are theirs.
	Service bool
	// Claims is the verified JWT payload of a bearer token, nil for API keys. A user's
	// access token carries sub and session_id.
	Claims []byte
	// Err is why a presented credential was refused ("" = none was, or it was good).
	// Endpoints that need a user answer 401 with it; the others ignore it.
	Err string
}

// Response is the answer to a Request.
type Response struct {
	Status int
	// Header holds Content-Type, Location (redirects) and Retry-After.
	Header http.Header
	Body   []byte
}
