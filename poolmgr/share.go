package poolmgr

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapok-dev/kapok/internal/statement"
)

// Shared reads. When a tenant's requests queue for its connections, reads of one
// statement and one session wait together: the first to wait (the leader) takes the next
// connection and runs them all as one multiplexed statement (statement.Multiplex), one
// argument set per distinct set of values; requests with the same values share one
// result (coalesced). A request joins only a batch whose statement has not been sent, so
// it never sees a snapshot older than its arrival: read-your-writes holds. With a free
// connection, nothing waits: a batch forms only while its leader waits for one.

// maxShare bounds the argument sets of one batch.
const maxShare = 256

// shared is one batch: the reads waiting for the leader's connection.
type shared struct {
	key  string
	st   *statement.Statement // the leader's
	sess *Session
	// sets are the distinct argument sets; each request reads vals[its set].
	sets     [][][]byte
	byArgs   map[string]int
	requests int
	sent     bool

	done chan struct{}
	vals [][]byte
	errs []error
	err  error // the batch's own (no connection, a broken one)
}

// shareMetrics count what sharing saves.
type shareMetrics struct {
	coalesced prometheus.Counter
	batched   prometheus.Counter
	size      prometheus.Histogram
}

func newShareMetrics() *shareMetrics {
	return &shareMetrics{
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{Name: "kapok_coalesced_requests_total",
			Help: "Reads answered with the result of an identical read that waited with them (same statement, values and session)."}),
		batched: prometheus.NewCounter(prometheus.CounterOpts{Name: "kapok_batched_requests_total",
			Help: "Reads answered by a multiplexed statement shared with other reads of the same shape and session."}),
		size: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kapok_batch_size",
			Help:    "Distinct argument sets per multiplexed statement.",
			Buckets: []float64{2, 4, 8, 16, 32, 64, 128, 256}}),
	}
}

// shareKey is what requests must have in common to share a statement: the session (role,
// claims and every setting of the prelude; the role and timeout alone of a RoleOnly one,
// whose statement cannot see the rest) and the statement's text.
func shareKey(dst []byte, s *Session, sql string, r statement.Result) []byte {
	if s != nil && s.RoleOnly {
		dst = append(dst, 2)
		dst = append(dst, s.Role...)
		dst = append(dst, 0)
		dst = strconv.AppendInt(dst, int64(s.StatementTimeout), 10)
	} else if s != nil {
		dst = append(dst, 3)
		dst = append(dst, s.Role...)
		dst = append(dst, 0)
		dst = append(dst, s.Claims...)
		dst = append(dst, 0)
		dst = append(dst, s.Method...)
		dst = append(dst, 0)
		dst = append(dst, s.Path...)
		dst = append(dst, 0)
		dst = append(dst, s.Headers...)
		dst = append(dst, 0)
		dst = strconv.AppendInt(dst, int64(s.StatementTimeout), 10)
	}
	// One SQL text may be read as different results (a GraphQL by-pk field and a REST
	// read of the same row): they must not share.
	dst = append(dst, 1, byte(r))
	return append(dst, sql...)
}

func argsKey(dst []byte, args [][]byte) []byte {
	for _, a := range args {
		if a == nil {
			dst = append(dst, 0xff)
			continue
		}
		dst = strconv.AppendInt(dst, int64(len(a)), 10)
		dst = append(dst, ':')
		dst = append(dst, a...)
	}
	return dst
}

// shareable reports whether req may wait with others: one statement the rewrite accepts,
// no statement timeout of its own, sharing enabled, and the pool's connections all taken.
func (p *Pool) shareable(req *Request) bool {
	return req.Shareable && p.cfg.ShareReads && len(req.Statements) == 1 && req.Statements[0].Result != statement.Count &&
		(req.Session == nil || req.Session.StatementTimeout == 0) && p.saturated()
}

