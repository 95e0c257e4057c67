package control

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTheShippedConfigLoadsAndNormalizes(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "configs", "kapok.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	if cfg.DefaultTenant != "demo" || len(cfg.Tenants) != 3 {
		t.Fatalf("unexpected tenants: default %q, %d tenants", cfg.DefaultTenant, len(cfg.Tenants))
	}
	if n := cfg.Tenants[2]; n.Name != "notes" || n.Auth == nil || n.Auth.Users == nil || n.Auth.AuthenticatedRole != "notes_user" ||
		n.Auth.Users.SMTP.Port != 54325 {
		t.Errorf("tenant notes: %+v", n)
	}
	demo := cfg.Tenants[0]
	if got := cfg.PoolerURL(demo); !strings.Contains(got, ":64320/kapok") {
		t.Errorf("demo pooler URL = %s", got)
	}
	if demo.Limits.StatementTimeout.D() != 10*time.Second || demo.Pool.QueueTimeout.D() != 2*time.Second {
		t.Errorf("limits not inherited: %+v %+v", demo.Limits, demo.Pool)
	}
	if cfg.Metrics.MaxTenantLabels != 100 || cfg.Tracing.OTLPEndpoint != "" || cfg.Tracing.SampleRatio != 0.01 || cfg.SlowQuery.D() != time.Second {
		t.Errorf("observability settings: %+v %+v slow_query %v", cfg.Metrics, cfg.Tracing, cfg.SlowQuery)
	}
}

func TestObservabilityDefaults(t *testing.T) {
	cfg := &Config{}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.MaxTenantLabels != 100 || cfg.Tracing.SampleRatio != 0.01 || cfg.SlowQuery.D() != time.Second {
		t.Errorf("defaults: %+v %+v slow_query %v", cfg.Metrics, cfg.Tracing, cfg.SlowQuery)
	}
	off := &Config{SlowQuery: Duration(-time.Second), Metrics: MetricsConfig{MaxTenantLabels: -1}}
	if err := off.Normalize(); err != nil {
		t.Fatal(err)
	}
	if off.SlowQuery.D() >= 0 || off.Metrics.MaxTenantLabels >= 0 {
		t.Errorf("an explicit \"off\" was replaced by a default: %+v slow_query %v", off.Metrics, off.SlowQuery)
	}
}

func TestProcsIsReadAndNeverNegative(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kapok.yaml")
	write := func(procs string) {
		body := "procs: " + procs + "\nupstreams:\n  default:\n    url: postgres://u@h:1/d\ntenants:\n  - name: a\n    schemas: [a]\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("1")
	cfg, err := LoadConfig(path)
	if err == nil {
		err = cfg.Normalize()
	}
	if err != nil || cfg.Procs != 1 {
		t.Fatalf("procs %d, %v", cfg.Procs, err)
	}
	write("-2")
	cfg, err = LoadConfig(path)
	if err == nil {
		err = cfg.Normalize()
	}
	if err == nil || !strings.Contains(err.Error(), "procs -2 is negative") {
		t.Errorf("procs -2: %v", err)
	}
}

func TestTenancyDefaultsLoadUpToAHundredTenantsEagerlyAndNeverHibernate(t *testing.T) {
	cases := []struct {
		name      string
		in        TenancyConfig
		eager     int
		hibernate time.Duration
	}{
		{"unset gives the defaults", TenancyConfig{}, 100, 0},
		{"a negative eager_load_max stays: always lazy", TenancyConfig{EagerLoadMax: -1}, -1, 0},
		{"explicit values stay", TenancyConfig{EagerLoadMax: 5, HibernateAfter: Duration(time.Hour)}, 5, time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{Tenancy: tc.in}
			if err := cfg.Normalize(); err != nil {
				t.Fatal(err)
			}
			if cfg.Tenancy.EagerLoadMax != tc.eager || cfg.Tenancy.HibernateAfter.D() != tc.hibernate {
				t.Fatalf("tenancy %+v, want eager_load_max %d, hibernate_after %s", cfg.Tenancy, tc.eager, tc.hibernate)
			}
		})
	}
}

func TestDropInServesOneDatabaseAsTheDefaultTenant(t *testing.T) {
	cfg := &Config{}
	cfg.DropIn("postgres://u@db:5432/app", "postgres://u@bouncer:6432/app", []string{"public", "api"})
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	d := cfg.Tenants[0]
	if cfg.DefaultTenant != "default" || d.Name != "default" || d.Schemas[1] != "api" {
		t.Fatalf("drop-in config: %+v %+v", cfg, d)
	}
	if cfg.PoolerURL(d) != "postgres://u@bouncer:6432/app" || cfg.DirectURL(d) != "postgres://u@db:5432/app" {
		t.Fatalf("urls: %s %s", cfg.PoolerURL(d), cfg.DirectURL(d))
	}
}

