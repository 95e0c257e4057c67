package poolmgr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kapok-dev/kapok/internal/statement"
)

// Pool is one tenant's connection pool and executor. Get it from Manager.Get; it stays
// usable after the manager closes it for idleness (Run reopens transparently).
type Pool struct {
	m      *Manager
	tenant string
	cfg    PoolConfig
	ph     *physical     // where its connections come from
	pool   *pgxpool.Pool // ph.pool
	// gate is the tenant's turn at a shared physical pool (nil: a pool of its own).
	gate *tenantGate
	// timeoutArg is the tenant's statement timeout as the prelude sends it (nil: none).
	timeoutArg []byte
	sem        chan struct{} // tenant in-flight slots; nil = no cap
	timeout    time.Duration // request deadline when the caller's context has none
	stmtCache  bool          // cache_statement: named statements per connection

	closed     atomic.Bool
	lastUsed   atomic.Int64 // unix nanos
	lruTouched atomic.Int64 // unix nanos
	inFlight   atomic.Int64
	rejected   [len(reasons)]atomic.Uint64

	// maxConns is the pool's size; shares the batches of shared reads (share.go).
	maxConns int64
	smu      sync.Mutex
	shares   map[string]*shared
}

// Tenant is the tenant the pool serves.
func (p *Pool) Tenant() string { return p.tenant }

// Config is the configuration the pool was built with.
func (p *Pool) Config() PoolConfig { return p.cfg }

// Pgx is the underlying pgxpool, for callers that need the full driver (the wire front
// door, admin queries). Requests should go through Run: it admits, bounds and counts them.
func (p *Pool) Pgx() *pgxpool.Pool { return p.pool }

func (p *Pool) closeAsync() {
	if p.closed.Swap(true) {
		return
	}
	p.m.dropPhysical(p.ph)
}

// Session is who a request runs as. Every field is applied with set_config(…, true), local
// to the request's transaction; empty fields are sent as NULL, which resets the setting.
type Session struct {
	Role string // Postgres role (SET LOCAL ROLE); the pool's login role must be a member
	// Claims is the JWT claims as JSON, readable as current_setting('request.jwt.claims',
	// true). Empty is sent as {} so policies casting the setting to json keep working.
	Claims  []byte
	Method  string // request.method
	Path    string // request.path
	Headers []byte // JSON, request.headers
	// StatementTimeout overrides the tenant's PoolConfig.StatementTimeout.
	StatementTimeout time.Duration
	// RoleOnly says the statements cannot see the settings above, only the role (a read
	// of plain tables, planner.Batch.RoleOnly): the prelude then sets the role and the
	// statement timeout alone, which saves PostgreSQL four set_config calls per request.
	RoleOnly bool
}

// Request is what Run executes: its statements, in order, in one transaction.
type Request struct {
	Session    *Session // nil: run as the pool's login role, no request settings
	Statements []statement.Statement
	// Admitted says the caller already holds an Admission from Admit for this request;
	// otherwise Run admits (and releases) the request itself.
	Admitted bool
	// Shareable marks a read (one statement, no side effect, nothing of its own in the
	// session) that may run with other reads of the same statement and session when it
	// must wait for a connection (share.go). Never set it for writes or volatile calls.
	Shareable bool
}

// Admission is a request's slot under the global and tenant caps. Release it exactly once.
type Admission struct {
	p *Pool
}

// Admit takes the request's slots: first the global cap, then the tenant's in-flight cap,
// each with its bounded wait. Call it before doing any work for the request (parsing,
// compiling) and release the Admission when the response is written; or let Run do both.
func (p *Pool) Admit(ctx context.Context) (Admission, error) {
	m := p.m
	if m.global != nil {
		if waited, ok := takeSlot(ctx, m.global, m.cfg.GlobalQueueWait); !ok {
			return Admission{}, p.reject(ctx, ReasonGlobalClients, waited)
		}
	}
	if p.sem != nil {
		if waited, ok := takeSlot(ctx, p.sem, p.cfg.QueueWait); !ok {
			if m.global != nil {
				<-m.global
			}
			return Admission{}, p.reject(ctx, ReasonTenantInFlight, waited)
		}
	}
	p.inFlight.Add(1)
	m.inFlight.Add(1)
	p.lastUsed.Store(time.Now().UnixNano())
	return Admission{p: p}, nil
}

