package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/valyala/fasthttp"
)

// shareScenarios are the scenarios `kapok bench share` runs by default: the GraphQL reads,
// one REST read, and a hot and a skewed key, where coalescing has something to coalesce.
const shareScenarios = "q1-graphql,q2-graphql,q3-graphql,q4-graphql,q1-rest,q1-hot,q1-zipf"

// ShareRow compares, for one scenario at one number of connections, Kapok sharing the reads
// that wait for a connection, the same Kapok without, the baseline, and pgbench running the
// baseline's statement: how much sharing gains, and how near it comes to one statement per
// request through the same pooler.
type ShareRow struct {
	Scenario    string `json:"scenario"`
	Connections int    `json:"connections"`
	Share       *Side  `json:"share"`
	NoShare     *Side  `json:"no_share"`
	Baseline    *Side  `json:"baseline"`
	Pgbench     *Side  `json:"pgbench,omitempty"` // its latencies are not measured
	// Ratios of successful req/s: the median over rounds of the pair measured in the same round.
	ShareVsNoShare  float64 `json:"share_vs_no_share"`
	ShareVsBaseline float64 `json:"share_vs_baseline"`
	ShareVsPgbench  float64 `json:"share_vs_pgbench,omitempty"`
	// What the sharing Kapok counted while measured (kapok_*_requests_total, kapok_batch_size):
	// reads answered by an identical one's result, reads answered by a multiplexed
	// statement, and the mean number of distinct argument sets of those statements.
	Coalesced uint64  `json:"coalesced"`
	Batched   uint64  `json:"batched"`
	BatchSize float64 `json:"mean_batch_size"`
	// CPU time of the server's process per successful request, in microseconds (0: not measured).
	ShareCPU    float64 `json:"share_cpu_us_per_request,omitempty"`
	NoShareCPU  float64 `json:"no_share_cpu_us_per_request,omitempty"`
	BaselineCPU float64 `json:"baseline_cpu_us_per_request,omitempty"`
}

// ShareReport is the JSON output of `kapok bench share`.
type ShareReport struct {
	Schema       string      `json:"schema"` // the dataset: demo (full) or bench_demo (quick)
	PoolMaxConns int         `json:"pool_max_conns"`
	Seconds      float64     `json:"duration_s"` // per target per round
	Rounds       int         `json:"rounds"`
	Pgbench      string      `json:"pgbench,omitempty"`
	Rows         []*ShareRow `json:"rows"`
}

type shareOptions struct {
	suiteOptions
	noShareListen string
	conns         string
	pgbench       string
}

