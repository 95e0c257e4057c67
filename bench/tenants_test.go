package bench

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestTenantsConfigs(t *testing.T) {
	base := suiteOptions{poolerDSN: "postgres://u@h:1/kapok_bench", directDSN: "postgres://u@h:2/kapok_bench", kapokListen: "127.0.0.1:1", poolMaxConns: 8}
	t.Run("the suite's config has no tenancy block and no pool limits", func(t *testing.T) {
		o := base
		o.tenants = 2
		cfg, _ := kapokConfig(o, "demo")
		if strings.Contains(string(cfg), "tenancy:") || strings.Contains(string(cfg), "max_in_flight") {
			t.Errorf("config:\n%s", cfg)
		}
	})
	t.Run("registered tenants past the schemas share them, and the tenancy block is written", func(t *testing.T) {
		o := base
		o.tenants, o.tenantSchemas = 5, 2
		o.tenancy = &tenancyOptions{eagerLoadMax: 100, hibernateAfter: 5 * time.Minute}
		cfg, _ := kapokConfig(o, "demo")
		for _, want := range []string{"\ntenancy:\n  eager_load_max: 100\n  hibernate_after: 5m0s\n",
			"  - name: bench-t001\n    mode: schema\n    schemas: [bench_t001]\n",
			"  - name: bench-t004\n    mode: schema\n    schemas: [bench_t000]\n"} {
			if !strings.Contains(string(cfg), want) {
				t.Errorf("config lacks %q:\n%s", want, cfg)
			}
		}
	})
	t.Run("every tenant gets the noisy run's pool limits", func(t *testing.T) {
		o := base
		o.tenants, o.tenantMaxInFlight, o.tenantQueueTimeout = 2, 4, 10*time.Millisecond
		o.tenancy = &tenancyOptions{eagerLoadMax: 100}
		cfg, _ := kapokConfig(o, "demo")
		if n := strings.Count(string(cfg), "    pool: {max_in_flight: 4, queue_timeout: 10ms}\n"); n != 2 {
			t.Errorf("%d tenants with the limits, want 2:\n%s", n, cfg)
		}
		if strings.Contains(string(cfg), "hibernate_after") {
			t.Errorf("hibernate_after written though not asked for:\n%s", cfg)
		}
	})
}

func TestTenantsOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"a tenant count that is not a number is a usage error", []string{"-tenants", "100,many"}, "want tenant counts"},
		{"an unknown phase is a usage error", []string{"-phases", "ratios,speed"}, `"speed" is none of ratios, memory, noisy`},
		{"more active tenants than registered is a usage error", []string{"-registered", "10", "-active", "20"}, "want 0 < active ≤ registered"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := Main(context.Background(), append([]string{"tenants"}, c.args...), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), c.want) {
				t.Errorf("exit %d, %s", code, errOut.String())
			}
		})
	}
	t.Run("quick shrinks the rounds, the memory run and the noisy runs", func(t *testing.T) {
		o := tenantsOptions{registered: 10000, noisyTenants: 100, quietRate: 200, noisyFactor: 10}
		o.quick = true
		if err := o.parse("100,1000", "ratios,noisy"); err != nil {
			t.Fatal(err)
		}
		if o.rounds != 2 || o.duration != time.Second || o.active != 200 || o.load != 5*time.Second || o.noisyDuration != 2*time.Second ||
			o.schemas() != 1000 || !o.runs("noisy") || o.runs("memory") {
			t.Errorf("options %+v", o)
		}
	})
	t.Run("each Kapok listens on a port of its own", func(t *testing.T) {
		o := tenantsOptions{tenancy: true, eagerLoadMax: 100}
		o.kapokListen = "127.0.0.1:18280"
		so, err := o.kapok(2, 1000)
		if err != nil || so.kapokListen != "127.0.0.1:18282" || so.tenants != 1000 || so.tenancy == nil || so.tenancy.eagerLoadMax != 100 {
			t.Errorf("%+v, %v", so, err)
		}
		o.tenancy = false
		if so, _ := o.kapok(0, 1); so.tenancy != nil {
			t.Error("-tenancy=false still writes the block")
		}
		if _, err := shiftPort("127.0.0.1:65535", 1); err == nil {
			t.Error("a port past 65535")
		}
	})
}

func TestTouchTenantsSendsEveryShapeToEveryTenantOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		tenant, _, _ := strings.Cut(strings.TrimPrefix(string(ctx.Path()), "/t/"), "/")
		mu.Lock()
		seen[tenant+" "+string(ctx.Method())]++
		mu.Unlock()
		if tenant == "bench-t003" {
			ctx.Error(`{"message":"no such tenant"}`, fasthttp.StatusNotFound)
			return
		}
		ctx.SetBodyString(`{"data":{}}`)
	})
	s, err := LoadScenario("multitenant")
	if err != nil {
		t.Fatal(err)
	}
	names := TenantNames(benchTenantPrefix, 5)
	got, err := touchTenants(context.Background(), url, s, names, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if seen[n+" POST"] != 1 || seen[n+" GET"] != 1 {
			t.Errorf("tenant %s: %d GraphQL and %d REST requests, want 1 each (%v)", n, seen[n+" POST"], seen[n+" GET"], seen)
		}
	}
	if got.Failed != 2 || !strings.Contains(got.FirstError, "/t/bench-t003/") || !strings.Contains(got.FirstError, "status 404") || got.Seconds <= 0 {
		t.Errorf("touched %+v", got)
	}
}

