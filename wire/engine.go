package wire

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapok-dev/kapok/control"
)

// EngineOptions configures an Engine.
type EngineOptions struct {
	Config  *control.Config
	Logger  *slog.Logger
	Metrics *Metrics
	// Auth tells the statement guard which roles SET ROLE may name (nil: none).
	Auth Authenticator
}

// Engine relays authenticated client sessions to server connections it pools per
// tenant, one transaction at a time (transaction pooling), keeping each session's role,
// claims, settings and prepared statements across the server connections it runs on.
type Engine struct {
	cfg         *control.Config
	log         *slog.Logger
	met         *Metrics
	auth        Authenticator
	idleInTx    time.Duration
	maxPrepared int
	serverIdle  time.Duration
	// inspect is the statement guard (a field so the engine's tests can script verdicts).
	inspect func(sql string, p policy) ([]effect, *refusal)

	// ticks counts watchInline's ticks (from 1), clock is the time of the last one (unix
	// nanoseconds): the hot path stamps inline waits and idle server connections with
	// them instead of reading the clock, several times a transaction.
	ticks, clock atomic.Int64

	mu       sync.Mutex
	sessions map[*session]struct{}
	byPID    map[uint32]*session
	pools    map[poolKey]*serverPool
	draining bool
	closed   bool
	stop     chan struct{}
	janitor  sync.WaitGroup
}

type poolKey struct{ tenant, url string }

// NewEngine creates an engine; Close releases it.
func NewEngine(opts EngineOptions) *Engine {
	e := &Engine{
		cfg: opts.Config, log: opts.Logger, met: opts.Metrics, auth: opts.Auth,
		idleInTx: time.Minute, maxPrepared: 1000, serverIdle: 5 * time.Minute,
		inspect:  inspect,
		sessions: map[*session]struct{}{}, byPID: map[uint32]*session{}, pools: map[poolKey]*serverPool{},
		stop: make(chan struct{}),
	}
	e.ticks.Store(1)
	e.clock.Store(time.Now().UnixNano())
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.met == nil {
		e.met = NewMetrics()
	}
	if c := e.cfg; c != nil {
		if c.Wire.IdleInTransactionTimeout > 0 {
			e.idleInTx = c.Wire.IdleInTransactionTimeout.D()
		}
		if c.Wire.MaxPreparedPerServer > 0 {
			e.maxPrepared = c.Wire.MaxPreparedPerServer
		}
	}
	e.janitor.Add(2)
	go e.sweep()
	go e.watchInline()
	return e
}

// inlineWait is how long readInline waits for the server before it hands the server
// connection to a reader goroutine and reads the client again: a client that goes away
// during a long statement is then noticed, and its statement cancelled.
const inlineWait = 100 * time.Millisecond

// now is the time of watchInline's last tick: at most inlineWait old.
func (e *Engine) now() time.Time { return time.Unix(0, e.clock.Load()) }

// watchInline keeps ticks and clock, and interrupts the inline waits that last longer
// than inlineWait: those stamped two ticks ago or earlier (inlineSince), which began
// between one and two inlineWaits ago.
func (e *Engine) watchInline() {
	defer e.janitor.Done()
	t := time.NewTicker(inlineWait)
	defer t.Stop()
	var slow, idle []*session
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			e.clock.Store(now.UnixNano())
			cutoff := e.ticks.Add(1) - 2
			slow, idle = slow[:0], idle[:0]
			e.mu.Lock()
			for s := range e.sessions {
				if since := s.inlineSince.Load(); since != 0 && since <= cutoff {
					slow = append(slow, s)
				}
				if w := s.clientWait.Load(); w > 0 && w <= cutoff {
					idle = append(idle, s)
				}
			}
			e.mu.Unlock()
			for _, s := range slow {
				s.interruptInline()
			}
			for _, s := range idle {
				s.cutClientWait(cutoff)
			}
			clear(slow)
			clear(idle)
		}
	}
}

// sweep closes server connections idle for serverIdle.
func (e *Engine) sweep() {
	defer e.janitor.Done()
	every := min(e.serverIdle/2, 30*time.Second)
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			for _, p := range e.allPools() {
				p.closeIdle(now.Add(-e.serverIdle))
			}
		}
	}
}

func (e *Engine) allPools() []*serverPool {
	e.mu.Lock()
	defer e.mu.Unlock()
	ps := make([]*serverPool, 0, len(e.pools))
	for _, p := range e.pools {
		ps = append(ps, p)
	}
	return ps
}

// serverURL is where t's server connections go: the upstream itself (direct mode).
func (e *Engine) serverURL(t *control.Tenant) string {
	if t.DirectURL != "" {
		return t.DirectURL
	}
	if e.cfg != nil && t.Config != nil {
		return e.cfg.DirectURL(t.Config)
	}
	return ""
}

func (e *Engine) pool(t *control.Tenant) (*serverPool, error) {
	url := e.serverURL(t)
	if url == "" {
		return nil, fmt.Errorf("tenant %s has no server URL", t.Name)
	}
	k := poolKey{t.Name, url}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errPoolClosed
	}
	p := e.pools[k]
	if p == nil {
		p = newServerPool(e, t, url)
		e.pools[k] = p
	}
	return p, nil
}

// ServerParams returns the parameters a server connection of t reported at login.
func (e *Engine) ServerParams(ctx context.Context, t *control.Tenant) (map[string]string, error) {
	p, err := e.pool(t)
	if err != nil {
		return nil, err
	}
	ps, err := p.serverParams(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ps))
	for k, v := range ps {
		out[k] = v
	}
	return out, nil
}

// Forget closes the server connections of a removed tenant (those in use as their
// transactions end).
func (e *Engine) Forget(tenant string) {
	e.mu.Lock()
	var ps []*serverPool
	for k, p := range e.pools {
		if k.tenant == tenant {
			ps = append(ps, p)
			delete(e.pools, k)
		}
	}
	e.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
}

// DrainTenant closes the sessions of a tenant that moved to another database, as Drain
// does (at once when idle, else when their transaction ends), and its server connections:
// clients reconnect to the tenant where it is now.
func (e *Engine) DrainTenant(tenant string) {
	e.mu.Lock()
	var ss []*session
	for s := range e.sessions {
		if s.id.Tenant.Name == tenant {
			ss = append(ss, s)
		}
	}
	e.mu.Unlock()
	for _, s := range ss {
		s.drain()
	}
	e.Forget(tenant)
}

