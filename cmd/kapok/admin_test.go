package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/proxy"
)

const cliKey = "admin-t-cli-key"

// cliServer serves Kapok with the control tables on a local port and returns its URL.
func cliServer(t *testing.T) string {
	t.Helper()
	// Registered first, so it runs after the server stopped (a reload in flight at the
	// tenant's deletion may re-create its role).
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		role := control.TenantRole(fmt.Sprintf("admin-t-cli-%d", os.Getpid()))
		_, _ = c.Exec(context.Background(), "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '"+role+
			"') THEN DROP OWNED BY "+pgx.Identifier{role}.Sanitize()+"; DROP ROLE "+pgx.Identifier{role}.Sanitize()+"; END IF; END $$")
	})
	cfg := &control.Config{AdminKey: cliKey, Upstreams: map[string]*control.Upstream{
		"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := control.NewRegistry(cfg, log)
	srv, err := proxy.New(proxy.Options{Config: cfg, Registry: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := control.OpenStore(context.Background(), reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		st.Close()
		reg.Close()
	})
	return "http://" + ln.Addr().String()
}

// kapok runs the CLI and returns its exit code and output.
func kapok(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCLIManagesTenantsAndMigrations(t *testing.T) {
	url := cliServer(t)
	// Unique per process: two runs of this package at once must not share a tenant.
	name := fmt.Sprintf("admin-t-cli-%d", os.Getpid())
	obj := strings.ReplaceAll(name, "-", "_")
	drop := func() { testenv.DropTenant(name, control.TenantRole(name)) }
	drop()
	t.Cleanup(drop)
	flags := []string{"--url", url, "--admin-key", cliKey}
	step := func(wantCode int, wantOut string, args ...string) string {
		t.Helper()
		code, out, errOut := kapok(append(args, flags...)...)
		if code != wantCode || !strings.Contains(squash(out+errOut), squash(wantOut)) {
			t.Fatalf("kapok %s: exit %d (want %d)\nstdout: %s\nstderr: %s\nwant output containing %q",
				strings.Join(args, " "), code, wantCode, out, errOut, wantOut)
		}
		return out
	}

	step(0, "created tenant "+name+" (schema "+obj+")", "tenant", "create", name)
	step(1, "already exists", "tenant", "create", name)
	step(1, "not DNS-safe", "tenant", "create", "Bad_Name")
	step(0, name, "tenant", "list")
	step(0, "schemas "+obj, "tenant", "show", name)
	step(3, "not found", "tenant", "show", "admin-t-nobody")
	if code, _, errOut := kapok("tenant", "list", "--url", url, "--admin-key", "wrong"); code != 1 || !strings.Contains(errOut, "invalid admin key") {
		t.Fatalf("wrong key: exit %d, %s", code, errOut)
	}

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"0001_priority.up.sql":   "ALTER TABLE todos ADD COLUMN priority int NOT NULL DEFAULT 3;",
		"0001_priority.down.sql": "ALTER TABLE todos DROP COLUMN priority;",
		"0002_tags.up.sql":       "CREATE TABLE tags (id int PRIMARY KEY, label text);",
		"0002_tags.down.sql":     "DROP TABLE tags;",
		"README.md":              "not a migration",
	})
	mig := []string{"--tenant", name, "--dir", dir}
	step(0, "0001_priority\tpending", append([]string{"migrate", "status"}, mig...)...)
	step(0, "dry run of 0001_priority", append([]string{"migrate", "up", "--dry-run"}, mig...)...)
	step(0, "0002_tags", append([]string{"migrate", "status"}, mig...)...)
	out := step(0, "applied 0002_tags", append([]string{"migrate", "up"}, mig...)...)
	if !strings.Contains(out, "columns added: "+obj+".todos.priority integer") || !strings.Contains(out, "tables added: "+obj+".tags") {
		t.Fatalf("migrate up output: %s", out)
	}
	step(0, "up to date", append([]string{"migrate", "up"}, mig...)...)
	step(0, "applied", append([]string{"migrate", "status"}, mig...)...)

	writeFiles(t, dir, map[string]string{"0003_broken.up.sql": "CREATE TABLE x (id int);\nALTER TABLE todos ADD COLUMN y intt;"})
	step(1, "at line 2, column 32", append([]string{"migrate", "up"}, mig...)...)
	if err := os.Remove(filepath.Join(dir, "0003_broken.up.sql")); err != nil {
		t.Fatal(err)
	}

	step(0, "rolled back 1 migration(s)", append([]string{"migrate", "rollback"}, mig...)...)
	step(0, "0002_tags\tpending", append([]string{"migrate", "status"}, mig...)...)
	step(0, "rolled back 1 migration(s)", append([]string{"migrate", "rollback", "--to", "0"}, mig...)...)
	step(2, "--tenant is required", "migrate", "up", "--dir", dir)

	step(2, "give --to database", "tenant", "move", name)
	step(0, "moved tenant "+name+" to database "+obj, "tenant", "move", name, "--to", "database")
	step(0, "database "+obj, "tenant", "show", name)
	step(1, "already has a database", "tenant", "move", name, "--to", "database")

	step(2, "--yes", "tenant", "delete", name)
	step(0, "deleted tenant "+name, "tenant", "delete", name, "--yes")
	step(3, `unknown tenant "`+name+`"`, "tenant", "delete", name, "--yes")
}

// squash collapses runs of blanks, so table output can be matched whatever its widths.
func squash(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' }), " ")
}

func TestReadMigrationsOrdersVersionsAndPairsDownScripts(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"0010_b.up.sql":   "B",
		"0002_a.up.sql":   "A",
		"0002_a.down.sql": "undo A",
		"notes.txt":       "",
	})
	files, err := readMigrations(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Name != "0002_a" || files[0].Down != "undo A" || files[1].Name != "0010_b" || files[1].Down != "" {
		t.Fatalf("%+v", files)
	}
	writeFiles(t, dir, map[string]string{"0002_other.up.sql": "C"})
	if _, err := readMigrations(dir); err == nil || !strings.Contains(err.Error(), "version 2 is used twice") {
		t.Fatalf("duplicate version: %v", err)
	}
}