func TestGaugesCountBackendsAndResidentSet(t *testing.T) {
	db := testenv.Conn(t)
	testenv.Conn(t) // another backend on the same database, to be counted
	g, err := readGauges(db, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if g.Backends < 1 || g.Busy > g.Backends {
		t.Errorf("gauges %+v: want at least the other connection", g)
	}
	if runtime.GOOS == "linux" && g.RSSKB <= 0 {
		t.Errorf("gauges %+v: no resident set", g)
	}
	r := &tenantsRun{db: db}
	stop := r.watch(os.Getpid())
	time.Sleep(3 * sampleEvery)
	peak, err := stop()
	if err != nil || peak.Backends < 1 || (runtime.GOOS == "linux" && peak.RSSKB <= 0) {
		t.Errorf("watched %+v, %v", peak, err)
	}
}

// The baseline switches to the tenant's role: setup makes it, so that the baseline does not
// depend on Kapok having loaded the tenant first.
func TestBaselineAnswersATenantWhoseRoleSetupMade(t *testing.T) {
	const tenant = "bench-t-roles"
	role := "kapok_t_" + tenant
	testenv.DropTenant(tenant, role)
	t.Cleanup(func() { testenv.DropTenant(tenant, role) })
	ctx := context.Background()
	db := testenv.Conn(t)
	if err := SetupTenants(ctx, db, []string{TenantSchema(tenant)}, 0.001, nil); err != nil {
		t.Fatal(err)
	}
	b, err := NewBaseline(ctx, BaselineConfig{DSN: testenv.PoolerURL(), MaxConns: 2, TenantRole: benchTenantRole})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	url := serve(t, b.Handler) + "/t/" + tenant + "/rest/v1/orders?select=id&customer_id=eq.1"
	if code, body := do(t, "GET", url, ""); code != 500 || !strings.Contains(body, "does not exist") {
		t.Fatalf("before setup: %d %s", code, body)
	}
	for range 2 { // the second finds nothing to do
		if err := SetupTenantRoles(ctx, db, []string{tenant}, benchTenantRole); err != nil {
			t.Fatal(err)
		}
	}
	if code, body := do(t, "GET", url, ""); code != 200 || !strings.HasPrefix(body, "[") {
		t.Errorf("after setup: %d %s", code, body)
	}
	var bypass, inherit bool
	if err := db.QueryRow(ctx, "SELECT rolbypassrls, rolinherit FROM pg_roles WHERE rolname = $1", role).Scan(&bypass, &inherit); err != nil || !bypass || inherit {
		t.Errorf("role: bypassrls %t inherit %t (%v), want as Kapok makes it", bypass, inherit, err)
	}
}

func TestTenantsReportTables(t *testing.T) {
	side := func(rps, p99 float64, errs uint64) *Side {
		return &Side{RPS: rps, P50: p99 / 4, P99: p99, Requests: 1000 + errs, ok: 1000, seconds: 2,
			Errors: map[string]uint64{"status": errs}, Statuses: map[string]uint64{"200": 1000, "429": errs}}
	}
	rep := TenantsReport{
		Ratios: []*TenantsRow{
			{Tenants: 100, Kapok: side(3000, 5, 0), Baseline: side(3100, 4, 0), Ratio: 0.97, KapokCPU: 120, BaselineCPU: 90,
				KapokGauges: gauges{Backends: 30, Busy: 6, RSSKB: 204800}, BaselineGauges: gauges{Backends: 30, Busy: 5}},
			{Tenants: 1000, Kapok: side(2000, 9, 0), Baseline: side(3000, 5, 0), Ratio: 0.66,
				KapokGauges: gauges{Backends: 140, Busy: 9}, KapokTouch: touched{Seconds: 44, Failed: 1, FirstError: "GET /t/bench-t007/…: status (status 503)"}},
			{Tenants: 10000, Error: "Kapok (10000 tenants) did not answer http://127.0.0.1:18282/healthz within 1m0s; its output:\nstarting\nloading tenants\n\n"},
		},
		Memory: &TenantsMemory{Registered: 10000, Active: 1000, Schemas: 1000, StartupSeconds: 0.25, RSSBeforeKB: 70 * 1024, RSSAfterKB: 170 * 1024,
			RSSPerActiveKB: 102.4, Touch: touched{Seconds: 12}, Load: side(2900, 18, 0), Gauges: gauges{Backends: 36, Busy: 6, RSSKB: 180 * 1024}},
		Noisy: &NoisyNeighbours{Tenants: 100, QuietRate: 200, NoisyRate: 2000, MaxInFlight: 4, QueueTimeout: "10ms",
			Alone: side(200, 4, 0), WithNoisy: side(200, 6.5, 0), Noisy: side(1500, 30, 1000), P99Ratio: 1.625, QuietLag: 2.5},
	}
	var b bytes.Buffer
	WriteTenantsReport(&b, rep)
	out := b.String()
	for _, want := range []string{
		"(targets: ratio ≥ 0.95, PostgreSQL backends ≤ 100 while Kapok runs)",
		"  met\n",
		"missed: ratio 0.66 < 0.95; backends 140 > 100; Kapok 1 first requests failed (GET /t/bench-t007/…: status (status 503))\n",
		"200.0 MiB",
		"30 (6 busy)",
		"Kapok not measured: Kapok (10000 tenants) did not answer http://127.0.0.1:18282/healthz within 1m0s (its last words: loading tenants)\n",
		"memory: 10000 tenants registered (on 1000 schemas), 1000 active",
		"70.0 MiB", "170.0 MiB", "180.0 MiB", "102.4 KiB",
		"noisy neighbour: bench-t000 at 2000 req/s, 99 quiet tenants at 200 req/s together (every tenant's pool: max_in_flight 4, queue_timeout 10ms; target: quiet p99 ratio ≤ 1.5)",
		"1.62", "500/s (429)", "missed: 1.62 > 1.5\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tables lack %q:\n%s", want, out)
		}
	}
}
