package control

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is Kapok's configuration: configs/kapok.yaml, overridden by KAPOK_* environment
// variables and then by command-line flags.
type Config struct {
	// Listen is the HTTP address (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// WireListen is the Postgres wire-protocol address (default 127.0.0.1:6543).
	WireListen string `yaml:"wire_listen"`
	// DefaultTenant serves requests that name no tenant ("" = such requests get 404).
	DefaultTenant string `yaml:"default_tenant"`
	// AdminKey grants full access to every tenant and to the admin API. It also closes
	// the tenants with no auth section: they answer the admin key only (unless
	// OpenWithoutAuth).
	AdminKey string `yaml:"admin_key"`
	// OpenWithoutAuth keeps the tenants with no auth section open although AdminKey is
	// set: `kapok dev` serves with a key of its own for the admin API and the console,
	// and the demo tenants stay open as they are without a key. Not read from the file.
	OpenWithoutAuth bool `yaml:"-"`
	// AdminAllowCIDRs restricts the admin API to these client addresses (empty = anyone
	// holding the admin key).
	AdminAllowCIDRs []string `yaml:"admin_allow_cidrs"`
	// TrustedProxies lists the load balancers and proxies in front of Kapok (addresses or
	// CIDRs). A request from one of them is taken to come from the address its
	// X-Forwarded-For names: the last one that is not itself a trusted proxy. That address
	// is what allow lists, Kapok Auth's per-address limits and its audit log see. Empty:
	// X-Forwarded-For is ignored, since any client can send it.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ControlUpstream names the upstream whose database holds the control tables (schema
	// kapok): tenants and migrations created through the admin API. Default: "default",
	// else the first upstream by name.
	ControlUpstream string `yaml:"control_upstream"`
	// Upstreams are the Postgres clusters tenants live on, by name.
	Upstreams map[string]*Upstream `yaml:"upstreams"`
	// Tenants served from the file (the control tables may add more).
	Tenants []*TenantConfig `yaml:"tenants"`
	// Pools holds process-wide pool limits.
	Pools PoolsConfig `yaml:"pools"`
	// Tenancy says when tenants' catalogs are loaded and when they are given back.
	Tenancy TenancyConfig `yaml:"tenancy"`
	// Limits are the defaults for every tenant; a tenant may override them.
	Limits Limits `yaml:"limits"`
	// SchemaPoll is the fingerprint poll interval used when no event trigger can be installed.
	SchemaPoll Duration `yaml:"schema_poll"`
	// ReloadDebounce groups DDL notifications arriving close together (default 100ms).
	ReloadDebounce Duration `yaml:"reload_debounce"`
	// Log level: debug, info, warn, error.
	LogLevel string `yaml:"log_level"`
	// Events tunes the delivery of event triggers and scheduled events (package events).
	Events EventsConfig `yaml:"events"`
	// Wire tunes the Postgres wire-protocol port (package wire) on WireListen.
	Wire WireConfig `yaml:"wire"`
	// Upgrade is where `kapok upgrade` looks for releases and the key they must be signed with.
	Upgrade UpgradeConfig `yaml:"upgrade"`
	// TLS serves Listen over HTTPS, from certificate files or with certificates obtained by
	// ACME.
	TLS TLSConfig `yaml:"tls"`
	// Metrics tunes /metrics.
	Metrics MetricsConfig `yaml:"metrics"`
	// PublicURL is the URL clients reach Kapok at (https://api.example.com), behind any load
	// balancer: links Kapok mails and OAuth callbacks are built on it, never on a request's
	// Host header, which a client chooses. Unset, only a loopback Host (a development
	// machine) is trusted for them.
	PublicURL string `yaml:"public_url"`
	// CORS says which web pages may call the tenant APIs from a browser.
	CORS CORSConfig `yaml:"cors"`
	// Tracing exports a span per request by OTLP; off while OTLPEndpoint is empty.
	Tracing TracingConfig `yaml:"tracing"`
	// SlowQuery logs a request whose statements took at least this long in the tenant
	// pool, with their SQL and never their values (default 1s; negative: never).
	SlowQuery Duration `yaml:"slow_query"`
	// Procs is how many threads run Kapok's Go code at once (Go's GOMAXPROCS); 0, the
	// default, leaves Go's choice: every CPU the process may use. The GOMAXPROCS
	// environment variable, when set, wins. A Kapok that mostly relays the wire port on a
	// machine it shares with PostgreSQL spends less CPU per transaction with 1, like
	// PgBouncer's single thread: the Go scheduler then never wakes a second thread for a
	// relay's few microseconds of work.
	Procs int `yaml:"procs"`
}

// CORSConfig answers browsers' cross-origin checks on the tenant APIs (REST, GraphQL,
// Kapok Auth, the documents); the admin API never allows another origin.
type CORSConfig struct {
	// AllowedOrigins lists the origins whose pages may call the tenant APIs:
	// "https://app.example.com", "http://localhost:5173", "https://*.example.com" (any
	// subdomain), or "*" (any origin). Unset: any origin, as PostgREST, Hasura and
	// Supabase allow by default.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// Disabled sends no CORS headers at all: browsers then refuse cross-origin calls.
	Disabled bool `yaml:"disabled"`
	// MaxAge is how long a browser may reuse a preflight's answer (default 24h; browsers
	// cap it, Chromium at 2h).
	MaxAge Duration `yaml:"max_age"`
}

