package poolmgr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestRun(t *testing.T) {
	m := newManager(t, Config{})
	p, err := m.Get(ctx5s(t), "poolmgr_t_run", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctx5s(t)

	t.Run("one statement appends its value to dst", func(t *testing.T) {
		out, ends, err := p.Run(ctx, &Request{Statements: []statement.Statement{{
			SQL:  `SELECT json_build_object('n', $1::int4, 's', $2::text, 'null', $3::text)`,
			Args: [][]byte{[]byte("42"), []byte("héllo"), nil},
		}}}, []byte(`{"data":`))
		if err != nil {
			t.Fatal(err)
		}
		// a nil argument is SQL NULL
		if got, want := string(out), `{"data":{"n" : 42, "s" : "héllo", "null" : null}`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		if len(ends) != 1 || ends[0] != len(out) {
			t.Fatalf("ends %v, len %d", ends, len(out))
		}
	})

	t.Run("several statements fill one value each", func(t *testing.T) {
		out, ends, err := p.Run(ctx, &Request{Statements: []statement.Statement{
			stmt(`SELECT '[1]'::json`), stmt(`SELECT NULL::json`), stmt(`SELECT to_json($1::text)`, "x"),
		}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != `[1]null"x"` || fmt.Sprint(ends) != "[3 7 10]" {
			t.Fatalf("got %s %v", out, ends)
		}
	})

	t.Run("a rows statement gathers its rows behind their count", func(t *testing.T) {
		const sql = `SELECT v FROM (VALUES (1, '{"a":1}'::json), (2, NULL), (3, '"x"')) AS r(i, v) WHERE i <= $1::int4 ORDER BY i`
		for _, c := range []struct{ n, want string }{
			{"3", `keep3,,[{"a":1},null,"x"]`},
			{"1", `keep1,,[{"a":1}]`},
			{"0", `keep0,,[]`},
		} {
			out, ends, err := p.Run(ctx, &Request{Statements: []statement.Statement{{SQL: sql, Args: [][]byte{[]byte(c.n)}, Result: statement.Envelope}}}, []byte("keep"))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != c.want || len(ends) != 1 || ends[0] != len(out) {
				t.Fatalf("got %s %v, want %s", out, ends, c.want)
			}
		}
		// In a batch (a session prelude), next to a one-value statement.
		out, ends, err := p.Run(ctx, &Request{Session: &Session{Role: ""}, Statements: []statement.Statement{
			{SQL: sql, Args: [][]byte{[]byte("2")}, Result: statement.Envelope}, stmt(`SELECT '[1]'::json`),
		}}, nil)
		if err != nil || string(out) != `2,,[{"a":1},null][1]` || fmt.Sprint(ends) != "[17 20]" {
			t.Fatalf("batch: got %s %v %v", out, ends, err)
		}
		for _, c := range []struct {
			r       statement.Result
			n, want string
		}{
			{statement.Array, "3", `keep[{"a":1},null,"x"]`},
			{statement.Array, "0", `keep[]`},
			{statement.One, "1", `keep{"a":1}`},
			{statement.One, "0", `keepnull`},
		} {
			out, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{{SQL: sql, Args: [][]byte{[]byte(c.n)}, Result: c.r}}}, []byte("keep"))
			if err != nil || string(out) != c.want {
				t.Fatalf("result %d, %s rows: got %s %v, want %s", c.r, c.n, out, err, c.want)
			}
		}
		// A command's envelope holds the rows its tag reports.
		out, _, err = p.Run(ctx, &Request{Statements: []statement.Statement{{SQL: `SELECT 1 FROM generate_series(1, $1::int4)`, Args: [][]byte{[]byte("4")}, Result: statement.Count}}}, []byte("keep"))
		if err != nil || string(out) != `keep4,,[]` {
			t.Fatalf("count: got %s %v", out, err)
		}
		out, _, err = p.Run(ctx, &Request{Statements: []statement.Statement{{SQL: sql, Args: [][]byte{[]byte("2")}, Result: statement.One}}}, []byte("keep"))
		if !errors.Is(err, ErrResultShape) || string(out) != "keep" {
			t.Fatalf("two rows for one: got %q %v", out, err)
		}
		// Two columns is a shape error, and dst is left as it was.
		out, ends, err = p.Run(ctx, &Request{Statements: []statement.Statement{{SQL: `SELECT 1, 2`, Result: statement.Array}}}, []byte("keep"))
		if !errors.Is(err, ErrResultShape) || string(out) != "keep" || ends != nil {
			t.Fatalf("two columns: got %q %v %v", out, ends, err)
		}
	})

	t.Run("a statement with no row is a shape error and leaves dst alone", func(t *testing.T) {
		out, ends, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json WHERE false`)}}, []byte("keep"))
		if !errors.Is(err, ErrResultShape) || string(out) != "keep" || ends != nil {
			t.Fatalf("got %q %v %v", out, ends, err)
		}
	})

	t.Run("a statement with two columns is a shape error", func(t *testing.T) {
		_, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json, '2'::json`)}}, nil)
		if !errors.Is(err, ErrResultShape) {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("a session sets role, claims and request settings for the statement only", func(t *testing.T) {
		out, _, err := p.Run(ctx, &Request{
			Session: &Session{Role: "postgres", Claims: []byte(`{"sub":"u1","role":"postgres"}`), Method: "POST", Path: "/rest/v1/x", Headers: []byte(`{"h":"v"}`), StatementTimeout: 1500 * time.Millisecond},
			Statements: []statement.Statement{stmt(`SELECT json_build_object('sub', current_setting('request.jwt.claims', true)::json->>'sub',
				'method', current_setting('request.method', true), 'path', current_setting('request.path', true),
				'h', current_setting('request.headers', true)::json->>'h', 'timeout', current_setting('statement_timeout'))`)},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"sub" : "u1", "method" : "POST", "path" : "/rest/v1/x", "h" : "v", "timeout" : "1500ms"}`
		if string(out) != want {
			t.Fatalf("got %s, want %s", out, want)
		}
	})

	t.Run("a RoleOnly session sets the role and the timeout alone", func(t *testing.T) {
		read := stmt(`SELECT json_build_object('user', current_user, 'claims', coalesce(current_setting('request.jwt.claims', true), ''),
			'method', coalesce(current_setting('request.method', true), ''), 'h', coalesce(current_setting('request.headers', true), ''),
			'timeout', current_setting('statement_timeout'))`)
		for range 3 { // the connection has run full preludes before: nothing of theirs is left
			out, _, err := p.Run(ctx, &Request{
				Session:    &Session{Role: "pg_monitor", Claims: []byte(`{"sub":"u1"}`), Method: "POST", Path: "/rest/v1/x", Headers: []byte(`{"h":"v"}`), StatementTimeout: 1500 * time.Millisecond, RoleOnly: true},
				Statements: []statement.Statement{read},
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"user" : "pg_monitor", "claims" : "", "method" : "", "h" : "", "timeout" : "1500ms"}`
			if string(out) != want {
				t.Fatalf("got %s, want %s", out, want)
			}
			if _, _, err := p.Run(ctx, &Request{Session: &Session{Role: "pg_monitor", Claims: []byte(`{"sub":"u2"}`), Method: "GET"},
				Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestRunMapsPostgresErrors(t *testing.T) {
	testenv.FreshSchema(t, "poolmgr_t_errors", `CREATE TABLE item (id int PRIMARY KEY, code text CONSTRAINT item_code_key UNIQUE)`)
	m := newManager(t, Config{})
	p, err := m.Get(ctx5s(t), "poolmgr_t_errors", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctx5s(t)
	insert := `WITH i AS (INSERT INTO poolmgr_t_errors.item VALUES ($1::int4, $2::text) RETURNING id) SELECT json_agg(id) FROM i`

	t.Run("a unique violation gives 23505 and the constraint name", func(t *testing.T) {
		if _, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(insert, "1", "a")}}, nil); err != nil {
			t.Fatal(err)
		}
		_, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(insert, "2", "a")}}, nil)
		var pe *PgError
		if !errors.As(err, &pe) {
			t.Fatalf("want *PgError, got %T %v", err, err)
		}
		if pe.SQLState() != "23505" || pe.ConstraintName() != "item_code_key" || pe.Statement != 0 ||
			!strings.Contains(pe.Detail(), "(code)=(a)") || pe.Message() == "" {
			t.Fatalf("got %+v", pe.Err)
		}
		var raw *pgconn.PgError
		if !errors.As(err, &raw) || raw != pe.Err {
			t.Fatal("the raw *pgconn.PgError is not reachable")
		}
	})

	t.Run("a syntax error carries its position", func(t *testing.T) {
		_, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT json_build_object(1 2)`)}}, nil)
		var pe *PgError
		if !errors.As(err, &pe) || pe.SQLState() != "42601" || pe.Position() != 28 {
			t.Fatalf("got %v (position %d)", err, pe.Position())
		}
	})

	t.Run("a failing second statement reports its index", func(t *testing.T) {
		_, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`), stmt(`SELECT to_json(1/0)`)}}, nil)
		var pe *PgError
		if !errors.As(err, &pe) || pe.SQLState() != "22012" || pe.Statement != 1 {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("an unknown role fails in the prelude", func(t *testing.T) {
		_, _, err := p.Run(ctx, &Request{Session: &Session{Role: "poolmgr_t_no_such_role"}, Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil)
		var pe *PgError
		if !errors.As(err, &pe) || pe.Statement != -1 || pe.SQLState() != "22023" {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("the tenant statement timeout cancels a slow statement", func(t *testing.T) {
		p2, err := m.Get(ctx, "poolmgr_t_errors_timeout", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 1, StatementTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = p2.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT to_json(pg_sleep(2))`)}}, nil)
		var pe *PgError
		if !errors.As(err, &pe) || pe.SQLState() != "57014" {
			t.Fatalf("got %v", err)
		}
	})
}

func TestBatchIsOneTransaction(t *testing.T) {
	testenv.FreshSchema(t, "poolmgr_t_rollback", `CREATE TABLE t (v int PRIMARY KEY)`)
	insert := `WITH i AS (INSERT INTO poolmgr_t_rollback.t VALUES ($1::int4) RETURNING v) SELECT json_agg(v) FROM i`
	count := func(t *testing.T) int {
		var n int
		if err := testenv.Conn(t).QueryRow(context.Background(), `SELECT count(*) FROM poolmgr_t_rollback.t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	m := newManager(t, Config{})
	p, err := m.Get(ctx5s(t), "poolmgr_t_rollback", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctx5s(t)

	t.Run("an error in the last statement undoes the first statement's write", func(t *testing.T) {
		_, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(insert, "1"), stmt(insert, "2"), stmt(`SELECT to_json(1/0)`)}}, nil)
		if err == nil {
			t.Fatal("want an error")
		}
		if n := count(t); n != 0 {
			t.Fatalf("%d rows survived the failed batch", n)
		}
	})

	t.Run("with a session the prelude and the writes roll back together", func(t *testing.T) {
		_, _, err := p.Run(ctx, &Request{Session: &Session{Role: "postgres"}, Statements: []statement.Statement{stmt(insert, "1"), stmt(insert, "1")}}, nil)
		var pe *PgError
		if !errors.As(err, &pe) || pe.SQLState() != "23505" || pe.Statement != 1 {
			t.Fatalf("got %v", err)
		}
		if n := count(t); n != 0 {
			t.Fatalf("%d rows survived the failed batch", n)
		}
	})

	t.Run("a successful batch commits every statement", func(t *testing.T) {
		out, _, err := p.Run(ctx, &Request{Session: &Session{Role: "postgres"}, Statements: []statement.Statement{stmt(insert, "1"), stmt(insert, "2")}}, nil)
		if err != nil || string(out) != "[1][2]" {
			t.Fatalf("got %s %v", out, err)
		}
		if n := count(t); n != 2 {
			t.Fatalf("%d rows, want 2", n)
		}
	})

	t.Run("the next request on the same connection is clean", func(t *testing.T) {
		out, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT to_json(current_setting('request.jwt.claims', true))`)}}, nil)
		if err != nil || (string(out) != `""` && string(out) != "null") {
			t.Fatalf("got %s %v", out, err)
		}
	})
}

func TestOneRoundTripPerRequest(t *testing.T) {
	var rt roundTrips
	m := newManager(t, Config{})
	m.wrapConn = rt.wrap
	p, err := m.Get(ctx5s(t), "poolmgr_t_rtt", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctx5s(t)
	session := &Session{Role: "postgres", Claims: []byte(`{"sub":"x"}`), Method: "GET", Path: "/", StatementTimeout: time.Second}
	cases := []struct {
		name string
		req  Request
	}{
		{"one statement without a session", Request{Statements: []statement.Statement{stmt(`SELECT to_json($1::int4)`, "1")}}},
		{"one statement with a session", Request{Session: session, Statements: []statement.Statement{stmt(`SELECT to_json($1::int4)`, "1")}}},
		{"three statements with a session", Request{Session: session, Statements: []statement.Statement{stmt(`SELECT '1'::json`), stmt(`SELECT '2'::json`), stmt(`SELECT '3'::json`)}}},
		{"three statements without a session", Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`), stmt(`SELECT '2'::json`), stmt(`SELECT '3'::json`)}}},
		{"a failing request", Request{Session: session, Statements: []statement.Statement{stmt(`SELECT to_json(1/0)`)}}},
	}
	// Warm the connection so dialling and authentication are not counted.
	if _, _, err := p.Run(ctx, &cases[0].req, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name+" takes one round trip", func(t *testing.T) {
			for range 5 {
				before, dials := rt.n.Load(), rt.dials.Load()
				_, _, _ = p.Run(ctx, &c.req, nil)
				if got := rt.n.Load() - before; got != 1 {
					t.Fatalf("%d round trips", got)
				}
				if rt.dials.Load() != dials {
					t.Fatal("a new connection was opened")
				}
			}
		})
	}
	t.Run("a connection idle for over a second is not pinged first", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond) // pgxpool's default pings after 1 s idle
		before := rt.n.Load()
		if _, _, err := p.Run(ctx, &cases[0].req, nil); err != nil {
			t.Fatal(err)
		}
		if got := rt.n.Load() - before; got != 1 {
			t.Fatalf("%d round trips", got)
		}
	})
}

