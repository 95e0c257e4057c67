package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/valyala/fasthttp"
)

// The targets `kapok bench tenants` reports against (it gates nothing).
const (
	tenantsRatioTarget    = 0.95 // Kapok ÷ baseline successful req/s, at every tenant count
	tenantsBackendsTarget = 100  // PostgreSQL client backends while Kapok serves the tenants
	noisyP99Target        = 1.5  // quiet tenants' p99 with the noisy one ÷ without
)

// tenantsSchema is the bench tenant's schema in the configs of `kapok bench tenants`: the
// small copy of the dataset (the tenant is in the config as its default, never measured).
const tenantsSchema = "bench_demo"

// tenantsPhases are the parts of `kapok bench tenants`, in the order they run.
var tenantsPhases = []string{"ratios", "memory", "noisy", "create"}

type tenantsOptions struct {
	suiteOptions
	counts         []int // tenant counts of the ratios phase
	phases         []string
	tenancy        bool // write the config's tenancy block
	eagerLoadMax   int
	registered     int // memory phase: tenants in the config…
	active         int // …of which these are driven
	load           time.Duration
	hibernateAfter time.Duration
	noisyTenants   int // noisy phase: bench-t000 (noisy) and the quiet others
	quietRate      float64
	noisyFactor    float64
	noisyDuration  time.Duration
	maxInFlight    int
	queueTimeout   time.Duration
	createSchemas  int // create phase: schema tenants…
	createDBs      int // …and database tenants created under load
	createLoadRate float64
	createFlatOut  bool
}

// TenantsReport is the JSON output of `kapok bench tenants`.
type TenantsReport struct {
	Ratios []*TenantsRow    `json:"ratios,omitempty"`
	Memory *TenantsMemory   `json:"memory,omitempty"`
	Noisy  *NoisyNeighbours `json:"noisy_neighbours,omitempty"`
	Create *TenantCreation  `json:"create,omitempty"`
	// CreateFlatOut is the create phase again under a saturating load (-create-flat-out).
	CreateFlatOut *TenantCreation `json:"create_flat_out,omitempty"`
}

// TenantsRow is the multitenant scenario at one number of tenants: Kapok against the
// baseline, measured alternately, with what each cost while measured.
type TenantsRow struct {
	Tenants  int     `json:"tenants"`
	Kapok    *Side   `json:"kapok"`
	Baseline *Side   `json:"baseline"`
	Ratio    float64 `json:"ratio"` // median over rounds of Kapok's ok req/s ÷ the baseline's in the same round
	// CPU time of the serving process per successful request, in microseconds (0: not measured).
	KapokCPU    float64 `json:"kapok_cpu_us_per_request,omitempty"`
	BaselineCPU float64 `json:"baseline_cpu_us_per_request,omitempty"`
	// Largest values sampled while each was measured.
	KapokGauges    gauges `json:"kapok_gauges"`
	BaselineGauges gauges `json:"baseline_gauges"`
	// The first requests to every tenant, before any measurement (Kapok may load tenants then).
	KapokTouch    touched `json:"kapok_first_requests"`
	BaselineTouch touched `json:"baseline_first_requests"`
	Error         string  `json:"error,omitempty"` // Kapok could not be measured
}

// TenantsMemory is Kapok's memory with many tenants registered and some of them active.
type TenantsMemory struct {
	Registered     int     `json:"registered"`
	Active         int     `json:"active"`
	Schemas        int     `json:"schemas"` // the registered tenants share these (tenant i: schema i mod schemas)
	HibernateAfter string  `json:"hibernate_after,omitempty"`
	StartupSeconds float64 `json:"startup_s"` // start to the first 200 of /healthz
	// VmRSS of Kapok: after start (a second after /healthz answered), after the active
	// tenants' load, and the largest sampled during it.
	RSSBeforeKB int64 `json:"rss_before_kb"`
	RSSAfterKB  int64 `json:"rss_after_kb"`
	// RSSPerActiveKB is (after - before) ÷ active.
	RSSPerActiveKB float64 `json:"rss_per_active_tenant_kb"`
	// Resident tenants and the Go heap in use (go_memstats_heap_inuse_bytes) after the
	// load, and with --hibernate-after once it passed idle: the memory hibernation gives
	// back (the Go runtime returns it to the system lazily, so RSS lags the heap).
	Resident       int     `json:"resident_after_load"`
	HeapMiB        float64 `json:"heap_inuse_after_load_mib"`
	ResidentAsleep int     `json:"resident_after_hibernation,omitempty"`
	HeapAsleepMiB  float64 `json:"heap_inuse_after_hibernation_mib,omitempty"`
	RSSAsleepKB    int64   `json:"rss_after_hibernation_kb,omitempty"`
	Touch          touched `json:"first_requests"`
	Load           *Side   `json:"load"`
	Gauges         gauges  `json:"gauges"`
	Error          string  `json:"error,omitempty"`
}

