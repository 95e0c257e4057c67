package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kapok-dev/kapok/control"
)

// Service is one process's Kapok Auth for every tenant it serves.
type Service struct {
	reg    *control.Registry
	log    *slog.Logger
	met    *Metrics
	opts   Options
	limits *limiter

	mu        sync.Mutex
	pools     map[string]*pgxpool.Pool // by login URL and exec mode
	installed map[string]bool          // by login URL and store schema
	signers   map[string]*signer       // by the signing key's PEM
	oauth     *oauthProviders
	closed    bool
}

// New builds a Service; nothing connects until a tenant's store is used.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &Service{reg: o.Registry, log: o.Logger, met: o.Metrics, opts: o, limits: newLimiter(),
		pools: map[string]*pgxpool.Pool{}, installed: map[string]bool{}, signers: map[string]*signer{},
		oauth: newOAuthProviders(o)}
}

// now is the Service's clock, truncated to PostgreSQL's precision so that a time written
// and read back compares equal.
func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// Enabled reports whether t has Kapok Auth (auth.users in its configuration).
func (s *Service) Enabled(t *control.Tenant) bool {
	return t != nil && t.Config != nil && t.Config.Auth != nil && t.Config.Auth.Users != nil
}

// Close closes the stores' connections. Requests still in flight fail.
func (s *Service) Close() {
	s.mu.Lock()
	pools := s.pools
	s.pools = map[string]*pgxpool.Pool{}
	s.installed = map[string]bool{}
	s.closed = true
	s.mu.Unlock()
	for _, p := range pools {
		p.Close()
	}
}

// Prepare installs t's store and the SQL helpers (auth.uid() …) in its database, so that
// they exist before a migration's policy names them. It does nothing for a tenant without
// Kapok Auth.
func (s *Service) Prepare(ctx context.Context, t *control.Tenant) error {
	if !s.Enabled(t) {
		return nil
	}
	_, err := s.store(ctx, t)
	return err
}

// store returns the pool of t's database with t's store installed.
func (s *Service) store(ctx context.Context, t *control.Tenant) (*pgxpool.Pool, error) {
	cfg := s.reg.Config()
	schema := control.AuthSchema(t.Config)
	if err := cfg.CheckManaged(t.Config, "Kapok Auth (its store, schema "+schema+")"); err != nil {
		return nil, err
	}
	url := cfg.LoginURL(t.Config)
	pool, err := s.pool(ctx, url, t.ExecMode)
	if err != nil {
		return nil, err
	}
	key := url + "\x00" + schema
	s.mu.Lock()
	done := s.installed[key]
	s.mu.Unlock()
	if done {
		return pool, nil
	}
	// One simple-protocol round trip is one transaction: the advisory locks taken first
	// keep replicas installing the same store from colliding.
	script := storeScript(pgx.Identifier{schema}.Sanitize(), schema) + helpersSQL
	if _, err := pool.Exec(ctx, script, pgx.QueryExecModeSimpleProtocol); err != nil {
		return nil, fmt.Errorf("auth: install the store %s: %w", schema, err)
	}
	s.mu.Lock()
	s.installed[key] = true
	s.mu.Unlock()
	return pool, nil
}

// pool returns the pool for url, through the pooler as Kapok's own login.
func (s *Service) pool(ctx context.Context, url, execMode string) (*pgxpool.Pool, error) {
	key := url + "\x00" + execMode
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("auth: the service is closed")
	}
	if p := s.pools[key]; p != nil {
		return p, nil
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("auth: database url: %w", err)
	}
	// Behind PgBouncer in transaction mode there are no prepared statements; every
	// parameter here is cast, so describing them is enough.
	switch execMode {
	case "cache_statement":
		pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	case "exec":
		pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	default:
		pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	pcfg.MaxConns = 8
	pcfg.MinConns = 0
	pcfg.MaxConnIdleTime = time.Minute
	pcfg.ConnConfig.RuntimeParams["application_name"] = "kapok-auth"
	p, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.pools[key] = p
	return p, nil
}

// handler answers one endpoint.
type handler func(s *Service, ctx context.Context, tn *tenantCtx, r *Request) *Response

// route is one endpoint: a method and a path whose "*" segments match any one segment.
type route struct {
	method, path string
	// name labels the endpoint in metrics.
	name string
	h    handler
	// configOnly endpoints read the tenant's configuration and never its store.
	configOnly bool
}

