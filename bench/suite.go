package bench

import (
	"bufio"
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
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/valyala/fasthttp"
)

// Thresholds is bench/thresholds.json: the lowest Kapok/baseline throughput ratio the gate
// accepts, by default and per scenario.
type Thresholds struct {
	Default   float64            `json:"default"`
	Scenarios map[string]float64 `json:"scenarios,omitempty"`
}

// For is the threshold of one scenario.
func (t Thresholds) For(scenario string) float64 {
	if v, ok := t.Scenarios[scenario]; ok {
		return v
	}
	return t.Default
}

// LoadThresholds reads a thresholds file.
func LoadThresholds(path string) (Thresholds, error) {
	t := Thresholds{Default: 0.80}
	data, err := os.ReadFile(path)
	if err != nil {
		return t, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// benchTenantPrefix names the multitenant scenario's tenants (its tenant variable's format).
const benchTenantPrefix = "bench-t"

// benchTenantRole is the role Kapok gives those tenants (isolation: role, see kapokConfig):
// the baseline switches to it too, so that both sides pay for keeping tenants apart.
const benchTenantRole = "kapok_t_%s"

// SuiteRow compares Kapok and the baseline on one scenario, over all rounds.
type SuiteRow struct {
	Scenario  string  `json:"scenario"`
	Kapok     *Side   `json:"kapok"`
	Baseline  *Side   `json:"baseline"`
	Ratio     float64 `json:"ratio"` // median over rounds of Kapok ok req/s ÷ baseline ok req/s of the same round
	Threshold float64 `json:"threshold"`
	Pass      bool    `json:"pass"`
	Reason    string  `json:"reason,omitempty"`
}

// Side is one target's figures for a scenario, all rounds merged.
type Side struct {
	RPS      float64           `json:"rps"` // successful requests per second
	Requests uint64            `json:"requests"`
	Errors   map[string]uint64 `json:"errors"`
	Statuses map[string]uint64 `json:"status_codes"`
	P50      float64           `json:"p50_ms"`
	P99      float64           `json:"p99_ms"`
	Rounds   []float64         `json:"rounds_rps"`
	hist     Histogram
	seconds  float64
	ok       uint64
}

func (s *Side) add(r *Result) {
	if s.Errors == nil {
		s.Errors, s.Statuses = map[string]uint64{}, map[string]uint64{}
	}
	s.hist.Merge(r.hist)
	s.seconds += r.Duration
	s.ok += r.OK
	s.Requests += r.Requests
	for k, v := range r.Errors {
		s.Errors[k] += v
	}
	for k, v := range r.StatusCodes {
		s.Statuses[k] += v
	}
	s.Rounds = append(s.Rounds, r.OKThroughput)
}

func (s *Side) finish() {
	if s.seconds > 0 {
		s.RPS = float64(s.ok) / s.seconds
	}
	s.P50, s.P99 = ms(s.hist.Quantile(0.5)), ms(s.hist.Quantile(0.99))
}

func (s *Side) errorCount() uint64 { return s.Requests - s.ok }

// judge fills the ratio and verdict of a row.
func (r *SuiteRow) judge(th Thresholds) {
	r.Pass, r.Reason = false, ""
	r.Threshold = th.For(r.Scenario)
	r.Ratio = medianRatio(r.Kapok.Rounds, r.Baseline.Rounds)
	switch {
	case r.Baseline.errorCount() > 0 || r.Baseline.RPS == 0:
		r.Reason = fmt.Sprintf("baseline errors: %s", errorSummary(r.Baseline.Errors))
	case r.Kapok.Requests == 0:
		r.Reason = "Kapok not measured"
	case r.Kapok.errorCount() > 0:
		r.Reason = fmt.Sprintf("Kapok errors: %s", errorSummary(r.Kapok.Errors))
	case r.Ratio < r.Threshold:
		r.Reason = fmt.Sprintf("ratio %.2f under %.2f", r.Ratio, r.Threshold)
	default:
		r.Pass = true
	}
}

// medianRatio pairs each round of a with the round of b run next to it: the machine's
// load drifts, and a pair shares it. The median keeps one disturbed pair from deciding.
func medianRatio(a, b []float64) float64 {
	var rs []float64
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			rs = append(rs, a[i]/b[i])
		}
	}
	if len(rs) == 0 {
		return 0
	}
	slices.Sort(rs)
	if len(rs)%2 == 1 {
		return rs[len(rs)/2]
	}
	return (rs[len(rs)/2-1] + rs[len(rs)/2]) / 2
}