// NoisyNeighbours is the quiet tenants' latency with and without one tenant sending many
// times their rate, on the same Kapok, measured alternately.
type NoisyNeighbours struct {
	Tenants      int     `json:"tenants"` // bench-t000, the noisy one, and the quiet others
	QuietRate    float64 `json:"quiet_rate"`
	NoisyRate    float64 `json:"noisy_rate"`
	MaxInFlight  int     `json:"max_in_flight,omitempty"` // every tenant's pool
	QueueTimeout string  `json:"queue_timeout,omitempty"`
	Alone        *Side   `json:"quiet_alone"`
	WithNoisy    *Side   `json:"quiet_with_noisy"`
	Noisy        *Side   `json:"noisy"`
	P99Ratio     float64 `json:"p99_ratio"` // quiet p99 with the noisy tenant ÷ without
	// Gauges while the noisy tenant ran; QuietLag the quiet generator's largest
	// schedule lag p99 (ms): how late its own timers woke, which is not the server's doing.
	Gauges   gauges  `json:"gauges"`
	QuietLag float64 `json:"quiet_schedule_lag_p99_ms"`
	Error    string  `json:"error,omitempty"`
}

// gauges are sampled while a target is measured: PostgreSQL's client backends on the
// benchmark database (PgBouncer's server connections, and whatever connects directly),
// those of them not idle, and the VmRSS of the process serving.
type gauges struct {
	Backends int64 `json:"pg_backends_max"`
	Busy     int64 `json:"pg_backends_busy_max"`
	RSSKB    int64 `json:"rss_kb_max,omitempty"`
}

func (g *gauges) raise(o gauges) {
	g.Backends, g.Busy, g.RSSKB = max(g.Backends, o.Backends), max(g.Busy, o.Busy), max(g.RSSKB, o.RSSKB)
}

// touched is how long sending every tenant each request shape once took, and what failed.
type touched struct {
	Seconds    float64 `json:"seconds"`
	Failed     int     `json:"failed"`
	FirstError string  `json:"first_error,omitempty"`
}

func cmdTenants(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tenants", flag.ContinueOnError)
	var o tenantsOptions
	counts := fs.String("tenants", "100,1000", "tenant counts of the ratios phase, comma-separated")
	phases := fs.String("phases", strings.Join(tenantsPhases, ","), "phases to run: ratios (Kapok vs baseline per tenant count), memory (many registered, some active), noisy (one tenant at many times the others' rate), create (tenants created under load)")
	fs.BoolVar(&o.quick, "quick", false, "CI size: 2 rounds of 1 s, 200 active tenants driven for 5 s, noisy runs of 2 s (< 2 min)")
	fs.StringVar(&o.kapokCmd, "kapok-cmd", "./bin/kapok serve --config {config} --listen {listen}", "command starting Kapok; {config} is the generated config file, {listen} its address")
	fs.StringVar(&o.kapokListen, "kapok-listen", "127.0.0.1:18280", "address of the first Kapok started; the others (one per tenant count, then memory's and noisy's) on the next ports")
	fs.StringVar(&o.baselineURL, "baseline", "", "URL of a running baseline (default: start --baseline-cmd)")
	fs.StringVar(&o.baselineCmd, "baseline-cmd", "{self} bench baseline --listen {listen} --db {db} --schema {schema} --pool-max-conns {pool} --tenant-role {role}",
		"command starting the baseline ({self}: this executable); empty: serve it in-process")
	fs.StringVar(&o.baselineListen, "baseline-listen", "127.0.0.1:18290", "address for the baseline started")
	fs.StringVar(&o.devUp, "dev-up", "", "command bringing the dev stack up first (empty: assume it is up)")
	fs.StringVar(&o.directDSN, "db-direct", "postgres://postgres@127.0.0.1:54320/kapok_bench?sslmode=disable", "direct URL of the benchmark database (setup, and sampling pg_stat_activity)")
	fs.StringVar(&o.poolerDSN, "db", "postgres://postgres@127.0.0.1:64320/kapok_bench?sslmode=disable", "PgBouncer URL of the benchmark database (requests)")
	fs.IntVar(&o.rounds, "rounds", 0, "ratios: rounds; each runs every Kapok and the baseline once per tenant count, in an order rotating by round (default 4, quick 2)")
	fs.DurationVar(&o.duration, "duration", 0, "ratios: measured time per target per round (default 5s, quick 1s)")
	fs.DurationVar(&o.warmup, "warmup", 0, "ratios: warm-up per target, after its first request to every tenant (default 2s, quick 400ms)")
	fs.IntVar(&o.connections, "c", 16, "connections of the closed loops (ratios, memory)")
	fs.IntVar(&o.poolMaxConns, "pool-max-conns", 8, "database pool size of the baseline")
	fs.BoolVar(&o.skipSetup, "skip-setup", false, "assume the tenants' schemas and roles exist")
	fs.DurationVar(&o.startTimeout, "start-timeout", 60*time.Second, "how long a started Kapok or baseline may take to answer /healthz")
	fs.BoolVar(&o.tenancy, "tenancy", true, "write the config's tenancy block (false: for a Kapok without one, which loads every tenant at start)")
	fs.IntVar(&o.eagerLoadMax, "eager-load-max", 100, "tenancy.eager_load_max: tenants loaded at start, the others on their first request")
	fs.IntVar(&o.registered, "registered", 10000, "memory: tenants in the config; those past the tenant schemas share them")
	fs.IntVar(&o.active, "active", 0, "memory: tenants driven, bench-t000… (default 1000, quick 200)")
	fs.DurationVar(&o.load, "load", 0, "memory: how long the active tenants are driven (default 30s, quick 5s)")
	fs.DurationVar(&o.hibernateAfter, "hibernate-after", 0, "memory: tenancy.hibernate_after (0: not written)")
	fs.IntVar(&o.noisyTenants, "noisy-tenants", 100, "noisy: tenants, bench-t000 the noisy one and the others quiet")
	fs.Float64Var(&o.quietRate, "quiet-rate", 200, "noisy: requests/s of the quiet tenants together, open loop")
	fs.Float64Var(&o.noisyFactor, "noisy-factor", 10, "noisy: the noisy tenant's rate, as a multiple of --quiet-rate (all the quiet tenants together)")
	fs.DurationVar(&o.noisyDuration, "noisy-duration", 0, "noisy: measured time of each quiet run (default 10s, quick 2s)")
	fs.IntVar(&o.maxInFlight, "max-in-flight", -1, "noisy: pool.max_in_flight of every tenant (-1: half this machine's CPUs, at least 1, as README's Thousands of tenants advises for a database on these cores; 0: Kapok's default)")
	fs.DurationVar(&o.queueTimeout, "queue-timeout", 100*time.Millisecond, "noisy: pool.queue_timeout of every tenant, the longest a request over max_in_flight waits, and any request for a connection (0: Kapok's default)")
	fs.IntVar(&o.createSchemas, "create-schemas", 100, "create: schema tenants created through the admin API while 100 tenants are under load (a p99 needs a hundred)")
	fs.IntVar(&o.createDBs, "create-databases", 20, "create: database tenants created likewise")
	fs.Float64Var(&o.createLoadRate, "create-load-rate", 1000, "create: requests/s of the load meanwhile, open loop, about a quarter of what this 2-core machine serves (0: a closed loop of half of -c connections, as fast as it goes)")
	fs.BoolVar(&o.createFlatOut, "create-flat-out", true, "create: measure again under a closed loop as fast as it goes (reported, not judged against the targets)")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if err := o.parse(*counts, *phases); err != nil {
		fmt.Fprintf(stderr, "kapok bench tenants: %v\n", err)
		return 2
	}
	code, err := runTenants(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench tenants: %v\n", err)
	}
	return code
}

