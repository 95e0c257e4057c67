package control

import (
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
	if cfg.DefaultTenant != "demo" || len(cfg.Tenants) != 2 {
		t.Fatalf("unexpected tenants: default %q, %d tenants", cfg.DefaultTenant, len(cfg.Tenants))
	}
	demo := cfg.Tenants[0]
	if got := cfg.PoolerURL(demo); !strings.Contains(got, ":64320/kapok") {
		t.Errorf("demo pooler URL = %s", got)
	}
	if demo.Limits.StatementTimeout.D() != 10*time.Second || demo.Pool.QueueTimeout.D() != 2*time.Second {
		t.Errorf("limits not inherited: %+v %+v", demo.Limits, demo.Pool)
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
		"tenant name not DNS-safe": "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: Bad_Name}]",
		"unknown mode":             "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: a, mode: cluster}]",
		"unknown upstream":         "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: a, upstream: v}]",
		"duplicate tenant":         "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: a}, {name: a}]",
		"default tenant missing":   "default_tenant: nope\nupstreams: {u: {url: 'postgres://x@y/z'}}",
		"bad exec mode":            "upstreams: {u: {url: 'postgres://x@y/z', exec_mode: fast}}",
		"unknown key":              "listen: x\nlisten_port: 1",
		"bad duration":             "schema_poll: soon",
		"database mode without db": "upstreams: {u: {url: 'postgres://x@y/z'}}\ntenants: [{name: a, mode: database}]",
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