// routes are the GoTrue endpoints auth-js calls, below /auth/v1.
var routes = []route{
	{method: "GET", path: "/settings", name: "settings", h: (*Service).handleSettings, configOnly: true},
	{method: "GET", path: "/.well-known/jwks.json", name: "jwks", h: (*Service).handleJWKS, configOnly: true},
	{method: "POST", path: "/signup", name: "signup", h: (*Service).handleSignup},
	{method: "POST", path: "/token", name: "token", h: (*Service).handleToken},
	{method: "GET", path: "/user", name: "user", h: (*Service).handleGetUser},
	{method: "PUT", path: "/user", name: "user", h: (*Service).handleUpdateUser},
	{method: "POST", path: "/logout", name: "logout", h: (*Service).handleLogout},

	{method: "GET", path: "/verify", name: "verify", h: (*Service).serveVerify},
	{method: "POST", path: "/verify", name: "verify", h: (*Service).serveVerify},
	{method: "POST", path: "/otp", name: "otp", h: (*Service).serveOTP},
	{method: "POST", path: "/magiclink", name: "magiclink", h: (*Service).serveMagicLink},
	{method: "POST", path: "/recover", name: "recover", h: (*Service).serveRecover},
	{method: "POST", path: "/resend", name: "resend", h: (*Service).serveResend},
	{method: "GET", path: "/reauthenticate", name: "reauthenticate", h: (*Service).serveReauthenticate},

	{method: "GET", path: "/authorize", name: "authorize", h: (*Service).oauthAuthorize},
	{method: "GET", path: "/callback", name: "callback", h: (*Service).oauthCallback},
	{method: "POST", path: "/callback", name: "callback", h: (*Service).oauthCallback},

	{method: "POST", path: "/factors", name: "factors", h: (*Service).handleFactors},
	{method: "POST", path: "/factors/*/challenge", name: "factors", h: (*Service).handleFactors},
	{method: "POST", path: "/factors/*/verify", name: "factors", h: (*Service).handleFactors},
	{method: "DELETE", path: "/factors/*", name: "factors", h: (*Service).handleFactors},

	{method: "GET", path: "/admin/users", name: "admin_users", h: (*Service).handleAdminListUsers},
	{method: "POST", path: "/admin/users", name: "admin_users", h: (*Service).handleAdminCreateUser},
	{method: "GET", path: "/admin/users/*", name: "admin_user", h: (*Service).handleAdminGetUser},
	{method: "PUT", path: "/admin/users/*", name: "admin_user", h: (*Service).handleAdminUpdateUser},
	{method: "DELETE", path: "/admin/users/*", name: "admin_user", h: (*Service).handleAdminDeleteUser},
	{method: "GET", path: "/admin/users/*/factors", name: "admin_factors", h: (*Service).handleAdminListFactors},
	{method: "DELETE", path: "/admin/users/*/factors/*", name: "admin_factors", h: (*Service).handleAdminDeleteFactor},
	{method: "POST", path: "/admin/generate_link", name: "generate_link", h: (*Service).handleGenerateLink},
	{method: "POST", path: "/invite", name: "invite", h: (*Service).handleInvite},
}

// match finds the route of method and path: nil and whether the path exists with another
// method.
func match(method, path string) (rt *route, pathKnown bool) {
	for i := range routes {
		if !pathMatches(routes[i].path, path) {
			continue
		}
		pathKnown = true
		if routes[i].method == method {
			return &routes[i], true
		}
	}
	return nil, pathKnown
}

func pathMatches(pattern, path string) bool {
	for {
		pp, prest, pmore := strings.Cut(strings.TrimPrefix(pattern, "/"), "/")
		sp, srest, smore := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		if pp != sp && (pp != "*" || sp == "") {
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, path = prest, srest
	}
}

// pathSegment is the i-th segment of r's path ("/admin/users/x": 0 "admin", 2 "x").
func pathSegment(r *Request, i int) string {
	segs := strings.Split(strings.Trim(r.Path, "/"), "/")
	if i < len(segs) {
		return segs[i]
	}
	return ""
}

// Serve answers one request of t's /auth/v1. It never panics: a bug answers 500
// unexpected_failure and is logged.
func (s *Service) Serve(ctx context.Context, t *control.Tenant, r *Request) (resp *Response) {
	endpoint := "unknown"
	defer func() {
		if p := recover(); p != nil {
			name := ""
			if t != nil {
				name = t.Name
			}
			s.log.Error("kapok auth: panic", "tenant", name, "method", r.Method, "path", r.Path,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp = apiError(http.StatusInternalServerError, "unexpected_failure", "Kapok Auth failed to answer")
		}
		if resp == nil {
			s.log.Error("kapok auth: no answer", "method", r.Method, "path", r.Path)
			resp = apiError(http.StatusInternalServerError, "unexpected_failure", "Kapok Auth failed to answer")
		}
		s.met.request(endpoint, resp.Status)
	}()
	if !s.Enabled(t) {
		return notEnabled()
	}
	path := r.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	rt, known := match(r.Method, path)
	if rt == nil {
		if known {
			return apiError(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+path)
		}
		return apiError(http.StatusNotFound, "not_found", "Kapok Auth has no endpoint "+path)
	}
	endpoint = rt.name
	var (
		tn   *tenantCtx
		fail *Response
	)
	if rt.configOnly {
		tn, fail = s.tenantConfig(t)
	} else {
		tn, fail = s.tenantCtx(ctx, t)
	}
	if fail != nil {
		return fail
	}
	return rt.h(s, ctx, tn, r)
}

// handleFactors serves /factors…: mfa.go's serveFactors reads the rest of the path.
func (s *Service) handleFactors(ctx context.Context, tn *tenantCtx, r *Request) *Response {
	return s.serveFactors(ctx, tn, r, strings.TrimPrefix(r.Path, "/factors"))
}