// parse reads the list flags and fills in the defaults that depend on --quick.
func (o *tenantsOptions) parse(counts, phases string) error {
	for _, f := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("--tenants %q: want tenant counts like 100,1000", counts)
		}
		o.counts = append(o.counts, n)
	}
	for _, p := range strings.Split(phases, ",") {
		if p = strings.TrimSpace(p); !slices.Contains(tenantsPhases, p) {
			return fmt.Errorf("--phases: %q is none of %s", p, strings.Join(tenantsPhases, ", "))
		}
		o.phases = append(o.phases, p)
	}
	if o.active == 0 {
		o.active = map[bool]int{false: 1000, true: 200}[o.quick]
	}
	if o.active < 0 || o.registered < o.active {
		return fmt.Errorf("--active %d, --registered %d: want 0 < active ≤ registered", o.active, o.registered)
	}
	if o.noisyTenants < 2 || o.quietRate <= 0 || o.noisyFactor <= 0 {
		return errors.New("--noisy-tenants needs 2 or more, --quiet-rate and --noisy-factor positive values")
	}
	o.defaultDuration(&o.duration, 5*time.Second, time.Second)
	o.defaultDuration(&o.warmup, 2*time.Second, 400*time.Millisecond)
	o.defaultDuration(&o.load, 30*time.Second, 5*time.Second)
	o.defaultDuration(&o.noisyDuration, 10*time.Second, 2*time.Second)
	if o.maxInFlight < 0 {
		// PostgreSQL runs on this machine: a tenant never holds every core of it.
		o.maxInFlight = max(1, runtime.NumCPU()/2)
	}
	if o.rounds <= 0 {
		o.rounds = map[bool]int{false: 4, true: 2}[o.quick]
	}
	return nil
}

func (o *tenantsOptions) runs(phase string) bool { return slices.Contains(o.phases, phase) }

// schemas is the number of tenant schemas the run needs: one per tenant of the largest
// count, of the memory phase's active tenants and of the noisy phase.
func (o *tenantsOptions) schemas() int {
	return max(slices.Max(o.counts), o.active, o.noisyTenants)
}

// kapok is the suite's options for the k-th Kapok started, serving count tenants.
func (o *tenantsOptions) kapok(k, count int) (suiteOptions, error) {
	so := o.suiteOptions
	so.tenants = count
	listen, err := shiftPort(o.kapokListen, k)
	if err != nil {
		return so, fmt.Errorf("--kapok-listen: %w", err)
	}
	so.kapokListen = listen
	if o.tenancy {
		so.tenancy = &tenancyOptions{eagerLoadMax: o.eagerLoadMax}
	}
	return so, nil
}

// shiftPort is addr (host:port) with its port moved on by k.
func shiftPort(addr string, k int) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p+k > 65535 {
		return "", fmt.Errorf("%s: no port %s+%d", addr, port, k)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+k)), nil
}

// tenantsRun is one run of `kapok bench tenants`.
type tenantsRun struct {
	o        tenantsOptions
	logf     func(string, ...any)
	progress io.Writer
	db       *pgx.Conn // direct: pg_stat_activity
}