// Cancel cancels what the session with this BackendKeyData runs on its server connection.
func (e *Engine) Cancel(pid, secret uint32) {
	e.mu.Lock()
	s := e.byPID[pid]
	e.mu.Unlock()
	if s == nil || subtle.ConstantTimeEq(int32(s.c.Secret), int32(secret)) != 1 {
		return
	}
	sc := s.current.Load()
	if sc == nil {
		return
	}
	e.met.Cancel()
	if err := sc.cancel(context.Background()); err != nil {
		e.log.Warn("wire: cancel request", "tenant", s.id.Tenant.Name, "err", err)
	}
}

// Drain closes the sessions that hold no server connection with FATAL 57P01 and the
// others when their transaction ends; sessions starting from now on are refused.
func (e *Engine) Drain() {
	e.mu.Lock()
	e.draining = true
	ss := make([]*session, 0, len(e.sessions))
	for s := range e.sessions {
		ss = append(ss, s)
	}
	e.mu.Unlock()
	for _, s := range ss {
		s.drain()
	}
}

// Close ends every session and closes every server connection.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.draining = true
	close(e.stop)
	ss := make([]*session, 0, len(e.sessions))
	for s := range e.sessions {
		ss = append(ss, s)
	}
	ps := make([]*serverPool, 0, len(e.pools))
	for _, p := range e.pools {
		ps = append(ps, p)
	}
	e.pools = map[poolKey]*serverPool{}
	e.mu.Unlock()
	for _, s := range ss {
		s.abort()
	}
	for _, p := range ps {
		p.close()
	}
	e.janitor.Wait()
}

// Errors the engine gives clients.
var (
	errDraining = &pgproto3.ErrorResponse{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}
	errIdleInTx = &pgproto3.ErrorResponse{Severity: "FATAL", Code: "25P03", Message: "terminating connection due to idle-in-transaction timeout",
		Hint: "Commit or roll back transactions promptly: an open transaction holds a server connection other clients wait for."}
	errServerLost = &pgproto3.ErrorResponse{Severity: "FATAL", Code: "08006", Message: "server connection lost",
		Hint: "The transaction in progress, if any, was rolled back; reconnect and retry."}
	errInternal = &pgproto3.ErrorResponse{Severity: "FATAL", Code: "XX000", Message: "internal error in the connection proxy"}
)

func fatalError(code, msg string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "FATAL", Code: code, Message: msg}
}

func refusalError(r *refusal) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "ERROR", Code: r.Code, Message: r.Message, Hint: r.Hint}
}

// acquireError is what a client is told when no server connection could be had.
func acquireError(err error) (resp *pgproto3.ErrorResponse, fatal bool) {
	var le *loginError
	switch {
	case errors.As(err, &le):
		return fatalError("28000", le.msg), true
	case errors.Is(err, errQueueTimeout):
		return &pgproto3.ErrorResponse{Severity: "ERROR", Code: "53300", Message: "too many transactions waiting for a server connection of this tenant",
			Hint: "Retry shortly; keep transactions short or raise the tenant's pool.max_conns."}, false
	case errors.Is(err, errPoolClosed):
		return fatalError("57P01", "terminating connection due to administrator command"), true
	default:
		return &pgproto3.ErrorResponse{Severity: "ERROR", Code: "08006", Message: "could not connect to the database server", Hint: "Retry shortly."}, false
	}
}

// Entry modes of the FIFO of messages sent to the server.
const (
	howForward   uint8 = iota // relay the response
	howSwallow                // injected by the engine: swallow success, relay errors
	howSynthetic              // answered by the engine itself when it reaches the head
	howRefused                // a message sure to fail sent in a refused one's place
)

// pending is one message that gets a response, in the order sent.
type pending struct {
	kind    byte // 'P' Parse, 'B' Bind, 'D' Describe, 'E' Execute, 'C' Close, 'S' Sync, 'Q' Query
	how     uint8
	unnamed bool
	failed  bool // a Query that got an ErrorResponse
	name    string
	server  string
	st      *stmt
	ref     *refusal
	effects []effect
	tag     string // synthetic Query: CommandComplete tag (with 'E' status: 25P02)
}

// setting is one session setting: a SET the client ran (value: its SQL text) or a
// startup parameter (value: the string).
type setting struct{ name, value string }

// session is one client connection being served.
type session struct {
	e    *Engine
	c    *Client
	be   *pgproto3.Backend
	id   Identity
	pool *serverPool
	pol  policy
	// txCount is the tenant's transaction counter, resolved at the first transaction.
	txCount prometheus.Counter

	current atomic.Pointer[serverConn] // the held server, for Cancel
	done    context.Context            // ends when the session closes
	stop    context.CancelFunc
	readers sync.WaitGroup

	mu        sync.Mutex
	sc        *serverConn
	reading   bool // a reader goroutine runs on sc
	writing   bool // the client goroutine flushes to sc outside mu
	fifo      []pending
	head      int
	status    byte
	unsynced  bool // extended-protocol messages since the last Sync
	unflushed int  // bytes buffered for sc
	skipping  bool // a local error: ignore messages until Sync
	copyIn    bool // the server is in COPY FROM STDIN: it ignores Sync
	deadline  bool // the idle-in-transaction read deadline is set
	draining  bool
	closed    bool

	role       string
	claims     []byte
	params     []setting
	sets       []setting
	sig        string
	tentative  []effect
	txFailed   bool
	rolledBack bool
	stmts      map[string]*stmt
	unnamed    *stmt
	clean      string // the last text the guard found to change nothing (check)

	// inlineSC is the server connection readInline waits on (nil: none), since
	// inlineSince (the engine's tick count then, 0: not waiting); interrupted: watchInline
	// set its read deadline in the past.
	inlineSC    *serverConn
	inlineSince atomic.Int64
	interrupted bool

	// awaitClient: the answer that ends the transaction is still buffered, for run to write
	// with a wait for the client's next message (flushAwaiting); clientWait is that wait's
	// start (the engine's tick count; 0: none, -1: watchInline cut it short, under cutMu);
	// noAwait: a cut wait found the client's message there, which the wait may have missed
	// (a client that sends before it reads): this session's answers are written plainly.
	awaitClient bool
	noAwait     bool
	clientWait  atomic.Int64
	cutMu       sync.Mutex
	fwd         frame // the frame being relayed (forward)
	portals     map[string][]effect
}