// WriteSuiteTable writes the comparison table.
func WriteSuiteTable(w io.Writer, rows []*SuiteRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tKapok req/s\tbaseline req/s\tratio\tKapok p50\tKapok p99\tbase p50\tbase p99\tgate\t")
	for _, r := range rows {
		verdict := "  ok"
		if !r.Pass {
			verdict = "  FAIL: " + r.Reason
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.2fms\t%.2fms\t%.2fms\t%.2fms\t≥%.2f\t%s\n", r.Scenario, r.Kapok.RPS, r.Baseline.RPS, r.Ratio,
			r.Kapok.P50, r.Kapok.P99, r.Baseline.P50, r.Baseline.P99, r.Threshold, verdict)
	}
	tw.Flush()
}

type suiteOptions struct {
	quick                       bool
	adminKey                    string // written to the config when set (kapok bench tenants' create phase)
	kapokURL, baselineURL       string
	kapokCmd, baselineCmd       string
	kapokListen, baselineListen string
	devUp                       string
	directDSN, poolerDSN        string
	thresholdFile               string
	scenarios                   string
	rounds                      int
	duration, warmup            time.Duration
	connections                 int
	poolMaxConns                int
	skipSetup                   bool
	microbench                  bool
	benchtime                   string
	tenants                     int
	confirm                     bool
	confirmMax                  int
	asJSON                      bool
	printConfig                 bool
	shareReads                  *bool         // pools.share_reads of the Kapok started (nil: Kapok's default)
	startTimeout                time.Duration // for a started server to answer /healthz (0: 30s)
	// Of the multitenant scenario's tenants in the generated config:
	tenantSchemas      int           // > 0: tenant i is on the schema of tenant i mod tenantSchemas (registered tenants without data of their own)
	tenantMaxInFlight  int           // pool.max_in_flight (0: Kapok's default)
	tenantQueueTimeout time.Duration // pool.queue_timeout (0: Kapok's default)
	tenancy            *tenancyOptions
}

// tenancyOptions is the config's tenancy block: how many tenants Kapok loads at start
// (the others on their first request), and after how long unused a loaded one is let go.
type tenancyOptions struct {
	eagerLoadMax   int
	hibernateAfter time.Duration // 0: not written
}

// SuiteReport is the suite's JSON output.
type SuiteReport struct {
	Rows       []*SuiteRow `json:"rows"`
	Pass       bool        `json:"pass"`
	Microbench string      `json:"microbench,omitempty"`
}