func TestDatabaseModeTenantsGetTheirOwnDatabase(t *testing.T) {
	cfg := &Config{Upstreams: map[string]*Upstream{"u": {URL: "postgres://p@h:1/main?sslmode=disable", Pooler: "postgres://p@h:2/main"}}}
	cfg.Tenants = []*TenantConfig{{Name: "shop", Mode: "database", Database: "shop_db"}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	tc := cfg.Tenants[0]
	if got := cfg.DirectURL(tc); got != "postgres://p@h:1/shop_db?sslmode=disable" {
		t.Errorf("direct = %s", got)
	}
	if got := cfg.PoolerURL(tc); got != "postgres://p@h:2/shop_db" {
		t.Errorf("pooler = %s", got)
	}
	if tc.Schemas[0] != "public" {
		t.Errorf("schemas = %v", tc.Schemas)
	}
}

func TestBadConfigsAreRefusedWithAReason(t *testing.T) {
	cases := map[string]string{
		"tenant name not DNS-safe":     "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: Bad_Name}]",
		"unknown mode":                 "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: a, mode: cluster}]",
		"unknown upstream":             "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: a, upstream: v}]",
		"duplicate tenant":             "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: a}, {name: a}]",
		"default tenant missing":       "default_tenant: nope\nupstreams: {u: {url: 'postgres://x@y/z'}}",
		"bad exec mode":                "upstreams: {u: {url: 'postgres://x@y/z', exec_mode: fast}}",
		"unknown key":                  "listen: x\nlisten_port: 1",
		"bad duration":                 "schema_poll: soon",
		"database mode without db":     "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: a, mode: database}]",
		"wire cert without key":        "wire: {tls_cert_file: server.pem}",
		"unknown wire upstream":        "wire: {upstream: bouncer}",
		"negative wire conns":          "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: a, limits: {max_wire_connections: -1}}]",
		"wire listen without port":     "wire_listen: 127.0.0.1",
		"tiny wire messages":           "wire: {max_message_bytes: 10}",
		"sample ratio above 1":         "tracing: {otlp_endpoint: 'http://127.0.0.1:4318', sample_ratio: 2}",
		"endpoint without scheme":      "tracing: {otlp_endpoint: 'collector:4318'}",
		"trusted proxy not an address": "trusted_proxies: [lb.internal]",
		"public url without scheme":    "public_url: api.example.com",
		"public url with a query":      "public_url: 'https://api.example.com/?x=1'",
		"external url with credentials": "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: a, auth: {jwt_secret: 0123456789abcdef0123456789abcdef, " +
			"authenticated_role: a_user, users: {external_url: 'https://u:p@login.example.com/auth/v1'}}}]",
		"cors origin with a path":  "cors: {allowed_origins: ['https://app.example.com/app']}",
		"negative hibernate_after": "tenancy: {hibernate_after: -1s}",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k.yaml")
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(p)
			if err == nil {
				err = cfg.Normalize()
			}
			if err == nil {
				t.Fatalf("config accepted:\n%s", body)
			}
		})
	}
}

func TestEnvironmentOverridesTheFile(t *testing.T) {
	cfg := &Config{Listen: "a:1"}
	env := map[string]string{"KAPOK_LISTEN": "b:2", "KAPOK_UPSTREAM": "postgres://e@f/g", "KAPOK_SCHEMAS": "x, y"}
	applyEnv(cfg, func(k string) string { return env[k] })
	if cfg.Listen != "b:2" || cfg.Upstreams["default"].URL != "postgres://e@f/g" || cfg.Tenants[0].Schemas[1] != "y" {
		t.Fatalf("env not applied: %+v", cfg)
	}
}

func TestTenantNamesAreDNSLabels(t *testing.T) {
	for name, ok := range map[string]bool{"demo": true, "a-b-1": true, "1a": true, "": false, "-a": false, "a-": false, "A": false, "a_b": false, "a.b": false, strings.Repeat("a", 64): false} {
		if ValidTenantName(name) != ok {
			t.Errorf("ValidTenantName(%q) = %v", name, !ok)
		}
	}
}

