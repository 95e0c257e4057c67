package wire

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// The engine's tests script the statement guard's verdicts: they test what the engine does
// with effects and refusals, the guard's own tests what it finds in SQL.
type verdict struct {
	effects []effect
	refuse  *refusal
}

func scripted(v map[string]verdict) func(string, policy) ([]effect, *refusal) {
	return func(sql string, _ policy) ([]effect, *refusal) {
		r := v[sql]
		return r.effects, r.refuse
	}
}

// fixture is a scratch tenant (schema mode, isolation login, its own role) served by an
// Engine behind a loopback listener whose startup is trust-style: any user, AuthenticationOk.
type fixture struct {
	t       *testing.T
	e       *Engine
	met     *Metrics
	tenant  *control.Tenant
	schema  string
	role    string
	addr    string
	idents  sync.Map // startup user -> Identity
	pidNext uint32
	mu      sync.Mutex
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newFixture(t *testing.T, maxConns int32, ddl string) *fixture {
	t.Helper()
	suffix := randHex(4)
	f := &fixture{t: t, schema: "wire_engine_" + suffix}
	testenv.FreshSchema(t, f.schema, ddl)
	cfg := &control.Config{Upstreams: map[string]*control.Upstream{"default": {URL: testenv.DirectURL()}}}
	tc := &control.TenantConfig{Name: "wire-engine-" + suffix, Mode: "schema", Isolation: control.IsolationLogin,
		Schemas: []string{f.schema}, Pool: control.PoolConfig{MaxConns: maxConns, QueueTimeout: control.Duration(5 * time.Second)}}
	if err := cfg.NormalizeTenant(tc); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin := testenv.Conn(t)
	role, err := control.EnsureTenantRole(ctx, admin, tc, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	f.role = role
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		q := pgx.Identifier{role}.Sanitize()
		_, _ = c.Exec(context.Background(), "DROP OWNED BY "+q+" CASCADE; DROP ROLE IF EXISTS "+q)
	})
	f.tenant = &control.Tenant{Name: tc.Name, Config: tc, DirectURL: cfg.DirectURL(tc)}
	f.met = NewMetrics()
	f.e = NewEngine(EngineOptions{Config: cfg, Metrics: f.met})
	f.e.inspect = scripted(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	sctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.startup(sctx, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		f.e.Close()
		stop()
		wg.Wait()
	})
	return f
}

// startup does what the front does, without authentication: the session reads the
// client through a messageReader over the connection made fast.
func (f *fixture) startup(ctx context.Context, c net.Conn) {
	c = fast(c)
	be := pgproto3.NewBackend(c, c)
	for {
		m, err := be.ReceiveStartupMessage()
		if err != nil {
			_ = c.Close()
			return
		}
		switch m := m.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := c.Write([]byte{'N'}); err != nil {
				_ = c.Close()
				return
			}
			continue
		case *pgproto3.CancelRequest:
			if len(m.SecretKey) == 4 {
				f.e.Cancel(m.ProcessID, binary.BigEndian.Uint32(m.SecretKey))
			}
			_ = c.Close()
			return
		case *pgproto3.StartupMessage:
			user := m.Parameters["user"]
			id := Identity{Tenant: f.tenant, User: user, Params: map[string]string{}}
			if v, ok := f.idents.Load(user); ok {
				id = v.(Identity)
				id.Tenant, id.User = f.tenant, user
			}
			for k, v := range m.Parameters {
				if k != "user" && k != "database" {
					if id.Params == nil {
						id.Params = map[string]string{}
					}
					id.Params[k] = v
				}
			}
			f.mu.Lock()
			f.pidNext++
			pid := f.pidNext
			f.mu.Unlock()
			mr := newMessageReader(c)
			be = pgproto3.NewBackend(mr, c)
			be.Send(&pgproto3.AuthenticationOk{})
			_ = f.e.Serve(ctx, &Client{Conn: c, Backend: be, PID: pid, Secret: pid*7919 + 13, reader: mr}, id)
			_ = c.Close()
			return
		}
	}
}

