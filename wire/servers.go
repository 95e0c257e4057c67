package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/kapok-dev/kapok/control"
)

// errQueueTimeout: every server connection of the tenant stayed busy for its queue timeout.
var errQueueTimeout = errors.New("timed out waiting for a server connection")

// errPoolClosed: the tenant was forgotten or the engine closed while a client waited.
var errPoolClosed = errors.New("server connections of this tenant are closed")

// loginError is a server login that cannot succeed until someone changes the database (the
// tenant's role is missing or may not log in): clients get FATAL 28000 with its message.
type loginError struct{ msg string }

func (e *loginError) Error() string { return e.msg }

// serverConn is one server connection the engine owns: logged in through pgconn, then
// hijacked, so its socket and protocol state are the engine's alone.
type serverConn struct {
	pool   *serverPool
	conn   net.Conn
	fe     *pgproto3.Frontend // writes
	rd     *frameReader       // reads
	pid    uint32
	secret []byte
	host   string
	port   uint16
	params map[string]string

	// Only the session holding the connection touches these.
	sig     string      // session state last applied (signature; "" = as logged in)
	prep    preparedSet // server statements it has prepared
	unnamed string      // server name of the statement in its unnamed slot ("" = none)

	idleSince time.Time // in the pool
}

// dirtySig is a signature no session has: the next session re-applies its own state.
const dirtySig = "\x00dirty"

// serverPool holds a tenant's server connections to one server URL.
type serverPool struct {
	e      *Engine
	tenant *control.Tenant
	url    string
	max    int
	queue  time.Duration

	loginMu  sync.Mutex
	login    *pgconn.Config // connect config once the tenant's login is known
	loginErr error
	loginAt  time.Time

	mu      sync.Mutex
	idle    []*serverConn
	open    int
	waiters []chan *serverConn // FIFO; a nil handed over means "dial in my place"
	params  map[string]string
	closed  bool
	parsed  map[string]struct{} // statements a server parsed outside a transaction (parsedKey)
}

// maxParsed bounds a pool's parsed set; a full set starts again empty.
const maxParsed = 4096

// parsedKey names a statement (its server name: text and parameter types) parsed under
// a session state (signature: role, claims, settings), on which its parse depends.
func parsedKey(server, sig string) string { return server + "\x00" + sig }

// parsedBefore reports whether a server of this pool parsed the statement key names.
func (p *serverPool) parsedBefore(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.parsed[key]
	return ok
}

// noteParsed records that a server parsed the statement key names.
func (p *serverPool) noteParsed(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parsed == nil || len(p.parsed) >= maxParsed {
		p.parsed = map[string]struct{}{}
	}
	p.parsed[key] = struct{}{}
}

func newServerPool(e *Engine, t *control.Tenant, url string) *serverPool {
	tc := t.Config
	p := &serverPool{e: e, tenant: t, url: url, max: 10, queue: 5 * time.Second}
	if tc != nil && tc.Pool.MaxConns > 0 {
		p.max = int(tc.Pool.MaxConns)
	}
	if tc != nil && tc.Pool.QueueTimeout > 0 {
		p.queue = tc.Pool.QueueTimeout.D()
	}
	return p
}

// acquire returns a server connection for one transaction, waiting at most the tenant's
// queue timeout for one to come free.
func (p *serverPool) acquire(ctx context.Context) (*serverConn, error) {
	if sc := p.takeIdle(); sc != nil {
		return sc, nil
	}
	return p.dialOrQueue(ctx)
}

// dialOrQueue is acquire when no connection is idle: it dials one in a free slot, or
// waits for one to come free.
func (p *serverPool) dialOrQueue(ctx context.Context) (*serverConn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errPoolClosed
	}
	if p.open < p.max {
		p.open++
		p.mu.Unlock()
		return p.dialSlot(ctx)
	}
	ch := make(chan *serverConn, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()

	timer := time.NewTimer(p.queue)
	defer timer.Stop()
	var sc *serverConn
	handed := false // a nil handed over (dial in my place) is not a timeout
	select {
	case sc = <-ch:
		handed = true
	case <-timer.C:
	case <-ctx.Done():
	}
	if !handed {
		p.mu.Lock()
		for i, w := range p.waiters {
			if w == ch {
				p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
				p.mu.Unlock()
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, errQueueTimeout
			}
		}
		p.mu.Unlock()
		// Handed over while timing out: take it.
		sc = <-ch
	}
	if sc == nil {
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return nil, errPoolClosed
		}
		return p.dialSlot(ctx)
	}
	if sc.usable() {
		return sc, nil
	}
	// Keep its slot for a fresh connection.
	sc.closeConn()
	return p.dialSlot(ctx)
}

