package poolmgr

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"
)

// Manager owns every tenant's pool. It is safe for concurrent use.
type Manager struct {
	cfg    Config
	global chan struct{} // nil = no global cap

	// live answers lookups without a lock; mu serialises every change to live and pools so
	// the two always hold the same set.
	live  sync.Map // tenant → *Pool
	mu    sync.Mutex
	pools *lru.Cache[string, *Pool]
	// evictReason is read by the eviction callback, which lru calls synchronously inside
	// Add/Remove while mu is held.
	evictReason evictReason
	sf          singleflight.Group

	// physicals are the shared physical pools, by URL and exec mode.
	physMu    sync.Mutex
	physicals map[physicalKey]*physical

	closing   sync.WaitGroup // pools being closed in the background
	closed    atomic.Bool
	stop      chan struct{}
	sweepDone chan struct{}

	evictions [numEvictReasons]atomic.Uint64
	rejected  [len(reasons)]atomic.Uint64 // by reason, over all tenants, including closed pools
	inFlight  atomic.Int64

	share  *shareMetrics
	mplex  sync.Map // statement SQL → its multiplexed SQL ("" when it has none)
	mplexN atomic.Int64
	costs  sync.Map // share key → *cost: run time per argument set
	costN  atomic.Int64

	// wrapConn, when set (tests), wraps every new network connection.
	wrapConn func(net.Conn) net.Conn
}

type evictReason int

const (
	evictLRU evictReason = iota
	evictIdle
	evictReplaced
	evictRemoved
	evictClosed
	numEvictReasons
)

var evictReasonNames = [numEvictReasons]string{"lru", "idle", "replaced", "removed", "shutdown"}

// New starts a manager and its idle sweeper. Close stops both.
func New(cfg Config) *Manager {
	cfg = cfg.withDefaults()
	m := &Manager{cfg: cfg, stop: make(chan struct{}), sweepDone: make(chan struct{}), share: newShareMetrics()}
	if cfg.GlobalMaxClients > 0 {
		m.global = make(chan struct{}, cfg.GlobalMaxClients)
	}
	// The callback runs after lru releases its own lock but still inside our mu.
	m.pools, _ = lru.NewWithEvict(cfg.MaxPools, func(tenant string, p *Pool) {
		reason := m.evictReason
		m.evictReason = evictLRU
		m.evictions[reason].Add(1)
		m.cfg.Logger.Info("poolmgr: closing tenant pool", "tenant", tenant, "reason", evictReasonNames[reason])
		// Closed and counted before it leaves the live map: whoever sees it gone sees it
		// closed too, and a Get that still finds it open a new one (CompareAndDelete
		// leaves that one in place).
		p.closeAsync()
		m.live.CompareAndDelete(tenant, p)
	})
	if cfg.IdleTimeout > 0 {
		go m.sweep()
	} else {
		close(m.sweepDone)
	}
	return m
}

// Get returns the tenant's pool, creating it on first use (one creation per tenant under
// concurrency). A cfg different from the open pool's replaces it: the old pool closes in the
// background once its borrowed connections come back. Creating a pool does not connect.
func (m *Manager) Get(ctx context.Context, tenant string, cfg PoolConfig) (*Pool, error) {
	for attempt := 0; ; attempt++ {
		if m.closed.Load() {
			return nil, ErrClosed
		}
		if v, ok := m.live.Load(tenant); ok {
			p := v.(*Pool)
			if p.cfg == cfg && !p.closed.Load() {
				m.touch(p)
				return p, nil
			}
		}
		v, err, _ := m.sf.Do(tenant, func() (any, error) { return m.open(tenant, cfg) })
		if err != nil {
			return nil, err
		}
		p := v.(*Pool)
		// A concurrent Get with another config may have shared our flight; go round once more.
		if p.cfg == cfg || attempt > 0 {
			m.touch(p)
			return p, nil
		}
	}
}

// successor is the open pool that serves closed's tenant now: the replacement when its
// config changed (never reverting it to closed's config), else a reopened one.
func (m *Manager) successor(ctx context.Context, closed *Pool) (*Pool, error) {
	if v, ok := m.live.Load(closed.tenant); ok {
		if p := v.(*Pool); !p.closed.Load() {
			return p, nil
		}
	}
	return m.Get(ctx, closed.tenant, closed.cfg)
}

// touch records use for the sweeper, and refreshes the LRU order at most once a second per
// pool so the hot path does not take the LRU's lock.
func (m *Manager) touch(p *Pool) {
	now := time.Now().UnixNano()
	p.lastUsed.Store(now)
	if now-p.lruTouched.Load() > int64(time.Second) {
		p.lruTouched.Store(now)
		m.pools.Get(p.tenant)
	}
}

func (m *Manager) open(tenant string, cfg PoolConfig) (*Pool, error) {
	if v, ok := m.live.Load(tenant); ok {
		if p := v.(*Pool); p.cfg == cfg && !p.closed.Load() {
			return p, nil
		}
	}
	p, err := m.newPool(tenant, cfg)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		p.closeAsync()
		return nil, ErrClosed
	}
	if _, ok := m.pools.Peek(tenant); ok {
		m.evictReason = evictReplaced
		m.pools.Remove(tenant)
	}
	m.live.Store(tenant, p)
	m.pools.Add(tenant, p) // may evict the least recently used tenant (reason lru)
	m.cfg.Logger.Debug("poolmgr: opened tenant pool", "tenant", tenant, "max_conns", p.maxConns, "shared", p.gate != nil)
	return p, nil
}

// Remove closes the tenant's pool, if open. In-flight requests finish first; the next Get
// opens a new one.
func (m *Manager) Remove(tenant string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.pools.Peek(tenant); ok {
		m.evictReason = evictRemoved
		m.pools.Remove(tenant)
	}
}

