package poolmgr

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// fairGate hands out the connections of one shared pool to the tenants that use it. While
// a connection is free and the tenant is under its own cap, a request takes one at once;
// otherwise it waits in its tenant's queue, and each connection given back goes to the
// next tenant in turn that has a request waiting and room under its cap (round robin, each
// tenant served weight requests per turn), never to the longest queue. A tenant that
// sends ten times the others' requests therefore waits behind its own requests, not the
// others behind it.
type fairGate struct {
	size int

	mu   sync.Mutex
	busy int
	ring []*tenantGate // tenants with a request waiting, in serving order
	turn int           // ring index of the tenant served next
	// full is busy >= size, readable without mu (shared reads ask it on every request).
	full atomic.Bool
}

// tenantGate is one tenant's side of a fairGate: its waiting requests and the connections
// it holds. Fields other than inRing's readers are guarded by the gate's mu.
type tenantGate struct {
	g      *fairGate
	limit  int // the tenant's own cap on connections held at once (0: the gate's size)
	weight int // requests served per turn (>= 1)

	active  int
	waiting []*gateWaiter
	inRing  bool
	credit  int // requests still to serve in the current turn
	waiters atomic.Int64

	// What the tenant's requests met, for its metrics: connections taken, how many of
	// them after waiting their turn and for how long, and waits given up.
	acquires, waited, canceled uint64
	waitedFor                  time.Duration
}

type gateWaiter struct {
	ready   chan struct{}
	granted bool
	since   time.Time
}

func newFairGate(size int) *fairGate { return &fairGate{size: size} }

func (g *fairGate) tenant(limit, weight int) *tenantGate {
	if weight < 1 {
		weight = 1
	}
	return &tenantGate{g: g, limit: limit, weight: weight}
}

// room reports whether t may hold one more connection. g.mu is held.
func (t *tenantGate) room() bool { return t.limit <= 0 || t.active < t.limit }

// acquire takes one of the gate's connections for t, waiting its turn while none is free;
// false when ctx ends first.
func (t *tenantGate) acquire(ctx context.Context) bool {
	g := t.g
	g.mu.Lock()
	if t.free() {
		t.take()
		g.mu.Unlock()
		return true
	}
	w := &gateWaiter{ready: make(chan struct{}), since: time.Now()}
	t.waiting = append(t.waiting, w)
	t.waiters.Add(1)
	if !t.inRing {
		t.inRing = true
		g.ring = append(g.ring, t)
	}
	// A connection may be free while t is at its own cap: nothing to hand out then.
	g.dispatch()
	g.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.granted {
		// Granted as the context ended: give it to the next in turn.
		t.canceled++
		t.active--
		g.busy--
		g.full.Store(g.busy >= g.size)
		g.dispatch()
		return false
	}
	for i, x := range t.waiting {
		if x == w {
			t.waiting = append(t.waiting[:i], t.waiting[i+1:]...)
			t.waiters.Add(-1)
			break
		}
	}
	t.canceled++
	if len(t.waiting) == 0 {
		g.leaveRing(t)
	}
	return false
}

// free reports whether a request of t takes a connection at once. g.mu is held.
func (t *tenantGate) free() bool {
	return t.g.busy < t.g.size && t.room() && len(t.waiting) == 0
}

// tryAcquire takes a connection for t if one is free now, without waiting.
func (t *tenantGate) tryAcquire() bool {
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !t.free() {
		return false
	}
	t.take()
	return true
}

// take counts one connection more for t. g.mu is held.
func (t *tenantGate) take() {
	t.acquires++
	t.active++
	t.g.busy++
	t.g.full.Store(t.g.busy >= t.g.size)
}

// release gives back a connection t took, to the next tenant in turn.
func (t *tenantGate) release() {
	g := t.g
	g.mu.Lock()
	t.active--
	g.busy--
	g.full.Store(g.busy >= g.size)
	if len(g.ring) > 0 {
		g.dispatch()
	}
	g.mu.Unlock()
}

// saturated reports whether a request of t would wait for a connection now.
func (t *tenantGate) saturated() bool {
	return t.g.full.Load() || t.waiters.Load() > 0
}

// dispatch hands free connections to waiting requests, tenant by tenant in turn. g.mu is
// held.
func (g *fairGate) dispatch() {
	for g.busy < g.size && len(g.ring) > 0 {
		served := false
		for range g.ring {
			if g.turn >= len(g.ring) {
				g.turn = 0
			}
			t := g.ring[g.turn]
			if !t.room() {
				g.turn++
				continue
			}
			if t.credit <= 0 {
				t.credit = t.weight
			}
			w := t.waiting[0]
			t.waiting[0] = nil
			t.waiting = t.waiting[1:]
			t.waiters.Add(-1)
			w.granted = true
			t.waited++
			t.waitedFor += time.Since(w.since)
			t.take()
			close(w.ready)
			t.credit--
			if len(t.waiting) == 0 {
				t.credit = 0
				g.leaveRing(t) // the next tenant slides into index turn
			} else if t.credit == 0 {
				g.turn++
			}
			served = true
			break
		}
		if !served {
			return // every waiting tenant is at its own cap
		}
	}
}

// leaveRing takes t, whose queue is empty, out of the serving order. g.mu is held.
func (g *fairGate) leaveRing(t *tenantGate) {
	for i, x := range g.ring {
		if x == t {
			g.ring = append(g.ring[:i], g.ring[i+1:]...)
			if i < g.turn {
				g.turn--
			}
			break
		}
	}
	t.inRing = false
	if len(g.ring) == 0 {
		g.turn = 0
	}
}

// gateStats are a tenant's figures at a shared pool, as its metrics report them.
type gateStats struct {
	held, waiting              int
	acquires, waited, canceled uint64
	waitedFor                  time.Duration
}

func (t *tenantGate) stats() gateStats {
	t.g.mu.Lock()
	defer t.g.mu.Unlock()
	return gateStats{held: t.active, waiting: len(t.waiting), acquires: t.acquires, waited: t.waited,
		canceled: t.canceled, waitedFor: t.waitedFor}
}

// cap is the most connections t may hold at once.
func (t *tenantGate) cap() int {
	if t.limit > 0 && t.limit < t.g.size {
		return t.limit
	}
	return t.g.size
}

// waitingTenants counts the tenants with a request waiting.
func (g *fairGate) waitingTenants() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.ring)
}