// Release gives the slots back.
func (a Admission) Release() {
	p := a.p
	if p == nil {
		return
	}
	p.inFlight.Add(-1)
	p.m.inFlight.Add(-1)
	if p.sem != nil {
		<-p.sem
	}
	if p.m.global != nil {
		<-p.m.global
	}
}

func takeSlot(ctx context.Context, sem chan struct{}, wait time.Duration) (time.Duration, bool) {
	select {
	case sem <- struct{}{}:
		return 0, true
	default:
	}
	if wait <= 0 {
		return 0, false
	}
	start := time.Now()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return time.Since(start), true
	case <-t.C:
	case <-ctx.Done():
	}
	return time.Since(start), false
}

func (p *Pool) reject(ctx context.Context, r Reason, waited time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrRequestTimeout, err)
	}
	for i, x := range reasons {
		if x == r {
			p.rejected[i].Add(1)
			p.m.rejected[i].Add(1)
		}
	}
	return &RejectedError{Tenant: p.tenant, Reason: r, Waited: waited}
}

// Run executes req in one round trip and appends each statement's JSON value to dst; ends[i]
// is the offset in out where statement i's value ends (it starts at ends[i-1], or at len(dst)
// for the first). A NULL value is written as null.
//
// With no session, no statement timeout and one statement it sends that statement alone
// (unnamed statement, text parameters with types inferred from the casts, text result),
// reading the value straight from the connection's buffer into dst. Otherwise it sends one
// batch: the set_config prelude, then the statements, then a single Sync, so everything is
// one implicit transaction: any error rolls all of it back, and the settings, all local, end
// with it. Nothing stays on the pooled connection.
//
// On error out is dst unchanged (its original length) and ends is nil.
func (p *Pool) Run(ctx context.Context, req *Request, dst []byte) (out []byte, ends []int, err error) {
	if len(req.Statements) == 0 {
		return dst, nil, nil
	}
	if req.Session != nil && resetsRole(req.Session.Role) {
		return dst, nil, ErrSessionRole
	}
	// Without a deadline of the caller's, the request gets one, unless it is the fast path
	// (admitted, one statement, no session) under both an acquire and a statement timeout:
	// they bound every wait of it already, and a timer less per request counts.
	bounded := req.Admitted && req.Session == nil && len(req.Statements) == 1 && p.cfg.AcquireTimeout > 0 && p.cfg.StatementTimeout > 0
	if _, ok := ctx.Deadline(); !ok && !bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	if !req.Admitted {
		a, err := p.Admit(ctx)
		if err != nil {
			return dst, nil, err
		}
		defer a.Release()
	}
	if p.shareable(req) {
		return p.runShared(ctx, req, dst)
	}
	return p.run(ctx, req, dst, true)
}

func (p *Pool) run(ctx context.Context, req *Request, dst []byte, retry bool) ([]byte, []int, error) {
	start := len(dst)
	out, ends, broken, err := p.attempt(ctx, req, dst)
	if err == nil {
		return out, ends, nil
	}
	if retry && p.closed.Load() && ctx.Err() == nil && errors.Is(err, ErrUnavailable) {
		// The pool was closed (idle, LRU, replaced) between Get and here.
		np, gerr := p.m.successor(ctx, p)
		if gerr != nil {
			return dst[:start], nil, gerr
		}
		return np.run(ctx, req, dst[:start], false)
	}
	if broken {
		// The network under the pool broke (a pooler restarted, a connection reset): the
		// pool's idle connections most likely share the fate of this one. Drop them now,
		// or each would fail one more request before the pool learns.
		p.pool.Reset()
	}
	// The request is not run again: a write that failed may still have reached the server,
	// and a mutation must not apply twice. (pgconn's SafeToRetry holds only for a connection
	// closed before use, which pgxpool never hands out.) The caller answers 503.
	return dst[:start], nil, err
}

