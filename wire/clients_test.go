package wire_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"gopkg.in/yaml.v3"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/devstack"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/internal/testserver"
)

// These tests drive real clients (psql, pgx, psycopg 3, node-postgres, pgbench) through
// Kapok's wire port. A missing tool fails them with the command that installs it: they
// never skip, so a green run means every client spoke to Kapok.

// fixtureDDL is every scratch tenant's table: ten items, the even ones alice's, the odd
// ones bob's, which a JWT role sees only as its sub claim allows.
const fixtureDDL = `
CREATE TABLE items (id int PRIMARY KEY, owner text NOT NULL, name text NOT NULL);
INSERT INTO items SELECT g, CASE WHEN g % 2 = 0 THEN 'alice' ELSE 'bob' END, 'item ' || g FROM generate_series(1, 10) g;
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
CREATE POLICY items_owner ON items USING (owner = nullif(current_setting('request.jwt.claims', true), '')::json->>'sub');
`

// wireTenant is a scratch tenant: its schema holds fixtureDDL, its own role (which Kapok's
// server connections log in as: isolation login) has a SCRAM password, and its reader role,
// granted to the own role through the API key, reads items under row-level security.
type wireTenant struct {
	Name, Schema string
	Role         string // the tenant's own role
	Password     string // Role's SCRAM password
	Reader       string // the API key's and the JWT's role
	APIKey       string
	JWTSecret    string
	PoolMaxConns int
}

// newWireTenant creates tenant name's schema (schema, with fixtureDDL and extra DDL) and its
// roles, all dropped when the test ends. Call it before serveWire, which grants the rest.
func newWireTenant(t *testing.T, name, schema, extraDDL string) *wireTenant {
	t.Helper()
	wt := &wireTenant{Name: name, Schema: schema, Role: control.TenantRole(name), Password: "pw-" + name + "-" + randomHex(t, 8),
		Reader: schema + "_reader", APIKey: "key-" + name + "-" + randomHex(t, 16), JWTSecret: "jwt-" + name + "-" + randomHex(t, 24), PoolMaxConns: 2}
	dropRoles(t, wt.Role, wt.Reader)
	t.Cleanup(func() { dropRoles(t, wt.Role, wt.Reader) })
	role, reader := ident(wt.Role), ident(wt.Reader)
	// The own role exists before Kapok starts so that its password is set before the first
	// connection (Kapok caches verifiers); Kapok makes it LOGIN and grants it the schema.
	testenv.Exec(t, fmt.Sprintf(`CREATE ROLE %s NOLOGIN NOINHERIT BYPASSRLS;
SET password_encryption = 'scram-sha-256';
ALTER ROLE %s PASSWORD %s;
CREATE ROLE %s NOLOGIN`, role, role, literal(wt.Password), reader))
	testenv.FreshSchema(t, schema, fixtureDDL+extraDDL+fmt.Sprintf(`;
GRANT USAGE ON SCHEMA %s TO %s;
GRANT SELECT ON items TO %s`, ident(schema), reader, reader))
	return wt
}

// yaml is the tenant's entry in Kapok's config.
func (wt *wireTenant) yaml() string {
	return fmt.Sprintf(`
  - name: %s
    mode: schema
    schemas: [%s]
    isolation: login
    pool: {max_conns: %d, queue_timeout: 30s}   # a transaction waits out a busy machine (make test runs packages side by side under -race)
    auth:
      jwt_secret: %s
      api_keys: {%s: %s}
`, wt.Name, wt.Schema, wt.PoolMaxConns, wt.JWTSecret, wt.APIKey, wt.Reader)
}

