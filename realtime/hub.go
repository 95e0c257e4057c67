package realtime

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/kapok-dev/kapok/internal/jsonx"
	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/poolmgr"
)

// ErrTooMany refuses a subscription over the tenant's max_subscriptions.
var ErrTooMany = errors.New("too many subscriptions for this tenant")

// ErrGone refuses to replace a subscription that was cancelled first.
var ErrGone = errors.New("the subscription has ended")

// ErrClosed refuses a subscription while the hub drains.
var ErrClosed = errors.New("the server is shutting down")

// Options configure a Hub.
type Options struct {
	Logger *slog.Logger
	// Workers bounds the groups refreshed at once (default 4).
	Workers int
	// MaxBatch bounds the subscribers one statement answers (default 1000); a larger
	// group runs one statement per MaxBatch subscribers.
	MaxBatch int
	// Metrics, when set, receives the hub's metrics.
	Metrics *Metrics
	// Changes, when set, reports the changes of managed databases that run logical
	// replication from its stream (one feed with postgres_changes) instead of statement
	// triggers; the hub does not close it.
	Changes *Changes
}

// Query is one subscription as the proxy compiled it.
type Query struct {
	Tenant string
	// DirectURL is the tenant's database without a pooler (LISTEN, trigger installs);
	// Managed says Kapok may install its change triggers there.
	DirectURL string
	Managed   bool
	// Key is the plan's cache key (tenant, schema version, role, shape).
	Key  []byte
	Plan *planner.Plan
	// Variables is the request's variables object (raw JSON, copied).
	Variables []byte
	Pool      *poolmgr.Pool
	// Session is the subscriber's role and claims; nil runs as the pool's own role
	// (the admin key).
	Session *poolmgr.Session
	// Interval is the least time between two refreshes of the group; Poll the refresh
	// interval when no feed reports the changes of a table it reads; Max the tenant's
	// subscriptions.
	Interval, Poll time.Duration
	Max            int
}

// Push receives a subscription's messages: body is a complete GraphQL response
// ({"data":…} or {"errors":…}), valid only during the call. It runs on the hub's
// goroutines and must not block.
type Push func(body []byte)

// Hub runs the live queries and streams of every tenant of one process.
type Hub struct {
	opts Options
	log  *slog.Logger
	m    *Metrics
	feed *feed

	mu     sync.Mutex
	groups map[string]*group
	perTen map[string]int
	closed bool
	wake   chan struct{}
	work   chan *group
	stop   chan struct{}
	wg     sync.WaitGroup
}

// group is the subscribers of one plan, role and claims: one statement per refresh.
type group struct {
	key    string
	tenant string
	plan   *planner.Plan
	pool   *poolmgr.Pool
	sess   *poolmgr.Session
	// msql is each statement's multiplexed SQL ("" where it cannot be multiplexed).
	msql     []string
	interval time.Duration
	poll     time.Duration
	polled   bool // a table it reads has no trigger: refreshed every poll
	rels     []relID
	fdb      *feedDB // its database's feed, nil without one

	// Guarded by Hub.mu.
	subs       []*Sub
	dirty      bool
	dirtySince time.Time
	lastRun    time.Time
	backoff    time.Time
	running    bool
}

// Sub is one subscription.
type Sub struct {
	h    *Hub
	g    *group
	in   planner.Input
	args [][][]byte // each statement's arguments
	push Push

	// Guarded by Hub.mu.
	fresh bool // waits for its first result
	gone  bool

	// Written by the group's refresh (one at a time) under Hub.mu, once the result is
	// pushed: its hash, and a stream's cursor past the last row pushed (the row's
	// planner.CursorKey object). Replace carries them over.
	hash   uint64
	sent   bool
	cursor []byte
}

// delivered is what a replaced subscription had pushed.
type delivered struct {
	hash   uint64
	sent   bool
	cursor []byte
}

// New starts a hub.
func New(opts Options) *Hub {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	m := opts.Metrics
	if m == nil {
		m = NewMetrics()
	}
	h := &Hub{opts: opts, log: opts.Logger, m: m, groups: map[string]*group{}, perTen: map[string]int{},
		wake: make(chan struct{}, 1), work: make(chan *group), stop: make(chan struct{})}
	h.feed = newFeed(h)
	h.wg.Add(1 + opts.Workers)
	go h.schedule()
	for range opts.Workers {
		go h.worker()
	}
	return h
}

// Close drains the hub: no new subscriptions, refreshes in flight finish, listeners stop.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.mu.Unlock()
	close(h.stop)
	h.wg.Wait()
	h.feed.close()
}

// Subscribe registers q; push receives its first result at once and then a message each
// time the result changes (a live query) or rows come after the cursor (a stream). The
// returned Sub stops with Cancel.
func (h *Hub) Subscribe(ctx context.Context, q Query, push Push) (*Sub, error) {
	return h.subscribe(ctx, q, push, nil)
}

