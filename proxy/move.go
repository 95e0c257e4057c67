package proxy

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/auth"
	"github.com/kapok-dev/kapok/control"
)

// moveDrainLimit bounds the wait for a tenant's requests in flight when a move pauses it:
// past it the move gives up and the tenant goes on as it was.
const moveDrainLimit = 5 * time.Second

// tenantGates holds a tenant's requests while a move switches its database. Every request
// of a tenant passes its gate once resolved (dispatch) and leaves it when answered, so the
// gate knows how many are in flight; a paused gate makes new ones wait, then resolve the
// tenant again, which finds it where it is after the move.
type tenantGates struct {
	m sync.Map // tenant name → *tenantGate
	// drain bounds a pause's wait for the requests in flight (0: moveDrainLimit).
	drain time.Duration
}

type tenantGate struct {
	inflight atomic.Int64
	// held is non-nil while the tenant is paused; it is closed when the pause ends.
	held atomic.Pointer[chan struct{}]
}

func (g *tenantGates) of(name string) *tenantGate {
	if v, ok := g.m.Load(name); ok {
		return v.(*tenantGate)
	}
	v, _ := g.m.LoadOrStore(name, &tenantGate{})
	return v.(*tenantGate)
}

// enter admits a request of t, which leaves with exit. While t is paused it waits, at most
// t's request timeout: then gate is nil. waited says the request waited, and must
// resolve its tenant again.
func (g *tenantGates) enter(t *control.Tenant) (gate *tenantGate, waited bool) {
	tg := g.of(t.Name)
	var timer *time.Timer
	for {
		// Counted before the pause is looked at, as pause sets it before it counts: either
		// this request sees the pause, or pause sees this request.
		tg.inflight.Add(1)
		held := tg.held.Load()
		if held == nil {
			if timer != nil {
				timer.Stop()
			}
			return tg, waited
		}
		tg.inflight.Add(-1)
		if timer == nil {
			timer = time.NewTimer(t.Config.Limits.RequestTimeout.D())
		}
		select {
		case <-*held:
			waited = true
		case <-timer.C:
			return nil, true
		}
	}
}

func (tg *tenantGate) exit() { tg.inflight.Add(-1) }

// pause holds the tenant's new requests and waits until those in flight finished, at most
// drain; past it, or when ctx ends, it lets them go again and fails.
func (g *tenantGates) pause(ctx context.Context, name string, drain time.Duration) error {
	tg := g.of(name)
	ch := make(chan struct{})
	if !tg.held.CompareAndSwap(nil, &ch) {
		return fmt.Errorf("tenant %q is paused already", name)
	}
	deadline := time.Now().Add(drain)
	for {
		n := tg.inflight.Load()
		if n <= 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			g.resume(name)
			return fmt.Errorf("%d requests of the tenant were still running after %s", n, drain)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func (g *tenantGates) resume(name string) {
	if p := g.of(name).held.Swap(nil); p != nil {
		close(*p)
	}
}

// forget drops a deleted tenant's gate.
func (g *tenantGates) forget(name string) { g.m.Delete(name) }

// movedTenant releases what this process held for old, a tenant now served from another
// database: its pool, GraphQL schemas and guards (forget), and its WebSocket connections,
// closed with a reason so that clients reconnect to the tenant where it is now.
func (a *apis) movedTenant(old, cur *control.Tenant) {
	a.sockets.closeTenant(old)
	a.forget(old.Name)
	a.s.log.Info("tenant moved: its old pool and sockets are closed", "tenant", old.Name, "database", cur.Config.Database)
}

// moveHooks are the proxy's part of a move on this replica.
func (a *apis) moveHooks() control.MoveHooks {
	return control.MoveHooks{
		// A policy may call auth.uid(): the helpers exist in the new database before the
		// tenant's structure is restored there.
		Prepare: func(ctx context.Context, conn *pgx.Conn) error { return auth.InstallHelpers(ctx, conn) },
		Pause: func(ctx context.Context, tenant string) error {
			drain := a.gates.drain
			if drain == 0 {
				drain = moveDrainLimit
			}
			return a.gates.pause(ctx, tenant, drain)
		},
		Resume: a.gates.resume,
	}
}

// moveTenant answers POST /admin/v1/tenants/{name}/move.
func (call *adminCall) moveTenant(t *control.Tenant) int {
	if s := call.needStore(); s != 0 {
		return s
	}
	var req control.MoveRequest
	if s := call.decode(&req); s != 0 {
		return s
	}
	moved, err := call.store.MoveTenant(call.c, t.Name, &req, call.a.moveHooks())
	if err != nil {
		return call.failErr(err)
	}
	info, err := call.store.Info(call.c, moved.Tenant)
	if err != nil {
		return call.failErr(err)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	warnings := moved.Warnings
	if warnings == nil {
		warnings = []string{}
	}
	return call.reply(fasthttp.StatusOK, map[string]any{
		"tenant":      info,
		"database":    moved.Database,
		"tables":      moved.Tables,
		"copy_ms":     ms(moved.Copy),
		"catch_up_ms": ms(moved.CatchUp),
		"pause_ms":    ms(moved.Pause),
		"cleanup_ms":  ms(moved.Cleanup),
		"total_ms":    ms(moved.Total),
		"warnings":    warnings,
	})
}