// takeIdle returns the most recently idle connection that is still usable (closing those
// that are not), or nil: none is idle, or the pool is closed.
func (p *serverPool) takeIdle() *serverConn {
	p.mu.Lock()
	for !p.closed && len(p.idle) > 0 {
		n := len(p.idle)
		sc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if sc.usable() {
			return sc
		}
		p.discard(sc)
		p.mu.Lock()
	}
	p.mu.Unlock()
	return nil
}

// dialSlot opens a connection in a slot already counted in p.open.
func (p *serverPool) dialSlot(ctx context.Context) (*serverConn, error) {
	sc, err := p.dial(ctx)
	if err != nil {
		p.freeSlot()
		return nil, err
	}
	return sc, nil
}

// freeSlot gives a slot back, to the first waiter if any.
func (p *serverPool) freeSlot() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiters) > 0 && !p.closed {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		w <- nil
		return
	}
	p.open--
}

// release returns a connection that is idle ('I', nothing pending) to the pool.
func (p *serverPool) release(sc *serverConn) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.discard(sc)
		return
	}
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- sc
		return
	}
	sc.idleSince = p.e.now()
	p.idle = append(p.idle, sc)
	p.mu.Unlock()
}

// discard closes a connection and frees its slot.
func (p *serverPool) discard(sc *serverConn) {
	sc.closeConn()
	p.freeSlot()
}

func (sc *serverConn) closeConn() {
	_ = sc.conn.Close()
	sc.pool.e.met.Servers(sc.pool.tenant.Name, -1)
}

// usable reports whether an idle connection is still open and silent: a backend that was
// terminated meanwhile has sent its FATAL error or closed the socket.
func (sc *serverConn) usable() bool {
	if sc.rd.buffered() > 0 {
		return false
	}
	if sc.pool.e.now().Sub(sc.idleSince) < time.Second {
		return true
	}
	st := peek(sc.conn)
	return st == peekQuiet || st == peekUnknown
}

// peekState is what peek saw on a socket.
type peekState int

const (
	peekUnknown peekState = iota // not a socket peek can look at
	peekQuiet                    // open, nothing to read
	peekData                     // bytes wait to be read
	peekGone                     // closed by the peer, or failed
)

// peek looks at conn's socket without reading from it or waiting.
func peek(conn net.Conn) peekState {
	c, ok := conn.(syscall.Conn)
	if !ok {
		return peekUnknown
	}
	raw, err := c.SyscallConn()
	if err != nil {
		return peekGone
	}
	st := peekGone
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			st = peekQuiet
		case err == nil && n > 0:
			st = peekData
		}
		return true
	})
	if err != nil {
		return peekGone
	}
	return st
}

// closeIdle closes connections idle since before cutoff (all of them for a zero cutoff).
func (p *serverPool) closeIdle(cutoff time.Time) {
	p.mu.Lock()
	var drop []*serverConn
	keep := p.idle[:0]
	for _, sc := range p.idle {
		if cutoff.IsZero() || sc.idleSince.Before(cutoff) {
			drop = append(drop, sc)
		} else {
			keep = append(keep, sc)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, sc := range drop {
		p.discard(sc)
	}
}

// close closes the idle connections now and the others as they are released.
func (p *serverPool) close() {
	p.mu.Lock()
	p.closed = true
	waiters := p.waiters
	p.waiters = nil
	p.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
	p.closeIdle(time.Time{})
}

// serverParams returns what a server connection of the pool reported at login, logging one
// in if none has yet.
func (p *serverPool) serverParams(ctx context.Context) (map[string]string, error) {
	p.mu.Lock()
	params := p.params
	p.mu.Unlock()
	if params != nil {
		return params, nil
	}
	sc, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	p.release(sc)
	return sc.params, nil
}

// dial logs a server connection in and hijacks it.
func (p *serverPool) dial(ctx context.Context) (*serverConn, error) {
	cfg, err := p.connectConfig(ctx)
	if err != nil {
		return nil, err
	}
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "28") {
			return nil, &loginError{msg: fmt.Sprintf("server connections cannot log in as role %q: %s", cfg.User, pe.Message)}
		}
		return nil, fmt.Errorf("connect to the database server: %w", err)
	}
	hc, err := pc.Hijack()
	if err != nil {
		_ = pc.Close(ctx)
		return nil, err
	}
	if hc.Frontend.ReadBufferLen() > 0 {
		_ = hc.Conn.Close()
		return nil, errors.New("wire: the server sent a message after logging in")
	}
	// The engine reads the socket itself, frame by frame, not through pgconn's
	// background-capable reader.
	conn := fast(hc.Conn)
	sc := &serverConn{
		pool: p, conn: conn, fe: pgproto3.NewFrontend(noReader{}, conn), rd: newFrameReader(conn),
		pid: hc.PID, secret: hc.SecretKey,
		host: hc.Config.Host, port: hc.Config.Port, params: hc.ParameterStatuses,
		prep: newPreparedSet(p.e.maxPrepared),
	}
	p.e.met.Servers(p.tenant.Name, 1)
	p.mu.Lock()
	if p.params == nil {
		p.params = sc.params
	}
	p.mu.Unlock()
	return sc, nil
}