func cmdSuite(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	var o suiteOptions
	fs.BoolVar(&o.quick, "quick", false, "CI size: the small dataset (schema bench_demo), 4 rounds of 1 s, short micro-benchmarks (< 3 min)")
	fs.StringVar(&o.kapokURL, "kapok", "", "URL of a running Kapok (default: start --kapok-cmd)")
	fs.StringVar(&o.baselineURL, "baseline", "", "URL of a running baseline (default: serve one in-process)")
	fs.StringVar(&o.kapokCmd, "kapok-cmd", "./bin/kapok serve --config {config} --listen {listen}", "command starting Kapok; {config} is the generated config file, {listen} its address")
	fs.StringVar(&o.kapokListen, "kapok-listen", "127.0.0.1:18080", "address for the Kapok the suite starts")
	fs.StringVar(&o.baselineCmd, "baseline-cmd", "{self} bench baseline --listen {listen} --db {db} --schema {schema} --pool-max-conns {pool} --tenant-role {role}",
		"command starting the baseline as a process of its own, like Kapok ({self}: this executable); empty: serve it in-process")
	fs.StringVar(&o.baselineListen, "baseline-listen", "127.0.0.1:18090", "address for the baseline the suite starts")
	fs.StringVar(&o.devUp, "dev-up", "./bin/kapok dev up --scale full", "command bringing the stack up with the full dataset (skipped when its program is missing; ignored by --quick, which runs it without --scale)")
	fs.StringVar(&o.directDSN, "db-direct", "postgres://postgres@127.0.0.1:54320/kapok_bench?sslmode=disable", "direct URL of the benchmark database (setup)")
	fs.StringVar(&o.poolerDSN, "db", "postgres://postgres@127.0.0.1:64320/kapok_bench?sslmode=disable", "PgBouncer URL of the benchmark database (requests)")
	fs.StringVar(&o.thresholdFile, "threshold-file", "bench/thresholds.json", "gate thresholds")
	fs.StringVar(&o.scenarios, "scenarios", strings.Join(GateNames(), ","), "scenarios to run, comma-separated (built-ins marked gate: false run only when named)")
	fs.IntVar(&o.rounds, "rounds", 0, "rounds per scenario, alternately Kapok then baseline and baseline then Kapok; keep it even (default 4)")
	fs.DurationVar(&o.duration, "duration", 0, "measured time per target per round (default 5s, quick 1s)")
	fs.DurationVar(&o.warmup, "warmup", 0, "warm-up per target per scenario (default 2s, quick 400ms)")
	fs.IntVar(&o.connections, "c", 16, "connections")
	fs.IntVar(&o.poolMaxConns, "pool-max-conns", 8, "database pool size of the baseline and of Kapok's bench tenant")
	fs.BoolVar(&o.skipSetup, "skip-setup", false, "assume the datasets, scratch table and tenants exist")
	fs.BoolVar(&o.microbench, "microbench", true, "also run and print the Go micro-benchmarks")
	fs.StringVar(&o.benchtime, "benchtime", "", "go test -benchtime (default 300ms, quick 50ms)")
	fs.IntVar(&o.tenants, "tenants", 100, "tenants of the multitenant scenario")
	fs.BoolVar(&o.confirm, "confirm", true, "measure a scenario under its threshold again (as many rounds), up to --confirm-max times, and judge it on all its rounds")
	fs.IntVar(&o.confirmMax, "confirm-max", 2, "most times a scenario under its threshold is measured again")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the config the suite starts Kapok with, and exit")
	fs.DurationVar(&o.startTimeout, "start-timeout", 30*time.Second, "how long a started Kapok or baseline may take to answer /healthz")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	o.defaultDuration(&o.duration, 5*time.Second, time.Second)
	o.defaultDuration(&o.warmup, 2*time.Second, 400*time.Millisecond)
	if o.rounds <= 0 {
		o.rounds = 4
	}
	if o.benchtime == "" {
		o.benchtime = map[bool]string{false: "300ms", true: "50ms"}[o.quick]
	}
	if o.printConfig {
		mainSchema, _ := o.dataset()
		cfg, err := kapokConfig(o, mainSchema)
		if err != nil {
			fmt.Fprintf(stderr, "kapok bench suite: %v\n", err)
			return 2
		}
		stdout.Write(cfg)
		return 0
	}
	code, err := runSuite(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench suite: %v\n", err)
	}
	return code
}

// defaultDuration sets *d, when not given, to full, or to quick under --quick.
func (o *suiteOptions) defaultDuration(d *time.Duration, full, quick time.Duration) {
	if *d == 0 {
		*d = map[bool]time.Duration{false: full, true: quick}[o.quick]
	}
}

// dataset is the bench tenant's schema and its scale: the full dataset that `kapok dev up
// --scale full` loads into schema demo, or (quick) a small copy of our own in schema bench_demo
// of the same database, so a quick run never replaces the full load.
func (o suiteOptions) dataset() (schema string, scale float64) {
	if o.quick {
		return "bench_demo", 0.01
	}
	return "demo", 1
}