// Close stops the sweeper, closes every pool and waits until their borrowed connections are
// back and closed. Get returns ErrClosed afterwards.
func (m *Manager) Close() {
	if m.closed.Swap(true) {
		m.closing.Wait()
		return
	}
	close(m.stop)
	<-m.sweepDone
	m.mu.Lock()
	for _, tenant := range m.pools.Keys() {
		m.evictReason = evictClosed
		m.pools.Remove(tenant)
	}
	m.mu.Unlock()
	m.closing.Wait()
}

func (m *Manager) sweep() {
	defer close(m.sweepDone)
	t := time.NewTicker(m.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.closeIdle(time.Now())
		}
	}
}

// closeIdle closes pools unused for IdleTimeout with nothing in flight. A request that got
// such a pool just before it closed retries once on a new one (see Pool.Run).
func (m *Manager) closeIdle(now time.Time) {
	cutoff := now.Add(-m.cfg.IdleTimeout).UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pools.Values() {
		if p.lastUsed.Load() < cutoff && p.inFlight.Load() == 0 {
			m.evictReason = evictIdle
			m.pools.Remove(p.tenant)
		}
	}
}

// Stats returns a snapshot of the tenant's pool for the admin API; false when it is not open.
func (m *Manager) Stats(tenant string) (PoolStats, bool) {
	v, ok := m.live.Load(tenant)
	if !ok {
		return PoolStats{}, false
	}
	return v.(*Pool).Stats(), true
}

// Tenants lists the tenants with an open pool, most recently used first.
func (m *Manager) Tenants() []string {
	keys := m.pools.Keys() // oldest first
	for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
		keys[i], keys[j] = keys[j], keys[i]
	}
	return keys
}

// newPool builds the tenant's logical pool: its admission and its way to connections, a
// shared physical pool (SharedLogin) or one of its own.
func (m *Manager) newPool(tenant string, cfg PoolConfig) (*Pool, error) {
	mode, err := cfg.ExecMode.pgx()
	if err != nil {
		return nil, err
	}
	var ph *physical
	if cfg.SharedLogin {
		ph, err = m.sharedPhysical(cfg)
	} else {
		var pool *pgxpool.Pool
		var size int32
		if pool, size, err = m.newPgxPool(tenant, cfg, cfg.MaxConns, cfg.MinIdleConns); err == nil {
			ph = &physical{pool: pool, size: int64(size), name: tenant}
		}
	}
	if err != nil {
		return nil, err
	}
	p := &Pool{m: m, tenant: tenant, cfg: cfg, ph: ph, pool: ph.pool, stmtCache: mode == pgx.QueryExecModeCacheStatement, maxConns: ph.size}
	if ph.gate != nil {
		p.gate = ph.gate.tenant(int(cfg.MaxConns), cfg.Weight)
	}
	if cfg.MaxInFlight > 0 {
		p.sem = make(chan struct{}, cfg.MaxInFlight)
	}
	p.timeout = m.cfg.RequestTimeout
	if cfg.StatementTimeout > 0 {
		p.timeout = cfg.StatementTimeout + cfg.AcquireTimeout + cfg.QueueWait + time.Second
		p.timeoutArg = strconv.AppendInt(nil, cfg.StatementTimeout.Milliseconds(), 10)
	}
	now := time.Now().UnixNano()
	p.lastUsed.Store(now)
	p.lruTouched.Store(now)
	return p, nil
}

// newPgxPool opens a pgxpool for cfg's URL (it does not connect): maxConns and minIdle
// override the URL's pool_max_conns and pool_min_idle_conns when positive; tenant names
// the pool's application_name ("" for a shared pool). It returns the pool's size.
func (m *Manager) newPgxPool(tenant string, cfg PoolConfig, maxConns, minIdle int32) (*pgxpool.Pool, int32, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, 0, err
	}
	mode, err := cfg.ExecMode.pgx()
	if err != nil {
		return nil, 0, err
	}
	pc.ConnConfig.DefaultQueryExecMode = mode
	switch {
	case maxConns > 0:
		pc.MaxConns = maxConns
	case tenant == "" && !strings.Contains(cfg.URL, "pool_max_conns"):
		pc.MaxConns = defaultSharedSize()
	}
	if minIdle > 0 {
		pc.MinIdleConns = minIdle
	}
	// JSON built by Postgres prints timestamptz in the session time zone; answers must not
	// depend on the server's default. PgBouncer tracks TimeZone per client, so this holds
	// in transaction pooling too.
	if _, ok := pc.ConnConfig.RuntimeParams["timezone"]; !ok {
		pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	}
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		// Shared logins carry the prefix alone: PgBouncer hands one server connection to
		// clients of every such tenant, and would otherwise send a SET application_name
		// before most of their transactions.
		pc.ConnConfig.RuntimeParams["application_name"] = m.cfg.ApplicationName
		if tenant != "" && !cfg.SharedLogin {
			pc.ConnConfig.RuntimeParams["application_name"] = m.cfg.ApplicationName + "/" + tenant
		}
	}
	pc.ShouldPing = shouldPing
	// A connection released inside a transaction (failed or aborted batch, cancelled read)
	// is destroyed by pgxpool itself before AfterRelease would run: Conn.Release checks
	// IsClosed, IsBusy and TxStatus != 'I'. Setting AfterRelease would only add a goroutine
	// per release, so it stays unset; TestDirtyConnectionIsDestroyed pins the behaviour.
	if m.wrapConn != nil {
		wrap := m.wrapConn
		dial := pc.ConnConfig.DialFunc
		pc.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return wrap(c), nil
		}
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, 0, err
	}
	return pool, pc.MaxConns, nil
}