// jwt signs a token of the tenant for its reader role with sub as the subject.
func (wt *wireTenant) jwt(t *testing.T, sub string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": wt.Reader, "sub": sub,
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(wt.JWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wireServer is a Kapok serving scratch tenants, its wire port on TLS (the test CA) and,
// on loopback, plain text.
type wireServer struct {
	HTTP, Host, Port string
	TLS              devstack.TLSFiles
}

// serveWire starts Kapok for tenants through testserver.ServeWire.
func serveWire(t *testing.T, tenants ...*wireTenant) *wireServer {
	t.Helper()
	files := testserver.TLS(t)
	var b strings.Builder
	fmt.Fprintf(&b, "wire_listen: 127.0.0.1:0\nwire:\n  tls_cert_file: %s\n  tls_key_file: %s\n  allow_plaintext: true\ntenants:", files.Cert, files.Key)
	for _, wt := range tenants {
		b.WriteString(wt.yaml())
	}
	var cfg control.Config
	dec := yaml.NewDecoder(strings.NewReader(b.String()))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("config: %v\n%s", err, b.String())
	}
	httpURL, addr := testserver.ServeWire(t, &cfg)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("wire address %q: %v", addr, err)
	}
	return &wireServer{HTTP: httpURL, Host: host, Port: port, TLS: files}
}

// DSN is a libpq keyword/value connection string to the wire port: over TLS verified
// against the test CA (verify-full), or in plain text. The password goes separately
// (PGPASSWORD for the command-line tools, Password for pgx).
func (s *wireServer) DSN(user, database string, tls bool) string {
	dsn := fmt.Sprintf("host=%s port=%s user=%s dbname=%s connect_timeout=10", s.Host, s.Port, connValue(user), connValue(database))
	if tls {
		return dsn + " sslmode=verify-full sslrootcert=" + connValue(s.TLS.CA)
	}
	return dsn + " sslmode=disable"
}

// pgxConfig is a pgx configuration for DSN(user, database, tls) with password.
func (s *wireServer) pgxConfig(t *testing.T, user, database, password string, tls bool) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(s.DSN(user, database, tls))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = password
	return cfg
}

// connect opens a pgx connection, closed when the test ends. The first connections of a
// test may come while Kapok still loads the tenant's roles, so a refused one is tried again
// for a few seconds.
func (s *wireServer) connect(t *testing.T, cfg *pgx.ConnConfig) *pgx.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := pgx.ConnectConfig(ctx, cfg)
		cancel()
		if err == nil {
			t.Cleanup(func() { c.Close(context.Background()) })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect as %q to %q: %v", cfg.User, cfg.Database, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// upstreamDatabase is the PostgreSQL database the scratch tenants live in.
func upstreamDatabase(t *testing.T) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(testenv.DirectURL())
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

// connValue quotes a libpq keyword/value connection string value.
func connValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

func ident(s string) string   { return pgx.Identifier{s}.Sanitize() }
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// dropRoles drops roles (and what they own or were granted in the test database), ignoring
// those that do not exist.
func dropRoles(t *testing.T, roles ...string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), testenv.DirectURL())
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s: %v", testenv.DirectURL(), err)
	}
	defer c.Close(context.Background())
	for _, r := range roles {
		q := ident(r)
		_, _ = c.Exec(context.Background(), "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "+literal(r)+
			") THEN DROP OWNED BY "+q+"; DROP ROLE "+q+"; END IF; END $$")
	}
}

// toolEnv is the environment of a client tool: this process's, less libpq's PG* variables
// (a developer's PGHOST or PGSSLMODE would redirect it), plus extra.
func toolEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// requireTool is the path of a command-line client, or fails the test with how to install it.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for the wire client tests: %v\ninstall it with: %s", name, err, install)
	}
	return p
}

const postgresClientInstall = "sudo apt-get install -y postgresql-client postgresql-contrib"

