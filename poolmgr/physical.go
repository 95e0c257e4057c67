package poolmgr

import (
	"context"
	"net"
	"runtime"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// physical is one pgxpool and the connections it holds to one upstream as one login,
// with the fair gate in front of it. Tenants whose pools have SharedLogin and the same URL
// and exec mode share one: they switch role per request anyway, so a thousand such tenants
// hold one pool's connections, not a thousand pools'. A tenant with its own login
// (isolation: login) has a physical of its own, without a gate.
type physical struct {
	key  physicalKey
	name string // the login and address, for metrics and logs; no password
	pool *pgxpool.Pool
	gate *fairGate // nil: not shared
	size int64
	refs int // logical pools using it; guarded by Manager.physMu
}

type physicalKey struct {
	url  string
	mode ExecMode
}

// defaultSharedSize is a shared pool's size when neither the config nor the URL sets one:
// enough to keep the database's cores busy with the round trips in flight, and no more,
// since a larger pool only moves the queue from Kapok, where it is fair, to the database.
func defaultSharedSize() int32 {
	return int32(max(16, 8*runtime.GOMAXPROCS(0)))
}

// sharedPhysical returns the shared physical pool for cfg, opening it on first use, and
// counts one more user of it. Release it with dropPhysical.
func (m *Manager) sharedPhysical(cfg PoolConfig) (*physical, error) {
	key := physicalKey{url: cfg.URL, mode: cfg.ExecMode}
	m.physMu.Lock()
	defer m.physMu.Unlock()
	if ph := m.physicals[key]; ph != nil {
		ph.refs++
		return ph, nil
	}
	pool, size, err := m.newPgxPool("", cfg, m.cfg.SharedMaxConns, 0)
	if err != nil {
		return nil, err
	}
	cc := pool.Config().ConnConfig
	ph := &physical{key: key, name: cc.User + "@" + net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))) + "/" + cc.Database,
		pool: pool, gate: newFairGate(int(size)), size: int64(size), refs: 1}
	if m.physicals == nil {
		m.physicals = map[physicalKey]*physical{}
	}
	m.physicals[key] = ph
	m.cfg.Logger.Debug("poolmgr: opened shared pool", "pool", ph.name, "max_conns", size)
	return ph, nil
}

// dropPhysical counts one user of ph less, closing it in the background after the last.
func (m *Manager) dropPhysical(ph *physical) {
	if ph.gate == nil {
		m.closePgx(ph.pool)
		return
	}
	m.physMu.Lock()
	ph.refs--
	last := ph.refs == 0
	if last && m.physicals[ph.key] == ph {
		delete(m.physicals, ph.key)
	}
	m.physMu.Unlock()
	if last {
		m.cfg.Logger.Debug("poolmgr: closing shared pool", "pool", ph.name)
		m.closePgx(ph.pool)
	}
}

func (m *Manager) closePgx(pool *pgxpool.Pool) {
	m.closing.Add(1)
	go func() {
		defer m.closing.Done()
		pool.Close() // blocks until borrowed connections come back
	}()
}

// sharedPools lists the open shared physical pools.
func (m *Manager) sharedPools() []*physical {
	m.physMu.Lock()
	defer m.physMu.Unlock()
	out := make([]*physical, 0, len(m.physicals))
	for _, ph := range m.physicals {
		out = append(out, ph)
	}
	return out
}

// pingAfter is how long a connection may sit idle before pgxpool pings it on acquire.
const pingAfter = 30 * time.Second

// shouldPing skips pgxpool's ping of every connection idle over 1 s, one more round trip
// on most requests of a quiet tenant; only a real pause earns one.
func shouldPing(_ context.Context, p pgxpool.ShouldPingParams) bool {
	return p.IdleDuration > pingAfter
}