// Serve sends c the server's parameters, its BackendKeyData and ReadyForQuery, then relays
// its session until Terminate, EOF, drain or ctx.
func (e *Engine) Serve(ctx context.Context, c *Client, id Identity) (err error) {
	s := &session{
		e: e, c: c, be: c.Backend, id: id, status: 'I',
		role: id.Role, claims: id.Claims,
		stmts: map[string]*stmt{}, portals: map[string][]effect{},
	}
	s.done, s.stop = context.WithCancel(context.Background())
	defer s.stop()
	s.pol = policy{token: id.Token, usable: func(role string) bool {
		return e.auth != nil && id.Tenant != nil && e.auth.Usable(id.Tenant.Name, role)
	}}
	if e.cfg != nil && e.cfg.Wire.MaxMessageBytes > 0 {
		c.Backend.SetMaxBodyLen(e.cfg.Wire.MaxMessageBytes)
	}
	e.mu.Lock()
	draining := e.draining
	if !draining {
		e.sessions[s] = struct{}{}
		e.byPID[c.PID] = s
	}
	e.mu.Unlock()
	if draining {
		s.writeFatal(errDraining)
		return nil
	}
	defer func() {
		e.mu.Lock()
		delete(e.sessions, s)
		if e.byPID[c.PID] == s {
			delete(e.byPID, c.PID)
		}
		e.mu.Unlock()
	}()
	if id.Tenant == nil {
		s.writeFatal(fatalError("08P01", "no tenant"))
		return errors.New("wire: session without a tenant")
	}
	s.pool, err = e.pool(id.Tenant)
	if err != nil {
		s.writeFatal(errDraining)
		return err
	}
	params, err := s.pool.serverParams(ctx)
	if err != nil {
		resp, _ := acquireError(err)
		resp.Severity = "FATAL"
		s.writeFatal(resp)
		return err
	}
	s.mu.Lock()
	if !s.closed {
		s.start(params)
		s.flushClient()
	}
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	stop := context.AfterFunc(ctx, s.abort)
	defer stop()
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("wire: session failed", "tenant", id.Tenant.Name, "panic", r, "stack", string(debug.Stack()))
			s.mu.Lock()
			s.closeLocked(errInternal)
			s.mu.Unlock()
			err = fmt.Errorf("wire: session: %v", r)
		}
		s.readers.Wait()
	}()
	err = s.run()
	s.mu.Lock()
	s.closeLocked(nil)
	s.mu.Unlock()
	return err
}

// start sends the session's ParameterStatus messages, BackendKeyData and ReadyForQuery,
// and keeps the startup parameters that differ from the server's as session settings.
func (s *session) start(server map[string]string) {
	report := map[string]string{}
	for _, k := range []string{"server_version", "server_encoding", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone", "integer_datetimes", "standard_conforming_strings"} {
		if v, ok := server[k]; ok {
			report[k] = v
		}
	}
	report["is_superuser"] = "off"
	report["session_authorization"] = s.id.User
	report["application_name"] = ""
	keys := make([]string, 0, len(s.id.Params))
	for k := range s.id.Params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := s.id.Params[k]
		if sv, ok := server[k]; ok && strings.EqualFold(sv, v) && k != "application_name" {
			continue
		}
		s.params = append(s.params, setting{k, v})
		if _, ok := report[k]; ok {
			report[k] = v
		}
	}
	s.sig = s.signature()
	names := make([]string, 0, len(report))
	for k := range report {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		s.be.Send(&pgproto3.ParameterStatus{Name: k, Value: report[k]})
	}
	s.be.Send(&pgproto3.BackendKeyData{ProcessID: s.c.PID, SecretKey: []byte{byte(s.c.Secret >> 24), byte(s.c.Secret >> 16), byte(s.c.Secret >> 8), byte(s.c.Secret)}})
	s.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
}

// writeFatal sends a FATAL error to a client the session never served and closes it.
func (s *session) writeFatal(r *pgproto3.ErrorResponse) {
	_ = s.c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	s.be.Send(r)
	_ = s.be.Flush()
	_ = s.c.Conn.Close()
}

// run reads the client's messages until the session ends.
func (s *session) run() error {
	for {
		m, err := s.be.Receive()
		if err != nil {
			return s.receiveFailed(err)
		}
		if done := s.handle(m); done {
			return nil
		}
		if s.awaitClient {
			s.flushAwaiting()
		}
	}
}

// flushAwaiting writes the answer that ended a transaction and returns once the client's
// next message is there to read (awaitReply): the read that follows then takes no attempt
// that finds nothing, as a client waits for the answer before it sends again. A client
// that sent more in the meantime, after the last read and before the wait began, is not
// seen by the wait: watchInline cuts a wait short after one to two inlineWaits
// (cutClientWait); if the client's message is then there, the session writes plainly from
// then on.
//
// mu is held throughout, as for every write to the client: what else takes it (a drain)
// waits at most for the cut.
func (s *session) flushAwaiting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.awaitClient = false
	if s.closed {
		return
	}
	if !awaitReply(s.c.Conn, true) {
		s.flushClient()
		return
	}
	s.clientWait.Store(s.e.ticks.Load())
	err := s.be.Flush()
	awaitReply(s.c.Conn, false)
	s.cutMu.Lock()
	cut := s.clientWait.Swap(0) < 0
	if cut {
		_ = s.c.Conn.SetReadDeadline(time.Time{})
	}
	s.cutMu.Unlock()
	if err != nil {
		s.closeLocked(nil)
		return
	}
	if cut && peek(s.c.Conn) == peekData {
		s.noAwait = true
	}
}

// cutClientWait ends flushAwaiting's wait begun at tick since or earlier with a read
// deadline in the past; flushAwaiting takes the deadline back.
func (s *session) cutClientWait(since int64) {
	s.cutMu.Lock()
	defer s.cutMu.Unlock()
	if w := s.clientWait.Load(); w > 0 && w <= since {
		s.clientWait.Store(-1)
		_ = s.c.Conn.SetReadDeadline(time.Unix(1, 0))
	}
}

func (s *session) receiveFailed(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.deadline && errors.Is(err, os.ErrDeadlineExceeded) {
		s.closeLocked(errIdleInTx)
		return nil
	}
	var tooBig *pgproto3.ExceededMaxBodyLenErr
	if errors.As(err, &tooBig) {
		s.closeLocked(fatalError("54000", fmt.Sprintf("message of %d bytes exceeds the limit of %d bytes", tooBig.ActualBodyLen, tooBig.MaxExpectedBodyLen)))
		return nil
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		s.closeLocked(nil)
		return nil
	}
	s.closeLocked(fatalError("08P01", "invalid frontend message"))
	return nil
}