// normalize checks the origins and sets the defaults.
func (c *CORSConfig) normalize() error {
	if c.MaxAge <= 0 {
		c.MaxAge = Duration(24 * time.Hour)
	}
	if len(c.AllowedOrigins) == 0 {
		c.AllowedOrigins = []string{"*"}
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		host := ""
		if err == nil {
			host = strings.TrimPrefix(u.Host, "*.")
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || host == "" || strings.Contains(host, "*") ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.ToLower(o) != o {
			return fmt.Errorf("cors.allowed_origins: %q is not an origin like https://app.example.com, https://*.example.com or * (lower case, no path)", o)
		}
	}
	return nil
}

// TLSConfig serves the HTTP listener over HTTPS. Unset, it serves plain HTTP (a load
// balancer in front terminates TLS).
type TLSConfig struct {
	// CertFile and KeyFile (PEM: the chain, then its private key) are read again when they
	// change, so a renewed certificate needs no restart.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ReloadInterval is how often the files are looked at for a change (default 10s).
	ReloadInterval Duration `yaml:"reload_interval"`
	// RedirectHTTP is an address that answers every plain HTTP request with a 308 redirect
	// to the same URL over HTTPS ("" = none).
	RedirectHTTP string `yaml:"redirect_http"`
	// ACME obtains and renews the certificate from an ACME CA (Let's Encrypt by default)
	// instead of files.
	ACME *ACMEConfig `yaml:"acme"`
}

// ACMEConfig obtains certificates by ACME (RFC 8555) for a fixed list of domains.
type ACMEConfig struct {
	// Domains are the host names certificates are obtained for; a TLS handshake for any
	// other name is refused, so nobody can make Kapok ask the CA for names of their choice.
	Domains []string `yaml:"domains"`
	// Email is the account's contact, to which the CA sends expiry warnings (optional).
	Email string `yaml:"email"`
	// DirectoryURL is the CA's ACME directory ("" = Let's Encrypt production).
	DirectoryURL string `yaml:"directory_url"`
	// CacheDir keeps the account key and the certificates across restarts (required: without
	// it every restart would ask the CA again, into its rate limits). Replicas may share it.
	CacheDir string `yaml:"cache_dir"`
	// CARootsFile (PEM) is trusted, besides the system's roots, for the TLS of the ACME
	// server itself: a private CA's directory.
	CARootsFile string `yaml:"ca_roots_file"`
	// HTTPChallengeAddr answers HTTP-01 challenges, and redirects every other request to
	// HTTPS (default :80, where the CA connects). TLS-ALPN-01 challenges are answered on
	// Listen itself.
	HTTPChallengeAddr string `yaml:"http_challenge_addr"`
}

// Enabled reports whether Listen serves HTTPS.
func (t *TLSConfig) Enabled() bool { return t.CertFile != "" || t.ACME != nil }

// UpgradeConfig configures `kapok upgrade` (package internal/release): the release feed
// and the ed25519 public key (base64) every release must be signed with. Without a key,
// nothing is installed.
type UpgradeConfig struct {
	FeedURL   string `yaml:"feed_url"`
	PublicKey string `yaml:"public_key"`
}

// MetricsConfig bounds the cardinality of Kapok's per-tenant series.
type MetricsConfig struct {
	// MaxTenantLabels caps the tenants whose requests are counted under their own tenant
	// label (default 100; negative: none); the others are counted as tenant="other".
	MaxTenantLabels int `yaml:"max_tenant_labels"`
	// TenantLabels, when set, lists the only tenants that get their own label (still
	// within MaxTenantLabels); unset, tenants get one in the order they are first served.
	TenantLabels []string `yaml:"tenant_labels"`
}

// TracingConfig configures OpenTelemetry tracing.
type TracingConfig struct {
	// OTLPEndpoint is the OTLP/HTTP collector's URL (http://collector:4318; the path
	// defaults to /v1/traces). Empty: no tracing, at no cost to requests.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// SampleRatio is the share of requests without a sampled parent that are traced
	// (default 0.01); a request whose traceparent is sampled is always traced.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// WireConfig tunes the Postgres wire-protocol port.
type WireConfig struct {
	// Disabled keeps `kapok serve` from listening on wire_listen.
	Disabled bool `yaml:"disabled"`
	// TLSCertFile and TLSKeyFile (PEM) let clients use sslmode=require/verify-full; the
	// files are read again when they change, so a renewed certificate needs no restart.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// AllowPlaintext lets clients authenticate without TLS (their password, an API key or
	// JWT, then crosses the network in clear). Unset, it is true only when wire_listen is
	// a loopback address.
	AllowPlaintext *bool `yaml:"allow_plaintext"`
	// MaxClientConns caps client connections across all tenants (default 10000).
	MaxClientConns int `yaml:"max_client_conns"`
	// IdleInTransactionTimeout closes a client that holds a transaction open and idle this
	// long (default 60s), so it does not keep its server connection from other clients.
	IdleInTransactionTimeout Duration `yaml:"idle_in_transaction_timeout"`
	// StartupTimeout bounds the startup exchange: TLS, startup message and authentication
	// (default 10s).
	StartupTimeout Duration `yaml:"startup_timeout"`
	// MaxMessageBytes caps one protocol message from a client (default 64 MiB).
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxPreparedPerServer caps the prepared statements one server connection keeps
	// (default 1000); the least recently used is closed beyond it.
	MaxPreparedPerServer int `yaml:"max_prepared_per_server"`
	// Upstream is where server connections go: "direct" (the default and only mode:
	// straight to PostgreSQL, the upstream's url, so Kapok is the wire port's pooler and
	// knows each server connection's prepared statements and settings). Through a
	// transaction-mode pooler neither would survive between two of Kapok's own messages.
	Upstream string `yaml:"upstream"`
}

// WireDirect is the wire port's upstream mode (WireConfig.Upstream).
const WireDirect = "direct"

// Plaintext reports whether wire clients may authenticate without TLS.
func (w *WireConfig) Plaintext() bool { return w.AllowPlaintext != nil && *w.AllowPlaintext }

// TLS reports whether a certificate is configured for the wire port.
func (w *WireConfig) TLS() bool { return w.TLSCertFile != "" }

// EventsConfig tunes this process's webhook dispatcher.
type EventsConfig struct {
	// Disabled keeps this process from delivering events (triggers still record them, and
	// other replicas deliver them).
	Disabled bool `yaml:"disabled"`
	// Concurrency caps deliveries in flight in this process (default 16).
	Concurrency int `yaml:"concurrency"`
	// PollInterval is how often due events are looked for when no notification woke the
	// dispatcher first (default 1s).
	PollInterval Duration `yaml:"poll_interval"`
	// Retention is how long delivered events and their attempts are kept (default 168h;
	// dead events stay until redelivered or their tenant is deleted).
	Retention Duration `yaml:"retention"`
}

// TenantEvents is a tenant's policy for outgoing webhooks.
type TenantEvents struct {
	// WebhookAllowCIDRs lets webhooks reach addresses that are refused by default:
	// loopback, link-local (metadata services), private and other non-public ranges.
	WebhookAllowCIDRs []string `yaml:"webhook_allow_cidrs"`
}

// Upstream is one PostgreSQL cluster. URL is a direct connection (LISTEN, introspection,
// migrations: session features PgBouncer's transaction mode does not carry); Pooler is the
// PgBouncer in front of it that carries every request. Without Pooler, requests go direct.
type Upstream struct {
	URL    string `yaml:"url"`
	Pooler string `yaml:"pooler"`
	// ExecMode: cache_describe (default; PgBouncer < 1.21), cache_statement (direct, or
	// PgBouncer >= 1.21 with max_prepared_statements), exec.
	ExecMode string `yaml:"exec_mode"`
	// Manage lets Kapok create its own objects in this upstream's databases: the control
	// tables and template schema (schema kapok), the DDL event triggers, kapok_events, and
	// the tenant roles kapok_t_<tenant>. Without it Kapok only reads the catalog there and
	// refuses what would need those objects. Unset, an upstream of a config file is
	// managed, and the one `kapok serve --upstream` serves is not (--manage makes it so).
	Manage *bool `yaml:"manage"`
}

// Managed reports whether Kapok may create its objects in the upstream's databases.
func (u *Upstream) Managed() bool { return u.Manage == nil || *u.Manage }

// readOnlyError refuses what (an operation) in an upstream Kapok does not manage; it wraps
// ErrConflict, which the admin API answers with 409.
func readOnlyError(upstream, what string) error {
	return fmt.Errorf("%w: %s would create Kapok's objects in upstream %q, which Kapok only reads; "+
		"serve it with `kapok serve --manage`, or set `manage: true` on the upstream in the config file", ErrConflict, what, upstream)
}

// CheckManaged returns nil when Kapok may create its objects (what) in the tenant's
// upstream, else an error wrapping ErrConflict that says how to allow it.
func (c *Config) CheckManaged(tc *TenantConfig, what string) error {
	if u := c.Upstreams[tc.Upstream]; u != nil && !u.Managed() {
		return readOnlyError(tc.Upstream, what)
	}
	return nil
}

// TenantConfig describes one tenant.
type TenantConfig struct {
	Name string `yaml:"name"`
	// Mode is "schema" (own schemas in a shared database) or "database" (own database).
	Mode     string `yaml:"mode"`
	Upstream string `yaml:"upstream"`
	// Database overrides the upstream URL's database (database mode).
	Database string `yaml:"database"`
	// Schemas are the exposed schemas; the first is the default one.
	Schemas []string    `yaml:"schemas"`
	Pool    PoolConfig  `yaml:"pool"`
	Limits  *Limits     `yaml:"limits"`
	Auth    *AuthConfig `yaml:"auth"`
	// AllowCIDRs restricts client addresses ("" = anyone).
	AllowCIDRs []string `yaml:"allow_cidrs"`
	// Isolation is "role" (requests run as the tenant's own Postgres role, set per request;
	// the default for schema mode), "login" (the pool logs in as that role: no per-request
	// SET ROLE) or "none". See roles.go.
	Isolation string `yaml:"isolation"`
	// Events is the tenant's webhook policy (nil: public addresses only).
	Events *TenantEvents `yaml:"events"`
	// Role is an existing role, not a superuser, that the tenant's requests without a role
	// of their own run as, in place of the role Kapok would create (kapok_t_<tenant>). Kapok
	// neither creates nor grants it: its privileges are the database owner's business. It
	// is how a database Kapok does not manage is served through a superuser login.
	Role string `yaml:"role"`
}

// PoolConfig tunes a tenant's connection pool.
type PoolConfig struct {
	MaxConns     int32    `yaml:"max_conns"`
	MinIdleConns int32    `yaml:"min_idle_conns"`
	MaxInFlight  int      `yaml:"max_in_flight"`
	QueueTimeout Duration `yaml:"queue_timeout"`
	IdleTimeout  Duration `yaml:"idle_timeout"`
	// Weight is the tenant's share of a shared pool while tenants wait for it: served
	// Weight requests per turn (0 = 1). Only for isolation: role.
	Weight int `yaml:"weight"`
	// ShareReads: reads waiting for a connection run together, as one multiplexed
	// statement per shape and session, identical ones once (nil: pools.share_reads).
	ShareReads *bool `yaml:"share_reads"`
}

// PoolsConfig holds process-wide pool limits.
type PoolsConfig struct {
	// MaxPools caps open tenant pools; the least recently used one is closed beyond it.
	MaxPools int `yaml:"max_pools"`
	// IdleTimeout closes a tenant pool unused for this long.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxClients caps requests in flight across all tenants.
	MaxClients int `yaml:"max_clients"`
	// SharedMaxConns sizes the one pool per upstream that every tenant of isolation: role
	// draws on, taking turns when it is full (0: max(16, 8 × CPUs)). Each such tenant's
	// pool.max_conns caps its share of it.
	SharedMaxConns int32 `yaml:"shared_max_conns"`
	// ShareReads is every tenant's pool.share_reads unless it says otherwise (nil: true).
	ShareReads *bool `yaml:"share_reads"`
}

// TenancyConfig decides which tenants' catalogs stay in memory. A catalog is what a request
// is compiled against; introspecting thousands of them before answering anything would keep
// a process with many tenants from starting.
type TenancyConfig struct {
	// EagerLoadMax: Start loads every tenant's catalog before serving only when there are at
	// most this many tenants (default 100; negative: never). Beyond it a tenant is cold until
	// its first request, which loads it.
	EagerLoadMax int `yaml:"eager_load_max"`
	// HibernateAfter drops the catalog of a tenant no request used for this long, and what
	// the proxy built from it; its next request loads the catalog again (default 0: never).
	HibernateAfter Duration `yaml:"hibernate_after"`
	// UsageInterval is how often every tenant's storage (database bytes, rows read and
	// written) is measured, for the admin API, the metrics and limits.quota_database_bytes
	// (default 1m; negative: never).
	UsageInterval Duration `yaml:"usage_interval"`
	// SpareSchemas is how many schemas made from each template wait, per upstream, for the
	// next schema tenants, which get one renamed instead of replaying the template (default
	// 16, enough for a burst of creations while the fill catches up; negative: none). A
	// background fill replaces each one taken.
	SpareSchemas int `yaml:"spare_schemas"`
	// PgDump is the pg_dump that copies a moving tenant's structure (Store.MoveTenant;
	// pg_restore is taken from the same directory). Empty: pg_dump on PATH when it is at
	// least the server's version, else the server binaries' directory.
	PgDump string `yaml:"pg_dump"`
	// SchemaCacheMB bounds the GraphQL schemas kept for compiling requests the plan cache
	// does not hold, least recently used dropped first and built again when next needed
	// (default 64; negative: unbounded). Plans compiled already need none.
	SchemaCacheMB int `yaml:"schema_cache_mb"`
}

// ShareReads reports whether tc's reads may be batched and coalesced.
func (c *Config) ShareReads(tc *TenantConfig) bool {
	if tc.Pool.ShareReads != nil {
		return *tc.Pool.ShareReads
	}
	return c.Pools.ShareReads == nil || *c.Pools.ShareReads
}

// Limits guard against oversized or abusive requests.
type Limits struct {
	MaxBodyBytes     int      `yaml:"max_body_bytes"`
	MaxQueryLength   int      `yaml:"max_query_length"`
	MaxDepth         int      `yaml:"max_depth"`
	MaxRootFields    int      `yaml:"max_root_fields"`
	MaxLimit         int      `yaml:"max_limit"`
	MaxFields        int      `yaml:"max_fields"` // GraphQL fields once fragments are expanded
	MaxCost          int64    `yaml:"max_cost"`   // estimated row objects of a read: each list's limit (else max_limit) per parent row
	StatementTimeout Duration `yaml:"statement_timeout"`
	RequestTimeout   Duration `yaml:"request_timeout"`
	RateLimit        float64  `yaml:"rate_limit"` // requests per second, 0 = none
	RateBurst        int      `yaml:"rate_burst"`
	// GraphQL subscriptions: live ones per tenant and per WebSocket connection; a live
	// query's refreshes are at least SubscriptionInterval apart, and where no feed reports
	// changes (views, an upstream Kapok may not change) it is rerun every SubscriptionPoll.
	MaxSubscriptions              int      `yaml:"max_subscriptions"`
	MaxSubscriptionsPerConnection int      `yaml:"max_subscriptions_per_connection"`
	SubscriptionInterval          Duration `yaml:"subscription_interval"`
	SubscriptionPoll              Duration `yaml:"subscription_poll"`
	// MaxWireConnections caps the tenant's client connections on the wire port.
	MaxWireConnections int `yaml:"max_wire_connections"`
	// Supabase Realtime: channels one WebSocket connection may join, channel joins a second
	// and client messages (broadcast, presence) a second, per tenant and per Kapok process.
	RealtimeMaxChannels          int     `yaml:"realtime_max_channels"`
	RealtimeMaxJoinsPerSecond    float64 `yaml:"realtime_max_joins_per_second"`
	RealtimeMaxMessagesPerSecond float64 `yaml:"realtime_max_messages_per_second"`
	// Quotas: what a tenant may spend per QuotaWindow, counted by each Kapok process (0:
	// no quota). Over QuotaRequests or QuotaDBSeconds (time its statements spent in the
	// database) its requests are refused with 429 until the window ends; over
	// QuotaDatabaseBytes (its schemas' or database's size, measured every
	// tenancy.usage_interval) its writes are refused with 507 while reads and REST DELETE
	// go on, so it can make room.
	QuotaWindow        Duration `yaml:"quota_window"`
	QuotaRequests      int64    `yaml:"quota_requests"`
	QuotaDBSeconds     float64  `yaml:"quota_db_seconds"`
	QuotaDatabaseBytes int64    `yaml:"quota_database_bytes"`
}

// AuthConfig holds a tenant's credentials.
type AuthConfig struct {
	JWTSecret   string            `yaml:"jwt_secret"`
	JWKSURL     string            `yaml:"jwks_url"`
	JWTAudience string            `yaml:"jwt_audience"`
	RoleClaim   string            `yaml:"role_claim"`
	AnonRole    string            `yaml:"anon_role"`
	APIKeys     map[string]string `yaml:"api_keys"` // key -> role
	// AuthenticatedRole is the Postgres role of users signed in through Kapok Auth: their
	// tokens say role "authenticated", as Supabase's do, and run as this role (granted to
	// the tenant's role like anon_role). Required by Users.
	AuthenticatedRole string `yaml:"authenticated_role"`
	// Users turns on Kapok Auth for the tenant: /auth/v1, the GoTrue API of supabase.auth
	// (package auth). Nil: /auth/v1 answers 404.
	Users *UsersConfig `yaml:"users"`
}

// UsersConfig is a tenant's Kapok Auth: sign-up, sign-in, sessions, email, OAuth, MFA.
// Zero values take the defaults of DefaultUsers.
type UsersConfig struct {
	// SiteURL is where links in mails and OAuth sign-ins lead by default (GoTrue's
	// SITE_URL); RedirectURLs are the other redirect_to values allowed (exact URLs, or a
	// trailing "*" for any path below).
	SiteURL      string   `yaml:"site_url"`
	RedirectURLs []string `yaml:"redirect_urls"`
	// ExternalURL is this tenant's /auth/v1 as clients reach it
	// (https://notes.example.com/auth/v1; GoTrue's API_EXTERNAL_URL), for the links in mails
	// and the OAuth callback. Unset: public_url + /t/<tenant>/auth/v1.
	ExternalURL string `yaml:"external_url"`
	// DisableSignup refuses new users except through the admin API (service_role).
	DisableSignup bool `yaml:"disable_signup"`
	// Autoconfirm signs a new email user in at once, with no confirmation mail.
	Autoconfirm bool `yaml:"autoconfirm"`
	// JWTExpiry is the lifetime of an access token (default 1h).
	JWTExpiry Duration `yaml:"jwt_expiry"`
	// RefreshReuseInterval is how long a rotated refresh token may still be presented (a
	// client's concurrent refreshes) before its reuse revokes the session (default 10s).
	RefreshReuseInterval Duration `yaml:"refresh_reuse_interval"`
	// SessionTimebox ends a session this long after sign-in (0 = never).
	SessionTimebox Duration `yaml:"session_timebox"`
	// PasswordMinLength is the shortest password accepted (default 6).
	PasswordMinLength int `yaml:"password_min_length"`
	// SigningKey is a PEM private key (RSA or EC) to sign access tokens with (RS256/ES256,
	// published at /auth/v1/.well-known/jwks.json); empty: HS256 with auth.jwt_secret.
	SigningKey string `yaml:"signing_key"`
	// OTPExpiry bounds confirmation, magic-link, recovery and OTP codes (default 1h);
	// OTPLength is the digits of an emailed code (default 6).
	OTPExpiry Duration `yaml:"otp_expiry"`
	OTPLength int      `yaml:"otp_length"`
	// SMTP sends the tenant's mails; Templates override their subject and body.
	SMTP      SMTPConfig              `yaml:"smtp"`
	Templates map[string]MailTemplate `yaml:"templates"`
	// RateLimits bound sign-in attempts, codes and mails per tenant and per client address.
	RateLimits AuthRateLimits `yaml:"rate_limits"`
	// External are the OAuth2 / OpenID Connect providers, by name (google, github, or any
	// name with an issuer for discovery).
	External map[string]*OAuthProvider `yaml:"external"`
	// MFA tunes TOTP factors.
	MFA MFAConfig `yaml:"mfa"`
}

// SMTPConfig is an outgoing mail server. Host empty: mails are not sent, and the
// flows that need one (confirmation without autoconfirm, magic links, recovery) are refused.
type SMTPConfig struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	User string `yaml:"user"`
	Pass string `yaml:"pass"`
	// AdminEmail is the From address; SenderName its display name.
	AdminEmail string `yaml:"admin_email"`
	SenderName string `yaml:"sender_name"`
	// TLS: "starttls" (default when the server offers it), "tls" (implicit, port 465) or
	// "none" (only for a server on loopback, such as the dev stack's mail sink).
	TLS string `yaml:"tls"`
}

// MailTemplate overrides one mail (confirmation, invite, magic_link, recovery,
// email_change, reauthentication): Go text/template for the subject, html/template for
// the body, with .ConfirmationURL, .Token, .TokenHash, .SiteURL, .Email, .RedirectTo.
type MailTemplate struct {
	Subject string `yaml:"subject"`
	Body    string `yaml:"body"`
}

// AuthRateLimits are per hour unless named otherwise; 0 takes the default, -1 turns a
// limit off.
type AuthRateLimits struct {
	// SignInPerIP: password and OTP verification attempts per client address per 5 minutes
	// (default 30); SignInPerAccount: failed attempts per account per 5 minutes (default 10).
	SignInPerIP      int `yaml:"sign_in_per_ip"`
	SignInPerAccount int `yaml:"sign_in_per_account"`
	// EmailSent: mails per tenant per hour (default 100); OTPPerIP: codes requested per
	// client address per hour (default 30).
	EmailSent int `yaml:"email_sent"`
	OTPPerIP  int `yaml:"otp_per_ip"`
	// TokenRefresh: refreshes per client address per 5 minutes (default 150).
	TokenRefresh int `yaml:"token_refresh"`
}

// OAuthProvider is one OAuth2 / OpenID Connect provider of a tenant.
type OAuthProvider struct {
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// Issuer is an OpenID Connect issuer: its endpoints and keys come from
	// Issuer/.well-known/openid-configuration. google defaults to Google's issuer; github
	// is plain OAuth2 with GitHub's endpoints.
	Issuer string `yaml:"issuer"`
	// AuthURL, TokenURL and UserInfoURL override the endpoints (a GitHub Enterprise host).
	AuthURL     string   `yaml:"auth_url"`
	TokenURL    string   `yaml:"token_url"`
	UserInfoURL string   `yaml:"userinfo_url"`
	Scopes      []string `yaml:"scopes"`
}

// MFAConfig tunes multi-factor authentication.
type MFAConfig struct {
	// Disabled refuses enrolment (existing factors still verify).
	Disabled bool `yaml:"disabled"`
	// MaxFactors a user may enroll (default 10); Issuer names the TOTP account in
	// authenticator apps (default: the tenant's name).
	MaxFactors int    `yaml:"max_factors"`
	Issuer     string `yaml:"issuer"`
}

// Duration is a time.Duration written as "250ms", "10s", "5m" in YAML.
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings and plain integers (seconds).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	if secs, err := strconv.Atoi(s); err == nil {
		*d = Duration(time.Duration(secs) * time.Second)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 250ms, 10s, 5m)", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalYAML writes the duration as UnmarshalYAML reads it ("1.5s").
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// DefaultLimits are the limits applied when neither the file nor the tenant says otherwise.
var DefaultLimits = Limits{
	MaxBodyBytes:     1 << 20,
	MaxQueryLength:   64 << 10,
	MaxDepth:         15,
	MaxRootFields:    20,
	MaxLimit:         10000,
	MaxFields:        10000,
	MaxCost:          1_000_000_000,
	StatementTimeout: Duration(10 * time.Second),
	RequestTimeout:   Duration(30 * time.Second),

	MaxSubscriptions:              20000,
	MaxSubscriptionsPerConnection: 500,
	SubscriptionInterval:          Duration(100 * time.Millisecond),
	SubscriptionPoll:              Duration(time.Second),

	MaxWireConnections: 100,

	RealtimeMaxChannels:          100,
	RealtimeMaxJoinsPerSecond:    100,
	RealtimeMaxMessagesPerSecond: 1000,

	QuotaWindow: Duration(24 * time.Hour),
}

// tenantNameRE is a DNS label: tenants appear in host names and URL paths.
var tenantNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidTenantName reports whether name is DNS-safe.
func ValidTenantName(name string) bool { return tenantNameRE.MatchString(name) }

// LoadConfig reads path ("" = no file), replacing each ${NAME} in its string values by the
// environment variable NAME, and applies KAPOK_* environment overrides.
func LoadConfig(path string) (*Config, error) {
	cfg := &Config{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := decodeConfig(b, cfg, os.LookupEnv); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
	}
	applyEnv(cfg, os.Getenv)
	return cfg, nil
}

// applyEnv applies KAPOK_LISTEN, KAPOK_WIRE_LISTEN, KAPOK_DEFAULT_TENANT, KAPOK_ADMIN_KEY,
// KAPOK_UPSTREAM, KAPOK_POOLER, KAPOK_SCHEMAS, KAPOK_MANAGE, KAPOK_LOG_LEVEL.
func applyEnv(cfg *Config, getenv func(string) string) {
	set := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	set(&cfg.Listen, "KAPOK_LISTEN")
	set(&cfg.WireListen, "KAPOK_WIRE_LISTEN")
	set(&cfg.DefaultTenant, "KAPOK_DEFAULT_TENANT")
	set(&cfg.AdminKey, "KAPOK_ADMIN_KEY")
	set(&cfg.LogLevel, "KAPOK_LOG_LEVEL")
	up, pooler, schemas := getenv("KAPOK_UPSTREAM"), getenv("KAPOK_POOLER"), getenv("KAPOK_SCHEMAS")
	if up != "" || pooler != "" || schemas != "" {
		cfg.DropIn(up, pooler, splitList(schemas))
	}
	if m := getenv("KAPOK_MANAGE"); (m == "true" || m == "1") && cfg.Upstreams["default"] != nil {
		_ = cfg.ManageDropIn(true, "")
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// SplitList splits a comma-separated flag value.
func SplitList(s string) []string { return splitList(s) }

// DropIn makes the config serve one existing database as the default tenant "default"
// (the `kapok serve --upstream …` case). Empty arguments keep what is configured.
func (c *Config) DropIn(upstream, pooler string, schemas []string) {
	if c.Upstreams == nil {
		c.Upstreams = map[string]*Upstream{}
	}
	u := c.Upstreams["default"]
	if u == nil {
		u = &Upstream{}
		c.Upstreams["default"] = u
	}
	if upstream != "" {
		u.URL = upstream
	}
	if u.Manage == nil {
		// Somebody's existing database: read it, create nothing in it unless asked.
		manage := false
		u.Manage = &manage
	}
	if pooler != "" {
		u.Pooler = pooler
	}
	var t *TenantConfig
	for _, x := range c.Tenants {
		if x.Name == "default" {
			t = x
		}
	}
	if t == nil {
		// One database served as one tenant: there is no other tenant to keep it from, and
		// the user may not be allowed to create roles.
		t = &TenantConfig{Name: "default", Mode: "schema", Upstream: "default", Isolation: IsolationNone}
		c.Tenants = append(c.Tenants, t)
	}
	if len(schemas) > 0 {
		t.Schemas = schemas
	}
	if c.DefaultTenant == "" {
		c.DefaultTenant = "default"
	}
}

// ManageDropIn applies the --manage and --role flags to the database DropIn serves:
// manage lets Kapok create its objects there (control tables, event triggers, and for a
// superuser login the tenant's role); role names an existing role requests run as.
func (c *Config) ManageDropIn(manage bool, role string) error {
	u := c.Upstreams["default"]
	if u == nil {
		return errors.New("--manage and --role apply to the database of --upstream; in a config file, set `manage: true` on the upstream and `role` on the tenant")
	}
	if manage {
		u.Manage = &manage
	}
	if role != "" {
		for _, t := range c.Tenants {
			if t.Name == "default" {
				t.Role = role
			}
		}
	}
	return nil
}

// Normalize fills defaults and validates. It is idempotent.
func (c *Config) Normalize() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.WireListen == "" {
		c.WireListen = "127.0.0.1:6543"
	}
	if c.Pools.MaxPools == 0 {
		c.Pools.MaxPools = 1000
	}
	if c.Pools.IdleTimeout == 0 {
		c.Pools.IdleTimeout = Duration(5 * time.Minute)
	}
	if c.Pools.MaxClients == 0 {
		c.Pools.MaxClients = 10000
	}
	if c.Procs < 0 {
		return fmt.Errorf("procs %d is negative (0: every CPU the process may use)", c.Procs)
	}
	if c.Pools.SharedMaxConns < 0 {
		return fmt.Errorf("pools.shared_max_conns %d is negative", c.Pools.SharedMaxConns)
	}
	if c.Tenancy.EagerLoadMax == 0 {
		c.Tenancy.EagerLoadMax = 100
	}
	if c.Tenancy.SpareSchemas == 0 {
		c.Tenancy.SpareSchemas = 16
	}
	if c.Tenancy.SchemaCacheMB == 0 {
		c.Tenancy.SchemaCacheMB = 64
	}
	if c.Tenancy.UsageInterval == 0 {
		c.Tenancy.UsageInterval = Duration(time.Minute)
	}
	if c.Tenancy.HibernateAfter < 0 {
		return fmt.Errorf("tenancy.hibernate_after %s is negative (0 never hibernates)", c.Tenancy.HibernateAfter.D())
	}
	if c.SchemaPoll == 0 {
		c.SchemaPoll = Duration(2 * time.Second)
	}
	if c.ReloadDebounce == 0 {
		c.ReloadDebounce = Duration(100 * time.Millisecond)
	}
	if c.Events.Concurrency <= 0 {
		c.Events.Concurrency = 16
	}
	if c.Events.PollInterval <= 0 {
		c.Events.PollInterval = Duration(time.Second)
	}
	if c.Events.Retention <= 0 {
		c.Events.Retention = Duration(7 * 24 * time.Hour)
	}
	for _, p := range c.TrustedProxies {
		if _, err := ParseAddrOrPrefix(p); err != nil {
			return fmt.Errorf("trusted_proxies: %w", err)
		}
	}
	if c.PublicURL != "" {
		if err := checkBaseURL(c.PublicURL); err != nil {
			return fmt.Errorf("public_url: %w", err)
		}
		c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	}
	if err := c.CORS.normalize(); err != nil {
		return err
	}
	if c.Metrics.MaxTenantLabels == 0 {
		c.Metrics.MaxTenantLabels = 100
	}
	if c.Tracing.SampleRatio == 0 {
		c.Tracing.SampleRatio = 0.01
	}
	if c.Tracing.SampleRatio < 0 || c.Tracing.SampleRatio > 1 {
		return fmt.Errorf("tracing.sample_ratio %v is not between 0 and 1", c.Tracing.SampleRatio)
	}
	if e := c.Tracing.OTLPEndpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("tracing.otlp_endpoint %q is not an http(s) URL like http://collector:4318", e)
		}
	}
	if c.SlowQuery == 0 {
		c.SlowQuery = Duration(time.Second)
	}
	c.Limits = c.Limits.withDefaults(DefaultLimits)
	if err := c.normalizeWire(); err != nil {
		return err
	}
	if err := c.TLS.normalize(); err != nil {
		return err
	}
	for name, u := range c.Upstreams {
		if u == nil || u.URL == "" {
			return fmt.Errorf("upstream %q: url is required", name)
		}
		if _, err := url.Parse(u.URL); err != nil {
			return fmt.Errorf("upstream %q: %w", name, err)
		}
		switch u.ExecMode {
		case "":
			u.ExecMode = "cache_describe"
		case "cache_describe", "cache_statement", "exec":
		default:
			return fmt.Errorf("upstream %q: exec_mode %q is not one of cache_describe, cache_statement, exec", name, u.ExecMode)
		}
	}
	seen := map[string]bool{}
	for _, t := range c.Tenants {
		if err := c.NormalizeTenant(t); err != nil {
			return err
		}
		if seen[t.Name] {
			return fmt.Errorf("tenant %q is defined twice", t.Name)
		}
		seen[t.Name] = true
	}
	if c.DefaultTenant != "" && !seen[c.DefaultTenant] {
		return fmt.Errorf("default_tenant %q is not a configured tenant", c.DefaultTenant)
	}
	return nil
}

