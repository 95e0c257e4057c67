package poolmgr

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// queued starts n requests of t waiting at its gate; each writes name to order when it
// gets a connection. It returns once all n wait.
func queued(t *testing.T, tg *tenantGate, name string, n int, order chan<- string, wg *sync.WaitGroup) {
	t.Helper()
	before := tg.waiters.Load()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !tg.acquire(context.Background()) {
				t.Error("acquire without a deadline failed")
				return
			}
			order <- name
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for tg.waiters.Load() < before+int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests of %s never queued", n, name)
		}
		time.Sleep(time.Millisecond)
	}
}

// serve gives back one connection at a time n times, each by the tenant that got the
// previous one (holder first), and returns who got each.
func serve(t *testing.T, gates map[string]*tenantGate, holder string, order <-chan string, n int) string {
	t.Helper()
	var got []string
	for range n {
		gates[holder].release()
		select {
		case holder = <-order:
			got = append(got, holder)
		case <-time.After(5 * time.Second):
			t.Fatalf("no request got the released connection; so far %v", got)
		}
	}
	return strings.Join(got, " ")
}

func TestFairGateServesTenantsInTurn(t *testing.T) {
	for _, tc := range []struct {
		name          string
		noisyWeight   int
		noisy, quiet  int
		want          string
		releasesAfter int
	}{
		{name: "a tenant with ten waiting does not keep one with two waiting behind it",
			noisyWeight: 1, noisy: 10, quiet: 2, releasesAfter: 6,
			want: "noisy quiet noisy quiet noisy noisy"},
		{name: "a tenant of weight 3 is served three times per turn",
			noisyWeight: 3, noisy: 6, quiet: 3, releasesAfter: 8,
			want: "noisy noisy noisy quiet noisy noisy noisy quiet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFairGate(1)
			noisy := g.tenant(0, tc.noisyWeight)
			quiet := g.tenant(0, 1)
			if !noisy.acquire(context.Background()) {
				t.Fatal("the first request waited on an empty gate")
			}
			order := make(chan string, tc.noisy+tc.quiet)
			var wg sync.WaitGroup
			queued(t, noisy, "noisy", tc.noisy, order, &wg)
			queued(t, quiet, "quiet", tc.quiet, order, &wg)
			gates := map[string]*tenantGate{"noisy": noisy, "quiet": quiet}
			if got := serve(t, gates, "noisy", order, tc.releasesAfter); got != tc.want {
				t.Errorf("served %q, want %q", got, tc.want)
			}
			// Serve the rest so no goroutine outlives the test.
			serve(t, gates, "noisy", order, tc.noisy+tc.quiet-tc.releasesAfter)
			wg.Wait()
		})
	}
}

func TestFairGateKeepsATenantUnderItsOwnCap(t *testing.T) {
	g := newFairGate(4)
	capped := g.tenant(1, 1)
	other := g.tenant(0, 1)
	if !capped.acquire(context.Background()) {
		t.Fatal("first acquire failed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if capped.acquire(ctx) {
		t.Fatal("a tenant at its cap got a second connection while the pool had three free")
	}
	if !other.acquire(context.Background()) {
		t.Fatal("another tenant waited while the pool had free connections")
	}
	if gs := capped.stats(); gs.held != 1 || gs.waiting != 0 {
		t.Errorf("capped tenant holds %d and has %d waiting, want 1 and 0 after its wait gave up", gs.held, gs.waiting)
	}
	// Its waiter is served as soon as its own connection comes back.
	done := make(chan bool)
	go func() { done <- capped.acquire(context.Background()) }()
	for capped.waiters.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	capped.release()
	if !<-done {
		t.Fatal("the waiting request was not served when its tenant's connection came back")
	}
}

func TestFairGateLosesNoConnectionWhenWaitersGiveUp(t *testing.T) {
	const size = 3
	g := newFairGate(size)
	tenants := []*tenantGate{g.tenant(0, 1), g.tenant(2, 1), g.tenant(0, 2)}
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tg := tenants[i%len(tenants)]
			// Some give up at once, some while waiting, some get served.
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*time.Millisecond)
			defer cancel()
			if tg.acquire(ctx) {
				time.Sleep(time.Millisecond)
				tg.release()
			}
		}()
	}
	wg.Wait()
	g.mu.Lock()
	busy, ring := g.busy, len(g.ring)
	g.mu.Unlock()
	if busy != 0 || ring != 0 || g.full.Load() {
		t.Fatalf("after every request ended: busy %d, tenants waiting %d, full %t; want 0, 0, false", busy, ring, g.full.Load())
	}
	// Every connection can still be taken.
	for i := range size {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ok := tenants[0].acquire(ctx)
		cancel()
		if !ok {
			t.Fatalf("connection %d of %d is lost", i+1, size)
		}
	}
}

func TestSaturatedSaysWhetherARequestWouldWait(t *testing.T) {
	g := newFairGate(1)
	a, b := g.tenant(0, 1), g.tenant(0, 1)
	a.acquire(context.Background())
	if !a.saturated() || !b.saturated() {
		t.Error("with the only connection taken, a request of either tenant would wait")
	}
	a.release()
	if a.saturated() || b.saturated() {
		t.Error("with the connection free, no request would wait")
	}
}
