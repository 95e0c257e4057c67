package devstack

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// The shared stack (./.kapok at the repository root) is in use by every package's tests:
// these tests adopt it but never stop or wipe it. Stopping and wiping are tested on a stack
// of their own, in a temporary directory on other ports.

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for !fileExists(filepath.Join(dir, "go.mod")) {
		if dir == filepath.Dir(dir) {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = filepath.Dir(dir)
	}
	return dir
}

func TestUpAdoptsTheRunningStackWithoutRestartingIt(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(repoRoot(t), DefaultDir)
	var out bytes.Buffer
	first, err := Up(ctx, Options{Dir: dir, Out: &out})
	if err != nil {
		t.Fatalf("Up: %v\n%s", err, out.String())
	}
	// first.Dir, not dir: when another checkout's stack serves the ports, Up adopts that one.
	before, err := Status(ctx, first.Dir)
	if err != nil || !before.Up() {
		t.Fatalf("after Up the stack is not up: %v\n%s", err, before)
	}

	out.Reset()
	began := time.Now()
	second, err := Up(ctx, Options{Dir: dir, Out: &out})
	if err != nil {
		t.Fatalf("second Up: %v\n%s", err, out.String())
	}
	t.Logf("Up on the running stack took %s:\n%s", time.Since(began), out.String())
	after, err := Status(ctx, first.Dir)
	if err != nil || !after.Up() {
		t.Fatalf("after the second Up the stack is not up: %v\n%s", err, after)
	}
	if before.Postgres.PID != after.Postgres.PID || before.PgBouncer.PID != after.PgBouncer.PID {
		t.Errorf("the second Up restarted something: pids %d/%d, then %d/%d",
			before.Postgres.PID, before.PgBouncer.PID, after.Postgres.PID, after.PgBouncer.PID)
	}
	if !strings.Contains(out.String(), "already loaded") || strings.Contains(out.String(), "started") || strings.Contains(out.String(), "loaded in") {
		t.Errorf("second Up started or loaded something:\n%s", out.String())
	}
	if *first != *second {
		t.Errorf("Up returned %+v, then %+v", *first, *second)
	}
	if second.DirectURL != testenv.DirectURL() || second.PoolerURL != testenv.PoolerURL() {
		t.Errorf("the stack's URLs %s, %s are not the ones tests use: %s, %s",
			second.DirectURL, second.PoolerURL, testenv.DirectURL(), testenv.PoolerURL())
	}
	for _, want := range []string{"kapok.demo: workload at scale 0.01", "kapok.acme: acme"} {
		if !strings.Contains(strings.Join(after.Datasets, "\n"), want) {
			t.Errorf("Status lists datasets %q, want one %q", after.Datasets, want)
		}
	}
}

