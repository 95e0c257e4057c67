package poolmgr

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestTenantsThatLogInAlikeShareOnePool(t *testing.T) {
	setupRoles(t)
	const tenants, size, perTenant = 60, 3, 5
	m := newManager(t, Config{ApplicationName: "poolmgr_t_shared", SharedMaxConns: size})
	ctx := ctx5s(t)
	url := asUser(t, testenv.PoolerURL(), loginRole)
	pools := make([]*Pool, tenants)
	for i := range pools {
		var err error
		pools[i], err = m.Get(ctx, fmt.Sprintf("poolmgr_t_sh%02d", i), PoolConfig{URL: url, SharedLogin: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(m.sharedPools()); got != 1 {
		t.Fatalf("%d shared pools for %d tenants of one login, want 1", got, tenants)
	}
	// Each tenant's requests run as its own role, whoever used the connection before.
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for i, p := range pools {
		role := []string{role1, role2}[i%2]
		for range perTenant {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, _, err := p.Run(ctx, &Request{Session: &Session{Role: role},
					Statements: []statement.Statement{stmt(`SELECT to_json(current_user::text)`)}}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if string(out) != `"`+role+`"` {
					wrong.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if wrong.Load() > 0 {
		t.Fatalf("%d requests ran as another tenant's role", wrong.Load())
	}
	ph := m.sharedPools()[0]
	if s := ph.pool.Stat(); s.TotalConns() > size || s.NewConnsCount() > size {
		t.Errorf("%d tenants opened %d connections (%d open), want at most the shared size %d", tenants, s.NewConnsCount(), s.TotalConns(), size)
	}
	if st := pools[0].Stats(); st.Shared == "" || st.MaxConns != size || st.AcquiredConns != 0 {
		t.Errorf("tenant stats %+v: want the shared pool named, max %d, nothing held", st, size)
	}

	// The shared pool closes with the last tenant pool that uses it, not before.
	for _, p := range pools[1:] {
		m.Remove(p.tenant)
	}
	if len(m.sharedPools()) != 1 || pools[0].closed.Load() {
		t.Fatal("the shared pool closed while a tenant still used it")
	}
	if _, _, err := pools[0].Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil); err != nil {
		t.Fatalf("the last tenant on the shared pool: %v", err)
	}
	m.Remove(pools[0].tenant)
	if n := len(m.sharedPools()); n != 0 {
		t.Fatalf("%d shared pools left after every tenant pool closed", n)
	}
}

func TestATenantWithItsOwnLoginKeepsItsOwnPool(t *testing.T) {
	setupRoles(t)
	m := newManager(t, Config{SharedMaxConns: 2})
	ctx := ctx5s(t)
	url := asUser(t, testenv.PoolerURL(), loginRole)
	own, err := m.Get(ctx, "poolmgr_t_own", PoolConfig{URL: url, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	shared, err := m.Get(ctx, "poolmgr_t_shr", PoolConfig{URL: url, SharedLogin: true})
	if err != nil {
		t.Fatal(err)
	}
	if own.gate != nil || own.pool == shared.pool || len(m.sharedPools()) != 1 {
		t.Fatal("a login tenant was put on the shared pool")
	}
	if st := own.Stats(); st.Shared != "" || st.MaxConns != 1 {
		t.Errorf("own pool stats %+v", st)
	}
}

func TestSharedPoolMetrics(t *testing.T) {
	m := newManager(t, Config{SharedMaxConns: 2})
	ctx := ctx5s(t)
	for _, name := range []string{"poolmgr_t_m1", "poolmgr_t_m2"} {
		p, err := m.Get(ctx, name, PoolConfig{URL: testenv.PoolerURL(), SharedLogin: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{stmt(`SELECT '1'::json`)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	name := m.sharedPools()[0].name
	if !strings.Contains(name, "@") || strings.Contains(name, "password") {
		t.Fatalf("shared pool named %q, want login@address/database", name)
	}
	want := fmt.Sprintf(`
# HELP kapok_shared_pool_max_conns Maximum size of the shared pool.
# TYPE kapok_shared_pool_max_conns gauge
kapok_shared_pool_max_conns{pool=%q} 2
# HELP kapok_shared_pool_tenants Open tenant pools drawing on the shared pool.
# TYPE kapok_shared_pool_tenants gauge
kapok_shared_pool_tenants{pool=%q} 2
`, name, name)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "kapok_shared_pool_max_conns", "kapok_shared_pool_tenants"); err != nil {
		t.Fatal(err)
	}
	// Per tenant: what it holds of the shared pool, not the shared pool's own counts
	// repeated under every tenant.
	if n, err := testutil.GatherAndCount(reg, "kapok_pool_total_conns"); err != nil || n != 0 {
		t.Fatalf("kapok_pool_total_conns has %d series for shared tenants (%v), want none", n, err)
	}
	if n, err := testutil.GatherAndCount(reg, "kapok_pool_acquired_conns"); err != nil || n != 2 {
		t.Fatalf("kapok_pool_acquired_conns has %d series (%v), want one per tenant", n, err)
	}
}

func TestAQuietTenantIsServedBeforeANoisyOnesBacklog(t *testing.T) {
	// One connection, a noisy tenant with 20 requests queued behind it: the quiet tenant's
	// one request runs second, not twenty-first. Order, not time, is asserted: each
	// statement records when it ran in a sequence.
	setupRoles(t)
	m := newManager(t, Config{SharedMaxConns: 1})
	ctx := ctx5s(t)
	seq := "poolmgr_t_fair_seq"
	testenv.Exec(t, `DROP SEQUENCE IF EXISTS `+seq+`; CREATE SEQUENCE `+seq+`; GRANT USAGE ON SEQUENCE `+seq+` TO PUBLIC`)
	url := testenv.PoolerURL()
	noisy, _ := m.Get(ctx, "poolmgr_t_noisy", PoolConfig{URL: url, SharedLogin: true})
	quiet, _ := m.Get(ctx, "poolmgr_t_quiet", PoolConfig{URL: url, SharedLogin: true})
	run := func(p *Pool) (string, error) {
		out, _, err := p.Run(ctx, &Request{Statements: []statement.Statement{
			stmt(`SELECT to_json(nextval('` + seq + `')) FROM pg_sleep(0.01)`)}}, nil)
		return string(out), err
	}
	// The noisy tenant takes the connection and queues 20 more.
	hold := make(chan struct{})
	release := make(chan struct{})
	go func() {
		c, err := noisy.acquire(ctx)
		if err != nil {
			t.Error(err)
			close(hold)
			return
		}
		close(hold)
		<-release
		noisy.release(c)
	}()
	<-hold
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = run(noisy) }()
	}
	waitFor(t, func() bool { return noisy.gate.waiters.Load() == 20 })
	got := make(chan string, 1)
	go func() {
		out, err := run(quiet)
		if err != nil {
			t.Error(err)
		}
		got <- out
	}()
	waitFor(t, func() bool { return quiet.gate.waiters.Load() == 1 })
	close(release)
	out := <-got
	wg.Wait()
	if out != "2" {
		t.Fatalf("the quiet tenant's request ran %s in order, want 2 (after one of the noisy tenant's)", out)
	}
}