func TestPsqlThroughTheWirePort(t *testing.T) {
	psql := requireTool(t, "psql", postgresClientInstall)
	wt := newWireTenant(t, "wire-psql", "wire_cli_psql", "")
	s := serveWire(t, wt)
	dir := t.TempDir()
	run := func(t *testing.T, script string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", s.DSN(wt.Role, wt.Name, true), "-f", "-")
		cmd.Env = toolEnv("PGPASSWORD=" + wt.Password)
		cmd.Dir = dir
		cmd.Stdin = strings.NewReader(script)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("psql: %v\n%s\nscript:\n%s", err, out, script)
		}
		return string(out)
	}
	// The tenant's roles are loaded just after Kapok starts: wait for a first session.
	s.connect(t, s.pgxConfig(t, wt.Role, wt.Name, wt.Password, true))

	t.Run("connects with SCRAM over TLS verified against the CA (verify-full)", func(t *testing.T) {
		out := run(t, "\\conninfo\nSELECT current_user AS who \\gset\n\\echo who=:who\n")
		if !strings.Contains(out, "SSL connection") || !strings.Contains(out, "who="+wt.Role) {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("connects as role.tenant with the tenant's Postgres database, as Supavisor's users do", func(t *testing.T) {
		cmd := exec.Command(psql, "-X", "-At", "-d", s.DSN(wt.Role+"."+wt.Name, upstreamDatabase(t), true), "-c", "SELECT current_user")
		cmd.Env = toolEnv("PGPASSWORD=" + wt.Password)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != wt.Role {
			t.Errorf("psql: %v\n%s", err, out)
		}
	})
	t.Run("\\d lists the tenant's table and describes it", func(t *testing.T) {
		out := run(t, "\\d\n\\d items\n")
		for _, want := range []string{wt.Schema, "items", "owner", "items_pkey", "items_owner"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in:\n%s", want, out)
			}
		}
	})
	t.Run("\\copy loads a CSV file and writes one", func(t *testing.T) {
		var in strings.Builder
		for i := 101; i <= 150; i++ {
			fmt.Fprintf(&in, "%d,carol,\"copied, %d\"\n", i, i)
		}
		if err := os.WriteFile(filepath.Join(dir, "in.csv"), []byte(in.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, "\\copy items (id, owner, name) FROM 'in.csv' WITH (FORMAT csv)\n"+
			"\\copy (SELECT id, owner, name FROM items WHERE id > 100 ORDER BY id) TO 'out.csv' WITH (FORMAT csv)\n")
		got, err := os.ReadFile(filepath.Join(dir, "out.csv"))
		if err != nil || string(got) != in.String() {
			t.Errorf("copied out (%v):\n%s\nwant:\n%s", err, got, in.String())
		}
	})
	t.Run("a transaction commits, and one rolled back leaves nothing", func(t *testing.T) {
		out := run(t, `BEGIN;
INSERT INTO items VALUES (200, 'dave', 'in a transaction');
UPDATE items SET name = 'renamed' WHERE id = 200;
SELECT count(*) AS n FROM items WHERE id = 200 \gset
\echo inside=:n
COMMIT;
BEGIN;
INSERT INTO items VALUES (201, 'dave', 'rolled back');
ROLLBACK;
SELECT string_agg(id || '=' || name, ',' ORDER BY id) AS rows FROM items WHERE id >= 200 \gset
\echo after=:rows
`)
		if !strings.Contains(out, "inside=1") || !strings.Contains(out, "after=200=renamed\n") {
			t.Errorf("output:\n%s", out)
		}
	})
}

func TestPgxThroughTheWirePort(t *testing.T) {
	wt := newWireTenant(t, "wire-pgx", "wire_cli_pgx", "")
	s := serveWire(t, wt)
	ctx := context.Background()
	conn := s.connect(t, s.pgxConfig(t, wt.Role, wt.Name, wt.Password, false))

	t.Run("the extended protocol binds parameters of several types and returns them", func(t *testing.T) {
		ts := time.Date(2024, 2, 29, 12, 30, 0, 0, time.UTC)
		var (
			i    int64
			s    string
			at   time.Time
			b    []byte
			null *string
			name string
		)
		err := conn.QueryRow(ctx, "SELECT $1::bigint, $2::text, $3::timestamptz, $4::bytea, $5::text, (SELECT name FROM items WHERE id = $6)",
			int64(1)<<40, "héllo 'wire'", ts, []byte{0, 1, 255}, nil, 7).Scan(&i, &s, &at, &b, &null, &name)
		if err != nil || i != 1<<40 || s != "héllo 'wire'" || !at.Equal(ts) || !bytes.Equal(b, []byte{0, 1, 255}) || null != nil || name != "item 7" {
			t.Errorf("got %v %q %v %v %v %q (err %v)", i, s, at, b, null, name, err)
		}
	})

	t.Run("a named prepared statement serves 1,000 transactions of each of 4 clients sharing 2 server connections", func(t *testing.T) {
		// Four sessions on a pool of two: each transaction may land on a server
		// connection that has not seen the session's statements, which Kapok then
		// prepares there. pgx's default mode (cache_statement) prepares the unnamed
		// query too.
		const clients, txs = 4, 1000
		pids := make([]map[uint32]int, clients)
		errs := make([]error, clients)
		conns := make([]*pgx.Conn, clients)
		conns[0] = conn
		for i := 1; i < clients; i++ {
			conns[i] = s.connect(t, s.pgxConfig(t, wt.Role, wt.Name, wt.Password, false))
		}
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				pids[c] = map[uint32]int{}
				errs[c] = preparedTransactions(ctx, conns[c], txs, pids[c])
			})
		}
		wg.Wait()
		backends := map[uint32]bool{}
		moved := 0
		for c := range clients {
			if errs[c] != nil {
				t.Errorf("client %d: %v", c, errs[c])
			}
			for pid := range pids[c] {
				backends[pid] = true
			}
			if len(pids[c]) > 1 {
				moved++
			}
		}
		if len(backends) > wt.PoolMaxConns {
			t.Errorf("the transactions ran on %d server connections, more than the tenant's pool.max_conns %d", len(backends), wt.PoolMaxConns)
		}
		if moved == 0 {
			t.Errorf("no client's transactions ran on more than one server connection (%v): the statements were never prepared again", pids)
		}
	})

	t.Run("a batch runs its queries in one round trip", func(t *testing.T) {
		b := &pgx.Batch{}
		b.Queue("SELECT count(*) FROM items WHERE id <= $1", 10)
		b.Queue("INSERT INTO items VALUES ($1, $2, $3) RETURNING id", 300, "erin", "batched")
		b.Queue("SELECT name FROM items WHERE id = $1", 300)
		b.Queue("UPDATE items SET name = $2 WHERE id = $1", 300, "batched, updated")
		br := conn.SendBatch(ctx, b)
		var n, id int
		var name string
		if err := br.QueryRow().Scan(&n); err != nil || n != 10 {
			t.Errorf("count: %d %v", n, err)
		}
		if err := br.QueryRow().Scan(&id); err != nil || id != 300 {
			t.Errorf("insert: %d %v", id, err)
		}
		if err := br.QueryRow().Scan(&name); err != nil || name != "batched" {
			t.Errorf("select: %q %v", name, err)
		}
		if tag, err := br.Exec(); err != nil || tag.RowsAffected() != 1 {
			t.Errorf("update: %v %v", tag, err)
		}
		if err := br.Close(); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT name FROM items WHERE id = 300").Scan(&name); err != nil || name != "batched, updated" {
			t.Errorf("after the batch: %q %v", name, err)
		}
	})

	t.Run("CopyFrom loads rows and COPY TO reads them back", func(t *testing.T) {
		var rows [][]any
		var want strings.Builder
		for i := 1000; i < 3000; i++ {
			rows = append(rows, []any{i, "frank", fmt.Sprintf("copy\t%d", i)})
			fmt.Fprintf(&want, "%d\tfrank\tcopy\\t%d\n", i, i)
		}
		n, err := conn.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "owner", "name"}, pgx.CopyFromRows(rows))
		if err != nil || n != int64(len(rows)) {
			t.Fatalf("CopyFrom: %d rows, %v", n, err)
		}
		var out bytes.Buffer
		tag, err := conn.PgConn().CopyTo(ctx, &out, "COPY (SELECT id, owner, name FROM items WHERE id >= 1000 ORDER BY id) TO STDOUT")
		if err != nil || tag.RowsAffected() != int64(len(rows)) || out.String() != want.String() {
			t.Errorf("COPY TO: %v, %v, %d bytes (want %d)", tag, err, out.Len(), want.Len())
		}
	})

	t.Run("cancelling the context cancels pg_sleep with a CancelRequest, and the session goes on", func(t *testing.T) {
		cfg := s.pgxConfig(t, wt.Role, wt.Name, wt.Password, false)
		// pgx's default closes the socket on cancel; this handler sends a CancelRequest
		// with the BackendKeyData Kapok gave, and waits up to 5 s for the statement to end.
		cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 5 * time.Second}
		}
		c := s.connect(t, cfg)
		qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err := c.Exec(qctx, "SELECT pg_sleep(20)")
		took := time.Since(began)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" {
			t.Fatalf("after %s: %v, want SQLSTATE 57014 (query_canceled)", took, err)
		}
		if took > 4*time.Second {
			t.Errorf("the cancel took %s", took)
		}
		var one int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Errorf("the session after the cancel: %d %v", one, err)
		}
	})

	t.Run("a JWT as the password runs as its role, whose row-level security limits the rows", func(t *testing.T) {
		tok := wt.jwt(t, "alice")
		c := s.connect(t, s.pgxConfig(t, "token", wt.Name, tok, true))
		var who string
		if err := c.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil || who != wt.Reader {
			t.Errorf("current_user %q (err %v), want %s", who, err, wt.Reader)
		}
		rows, _ := c.Query(ctx, "SELECT DISTINCT owner FROM items WHERE id <= 10 ORDER BY owner")
		owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || !slices.Equal(owners, []string{"alice"}) {
			t.Errorf("owners seen with alice's token: %v (err %v)", owners, err)
		}
		// The same in a transaction, through a prepared statement.
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM items WHERE id <= $1", 10).Scan(&n); err != nil || n != 5 {
			t.Errorf("rows in a transaction: %d (err %v), want alice's 5", n, err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Error(err)
		}
	})
}