// defaultUpstream names the upstream of a tenant that names none: the only one
// configured, else "default".
func (c *Config) defaultUpstream() string {
	if len(c.Upstreams) == 1 {
		for name := range c.Upstreams {
			return name
		}
	}
	return "default"
}

// NormalizeTenant fills a tenant's defaults from c and validates it.
func (c *Config) NormalizeTenant(t *TenantConfig) error {
	if !ValidTenantName(t.Name) {
		return fmt.Errorf("tenant name %q is not DNS-safe (lowercase letters, digits and '-', at most 63)", t.Name)
	}
	switch t.Mode {
	case "":
		t.Mode = "schema"
	case "schema", "database":
	default:
		return fmt.Errorf("tenant %q: mode %q is not schema or database", t.Name, t.Mode)
	}
	if err := normalizeIsolation(t); err != nil {
		return err
	}
	if t.Role != "" && IsReservedRole(t.Role) {
		return fmt.Errorf("tenant %q: role %q is reserved (Kapok's kapok_t_* roles, pg_* roles, none, public...)", t.Name, t.Role)
	}
	if err := checkUsers(t); err != nil {
		return err
	}
	if t.Events != nil {
		for _, c := range t.Events.WebhookAllowCIDRs {
			if _, err := ParseAddrOrPrefix(c); err != nil {
				return fmt.Errorf("tenant %q: events.webhook_allow_cidrs: %w", t.Name, err)
			}
		}
	}
	if t.Upstream == "" {
		t.Upstream = c.defaultUpstream()
	}
	if c.Upstreams[t.Upstream] == nil {
		return fmt.Errorf("tenant %q: upstream %q is not configured", t.Name, t.Upstream)
	}
	if t.Mode == "database" && t.Database == "" {
		return fmt.Errorf("tenant %q: database mode needs `database`", t.Name)
	}
	if len(t.Schemas) == 0 {
		if t.Mode == "schema" && t.Database == "" && t.Name != "default" {
			t.Schemas = []string{t.Name}
		} else {
			t.Schemas = []string{"public"}
		}
	}
	if t.Pool.MaxConns == 0 {
		t.Pool.MaxConns = 10
	}
	if t.Pool.MaxInFlight == 0 {
		t.Pool.MaxInFlight = 512
	}
	if t.Pool.QueueTimeout == 0 {
		t.Pool.QueueTimeout = Duration(2 * time.Second)
	}
	if t.Pool.IdleTimeout == 0 {
		t.Pool.IdleTimeout = c.Pools.IdleTimeout
	}
	var l Limits
	if t.Limits != nil {
		l = *t.Limits
	}
	l = l.withDefaults(c.Limits.withDefaults(DefaultLimits))
	if t.Pool.Weight < 0 {
		return fmt.Errorf("tenant %q: pool.weight %d is negative", t.Name, t.Pool.Weight)
	}
	if l.QuotaWindow < 0 || l.QuotaRequests < 0 || l.QuotaDBSeconds < 0 || l.QuotaDatabaseBytes < 0 {
		return fmt.Errorf("tenant %q: limits.quota_* must not be negative (0: no quota)", t.Name)
	}
	if l.MaxWireConnections < 0 {
		return fmt.Errorf("tenant %q: limits.max_wire_connections %d is negative", t.Name, l.MaxWireConnections)
	}
	t.Limits = &l
	return nil
}