func runTenants(ctx context.Context, o tenantsOptions, stdout, stderr io.Writer) (int, error) {
	began := time.Now()
	r := &tenantsRun{o: o, logf: func(format string, a ...any) { fmt.Fprintf(stderr, "tenants: "+format+"\n", a...) }}
	if isTerminal(stderr) {
		r.progress = stderr
	}
	if err := runDevUp(ctx, strings.Fields(o.devUp), r.logf); err != nil {
		return 1, err
	}
	db, err := connectCreatingDB(ctx, o.directDSN)
	if err != nil {
		return 1, fmt.Errorf("benchmark database: %w (is the dev stack up? kapok dev up)", err)
	}
	defer db.Close(context.Background())
	r.db = db
	if !o.skipSetup {
		t := time.Now()
		if err := SetupTenants(ctx, db, []string{tenantsSchema}, 0.01, nil); err != nil {
			return 1, err
		}
		if err := prepareTenants(ctx, db, o.schemas()); err != nil {
			return 1, err
		}
		r.logf("%d tenant schemas and roles ready (%s)", o.schemas(), time.Since(t).Round(time.Millisecond))
	}

	var report TenantsReport
	failed := false
	if o.runs("ratios") {
		if report.Ratios, err = r.ratios(ctx); err != nil {
			return 1, err
		}
		for _, row := range report.Ratios {
			failed = failed || row.Error != "" || row.Kapok.errorCount() > 0 || row.Baseline.errorCount() > 0 ||
				row.KapokTouch.Failed > 0 || row.BaselineTouch.Failed > 0
		}
	}
	if o.runs("memory") {
		if report.Memory, err = r.memory(ctx); err != nil {
			return 1, err
		}
		m := report.Memory
		failed = failed || m.Error != "" || m.Touch.Failed > 0 || m.Load.errorCount() > 0
	}
	if o.runs("noisy") {
		if report.Noisy, err = r.noisy(ctx); err != nil {
			return 1, err
		}
		n := report.Noisy
		failed = failed || n.Error != "" || n.Alone.errorCount() > 0 || n.WithNoisy.errorCount() > 0
	}
	if o.runs("create") {
		if report.Create, err = r.create(ctx, o.createLoadRate); err != nil {
			return 1, err
		}
		if o.createFlatOut {
			if report.CreateFlatOut, err = r.create(ctx, 0); err != nil {
				return 1, err
			}
		}
		for _, c := range []*TenantCreation{report.Create, report.CreateFlatOut} {
			if c != nil {
				failed = failed || c.Error != "" || c.Schema.Failed > 0 || c.Database.Failed > 0 || c.Load.errorCount() > 0
			}
		}
	}
	if o.asJSON {
		_ = WriteJSON(stdout, report)
	} else {
		WriteTenantsReport(stdout, report)
	}
	r.logf("done in %s", time.Since(began).Round(time.Second))
	if failed {
		return 1, errors.New("a Kapok could not be measured, or requests failed (see the tables)")
	}
	return 0, nil
}

// scenario is the multitenant scenario over tenants first…last.
func (r *tenantsRun) scenario(first, last int) (*Scenario, error) {
	sf := scenarioFlags{tenant: "bench", scale: 1}
	list, err := sf.load("multitenant")
	if err != nil {
		return nil, err
	}
	spreadTenants(list[0], first, last)
	return list[0], nil
}

// startKapok starts a Kapok on the config of so (its tenants, listen address, tenancy).
func (r *tenantsRun) startKapok(ctx context.Context, name string, so suiteOptions) (stop func(), url string, pid int, err error) {
	cfg, err := kapokConfig(so, tenantsSchema)
	if err != nil {
		return nil, "", 0, err
	}
	stop, url, pid, err = startKapokWith(ctx, name, cfg, so.kapokCmd, so.kapokListen, so.startTimeout, r.logf)
	if err != nil && so.tenancy != nil && strings.Contains(err.Error(), "tenancy") {
		err = fmt.Errorf("%w\n(a Kapok without the config's tenancy block? run with -tenancy=false)", err)
	}
	return stop, url, pid, err
}

// ratios measures the multitenant scenario at each tenant count, Kapok (one per count, all
// running) against the baseline, every target once per round.
func (r *tenantsRun) ratios(ctx context.Context) ([]*TenantsRow, error) {
	o := r.o
	stopBaseline, baselinePID, err := o.serveBaseline(ctx, tenantsSchema, r.logf)
	if err != nil {
		return nil, err
	}
	defer stopBaseline()
	var rows []*TenantsRow
	var targets []*comparedTarget
	for k, n := range o.counts {
		row := &TenantsRow{Tenants: n, Kapok: &Side{}, Baseline: &Side{}}
		rows = append(rows, row)
		so, err := o.kapok(k, n)
		if err != nil {
			return nil, err
		}
		stop, url, pid, err := r.startKapok(ctx, fmt.Sprintf("Kapok (%d tenants)", n), so)
		if err != nil {
			row.Error = err.Error()
			r.logf("%d tenants: %v", n, err)
			continue
		}
		defer stop()
		s, err := r.scenario(0, n-1)
		if err != nil {
			return nil, err
		}
		kapok := &comparedTarget{side: row.Kapok, pid: pid, run: r.sampled(url, s, pid, &row.KapokGauges)}
		baseline := &comparedTarget{side: row.Baseline, pid: baselinePID, run: r.sampled(o.baselineURL, s, baselinePID, &row.BaselineGauges)}
		if row.KapokTouch, err = touchTenants(ctx, url, s, tenantsOf(s), o.connections); err != nil {
			return nil, err
		}
		if row.BaselineTouch, err = touchTenants(ctx, o.baselineURL, s, tenantsOf(s), o.connections); err != nil {
			return nil, err
		}
		r.logf("%d tenants: first requests to every tenant: Kapok %.1fs, baseline %.1fs", n, row.KapokTouch.Seconds, row.BaselineTouch.Seconds)
		for _, u := range []string{url, o.baselineURL} { // not sampled: only measurements are
			if _, err := Run(ctx, LoadConfig{Target: u, Connections: o.connections, Duration: o.warmup, Timeout: 5 * time.Second, Seed: 1}, s); err != nil {
				return nil, err
			}
		}
		targets = append(targets, kapok, baseline)
	}
	if len(targets) > 0 {
		if err := measureRounds(ctx, targets, o.rounds, o.duration); err != nil {
			return nil, err
		}
	}
	for _, t := range targets {
		t.side.finish()
	}
	for i, row := range rows {
		if row.Error != "" {
			continue
		}
		k := slices.IndexFunc(targets, func(t *comparedTarget) bool { return t.side == row.Kapok })
		row.Ratio = medianRatio(row.Kapok.Rounds, row.Baseline.Rounds)
		row.KapokCPU, row.BaselineCPU = targets[k].cpuPerRequest(), targets[k+1].cpuPerRequest()
		r.logf("%d tenants: Kapok %.0f req/s, baseline %.0f req/s, ratio %.2f", o.counts[i], row.Kapok.RPS, row.Baseline.RPS, row.Ratio)
	}
	return rows, nil
}