// runShared runs req with the reads waiting with it, or as the leader of a new batch.
func (p *Pool) runShared(ctx context.Context, req *Request, dst []byte) ([]byte, []int, error) {
	st := &req.Statements[0]
	var kb [256]byte
	key := shareKey(kb[:0], req.Session, st.SQL, st.Result)
	heavy := p.m.heavy(key)
	var ab [128]byte
	akey := argsKey(ab[:0], st.Args)

	p.smu.Lock()
	if b := p.shares[string(key)]; b != nil && !b.sent && len(b.sets) < maxShare {
		i, dup := b.byArgs[string(akey)]
		if !dup && heavy {
			// Batching saves the per-statement overhead, which an expensive read does not
			// notice, while it makes every request of the batch wait for all of it: only
			// identical reads share an expensive statement.
			p.smu.Unlock()
			return p.run(ctx, req, dst, true)
		}
		if !dup {
			// A copy: a request that gives up returns, and its buffers go to another.
			args := make([][]byte, len(st.Args))
			for j, a := range st.Args {
				if a != nil {
					args[j] = append([]byte{}, a...)
				}
			}
			i = len(b.sets)
			b.sets = append(b.sets, args)
			b.byArgs[string(akey)] = i
		}
		b.requests++
		p.smu.Unlock()
		if dup {
			p.m.share.coalesced.Inc()
		}
		return p.await(ctx, b, i, dst)
	}
	b := &shared{key: string(key), st: st, sess: req.Session, sets: [][][]byte{st.Args},
		byArgs: map[string]int{string(akey): 0}, requests: 1, done: make(chan struct{})}
	if p.shares == nil {
		p.shares = map[string]*shared{}
	}
	p.shares[b.key] = b
	p.smu.Unlock()
	// The batch is everyone's: its wait and run are bounded by the pool, not by the
	// leader's own deadline.
	bctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	p.lead(bctx, b)
	cancel()
	return p.await(ctx, b, 0, dst)
}

// await waits for b and copies set i's value into dst. A request whose deadline passes
// first gives up; the batch runs for the others.
func (p *Pool) await(ctx context.Context, b *shared, i int, dst []byte) ([]byte, []int, error) {
	select {
	case <-b.done:
	case <-ctx.Done():
		return dst, nil, ErrRequestTimeout
	}
	if b.err != nil {
		return dst, nil, b.err
	}
	if b.errs[i] != nil {
		return dst, nil, b.errs[i]
	}
	dst = append(dst, b.vals[i]...)
	return dst, []int{len(dst)}, nil
}

// lead takes a connection for b, closes it to newcomers and runs it.
func (p *Pool) lead(ctx context.Context, b *shared) {
	defer close(b.done)
	c, err := p.acquire(ctx)
	p.smu.Lock()
	b.sent = true
	if p.shares[b.key] == b {
		delete(p.shares, b.key)
	}
	p.smu.Unlock()
	if err != nil {
		b.err = err
		return
	}
	defer p.release(c)
	start := time.Now()
	defer func() { p.m.noteCost(b.key, len(b.sets), time.Since(start)) }()
	b.vals = make([][]byte, len(b.sets))
	b.errs = make([]error, len(b.sets))
	timeout := p.timeoutFor(b.sess)
	if len(b.sets) > 1 {
		if b.requests > 1 {
			p.m.share.batched.Add(float64(b.requests))
		}
		p.m.share.size.Observe(float64(len(b.sets)))
		err := p.runMultiplexed(ctx, c, b, timeout)
		if err == nil {
			return
		}
		var pe *PgError
		if !errors.As(err, &pe) || c.Conn().PgConn().IsClosed() || pe.SQLState() == "57014" {
			b.err = p.batchFailure(ctx, c, err)
			return
		}
		// One set's values may be what failed (a cast): each set alone, so that only
		// its requests get the error.
	}
	for i, args := range b.sets {
		req := Request{Session: b.sess, Statements: []statement.Statement{{SQL: b.st.SQL, Args: args, Result: b.st.Result}}}
		out, _, err := p.exec(ctx, c, &req, nil)
		if err != nil {
			var pe *PgError
			if !errors.As(err, &pe) || c.Conn().PgConn().IsClosed() {
				b.err = p.batchFailure(ctx, c, err)
				return
			}
			b.errs[i] = err
			continue
		}
		b.vals[i] = out
	}
}

// batchFailure classifies the failure of a batch's run as a request's (Pool.failure), and
// drops the pool's idle connections when the network under it broke, as run does.
func (p *Pool) batchFailure(ctx context.Context, c *pgxpool.Conn, err error) error {
	err, broken := p.failure(ctx, c, err)
	if broken {
		p.pool.Reset()
	}
	return err
}