func TestEnsureDatasetLoadsTheWorkloadOnceAtItsScale(t *testing.T) {
	const schema = "devstack_t_workload"
	ctx := context.Background()
	testenv.Exec(t, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	t.Cleanup(func() { testenv.Exec(t, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	url := testenv.DirectURL()
	c := testenv.Conn(t)

	loaded, err := EnsureDataset(ctx, url, schema, 0.001)
	if err != nil || !loaded {
		t.Fatalf("first EnsureDataset: loaded=%v err=%v", loaded, err)
	}
	t.Run("the row counts are the scaled ones", func(t *testing.T) {
		wantCounts(t, c, schema, map[string]int{"customers": 100, "products": 10, "orders": 1000})
		var items, wantItems int
		scan(t, c.QueryRow(ctx, "SELECT count(*) FROM "+schema+".order_items"), &items)
		// 1 to 5 items per order, from the same hash as the reference dataset
		scan(t, c.QueryRow(ctx, "SELECT sum(1 + (hashint8extended(o, 42) & 2147483647) % 5) FROM generate_series(1, 1000) o"), &wantItems)
		if items != wantItems {
			t.Errorf("order_items: %d rows, want %d", items, wantItems)
		}
	})
	t.Run("the values follow the reference distributions", func(t *testing.T) {
		var countries, categories, statuses, badTotals int
		scan(t, c.QueryRow(ctx, "SELECT count(DISTINCT country) FROM "+schema+".customers"), &countries)
		scan(t, c.QueryRow(ctx, "SELECT count(DISTINCT category) FROM "+schema+".products"), &categories)
		scan(t, c.QueryRow(ctx, "SELECT count(DISTINCT status) FROM "+schema+".orders"), &statuses)
		scan(t, c.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.orders o WHERE total <> (SELECT sum(quantity * unit_price) FROM `+schema+`.order_items i WHERE i.order_id = o.id)`), &badTotals)
		if countries != 20 || categories != 10 || statuses != 5 || badTotals != 0 {
			t.Errorf("countries %d (want 20), categories %d (want 10 of 50 with 10 products), statuses %d (want 5), orders whose total is not their items' %d",
				countries, categories, statuses, badTotals)
		}
		var power, others float64
		scan(t, c.QueryRow(ctx, `SELECT avg(n) FILTER (WHERE id % 10 = 0), avg(n) FILTER (WHERE id % 10 <> 0)
			FROM (SELECT c.id, count(o.id) n FROM `+schema+`.customers c LEFT JOIN `+schema+`.orders o ON o.customer_id = c.id GROUP BY c.id) x`), &power, &others)
		if power < 5*others {
			t.Errorf("every 10th customer averages %.1f orders, the others %.1f: want the skew of the reference (~55 vs ~5)", power, others)
		}
		var customer string
		scan(t, c.QueryRow(ctx, "SELECT row(id, name, email, country, created_at AT TIME ZONE 'UTC')::text FROM "+schema+".customers WHERE id = 7"), &customer)
		// the same row as in the full-scale reference dataset: a customer does not depend on the scale
		if want := `(7,"Customer 7",customer7@example.com,PL,"2019-06-26 19:11:12")`; customer != want {
			t.Errorf("customer 7 is %s, want %s", customer, want)
		}
	})
	t.Run("the schema holds the four tables, their keys, indexes and comments, and nothing else", func(t *testing.T) {
		var tables, functions, fks, uncommented int
		var indexes string
		scan(t, c.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relnamespace = $1::regnamespace AND relkind NOT IN ('i', 'S')", schema), &tables)
		scan(t, c.QueryRow(ctx, "SELECT count(*) FROM pg_proc WHERE pronamespace = $1::regnamespace", schema), &functions)
		scan(t, c.QueryRow(ctx, "SELECT count(*) FROM pg_constraint WHERE connamespace = $1::regnamespace AND contype = 'f'", schema), &fks)
		scan(t, c.QueryRow(ctx, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = $1 AND indexname NOT LIKE '%pkey'", schema), &indexes)
		scan(t, c.QueryRow(ctx, `SELECT count(*) FROM pg_attribute a JOIN pg_class r ON r.oid = a.attrelid
			WHERE r.relnamespace = $1::regnamespace AND r.relkind = 'r' AND a.attnum > 0 AND col_description(r.oid, a.attnum) IS NULL`, schema), &uncommented)
		if tables != 4 || functions != 0 || fks != 3 || uncommented != 0 {
			t.Errorf("schema %s: %d relations (want 4 tables), %d functions (want 0), %d foreign keys (want 3), %d columns without a comment", schema, tables, functions, fks, uncommented)
		}
		if want := "order_items_order_id_idx,order_items_product_id_idx,orders_customer_id_created_at_idx"; indexes != want {
			t.Errorf("indexes %s, want %s", indexes, want)
		}
	})
	if scale, ok, err := LoadedScale(ctx, url, schema); err != nil || !ok || scale != 0.001 {
		t.Errorf("LoadedScale = %v, %v, %v; want 0.001, true, nil", scale, ok, err)
	}

	t.Run("a second call with the same scale changes nothing", func(t *testing.T) {
		var before, after uint32
		scan(t, c.QueryRow(ctx, "SELECT $1::regclass::oid", schema+".customers"), &before)
		loaded, err := EnsureDataset(ctx, url, schema, 0.001)
		if err != nil || loaded {
			t.Fatalf("second EnsureDataset: loaded=%v err=%v; want false, nil", loaded, err)
		}
		scan(t, c.QueryRow(ctx, "SELECT $1::regclass::oid", schema+".customers"), &after)
		if before != after {
			t.Errorf("customers was recreated (oid %d, then %d)", before, after)
		}
	})
	t.Run("another scale reloads", func(t *testing.T) {
		loaded, err := EnsureDataset(ctx, url, schema, 0.002)
		if err != nil || !loaded {
			t.Fatalf("EnsureDataset at 0.002: loaded=%v err=%v", loaded, err)
		}
		wantCounts(t, c, schema, map[string]int{"customers": 200, "products": 20, "orders": 2000})
		if scale, _, _ := LoadedScale(ctx, url, schema); scale != 0.002 {
			t.Errorf("LoadedScale = %v after reloading at 0.002", scale)
		}
	})
}

func TestConcurrentEnsureDatasetLoadsOnce(t *testing.T) {
	const schema = "devstack_t_concurrent"
	testenv.Exec(t, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	t.Cleanup(func() { testenv.Exec(t, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	loads := make(chan bool, 3)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			loaded, err := EnsureDataset(context.Background(), testenv.DirectURL(), schema, 0.001)
			loads <- loaded
			errs <- err
		}()
	}
	n := 0
	for range 3 {
		if <-loads {
			n++
		}
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n != 1 {
		t.Errorf("%d of 3 concurrent calls loaded the dataset, want 1", n)
	}
	wantCounts(t, testenv.Conn(t), schema, map[string]int{"customers": 100, "orders": 1000})
}

func TestAcmeDatasetSharesATableNameWithDemoButNotItsColumns(t *testing.T) {
	const schema = "devstack_t_acme"
	ctx := context.Background()
	testenv.Exec(t, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
	t.Cleanup(func() { testenv.Exec(t, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	if loaded, err := ensure(ctx, testenv.DirectURL(), schema, acme, 0); err != nil || !loaded {
		t.Fatalf("ensure acme: loaded=%v err=%v", loaded, err)
	}
	c := testenv.Conn(t)
	wantCounts(t, c, schema, map[string]int{"customers": 5, "projects": 8, "tickets": 24})
	var fks int
	var columns string
	scan(t, c.QueryRow(ctx, "SELECT count(*) FROM pg_constraint WHERE connamespace = $1::regnamespace AND contype = 'f'", schema), &fks)
	scan(t, c.QueryRow(ctx, "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'customers'", schema), &columns)
	if fks != 2 || columns != "id,company,contact_email,plan,signed_up_on" {
		t.Errorf("%d foreign keys (want 2), customers columns %s", fks, columns)
	}
	// identity columns continue after the loaded rows
	testenv.Exec(t, "INSERT INTO "+schema+".customers (company, contact_email) VALUES ('New', 'new@example.com')")
	if loaded, err := ensure(ctx, testenv.DirectURL(), schema, acme, 0); err != nil || loaded {
		t.Errorf("second ensure acme: loaded=%v err=%v; want false, nil", loaded, err)
	}
}

// TestAFreshStackStartsStopsRestartsAndIsWiped runs a whole second stack: initdb, start,
// load, adopt, restart of what was stopped, Down, Clean.
func TestAFreshStackStartsStopsRestartsAndIsWiped(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "stack")
	o := Options{Dir: dir, PGPort: freePort(t), PoolerPort: freePort(t)}
	var out bytes.Buffer
	o.Out = &out
	t.Cleanup(func() {
		if err := Clean(dir); err != nil {
			t.Errorf("Clean: %v", err)
		}
	})
	up := func(step string) *Stack {
		t.Helper()
		out.Reset()
		began := time.Now()
		st, err := Up(ctx, o)
		if err != nil {
			t.Fatalf("%s: Up: %v\n%s", step, err, out.String())
		}
		t.Logf("%s: Up took %s\n%s", step, time.Since(began), out.String())
		return st
	}

	st := up("fresh")
	for _, want := range []string{"initdb", "PostgreSQL  started", "PgBouncer   started", "kapok.demo: workload at scale 0.01 loaded", "kapok.acme: acme loaded"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("fresh Up's output lacks %q", want)
		}
	}
	pooled, err := pgx.Connect(ctx, st.PoolerURL+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		t.Fatalf("through PgBouncer: %v", err)
	}
	var customers int
	err = pooled.QueryRow(ctx, "SELECT count(*) FROM demo.customers").Scan(&customers)
	pooled.Close(ctx)
	if err != nil || customers != 1000 {
		t.Fatalf("demo.customers through PgBouncer: %d rows, %v; want 1000", customers, err)
	}
	rep, err := Status(ctx, dir)
	if err != nil || !rep.Up() {
		t.Fatalf("Status after Up: %v\n%s", err, rep)
	}

	if err := syscall.Kill(rep.PgBouncer.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "PgBouncer to exit", func() bool { r, _ := Status(ctx, dir); return r.PgBouncer.PID == 0 })
	up("PgBouncer stopped")
	if !strings.Contains(out.String(), "PostgreSQL  running") || !strings.Contains(out.String(), "PgBouncer   started") {
		t.Errorf("Up after PgBouncer stopped should reuse PostgreSQL and start PgBouncer")
	}

	// A stack made by an older Kapok has PgBouncer's default login retry (15 s): Up rewrites
	// the file and the running PgBouncer takes the new settings without a restart.
	ini := filepath.Join(st.Dir, "pgbouncer.ini")
	data, err := os.ReadFile(ini)
	if err != nil || !strings.Contains(string(data), "server_login_retry = 1\n") {
		t.Fatalf("pgbouncer.ini lacks server_login_retry = 1 (%v):\n%s", err, data)
	}
	if err := os.WriteFile(ini, []byte(strings.Replace(string(data), "server_login_retry = 1\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := reloadPgBouncer(ctx, layout{dir: st.Dir, poolerPort: o.PoolerPort}); err != nil {
		t.Fatal(err)
	}
	showRetry := func() string {
		t.Helper()
		c, err := pgconn.Connect(ctx, strings.Replace(st.PoolerURL, "/"+Database+"?", "/pgbouncer?", 1))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		res, err := c.Exec(ctx, "SHOW CONFIG").ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range res[0].Rows {
			if string(row[0]) == "server_login_retry" {
				return string(row[1])
			}
		}
		return ""
	}
	if got := showRetry(); got != "15" {
		t.Fatalf("with the old file PgBouncer's server_login_retry is %q, want the default 15", got)
	}
	up("old pgbouncer.ini")
	if !strings.Contains(out.String(), "config reloaded") {
		t.Errorf("Up over an outdated pgbouncer.ini should reload PgBouncer")
	}
	if got := showRetry(); got != "1" {
		t.Errorf("after Up PgBouncer's server_login_retry is %q, want 1", got)
	}

	// Logical replication (Supabase Realtime's postgres_changes): a fresh cluster has it; a
	// running one made before it was part of the stack is reconfigured and restarted by Up.
	walLevel := func() string {
		t.Helper()
		c, err := pgx.Connect(ctx, st.DirectURL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var v string
		if err := c.QueryRow(ctx, "SHOW wal_level").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := walLevel(); got != "logical" {
		t.Fatalf("a fresh stack runs with wal_level %q, want logical", got)
	}
	old, err := pgx.Connect(ctx, st.DirectURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"ALTER SYSTEM SET wal_level = 'replica'", "ALTER SYSTEM SET wal_writer_delay = '200ms'"} {
		if _, err = old.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close(ctx)
	r, err := newRunner()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := findBinaries()
	pgl := layout{dir: st.Dir, pgPort: o.PGPort, poolerPort: o.PoolerPort}
	if _, err := r.run(ctx, b.pgctl(), "restart", "-D", pgl.dataDir(), "-l", pgl.pgLog(), "-m", "fast", "-w"); err != nil {
		t.Fatal(err)
	}
	if got := walLevel(); got != "replica" {
		t.Fatalf("after ALTER SYSTEM and a restart wal_level is %q, want replica", got)
	}
	up("wal_level replica")
	if !strings.Contains(out.String(), "restarted with wal_level=logical (was replica)") {
		t.Errorf("Up over a cluster without logical replication should say it restarts it")
	}
	if got := walLevel(); got != "logical" {
		t.Errorf("after Up wal_level is %q, want logical", got)
	}
	var delay string
	if c, err := pgx.Connect(ctx, st.DirectURL); err == nil {
		_ = c.QueryRow(ctx, "SHOW wal_writer_delay").Scan(&delay)
		c.Close(ctx)
	}
	if delay != "10ms" {
		t.Errorf("after Up wal_writer_delay is %q, want 10ms", delay)
	}
	up("wal_level logical")
	if strings.Contains(out.String(), "restarted") {
		t.Errorf("Up over a cluster with logical replication restarted it")
	}

	if err := Down(dir); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if rep, _ := Status(ctx, dir); rep.Postgres.PID != 0 || rep.PgBouncer.PID != 0 {
		t.Fatalf("after Down:\n%s", rep)
	}
	up("after Down")
	if strings.Contains(out.String(), "initdb") || strings.Contains(out.String(), "loaded in") {
		t.Errorf("Up after Down should reuse the cluster and its data")
	}

	real := st.Dir
	if err := Clean(dir); err != nil {
		t.Fatalf("Clean: %v", err)
	}
	if fileExists(real) || fileExists(dir) {
		t.Errorf("Clean left %s or %s behind", real, dir)
	}
	if rep, _ := Status(ctx, dir); rep.Postgres.PID != 0 || rep.PgBouncer.PID != 0 {
		t.Errorf("after Clean:\n%s", rep)
	}
}

func TestCleanRefusesADirectoryThatIsNotAStack(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Clean(dir); err == nil || !fileExists(filepath.Join(dir, "notes.txt")) {
		t.Errorf("Clean of a directory with other files: err=%v; want a refusal and the file kept", err)
	}
}

func TestRunCLIParsesSubcommandsFlagsAndScales(t *testing.T) {
	tests := []struct {
		args    []string
		sub     string
		scale   string
		wantErr bool
	}{
		{args: nil, sub: "", scale: "small"},
		{args: []string{"up"}, sub: "up", scale: "small"},
		{args: []string{"up", "--scale", "full"}, sub: "up", scale: "full"},
		{args: []string{"--dir", "x", "status"}, sub: "status", scale: "small"},
		{args: []string{"up", "extra"}, wantErr: true},
		{args: []string{"--nope"}, wantErr: true},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("dev", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("dir", "", "")
		scale := fs.String("scale", "small", "")
		sub, err := parseCLI(fs, tt.args)
		if (err != nil) != tt.wantErr || (!tt.wantErr && (sub != tt.sub || *scale != tt.scale)) {
			t.Errorf("parseCLI(%q) = %q (scale %q), %v", tt.args, sub, *scale, err)
		}
	}
	for in, want := range map[string]float64{"small": 0.01, "full": 1, "0.1": 0.1} {
		if got, err := parseScale(in); err != nil || got != want {
			t.Errorf("parseScale(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"huge", "0", "-1", "0.00001"} {
		if _, err := parseScale(in); err == nil {
			t.Errorf("parseScale(%q) accepted", in)
		}
	}
}

func wantCounts(t *testing.T, c *pgx.Conn, schema string, want map[string]int) {
	t.Helper()
	for table, n := range want {
		var got int
		scan(t, c.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{schema, table}.Sanitize()), &got)
		if got != n {
			t.Errorf("%s.%s: %d rows, want %d", schema, table, got, n)
		}
	}
}

// scan reads one row into dests, failing the test on error.
func scan(t *testing.T, row pgx.Row, dests ...any) {
	t.Helper()
	if err := row.Scan(dests...); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