// attempt runs req once on one connection. broken reports a connection that died without
// the server saying why (reset, EOF): the network, not the session, failed.
func (p *Pool) attempt(ctx context.Context, req *Request, dst []byte) (out []byte, ends []int, broken bool, err error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return dst, nil, false, err
	}
	defer p.release(c) // pgxpool destroys the connection if it is left busy or in a transaction
	start := len(dst)
	dst, ends, err = p.exec(ctx, c, req, dst)
	if err == nil {
		return dst, ends, false, nil
	}
	err, broken = p.failure(ctx, c, err)
	return dst[:start], nil, broken, err
}

// exec runs req's statements on c, appending their values to dst.
func (p *Pool) exec(ctx context.Context, c *pgxpool.Conn, req *Request, dst []byte) ([]byte, []int, error) {
	timeout := p.timeoutFor(req.Session)
	if req.Session != nil || len(req.Statements) != 1 {
		return p.runBatch(ctx, c, req, timeout, dst)
	}
	// The fast path sends the statement alone. A statement timeout is then enforced
	// from here: at the deadline pgconn cancels the query on the server, which answers
	// 57014 as statement_timeout would, without a set_config round in every request.
	sctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	dst, err := p.runOne(sctx, c, &req.Statements[0], dst)
	if err != nil && ctx.Err() == nil && sctx.Err() != nil {
		var pe *PgError
		if !errors.As(err, &pe) {
			err = &PgError{Statement: 0, Err: &pgconn.PgError{Severity: "ERROR", Code: "57014",
				Message: "canceling statement due to statement timeout"}}
		}
	}
	return dst, []int{len(dst)}, err
}

// timeoutFor is the statement timeout of a request of session s.
func (p *Pool) timeoutFor(s *Session) time.Duration {
	if s != nil && s.StatementTimeout > 0 {
		return s.StatementTimeout
	}
	return p.cfg.StatementTimeout
}

// failure classifies err, the failure of a run on c: past the request's deadline, the
// database or pooler out of reach (broken: the connection died without the server saying
// why, so the network failed, not the session), or the statements' own error.
func (p *Pool) failure(ctx context.Context, c *pgxpool.Conn, err error) (error, bool) {
	if ctx.Err() != nil {
		var pe *PgError
		if !errors.As(err, &pe) {
			err = fmt.Errorf("%w: %w", ErrRequestTimeout, err)
		}
		return err, false
	}
	closed := c.Conn().PgConn().IsClosed()
	if ue, ok := asUnavailable(p.tenant, err, closed, false); ok {
		var pe *pgconn.PgError
		return ue, closed && !errors.As(err, &pe)
	}
	return err, false
}

func (p *Pool) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	start := time.Now()
	if _, bounded := ctx.Deadline(); bounded && p.gate != nil && p.gate.tryAcquire() {
		// A shared pool's gate hands out no more connections than the pool holds: past it
		// nothing queues, so this needs no acquire timer (one less per request). Dialing a
		// connection, if pgxpool must, is under the request's deadline.
		c, err := p.pool.Acquire(ctx)
		if err == nil {
			return c, nil
		}
		p.gate.release()
		return nil, p.acquireFailed(ctx, ctx, start, err)
	}
	actx := ctx
	if p.cfg.AcquireTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, p.cfg.AcquireTimeout)
		defer cancel()
	}
	var c *pgxpool.Conn
	err := actx.Err()
	if p.gate == nil || p.gate.acquire(actx) {
		c, err = p.pool.Acquire(actx)
		if err == nil {
			return c, nil
		}
		if p.gate != nil {
			p.gate.release()
		}
	}
	return nil, p.acquireFailed(ctx, actx, start, err)
}