// handle processes one client message; it reports whether the session is over.
func (s *session) handle(m pgproto3.FrontendMessage) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true
	}
	if s.deadline {
		_ = s.c.Conn.SetReadDeadline(time.Time{})
		s.deadline = false
	}
	switch m := m.(type) {
	case *pgproto3.Terminate:
		return true
	case *pgproto3.Query:
		s.query(m)
	case *pgproto3.Parse:
		s.parse(m)
	case *pgproto3.Bind:
		s.bind(m)
	case *pgproto3.Describe:
		s.describe(m)
	case *pgproto3.Execute:
		if s.skipping || !s.hold(false) {
			return s.closed
		}
		s.unsynced = true
		s.sendServer(m, 0)
		s.push(pending{kind: 'E', effects: s.portals[m.Portal]})
	case *pgproto3.Close:
		s.closeMsg(m)
	case *pgproto3.Sync:
		if s.copyIn {
			// Ignored by the server until the COPY data ends: no ReadyForQuery to await.
			s.sendServer(m, 0)
			return s.closed
		}
		if s.sc == nil {
			s.skipping = false
			s.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			s.flushClient()
			return s.closed
		}
		s.unsynced = false
		s.sendServer(m, 0)
		s.push(pending{kind: 'S'})
		s.flushServer(true)
	case *pgproto3.Flush:
		if s.sc != nil {
			s.sendServer(m, 0)
			s.flushServer(false)
		}
		if s.sc == nil || s.fifoLen() == 0 {
			s.flushClient()
		}
	case *pgproto3.CopyData:
		if s.sc != nil {
			s.sendServer(m, len(m.Data))
		}
	case *pgproto3.CopyDone, *pgproto3.CopyFail:
		s.copyIn = false
		if s.sc != nil {
			s.sendServer(m, 0)
			s.flushServer(false)
		}
	case *pgproto3.FunctionCall:
		s.refuseQuery(&refusal{Code: "0A000", Message: "fastpath function calls are not supported", Hint: "Call the function with SELECT."})
	default:
		s.closeLocked(fatalError("08P01", fmt.Sprintf("unexpected message %T", m)))
	}
	return s.closed
}

// query handles a simple Query.
func (s *session) query(m *pgproto3.Query) {
	if s.skipping {
		return
	}
	effects, ref := s.check(m.String, true)
	if ref != nil {
		s.refuseQuery(ref)
		return
	}
	if tag, ok := localStatement(effects); ok {
		if s.sc == nil {
			s.answerLocal(tag, effects)
			s.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			s.flushClient()
			return
		}
		if tag == "DISCARD ALL" && s.status != 'I' {
			s.refuseQuery(&refusal{Code: "25001", Message: "DISCARD ALL cannot run inside a transaction block"})
			return
		}
		s.push(pending{kind: 'Q', how: howSynthetic, tag: tag, effects: effects})
		return
	}
	if !s.hold(true) {
		return
	}
	s.sc.unnamed = "" // a simple Query drops the unnamed statement
	s.sendServer(m, len(m.String))
	s.push(pending{kind: 'Q', effects: effects})
	s.flushServer(true)
}

// refuseQuery answers a Query (or FunctionCall) with a refusal: on the held server
// connection through a Query sure to fail, so a transaction aborts as for any error.
func (s *session) refuseQuery(r *refusal) {
	if s.skipping {
		return
	}
	s.e.met.Refused(s.id.Tenant.Name, r.Code)
	if s.sc == nil {
		s.be.Send(refusalError(r))
		s.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		s.flushClient()
		return
	}
	s.sc.unnamed = ""
	s.sendServer(&pgproto3.Query{String: ")"}, 0)
	s.push(pending{kind: 'Q', how: howRefused, ref: r})
	s.flushServer(true)
}

// refuseExtended answers an extended-protocol message with a refusal: the server then
// skips to Sync, as PostgreSQL does after an error.
func (s *session) refuseExtended(r *refusal) {
	s.e.met.Refused(s.id.Tenant.Name, r.Code)
	if s.sc == nil {
		s.be.Send(refusalError(r))
		s.skipping = true
		return
	}
	s.unsynced = true
	s.sendServer(&pgproto3.Parse{Name: "kw_refused", Query: ")"}, 0)
	s.push(pending{kind: 'P', how: howRefused, ref: r})
}

// checkEffects refuses what the engine cannot carry through transaction pooling.
func (s *session) checkEffects(effects []effect, sql string, simple bool) *refusal {
	for _, ef := range effects {
		switch ef.Kind {
		case effectSetRole:
			if ef.Value == "" && s.id.Role != "" {
				return &refusal{Code: "42501", Message: fmt.Sprintf("permission denied to reset role: this session runs as %q", s.id.Role),
					Hint: "SET ROLE " + quoteIdent(s.id.Role) + " returns to the session's role."}
			}
		case effectDeallocate, effectDeallocateAll, effectDiscardAll:
			if !simple {
				return &refusal{Code: "0A000", Message: "DEALLOCATE and DISCARD ALL are not supported as prepared statements",
					Hint: "Send them as simple queries, or close statements with the protocol's Close message."}
			}
			body := strings.TrimRight(strings.TrimSpace(sql), "; \t\r\n")
			if len(effects) > 1 || strings.Contains(body, ";") {
				return &refusal{Code: "0A000", Message: "DEALLOCATE and DISCARD ALL must be sent alone",
					Hint: "Send them as a query of their own."}
			}
		}
	}
	return nil
}

// localStatement reports whether effects are those of a statement the engine answers
// itself (prepared statements and settings are the session's, not the server's).
func localStatement(effects []effect) (tag string, ok bool) {
	if len(effects) != 1 {
		return "", false
	}
	switch effects[0].Kind {
	case effectDeallocate:
		return "DEALLOCATE", true
	case effectDeallocateAll:
		return "DEALLOCATE ALL", true
	case effectDiscardAll:
		return "DISCARD ALL", true
	}
	return "", false
}

// answerLocal applies a local statement to the session and answers its CommandComplete.
func (s *session) answerLocal(tag string, effects []effect) {
	for _, ef := range effects {
		switch ef.Kind {
		case effectDeallocate:
			delete(s.stmts, ef.Name)
		case effectDeallocateAll:
			clear(s.stmts)
		case effectDiscardAll:
			clear(s.stmts)
			s.unnamed = nil
			s.sets = nil
			s.role = s.id.Role
			s.sig = s.signature()
		}
	}
	s.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(tag)})
}

