package poolmgr

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// breakableConns wraps connections so that a test can make the next read of any of them
// fail as a reset would, and close the socket under the driver.
type breakableConns struct{ armed atomic.Bool }

func (b *breakableConns) wrap(c net.Conn) net.Conn { return &breakableConn{Conn: c, b: b} }

type breakableConn struct {
	net.Conn
	b *breakableConns
}

func (c *breakableConn) Read(p []byte) (int, error) {
	if c.b.armed.CompareAndSwap(true, false) {
		_ = c.Conn.Close()
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return c.Conn.Read(p)
}

// refusingURL is a database URL at an address where nothing listens.
func refusingURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "postgres://kapok@" + addr + "/kapok?connect_timeout=2"
}

// runAtOnce runs n requests of session s (nil: none) on p at once, each holding its
// connection for 0.1 s, so that p is left with n connections.
func runAtOnce(t *testing.T, ctx context.Context, p *Pool, n int, s *Session) {
	t.Helper()
	slow := &Request{Statements: []statement.Statement{stmt(`SELECT to_json(pg_sleep(0.1))`)}, Session: s}
	errs := make(chan error, n)
	for range n {
		go func() { _, _, err := p.Run(ctx, slow, nil); errs <- err }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunReportsAnUnreachableDatabaseAsUnavailable(t *testing.T) {
	setupRoles(t)
	ctx := ctx5s(t)
	m := newManager(t, Config{})
	one := &Request{Statements: []statement.Statement{stmt(`SELECT to_json($1::int4)`, "7")}}

	t.Run("a refused connection is a connect failure", func(t *testing.T) {
		p, err := m.Get(ctx, "poolmgr_t_refused", PoolConfig{URL: refusingURL(t), MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = p.Run(ctx, one, nil)
		var ue *UnavailableError
		if !errors.As(err, &ue) || !ue.Connect || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v (%T), want an UnavailableError with Connect", err, err)
		}
		if r := ue.Reason(); r != "connection refused" {
			t.Errorf("reason %q, want %q (no address, no user name)", r, "connection refused")
		}
	})

	t.Run("a refused connection at a shared pool is a connect failure, and its turn is given back", func(t *testing.T) {
		// ctx has a deadline: the gate lets the request through at once, no acquire timer.
		p, err := m.Get(ctx, "poolmgr_t_refused_shared", PoolConfig{URL: refusingURL(t), SharedLogin: true, MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 { // a turn not given back would leave the next request waiting at the gate
			_, _, err = p.Run(ctx, &Request{Statements: one.Statements, Session: &Session{Role: loginRole}}, nil)
			var ue *UnavailableError
			if !errors.As(err, &ue) || !ue.Connect {
				t.Fatalf("got %v (%T), want an UnavailableError with Connect", err, err)
			}
		}
		if s := p.gate.stats(); s.held != 0 {
			t.Fatalf("the gate still counts %d connections taken", s.held)
		}
	})

	t.Run("the server ending the session (57P01) is a lost connection, and the next request succeeds", func(t *testing.T) {
		p, err := m.Get(ctx, "poolmgr_t_57p01", PoolConfig{URL: asUser(t, testenv.DirectURL(), loginRole), MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT to_json(pg_terminate_backend(pg_backend_pid()))`)}}, nil)
		var ue *UnavailableError
		if !errors.As(err, &ue) || ue.Connect || ue.SQLState != "57P01" {
			t.Fatalf("got %v (%T), want an UnavailableError with SQLSTATE 57P01", err, err)
		}
		if r := ue.Reason(); r != "the server is shutting down (SQLSTATE 57P01)" {
			t.Errorf("reason %q", r)
		}
		var pe *PgError
		if errors.As(err, &pe) && !errors.As(err, &ue) {
			t.Fatal("a session ended by the server must not look like the statement's own error")
		}
		out, _, err := p.Run(ctx, one, nil)
		if err != nil || string(out) != "7" {
			t.Fatalf("after the session ended: %q, %v", out, err)
		}
	})

	t.Run("a reset connection at a shared pool drops its idle connections for every tenant, and both go on", func(t *testing.T) {
		var b breakableConns
		m := newManager(t, Config{SharedMaxConns: 3})
		m.wrapConn = b.wrap
		url := asUser(t, testenv.PoolerURL(), loginRole)
		a, err := m.Get(ctx, "poolmgr_t_reset_a", PoolConfig{URL: url, SharedLogin: true})
		if err != nil {
			t.Fatal(err)
		}
		other, err := m.Get(ctx, "poolmgr_t_reset_b", PoolConfig{URL: url, SharedLogin: true})
		if err != nil {
			t.Fatal(err)
		}
		// Tenant a's three requests at once leave the shared pool's three connections idle.
		runAtOnce(t, ctx, a, 3, &Session{Role: role1})
		if n := other.Stats().IdleConns; n != 3 {
			t.Fatalf("tenant b sees %d idle connections of the shared pool, want 3", n)
		}
		// The pooler restarts, as far as the next read can tell: tenant b meets it.
		b.armed.Store(true)
		asB := &Request{Statements: one.Statements, Session: &Session{Role: role2}}
		_, _, err = other.Run(ctx, asB, nil)
		// The batch path (a session's prelude) may meet the reset in pgconn's background
		// reader, and then report the connection closed rather than the reset itself.
		var ue *UnavailableError
		if !errors.As(err, &ue) || ue.Connect {
			t.Fatalf("got %v (%T), want a lost connection", err, err)
		}
		if n := a.Stats().IdleConns; n != 0 {
			t.Errorf("%d idle connections of the shared pool left after a reset, want them dropped", n)
		}
		for _, r := range []struct {
			p   *Pool
			req *Request
		}{{a, &Request{Statements: one.Statements, Session: &Session{Role: role1}}}, {other, asB}} {
			if out, _, err := r.p.Run(ctx, r.req, nil); err != nil || string(out) != "7" {
				t.Fatalf("%s after the reset: %q, %v", r.p.tenant, out, err)
			}
			if s := r.p.gate.stats(); s.held != 0 {
				t.Errorf("%s still holds %d turns at the gate", r.p.tenant, s.held)
			}
		}
	})

	t.Run("a reset connection is a lost connection and drops the pool's idle connections", func(t *testing.T) {
		var b breakableConns
		m := newManager(t, Config{})
		m.wrapConn = b.wrap
		p, err := m.Get(ctx, "poolmgr_t_reset", PoolConfig{URL: asUser(t, testenv.PoolerURL(), loginRole), MaxConns: 3})
		if err != nil {
			t.Fatal(err)
		}
		// Three requests at once leave three idle connections behind.
		runAtOnce(t, ctx, p, 3, nil)
		if n := p.Stats().IdleConns; n != 3 {
			t.Fatalf("%d idle connections, want 3", n)
		}
		b.armed.Store(true)
		_, _, err = p.Run(ctx, one, nil)
		var ue *UnavailableError
		if !errors.As(err, &ue) || ue.Connect || ue.Reason() != "connection reset by peer" {
			t.Fatalf("got %v (%T), want a lost connection (reset)", err, err)
		}
		if n := p.Stats().IdleConns; n != 0 {
			t.Errorf("%d idle connections left after a reset, want them dropped", n)
		}
		out, _, err := p.Run(ctx, one, nil)
		if err != nil || string(out) != "7" {
			t.Fatalf("after the reset: %q, %v", out, err)
		}
	})

	t.Run("a statement's own error stays a PgError", func(t *testing.T) {
		p, err := m.Get(ctx, "poolmgr_t_own", PoolConfig{URL: asUser(t, testenv.PoolerURL(), loginRole), MaxConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT to_json(1/0)`)}}, nil)
		var pe *PgError
		if !errors.As(err, &pe) || pe.SQLState() != "22012" || errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v (%T), want the 22012 PgError", err, err)
		}
	})
}