// acquireFailed is the error of an acquire that failed with err: ctx is the request's,
// actx the one acquiring (under the acquire timeout).
func (p *Pool) acquireFailed(ctx, actx context.Context, start time.Time, err error) error {
	switch {
	case p.closed.Load():
		return fmt.Errorf("%w: tenant %s: pool closed", ErrUnavailable, p.tenant)
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %w", ErrRequestTimeout, ctx.Err())
	case actx.Err() != nil:
		return p.reject(context.Background(), ReasonAcquireTimeout, time.Since(start))
	}
	if ue, ok := asUnavailable(p.tenant, err, true, true); ok {
		return ue
	}
	return &UnavailableError{Tenant: p.tenant, Connect: true, Err: err}
}

// release gives c back to the pool, and its turn at a shared pool to the next tenant.
func (p *Pool) release(c *pgxpool.Conn) {
	c.Release()
	if p.gate != nil {
		p.gate.release()
	}
}

// saturated reports whether a request would wait for a connection now.
func (p *Pool) saturated() bool {
	if p.gate != nil {
		return p.gate.saturated()
	}
	return p.inFlight.Load() > p.maxConns
}

func (p *Pool) runOne(ctx context.Context, c *pgxpool.Conn, st *statement.Statement, dst []byte) ([]byte, error) {
	pg := c.Conn().PgConn()
	var rr *pgconn.ResultReader
	if sd, err := p.statement(ctx, pg, st.SQL); err != nil {
		return dst, wrapPg(err, 0)
	} else if sd != nil {
		rr = pg.ExecStatement(ctx, sd, st.Args, nil, nil)
	} else {
		rr = pg.ExecParams(ctx, st.SQL, st.Args, nil, nil, nil)
	}
	return readResult(rr, dst, 0, st.Result)
}

// readResult gathers the rows of statement stmt into its value, appended to dst, and
// closes rr.
func readResult(rr *pgconn.ResultReader, dst []byte, stmt int, r statement.Result) ([]byte, error) {
	start := len(dst)
	var g statement.Gatherer
	dst = g.Begin(r, dst)
	var shapeErr error
	for rr.NextRow() {
		if shapeErr == nil {
			// v aliases the read buffer: Row's append is the one copy.
			dst, shapeErr = g.Row(dst, rr.Values())
		}
	}
	tag, err := rr.Close()
	if err != nil {
		return dst[:start], wrapPg(err, stmt)
	}
	if shapeErr == nil {
		dst, shapeErr = g.End(dst, tag.RowsAffected())
	}
	if shapeErr != nil {
		return dst[:start], fmt.Errorf("%w: statement %d: %w", ErrResultShape, stmt, shapeErr)
	}
	return dst, nil
}

// prelude sets the request's role and settings, local to the transaction. Its text never
// changes, so Postgres sees one statement shape whatever the session.
const prelude = "SELECT set_config('role', $1::text, true), set_config('request.jwt.claims', $2::text, true), " +
	"set_config('request.method', $3::text, true), set_config('request.path', $4::text, true), " +
	"set_config('request.headers', $5::text, true), set_config('statement_timeout', $6::text, true)"

// rolePrelude is the prelude of a RoleOnly session.
const rolePrelude = "SELECT set_config('role', $1::text, true), set_config('statement_timeout', $2::text, true)"

func (p *Pool) runBatch(ctx context.Context, c *pgxpool.Conn, req *Request, timeout time.Duration, dst []byte) ([]byte, []int, error) {
	pg := c.Conn().PgConn()
	var b pgconn.Batch
	idx := 0 // index of the statement whose result comes next; -1 is the prelude
	withPrelude, err := p.queue(ctx, pg, &b, req.Session, timeout, req.Statements)
	if err != nil {
		return dst, nil, err
	}
	if withPrelude {
		idx = -1
	}
	mrr := pg.ExecBatch(ctx, &b)
	ends := make([]int, 0, len(req.Statements))
	var firstErr error
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		if idx < 0 {
			if _, err := rr.Close(); err != nil && firstErr == nil {
				firstErr = wrapPg(err, idx)
			}
		} else {
			var err error
			dst, err = readResult(rr, dst, idx, req.Statements[idx].Result)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			ends = append(ends, len(dst))
		}
		idx++
	}
	if err := mrr.Close(); err != nil && firstErr == nil {
		firstErr = wrapPg(err, idx)
	}
	if firstErr == nil && len(ends) != len(req.Statements) {
		firstErr = fmt.Errorf("%w: batch returned %d results for %d statements", ErrResultShape, len(ends), len(req.Statements))
	}
	return dst, ends, firstErr
}