func TestDropInOnlyReadsTheDatabaseUnlessManaged(t *testing.T) {
	for _, c := range []struct {
		name         string
		manage       bool
		role         string
		wantManaged  bool
		wantRole     string
		wantErrorHas string
	}{
		{name: "a plain --upstream is read-only", wantManaged: false},
		{name: "--manage lets Kapok create its objects", manage: true, wantManaged: true},
		{name: "--role names the role requests run as", role: "app_reader", wantRole: "app_reader"},
		{name: "--role refuses Kapok's own tenant roles", role: "kapok_t_other", wantErrorHas: "reserved"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{}
			cfg.DropIn("postgres://u@db:5432/app", "", nil)
			if err := cfg.ManageDropIn(c.manage, c.role); err != nil {
				t.Fatal(err)
			}
			err := cfg.Normalize()
			if c.wantErrorHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErrorHas) {
					t.Fatalf("Normalize = %v, want an error with %q", err, c.wantErrorHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Upstreams["default"].Managed(); got != c.wantManaged {
				t.Errorf("managed = %v, want %v", got, c.wantManaged)
			}
			tc := cfg.Tenants[0]
			if tc.Role != c.wantRole {
				t.Errorf("role = %q, want %q", tc.Role, c.wantRole)
			}
			err = cfg.CheckManaged(tc, "creating a tenant")
			if c.wantManaged != (err == nil) || (err != nil && (!errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "--manage"))) {
				t.Errorf("CheckManaged = %v", err)
			}
		})
	}
	t.Run("an upstream of a config file is managed unless it says manage: false", func(t *testing.T) {
		cfg := &Config{Upstreams: map[string]*Upstream{"u": {URL: "postgres://x@y/z"}}}
		if !cfg.Upstreams["u"].Managed() {
			t.Error("a config file's upstream is not managed")
		}
	})
}

func TestTheWirePortAllowsPlainTextOnlyOnLoopbackUnlessTold(t *testing.T) {
	for _, c := range []struct {
		listen string
		set    *bool
		want   bool
	}{
		{"127.0.0.1:6543", nil, true},
		{"[::1]:6543", nil, true},
		{"localhost:6543", nil, true},
		{"0.0.0.0:6543", nil, false},
		{":6543", nil, false},
		{"10.1.2.3:6543", nil, false},
		{"0.0.0.0:6543", new(true), true},
		{"127.0.0.1:6543", new(false), false},
	} {
		cfg := &Config{WireListen: c.listen}
		cfg.Wire.AllowPlaintext = c.set
		if err := cfg.Normalize(); err != nil {
			t.Fatal(err)
		}
		if got := cfg.Wire.Plaintext(); got != c.want {
			t.Errorf("wire_listen %s, allow_plaintext %v: plaintext = %v, want %v", c.listen, c.set, got, c.want)
		}
	}
}

func TestWireDefaults(t *testing.T) {
	cfg := &Config{Upstreams: map[string]*Upstream{"u": {URL: "postgres://x@y/z"}}, Tenants: []*TenantConfig{{Name: "a"}, {Name: "b", Limits: &Limits{MaxWireConnections: 7}}}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	w := cfg.Wire
	if w.MaxClientConns != 10000 || w.MaxMessageBytes != 64<<20 || w.MaxPreparedPerServer != 1000 || w.Upstream != WireDirect ||
		w.StartupTimeout.D() != 10*time.Second || w.IdleInTransactionTimeout.D() != time.Minute {
		t.Errorf("wire defaults: %+v", w)
	}
	if a, b := cfg.Tenants[0].Limits.MaxWireConnections, cfg.Tenants[1].Limits.MaxWireConnections; a != 100 || b != 7 {
		t.Errorf("max_wire_connections = %d, %d; want 100, 7", a, b)
	}
}

func TestTheTLSSectionIsCheckedAndFilled(t *testing.T) {
	base := func(tls TLSConfig) *Config {
		return &Config{Upstreams: map[string]*Upstream{"u": {URL: "postgres://p@h:1/db"}}, TLS: tls}
	}
	acme := func(a ACMEConfig) *ACMEConfig { return &a }
	for _, c := range []struct {
		name string
		tls  TLSConfig
		err  string
	}{
		{"a certificate without its key is refused", TLSConfig{CertFile: "c.pem"}, "go together"},
		{"a redirect without HTTPS is refused", TLSConfig{RedirectHTTP: ":8081"}, "needs HTTPS"},
		{"a redirect address without a port is refused", TLSConfig{CertFile: "c", KeyFile: "k", RedirectHTTP: "example.com"}, "not host:port"},
		{"files and ACME together are refused", TLSConfig{CertFile: "c", KeyFile: "k", ACME: acme(ACMEConfig{Domains: []string{"a.example"}, CacheDir: "d"})}, "exclude each other"},
		{"ACME without domains is refused", TLSConfig{ACME: acme(ACMEConfig{CacheDir: "d"})}, "domains is required"},
		{"a wildcard domain is refused", TLSConfig{ACME: acme(ACMEConfig{Domains: []string{"*.example.com"}, CacheDir: "d"})}, "no port, path or wildcard"},
		{"a domain without a dot is refused", TLSConfig{ACME: acme(ACMEConfig{Domains: []string{"localhost"}, CacheDir: "d"})}, "with a dot"},
		{"ACME without a cache is refused", TLSConfig{ACME: acme(ACMEConfig{Domains: []string{"a.example"}})}, "cache_dir is required"},
		{"a plain HTTP directory is refused", TLSConfig{ACME: acme(ACMEConfig{Domains: []string{"a.example"}, CacheDir: "d", DirectoryURL: "http://ca.example/dir"})}, "not an https URL"},
		{"files with a redirect are accepted", TLSConfig{CertFile: "c", KeyFile: "k", RedirectHTTP: ":8081"}, ""},
		{"no TLS is accepted", TLSConfig{}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := base(c.tls).Normalize()
			if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("err = %v, want %q", err, c.err)
			}
		})
	}
	t.Run("ACME's challenge address and the reload interval have defaults", func(t *testing.T) {
		cfg := base(TLSConfig{ACME: acme(ACMEConfig{Domains: []string{"a.example"}, CacheDir: "d"})})
		if err := cfg.Normalize(); err != nil {
			t.Fatal(err)
		}
		if !cfg.TLS.Enabled() || cfg.TLS.ACME.HTTPChallengeAddr != ":80" || cfg.TLS.ReloadInterval.D() != 10*time.Second {
			t.Fatalf("tls = %+v, acme = %+v", cfg.TLS, cfg.TLS.ACME)
		}
	})
}

