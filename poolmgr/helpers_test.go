package poolmgr

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// Objects the tests create; every name starts with poolmgr_t_ (see internal/testenv).
const (
	loginRole = "poolmgr_t_login" // a non-superuser the pools log in as
	role1     = "poolmgr_t_r1"
	role2     = "poolmgr_t_r2"
)

var rolesOnce sync.Once

// setupRoles creates (once per process) a login role and two roles it may SET ROLE to.
func setupRoles(t testing.TB) {
	t.Helper()
	rolesOnce.Do(func() {
		testenv.Exec(t, `DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'poolmgr_t_login') THEN CREATE ROLE poolmgr_t_login LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'poolmgr_t_r1') THEN CREATE ROLE poolmgr_t_r1 NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'poolmgr_t_r2') THEN CREATE ROLE poolmgr_t_r2 NOLOGIN; END IF;
END $$;
GRANT poolmgr_t_r1, poolmgr_t_r2 TO poolmgr_t_login`)
	})
}

// asUser returns dsn with its user replaced.
func asUser(t testing.TB, dsn, user string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(user)
	return u.String()
}

func quietLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

func newManager(t testing.TB, cfg Config) *Manager {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	m := New(cfg)
	t.Cleanup(m.Close)
	return m
}

func ctx5s(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func stmt(sql string, args ...string) statement.Statement {
	s := statement.Statement{SQL: sql}
	for _, a := range args {
		s.Args = append(s.Args, []byte(a))
	}
	return s
}

// roundTrips counts client→server round trips on every connection a manager opens: each
// Sync (extended protocol) and each Query (simple protocol) waits for one ReadyForQuery.
type roundTrips struct {
	n     atomic.Int64
	dials atomic.Int64
}

func (r *roundTrips) wrap(c net.Conn) net.Conn {
	r.dials.Add(1)
	return &countingConn{Conn: c, r: r}
}

type countingConn struct {
	net.Conn
	r       *roundTrips
	mu      sync.Mutex
	started bool // past the untyped startup message
	hdr     [5]byte
	hn      int // header bytes collected
	skip    int // body bytes still to skip
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.scan(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *countingConn) scan(b []byte) {
	for len(b) > 0 {
		if c.skip > 0 {
			n := min(c.skip, len(b))
			c.skip -= n
			b = b[n:]
			continue
		}
		need := 5
		if !c.started {
			need = 4
		}
		n := copy(c.hdr[c.hn:need], b)
		c.hn += n
		b = b[n:]
		if c.hn < need {
			return
		}
		if !c.started {
			c.skip = int(binary.BigEndian.Uint32(c.hdr[:4])) - 4
			c.started = true
		} else {
			switch c.hdr[0] {
			case 'S', 'Q':
				c.r.n.Add(1)
			}
			c.skip = int(binary.BigEndian.Uint32(c.hdr[1:5])) - 4
		}
		c.hn = 0
	}
}

// pgxConn opens a plain pgx connection (closed at test end).
func pgxConn(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(ctx5s(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}