// checkUsers refuses Kapok Auth settings (auth.users) under which the tenant's users could
// not get a token the proxy accepts: their tokens say role "authenticated" and run as
// auth.authenticated_role, and they are signed with the tenant's shared secret or its
// signing key, for audience "authenticated".
func checkUsers(t *TenantConfig) error {
	a := t.Auth
	if a == nil || a.Users == nil {
		return nil
	}
	switch r := a.AuthenticatedRole; {
	case r == "":
		return fmt.Errorf("tenant %q: auth.users needs auth.authenticated_role, the Postgres role signed-in users' requests run as", t.Name)
	case IsReservedRole(r):
		return fmt.Errorf("tenant %q: auth.authenticated_role %q is reserved (Kapok's kapok_t_* roles, pg_* roles, none, public...)", t.Name, r)
	}
	if u := a.Users.ExternalURL; u != "" {
		if err := checkBaseURL(u); err != nil {
			return fmt.Errorf("tenant %q: auth.users.external_url: %w", t.Name, err)
		}
		a.Users.ExternalURL = strings.TrimSuffix(u, "/")
	}
	if k := a.Users.SigningKey; k != "" {
		if _, err := ParseSigningKey(k); err != nil {
			return fmt.Errorf("tenant %q: auth.users.signing_key: %w", t.Name, err)
		}
	} else if _, ok := SharedSecret(a); !ok {
		return fmt.Errorf("tenant %q: auth.users needs a key to sign its users' tokens: a shared auth.jwt_secret (HS256) or auth.users.signing_key (a PEM RSA or EC P-256 private key)", t.Name)
	}
	if aud := a.JWTAudience; aud != "" && aud != RoleAuthenticated {
		return fmt.Errorf("tenant %q: auth.jwt_audience %q would refuse the tokens of auth.users, whose audience is %q", t.Name, aud, RoleAuthenticated)
	}
	return nil
}