// sampled runs s against url (closed loop, the run's connections) with the gauges
// sampled meanwhile, raising peak.
func (r *tenantsRun) sampled(url string, s *Scenario, pid int, peak *gauges) func(context.Context, uint64, time.Duration) (*Result, error) {
	return func(ctx context.Context, seed uint64, d time.Duration) (*Result, error) {
		stop := r.watch(pid)
		res, err := Run(ctx, LoadConfig{Target: url, Connections: r.o.connections, Duration: d, Timeout: 5 * time.Second, Seed: seed, Progress: r.progress}, s)
		g, werr := stop()
		peak.raise(g)
		return res, errors.Join(err, werr)
	}
}

// sampleEvery is how often the gauges are read while a target is measured.
const sampleEvery = 100 * time.Millisecond

// watch samples the gauges (the process pid's VmRSS when pid is not 0) every sampleEvery
// until stop is called; stop returns the largest values seen and the first error.
func (r *tenantsRun) watch(pid int) (stop func() (gauges, error)) {
	done := make(chan struct{})
	var peak gauges
	var err error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			g, serr := readGauges(r.db, pid)
			peak.raise(g)
			if err == nil {
				err = serr
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() (gauges, error) {
		close(done)
		wg.Wait()
		return peak, err
	}
}

// readGauges reads the client backends of db's database but db's own (other databases of
// the cluster are other people's), and pid's VmRSS (pid 0, or not readable here: none).
func readGauges(db *pgx.Conn, pid int) (gauges, error) {
	var g gauges
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state <> 'idle')
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND datname = current_database() AND pid <> pg_backend_pid()`).Scan(&g.Backends, &g.Busy)
	if err != nil {
		return g, fmt.Errorf("pg_stat_activity: %w", err)
	}
	if pid != 0 {
		g.RSSKB, _ = rssKB(pid)
	}
	return g, nil
}

// touchTenants sends each tenant (names) every request shape of s once, conns tenants at a
// time: a Kapok that loads tenants on demand loads each on its first request. It returns
// how long that took and what failed.
func touchTenants(ctx context.Context, target string, s *Scenario, names []string, conns int) (touched, error) {
	c, err := compileScenario(s)
	if err != nil {
		return touched{}, err
	}
	ti := c.varIndex("tenant")
	if ti < 0 {
		return touched{}, fmt.Errorf("scenario %s has no tenant variable", s.Name)
	}
	// A tenant's first request may wait for the tenant to load, behind others loading.
	const timeout = 30 * time.Second
	hc, prefix, err := targetClient(target, conns, timeout)
	if err != nil {
		return touched{}, err
	}
	defer hc.CloseIdleConnections()
	var out touched
	var mu sync.Mutex
	jobs := make(chan string)
	began := time.Now()
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gen := newRequestGen(c, uint64(w+1))
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for name := range jobs {
				for shape := range c.reqs {
					gen.draw()
					gen.vals[ti] = []byte(name)
					cr := gen.render(shape)
					gen.fill(req, cr, prefix, hc.Addr)
					kind, code, _ := exchange(hc, req, resp, cr.graphql, timeout)
					if kind < 0 {
						continue
					}
					mu.Lock()
					if out.Failed++; out.FirstError == "" {
						body := resp.Body()
						out.FirstError = fmt.Sprintf("%s %s: %s (status %d) %s", cr.method, gen.path, errKindNames[kind], code, body[:min(len(body), 200)])
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, n := range names {
		if ctx.Err() != nil {
			break
		}
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	out.Seconds = time.Since(began).Seconds()
	return out, ctx.Err()
}

// memory starts a Kapok with o.registered tenants, drives the first o.active of them and
// reads its resident set before and after.
func (r *tenantsRun) memory(ctx context.Context) (*TenantsMemory, error) {
	o := r.o
	m := &TenantsMemory{Registered: o.registered, Active: o.active, Schemas: o.schemas(), Load: &Side{}}
	so, err := o.kapok(len(o.counts), o.registered)
	if err != nil {
		return nil, err
	}
	so.tenantSchemas = m.Schemas
	if so.tenancy != nil && o.hibernateAfter > 0 {
		so.tenancy.hibernateAfter = o.hibernateAfter
		m.HibernateAfter = o.hibernateAfter.String()
	}
	began := time.Now()
	stop, url, pid, err := r.startKapok(ctx, fmt.Sprintf("Kapok (%d tenants registered)", o.registered), so)
	if err != nil {
		m.Error = err.Error()
		r.logf("memory: %v", err)
		return m, nil
	}
	defer stop()
	m.StartupSeconds = time.Since(began).Seconds()
	// What starting leaves behind settles first (a Go runtime's first collections).
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if m.RSSBeforeKB, err = rssKB(pid); err != nil {
		m.Error = err.Error()
		return m, nil
	}
	s, err := r.scenario(0, o.active-1)
	if err != nil {
		return nil, err
	}
	if m.Touch, err = touchTenants(ctx, url, s, tenantsOf(s), o.connections); err != nil {
		return nil, err
	}
	res, err := r.sampled(url, s, pid, &m.Gauges)(ctx, 1, o.load)
	if err != nil {
		return nil, err
	}
	m.Load.add(res)
	m.Load.finish()
	if m.RSSAfterKB, err = rssKB(pid); err != nil {
		m.Error = err.Error()
		return m, nil
	}
	m.RSSPerActiveKB = float64(m.RSSAfterKB-m.RSSBeforeKB) / float64(o.active)
	if m.Resident, m.HeapMiB, err = residentAndHeap(url); err != nil {
		m.Error = err.Error()
		return m, nil
	}
	if o.hibernateAfter > 0 {
		// Idle past hibernate_after and a sweep: every active tenant gives its catalog back.
		select {
		case <-time.After(2*o.hibernateAfter + time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if m.ResidentAsleep, m.HeapAsleepMiB, err = residentAndHeap(url); err != nil {
			m.Error = err.Error()
			return m, nil
		}
		if m.RSSAsleepKB, err = rssKB(pid); err != nil {
			m.Error = err.Error()
			return m, nil
		}
	}
	r.logf("memory: %d registered, %d active: started in %.1fs, RSS %.1f MiB before, %.1f MiB after (%.1f KiB per active tenant)",
		o.registered, o.active, m.StartupSeconds, float64(m.RSSBeforeKB)/1024, float64(m.RSSAfterKB)/1024, m.RSSPerActiveKB)
	return m, nil
}

// residentAndHeap reads Kapok's resident tenants and Go heap in use from its /metrics.
func residentAndHeap(url string) (int, float64, error) {
	p, err := scrapeMetrics(url)
	if err != nil {
		return 0, 0, err
	}
	return int(p.sums["kapok_tenants_resident"]), p.sums["go_memstats_heap_inuse_bytes"] / (1 << 20), nil
}

// noisy measures the quiet tenants (bench-t001…) at o.quietRate together, open loop,
// alone and with bench-t000 at o.noisyFactor times that rate, alternately.
func (r *tenantsRun) noisy(ctx context.Context) (*NoisyNeighbours, error) {
	o := r.o
	n := &NoisyNeighbours{Tenants: o.noisyTenants, QuietRate: o.quietRate, NoisyRate: o.quietRate * o.noisyFactor,
		MaxInFlight: o.maxInFlight, Alone: &Side{}, WithNoisy: &Side{}, Noisy: &Side{}}
	if o.queueTimeout > 0 {
		n.QueueTimeout = o.queueTimeout.String()
	}
	so, err := o.kapok(len(o.counts)+1, o.noisyTenants)
	if err != nil {
		return nil, err
	}
	so.tenantMaxInFlight, so.tenantQueueTimeout = o.maxInFlight, o.queueTimeout
	stop, url, pid, err := r.startKapok(ctx, fmt.Sprintf("Kapok (%d tenants, noisy neighbour)", o.noisyTenants), so)
	if err != nil {
		n.Error = err.Error()
		r.logf("noisy: %v", err)
		return n, nil
	}
	defer stop()
	quiet, err := r.scenario(1, o.noisyTenants-1)
	if err != nil {
		return nil, err
	}
	noisy, err := r.scenario(0, 0)
	if err != nil {
		return nil, err
	}
	all, err := r.scenario(0, o.noisyTenants-1)
	if err != nil {
		return nil, err
	}
	if _, err := touchTenants(ctx, url, all, tenantsOf(all), o.connections); err != nil {
		return nil, err
	}
	// Open loops: a stalled request does not hold the next ones back, and its latency
	// counts from when it was due. Connections enough for stalls of a second.
	quietCfg := LoadConfig{Target: url, Rate: o.quietRate, Connections: 64, Timeout: 5 * time.Second, Progress: r.progress}
	noisyCfg := LoadConfig{Target: url, Rate: n.NoisyRate, Connections: 128, Timeout: 5 * time.Second}
	// Each quiet run starts with this much unmeasured, so that a noisy tenant started
	// with it is at its rate when the measurement starts, and ends it after.
	const lead = 500 * time.Millisecond
	run := func(seed uint64, withNoisy bool, measured bool) error {
		qc, nc := quietCfg, noisyCfg
		qc.Seed, qc.Warmup, qc.Duration = seed, lead, o.noisyDuration
		nc.Seed, nc.Duration = seed+1000, o.noisyDuration+2*lead
		var noisyRes *Result
		var noisyErr error
		var wg sync.WaitGroup
		stopWatch := func() (gauges, error) { return gauges{}, nil }
		if measured {
			stopWatch = r.watch(pid)
		}
		if withNoisy {
			wg.Add(1)
			go func() { defer wg.Done(); noisyRes, noisyErr = runApart(ctx, nc, noisy) }()
		}
		res, err := Run(ctx, qc, quiet)
		wg.Wait()
		g, werr := stopWatch()
		if withNoisy {
			n.Gauges.raise(g)
		}
		err = errors.Join(err, noisyErr, werr)
		if err != nil || !measured {
			return err
		}
		if withNoisy {
			n.WithNoisy.add(res)
			n.Noisy.add(noisyRes)
		} else {
			n.Alone.add(res)
		}
		if res.ScheduleLag != nil {
			n.QuietLag = max(n.QuietLag, res.ScheduleLag.P99)
		}
		return nil
	}
	if err := run(1, true, false); err != nil { // plans, pools, and the noisy tenant's first burst
		return nil, err
	}
	for round := range o.rounds {
		// Alone then with, then with then alone: neither always runs first.
		for i, with := range [2]bool{false, true} {
			if round%2 == 1 {
				with = !with
			}
			if err := run(uint64(2*round+i+2), with, true); err != nil {
				return nil, err
			}
		}
	}
	for _, sd := range []*Side{n.Alone, n.WithNoisy, n.Noisy} {
		sd.finish()
	}
	if n.Alone.P99 > 0 {
		n.P99Ratio = n.WithNoisy.P99 / n.Alone.P99
	}
	r.logf("noisy: quiet p99 %.2fms alone, %.2fms with the noisy tenant (%.2f×); noisy answered %.0f of %.0f req/s",
		n.Alone.P99, n.WithNoisy.P99, n.P99Ratio, n.Noisy.RPS, n.NoisyRate)
	return n, nil
}

// runApart runs s with cfg in a process of its own (`kapok bench run`, this executable):
// a noisy tenant's clients are not the quiet tenants', and 2,000 requests/s generated in
// the measuring process would delay its reading of the quiet answers (its goroutines,
// timers and garbage collection) and count that as Kapok's latency. The result has no
// latency histogram of its own, only its counts and percentiles.
func runApart(ctx context.Context, cfg LoadConfig, s *Scenario) (*Result, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "kapok-bench-scenario-*.json")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "bench", "run", "-json", "-scenario", f.Name(), "-target", cfg.Target,
		"-rate", strconv.FormatFloat(cfg.Rate, 'f', -1, 64), "-c", strconv.Itoa(cfg.Connections),
		"-duration", cfg.Duration.String(), "-warmup", cfg.Warmup.String(), "-timeout", cfg.Timeout.String(),
		"-seed", strconv.FormatUint(cfg.Seed, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res Result
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		return nil, fmt.Errorf("kapok bench run apart: %v %v: %s", err, jerr, briefly(stderr.String()))
	}
	res.hist = &Histogram{}
	return &res, nil
}

// WriteTenantsReport writes the tables of `kapok bench tenants`, one per phase run.
func WriteTenantsReport(w io.Writer, rep TenantsReport) {
	mib := func(kb int64) string {
		if kb == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
	}
	opt := func(v float64, format string) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	backends := func(g gauges) string { return fmt.Sprintf("%d (%d busy)", g.Backends, g.Busy) }
	if len(rep.Ratios) > 0 {
		fmt.Fprintf(w, "multitenant scenario, Kapok vs baseline (targets: ratio ≥ %.2f, PostgreSQL backends ≤ %d while Kapok runs)\n", tenantsRatioTarget, tenantsBackendsTarget)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "tenants\tKapok req/s\tbaseline req/s\tratio\tKapok p99\tbase p99\tCPU µs/req Kapok\tbase\tPG backends Kapok\tbase\tKapok RSS\tfirst requests Kapok\tbase\t")
		for _, r := range rep.Ratios {
			if r.Error != "" {
				fmt.Fprintf(tw, "%d\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t  Kapok not measured: %s\n", r.Tenants, briefly(r.Error))
				continue
			}
			fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t%.2fms\t%.2fms\t%s\t%s\t%s\t%s\t%s\t%.1fs\t%.1fs\t  %s\n", r.Tenants, r.Kapok.RPS, r.Baseline.RPS, r.Ratio,
				r.Kapok.P99, r.Baseline.P99, opt(r.KapokCPU, "%.0f"), opt(r.BaselineCPU, "%.0f"), backends(r.KapokGauges), backends(r.BaselineGauges),
				mib(r.KapokGauges.RSSKB), r.KapokTouch.Seconds, r.BaselineTouch.Seconds, r.verdict())
		}
		tw.Flush()
	}
	if m := rep.Memory; m != nil {
		fmt.Fprintf(w, "\nmemory: %d tenants registered (on %d schemas), %d active\n", m.Registered, min(m.Schemas, m.Registered), m.Active)
		if m.Error != "" {
			fmt.Fprintf(w, "  not measured: %s\n", briefly(m.Error))
		} else {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "start to /healthz\tRSS before\tafter load\tpeak\tper active tenant\tfirst requests\tload req/s\tp99\tPG backends\t")
			fmt.Fprintf(tw, "%.2fs\t%s\t%s\t%s\t%.1f KiB\t%.1fs\t%.0f\t%.2fms\t%s\t  %s\n", m.StartupSeconds, mib(m.RSSBeforeKB), mib(m.RSSAfterKB), mib(m.Gauges.RSSKB),
				m.RSSPerActiveKB, m.Touch.Seconds, m.Load.RPS, m.Load.P99, backends(m.Gauges), failures(m.Touch, m.Load))
			tw.Flush()
			fmt.Fprintf(w, "  after the load: %d tenants resident, Go heap in use %.1f MiB\n", m.Resident, m.HeapMiB)
			if m.HibernateAfter != "" {
				fmt.Fprintf(w, "  idle past hibernate_after %s: %d resident, Go heap in use %.1f MiB, RSS %s\n", m.HibernateAfter, m.ResidentAsleep, m.HeapAsleepMiB, mib(m.RSSAsleepKB))
			}
		}
	}
	if n := rep.Noisy; n != nil {
		limit := "Kapok's default pool limits"
		if n.MaxInFlight > 0 || n.QueueTimeout != "" {
			limit = fmt.Sprintf("every tenant's pool: max_in_flight %d, queue_timeout %s", n.MaxInFlight, n.QueueTimeout)
		}
		fmt.Fprintf(w, "\nnoisy neighbour: bench-t000 at %.0f req/s, %d quiet tenants at %.0f req/s together (%s; target: quiet p99 ratio ≤ %.1f)\n",
			n.NoisyRate, n.Tenants-1, n.QuietRate, limit, noisyP99Target)
		if n.Error != "" {
			fmt.Fprintf(w, "  not measured: %s\n", briefly(n.Error))
		} else {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "quiet p50 alone\tp99 alone\tp50 with noisy\tp99 with noisy\tp99 ratio\tnoisy ok req/s\tnoisy refused\tPG backends\tgenerator lag p99\t")
			verdict := "met"
			if n.P99Ratio > noisyP99Target {
				verdict = fmt.Sprintf("missed: %.2f > %.1f", n.P99Ratio, noisyP99Target)
			}
			if e := n.Alone.errorCount() + n.WithNoisy.errorCount(); e > 0 {
				verdict = fmt.Sprintf("quiet errors: %s / %s", errorSummary(n.Alone.Errors), errorSummary(n.WithNoisy.Errors))
			}
			fmt.Fprintf(tw, "%.2fms\t%.2fms\t%.2fms\t%.2fms\t%.2f\t%.0f\t%s\t%s\t%.2fms\t  %s\n", n.Alone.P50, n.Alone.P99, n.WithNoisy.P50, n.WithNoisy.P99,
				n.P99Ratio, n.Noisy.RPS, refusals(n.Noisy), backends(n.Gauges), n.QuietLag, verdict)
			tw.Flush()
		}
	}
	for _, c := range []*TenantCreation{rep.Create, rep.CreateFlatOut} {
		if c != nil {
			writeCreation(w, c)
		}
	}
}

// verdict says which targets a row missed, or that it had errors.
func (r *TenantsRow) verdict() string {
	var miss []string
	if r.Ratio < tenantsRatioTarget {
		miss = append(miss, fmt.Sprintf("ratio %.2f < %.2f", r.Ratio, tenantsRatioTarget))
	}
	if r.KapokGauges.Backends > tenantsBackendsTarget {
		miss = append(miss, fmt.Sprintf("backends %d > %d", r.KapokGauges.Backends, tenantsBackendsTarget))
	}
	if f := failures(r.KapokTouch, r.Kapok); f != "" {
		miss = append(miss, "Kapok "+f)
	}
	if f := failures(r.BaselineTouch, r.Baseline); f != "" {
		miss = append(miss, "baseline "+f)
	}
	if len(miss) == 0 {
		return "met"
	}
	return "missed: " + strings.Join(miss, "; ")
}

// failures describes a target's failed first requests and measured errors ("" when none).
func failures(t touched, s *Side) string {
	var out []string
	if t.Failed > 0 {
		out = append(out, fmt.Sprintf("%d first requests failed (%s)", t.Failed, t.FirstError))
	}
	if s.errorCount() > 0 {
		out = append(out, "errors "+errorSummary(s.Errors))
	}
	return strings.Join(out, ", ")
}

// refusals is a side's failed requests per second, with their statuses and other kinds
// of error.
func refusals(s *Side) string {
	e := s.errorCount()
	if e == 0 || s.seconds == 0 {
		return "0"
	}
	var kinds []string
	for code := range s.Statuses {
		if !strings.HasPrefix(code, "2") {
			kinds = append(kinds, code)
		}
	}
	slices.Sort(kinds)
	for _, k := range errKindNames {
		if n := s.Errors[k]; n > 0 && k != "status" {
			kinds = append(kinds, fmt.Sprintf("%s:%d", k, n))
		}
	}
	return fmt.Sprintf("%.0f/s (%s)", float64(e)/s.seconds, strings.Join(kinds, " "))
}

// briefly is an error on one line: its first, and the last line of the output a
// started process left (startProcess's errors quote it).
func briefly(err string) string {
	first, rest, _ := strings.Cut(err, "\n")
	first, quoted := strings.CutSuffix(first, "; its output:")
	lines := strings.Split(strings.TrimSpace(rest), "\n")
	if last := lines[len(lines)-1]; quoted && last != "" {
		first += " (its last words: " + last[:min(len(last), 200)] + ")"
	}
	return first
}