// connect opens a pgx connection as user through the engine.
func (f *fixture) connect(user string) *pgx.Conn {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@%s/kapok?sslmode=disable", user, f.addr))
	if err != nil {
		f.t.Fatalf("connect through the engine: %v", err)
	}
	f.t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// count is the value of the counter series of the fixture's metrics with these label values.
func (f *fixture) count(name string, labels ...string) float64 {
	f.t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(f.met)
	fams, err := reg.Gather()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, fam := range fams {
		if fam.GetName() != name {
			continue
		}
	series:
		for _, m := range fam.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			values := map[string]bool{}
			for _, l := range m.GetLabel() {
				values[l.GetValue()] = true
			}
			for _, v := range labels {
				if !values[v] {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// waitStopped waits up to 5 s for no backend of the fixture's role to run a statement
// starting with prefix: the statement of a client that went away must be cancelled.
func (f *fixture) waitStopped(prefix string) {
	f.t.Helper()
	admin := testenv.Conn(f.t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND starts_with(query, $2) AND state = 'active'", f.role, prefix).Scan(&n); err != nil {
			f.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatal("the statement of a client that went away still runs")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestSimpleAndExtendedQueries(t *testing.T) {
	f := newFixture(t, 2, `CREATE TABLE item (id int PRIMARY KEY, name text)`)
	ctx := ctxT(t)
	c := f.connect("app")

	// Simple protocol, several statements in one Query.
	res, err := c.PgConn().Exec(ctx, "INSERT INTO item VALUES (1, 'one'), (2, 'two'); SELECT name FROM item ORDER BY id").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].CommandTag.String() != "INSERT 0 2" || len(res[1].Rows) != 2 || string(res[1].Rows[1][0]) != "two" {
		t.Fatalf("simple query results: %+v", res)
	}
	// Extended protocol with parameters (pgx prepares and caches the statement).
	for i := range 5 {
		var name string
		if err := c.QueryRow(ctx, "SELECT name FROM item WHERE id = $1", 1+i%2).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if want := []string{"one", "two"}[i%2]; name != want {
			t.Fatalf("got %q, want %q", name, want)
		}
	}
	// An error leaves the session usable, as PostgreSQL does.
	if _, err := c.Exec(ctx, "SELECT 1/0"); pgCode(err) != "22012" {
		t.Fatalf("division by zero: %v", err)
	}
	if _, err := c.Exec(ctx, "SELECT $1::int/0", 1); pgCode(err) != "22012" {
		t.Fatalf("division by zero, extended: %v", err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM item").Scan(&n); err != nil || n != 2 {
		t.Fatalf("count: %d %v", n, err)
	}
	// An empty query.
	if _, err := c.PgConn().Exec(ctx, "").ReadAll(); err != nil {
		t.Fatal(err)
	}
	// Unnamed statements through the exec mode that uses them.
	var name string
	if err := c.QueryRow(ctx, "SELECT name FROM item WHERE id = $1", pgx.QueryExecModeExec, 2).Scan(&name); err != nil || name != "two" {
		t.Fatalf("unnamed statement: %q %v", name, err)
	}
}

func TestPreparedStatementSurvivesTransactionPooling(t *testing.T) {
	f := newFixture(t, 2, `CREATE TABLE sq (n int); INSERT INTO sq SELECT generate_series(1, 1000)`)
	ctx := ctxT(t)
	const sessions, perSession = 4, 250
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for s := range sessions {
		c := f.connect(fmt.Sprintf("app%d", s))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Prepare(ctx, "double", "SELECT n * 2 FROM sq WHERE n = $1"); err != nil {
				errs <- err
				return
			}
			for i := range perSession {
				n := 1 + (s*perSession+i)%1000
				var got int
				if err := c.QueryRow(ctx, "double", n).Scan(&got); err != nil {
					errs <- fmt.Errorf("session %d, transaction %d: %w", s, i, err)
					return
				}
				if got != 2*n {
					errs <- fmt.Errorf("session %d: got %d for %d", s, got, n)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	server := f.count("kapok_wire_prepares_total", "server")
	re := f.count("kapok_wire_prepares_total", "reprepare")
	client := f.count("kapok_wire_prepares_total", "client")
	if client < sessions {
		t.Fatalf("client prepares: %v, want at least %d", client, sessions)
	}
	// One statement, at most two server connections: prepared at most twice.
	if server+re > 2 || server+re < 1 {
		t.Fatalf("the statement was prepared %v times on server connections (%v on Parse, %v re-prepared), want 1 or 2", server+re, server, re)
	}
	if tx := f.count("kapok_wire_transactions_total", f.tenant.Name); tx < sessions*perSession {
		t.Fatalf("transactions: %v, want at least %d", tx, sessions*perSession)
	}
}

func TestStatementRenamedOnServer(t *testing.T) {
	f := newFixture(t, 1, "")
	ctx := ctxT(t)
	c := f.connect("app")
	if _, err := c.Prepare(ctx, "mine", "SELECT name FROM pg_catalog.pg_prepared_statements WHERE statement = 'SELECT name FROM pg_catalog.pg_prepared_statements WHERE statement = $1' OR $1 = ''"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := c.QueryRow(ctx, "mine", "").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "kw_") || len(name) != 19 {
		t.Fatalf("server statement name %q, want kw_ and 16 hex digits", name)
	}
	// Closed by the client, it no longer exists for the session.
	if err := c.Deallocate(ctx, "mine"); err != nil {
		t.Fatal(err)
	}
	_, err := c.PgConn().ExecPrepared(ctx, "mine", nil, nil, nil).Close()
	if pgCode(err) != "26000" || !strings.Contains(err.Error(), `"mine"`) {
		t.Fatalf("executing a closed statement: %v", err)
	}
}

func TestTransactionPinsServerConnection(t *testing.T) {
	f := newFixture(t, 2, "")
	ctx := ctxT(t)
	a, b := f.connect("a"), f.connect("b")
	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE scratch (v int) ON COMMIT DROP"); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := tx.Exec(ctx, "INSERT INTO scratch VALUES ($1)", i); err != nil {
			t.Fatal(err)
		}
		// Another session runs meanwhile on the other server connection.
		var one int
		if err := b.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM scratch").Scan(&n); err != nil || n != 20 {
		t.Fatalf("rows in the temporary table: %d %v", n, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctx, "SELECT count(*) FROM scratch"); pgCode(err) != "42P01" {
		t.Fatalf("the table outlived its transaction: %v", err)
	}
}

func TestSettingsFollowTheSession(t *testing.T) {
	other := "wire_engine_other_" + randHex(4)
	testenv.FreshSchema(t, other, "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('other')")
	f := newFixture(t, 2, "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('home')")
	testenv.Exec(t, fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s; GRANT SELECT ON ALL TABLES IN SCHEMA %s TO %s",
		pgx.Identifier{other}.Sanitize(), pgx.Identifier{f.role}.Sanitize(), pgx.Identifier{other}.Sanitize(), pgx.Identifier{f.role}.Sanitize()))
	setPath := "SET search_path = " + other
	f.e.inspect = scripted(map[string]verdict{
		"SET application_name = 'alpha'": {effects: []effect{{Kind: effectSet, Name: "application_name", Value: "'alpha'"}}},
		setPath:                          {effects: []effect{{Kind: effectSet, Name: "search_path", Value: other}}},
	})
	ctx := ctxT(t)
	a, b := f.connect("a"), f.connect("b")
	for _, q := range []string{"SET application_name = 'alpha'", setPath} {
		if _, err := a.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	type view struct {
		app, marker string
		pid         int
	}
	look := func(c *pgx.Conn) view {
		t.Helper()
		var v view
		// Simple protocol: pgx's statement cache would pin the table of the first search_path.
		if err := c.QueryRow(ctx, "SELECT current_setting('application_name'), (SELECT v FROM marker), pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&v.app, &v.marker, &v.pid); err != nil {
			t.Fatal(err)
		}
		return v
	}
	pids := map[int]bool{}
	check := func(round int) {
		va, vb := look(a), look(b)
		pids[va.pid] = true
		if va.app != "alpha" || va.marker != "other" {
			t.Fatalf("round %d: session a sees application_name %q and marker %q", round, va.app, va.marker)
		}
		if vb.app == "alpha" || vb.marker != "home" {
			t.Fatalf("round %d: session b sees application_name %q and marker %q", round, vb.app, vb.marker)
		}
	}
	check(0)
	for round := 1; round <= 6; round++ {
		// A transaction of b holds the connection a used last, so a moves to the other.
		tx, err := b.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var pid int
		if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		va := look(a)
		pids[va.pid] = true
		if va.app != "alpha" || va.marker != "other" || va.pid == pid {
			t.Fatalf("round %d: session a sees %+v while b holds backend %d", round, va, pid)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		check(round)
	}
	if len(pids) < 2 {
		t.Fatalf("session a ran on %d server connection(s), want 2", len(pids))
	}
}

func TestRoleAndClaimsOnEveryServerConnection(t *testing.T) {
	f := newFixture(t, 2, "")
	reader := "wire_engine_reader_" + randHex(4)
	testenv.Exec(t, fmt.Sprintf("CREATE ROLE %s NOLOGIN; GRANT %s TO %s", reader, reader, pgx.Identifier{f.role}.Sanitize()))
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+reader)
			_ = c.Close(context.Background())
		}
	})
	claims := `{"sub":"u-1","role":"` + reader + `","note":"it's"}`
	f.idents.Store("token", Identity{Role: reader, Claims: []byte(claims), Token: true})
	ctx := ctxT(t)
	tok, plain, third := f.connect("token"), f.connect("plain"), f.connect("third")
	pids := map[int]bool{}
	for i := range 12 {
		// third holds one connection every other round, so the others move between both.
		var tx pgx.Tx
		if i%2 == 0 {
			var err error
			if tx, err = third.Begin(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatal(err)
			}
		}
		var user, got string
		var pid int
		if err := tok.QueryRow(ctx, "SELECT current_user, current_setting('request.jwt.claims'), pg_backend_pid()").Scan(&user, &got, &pid); err != nil {
			t.Fatal(err)
		}
		pids[pid] = true
		if user != reader || got != claims {
			t.Fatalf("round %d: token session runs as %q with claims %q", i, user, got)
		}
		var gotNull *string
		if err := plain.QueryRow(ctx, "SELECT current_user, nullif(current_setting('request.jwt.claims', true), '')").Scan(&user, &gotNull); err != nil {
			t.Fatal(err)
		}
		if user != f.role || gotNull != nil {
			t.Fatalf("round %d: plain session runs as %q with claims %v", i, user, gotNull)
		}
		if tx != nil {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(pids) < 2 {
		t.Fatalf("the token session ran on %d server connection(s), want 2", len(pids))
	}
}

func TestCopyInAndOut(t *testing.T) {
	f := newFixture(t, 1, "CREATE TABLE c (id int, v text)")
	ctx := ctxT(t)
	c := f.connect("app")
	var in strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&in, "%d\tvalue %d\n", i, i)
	}
	tag, err := c.PgConn().CopyFrom(ctx, strings.NewReader(in.String()), "COPY c FROM STDIN")
	if err != nil || tag.RowsAffected() != 5000 {
		t.Fatalf("copy in: %v %v", tag, err)
	}
	var out strings.Builder
	tag, err = c.PgConn().CopyTo(ctx, &out, "COPY (SELECT * FROM c ORDER BY id) TO STDOUT")
	if err != nil || tag.RowsAffected() != 5000 {
		t.Fatalf("copy out: %v %v", tag, err)
	}
	if out.String() != in.String() {
		t.Fatalf("copy out returned %d bytes, want the %d copied in", out.Len(), in.Len())
	}
	// A failed COPY (bad data) aborts as in PostgreSQL and the session goes on.
	if _, err := c.PgConn().CopyFrom(ctx, strings.NewReader("x\ty\n"), "COPY c FROM STDIN"); pgCode(err) != "22P02" {
		t.Fatalf("bad copy data: %v", err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM c").Scan(&n); err != nil || n != 5000 {
		t.Fatalf("count after copies: %d %v", n, err)
	}
}

func TestClientGoneMidStatementCancelsIt(t *testing.T) {
	f := newFixture(t, 1, "")
	c := f.connect("app")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// pgx gives up on the connection when ctx ends; the engine drops the server connection
	// and cancels what it ran, so the backend does not sleep on for 20 s.
	if _, err := c.Exec(ctx, "SELECT pg_sleep(20)"); err == nil {
		t.Fatal("pg_sleep(20) returned before its context ended")
	}
	f.waitStopped("SELECT pg_sleep(20)")
	d := f.connect("next")
	var one int
	if err := d.QueryRow(ctxT(t), "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
}

func TestCancelWithoutContextCancelsStatement(t *testing.T) {
	f := newFixture(t, 1, "")
	c := f.connect("app")
	ctx := ctxT(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(ctx, "SELECT pg_sleep(20)")
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if err := c.PgConn().CancelRequest(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if f.count("kapok_wire_cancels_total") != 1 {
			t.Fatal("the cancel request was not counted")
		}
		if pgCode(err) != "57014" {
			t.Fatalf("cancelled statement: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the statement was not cancelled")
	}
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
}

func TestIdleInTransactionTimeout(t *testing.T) {
	f := newFixture(t, 1, "")
	f.e.idleInTx = 300 * time.Millisecond
	ctx := ctxT(t)
	c := f.connect("app")
	if _, err := c.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	_, err := c.Exec(ctx, "SELECT 1")
	if err == nil {
		t.Fatal("the session outlived its idle-in-transaction timeout")
	}
	if code := pgCode(err); code != "25P03" && !c.IsClosed() {
		t.Fatalf("after the timeout: %v", err)
	}
	// Its server connection was freed for others (the pool holds one).
	d := f.connect("next")
	var status string
	if err := d.QueryRow(ctx, "SELECT state FROM pg_stat_activity WHERE pid = pg_backend_pid()").Scan(&status); err != nil {
		t.Fatal(err)
	}
}

func TestRefusalMidPipelineAbortsLikeAnError(t *testing.T) {
	f := newFixture(t, 1, "CREATE TABLE t (v int)")
	f.e.inspect = scripted(map[string]verdict{
		"LISTEN news": {refuse: &refusal{Code: "0A000", Message: "LISTEN is not supported", Hint: "Use a direct connection."}},
	})
	ctx := ctxT(t)
	c := f.connect("app")
	pc := c.PgConn()

	// One implicit transaction up to Sync: the insert before the refusal is rolled back
	// and the statement after it is skipped.
	batch := &pgconn.Batch{}
	batch.ExecParams("INSERT INTO t VALUES (1)", nil, nil, nil, nil)
	batch.ExecParams("LISTEN news", nil, nil, nil, nil)
	batch.ExecParams("INSERT INTO t VALUES (2)", nil, nil, nil, nil)
	res, err := pc.ExecBatch(ctx, batch).ReadAll()
	if pgCode(err) != "0A000" || !strings.Contains(err.Error(), "LISTEN is not supported") {
		t.Fatalf("refused batch: %v", err)
	}
	if len(res) == 0 || res[0].Err != nil || res[0].CommandTag.String() != "INSERT 0 1" {
		t.Fatalf("batch results: %+v", res)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows after the refused batch: %d %v", n, err)
	}

	// In a transaction the refusal aborts it.
	if _, err := c.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "INSERT INTO t VALUES (3)"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "LISTEN news"); pgCode(err) != "0A000" {
		t.Fatalf("refused in a transaction: %v", err)
	}
	if _, err := c.Exec(ctx, "SELECT 1"); pgCode(err) != "25P02" {
		t.Fatalf("after the refusal the transaction should be aborted: %v", err)
	}
	if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	// Refused with no server connection held, then the session goes on.
	if _, err := c.Exec(ctx, "LISTEN news"); pgCode(err) != "0A000" {
		t.Fatalf("refused alone: %v", err)
	}
	if err := c.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows at the end: %d %v", n, err)
	}
	if got := f.count("kapok_wire_refused_statements_total", f.tenant.Name, "0A000"); got != 3 {
		t.Fatalf("refused statements counted: %v, want 3", got)
	}
}

func TestDeallocateAndDiscardAreTheSessions(t *testing.T) {
	f := newFixture(t, 1, "")
	f.e.inspect = scripted(map[string]verdict{
		"DEALLOCATE ALL":                 {effects: []effect{{Kind: effectDeallocateAll}}},
		"DISCARD ALL":                    {effects: []effect{{Kind: effectDiscardAll}}},
		"SET application_name = 'alpha'": {effects: []effect{{Kind: effectSet, Name: "application_name", Value: "'alpha'"}}},
	})
	ctx := ctxT(t)
	c := f.connect("app")
	pc := c.PgConn()
	if _, err := pc.Prepare(ctx, "s1", "SELECT 1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "DEALLOCATE ALL"); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.ExecPrepared(ctx, "s1", nil, nil, nil).Close(); pgCode(err) != "26000" {
		t.Fatalf("after DEALLOCATE ALL: %v", err)
	}
	// The server connection kept the statement: preparing it again needs no server Parse.
	before := f.count("kapok_wire_prepares_total", "server")
	if _, err := pc.Prepare(ctx, "s1", "SELECT 1", nil); err != nil {
		t.Fatal(err)
	}
	if after := f.count("kapok_wire_prepares_total", "server"); after != before {
		t.Fatalf("server prepares went from %v to %v", before, after)
	}
	if _, err := c.Exec(ctx, "SET application_name = 'alpha'"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "DISCARD ALL"); err != nil {
		t.Fatal(err)
	}
	var app string
	if err := c.QueryRow(ctx, "SELECT current_setting('application_name')", pgx.QueryExecModeSimpleProtocol).Scan(&app); err != nil || app == "alpha" {
		t.Fatalf("application_name after DISCARD ALL: %q %v", app, err)
	}
	if _, err := pc.ExecPrepared(ctx, "s1", nil, nil, nil).Close(); pgCode(err) != "26000" {
		t.Fatalf("after DISCARD ALL: %v", err)
	}
}

func TestDrain(t *testing.T) {
	f := newFixture(t, 2, "")
	ctx := ctxT(t)
	idle, busy := f.connect("idle"), f.connect("busy")
	tx, err := busy.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	f.e.Drain()
	if _, err := idle.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("an idle session survived the drain")
	} else if code := pgCode(err); code != "57P01" && !idle.IsClosed() {
		t.Fatalf("idle session after the drain: %v", err)
	}
	// The transaction in progress finishes, then its session is closed.
	if _, err := tx.Exec(ctx, "SELECT 2"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := busy.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("a session survived the end of its transaction after the drain")
	}
	// New sessions are turned away.
	c, err := pgx.Connect(ctx, fmt.Sprintf("postgres://late@%s/kapok?sslmode=disable", f.addr))
	if err == nil {
		_ = c.Close(ctx)
		t.Fatal("a session started during the drain")
	}
}

// The relay never reads a message twice nor leaks a server connection: after every test
// above, each session's connection went back to the pool.
func TestServerConnectionsReturnToThePool(t *testing.T) {
	f := newFixture(t, 2, "")
	ctx := ctxT(t)
	for i := range 3 {
		c := f.connect(fmt.Sprintf("s%d", i))
		if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		_ = c.Close(ctx)
	}
	p, err := f.e.pool(f.tenant)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		idle, open := len(p.idle), p.open
		p.mu.Unlock()
		if idle == open && open >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d server connections open, %d idle", open, idle)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestQueueTimeoutFailsOneStatement(t *testing.T) {
	f := newFixture(t, 1, "")
	p, err := f.e.pool(f.tenant)
	if err != nil {
		t.Fatal(err)
	}
	p.queue = 200 * time.Millisecond
	ctx := ctxT(t)
	a, b := f.connect("a"), f.connect("b")
	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Exec(ctx, "SELECT 1"); pgCode(err) != "53300" {
		t.Fatalf("waiting past the queue timeout: %v", err)
	}
	if _, err := b.Exec(ctx, "SELECT $1::int", 1); pgCode(err) != "53300" {
		t.Fatalf("waiting past the queue timeout, extended protocol: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, "SELECT $1::int", 7).Scan(&n); err != nil || n != 7 {
		t.Fatalf("after the holder committed: %d %v", n, err)
	}
}

func TestPreparedStatementsEvictedBeyondTheCap(t *testing.T) {
	f := newFixture(t, 1, "")
	f.e.maxPrepared = 2
	ctx := ctxT(t)
	c := f.connect("app")
	pc := c.PgConn()
	for i := range 3 {
		if _, err := pc.Prepare(ctx, fmt.Sprintf("s%d", i), fmt.Sprintf("SELECT %d + $1::int", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Each one runs, the evicted ones re-prepared, in one pipeline and across transactions.
	for round := range 3 {
		for i := range 3 {
			res := pc.ExecPrepared(ctx, fmt.Sprintf("s%d", i), [][]byte{[]byte("10")}, nil, nil).Read()
			if res.Err != nil {
				t.Fatalf("round %d, s%d: %v", round, i, res.Err)
			}
			if got, want := string(res.Rows[0][0]), fmt.Sprint(10+i); got != want {
				t.Fatalf("round %d, s%d: got %s, want %s", round, i, got, want)
			}
		}
	}
	batch := &pgconn.Batch{}
	for i := range 3 {
		batch.ExecPrepared(fmt.Sprintf("s%d", i), [][]byte{[]byte("20")}, nil, nil)
	}
	res, err := pc.ExecBatch(ctx, batch).ReadAll()
	if err != nil || len(res) != 3 {
		t.Fatalf("pipeline of the three: %v", err)
	}
	for i, r := range res {
		if got, want := string(r.Rows[0][0]), fmt.Sprint(20+i); got != want {
			t.Fatalf("pipeline, s%d: got %s, want %s", i, got, want)
		}
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_catalog.pg_prepared_statements WHERE name LIKE 'kw\\_%'", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n > 2 {
		t.Fatalf("statements on the server connection: %d %v, want at most 2", n, err)
	}
	if f.count("kapok_wire_prepares_total", "reprepare") == 0 {
		t.Fatal("no statement was re-prepared after its eviction")
	}
}

// A set_config the guard lets through is no setting the engine can replay or undo by name:
// the next session on that server connection must not inherit it.
func TestSetConfigDoesNotLeakToTheNextSession(t *testing.T) {
	f := newFixture(t, 1, "CREATE TABLE marker (v text)")
	f.e.inspect = inspect // the statement guard itself, not a script
	ctx := ctxT(t)
	a, b := f.connect("a"), f.connect("b")
	var before string
	if err := b.QueryRow(ctx, "SHOW search_path", pgx.QueryExecModeSimpleProtocol).Scan(&before); err != nil {
		t.Fatal(err)
	}
	var set string
	if err := a.QueryRow(ctx, "SELECT set_config('search_path', 'pg_catalog', false)", pgx.QueryExecModeSimpleProtocol).Scan(&set); err != nil {
		t.Fatal(err)
	}
	var pidA, pidB int
	var after string
	if err := a.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pidA); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRow(ctx, "SELECT current_setting('search_path'), pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&after, &pidB); err != nil {
		t.Fatal(err)
	}
	if pidA != pidB {
		t.Fatalf("one server connection was expected (pool of 1), got backends %d and %d", pidA, pidB)
	}
	if after != before {
		t.Fatalf("session b sees search_path %q after session a's set_config; it had %q", after, before)
	}
}