// checkBaseURL checks a URL that links are built on: http(s), a host, no query, fragment
// or credentials.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an http(s) URL like https://api.example.com", raw)
	}
	return nil
}

// normalize fills the tls section's defaults and checks it.
func (t *TLSConfig) normalize() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("tls: cert_file and key_file go together (a PEM certificate chain and its private key)")
	}
	if t.ReloadInterval < 0 {
		return fmt.Errorf("tls: reload_interval %s is negative", t.ReloadInterval.D())
	}
	if t.ReloadInterval == 0 {
		t.ReloadInterval = Duration(10 * time.Second)
	}
	if t.RedirectHTTP != "" {
		if _, _, err := net.SplitHostPort(t.RedirectHTTP); err != nil {
			return fmt.Errorf("tls: redirect_http %q is not host:port: %w", t.RedirectHTTP, err)
		}
	}
	a := t.ACME
	if a == nil {
		if t.RedirectHTTP != "" && t.CertFile == "" {
			return errors.New("tls: redirect_http needs HTTPS to redirect to: cert_file and key_file, or acme")
		}
		return nil
	}
	if t.CertFile != "" {
		return errors.New("tls: cert_file and acme exclude each other: the certificate comes from files or from the ACME CA")
	}
	if len(a.Domains) == 0 {
		return errors.New("tls.acme: domains is required: the host names to obtain certificates for")
	}
	for _, d := range a.Domains {
		if d == "" || strings.ContainsAny(d, ":/* ") || !strings.Contains(strings.Trim(d, "."), ".") {
			return fmt.Errorf("tls.acme: domain %q is not a host name with a dot (no port, path or wildcard)", d)
		}
	}
	if a.CacheDir == "" {
		return errors.New("tls.acme: cache_dir is required: the account key and certificates must outlive a restart (the CA limits how often it issues)")
	}
	if a.DirectoryURL != "" {
		if u, err := url.Parse(a.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("tls.acme: directory_url %q is not an https URL", a.DirectoryURL)
		}
	}
	if a.HTTPChallengeAddr == "" {
		a.HTTPChallengeAddr = ":80"
	}
	if _, _, err := net.SplitHostPort(a.HTTPChallengeAddr); err != nil {
		return fmt.Errorf("tls.acme: http_challenge_addr %q is not host:port: %w", a.HTTPChallengeAddr, err)
	}
	return nil
}