func runSuite(ctx context.Context, o suiteOptions, stdout, stderr io.Writer) (int, error) {
	began := time.Now()
	th, err := LoadThresholds(o.thresholdFile)
	if err != nil {
		return 2, err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "suite: "+format+"\n", a...) }

	mainSchema, scale := o.dataset()
	if !o.skipSetup {
		if err := prepareData(ctx, o, mainSchema, scale, logf); err != nil {
			return 1, err
		}
	}

	stopBaseline, _, err := o.serveBaseline(ctx, mainSchema, logf)
	if err != nil {
		return 1, err
	}
	defer stopBaseline()
	if o.kapokURL == "" {
		stopKapok, url, _, err := startKapok(ctx, o, mainSchema, logf)
		if err != nil {
			// Still measure the baseline: its figures are worth having, and the gate fails anyway.
			logf("%v\nmeasuring the baseline alone", err)
		} else {
			defer stopKapok()
			o.kapokURL = url
		}
	}

	var sf scenarioFlags
	sf.tenant, sf.scale = "bench", scale
	list, err := sf.load(o.scenarios)
	if err != nil {
		return 2, err
	}
	for _, s := range list {
		spreadTenants(s, 0, o.tenants-1)
	}
	cfg := LoadConfig{Connections: o.connections, Duration: o.duration, Timeout: 5 * time.Second}
	var progress io.Writer
	if isTerminal(stderr) {
		progress = stderr
	}
	report := SuiteReport{Pass: true}
	for _, s := range list {
		row := &SuiteRow{Scenario: s.Name, Kapok: &Side{}, Baseline: &Side{}}
		type target struct {
			url  string
			side *Side
		}
		targets := []target{{o.kapokURL, row.Kapok}, {o.baselineURL, row.Baseline}}
		if o.kapokURL == "" {
			targets = targets[1:]
		}
		for _, t := range targets { // warm both first: plan caches, pools, the OS page cache
			if names := tenantsOf(s); names != nil {
				// Beyond tenancy.eager_load_max, Kapok loads a tenant on its first request:
				// the rounds measure tenants served, not tenants loading.
				touch, err := touchTenants(ctx, t.url, s, names, o.connections)
				if err != nil {
					return 1, err
				}
				msg := fmt.Sprintf("%-14s a first request to each of %d tenants of %s: %.1fs", s.Name, len(names), t.url, touch.Seconds)
				if touch.Failed > 0 {
					msg += fmt.Sprintf(", %d failed (%s)", touch.Failed, touch.FirstError)
				}
				logf("%s", msg)
			}
			wcfg := cfg
			wcfg.Target, wcfg.Duration, wcfg.Warmup = t.url, max(o.warmup, s.MinWarmup()), 0
			if _, err := Run(ctx, wcfg, s); err != nil {
				return 1, err
			}
		}
		measure := func(first, rounds int) error {
			for round := first; round < first+rounds; round++ {
				// A B, then B A: each pair shares the machine's load of its moment, and
				// neither side always runs first.
				order := targets
				if round%2 == 1 && len(targets) == 2 {
					order = []target{targets[1], targets[0]}
				}
				for i, t := range order {
					// A seed of its own per run: with the same values, the second run of a
					// pair would find the pages the first one read already cached.
					rcfg := cfg
					rcfg.Target, rcfg.Seed, rcfg.Progress = t.url, uint64(2*round+i+1), progress
					res, err := Run(ctx, rcfg, s)
					if err != nil {
						return err
					}
					t.side.add(res)
				}
			}
			row.Kapok.finish()
			row.Baseline.finish()
			row.judge(th)
			return nil
		}
		if err := measure(0, o.rounds); err != nil {
			return 1, err
		}
		for again := 1; o.confirm && again <= o.confirmMax && !row.Pass && row.Reason != "" && len(targets) == 2 &&
			row.Kapok.errorCount() == 0 && row.Baseline.errorCount() == 0; again++ {
			// Under the threshold without errors: as many rounds again, and the verdict
			// on the median of all of them. A passing scenario is not re-run, so this
			// only ever spares a verdict the noise of a few seconds on a shared machine;
			// a real regression stays under its threshold however often it is measured.
			logf("%-14s ratio %.2f under %.2f: measuring %d rounds more", s.Name, row.Ratio, row.Threshold, o.rounds)
			if err := measure(again*o.rounds, o.rounds); err != nil {
				return 1, err
			}
		}
		report.Pass = report.Pass && row.Pass
		report.Rows = append(report.Rows, row)
		logf("%-14s Kapok %.0f req/s, baseline %.0f req/s, ratio %.2f", s.Name, row.Kapok.RPS, row.Baseline.RPS, row.Ratio)
	}

	if o.microbench {
		out, err := runMicrobench(ctx, o.benchtime)
		report.Microbench = out
		if err != nil {
			logf("micro-benchmarks failed (not gated): %v", err)
		}
	}
	if o.asJSON {
		_ = WriteJSON(stdout, report)
	} else {
		// The table last, so the tail of a CI log shows the verdict's figures.
		if report.Microbench != "" {
			fmt.Fprintf(stdout, "micro-benchmarks:\n%s\n", report.Microbench)
		}
		WriteSuiteTable(stdout, report.Rows)
	}
	verdict := "pass"
	if !report.Pass {
		var failed []string
		for _, r := range report.Rows {
			if !r.Pass {
				failed = append(failed, r.Scenario+" ("+r.Reason+")")
			}
		}
		verdict = "FAIL (thresholds in " + o.thresholdFile + "): " + strings.Join(failed, ", ")
	}
	fmt.Fprintf(stderr, "suite: %s in %s\n", verdict, time.Since(began).Round(time.Second))
	if !report.Pass {
		return 1, nil
	}
	return 0, nil
}