// preparedTransactions runs txs transactions on c, each using the named statement
// item_by_id and an unnamed query pgx prepares and caches, and counts the server backends
// that ran them.
func preparedTransactions(ctx context.Context, c *pgx.Conn, txs int, pids map[uint32]int) error {
	if _, err := c.Prepare(ctx, "item_by_id", "SELECT name FROM items WHERE id = $1"); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	for i := range txs {
		tx, err := c.Begin(ctx)
		if err != nil {
			return fmt.Errorf("transaction %d: begin: %w", i, err)
		}
		id := i%10 + 1
		var name string
		var pid uint32
		if err := tx.QueryRow(ctx, "item_by_id", id).Scan(&name); err != nil || name != "item "+strconv.Itoa(id) {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("transaction %d: item_by_id(%d) = %q: %v", i, id, name, err)
		}
		if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("transaction %d: %w", i, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("transaction %d: commit: %w", i, err)
		}
		pids[pid]++
	}
	return nil
}

var (
	psycopgOnce   sync.Once
	psycopgPython string
	psycopgErr    error
)

// requirePsycopg is a python3 that imports psycopg 3: Debian's python3-psycopg, installed
// with apt-get when the tests run as root and it is missing, as internal/devstack installs
// PostgreSQL; otherwise the test fails with the command to run.
func requirePsycopg(t *testing.T) string {
	t.Helper()
	psycopgOnce.Do(func() {
		find := func() string {
			candidates := []string{"/usr/bin/python3"}
			if p, err := exec.LookPath("python3"); err == nil {
				candidates = append(candidates, p)
			}
			for _, p := range candidates {
				if exec.Command(p, "-c", "import psycopg").Run() == nil {
					return p
				}
			}
			return ""
		}
		if psycopgPython = find(); psycopgPython != "" {
			return
		}
		const install = "apt-get update && apt-get install -y python3-psycopg"
		if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
			psycopgErr = fmt.Errorf("psycopg 3 is required for the wire client tests; install it with:\n  sudo %s", install)
			return
		}
		cmd := exec.Command("sh", "-c", install)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			psycopgErr = fmt.Errorf("%s: %v\n%s", install, err, out)
			return
		}
		if psycopgPython = find(); psycopgPython == "" {
			psycopgErr = fmt.Errorf("python3 cannot import psycopg after %s", install)
		}
	})
	if psycopgErr != nil {
		t.Fatal(psycopgErr)
	}
	return psycopgPython
}

