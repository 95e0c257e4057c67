// Package testenv gives tests the dev stack's PostgreSQL (direct) and PgBouncer (pooled)
// endpoints and isolated schemas to work in. It is for tests only.
//
// The stack is the one `make test` starts (see internal/devstack). When it is not reachable a
// test fails with the command to run; it never skips, so a green run always means the tests
// ran against a real PostgreSQL behind a real PgBouncer.
package testenv

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults match internal/devstack; KAPOK_TEST_PG_URL and KAPOK_TEST_POOLER_URL override them.
const (
	defaultDirectURL = "postgres://postgres@127.0.0.1:54320/kapok?sslmode=disable"
	defaultPoolerURL = "postgres://postgres@127.0.0.1:64320/kapok?sslmode=disable"
)

// DirectURL is a superuser URL straight to PostgreSQL (for DDL, LISTEN, introspection).
func DirectURL() string { return env("KAPOK_TEST_PG_URL", defaultDirectURL) }

// PoolerURL is the same database through PgBouncer in transaction mode.
func PoolerURL() string { return env("KAPOK_TEST_POOLER_URL", defaultPoolerURL) }

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Conn opens a direct connection, closed when the test ends.
func Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, DirectURL())
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s: %v\nstart the dev stack with `make test` (or `go run ./cmd/kapok dev up`)", DirectURL(), err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// ConnTo opens a connection to url, closed when the test ends.
func ConnTo(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// Pool opens a pgxpool through PgBouncer, closed when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(PoolerURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = p.Ping(ctx)
	}
	if err != nil {
		t.Fatalf("PgBouncer is not reachable at %s: %v\nstart the dev stack with `make test` (or `go run ./cmd/kapok dev up`)", PoolerURL(), err)
	}
	t.Cleanup(p.Close)
	return p
}

// Exec runs sql on a direct connection and fails the test on error.
func Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	c := Conn(t)
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// FreshSchema drops and recreates schema name, runs ddl in it (search_path set to it) and
// drops it again when the test ends. Names must be unique per package, since packages'
// tests run in parallel against one database: prefix them with the package name.
func FreshSchema(t testing.TB, name, ddl string) {
	t.Helper()
	c := Conn(t)
	ctx := context.Background()
	q := pgx.Identifier{name}.Sanitize()
	if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+q+" CASCADE; CREATE SCHEMA "+q); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	if ddl != "" {
		if _, err := c.Exec(ctx, "SET search_path TO "+q+"; "+ddl+"; RESET search_path"); err != nil {
			t.Fatalf("ddl in schema %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), DirectURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+q+" CASCADE")
	})
}

// FreshDatabase creates (again) a database named name that only this test uses, so that
// no other package's tests see its objects or DDL notifications, and returns its direct
// URL; the database is dropped when the test ends.
func FreshDatabase(t testing.TB, name string) string {
	t.Helper()
	admin := Conn(t)
	q := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(context.Background(), "CREATE DATABASE "+q); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), DirectURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)")
	})
	u, err := url.Parse(DirectURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

var npmMu sync.Mutex

// NodeDir prepares a directory of JavaScript test tooling (package.json + package-lock.json
// committed, node_modules not): it runs `npm ci` when node_modules lacks module, and fails
// the test when node or npm is missing, since these checks are part of the suite.
func NodeDir(t testing.TB, dir, module string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required for the JavaScript client checks: %v", tool, err)
		}
	}
	npmMu.Lock()
	defer npmMu.Unlock()
	if _, err := os.Stat(filepath.Join(abs, "node_modules", module)); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = abs
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", abs, err, out)
		}
	}
	return abs
}

// DropTenant removes whatever a test's tenant of the control tables may have left, even
// after a failed test: its rows in kapok.tenants and kapok.migrations (other servers hear of
// it), its schema or database (named after the tenant, '-' as '_'), and its role (role, the
// tenant's control.TenantRole; testenv cannot import control).
func DropTenant(name, role string) {
	c, err := pgx.Connect(context.Background(), DirectURL())
	if err != nil {
		return
	}
	defer c.Close(context.Background())
	ctx := context.Background()
	obj := pgx.Identifier{strings.ReplaceAll(name, "-", "_")}.Sanitize()
	_, _ = c.Exec(ctx, "DELETE FROM kapok.tenants WHERE name = $1", name)
	_, _ = c.Exec(ctx, "DELETE FROM kapok.migrations WHERE tenant = $1", name)
	_, _ = c.Exec(ctx, "SELECT pg_notify('kapok_tenants', $1)", name)
	_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+obj+" CASCADE")
	_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+obj+" WITH (FORCE)")
	r := pgx.Identifier{role}.Sanitize()
	_, _ = c.Exec(ctx, "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "+quoteLiteral(role)+") THEN DROP OWNED BY "+r+"; DROP ROLE "+r+"; END IF; END $$")
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