// Replace ends old and subscribes q in its place: the same operation compiled anew (the
// tenant's catalog changed). What old pushed carries over, so a live query whose result
// is unchanged sends nothing and a stream goes on after the last row it sent. ErrGone:
// old was cancelled first.
func (h *Hub) Replace(ctx context.Context, old *Sub, q Query, push Push) (*Sub, error) {
	h.mu.Lock()
	if old.gone {
		h.mu.Unlock()
		return nil, ErrGone
	}
	d := delivered{hash: old.hash, sent: old.sent, cursor: old.cursor}
	old.cancelLocked()
	h.mu.Unlock()
	return h.subscribe(ctx, q, push, &d)
}

func (h *Hub) subscribe(ctx context.Context, q Query, push Push, d *delivered) (*Sub, error) {
	s := &Sub{h: h, push: push, fresh: true, in: planner.Input{Variables: q.Variables}}
	var b planner.Batch
	if err := q.Plan.Bind(&s.in, &b); err != nil {
		return nil, err
	}
	var kb []byte
	kb = append(kb, q.Key...)
	kb = append(kb, 0)
	if q.Session == nil {
		kb = append(kb, "admin"...)
	} else {
		kb = append(kb, q.Session.Role...)
		kb = append(kb, 0)
		kb = append(kb, q.Session.Claims...)
	}
	for _, st := range b.Statements {
		kb = append(kb, 0)
		kb = append(kb, st.SQL...)
		a := make([][]byte, len(st.Args))
		for i, v := range st.Args {
			if v != nil {
				a[i] = append([]byte{}, v...)
			}
		}
		s.args = append(s.args, a)
	}
	if d != nil {
		s.hash, s.sent = d.hash, d.sent
		if st := q.Plan.Stream; st != nil && d.cursor != nil {
			s.cursor = d.cursor
			s.advance(st, d.cursor)
		}
	}
	key := string(kb)

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if q.Max > 0 && h.perTen[q.Tenant] >= q.Max {
		h.mu.Unlock()
		return nil, ErrTooMany
	}
	g := h.groups[key]
	h.mu.Unlock()
	if g == nil {
		// Built outside the lock: watching the tables may install triggers.
		ng := &group{key: key, tenant: q.Tenant, plan: q.Plan, pool: q.Pool, interval: q.Interval, poll: q.Poll}
		if q.Session != nil {
			sess := *q.Session
			ng.sess = &sess
		}
		for _, st := range b.Statements {
			m, ok := statement.Multiplex(st.SQL, len(st.Args), st.Result)
			if !ok || len(st.Args) == 0 {
				m = ""
			}
			ng.msql = append(ng.msql, m)
		}
		ng.fdb, ng.rels, ng.polled = h.feed.watch(ctx, q.DirectURL, q.Managed, q.Plan.Reads)
		g = ng
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if q.Max > 0 && h.perTen[q.Tenant] >= q.Max {
		return nil, ErrTooMany
	}
	// Another subscriber may have registered the group meanwhile, or emptied and
	// dropped the one found above.
	if cur := h.groups[key]; cur != nil {
		g = cur
	} else {
		h.groups[key] = g
		h.feed.index(g, true)
		h.m.groups.Inc()
	}
	s.g = g
	g.subs = append(g.subs, s)
	h.perTen[q.Tenant]++
	h.m.active.Inc()
	h.signal()
	return s, nil
}

// Cancel ends the subscription; no push follows once it returns, except one already
// under way.
func (s *Sub) Cancel() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.cancelLocked()
}

func (s *Sub) cancelLocked() {
	h := s.h
	if s.gone {
		return
	}
	s.gone = true
	g := s.g
	for i, o := range g.subs {
		if o == s {
			g.subs = append(g.subs[:i], g.subs[i+1:]...)
			break
		}
	}
	h.perTen[g.tenant]--
	if h.perTen[g.tenant] <= 0 {
		delete(h.perTen, g.tenant)
	}
	h.m.active.Dec()
	if len(g.subs) == 0 && h.groups[g.key] == g {
		delete(h.groups, g.key)
		h.feed.index(g, false)
		h.m.groups.Dec()
	}
}