func cmdShare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("share", flag.ContinueOnError)
	var o shareOptions
	fs.BoolVar(&o.quick, "quick", false, "the small dataset (schema bench_demo) and rounds of 1 s")
	fs.StringVar(&o.scenarios, "scenarios", shareScenarios, "scenarios to run, comma-separated")
	fs.StringVar(&o.conns, "c", "32,128", "connections, comma-separated: every scenario runs at each")
	fs.StringVar(&o.kapokCmd, "kapok-cmd", "./bin/kapok serve --config {config} --listen {listen}", "command starting Kapok (twice: with and without shared reads); {config} is the generated config file, {listen} its address")
	fs.StringVar(&o.kapokListen, "kapok-listen", "127.0.0.1:18180", "address of the Kapok sharing reads")
	fs.StringVar(&o.noShareListen, "no-share-listen", "127.0.0.1:18181", "address of the Kapok not sharing them")
	fs.StringVar(&o.baselineURL, "baseline", "", "URL of a running baseline (default: start --baseline-cmd)")
	fs.StringVar(&o.baselineCmd, "baseline-cmd", "{self} bench baseline --listen {listen} --db {db} --schema {schema} --pool-max-conns {pool} --tenant-role {role}",
		"command starting the baseline ({self}: this executable); empty: serve it in-process")
	fs.StringVar(&o.baselineListen, "baseline-listen", "127.0.0.1:18190", "address for the baseline started")
	fs.StringVar(&o.pgbench, "pgbench", "", "pgbench to run the baseline's statements with (default: from PATH or /usr/lib/postgresql/*/bin; none: skip)")
	fs.StringVar(&o.devUp, "dev-up", "./bin/kapok dev up --scale full", "command bringing the stack up with the full dataset, as the suite's (without --scale under --quick; empty: assume it is up)")
	fs.StringVar(&o.directDSN, "db-direct", "postgres://postgres@127.0.0.1:54320/kapok_bench?sslmode=disable", "direct URL of the benchmark database (setup)")
	fs.StringVar(&o.poolerDSN, "db", "postgres://postgres@127.0.0.1:64320/kapok_bench?sslmode=disable", "PgBouncer URL of the benchmark database (requests, and pgbench's connections)")
	fs.IntVar(&o.rounds, "rounds", 4, "rounds per scenario and connections; each round runs every target once, in an order rotating by round")
	fs.DurationVar(&o.duration, "duration", 0, "measured time per target per round (default 5s, quick 1s; pgbench: rounded up to whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", 0, "warm-up per server per scenario and connections (default 2s, quick 400ms)")
	fs.IntVar(&o.poolMaxConns, "pool-max-conns", 8, "database pool size of the baseline and of Kapok's bench tenant")
	fs.BoolVar(&o.skipSetup, "skip-setup", false, "assume the dataset exists")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if o.duration == 0 {
		o.duration = map[bool]time.Duration{false: 5 * time.Second, true: time.Second}[o.quick]
	}
	if o.warmup == 0 {
		o.warmup = map[bool]time.Duration{false: 2 * time.Second, true: 400 * time.Millisecond}[o.quick]
	}
	code, err := runShare(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench share: %v\n", err)
	}
	return code
}

// comparedTarget is one of the servers (or pgbench) compared round by round on a scenario,
// and what it measured.
type comparedTarget struct {
	side    *Side
	pid     int // process whose CPU time is counted (0: none)
	cpu     time.Duration
	run     func(ctx context.Context, seed uint64, d time.Duration) (*Result, error)
	metrics string        // Kapok's /metrics, whose sharing counters are summed into shared
	shared  shareCounters // while measured
}

func (t *comparedTarget) measure(ctx context.Context, seed uint64, d time.Duration) error {
	var before shareCounters
	if t.metrics != "" {
		var err error
		if before, err = scrapeShareCounters(t.metrics); err != nil {
			return err
		}
	}
	cpuBefore, cerr := processCPU(t.pid)
	res, err := t.run(ctx, seed, d)
	if err != nil {
		return err
	}
	if after, err := processCPU(t.pid); t.pid != 0 && cerr == nil && err == nil {
		t.cpu += after - cpuBefore
	} else {
		t.pid = 0 // unreadable: report none rather than a part
	}
	if t.metrics != "" {
		after, err := scrapeShareCounters(t.metrics)
		if err != nil {
			return err
		}
		for i := range after {
			t.shared[i] += after[i] - before[i]
		}
	}
	t.side.add(res)
	return nil
}

// shareCounters are Kapok's kapok_coalesced_requests_total, kapok_batched_requests_total,
// kapok_batch_size_sum and kapok_batch_size_count.
type shareCounters [4]float64

var shareMetricNames = [4]string{"kapok_coalesced_requests_total", "kapok_batched_requests_total", "kapok_batch_size_sum", "kapok_batch_size_count"}

func scrapeShareCounters(url string) (shareCounters, error) {
	var c shareCounters
	code, body, err := fasthttp.GetTimeout(nil, url, 5*time.Second)
	if err == nil && code != 200 {
		err = fmt.Errorf("status %d", code)
	}
	if err != nil {
		return c, fmt.Errorf("%s: %w", url, err)
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if i := slices.Index(shareMetricNames[:], name); ok && i >= 0 {
			if c[i], err = strconv.ParseFloat(strings.TrimSpace(value), 64); err != nil {
				return c, fmt.Errorf("%s: %s: %w", url, name, err)
			}
		}
	}
	return c, nil
}

