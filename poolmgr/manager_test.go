package poolmgr

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestPoolNeverExceedsMaxConns(t *testing.T) {
	const maxConns, requests = 4, 200
	m := newManager(t, Config{ApplicationName: "poolmgr_t_maxconns"})
	p, err := m.Get(ctx5s(t), "t", PoolConfig{URL: testenv.PoolerURL(), MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctx5s(t)
	direct := testenv.Conn(t)
	var maxPool, maxActive atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := p.Stats()
			maxPool.Store(max(maxPool.Load(), int64(s.TotalConns), int64(s.AcquiredConns)))
			var active int64
			// Server connections running our statements, known by the statement's marker: an
			// application_name can outlive its client on a PgBouncer server connection, and
			// another test package's client (one that sets none) then runs under ours.
			if err := direct.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE query LIKE '%poolmgr_t_maxconns_marker%' AND state = 'active' AND pid <> pg_backend_pid()`).Scan(&active); err == nil {
				maxActive.Store(max(maxActive.Load(), active))
			}
		}
	}()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT to_json(pg_sleep(0.02)) /* poolmgr_t_maxconns_marker */`)}}, nil); err != nil {
				failed.Add(1)
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	if failed.Load() > 0 {
		t.Fatalf("%d requests failed", failed.Load())
	}
	if got := maxPool.Load(); got > maxConns || got == 0 {
		t.Fatalf("pool reached %d connections, max %d", got, maxConns)
	}
	if got := maxActive.Load(); got > maxConns || got == 0 {
		t.Fatalf("pg_stat_activity saw %d active statements, max %d", got, maxConns)
	}
	if s := p.Stats(); s.EmptyAcquireCount == 0 {
		t.Fatalf("no request ever waited for a connection: the test did not saturate the pool (%+v)", s)
	}
	t.Logf("max pool connections %d, max active server statements %d", maxPool.Load(), maxActive.Load())
}

func TestAdmission(t *testing.T) {
	ctx := ctx5s(t)
	slow := &Request{Statements: []statement.Statement{stmt(`SELECT to_json(pg_sleep(0.5))`)}}

	t.Run("a request over the tenant's in-flight cap is rejected after the bounded wait", func(t *testing.T) {
		m := newManager(t, Config{})
		p, err := m.Get(ctx, "poolmgr_t_inflight", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 4, MaxInFlight: 2, QueueWait: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); _, _, _ = p.Run(ctx, slow, nil) }()
		}
		waitFor(t, func() bool { return p.Stats().InFlight == 2 })
		start := time.Now()
		_, _, err = p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil)
		var re *RejectedError
		if !errors.Is(err, ErrTooManyRequests) || !errors.As(err, &re) || re.Reason != ReasonTenantInFlight || re.Tenant != "poolmgr_t_inflight" {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d < 50*time.Millisecond || re.Waited < 50*time.Millisecond {
			t.Fatalf("rejected after %v (waited %v), before the queue wait", d, re.Waited)
		}
		if got := p.Stats().Rejected[ReasonTenantInFlight]; got != 1 {
			t.Fatalf("rejected counter %d", got)
		}
		wg.Wait()
		if _, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil); err != nil {
			t.Fatalf("after the slow requests: %v", err)
		}
	})

	t.Run("a request that frees up within the queue wait is admitted", func(t *testing.T) {
		m := newManager(t, Config{})
		p, _ := m.Get(ctx, "poolmgr_t_queue", PoolConfig{URL: testenv.PoolerURL(), MaxInFlight: 1, QueueWait: 5 * time.Second})
		a, err := p.Admit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(50*time.Millisecond, a.Release)
		if _, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the global cap rejects across tenants", func(t *testing.T) {
		m := newManager(t, Config{GlobalMaxClients: 1})
		a1, _ := m.Get(ctx, "poolmgr_t_g1", PoolConfig{URL: testenv.PoolerURL()})
		a2, _ := m.Get(ctx, "poolmgr_t_g2", PoolConfig{URL: testenv.PoolerURL()})
		adm, err := a1.Admit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a2.Admit(ctx); !errors.Is(err, ErrServerBusy) {
			t.Fatalf("got %v", err)
		}
		adm.Release()
		adm, err = a2.Admit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		adm.Release()
	})

	t.Run("a request that waits too long for a connection gets ErrAcquireTimeout", func(t *testing.T) {
		m := newManager(t, Config{})
		p, _ := m.Get(ctx, "poolmgr_t_acquire", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 1, AcquireTimeout: 50 * time.Millisecond})
		done := make(chan struct{})
		go func() { defer close(done); _, _, _ = p.Run(ctx, slow, nil) }()
		waitFor(t, func() bool { return p.Stats().AcquiredConns == 1 })
		_, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil)
		var re *RejectedError
		if !errors.Is(err, ErrAcquireTimeout) || !errors.As(err, &re) || re.Reason != ReasonAcquireTimeout {
			t.Fatalf("got %v", err)
		}
		<-done
	})

	t.Run("a request past its own deadline gets ErrRequestTimeout and the connection is dropped", func(t *testing.T) {
		m := newManager(t, Config{})
		p, _ := m.Get(ctx, "poolmgr_t_deadline", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 1})
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, _, err := p.Run(dctx, slow, nil)
		if !errors.Is(err, ErrRequestTimeout) {
			t.Fatalf("got %v", err)
		}
		if _, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil); err != nil {
			t.Fatal(err)
		}
		if n := p.Stats().NewConnsCount; n != 2 {
			t.Fatalf("%d connections opened, want 2 (the cancelled one dropped)", n)
		}
	})
}