// queue appends to b the prelude, when the session or the timeout needs one, then the
// statements; it reports whether the prelude is there.
func (p *Pool) queue(ctx context.Context, pg *pgconn.PgConn, b *pgconn.Batch, s *Session, timeout time.Duration, stmts []statement.Statement) (bool, error) {
	withPrelude := s != nil || timeout > 0
	if withPrelude {
		sql := prelude
		if s != nil && s.RoleOnly {
			sql = rolePrelude
		}
		// Prepared once per connection where statements are (cache_statement), like the
		// plans after it; else its one fixed text is all Postgres parses.
		sd, err := p.statement(ctx, pg, sql)
		if err != nil {
			return false, wrapPg(err, -1)
		}
		if sd != nil {
			b.ExecStatement(sd, p.preludeArgs(s, timeout), nil, nil)
		} else {
			b.ExecParams(sql, p.preludeArgs(s, timeout), nil, nil, nil)
		}
	}
	for i := range stmts {
		st := &stmts[i]
		sd, err := p.statement(ctx, pg, st.SQL)
		if err != nil {
			return withPrelude, wrapPg(err, i)
		}
		if sd != nil {
			b.ExecStatement(sd, st.Args, nil, nil)
		} else {
			b.ExecParams(st.SQL, st.Args, nil, nil, nil)
		}
	}
	return withPrelude, nil
}

// resetsRole reports whether set_config('role', role, true) would reset the session's
// role to the login role instead of switching to a role of that name: PostgreSQL reads
// "none" as RESET ROLE. Other spellings ("NONE", "default") name roles that cannot exist
// unquoted; they are refused too rather than trusted to stay so.
func resetsRole(role string) bool {
	return strings.EqualFold(role, "none") || strings.EqualFold(role, "default")
}

// preludeArgs are the values of the prelude s needs: prelude's six, or rolePrelude's two.
func (p *Pool) preludeArgs(s *Session, timeout time.Duration) [][]byte {
	var t []byte
	switch {
	case timeout == p.cfg.StatementTimeout:
		t = p.timeoutArg // the tenant's, spelled once
	case timeout > 0:
		t = strconv.AppendInt(make([]byte, 0, 12), timeout.Milliseconds(), 10)
	}
	if s != nil && s.RoleOnly {
		return [][]byte{nonEmpty(s.Role), t}
	}
	args := make([][]byte, 6)
	args[5] = t
	if s != nil {
		args[0] = nonEmpty(s.Role)
		args[1] = s.Claims
		if len(args[1]) == 0 {
			args[1] = emptyClaims
		}
		args[2] = nonEmpty(s.Method)
		args[3] = nonEmpty(s.Path)
		args[4] = s.Headers
	}
	return args
}

var emptyClaims = []byte("{}")

func nonEmpty(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func wrapPg(err error, stmt int) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &PgError{Statement: stmt, Err: pe}
	}
	return err
}

// maxPrepared bounds the named statements kept per connection in cache_statement mode; past
// it, further statements run unnamed.
const maxPrepared = 512

type preparedSet map[string]*pgconn.StatementDescription

// statement returns the prepared statement for sql on this connection in cache_statement
// mode, preparing it on first use (one extra round trip per connection and plan); nil in the
// other modes or when the connection's set is full.
func (p *Pool) statement(ctx context.Context, pg *pgconn.PgConn, sql string) (*pgconn.StatementDescription, error) {
	if !p.stmtCache {
		return nil, nil
	}
	data := pg.CustomData()
	set, _ := data["kapok.prepared"].(preparedSet)
	if set == nil {
		set = preparedSet{}
		data["kapok.prepared"] = set
	}
	if sd, ok := set[sql]; ok {
		return sd, nil
	}
	if len(set) >= maxPrepared {
		return nil, nil
	}
	sd, err := pg.Prepare(ctx, "kapok_"+strconv.Itoa(len(set)), sql, nil)
	if err != nil {
		return nil, err
	}
	set[sql] = sd
	return sd, nil
}