func TestPsycopgThroughTheWirePort(t *testing.T) {
	python := requirePsycopg(t)
	wt := newWireTenant(t, "wire-psycopg", "wire_cli_psycopg", "")
	s := serveWire(t, wt)
	s.connect(t, s.pgxConfig(t, wt.Role, wt.Name, wt.Password, false))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "psycopg", "clients.py"))
	cmd.Env = toolEnv("KAPOK_WIRE_DSN="+s.DSN(wt.Role, wt.Name, true), "KAPOK_WIRE_PASSWORD="+wt.Password)
	testenv.ClientCases(t, "psycopg", cmd)
}

func TestNodePostgresThroughTheWirePort(t *testing.T) {
	dir := testenv.NodeDir(t, filepath.Join("testdata", "node-postgres"), "pg")
	node := requireTool(t, "node", "sudo apt-get install -y nodejs npm")
	wt := newWireTenant(t, "wire-node", "wire_cli_node", "")
	s := serveWire(t, wt)
	s.connect(t, s.pgxConfig(t, wt.Role, wt.Name, wt.Password, false))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "clients.mjs")
	cmd.Dir = dir
	cmd.Env = toolEnv("KAPOK_WIRE_HOST="+s.Host, "KAPOK_WIRE_PORT="+s.Port, "KAPOK_WIRE_USER="+wt.Role,
		"KAPOK_WIRE_DATABASE="+wt.Name, "KAPOK_WIRE_PASSWORD="+wt.Password, "KAPOK_WIRE_CA="+s.TLS.CA)
	testenv.ClientCases(t, "node-postgres", cmd)
}