func TestIdlePoolIsClosedAndReopened(t *testing.T) {
	m := newManager(t, Config{IdleTimeout: 100 * time.Millisecond, SweepInterval: 20 * time.Millisecond})
	ctx := ctx5s(t)
	cfg := PoolConfig{URL: testenv.PoolerURL(), MaxConns: 1}
	p, err := m.Get(ctx, "poolmgr_t_idle", cfg)
	if err != nil {
		t.Fatal(err)
	}
	one := &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}
	if _, _, err := p.Run(ctx, one, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, open := m.Stats("poolmgr_t_idle"); return !open })
	if !p.closed.Load() || m.evictions[evictIdle].Load() != 1 {
		t.Fatal("the idle pool was not closed by the sweeper")
	}
	// A caller still holding the old pool is served by a new one.
	out, _, err := p.Run(ctx, one, nil)
	if err != nil || string(out) != "1" {
		t.Fatalf("got %s %v", out, err)
	}
	p2, err := m.Get(ctx, "poolmgr_t_idle", cfg)
	if err != nil || p2 == p || p2.closed.Load() {
		t.Fatalf("Get did not reopen the pool: %v", err)
	}
}

func TestLRUClosesLeastRecentlyUsedPool(t *testing.T) {
	m := newManager(t, Config{MaxPools: 2})
	ctx := ctx5s(t)
	cfg := PoolConfig{URL: testenv.PoolerURL(), MaxConns: 1}
	a, _ := m.Get(ctx, "poolmgr_t_a", cfg)
	_, _ = m.Get(ctx, "poolmgr_t_b", cfg)
	_, _ = m.Get(ctx, "poolmgr_t_c", cfg)
	if !a.closed.Load() || len(m.Tenants()) != 2 || m.evictions[evictLRU].Load() != 1 {
		t.Fatalf("tenants %v, a closed %v", m.Tenants(), a.closed.Load())
	}
	if _, _, err := a.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil); err != nil {
		t.Fatalf("a request racing the eviction was not retried: %v", err)
	}
}

func TestConfigChangeReplacesPool(t *testing.T) {
	m := newManager(t, Config{})
	ctx := ctx5s(t)
	cfg := PoolConfig{URL: testenv.PoolerURL(), MaxConns: 2}
	p1, _ := m.Get(ctx, "poolmgr_t_cfg", cfg)
	if same, _ := m.Get(ctx, "poolmgr_t_cfg", cfg); same != p1 {
		t.Fatal("an unchanged config opened a new pool")
	}
	cfg.MaxConns = 3
	p2, err := m.Get(ctx, "poolmgr_t_cfg", cfg)
	if err != nil || p2 == p1 || !p1.closed.Load() || p2.Stats().MaxConns != 3 {
		t.Fatalf("pool not replaced: %v", err)
	}
	// A request still holding the old pool runs on the new one and leaves its config alone.
	if _, _, err := p1.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil); err != nil {
		t.Fatal(err)
	}
	if cur, _ := m.Stats("poolmgr_t_cfg"); cur.MaxConns != 3 {
		t.Fatalf("a request on the old pool reverted the config: max_conns %d", cur.MaxConns)
	}
	m.Remove("poolmgr_t_cfg")
	if !p2.closed.Load() {
		t.Fatal("Remove left the pool open")
	}
}

func TestGetCreatesOnePoolUnderConcurrency(t *testing.T) {
	m := newManager(t, Config{})
	ctx := ctx5s(t)
	var wg sync.WaitGroup
	pools := make([]*Pool, 50)
	for i := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pools[i], _ = m.Get(ctx, "poolmgr_t_sf", PoolConfig{URL: testenv.PoolerURL()})
		}()
	}
	wg.Wait()
	for _, p := range pools {
		if p == nil || p != pools[0] {
			t.Fatal("concurrent Gets returned different pools")
		}
	}
	if m.evictions[evictReplaced].Load() != 0 {
		t.Fatal("a pool was replaced")
	}
}

func TestMetrics(t *testing.T) {
	m := newManager(t, Config{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	ctx := ctx5s(t)
	p, _ := m.Get(ctx, "poolmgr_t_metrics", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 3, MaxInFlight: 7})
	if _, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	series := 0
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			series++
			key := f.GetName()
			for _, l := range mt.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = mt.GetGauge().GetValue() + mt.GetCounter().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"kapok_pool_max_conns,tenant=poolmgr_t_metrics":              3,
		"kapok_pool_max_in_flight_requests,tenant=poolmgr_t_metrics": 7,
		"kapok_pool_acquires_total,tenant=poolmgr_t_metrics":         1,
		"kapok_pools_open": 1,
		"kapok_pool_rejected_total,reason=tenant_in_flight,tenant=poolmgr_t_metrics": 0,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
	if series < 20 {
		t.Fatalf("%d series", series)
	}
}

func TestCloseWaitsForInFlightRequests(t *testing.T) {
	m := New(Config{Logger: quietLogger()})
	ctx := ctx5s(t)
	p, _ := m.Get(ctx, "poolmgr_t_close", PoolConfig{URL: testenv.PoolerURL(), MaxConns: 1})
	done := make(chan error, 1)
	go func() {
		_, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT to_json(pg_sleep(0.2))`)}}, nil)
		done <- err
	}()
	waitFor(t, func() bool { return p.Stats().AcquiredConns == 1 })
	m.Close()
	if err := <-done; err != nil {
		t.Fatalf("the in-flight request failed: %v", err)
	}
	if _, err := m.Get(ctx, "poolmgr_t_close", PoolConfig{URL: testenv.PoolerURL()}); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