// measureRounds measures every target once per round for d, each round starting with the
// next one: the machine's load of the moment falls on all of them, and on none first every
// time.
func measureRounds(ctx context.Context, targets []*comparedTarget, rounds int, d time.Duration) error {
	for round := range rounds {
		for i := range targets {
			k := (round + i) % len(targets)
			if err := targets[k].measure(ctx, uint64(round*len(targets)+i+2), d); err != nil {
				return err
			}
		}
	}
	return nil
}

// cpuPerRequest is the target's CPU time per successful request in microseconds.
func (t *comparedTarget) cpuPerRequest() float64 {
	if t.pid == 0 || t.side.ok == 0 {
		return 0
	}
	return float64(t.cpu.Microseconds()) / float64(t.side.ok)
}

func runShare(ctx context.Context, o shareOptions, stdout, stderr io.Writer) (int, error) {
	began := time.Now()
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "share: "+format+"\n", a...) }
	var conns []int
	for _, f := range strings.Split(o.conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return 2, fmt.Errorf("-c %q: want connection counts like 32,128", o.conns)
		}
		conns = append(conns, n)
	}
	if o.rounds <= 0 {
		return 2, errors.New("--rounds must be positive")
	}
	mainSchema, scale := o.dataset()
	var sf scenarioFlags
	sf.tenant, sf.scale = "bench", scale
	list, err := sf.load(o.scenarios)
	if err != nil {
		return 2, err
	}
	pgbench, err := findPgbench(o.pgbench)
	if err != nil {
		return 2, err
	}
	scripts := map[string]string{}
	if pgbench != "" {
		dir, err := os.MkdirTemp("", "kapok-bench-pgbench-")
		if err != nil {
			return 1, err
		}
		defer os.RemoveAll(dir)
		for _, s := range list {
			text, err := pgbenchScript(s, mainSchema)
			if err != nil {
				return 2, err
			}
			scripts[s.Name] = filepath.Join(dir, s.Name+".sql")
			if err := os.WriteFile(scripts[s.Name], []byte(text), 0o644); err != nil {
				return 1, err
			}
		}
	} else {
		logf("pgbench not found: measuring without it (--pgbench names it)")
	}

	o.tenants = 0 // the bench tenant alone
	if !o.skipSetup {
		if err := prepareData(ctx, o.suiteOptions, mainSchema, scale, logf); err != nil {
			return 1, err
		}
	}
	stopBaseline, baselinePID, err := o.serveBaseline(ctx, mainSchema, logf)
	if err != nil {
		return 1, err
	}
	defer stopBaseline()
	share, noShare := o.suiteOptions, o.suiteOptions
	share.shareReads, noShare.shareReads = new(bool), new(bool)
	*share.shareReads = true
	noShare.kapokListen = o.noShareListen
	stopShare, shareURL, sharePID, err := startKapok(ctx, share, mainSchema, logf)
	if err != nil {
		return 1, err
	}
	defer stopShare()
	stopNoShare, noShareURL, noSharePID, err := startKapok(ctx, noShare, mainSchema, logf)
	if err != nil {
		return 1, err
	}
	defer stopNoShare()

	var progress io.Writer
	if isTerminal(stderr) {
		progress = stderr
	}
	report := ShareReport{Schema: mainSchema, PoolMaxConns: o.poolMaxConns, Seconds: o.duration.Seconds(), Rounds: o.rounds, Pgbench: pgbench}
	for _, s := range list {
		for _, c := range conns {
			row := &ShareRow{Scenario: s.Name, Connections: c, Share: &Side{}, NoShare: &Side{}, Baseline: &Side{}}
			httpRun := func(url string) func(context.Context, uint64, time.Duration) (*Result, error) {
				return func(ctx context.Context, seed uint64, d time.Duration) (*Result, error) {
					return Run(ctx, LoadConfig{Target: url, Connections: c, Duration: d, Timeout: 5 * time.Second, Seed: seed, Progress: progress}, s)
				}
			}
			targets := []*comparedTarget{
				{side: row.Share, pid: sharePID, run: httpRun(shareURL), metrics: shareURL + "/metrics"},
				{side: row.NoShare, pid: noSharePID, run: httpRun(noShareURL), metrics: noShareURL + "/metrics"},
				{side: row.Baseline, pid: baselinePID, run: httpRun(o.baselineURL)},
			}
			for _, t := range targets { // plan caches, pools, the OS page cache
				if _, err := t.run(ctx, 1, max(o.warmup, s.MinWarmup())); err != nil {
					return 1, err
				}
			}
			if pgbench != "" {
				row.Pgbench = &Side{}
				targets = append(targets, &comparedTarget{side: row.Pgbench, run: func(ctx context.Context, _ uint64, d time.Duration) (*Result, error) {
					return runPgbench(ctx, pgbench, o.poolerDSN, scripts[s.Name], s.Name, c, d)
				}})
			}
			if err := measureRounds(ctx, targets, o.rounds, o.duration); err != nil {
				return 1, err
			}
			for _, t := range targets {
				t.side.finish()
			}
			row.ShareVsNoShare = medianRatio(row.Share.Rounds, row.NoShare.Rounds)
			row.ShareVsBaseline = medianRatio(row.Share.Rounds, row.Baseline.Rounds)
			if row.Pgbench != nil {
				row.ShareVsPgbench = medianRatio(row.Share.Rounds, row.Pgbench.Rounds)
			}
			if n := targets[1].shared; n[0]+n[1] > 0 {
				return 1, fmt.Errorf("the Kapok started with share_reads false shared %.0f reads of %s: the comparison would be void", n[0]+n[1], s.Name)
			}
			sh := targets[0].shared
			row.Coalesced, row.Batched = uint64(sh[0]), uint64(sh[1])
			if sh[3] > 0 {
				row.BatchSize = sh[2] / sh[3]
			}
			row.ShareCPU, row.NoShareCPU, row.BaselineCPU = targets[0].cpuPerRequest(), targets[1].cpuPerRequest(), targets[2].cpuPerRequest()
			report.Rows = append(report.Rows, row)
			logf("%-11s c=%-4d share %.0f req/s, no-share %.0f, baseline %.0f, pgbench %.0f", s.Name, c,
				row.Share.RPS, row.NoShare.RPS, row.Baseline.RPS, pgbenchRPS(row))
		}
	}
	if o.asJSON {
		_ = WriteJSON(stdout, report)
	} else {
		WriteShareTable(stdout, report.Rows)
	}
	failed := false
	for _, r := range report.Rows {
		for _, sd := range []*Side{r.Share, r.NoShare, r.Baseline, r.Pgbench} {
			failed = failed || (sd != nil && (sd.errorCount() > 0 || sd.ok == 0))
		}
	}
	logf("done in %s (schema %s, pool %d, %d rounds of %s)", time.Since(began).Round(time.Second), mainSchema, o.poolMaxConns, o.rounds, o.duration)
	if failed {
		return 1, errors.New("some requests failed (the table's last column)")
	}
	return 0, nil
}