// normalizeWire fills the wire section's defaults and checks it.
func (c *Config) normalizeWire() error {
	w := &c.Wire
	if _, _, err := net.SplitHostPort(c.WireListen); err != nil && !w.Disabled {
		return fmt.Errorf("wire_listen %q is not host:port: %w", c.WireListen, err)
	}
	if (w.TLSCertFile == "") != (w.TLSKeyFile == "") {
		return errors.New("wire: tls_cert_file and tls_key_file go together (a PEM certificate chain and its private key)")
	}
	if w.AllowPlaintext == nil {
		loopback := loopbackListen(c.WireListen)
		w.AllowPlaintext = &loopback
	}
	for _, n := range []struct {
		name string
		v    *int
		def  int
	}{{"max_client_conns", &w.MaxClientConns, 10000}, {"max_message_bytes", &w.MaxMessageBytes, 64 << 20}, {"max_prepared_per_server", &w.MaxPreparedPerServer, 1000}} {
		switch {
		case *n.v == 0:
			*n.v = n.def
		case *n.v < 0:
			return fmt.Errorf("wire: %s %d is negative", n.name, *n.v)
		}
	}
	if w.MaxMessageBytes < 1024 {
		return fmt.Errorf("wire: max_message_bytes %d is too small for any client (at least 1024)", w.MaxMessageBytes)
	}
	for _, d := range []struct {
		name string
		v    *Duration
		def  time.Duration
	}{{"idle_in_transaction_timeout", &w.IdleInTransactionTimeout, time.Minute}, {"startup_timeout", &w.StartupTimeout, 10 * time.Second}} {
		switch {
		case *d.v == 0:
			*d.v = Duration(d.def)
		case *d.v < 0:
			return fmt.Errorf("wire: %s %s is negative", d.name, d.v.D())
		}
	}
	switch w.Upstream {
	case "":
		w.Upstream = WireDirect
	case WireDirect:
	default:
		return fmt.Errorf("wire: upstream %q is not supported: the wire port's server connections go straight to PostgreSQL (direct), "+
			"because a transaction-mode pooler such as PgBouncer 1.18 would not keep a session's settings and prepared statements between Kapok's messages", w.Upstream)
	}
	return nil
}