// PoolStats is a snapshot of one tenant's pool (pgxpool.Stat plus admission counters).
type PoolStats struct {
	Tenant                  string            `json:"tenant"`
	AcquiredConns           int32             `json:"acquired_conns"`
	IdleConns               int32             `json:"idle_conns"`
	TotalConns              int32             `json:"total_conns"`
	MaxConns                int32             `json:"max_conns"`
	ConstructingConns       int32             `json:"constructing_conns"`
	AcquireCount            int64             `json:"acquire_count"`
	AcquireDuration         time.Duration     `json:"acquire_duration_ns"`
	EmptyAcquireCount       int64             `json:"empty_acquire_count"`
	EmptyAcquireWaitTime    time.Duration     `json:"empty_acquire_wait_ns"`
	CanceledAcquireCount    int64             `json:"canceled_acquire_count"`
	NewConnsCount           int64             `json:"new_conns_count"`
	MaxLifetimeDestroyCount int64             `json:"max_lifetime_destroy_count"`
	MaxIdleDestroyCount     int64             `json:"max_idle_destroy_count"`
	InFlight                int64             `json:"in_flight"`
	MaxInFlight             int               `json:"max_in_flight"`
	Rejected                map[Reason]uint64 `json:"rejected"`
	LastUsed                time.Time         `json:"last_used"`
	// Shared names the shared pool the tenant draws on ("" for a pool of its own), and
	// Waiting counts its requests waiting for their turn there.
	Shared  string `json:"shared_pool,omitempty"`
	Waiting int    `json:"waiting,omitempty"`
}

// Stats returns a snapshot of the pool. Of a tenant on a shared pool (Shared names it), the
// open, idle and new connection counts are the shared pool's; what it holds, its cap and
// its acquires (waited, cancelled) are the tenant's own.
func (p *Pool) Stats() PoolStats {
	s := p.pool.Stat()
	st := PoolStats{
		Tenant:                  p.tenant,
		AcquiredConns:           s.AcquiredConns(),
		IdleConns:               s.IdleConns(),
		TotalConns:              s.TotalConns(),
		MaxConns:                s.MaxConns(),
		ConstructingConns:       s.ConstructingConns(),
		AcquireCount:            s.AcquireCount(),
		AcquireDuration:         s.AcquireDuration(),
		EmptyAcquireCount:       s.EmptyAcquireCount(),
		EmptyAcquireWaitTime:    s.EmptyAcquireWaitTime(),
		CanceledAcquireCount:    s.CanceledAcquireCount(),
		NewConnsCount:           s.NewConnsCount(),
		MaxLifetimeDestroyCount: s.MaxLifetimeDestroyCount(),
		MaxIdleDestroyCount:     s.MaxIdleDestroyCount(),
		InFlight:                p.inFlight.Load(),
		MaxInFlight:             p.cfg.MaxInFlight,
		Rejected:                make(map[Reason]uint64, len(reasons)),
		LastUsed:                time.Unix(0, p.lastUsed.Load()),
	}
	if p.gate != nil {
		gs := p.gate.stats()
		st.Shared = p.ph.name
		st.AcquiredConns = int32(gs.held)
		st.MaxConns = int32(p.gate.cap())
		st.Waiting = gs.waiting
		st.AcquireCount, st.EmptyAcquireCount = int64(gs.acquires), int64(gs.waited)
		st.EmptyAcquireWaitTime, st.CanceledAcquireCount = gs.waitedFor, int64(gs.canceled)
	}
	for i, r := range reasons {
		st.Rejected[r] = p.rejected[i].Load()
	}
	return st
}