// spreadTenants makes a scenario over many tenants (a tenant variable drawn from a
// formatted range, as multitenant's) draw tenants first…last.
func spreadTenants(s *Scenario, first, last int) {
	if v, ok := s.Vars["tenant"]; ok && v.Format != "" && len(v.Range) == 2 {
		v.Range = []int64{int64(first), int64(last)}
		s.Vars["tenant"] = v
	}
}

// tenantsOf lists the tenants a scenario over many tenants draws from: the values of its
// tenant variable, a formatted range (nil for other scenarios).
func tenantsOf(s *Scenario) []string {
	v, ok := s.Vars["tenant"]
	if !ok || v.Format == "" || len(v.Range) != 2 {
		return nil
	}
	var names []string
	for i := v.Range[0]; i <= v.Range[1]; i++ {
		names = append(names, fmt.Sprintf(v.Format, i))
	}
	return names
}

// serveBaseline makes o.baselineURL answer: --baseline as given, else --baseline-cmd
// started (pid is its process), else a baseline served in-process.
func (o *suiteOptions) serveBaseline(ctx context.Context, mainSchema string, logf func(string, ...any)) (stop func(), pid int, err error) {
	switch {
	case o.baselineURL != "":
		return func() {}, 0, nil
	case o.baselineCmd != "":
		stop, url, pid, err := startBaseline(ctx, *o, mainSchema, logf)
		if err != nil {
			return nil, 0, err
		}
		o.baselineURL = url
		return stop, pid, nil
	}
	b, err := NewBaseline(ctx, BaselineConfig{DSN: o.poolerDSN, DefaultTenant: "bench", DefaultSchema: mainSchema, MaxConns: int32(o.poolMaxConns),
		TenantRole: benchTenantRole})
	if err != nil {
		return nil, 0, err
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Close()
		return nil, 0, err
	}
	bctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		serveUntilDone(bctx, newServer(b.Handler), ln) //nolint:errcheck // ends with cancel
	}()
	o.baselineURL = "http://" + ln.Addr().String()
	logf("baseline in-process on %s (tenant bench = schema %s)", o.baselineURL, mainSchema)
	return func() { cancel(); <-served; b.Close() }, 0, nil
}

// prepareData brings the stack up (or assumes it is), checks or creates the bench tenant's
// dataset, the scratch table of the write scenarios and the multitenant scenario's tenants.
func prepareData(ctx context.Context, o suiteOptions, mainSchema string, scale float64, logf func(string, ...any)) error {
	fields := strings.Fields(o.devUp)
	if o.quick {
		fields = dropFlag(fields, "--scale")
	}
	if err := runDevUp(ctx, fields, logf); err != nil {
		return err
	}
	conn, err := connectCreatingDB(ctx, o.directDSN)
	if err != nil {
		return fmt.Errorf("benchmark database: %w (is the dev stack up? kapok dev up --scale full)", err)
	}
	defer conn.Close(context.Background())
	if o.quick {
		if err := SetupTenants(ctx, conn, []string{mainSchema}, scale, nil); err != nil {
			return err
		}
	} else {
		var n int64
		err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{mainSchema, "customers"}.Sanitize()).Scan(&n)
		if err != nil || n != 100000 {
			return fmt.Errorf("schema %s of the benchmark database does not hold the full dataset (%d customers, %v): run `kapok dev up --scale full`", mainSchema, n, err)
		}
	}
	q := pgx.Identifier{mainSchema}.Sanitize()
	if _, err := conn.Exec(ctx, "SET search_path TO "+q+";"+ScratchSQL+"RESET search_path;"); err != nil {
		return fmt.Errorf("scratch table: %w", err)
	}
	t := time.Now()
	if err := prepareTenants(ctx, conn, o.tenants); err != nil {
		return err
	}
	logf("dataset in schema %s, scratch table, %d tenants ready (%s)", mainSchema, o.tenants, time.Since(t).Round(time.Millisecond))
	return nil
}