// loopbackListen reports whether addr (host:port) listens on a loopback address only.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && IsLoopbackHost(host)
}

// IsLoopbackHost reports whether host (a name or an address, IPv6 possibly in brackets,
// no port) is this machine: localhost or a loopback address.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (l Limits) withDefaults(d Limits) Limits {
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxQueryLength == 0 {
		l.MaxQueryLength = d.MaxQueryLength
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxRootFields == 0 {
		l.MaxRootFields = d.MaxRootFields
	}
	if l.MaxLimit == 0 {
		l.MaxLimit = d.MaxLimit
	}
	if l.MaxFields == 0 {
		l.MaxFields = d.MaxFields
	}
	if l.MaxCost == 0 {
		l.MaxCost = d.MaxCost
	}
	if l.StatementTimeout == 0 {
		l.StatementTimeout = d.StatementTimeout
	}
	if l.RequestTimeout == 0 {
		l.RequestTimeout = d.RequestTimeout
	}
	if l.RateLimit == 0 {
		l.RateLimit = d.RateLimit
	}
	if l.RateBurst == 0 {
		l.RateBurst = d.RateBurst
	}
	if l.MaxSubscriptions == 0 {
		l.MaxSubscriptions = d.MaxSubscriptions
	}
	if l.MaxSubscriptionsPerConnection == 0 {
		l.MaxSubscriptionsPerConnection = d.MaxSubscriptionsPerConnection
	}
	if l.SubscriptionInterval == 0 {
		l.SubscriptionInterval = d.SubscriptionInterval
	}
	if l.SubscriptionPoll == 0 {
		l.SubscriptionPoll = d.SubscriptionPoll
	}
	if l.MaxWireConnections == 0 {
		l.MaxWireConnections = d.MaxWireConnections
	}
	if l.RealtimeMaxChannels == 0 {
		l.RealtimeMaxChannels = d.RealtimeMaxChannels
	}
	if l.RealtimeMaxJoinsPerSecond == 0 {
		l.RealtimeMaxJoinsPerSecond = d.RealtimeMaxJoinsPerSecond
	}
	if l.RealtimeMaxMessagesPerSecond == 0 {
		l.RealtimeMaxMessagesPerSecond = d.RealtimeMaxMessagesPerSecond
	}
	if l.QuotaWindow == 0 {
		l.QuotaWindow = d.QuotaWindow
	}
	if l.QuotaRequests == 0 {
		l.QuotaRequests = d.QuotaRequests
	}
	if l.QuotaDBSeconds == 0 {
		l.QuotaDBSeconds = d.QuotaDBSeconds
	}
	if l.QuotaDatabaseBytes == 0 {
		l.QuotaDatabaseBytes = d.QuotaDatabaseBytes
	}
	return l
}