func (s *session) parse(m *pgproto3.Parse) {
	if s.skipping {
		return
	}
	var ref *refusal
	var effects []effect
	if _, dup := s.stmts[m.Name]; dup && m.Name != "" {
		ref = &refusal{Code: "42P05", Message: fmt.Sprintf("prepared statement %q already exists", m.Name)}
	} else {
		effects, ref = s.check(m.Query, false)
	}
	if ref != nil && s.sc == nil {
		s.refuseExtended(ref)
		return
	}
	var st *stmt // a named statement's, made once
	if ref == nil && m.Name != "" {
		st = newStmt(m.Query, m.ParameterOIDs, effects)
		if s.sc == nil && s.pool.parsedBefore(parsedKey(st.server, s.sig)) {
			// Outside a transaction, a statement a server of the pool parsed under the
			// same session state is taken without a server connection: it is prepared on
			// the one that runs it (ensureLocked). A client that prepares synchronously
			// while its other connections hold every server connection in open
			// transactions (pgbench -M prepared, one thread for several clients) would
			// wait for one of them, which waits for it.
			s.stmts[m.Name] = st
			s.e.met.Prepare("client")
			s.be.Send(&pgproto3.ParseComplete{})
			return
		}
	}
	if !s.hold(false) {
		return
	}
	s.unsynced = true
	if ref != nil {
		s.refuseExtended(ref)
		return
	}
	if st == nil {
		st = s.unnamed
		if st == nil || effects != nil || st.effects != nil || st.query != m.Query || !slices.Equal(st.oids, m.ParameterOIDs) {
			st = newStmt(m.Query, m.ParameterOIDs, effects)
		}
	}
	s.parseLocked(m, st)
}

// check runs the statement guard on sql, then checkEffects. A text found to change
// nothing is remembered: drivers send the same text again and again (an unnamed Parse
// per execution), and such a verdict does not depend on the session's policy, which only
// decides statements that change the session.
func (s *session) check(sql string, simple bool) ([]effect, *refusal) {
	if sql == s.clean {
		return nil, nil
	}
	effects, ref := s.e.inspect(sql, s.pol)
	if ref == nil {
		ref = s.checkEffects(effects, sql, simple)
	}
	if ref == nil && len(effects) == 0 {
		s.clean = sql
	}
	return effects, ref
}

func (s *session) bind(m *pgproto3.Bind) {
	if s.skipping {
		return
	}
	st := s.lookup(m.PreparedStatement)
	if st == nil {
		if s.sc != nil {
			s.unsynced = true
		}
		s.refuseExtended(missingStatement(m.PreparedStatement))
		return
	}
	if !s.hold(false) {
		return
	}
	s.unsynced = true
	unnamed := m.PreparedStatement == ""
	s.ensureLocked(st, unnamed)
	name := m.PreparedStatement
	if !unnamed {
		m.PreparedStatement = st.server
	}
	n := 0
	for _, p := range m.Parameters {
		n += len(p)
	}
	s.sendServer(m, n)
	s.push(pending{kind: 'B', name: name, server: m.PreparedStatement})
	if st.effects != nil {
		s.portals[m.DestinationPortal] = st.effects
	} else if len(s.portals) > 0 {
		delete(s.portals, m.DestinationPortal)
	}
}

func (s *session) describe(m *pgproto3.Describe) {
	if s.skipping {
		return
	}
	var st *stmt
	if m.ObjectType == 'S' {
		if st = s.lookup(m.Name); st == nil {
			if s.sc != nil {
				s.unsynced = true
			}
			s.refuseExtended(missingStatement(m.Name))
			return
		}
	}
	if !s.hold(false) {
		return
	}
	s.unsynced = true
	name := m.Name
	if st != nil {
		s.ensureLocked(st, m.Name == "")
		if m.Name != "" {
			m.Name = st.server
		}
	}
	s.sendServer(m, 0)
	s.push(pending{kind: 'D', name: name, server: m.Name})
}

func (s *session) closeMsg(m *pgproto3.Close) {
	if s.skipping {
		return
	}
	if m.ObjectType == 'S' || s.sc == nil {
		// Statements are the session's; a portal outside a transaction no longer exists.
		var st *stmt
		if m.ObjectType == 'S' {
			if st = s.lookup(m.Name); st != nil {
				if m.Name == "" {
					s.unnamed = nil
				} else {
					delete(s.stmts, m.Name)
				}
			}
		}
		if s.sc == nil {
			s.be.Send(&pgproto3.CloseComplete{})
			return
		}
		s.unsynced = true
		s.push(pending{kind: 'C', how: howSynthetic, name: m.Name, st: st})
		return
	}
	s.unsynced = true
	s.sendServer(m, 0)
	s.push(pending{kind: 'C'})
}

// hold makes sure the session holds a server connection, taking one from the pool (and
// bringing it to the session's state) if not. On failure the client has been answered.
func (s *session) hold(simple bool) bool {
	if s.sc != nil {
		return true
	}
	if s.draining {
		s.closeLocked(errDraining)
		return false
	}
	s.mu.Unlock()
	// An idle connection is taken without a wait to time (nor a clock to read).
	var waited time.Duration
	var err error
	sc := s.pool.takeIdle()
	if sc == nil {
		start := time.Now()
		sc, err = s.pool.dialOrQueue(s.done)
		waited = time.Since(start)
	}
	if err == nil {
		err = s.apply(sc)
	}
	s.mu.Lock()
	if err != nil {
		if sc != nil {
			s.pool.discard(sc)
		}
		if s.closed {
			return false
		}
		resp, fatal := acquireError(err)
		var pe *prepareError
		if errors.As(err, &pe) {
			resp, fatal = pe.resp, true
		}
		if fatal {
			s.closeLocked(resp)
			return false
		}
		s.be.Send(resp)
		if simple {
			s.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			s.flushClient()
		} else {
			s.skipping = true
		}
		return false
	}
	if s.closed {
		s.pool.release(sc)
		return false
	}
	if s.txCount == nil {
		s.txCount = s.e.met.Transactions(s.id.Tenant.Name)
	}
	s.e.met.Transaction(s.txCount, waited.Seconds())
	s.sc = sc
	s.current.Store(sc)
	s.status = 'I'
	return true
}

// prepareError is a session prelude the server refused: the session cannot go on.
type prepareError struct{ resp *pgproto3.ErrorResponse }

func (e *prepareError) Error() string { return e.resp.Message }

