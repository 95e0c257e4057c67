package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// testCluster is a PostgreSQL cluster of the test's own, made with the binaries the dev
// stack uses: archiving is configured and the server restarted, which the shared dev stack
// must not be.
type testCluster struct {
	root, data, bin, log string
	port                 int
	user                 osUser
}

func (c *testCluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

func (c *testCluster) pgctl(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.user.run(ctx, nil, filepath.Join(c.bin, "pg_ctl"), args...); err != nil {
		t.Fatalf("%v%s", err, logTail(c.log))
	}
}

// newTestCluster initdbs a cluster in a directory of its own, on a free loopback port and
// without a Unix socket (as the dev stack's), and starts it.
func newTestCluster(t *testing.T) *testCluster {
	t.Helper()
	bin, err := ServerBinDir(0)
	if err != nil {
		t.Fatalf("%v (the dev stack installs PostgreSQL: `go run ./cmd/kapok dev up`)", err)
	}
	// Not t.TempDir: the OS user postgres must be able to enter it.
	root, err := os.MkdirTemp("", "kapok-backup-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &testCluster{root: root, data: filepath.Join(root, "pg"), bin: bin, log: filepath.Join(root, "pg.log"), user: self}
	if os.Geteuid() == 0 {
		if c.user, err = lookupUser("postgres"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.user.own(root); err != nil {
		t.Fatal(err)
	}
	if c.port, err = freePort(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.user.run(ctx, nil, filepath.Join(bin, "initdb"), "-D", c.data, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8"); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
`, c.port)
	if err := appendSettings(c.user, c.data, conf); err != nil {
		t.Fatal(err)
	}
	c.pgctl(t, "start", "-D", c.data, "-l", c.log, "-w", "-t", "60")
	t.Cleanup(func() {
		if postmasterPID(c.data) != 0 {
			_, _ = c.user.run(context.Background(), nil, filepath.Join(bin, "pg_ctl"), "stop", "-D", c.data, "-m", "immediate", "-w")
		}
	})
	return c
}

func mustExec(t testing.TB, url string, sql string, args ...any) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func strs(t testing.TB, url, sql string) []string {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	rows, err := c.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return got
}

func wantRows(t testing.TB, url, sql string, want ...string) {
	t.Helper()
	if got := strs(t, url, sql); !slices.Equal(got, want) {
		t.Errorf("%s\n got %q\nwant %q", sql, got, want)
	}
}

// TestPointInTimeRestore writes rows A into two tenants, notes the time, writes rows B,
// then restores tenant one to that time: one has A but not B, two keeps A and B. A whole
// cluster restored to the time into a new directory has A and not B in both.
func TestPointInTimeRestore(t *testing.T) {
	testenv.AptTool(t, pgBackRestPackage, "pgbackrest")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := newTestCluster(t)
	mustExec(t, c.url("postgres"), "CREATE DATABASE kapok")
	db := c.url("kapok")

	began := time.Now()
	st, err := Setup(ctx, SetupOptions{Dir: filepath.Join(c.root, "backup"), URL: db, Compress: "zst",
		Restart: func(ctx context.Context) error {
			c.pgctl(t, "restart", "-D", c.data, "-l", c.log, "-m", "fast", "-w", "-t", "60")
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("setup (archive_mode, restart, stanza-create, check): %s", time.Since(began).Round(time.Millisecond))
	if got := strs(t, db, "SELECT current_setting('archive_mode')"); got[0] != "on" {
		t.Fatalf("archive_mode = %s after setup", got[0])
	}

	// Two schema tenants, tenant one with a Kapok Auth store, and the control tables'
	// migrations of both.
	mustExec(t, db, `
CREATE SCHEMA one; CREATE TABLE one.items (id int PRIMARY KEY, label text);
CREATE SCHEMA two; CREATE TABLE two.items (id int PRIMARY KEY, label text);
CREATE SCHEMA kapok_auth_one; CREATE TABLE kapok_auth_one.users (email text PRIMARY KEY);
CREATE SCHEMA kapok; CREATE TABLE kapok.migrations (id bigserial PRIMARY KEY, tenant text NOT NULL, name text NOT NULL);
INSERT INTO one.items SELECT g, 'base' FROM generate_series(1, 2000) g;
INSERT INTO two.items SELECT g, 'base' FROM generate_series(1, 2000) g;
INSERT INTO kapok.migrations (tenant, name) VALUES ('one', 'm0'), ('two', 'm0');`)

	began = time.Now()
	full, err := st.Run(ctx, "full")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("full backup %s in %s: %d bytes of data, %d stored", full.Label, time.Since(began).Round(time.Millisecond), full.Size, full.RepoSize)
	if full.Type != "full" || full.RepoSize <= 0 || full.RepoSize >= full.Size {
		t.Errorf("full backup: %+v", full)
	}
	// pgBackRest records the backup's end in whole seconds: a time is restorable from the
	// next one.
	time.Sleep(time.Until(full.Stop.Add(time.Second)))

	mustExec(t, db, `
INSERT INTO one.items VALUES (10001, 'A'); INSERT INTO two.items VALUES (10001, 'A');
INSERT INTO kapok_auth_one.users VALUES ('a@example.com');
INSERT INTO kapok.migrations (tenant, name) VALUES ('one', 'mA'), ('two', 'mA');`)
	if err := archiveNow(ctx, db, time.Minute); err != nil {
		t.Fatal(err)
	}
	var at time.Time
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&at); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	mustExec(t, db, `
INSERT INTO one.items VALUES (10002, 'B'); INSERT INTO two.items VALUES (10002, 'B');
INSERT INTO kapok_auth_one.users VALUES ('b@example.com');
ALTER TABLE one.items ADD COLUMN added_after int;
INSERT INTO kapok.migrations (tenant, name) VALUES ('one', 'mB'), ('two', 'mB');`)

	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Backups) != 1 || info.Earliest.After(at) || info.LastArchived.IsZero() || info.WALMax == "" {
		t.Errorf("info: %+v", info)
	}

	tenant := &control.TenantConfig{Name: "one", Mode: "schema", Schemas: []string{"one"}}
	began = time.Now()
	res, err := st.RestoreTenant(ctx, TenantOptions{To: at, Tenant: tenant, URL: db, ControlURL: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tenant one restored in %s: %v", time.Since(began).Round(time.Millisecond), res.Steps)
	if !slices.Equal(res.Restored, []string{"one", "kapok_auth_one"}) || len(res.KeptAside) != 2 {
		t.Errorf("restored %v, kept aside %v", res.Restored, res.KeptAside)
	}

	const items = "SELECT label FROM %s.items WHERE label <> 'base' ORDER BY id"
	wantRows(t, db, fmt.Sprintf(items, "one"), "A")
	wantRows(t, db, "SELECT email FROM kapok_auth_one.users ORDER BY 1", "a@example.com")
	wantRows(t, db, "SELECT count(*)::text FROM one.items", "2001")
	wantRows(t, db, "SELECT attname::text FROM pg_attribute WHERE attrelid = 'one.items'::regclass AND attname = 'added_after'")
	wantRows(t, db, "SELECT name FROM kapok.migrations WHERE tenant = 'one' ORDER BY id", "m0", "mA")
	wantRows(t, db, fmt.Sprintf(items, "two"), "A", "B")
	wantRows(t, db, "SELECT name FROM kapok.migrations WHERE tenant = 'two' ORDER BY id", "m0", "mA", "mB")
	// What was live is kept aside, whole.
	wantRows(t, db, fmt.Sprintf(items, pgx.Identifier{res.KeptAside[0]}.Sanitize()), "A", "B")
	if !strings.HasPrefix(res.KeptAside[0], "one_before_restore_") {
		t.Errorf("kept aside as %v", res.KeptAside)
	}
	// Writes go on after the restore, and the next tenant restore has a new stamp.
	mustExec(t, db, "INSERT INTO one.items VALUES (10003, 'C')")

	// The whole cluster, to the same time, into a new directory beside the live one.
	copyDir := filepath.Join(c.root, "copy")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	cres, err := st.RestoreCluster(ctx, ClusterOptions{To: &at, TargetDir: copyDir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	restored := time.Since(began)
	if _, err := st.RestoreCluster(ctx, ClusterOptions{To: &at, TargetDir: copyDir}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second restore into %s: %v", copyDir, err)
	}
	if _, err := st.RestoreCluster(ctx, ClusterOptions{To: &at}); err == nil || !strings.Contains(err.Error(), "runs there") {
		t.Errorf("a restore over the running cluster: %v", err)
	}
	copyLog := filepath.Join(c.root, "copy.log")
	c.pgctl(t, "start", "-D", copyDir, "-l", copyLog, "-w", "-t", "120")
	defer c.pgctl(t, "stop", "-D", copyDir, "-m", "immediate", "-w")
	copyURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/kapok?sslmode=disable", port)
	if err := waitPromoted(ctx, copyURL); err != nil {
		t.Fatalf("%v%s", err, logTail(copyLog))
	}
	t.Logf("whole cluster restored in %s, recovered and promoted in %s more (%s)", restored.Round(time.Millisecond),
		(time.Since(began) - restored).Round(time.Millisecond), cres.DataDir)
	wantRows(t, copyURL, fmt.Sprintf(items, "one"), "A")
	wantRows(t, copyURL, fmt.Sprintf(items, "two"), "A")
	wantRows(t, copyURL, "SELECT current_setting('archive_mode')", "off")
	wantRows(t, db, fmt.Sprintf(items, "one"), "A", "C") // the live cluster is untouched
}

// waitPromoted waits until the cluster at url has left recovery.
func waitPromoted(ctx context.Context, url string) error {
	for {
		c, err := pgx.Connect(ctx, url)
		if err == nil {
			var recovering bool
			err = c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering)
			c.Close(context.Background())
			if err == nil && !recovering {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not promoted: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