// runMultiplexed runs b's sets as one statement: one row per set, in order.
func (p *Pool) runMultiplexed(ctx context.Context, c *pgxpool.Conn, b *shared, timeout time.Duration) error {
	n := len(b.st.Args)
	sql, ok := p.m.multiplexed(b.st.SQL, n, b.st.Result)
	if !ok {
		return &PgError{Err: &pgconn.PgError{Code: "0A000", Message: "not multiplexable"}}
	}
	args := make([][]byte, n)
	col := make([][]byte, len(b.sets))
	for j := range n {
		for k, set := range b.sets {
			col[k] = set[j]
		}
		args[j] = statement.AppendTextArray(nil, col)
	}
	pg := c.Conn().PgConn()
	var batch pgconn.Batch
	withPrelude, err := p.queue(ctx, pg, &batch, b.sess, timeout, []statement.Statement{{SQL: sql, Args: args}})
	if err != nil {
		return err
	}
	mrr := pg.ExecBatch(ctx, &batch)
	var firstErr error
	idx := 0
	if !withPrelude {
		idx = 1
	}
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		if idx == 0 {
			if _, err := rr.Close(); err != nil && firstErr == nil {
				firstErr = wrapPg(err, -1)
			}
			idx++
			continue
		}
		k := 0
		for rr.NextRow() {
			if k < len(b.vals) {
				v := rr.Values()[0]
				if v == nil {
					b.vals[k] = []byte("null")
				} else {
					b.vals[k] = append([]byte(nil), v...)
				}
			}
			k++
		}
		if _, err := rr.Close(); err != nil && firstErr == nil {
			firstErr = wrapPg(err, 0)
		}
		if firstErr == nil && k != len(b.vals) {
			firstErr = &PgError{Err: &pgconn.PgError{Code: "XX000", Message: "multiplexed statement returned " + strconv.Itoa(k) + " rows for " + strconv.Itoa(len(b.vals)) + " sets"}}
		}
		idx++
	}
	if err := mrr.Close(); err != nil && firstErr == nil {
		firstErr = wrapPg(err, 0)
	}
	return firstErr
}

// multiplexed caches Multiplex's rewrite of each statement, up to maxMultiplexed of them.
func (m *Manager) multiplexed(sql string, n int, r statement.Result) (string, bool) {
	key := string(rune('0'+r)) + sql
	if v, ok := m.mplex.Load(key); ok {
		s := v.(string)
		return s, s != ""
	}
	s, ok := statement.Multiplex(sql, n, r)
	if !ok {
		s = ""
	}
	if m.mplexN.Add(1) > maxMultiplexed {
		m.mplex.Clear()
		m.mplexN.Store(1)
	}
	m.mplex.Store(key, s)
	return s, ok
}

// heavyPerSet is the run time per argument set above which a statement is batched no
// more (only coalesced): its own work dwarfs what one statement per request costs.
// Only runs of at least minCostSets sets are measured: a lone run's time is mostly the
// round trip and the queue, which load inflates for cheap and expensive reads alike.
const (
	heavyPerSet = 3 * time.Millisecond
	minCostSets = 2
	// A heavy statement is batched again once per probeEvery, so that a verdict taken
	// under a burst of load does not stick.
	probeEvery = 2 * time.Second
)

type cost struct {
	perSet atomic.Int64 // moving average, ns
	probe  atomic.Int64 // unix ns of the last batch let through while heavy
}

// heavy reports whether the statement of share key k is expensive, by what its shared
// runs took per argument set.
func (m *Manager) heavy(k []byte) bool {
	v, ok := m.costs.Load(string(k))
	if !ok {
		return false
	}
	c := v.(*cost)
	if time.Duration(c.perSet.Load()) <= heavyPerSet {
		return false
	}
	now := time.Now().UnixNano()
	if last := c.probe.Load(); now-last > int64(probeEvery) && c.probe.CompareAndSwap(last, now) {
		return false
	}
	return true
}

// noteCost folds one shared run of sets argument sets, which took d, into key's average.
func (m *Manager) noteCost(key string, sets int, d time.Duration) {
	if sets < minCostSets {
		return
	}
	v, ok := m.costs.Load(key)
	if !ok {
		if m.costN.Add(1) > maxMultiplexed {
			m.costs.Clear()
			m.costN.Store(1)
		}
		v, _ = m.costs.LoadOrStore(key, new(cost))
	}
	a := &v.(*cost).perSet
	per := int64(d) / int64(sets)
	old := a.Load()
	if old == 0 {
		a.Store(per)
		return
	}
	a.Store(old + (per-old)/4)
}

// maxMultiplexed bounds the statements whose rewrite and cost are remembered.
const maxMultiplexed = 10000