// apply brings sc to the session's state (role, claims, settings) with one simple Query
// whose responses are swallowed, unless sc already has it. It runs on the client
// goroutine before any reader runs on sc.
func (s *session) apply(sc *serverConn) error {
	s.mu.Lock()
	sig := s.sig
	var prelude string
	if sc.sig != sig {
		prelude = s.prelude()
	}
	s.mu.Unlock()
	if sc.sig == sig {
		return nil
	}
	sc.fe.Send(&pgproto3.Query{String: prelude})
	if err := sc.fe.Flush(); err != nil {
		return err
	}
	sc.unnamed = ""
	var failed *pgproto3.ErrorResponse
	for {
		f, err := sc.rd.next()
		if err != nil {
			return err
		}
		switch f[0] {
		case 'E':
			var m pgproto3.ErrorResponse
			if err := m.Decode(f[5:]); err != nil {
				return err
			}
			failed = &pgproto3.ErrorResponse{Severity: "FATAL", Code: m.Code, Message: "the session's settings could not be restored: " + m.Message}
		case 'Z':
			if failed != nil {
				return &prepareError{resp: failed}
			}
			sc.sig = sig
			return nil
		}
	}
}

// signature identifies the session state a server connection must have ("" = the state
// of a fresh server connection); it is the prelude that applies it.
func (s *session) signature() string {
	if s.role == "" && s.claims == nil && len(s.params) == 0 && len(s.sets) == 0 {
		return ""
	}
	return s.prelude()
}

// prelude is the simple Query that brings a server connection to the session's state.
// Names are quoted identifiers and values literals, except the values of the client's SET
// statements, which replay the SQL text PostgreSQL already accepted from the client.
func (s *session) prelude() string {
	var b strings.Builder
	b.WriteString("RESET ALL; ")
	if s.role != "" {
		b.WriteString("SET ROLE " + quoteIdent(s.role))
	} else {
		b.WriteString("RESET ROLE")
	}
	if s.claims != nil || len(s.params) > 0 {
		b.WriteString("; SELECT ")
		sep := ""
		if s.claims != nil {
			b.WriteString("pg_catalog.set_config('request.jwt.claims', " + quoteLiteral(string(s.claims)) + ", false)")
			sep = ", "
		}
		for _, p := range s.params {
			b.WriteString(sep + "pg_catalog.set_config(" + quoteLiteral(p.name) + ", " + quoteLiteral(p.value) + ", false)")
			sep = ", "
		}
	}
	for _, st := range s.sets {
		b.WriteString("; SET " + quoteIdent(st.name) + " = " + st.value)
	}
	return b.String()
}

func quoteIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sendServer buffers m for the held server connection; a long batch is flushed as it goes.
func (s *session) sendServer(m pgproto3.FrontendMessage, size int) {
	if s.sc == nil {
		// Lost during an earlier flush of this message's batch; the session is closed.
		return
	}
	s.sc.fe.Send(m)
	s.unflushed += size + 16
	if s.unflushed >= 64<<10 {
		s.flushServer(false)
	}
}

// flushServer writes what is buffered for the held server connection, outside mu: a
// reader must be free to relay the server's answers meanwhile.
//
// batchEnd says the client's batch ends with what was written (a Sync or a Query), so
// the server answers it to ReadyForQuery without more input. If no reader runs on the
// server connection yet, the client goroutine then reads the answers itself (readInline):
// a transaction of one batch, the common case, costs no goroutine and no hand-over. Other
// flushes (Flush, COPY data, a long batch flushed as it goes) start a reader goroutine,
// so that neither side can wait on the other.
func (s *session) flushServer(batchEnd bool) {
	sc := s.sc
	if sc == nil {
		return
	}
	s.unflushed = 0
	s.writing = true
	// Answers read inline next: the write itself waits for the first of them
	// (awaitReply), which spares the read a first attempt that would find nothing. The
	// wait counts as readInline's, which watchInline may cut short.
	await := batchEnd && !s.reading && s.fifoLen() > 0 && awaitReply(sc.conn, true)
	if await {
		s.beginInline(sc)
	}
	s.mu.Unlock()
	err := sc.fe.Flush()
	s.mu.Lock()
	if await {
		awaitReply(sc.conn, false)
		s.endInline()
	}
	s.writing = false
	if s.sc != sc {
		return
	}
	if err != nil {
		s.serverLost(sc, err)
		return
	}
	if !s.reading {
		switch {
		case s.releasable():
			// A reader released nothing while this write was under way.
			s.release()
		case batchEnd && s.fifoLen() > 0:
			s.readInline(sc)
		default:
			s.startReader()
		}
	}
}

// readInline relays sc's answers to the end of the batch on the client goroutine; it
// hands over to a reader goroutine when the server waits for the client (COPY FROM
// STDIN). In a transaction left open nobody reads sc until the client's next batch: what
// the server says meanwhile (a FATAL error, a notice) is relayed then, before that
// batch's answers.
//
// A wait longer than inlineWait is interrupted (watchInline): the server connection goes to
// a reader goroutine, and the client goroutine reads the client again.
func (s *session) readInline(sc *serverConn) {
	s.reading = true
	s.beginInline(sc)
	defer s.endInline()
	for {
		s.mu.Unlock()
		f, err := receiveServer(sc)
		s.mu.Lock()
		if s.interrupted {
			s.interrupted = false
			_ = sc.conn.SetReadDeadline(time.Time{})
			if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
				if s.sc == sc && !s.closed {
					s.goRead(sc) // nothing was read: the reader goes on from here
				}
				return
			}
		}
		if !s.relayOne(sc, f, err) {
			return
		}
		if f[0] == 'G' || f[0] == 'W' {
			// CopyInResponse, CopyBothResponse: the server waits for the client's data.
			s.goRead(sc)
			return
		}
		if s.fifoLen() == 0 {
			// All answered, in a transaction left open: the next batch is read here too.
			s.reading = false
			return
		}
	}
}

// beginInline marks the start of a wait on sc that watchInline may cut short; mu is held.
func (s *session) beginInline(sc *serverConn) {
	s.inlineSC = sc
	s.inlineSince.Store(s.e.ticks.Load())
}

// endInline marks the end of readInline's wait; mu is held.
func (s *session) endInline() {
	s.inlineSC = nil
	s.inlineSince.Store(0)
}

// interruptInline ends readInline's wait on the server with a read deadline in the past.
func (s *session) interruptInline() {
	if !s.mu.TryLock() {
		// Busy, perhaps in flushAwaiting's wait, which this goroutine alone can cut
		// short: the next tick looks again.
		return
	}
	defer s.mu.Unlock()
	if sc := s.inlineSC; sc != nil && !s.interrupted {
		s.interrupted = true
		_ = sc.conn.SetReadDeadline(time.Unix(1, 0))
	}
}