// signal wakes the scheduler. Call with h.mu held or not.
func (h *Hub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// changed marks the groups reading rel dirty (a trigger reported a change).
func (h *Hub) changed(groups []*group) {
	now := time.Now()
	h.mu.Lock()
	for _, g := range groups {
		if !g.dirty {
			g.dirty, g.dirtySince = true, now
		}
	}
	h.mu.Unlock()
	h.signal()
}

// schedule hands due groups to the workers.
func (h *Hub) schedule() {
	defer h.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var due []*group
		next := now.Add(time.Hour)
		h.mu.Lock()
		for _, g := range h.groups {
			if g.running || len(g.subs) == 0 {
				continue
			}
			at, ok := g.dueAt()
			if !ok {
				continue
			}
			if !at.After(now) {
				g.running = true
				due = append(due, g)
			} else if at.Before(next) {
				next = at
			}
		}
		h.mu.Unlock()
		for _, g := range due {
			select {
			case h.work <- g:
			case <-h.stop:
				return
			}
		}
		timer.Reset(time.Until(next))
		select {
		case <-h.stop:
			return
		case <-h.wake:
		case <-timer.C:
		}
	}
}

// polledNow: no feed reports g's changes at the moment (a table without a trigger, or
// the database's listener is reconnecting).
func (g *group) polledNow() bool {
	return g.polled || g.fdb == nil || !g.fdb.up.Load()
}

// catchUpPoll bounds the poll interval of a group whose database feed is down or behind
// (the subscriptions' poll is for tables no feed covers, a second by default): its
// subscribers were promised changes within about one.
const catchUpPoll = 500 * time.Millisecond

// pollEvery is how often g runs while polledNow: its poll interval where no feed covers
// it; while its feed is down, catchUpPoll (no less than its interval), never less often
// than its poll interval.
func (g *group) pollEvery() time.Duration {
	if g.polled || g.fdb == nil {
		return g.poll
	}
	return min(g.poll, max(catchUpPoll, g.interval))
}

// dueAt is when g should run next; false: nothing to do until something changes.
func (g *group) dueAt() (time.Time, bool) {
	var at time.Time
	ok := false
	fresh := false
	for _, s := range g.subs {
		if s.fresh {
			fresh = true
			break
		}
	}
	switch {
	case fresh:
		at, ok = time.Time{}, true
	case g.dirty:
		at, ok = g.lastRun.Add(g.interval), true
	case g.polledNow():
		at, ok = g.lastRun.Add(g.pollEvery()), true
	}
	if ok && at.Before(g.backoff) {
		at = g.backoff
	}
	return at, ok
}

func (h *Hub) worker() {
	defer h.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case g := <-h.work:
			h.refresh(g)
			h.mu.Lock()
			g.running = false
			h.mu.Unlock()
			h.signal()
		}
	}
}

// refresh runs g once: every subscriber when a table changed (or its poll is due), else
// only those waiting for their first result.
func (h *Hub) refresh(g *group) {
	now := time.Now()
	h.mu.Lock()
	full := g.dirty || (g.polledNow() && !now.Before(g.lastRun.Add(g.pollEvery())))
	since := g.dirtySince
	var subs []*Sub
	for _, s := range g.subs {
		if full || s.fresh {
			subs = append(subs, s)
		}
	}
	if full {
		g.dirty = false
		g.lastRun = now
	}
	h.mu.Unlock()
	if !full {
		since = time.Time{}
	}
	more := false
	for start := 0; start < len(subs); start += h.opts.MaxBatch {
		part := subs[start:min(start+h.opts.MaxBatch, len(subs))]
		m, err := h.run(g, part, since)
		if err != nil {
			h.log.Debug("subscription refresh failed; retrying", "tenant", g.tenant, "err", err)
			h.mu.Lock()
			g.backoff = time.Now().Add(time.Second)
			if full {
				g.dirty, g.dirtySince = true, since
			}
			h.mu.Unlock()
			return
		}
		more = more || m
	}
	h.mu.Lock()
	for _, s := range subs {
		s.fresh = false
	}
	if more && !g.dirty { // a stream got rows: there may be more after them
		g.dirty, g.dirtySince = true, time.Now()
	}
	h.mu.Unlock()
}