func pgbenchRPS(r *ShareRow) float64 {
	if r.Pgbench == nil {
		return 0
	}
	return r.Pgbench.RPS
}

// WriteShareTable writes the comparison of `kapok bench share`.
func WriteShareTable(w io.Writer, rows []*ShareRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tc\tshare req/s\tno-share\tbaseline\tpgbench\tshare/no-share\tshare/base\tshare/pgbench\tp99 share\tp99 no-share\tcoalesced\tbatched\tbatch\tCPU µs/req share\tno-share\tbaseline\t")
	opt := func(v float64, format string) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	for _, r := range rows {
		var errs []string
		for _, sd := range []struct {
			name string
			side *Side
		}{{"share", r.Share}, {"no-share", r.NoShare}, {"baseline", r.Baseline}, {"pgbench", r.Pgbench}} {
			if sd.side != nil && sd.side.errorCount() > 0 {
				errs = append(errs, sd.name+" "+errorSummary(sd.side.Errors))
			}
		}
		note := ""
		if len(errs) > 0 {
			note = "  errors: " + strings.Join(errs, "; ")
		}
		pct := func(n uint64) string {
			if r.Share.ok == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f%%", 100*float64(n)/float64(r.Share.ok))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t%s\t%.2f\t%.2f\t%s\t%.2fms\t%.2fms\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Connections,
			r.Share.RPS, r.NoShare.RPS, r.Baseline.RPS, opt(pgbenchRPS(r), "%.0f"), r.ShareVsNoShare, r.ShareVsBaseline, opt(r.ShareVsPgbench, "%.2f"),
			r.Share.P99, r.NoShare.P99, pct(r.Coalesced), pct(r.Batched), opt(r.BatchSize, "%.1f"),
			opt(r.ShareCPU, "%.0f"), opt(r.NoShareCPU, "%.0f"), opt(r.BaselineCPU, "%.0f"), note)
	}
	tw.Flush()
}