// prepareTenants makes the multitenant scenario's first count tenants: their schemas
// (1/1000 copies of the dataset) and their roles.
func prepareTenants(ctx context.Context, conn *pgx.Conn, count int) error {
	names := TenantNames(benchTenantPrefix, count)
	schemas := make([]string, len(names))
	for i, n := range names {
		schemas[i] = TenantSchema(n)
	}
	if err := SetupTenants(ctx, conn, schemas, 0.001, nil); err != nil {
		return err
	}
	return SetupTenantRoles(ctx, conn, names, benchTenantRole)
}

// runDevUp runs the command bringing the dev stack up (fields: the program and its
// arguments), unless there is none or its program is missing.
func runDevUp(ctx context.Context, fields []string, logf func(string, ...any)) error {
	if len(fields) == 0 {
		return nil
	}
	if _, err := os.Stat(fields[0]); err != nil {
		logf("%s not found: assuming the dev stack is up", fields[0])
		return nil
	}
	logf("running %s", strings.Join(fields, " "))
	cmd := exec.CommandContext(ctx, fields[0], fields[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(fields, " "), err)
	}
	return nil
}

func dropFlag(fields []string, name string) []string {
	var out []string
	for i := 0; i < len(fields); i++ {
		switch {
		case fields[i] == name:
			i++
		case strings.HasPrefix(fields[i], name+"="):
		default:
			out = append(out, fields[i])
		}
	}
	return out
}

// kapokConfig is the configuration the suite starts Kapok with: tenant bench on the benchmark
// database's main schema, and the multitenant scenario's tenants.
func kapokConfig(o suiteOptions, mainSchema string) ([]byte, error) {
	pc, err := pgx.ParseConfig(o.poolerDSN)
	if err != nil {
		return nil, err
	}
	db := pc.Database
	entries := []TenantEntry{{Name: "bench", Schemas: []string{mainSchema}, Database: db, PoolMaxConns: o.poolMaxConns, Isolation: "login"}}
	names := TenantNames(benchTenantPrefix, o.tenants)
	owners := names // of the schemas
	if o.tenantSchemas > 0 {
		owners = TenantNames(benchTenantPrefix, o.tenantSchemas)
	}
	for i, n := range names {
		entries = append(entries, TenantEntry{Name: n, Schemas: []string{TenantSchema(owners[i%len(owners)])}, Database: db, Isolation: "role",
			MaxInFlight: o.tenantMaxInFlight, QueueTimeout: o.tenantQueueTimeout})
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# generated by kapok bench\nlisten: %s\ndefault_tenant: bench\n", o.kapokListen)
	if o.adminKey != "" {
		fmt.Fprintf(&b, "admin_key: %s\n", o.adminKey)
	}
	// The HTTP scenarios need no Postgres wire port; several of these Kapoks may run at once.
	b.WriteString("wire:\n  disabled: true\n")
	if o.shareReads != nil {
		fmt.Fprintf(&b, "pools:\n  share_reads: %t\n", *o.shareReads)
	}
	if t := o.tenancy; t != nil {
		fmt.Fprintf(&b, "tenancy:\n  eager_load_max: %d\n", t.eagerLoadMax)
		if t.hibernateAfter > 0 {
			fmt.Fprintf(&b, "  hibernate_after: %s\n", t.hibernateAfter)
		}
	}
	fmt.Fprintf(&b, "upstreams:\n  %s:\n    url: %s\n    pooler: %s\n    exec_mode: cache_describe\n", db, o.directDSN, o.poolerDSN)
	b.Write(TenantsConfig(entries))
	return b.Bytes(), nil
}

// startKapok runs --kapok-cmd with a generated config and waits for it to answer /healthz;
// pid is the process started.
func startKapok(ctx context.Context, o suiteOptions, mainSchema string, logf func(string, ...any)) (stop func(), url string, pid int, err error) {
	cfg, err := kapokConfig(o, mainSchema)
	if err != nil {
		return nil, "", 0, err
	}
	name := "Kapok"
	if o.shareReads != nil {
		name = fmt.Sprintf("Kapok (share_reads %t)", *o.shareReads)
	}
	return startKapokWith(ctx, name, cfg, o.kapokCmd, o.kapokListen, o.startTimeout, logf)
}

// startKapokWith writes cfg to a temporary file and runs cmdLine ({config}: that file,
// {listen}: listen, the HTTP address) until it answers /healthz (within: see startProcess);
// pid is the process started.
func startKapokWith(ctx context.Context, name string, cfg []byte, cmdLine, listen string, within time.Duration, logf func(string, ...any)) (stop func(), url string, pid int, err error) {
	dir, err := os.MkdirTemp("", "kapok-bench-")
	if err != nil {
		return nil, "", 0, err
	}
	path := filepath.Join(dir, "kapok.yaml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, "", 0, err
	}
	line := strings.NewReplacer("{config}", path, "{listen}", listen).Replace(cmdLine)
	url = "http://" + listen
	stopProcess, pid, err := startProcess(ctx, name, line, url, within, logf)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", 0, err
	}
	return func() { stopProcess(); os.RemoveAll(dir) }, url, pid, nil
}