func TestConfigValuesReadTheEnvironmentWhereTheyNameIt(t *testing.T) {
	file := func(t *testing.T, body string) string {
		p := filepath.Join(t.TempDir(), "k.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const body = `# ${NOT_A_VALUE}: comments are not expanded
upstreams:
  main:
    url: ${KAPOK_T_DB_URL}
    pooler: postgres://kapok:${KAPOK_T_PASSWORD}@bouncer:6432/kapok
tenants:
  - name: app
    upstream: main
    auth:
      jwt_secret: "${KAPOK_T_JWT}"
      api_keys:
        ${KAPOK_T_KEY}: service_role
`
	t.Run("references in values and keys are replaced, whatever characters the secret holds", func(t *testing.T) {
		t.Setenv("KAPOK_T_DB_URL", "postgres://kapok:p@ss: #w0rd@db:5432/kapok?sslmode=require")
		t.Setenv("KAPOK_T_PASSWORD", "${KAPOK_T_JWT}")
		t.Setenv("KAPOK_T_JWT", "'quoted\" secret'")
		t.Setenv("KAPOK_T_KEY", "123")
		cfg, err := LoadConfig(file(t, body))
		if err != nil {
			t.Fatal(err)
		}
		u := cfg.Upstreams["main"]
		if u.URL != "postgres://kapok:p@ss: #w0rd@db:5432/kapok?sslmode=require" {
			t.Errorf("url = %q", u.URL)
		}
		if u.Pooler != "postgres://kapok:${KAPOK_T_JWT}@bouncer:6432/kapok" {
			t.Errorf("pooler = %q: a value read from the environment is not expanded again", u.Pooler)
		}
		a := cfg.Tenants[0].Auth
		if a.JWTSecret != `'quoted" secret'` || a.APIKeys["123"] != "service_role" {
			t.Errorf("auth = %q, %v", a.JWTSecret, a.APIKeys)
		}
	})
	t.Run("an unset variable is an error naming it and its line", func(t *testing.T) {
		t.Setenv("KAPOK_T_DB_URL", "postgres://x@y/z")
		os.Unsetenv("KAPOK_T_PASSWORD")
		_, err := LoadConfig(file(t, body))
		if err == nil || !strings.Contains(err.Error(), "line 5: ${KAPOK_T_PASSWORD}: environment variable KAPOK_T_PASSWORD is not set") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a number cannot be a reference", func(t *testing.T) {
		t.Setenv("KAPOK_T_PORT", "25")
		_, err := LoadConfig(file(t, "tenants:\n  - name: a\n    auth:\n      users:\n        smtp:\n          port: ${KAPOK_T_PORT}\n"))
		if err == nil || !strings.Contains(err.Error(), "line 6") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("an unknown key is still reported at its line", func(t *testing.T) {
		_, err := LoadConfig(file(t, "listen: ${UNSET_BUT_NOT_REACHED}\n\nlisten_port: 1\n"))
		if err == nil || !strings.Contains(err.Error(), "line 3: field listen_port not found") {
			t.Fatalf("err = %v", err)
		}
	})
}