func TestPgbenchThroughTheWirePort(t *testing.T) {
	pgbench := requireTool(t, "pgbench", postgresClientInstall)
	wt := newWireTenant(t, "wire-pgbench", "wire_cli_pgbench", "")
	// pgbench's tables, made as the superuser in the tenant's schema; Kapok grants the
	// tenant's role what is in its schema when it starts.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	initCmd := exec.CommandContext(ctx, pgbench, "-i", "-s", "1", "-I", "dtGp", "-q", testenv.DirectURL())
	initCmd.Env = toolEnv("PGOPTIONS=-c search_path=" + wt.Schema)
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	wt.PoolMaxConns = 3
	s := serveWire(t, wt)
	s.connect(t, s.pgxConfig(t, wt.Role, wt.Name, wt.Password, false))
	for _, c := range []struct{ mode, script string }{
		{"prepared", "select-only"}, {"extended", "select-only"}, {"prepared", "tpcb-like"}, {"extended", "tpcb-like"},
	} {
		t.Run(fmt.Sprintf("-M %s -b %s, 5 clients on 3 server connections", c.mode, c.script), func(t *testing.T) {
			cmd := exec.CommandContext(ctx, pgbench, "-n", "-M", c.mode, "-b", c.script, "-c", "5", "-j", "2", "-T", "2",
				s.DSN(wt.Role, wt.Name, false))
			cmd.Env = toolEnv("PGPASSWORD=" + wt.Password)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("pgbench: %v\n%s", err, out)
			}
			text := string(out)
			if !strings.Contains(text, "number of failed transactions: 0 ") || strings.Contains(text, "aborted") ||
				!strings.Contains(text, "query mode: "+c.mode) {
				t.Errorf("pgbench output:\n%s", text)
			}
			if processed := pgbenchProcessed(text); processed < 100 {
				t.Errorf("%d transactions in 2 s:\n%s", processed, text)
			}
		})
	}
}

// pgbenchProcessed reads "number of transactions actually processed: N" of pgbench's summary.
func pgbenchProcessed(out string) int {
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(line, "number of transactions actually processed: "); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return 0
}