// startBaseline runs --baseline-cmd ({self} is this executable) and waits for it to answer /healthz.
func startBaseline(ctx context.Context, o suiteOptions, mainSchema string, logf func(string, ...any)) (stop func(), url string, pid int, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", 0, err
	}
	line := strings.NewReplacer("{self}", self, "{listen}", o.baselineListen, "{db}", o.poolerDSN, "{schema}", mainSchema,
		"{pool}", fmt.Sprint(o.poolMaxConns), "{role}", benchTenantRole).Replace(o.baselineCmd)
	url = "http://" + o.baselineListen
	stop, pid, err = startProcess(ctx, "the baseline", line, url, o.startTimeout, logf)
	return stop, url, pid, err
}

// startProcess starts the command line (split on spaces) and waits until url/healthz answers 200,
// for at most within (0: 30 s). stop interrupts it and waits for it to exit.
func startProcess(ctx context.Context, name, line, url string, within time.Duration, logf func(string, ...any)) (stop func(), pid int, err error) {
	if within <= 0 {
		within = 30 * time.Second
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return nil, 0, fmt.Errorf("no command to start %s", name)
	}
	// Whatever answers on the address must be the process started here, not a leftover.
	addr := strings.TrimPrefix(url, "http://")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot start %s on %s: %w (a previous run still serving?)", name, addr, err)
	}
	ln.Close()
	cmd := exec.Command(fields[0], fields[1:]...)
	cmd.SysProcAttr = childProcAttr()
	logBuf := &tailBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = logBuf, logBuf
	if err := cmd.Start(); err != nil {
		return nil, 0, fmt.Errorf("start %s (%s): %w", name, line, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	logf("started %s: %s", name, line)
	deadline := time.Now().Add(within)
	for {
		code, _, herr := fasthttp.GetTimeout(nil, url+"/healthz", time.Second)
		if herr == nil && code == 200 {
			return stop, cmd.Process.Pid, nil
		}
		select {
		case err := <-exited:
			return nil, 0, fmt.Errorf("%s exited (%v) before answering %s/healthz; its output:\n%s", name, err, url, logBuf.String())
		case <-ctx.Done():
			stop()
			return nil, 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, 0, fmt.Errorf("%s did not answer %s/healthz within %s; its output:\n%s", name, url, within, logBuf.String())
		}
	}
}

// tailBuffer keeps the last max bytes written to it (a child's output, for error messages).
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// microbenchPackages are the trees whose benchmarks the suite prints (those that exist).
var microbenchPackages = []string{"planner", "cache", "bench", "proxy"}

func runMicrobench(ctx context.Context, benchtime string) (string, error) {
	var pkgs []string
	for _, p := range microbenchPackages {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			pkgs = append(pkgs, "./"+p+"/...")
		}
	}
	if len(pkgs) == 0 {
		return "", errors.New("no package trees found: run the suite from the repository root")
	}
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", benchtime, "-timeout", "10m"}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	// Keep the benchmark lines and failures; drop the per-package goos/goarch/cpu preamble.
	var kept strings.Builder
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "goos:") || strings.HasPrefix(l, "goarch:") || strings.HasPrefix(l, "cpu:") || l == "PASS" ||
			(strings.HasPrefix(l, "ok ") && !strings.Contains(l, "Benchmark")) || strings.HasPrefix(l, "?") {
			continue
		}
		kept.WriteString(l + "\n")
	}
	return "$ go " + strings.Join(args, " ") + "\n" + kept.String(), err
}