// run answers subs with one statement per plan statement, or, when that statement fails,
// each subscriber alone, so that one subscriber's error reaches only that subscriber. An
// error is the database's or the pool's: the group retries later. more: a stream
// delivered rows.
func (h *Hub) run(g *group, subs []*Sub, since time.Time) (more bool, err error) {
	stmts := make([]statement.Statement, len(g.msql))
	multi := len(subs) > 1
	for i := range g.msql {
		if g.msql[i] == "" {
			multi = false
		}
	}
	if multi {
		for i, m := range g.msql {
			n := len(subs[0].args[i])
			args := make([][]byte, n)
			col := make([][]byte, len(subs))
			for j := range n {
				for k, s := range subs {
					col[k] = s.args[i][j]
				}
				args[j] = statement.AppendTextArray(nil, col)
			}
			stmts[i] = statement.Statement{SQL: m, Args: args, Result: statement.Array}
		}
		out, ends, err := g.pool.Run(context.Background(), &poolmgr.Request{Session: g.sess, Statements: stmts}, nil)
		h.m.statements.Add(float64(len(stmts)))
		if err == nil {
			values := make([][][]byte, len(stmts))
			prev := 0
			for i, end := range ends {
				if values[i], err = splitArray(out[prev:end], len(subs)); err != nil {
					return false, err
				}
				prev = end
			}
			for k, s := range subs {
				vals := make([][]byte, len(stmts))
				for i := range stmts {
					vals[i] = values[i][k]
				}
				more = h.deliver(s, vals, nil, since) || more
			}
			return more, nil
		}
		if !isStatementError(err) {
			return false, err
		}
	}
	for _, s := range subs {
		for i, st := range g.plan.Statements {
			stmts[i] = statement.Statement{SQL: st.SQL, Args: s.args[i], Result: st.Result}
		}
		out, ends, err := g.pool.Run(context.Background(), &poolmgr.Request{Session: g.sess, Statements: stmts}, nil)
		h.m.statements.Add(float64(len(stmts)))
		if err != nil {
			if !isStatementError(err) {
				return more, err
			}
			more = h.deliver(s, nil, err, since) || more
			continue
		}
		vals := make([][]byte, len(stmts))
		prev := 0
		for i, end := range ends {
			vals[i], prev = out[prev:end], end
		}
		more = h.deliver(s, vals, nil, since) || more
	}
	return more, nil
}

func isStatementError(err error) bool {
	var se planner.StatementError
	return errors.As(err, &se)
}

// deliver builds s's response from its statements' values (or the error of its own
// statement) and pushes it when it differs from the last one (a live query), or when it
// holds rows (a stream, whose cursor then moves past them). It reports whether a stream
// got rows.
func (h *Hub) deliver(s *Sub, vals [][]byte, runErr error, since time.Time) bool {
	g := s.g
	var w planner.Response
	stream := g.plan.Stream
	got := false
	var cursor []byte
	if runErr != nil {
		if !g.plan.Fail(&s.in, runErr, &w) {
			return false
		}
	} else {
		if stream != nil && len(vals) == 1 {
			rows, last, n, err := takeCursor(vals[0], planner.CursorKey)
			if err != nil {
				h.log.Error("subscription stream rows", "tenant", g.tenant, "err", err)
				return false
			}
			if n == 0 {
				return false // no empty batches
			}
			if n > 0 {
				got = true
				s.advance(stream, last)
				cursor = append([]byte(nil), last...)
			}
			vals = [][]byte{rows}
		}
		buf := g.plan.Begin(&s.in, nil)
		ends := make([]int, len(vals))
		for i, v := range vals {
			buf = append(buf, v...)
			ends[i] = len(buf)
		}
		if err := g.plan.Respond(&s.in, buf, ends, &w); err != nil && !g.plan.Fail(&s.in, err, &w) {
			h.log.Error("subscription respond", "tenant", g.tenant, "err", err)
			return false
		}
	}
	sum := xxhash.Sum64(w.Body)
	if stream == nil && s.sent && sum == s.hash {
		return false
	}
	h.mu.Lock()
	gone := s.gone
	if !gone {
		s.hash, s.sent = sum, true
		if cursor != nil {
			s.cursor = cursor
		}
	}
	h.mu.Unlock()
	if gone {
		return false
	}
	s.push(w.Body)
	h.m.messages.Inc()
	if !since.IsZero() {
		h.m.push.Observe(time.Since(since).Seconds())
	}
	return got
}

// advance moves a stream's cursor to the last row delivered: cur is that row's
// planner.CursorKey object.
func (s *Sub) advance(st *planner.Stream, cur []byte) {
	vals := map[string][]byte{}
	_, _ = jsonx.EachMember(cur, jsonx.SkipSpace(cur, 0), func(k, v []byte) error {
		name, err := jsonx.Unquote(nil, k[1:len(k)-1])
		if err != nil {
			return err
		}
		vals[string(name)] = v
		return nil
	})
	for i, col := range st.Columns {
		v, ok := vals[col]
		if !ok || i >= len(st.Placeholders) {
			continue
		}
		var text []byte
		switch jsonx.KindOf(v) {
		case jsonx.String:
			text, _ = jsonx.Unquote([]byte{}, v[1:len(v)-1])
		case jsonx.Null:
			text = nil
		default:
			text = append([]byte{}, v...)
		}
		s.args[0][st.Placeholders[i]] = text
	}
}

// Stats is what the hub holds.
type Stats struct {
	Subscriptions, Groups int
}

// Stats counts subscriptions and groups.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := Stats{Groups: len(h.groups)}
	for _, n := range h.perTen {
		st.Subscriptions += n
	}
	return st
}

// TenantSubscriptions counts the tenant's live GraphQL subscriptions in this process.
func (h *Hub) TenantSubscriptions(tenant string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.perTen[tenant]
}