// ParseAddrOrPrefix reads a CIDR ("10.0.0.0/8") or a single address ("127.0.0.1").
func ParseAddrOrPrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// DirectURL is the tenant's direct (non-pooled) connection URL.
func (c *Config) DirectURL(t *TenantConfig) string {
	return withDatabase(c.Upstreams[t.Upstream].URL, t.Database)
}

// PoolerURL is the URL request traffic uses: through PgBouncer when one is configured.
// Under IsolationLogin it logs in as the tenant's own role.
func (c *Config) PoolerURL(t *TenantConfig) string {
	raw := c.LoginURL(t)
	if t.Isolation != IsolationLogin {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.User = url.User(t.OwnRole())
	return u.String()
}

// OpenTenant reports whether t answers requests without credentials: it has no auth
// section, and no admin key closes it (none is set, or OpenWithoutAuth).
func (c *Config) OpenTenant(t *TenantConfig) bool {
	return t.Auth == nil && (c.AdminKey == "" || c.OpenWithoutAuth)
}

// LoginURL is the pooler URL with the upstream's own login role, whatever the isolation.
func (c *Config) LoginURL(t *TenantConfig) string {
	u := c.Upstreams[t.Upstream]
	if u.Pooler == "" {
		return withDatabase(u.URL, t.Database)
	}
	return withDatabase(u.Pooler, t.Database)
}

func withDatabase(raw, db string) string {
	if db == "" {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}