func TestCacheStatementModePreparesOncePerConnection(t *testing.T) {
	var rt roundTrips
	m := newManager(t, Config{})
	m.wrapConn = rt.wrap
	// Directly to Postgres: PgBouncer 1.18 cannot keep named statements.
	p, err := m.Get(ctx5s(t), "poolmgr_t_prepared", PoolConfig{URL: testenv.DirectURL(), MaxConns: 1, ExecMode: ExecCacheStatement})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctx5s(t)
	for i, wantRT := range []int64{2, 1, 1} {
		for _, req := range []*Request{
			{Statements: []statement.Statement{stmt(`SELECT to_json($1::int4 + 0)`, fmt.Sprint(i))}},
			{Session: &Session{Role: "postgres"}, Statements: []statement.Statement{stmt(`SELECT to_json($1::int4 + 1)`, fmt.Sprint(i))}},
		} {
			before := rt.n.Load()
			out, _, err := p.Run(ctx, req, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := wantRT
			if i == 0 && req.Session != nil {
				want++ // the prelude is prepared too, once
			}
			if got := rt.n.Load() - before; got != want && !(i == 0 && got == want+1) { // first run also dials
				t.Fatalf("run %d: %d round trips, want %d", i, got, want)
			}
			if req.Session == nil && string(out) != fmt.Sprint(i) || req.Session != nil && string(out) != fmt.Sprint(i+1) {
				t.Fatalf("got %s", out)
			}
		}
	}
}

func TestDirtyConnectionIsDestroyed(t *testing.T) {
	m := newManager(t, Config{})
	p, err := m.Get(ctx5s(t), "poolmgr_t_dirty", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctx5s(t)
	// A statement that leaves a transaction open (the compiler never emits one).
	if _, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`BEGIN`)}}, nil); !errors.Is(err, ErrResultShape) {
		t.Fatalf("got %v", err)
	}
	if _, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil); err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().NewConnsCount; n != 2 {
		t.Fatalf("%d connections opened, want 2 (the dirty one destroyed)", n)
	}
}