// receiveServer is sc.rd.next with a panic turned into an error: readInline calls it
// with mu released inside a locked region.
func receiveServer(sc *serverConn) (f []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("wire: reading the server: %v", r)
		}
	}()
	return sc.rd.next()
}

func (s *session) flushClient() {
	if err := s.be.Flush(); err != nil {
		s.closeLocked(nil)
	}
}

func (s *session) startReader() {
	s.reading = true
	s.goRead(s.sc)
}

// goRead starts the reader goroutine on sc (s.reading is already true).
func (s *session) goRead(sc *serverConn) {
	s.readers.Add(1)
	go s.read(sc)
}

// read relays sc's messages to the client until the session releases or loses sc.
func (s *session) read(sc *serverConn) {
	defer s.readers.Done()
	defer func() {
		if r := recover(); r != nil {
			s.e.log.Error("wire: relay failed", "tenant", s.id.Tenant.Name, "panic", r, "stack", string(debug.Stack()))
			s.mu.Lock()
			s.closeLocked(errInternal)
			s.mu.Unlock()
		}
	}()
	for {
		f, err := sc.rd.next()
		s.mu.Lock()
		more := s.relayOne(sc, f, err)
		s.mu.Unlock()
		if !more {
			return
		}
	}
}

// relayOne relays one message of sc (or its read error) with mu held; false: sc is no
// longer the session's to read.
func (s *session) relayOne(sc *serverConn, f []byte, err error) bool {
	if s.sc != sc || s.closed {
		return false
	}
	if err != nil {
		s.serverLost(sc, err)
		return false
	}
	more := s.relay(sc, f)
	if more && sc.rd.buffered() == 0 {
		s.flushClient()
	}
	return more && !s.closed
}

func (s *session) fifoLen() int { return len(s.fifo) - s.head }

// dropQueuedSyncs forgets the Syncs sent after the entry at the head (which started COPY
// FROM STDIN): the server ignores them.
func (s *session) dropQueuedSyncs() {
	if s.head < len(s.fifo) {
		kept := slices.DeleteFunc(s.fifo[s.head+1:], func(p pending) bool { return p.kind == 'S' })
		s.fifo = s.fifo[:s.head+1+len(kept)]
	}
}

func (s *session) push(p pending) {
	s.fifo = append(s.fifo, p)
	s.emitSynthetic()
}

func (s *session) peek() *pending {
	if s.head == len(s.fifo) {
		return nil
	}
	return &s.fifo[s.head]
}

func (s *session) pop() {
	s.fifo[s.head] = pending{}
	s.head++
	if s.head == len(s.fifo) {
		s.fifo = s.fifo[:0]
		s.head = 0
	}
}

// emitSynthetic answers the engine's own entries once they reach the head of the FIFO.
func (s *session) emitSynthetic() {
	for {
		e := s.peek()
		if e == nil || e.how != howSynthetic {
			return
		}
		switch e.kind {
		case 'P':
			s.be.Send(&pgproto3.ParseComplete{})
		case 'C':
			s.be.Send(&pgproto3.CloseComplete{})
		case 'Q':
			if s.status == 'E' {
				s.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "25P02", Message: "current transaction is aborted, commands ignored until end of transaction block"})
			} else {
				s.answerLocal(e.tag, e.effects)
			}
			s.be.Send(&pgproto3.ReadyForQuery{TxStatus: s.status})
		}
		s.pop()
	}
}

// relay handles one message of the server, a frame as it came (frameReader.next); false:
// the reader stops (sc released or lost). Messages are relayed as their bytes.
func (s *session) relay(sc *serverConn, f []byte) bool {
	e := s.peek()
	switch f[0] {
	case 'D', 'd', 'c', 'H', 'W': // DataRow, CopyData, CopyDone, CopyOutResponse, CopyBothResponse
		if e == nil {
			return s.protocolError(sc, f[0])
		}
		s.forward(f)
	case 'G': // CopyInResponse
		if e == nil {
			return s.protocolError(sc, f[0])
		}
		// PostgreSQL ignores Sync until the COPY data ends: a Sync the client sent with
		// the Execute gets no ReadyForQuery (the one after CopyDone or CopyFail does).
		s.copyIn = true
		s.dropQueuedSyncs()
		s.forward(f)
		s.flushClient()
	case 'N', 'S', 'A': // NoticeResponse, ParameterStatus, NotificationResponse
		s.forward(f)
	case '1': // ParseComplete
		return s.complete(sc, e, 'P', f)
	case '2': // BindComplete
		return s.complete(sc, e, 'B', f)
	case '3': // CloseComplete
		return s.complete(sc, e, 'C', f)
	case 'n': // NoData
		return s.complete(sc, e, 'D', f)
	case 't': // ParameterDescription
		if e == nil || e.kind != 'D' {
			return s.protocolError(sc, f[0])
		}
		s.forward(f)
	case 'T': // RowDescription
		if e != nil && e.kind == 'Q' {
			s.forward(f)
			return true
		}
		return s.complete(sc, e, 'D', f)
	case 'C': // CommandComplete
		tag := f[5:]
		if n := len(tag); n > 0 && tag[n-1] == 0 {
			tag = tag[:n-1]
		}
		if e != nil && e.kind == 'Q' {
			s.noteTag(tag)
			s.forward(f)
			return true
		}
		if e != nil && e.kind == 'E' {
			s.noteTag(tag)
			s.tentative = append(s.tentative, e.effects...)
		}
		return s.complete(sc, e, 'E', f)
	case 'I': // EmptyQueryResponse
		if e != nil && e.kind == 'Q' {
			s.forward(f)
			return true
		}
		return s.complete(sc, e, 'E', f)
	case 's': // PortalSuspended
		return s.complete(sc, e, 'E', f)
	case 'E': // ErrorResponse
		var m pgproto3.ErrorResponse
		if err := m.Decode(f[5:]); err != nil {
			return s.protocolError(sc, f[0])
		}
		s.serverError(sc, e, &m)
	case 'Z': // ReadyForQuery
		if e == nil || (e.kind != 'S' && e.kind != 'Q') || len(f) != 6 {
			return s.protocolError(sc, f[0])
		}
		if e.kind == 'Q' && !e.failed {
			s.tentative = append(s.tentative, e.effects...)
		}
		s.pop()
		s.status = f[5]
		s.forward(f)
		s.emitSynthetic()
		s.transactionState()
		if s.inlineSC == sc && s.releasable() && !s.noAwait && s.c.reader != nil && !s.c.reader.pending() {
			// The client's turn, with nothing more of it received: the client goroutine
			// writes this once it has released sc, and waits for the next message there.
			s.awaitClient = true
		} else {
			s.flushClient()
		}
		if s.closed {
			return false
		}
		if s.releasable() {
			s.reading = false
			if !s.writing {
				s.release()
			}
			return false
		}
		if s.status != 'I' && s.fifoLen() == 0 && !s.unsynced && s.e.idleInTx > 0 {
			_ = s.c.Conn.SetReadDeadline(time.Now().Add(s.e.idleInTx))
			s.deadline = true
		}
	default:
		return s.protocolError(sc, f[0])
	}
	return true
}