// findPgbench is the pgbench to run: name when given ("none": none), else the one on PATH,
// else that of the newest PostgreSQL under /usr/lib/postgresql; "" when there is none.
func findPgbench(name string) (string, error) {
	switch name {
	case "none":
		return "", nil
	case "":
	default:
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("--pgbench: %w", err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	major := func(p string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	slices.SortFunc(found, func(a, b string) int { return major(a) - major(b) })
	if len(found) == 0 {
		return "", nil
	}
	return found[len(found)-1], nil
}

// pgbenchScript is a pgbench script running the baseline's statement for scenario s (a
// single read of the workload, on the tenant whose data is in schema) with its one parameter
// drawn as s draws it: uniformly (random), skewed (random_zipfian, the same law as a zipf
// range) or fixed.
func pgbenchScript(s *Scenario, schema string) (string, error) {
	c, err := compileScenario(s)
	if err != nil {
		return "", err
	}
	if len(c.reqs) != 1 {
		return "", fmt.Errorf("scenario %s: pgbench runs scenarios of one request, it has %d", s.Name, len(c.reqs))
	}
	g := newRequestGen(c, 1)
	r := g.next()
	st := statementsFor(schema)
	var sql string
	path, query, _ := strings.Cut(string(g.path), "?")
	if i := strings.Index(path, "/rest/v1/"); i >= 0 && r.method == "GET" {
		var args fasthttp.Args
		args.Parse(query)
		sql, _, _ = restRead(st, []byte(path[i+len("/rest/v1/"):]), &args)
	} else if strings.HasSuffix(path, "/v1/graphql") && r.method == "POST" {
		op, _ := jsonMember(g.body, "operationName")
		sql, _, _ = graphqlRead(st, op)
	}
	if sql == "" {
		return "", fmt.Errorf("scenario %s: %s %s is none of the workload's reads Q1–Q4", s.Name, r.method, g.path)
	}
	var param string
	for k := range s.Vars {
		if k != "tenant" {
			if param != "" {
				return "", fmt.Errorf("scenario %s: pgbench needs one variable besides tenant, it has %s and %s", s.Name, param, k)
			}
			param = k
		}
	}
	v := s.Vars[param]
	var set string
	switch {
	case len(v.Zipf) == 2:
		set = fmt.Sprintf("random_zipfian(%d, %d, %g)", v.Zipf[0], v.Zipf[1], v.S)
	case len(v.Range) == 2:
		set = fmt.Sprintf("random(%d, %d)", v.Range[0], v.Range[1])
	case len(v.List) == 1:
		if _, err := strconv.ParseInt(v.List[0], 10, 64); err != nil {
			return "", fmt.Errorf("scenario %s: variable %s: %q is not an integer", s.Name, param, v.List[0])
		}
		set = v.List[0]
	default:
		return "", fmt.Errorf("scenario %s: variable %s: pgbench draws ranges, zipf ranges and single values", s.Name, param)
	}
	return fmt.Sprintf("\\set p %s\n%s;\n", set, strings.ReplaceAll(sql, "$1", ":p")), nil
}

// runPgbench runs script for d (rounded up to whole seconds) with c clients, extended
// protocol (unnamed statements, as pgx through PgBouncer), and reads its summary.
func runPgbench(ctx context.Context, bin, dsn, script, scenario string, c int, d time.Duration) (*Result, error) {
	secs := max(1, int(math.Ceil(d.Seconds())))
	args := []string{"-n", "-M", "extended", "-c", strconv.Itoa(c), "-j", strconv.Itoa(min(c, runtime.NumCPU())),
		"-T", strconv.Itoa(secs), "-f", script, dsn}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "PGAPPNAME=kapok-bench-pgbench")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pgbench %s: %w\n%s", strings.Join(args, " "), err, tail(out, 2048))
	}
	res, err := parsePgbench(out)
	if err != nil {
		return nil, fmt.Errorf("pgbench %s: %w\n%s", strings.Join(args, " "), err, tail(out, 2048))
	}
	res.Scenario, res.Target, res.Mode, res.Connections, res.Workers = scenario, "pgbench", "closed", c, c
	return res, nil
}

// parsePgbench reads the transactions processed and failed and the tps (without the time
// to connect) of pgbench's summary.
func parsePgbench(out []byte) (*Result, error) {
	sum, err := parsePgbenchSummary(out)
	if err != nil {
		return nil, err
	}
	processed, failed, tps := sum.Processed, sum.Failed, sum.TPS
	res := &Result{Requests: processed + failed, OK: processed, OKThroughput: tps, Throughput: tps * float64(processed+failed) / float64(processed),
		Duration: float64(processed) / tps, Errors: map[string]uint64{}, StatusCodes: map[string]uint64{}, hist: &Histogram{}}
	if failed > 0 {
		res.Errors["status"] = failed
	}
	return res, nil
}

// pgbenchSummary is what pgbench's closing summary says of a run.
type pgbenchSummary struct {
	Processed uint64  // number of transactions actually processed
	Failed    uint64  // number of failed transactions
	TPS       float64 // tps without the initial connection time
	LatencyMS float64 // latency average, ms (0: not printed)
}

// parsePgbenchSummary reads the summary pgbench prints at the end of a run ("number of
// transactions actually processed: N", "number of failed transactions: N (x%)", "latency
// average = x ms", "tps = x (without initial connection time)").
func parsePgbenchSummary(out []byte) (pgbenchSummary, error) {
	var s pgbenchSummary
	seen := 0
	field := func(l, prefix string) (string, bool) {
		v, ok := strings.CutPrefix(l, prefix)
		if !ok {
			return "", false
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return "", false
		}
		return f[0], true
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		var err error
		if v, ok := field(l, "number of transactions actually processed: "); ok {
			s.Processed, err = strconv.ParseUint(v, 10, 64)
			seen++
		} else if v, ok := field(l, "number of failed transactions: "); ok {
			s.Failed, err = strconv.ParseUint(v, 10, 64)
		} else if v, ok := field(l, "latency average = "); ok {
			s.LatencyMS, err = strconv.ParseFloat(v, 64)
		} else if v, ok := field(l, "tps = "); ok && strings.Contains(l, "without initial connection time") {
			s.TPS, err = strconv.ParseFloat(v, 64)
			seen++
		}
		if err != nil {
			return s, fmt.Errorf("%q: %w", l, err)
		}
	}
	if seen != 2 || s.TPS <= 0 {
		return s, errors.New("no transaction count and tps in its output")
	}
	return s, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