// connectConfig is how the pool's connections log in: the server URL, as the tenant's own
// role whenever the tenant runs as one (checked once with a direct connection as the
// upstream's login, which also lets that role log in on a managed upstream), with the
// tenant's search_path and statement_timeout as session defaults.
func (p *serverPool) connectConfig(ctx context.Context) (*pgconn.Config, error) {
	p.loginMu.Lock()
	defer p.loginMu.Unlock()
	if p.login != nil {
		return p.login.Copy(), nil
	}
	if p.loginErr != nil && time.Since(p.loginAt) < 5*time.Second {
		return nil, p.loginErr
	}
	cfg, err := p.resolveLogin(ctx)
	p.loginErr, p.loginAt = err, time.Now()
	if err != nil {
		return nil, err
	}
	p.login = cfg
	return cfg.Copy(), nil
}

func (p *serverPool) resolveLogin(ctx context.Context) (*pgconn.Config, error) {
	t := p.tenant
	tc := t.Config
	cfg, err := pgconn.ParseConfig(p.url)
	if err != nil {
		return nil, fmt.Errorf("server URL of tenant %s: %w", t.Name, err)
	}
	direct := t.DirectURL
	if direct == "" && p.e.cfg != nil {
		direct = p.e.cfg.DirectURL(tc)
	}
	dc, err := pgx.Connect(ctx, direct)
	if err != nil {
		return nil, fmt.Errorf("connect to the database server: %w", err)
	}
	defer func() { _ = dc.Close(context.Background()) }()
	login := dc.Config().User
	need, err := control.NeedsTenantRole(ctx, dc, tc, login)
	if err != nil {
		return nil, err
	}
	if need {
		role := tc.OwnRole()
		var canLogin *bool
		if err := dc.QueryRow(ctx, `SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = $1::text`, role).Scan(&canLogin); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("role %s: %w", role, err)
		}
		switch {
		case canLogin == nil:
			return nil, &loginError{msg: fmt.Sprintf("role %q, which this tenant's sessions run as, does not exist yet", role)}
		case !*canLogin && p.managed():
			if _, err := dc.Exec(ctx, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN"); err != nil {
				return nil, &loginError{msg: fmt.Sprintf("role %q, which this tenant's sessions run as, may not log in and could not be allowed to: %v", role, err)}
			}
		case !*canLogin:
			return nil, &loginError{msg: fmt.Sprintf("role %q, which this tenant's sessions run as, may not log in; grant it LOGIN (ALTER ROLE %s LOGIN)", role, pgx.Identifier{role}.Sanitize())}
		}
		cfg.User = role
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	schemas := make([]string, len(tc.Schemas))
	for i, s := range tc.Schemas {
		schemas[i] = pgx.Identifier{s}.Sanitize()
	}
	if len(schemas) > 0 {
		cfg.RuntimeParams["search_path"] = strings.Join(schemas, ", ")
	}
	if tc.Limits != nil && tc.Limits.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(tc.Limits.StatementTimeout.D().Milliseconds(), 10)
	}
	cfg.RuntimeParams["application_name"] = "kapok-wire"
	return cfg, nil
}

func (p *serverPool) managed() bool {
	if p.e.cfg == nil || p.tenant.Config == nil {
		return false
	}
	u := p.e.cfg.Upstreams[p.tenant.Config.Upstream]
	return u != nil && u.Managed()
}

// cancel asks the server to cancel what this connection runs, over a connection of its own.
func (sc *serverConn) cancel(ctx context.Context) error {
	network, addr := sc.conn.RemoteAddr().Network(), sc.conn.RemoteAddr().String()
	if network == "unix" {
		network, addr = pgconn.NetworkAddress(sc.host, sc.port)
	}
	ctx, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	buf, err := (&pgproto3.CancelRequest{ProcessID: sc.pid, SecretKey: sc.secret}).Encode(nil)
	if err != nil {
		return err
	}
	if _, err := c.Write(buf); err != nil {
		return err
	}
	// The server closes the connection once it has read the request.
	_, _ = io.Copy(io.Discard, c)
	return nil
}
