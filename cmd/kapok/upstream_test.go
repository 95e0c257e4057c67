package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// existingDatabase creates a database of its own with a user table, as somebody's existing
// database would be, and a role (not a superuser) allowed to read it. It returns the
// database's URL (as the dev stack's superuser) and the role.
func existingDatabase(t *testing.T) (string, string) {
	t.Helper()
	name := fmt.Sprintf("kapok_existing_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	role := name + "_reader"
	admin := testenv.Conn(t)
	ctx := context.Background()
	for _, q := range []string{"CREATE DATABASE " + name, "CREATE ROLE " + role + " NOLOGIN"} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
	})
	url := withDB(t, testenv.DirectURL(), name)
	db := testenv.ConnTo(t, url)
	if _, err := db.Exec(ctx, `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items VALUES (1, 'one'), (2, 'two');
GRANT USAGE ON SCHEMA public TO `+role+`; GRANT SELECT ON items TO `+role); err != nil {
		t.Fatal(err)
	}
	return url, role
}

func withDB(t *testing.T, raw, db string) string {
	t.Helper()
	i := strings.LastIndex(raw, "/")
	q := ""
	if j := strings.IndexByte(raw[i:], '?'); j >= 0 {
		q = raw[i+j:]
	}
	return raw[:i+1] + db + q
}

// catalogObjects lists, by name, every object of the database a Kapok install could leave
// behind, and the cluster's roles and memberships Kapok would create for the default tenant.
func catalogObjects(t *testing.T, url, role string) map[string][]string {
	t.Helper()
	db := testenv.ConnTo(t, url)
	out := map[string][]string{}
	for what, q := range map[string]string{
		"pg_namespace":     `SELECT nspname FROM pg_namespace ORDER BY 1`,
		"pg_class":         `SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1`,
		"pg_proc":          `SELECT n.nspname || '.' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace ORDER BY 1`,
		"pg_event_trigger": `SELECT evtname FROM pg_event_trigger ORDER BY 1`,
		"pg_trigger":       `SELECT tgname FROM pg_trigger ORDER BY 1`,
		"pg_roles":         `SELECT rolname FROM pg_roles WHERE rolname = '` + control.TenantRole("default") + `' ORDER BY 1`,
		"pg_auth_members": `SELECT r.rolname || ' > ' || m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid
  JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = '` + role + `' OR m.rolname = '` + role + `' ORDER BY 1`,
	} {
		rows, err := db.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		out[what] = names
	}
	return out
}

func TestServingAnExistingDatabaseLeavesItAsItWas(t *testing.T) {
	url, role := existingDatabase(t)
	before := catalogObjects(t, url, role)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	t.Run("a superuser login without --manage or --role is refused, naming --manage", func(t *testing.T) {
		cfg, err := loadConfig(serveFlags{upstream: url, listen: "127.0.0.1:0", wireListen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = serve(ctx, cfg, log, nil)
		if err == nil || !strings.Contains(err.Error(), "--manage") || !strings.Contains(err.Error(), "superuser") {
			t.Fatalf("serve = %v, want a refusal naming --manage", err)
		}
	})

	t.Run("reads work, a reload NOTIFY shows a new column, and nothing is created", func(t *testing.T) {
		// Only the NOTIFY may reload: the fingerprint poll waits an hour.
		base, stop := serveUpstream(t, serveFlags{upstream: url, role: role}, func(c *control.Config) { c.SchemaPoll = control.Duration(time.Hour) })
		defer stop()
		waitFor(t, func() (bool, string) {
			code, body := get(base + "/readyz")
			return code == 200, body
		})
		if code, body := get(base + "/rest/v1/items?select=id,name&order=id"); code != 200 || body != `[{"id":1,"name":"one"},{"id":2,"name":"two"}]` {
			t.Fatalf("REST: %d %s", code, body)
		}
		if code, body := post(base+"/v1/graphql", `{"query":"{ items(order_by:{id:asc}) { id name } }"}`); code != 200 ||
			body != `{"data":{"items":[{"id":1,"name":"one"},{"id":2,"name":"two"}]}}` {
			t.Fatalf("GraphQL: %d %s", code, body)
		}
		db := testenv.ConnTo(t, url)
		if _, err := db.Exec(context.Background(), "ALTER TABLE items ADD COLUMN note text DEFAULT 'n'; NOTIFY pgrst, 'reload schema'"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() (bool, string) {
			code, body := get(base + "/rest/v1/items?select=id,note&id=eq.1")
			return code == 200 && body == `[{"id":1,"note":"n"}]`, body
		})
		if _, err := db.Exec(context.Background(), "ALTER TABLE items DROP COLUMN note"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("DDL without a NOTIFY is seen by the catalog fingerprint poll", func(t *testing.T) {
		base, stop := serveUpstream(t, serveFlags{upstream: url, role: role}, func(c *control.Config) { c.SchemaPoll = control.Duration(100 * time.Millisecond) })
		defer stop()
		waitFor(t, func() (bool, string) { code, body := get(base + "/readyz"); return code == 200, body })
		db := testenv.ConnTo(t, url)
		if _, err := db.Exec(context.Background(), "ALTER TABLE items ADD COLUMN polled int DEFAULT 7"); err != nil {
			t.Fatal(err)
		}
		defer func() { _, _ = db.Exec(context.Background(), "ALTER TABLE items DROP COLUMN polled") }()
		waitFor(t, func() (bool, string) {
			code, body := get(base + "/rest/v1/items?select=id,polled&id=eq.1")
			return code == 200 && body == `[{"id":1,"polled":7}]`, body
		})
	})

	t.Run("a tenant without tables is ready with a warning that names the schemas searched", func(t *testing.T) {
		base, stop := serveUpstream(t, serveFlags{upstream: url, role: role, schemas: "no_such_schema"}, nil)
		defer stop()
		waitFor(t, func() (bool, string) {
			code, body := get(base + "/readyz")
			return code == 200 && strings.Contains(body, `"warnings"`) && strings.Contains(body, "no_such_schema"), body
		})
	})

	after := catalogObjects(t, url, role)
	for k := range before {
		if added, removed := setDiff(after[k], before[k]), setDiff(before[k], after[k]); len(added)+len(removed) > 0 {
			t.Errorf("%s changed: added %v, removed %v", k, added, removed)
		}
	}
}

// setDiff lists the names of a missing from b.
func setDiff(a, b []string) []string {
	in := map[string]int{}
	for _, x := range b {
		in[x]++
	}
	var out []string
	for _, x := range a {
		if in[x] > 0 {
			in[x]--
			continue
		}
		out = append(out, x)
	}
	return out
}

// serveUpstream runs serve with f (and tune's changes) on a free port until stop.
func serveUpstream(t *testing.T, f serveFlags, tune func(*control.Config)) (base string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.listen = ln.Addr().String()
	f.wireListen = "127.0.0.1:0"
	ln.Close()
	cfg, err := loadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil) }()
	return "http://" + f.listen, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

func waitFor(t *testing.T, ok func() (bool, string)) {
	t.Helper()
	var last string
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		var done bool
		if done, last = ok(); done {
			return
		}
	}
	t.Fatalf("timed out; last answer: %s", last)
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(url, body string) (int, string) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