// forward relays frame f to the client.
func (s *session) forward(f []byte) {
	s.fwd.b = f
	s.be.Send(&s.fwd)
	s.fwd.b = nil
}

// complete matches a response that ends entry e (of kind want) and relays it unless the
// engine injected e.
func (s *session) complete(sc *serverConn, e *pending, want byte, f []byte) bool {
	if e == nil || e.kind != want || e.how == howRefused || e.how == howSynthetic {
		return s.protocolError(sc, f[0])
	}
	if e.how == howForward {
		s.forward(f)
	}
	if want == 'P' && !e.unnamed && e.server != "" && s.status == 'I' && s.sig == sc.sig {
		s.pool.noteParsed(parsedKey(e.server, s.sig))
	}
	s.pop()
	s.emitSynthetic()
	return true
}

func (s *session) noteTag(tag []byte) {
	s.rolledBack = string(tag) == "ROLLBACK"
}

// serverError relays an ErrorResponse (a refusal's in place of the server's) and, in the
// extended protocol, drops the entries the server skips until Sync.
func (s *session) serverError(sc *serverConn, e *pending, m *pgproto3.ErrorResponse) {
	s.txFailed = true
	s.copyIn = false // an error ends COPY FROM STDIN on the server
	if e == nil {
		s.be.Send(m)
		return
	}
	switch {
	case e.how == howRefused && m.Code == "42601":
		s.be.Send(refusalError(e.ref))
	case m.Code == "26000" && (e.kind == 'B' || e.kind == 'D') && e.server != "":
		// The server lost a statement the engine thought it had: name the client's.
		sc.prep.remove(e.server)
		s.be.Send(&pgproto3.ErrorResponse{Severity: m.Severity, Code: m.Code, Message: missingStatement(e.name).Message})
	default:
		s.be.Send(m)
	}
	if e.kind == 'Q' {
		e.failed = true
		return
	}
	for e := s.peek(); e != nil && e.kind != 'S' && e.kind != 'Q'; e = s.peek() {
		s.undoLocked(e)
		s.pop()
	}
}

// transactionState records the session effects of a transaction that ended well.
func (s *session) transactionState() {
	if s.status != 'I' {
		return
	}
	if !s.txFailed && !s.rolledBack && len(s.tentative) > 0 {
		s.record(s.tentative)
	}
	s.tentative = s.tentative[:0]
	s.txFailed, s.rolledBack = false, false
	clear(s.portals)
}

// record applies effects the server carried out to the session's state; the held server
// connection then has that state.
func (s *session) record(effects []effect) {
	dirty := false
	for _, ef := range effects {
		switch ef.Kind {
		case effectSet:
			s.sets = slices.DeleteFunc(s.sets, func(st setting) bool { return st.name == ef.Name })
			s.sets = append(s.sets, setting{ef.Name, ef.Value})
		case effectReset:
			s.sets = slices.DeleteFunc(s.sets, func(st setting) bool { return st.name == ef.Name })
			// The server went back to its own default, not the client's startup value.
			dirty = dirty || slices.ContainsFunc(s.params, func(st setting) bool { return strings.EqualFold(st.name, ef.Name) })
		case effectResetAll:
			s.sets = nil
			dirty = dirty || len(s.params) > 0 || s.claims != nil
		case effectSetRole:
			s.role = ef.Value
			if s.role == "" {
				s.role = s.id.Role
			}
		case effectTouch:
			dirty = true
		}
	}
	s.sig = s.signature()
	if s.sc != nil {
		s.sc.sig = s.sig
		if dirty {
			s.sc.sig = dirtySig
		}
	}
}

// releasable: the held connection is idle with nothing pending, so it may serve others.
func (s *session) releasable() bool {
	return s.sc != nil && s.status == 'I' && s.fifoLen() == 0 && !s.unsynced
}

func (s *session) release() {
	sc := s.sc
	s.sc = nil
	s.current.Store(nil)
	s.reading = false
	s.pool.release(sc)
	if s.draining {
		s.closeLocked(errDraining)
	}
}

// serverLost ends a session whose server connection failed.
func (s *session) serverLost(sc *serverConn, err error) {
	if s.sc == sc {
		s.sc = nil
		s.current.Store(nil)
		s.reading = false
		s.pool.discard(sc)
	}
	if !s.closed {
		s.e.log.Warn("wire: server connection lost", "tenant", s.id.Tenant.Name, "err", err)
	}
	s.closeLocked(errServerLost)
}

func (s *session) protocolError(sc *serverConn, typ byte) bool {
	s.serverLost(sc, fmt.Errorf("unexpected message %q from the server", typ))
	return false
}

// closeLocked ends the session: an optional FATAL error, the client closed, the server
// connection released if idle, else dropped (PostgreSQL rolls back what it ran).
func (s *session) closeLocked(fatal *pgproto3.ErrorResponse) {
	if s.closed {
		return
	}
	s.closed = true
	s.stop()
	if fatal != nil {
		_ = s.c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		s.be.Send(fatal)
		_ = s.be.Flush()
	}
	_ = s.c.Conn.Close()
	if sc := s.sc; sc != nil {
		s.sc = nil
		s.current.Store(nil)
		switch {
		case !s.reading && !s.writing && s.status == 'I' && s.fifoLen() == 0 && !s.unsynced:
			s.pool.release(sc)
		case s.fifoLen() > 0 || s.writing:
			// A statement may be running: cancel it rather than let it run on unheard.
			s.pool.discard(sc)
			go func() { _ = sc.cancel(context.Background()) }()
		default:
			s.pool.discard(sc)
		}
	}
}

// drain closes the session now if it holds no server connection, else once it does not.
func (s *session) drain() {
	s.cutClientWait(math.MaxInt64) // flushAwaiting holds mu while it waits for the client
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	if s.sc == nil {
		s.closeLocked(errDraining)
	}
}

// abort closes the client connection at once (engine closing, ctx done).
func (s *session) abort() {
	_ = s.c.Conn.Close()
	s.mu.Lock()
	s.closeLocked(nil)
	s.mu.Unlock()
}