// TestNoLeftoverSessionState runs 10,000 mixed requests (roles, claims, timeouts, failures)
// on a pool of 2 connections, checks each answer saw its own session, then checks every
// server connection that served them.
func TestNoLeftoverSessionState(t *testing.T) {
	setupRoles(t)
	for _, tc := range []struct {
		name, url string
		direct    bool
	}{
		{"through PgBouncer", testenv.PoolerURL(), false},
		{"directly to Postgres", testenv.DirectURL(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := asUser(t, tc.url, loginRole)
			m := newManager(t, Config{})
			tenant := "poolmgr_t_leftover"
			if tc.direct {
				tenant += "_direct"
			}
			p, err := m.Get(ctx5s(t), tenant, PoolConfig{URL: dsn, MaxConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			ctx := ctx5s(t)
			const total, workers = 10000, 8
			query := stmt(`SELECT json_build_object('u', current_user, 'sub', nullif(current_setting('request.jwt.claims', true), '')::json->>'sub', 't', current_setting('statement_timeout'))`)
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var buf []byte
					for i := w; i < total; i += workers {
						req := Request{Statements: []statement.Statement{query}}
						wantUser, wantSub, wantT := loginRole, "", "0"
						switch i % 5 {
						case 0: // no session
						case 1, 2:
							wantUser, wantSub = []string{role1, role2}[i%2], fmt.Sprint("user", i)
							req.Session = &Session{Role: wantUser, Claims: fmt.Appendf(nil, `{"sub":"user%d"}`, i), Method: "GET", Path: "/p"}
						case 3:
							wantUser, wantT = role2, "250ms"
							req.Session = &Session{Role: role2, StatementTimeout: 250 * time.Millisecond}
						case 4: // fails after setting everything
							req.Session = &Session{Role: role1, Claims: []byte(`{"sub":"boom"}`), StatementTimeout: time.Second}
							req.Statements = []statement.Statement{query, stmt(`SELECT to_json(1/0)`)}
						}
						var err error
						buf, _, err = p.Run(ctx, &req, buf[:0])
						if i%5 == 4 {
							if err == nil {
								errs <- fmt.Errorf("request %d: want an error", i)
								return
							}
							continue
						}
						want := fmt.Sprintf(`{"u" : "%s", "sub" : %s, "t" : "%s"}`, wantUser, jsonOrNull(wantSub), wantT)
						if err != nil || string(buf) != want {
							errs <- fmt.Errorf("request %d: got %s %v, want %s", i, buf, err, want)
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
			if s := p.Stats(); s.TotalConns > 2 || s.MaxConns != 2 {
				t.Fatalf("pool grew: %+v", s)
			}
			if tc.direct {
				checkPoolConns(t, p)
			} else {
				checkServerConns(t, dsn)
			}
		})
	}
}

func jsonOrNull(s string) string {
	if s == "" {
		return "null"
	}
	return `"` + s + `"`
}

const stateQuery = `SELECT pg_backend_pid(), current_user, current_setting('role'),
	coalesce(current_setting('request.jwt.claims', true), ''), coalesce(current_setting('request.method', true), ''),
	current_setting('statement_timeout')`

type connState struct {
	pid                                 int32
	user, role, claims, method, timeout string
}

func (s connState) check(t *testing.T) {
	t.Helper()
	if s.user != loginRole || s.role != "none" || s.claims != "" || s.method != "" || s.timeout != "0" {
		t.Fatalf("connection %d carries state: %+v", s.pid, s)
	}
}

// checkPoolConns checks each connection of a direct pool (pool connection = server connection).
func checkPoolConns(t *testing.T, p *Pool) {
	t.Helper()
	ctx := ctx5s(t)
	conns := p.Pgx().AcquireAllIdle(ctx)
	if len(conns) != int(p.Stats().TotalConns) || len(conns) == 0 {
		t.Fatalf("acquired %d of %d connections", len(conns), p.Stats().TotalConns)
	}
	for _, c := range conns {
		var s connState
		if err := c.QueryRow(ctx, stateQuery).Scan(&s.pid, &s.user, &s.role, &s.claims, &s.method, &s.timeout); err != nil {
			t.Fatal(err)
		}
		s.check(t)
		c.Release()
	}
}

// checkServerConns holds one open transaction per server connection of loginRole at the
// same time, so each lands on a different one, and checks none carries a role or setting.
func checkServerConns(t *testing.T, dsn string) {
	t.Helper()
	ctx := ctx5s(t)
	// PgBouncer's server connections for the role: they carry the application_name of the
	// last client they served.
	rows, err := testenv.Conn(t).Query(ctx, `SELECT pid FROM pg_stat_activity WHERE usename = $1 AND application_name <> 'kapok/poolmgr_t_leftover_direct'`, loginRole)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int32
	for rows.Next() {
		var pid int32
		_ = rows.Scan(&pid)
		pids = append(pids, pid)
	}
	if rows.Err() != nil || len(pids) == 0 {
		t.Fatalf("no server connections found for %s: %v", loginRole, rows.Err())
	}
	seen := map[int32]bool{}
	for range len(pids) {
		c := pgxConn(t, dsn+"&default_query_exec_mode=exec") // PgBouncer 1.18 keeps no named statements
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		var s connState
		if err := tx.QueryRow(ctx, stateQuery).Scan(&s.pid, &s.user, &s.role, &s.claims, &s.method, &s.timeout); err != nil {
			t.Fatal(err)
		}
		s.check(t)
		seen[s.pid] = true
	}
	for _, pid := range pids {
		if !seen[pid] {
			t.Fatalf("server connection %d was not checked (checked %v)", pid, seen)
		}
	}
}

func TestSessionsRunInUTCThroughPgBouncer(t *testing.T) {
	// A database whose default zone is not UTC must still answer in UTC.
	testenv.Exec(t, "DROP DATABASE IF EXISTS poolmgr_t_utc WITH (FORCE)")
	testenv.Exec(t, "CREATE DATABASE poolmgr_t_utc")
	testenv.Exec(t, "ALTER DATABASE poolmgr_t_utc SET timezone = 'America/New_York'")
	m := New(Config{})
	t.Cleanup(func() {
		m.Close()
		testenv.Exec(t, "DROP DATABASE IF EXISTS poolmgr_t_utc WITH (FORCE)")
	})
	url := strings.Replace(testenv.PoolerURL(), "/kapok", "/poolmgr_t_utc", 1)
	p, err := m.Get(context.Background(), "poolmgr_t_utc", PoolConfig{URL: url, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := p.Run(context.Background(), &Request{Statements: []statement.Statement{{
		SQL: "SELECT to_json('2021-01-01 00:00:00+00'::timestamptz)"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `"2021-01-01T00:00:00+00:00"` {
		t.Fatalf("timestamptz printed as %s", out)
	}
}

// set_config('role', 'none', true) is RESET ROLE: the statement would run as the pool's
// login role, past every RLS policy of the role the request was meant to have.
func TestASessionRoleThatWouldResetTheRoleIsRefused(t *testing.T) {
	setupRoles(t)
	m := newManager(t, Config{})
	p, err := m.Get(ctx5s(t), "poolmgr_t_reset", PoolConfig{URL: asUser(t, testenv.PoolerURL(), loginRole), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"none", "NONE", "None", "default", "DEFAULT"} {
		t.Run(role, func(t *testing.T) {
			req := Request{Statements: []statement.Statement{stmt(`SELECT to_json(current_user)`)}, Session: &Session{Role: role}}
			out, _, err := p.Run(ctx5s(t), &req, nil)
			if !errors.Is(err, ErrSessionRole) {
				t.Fatalf("got %s, %v; want ErrSessionRole", out, err)
			}
		})
	}
	req := Request{Statements: []statement.Statement{stmt(`SELECT to_json(current_user)`)}, Session: &Session{Role: role1}}
	if out, _, err := p.Run(ctx5s(t), &req, nil); err != nil || string(out) != `"`+role1+`"` {
		t.Fatalf("a granted role: got %s, %v", out, err)
	}
}
