package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The targets of `kapok bench wire`: Kapok's wire port against PgBouncer, both in
// transaction pooling, through the same pgbench.
const (
	// wireExtendedTarget: Kapok's transaction pooling, unnamed statements (-M extended),
	// against PgBouncer's on the same statements.
	wireExtendedTarget = 0.9
	// wirePreparedTarget: Kapok keeps prepared statements across transactions (-M
	// prepared), which PgBouncer 1.18 cannot: it runs the same script unnamed.
	wirePreparedTarget = 1.3
)

// WireSide is one target's pgbench figures, all rounds together.
type WireSide struct {
	Name string `json:"name"`
	Via  string `json:"via"`  // kapok or pgbouncer
	Mode string `json:"mode"` // pgbench's -M
	// TPS is the transactions processed over the time they took (without connecting),
	// summed over rounds; LatencyMS pgbench's latency average, weighted by transactions.
	TPS          float64   `json:"tps"`
	LatencyMS    float64   `json:"latency_avg_ms"`
	Transactions uint64    `json:"transactions"`
	Failed       uint64    `json:"failed"`
	Rounds       []float64 `json:"rounds_tps"`
	// CPUPerTx is the CPU time (µs) the serving process (Kapok, or PgBouncer) used per
	// transaction (0: not measured); Process names it.
	CPUPerTx float64 `json:"cpu_us_per_tx,omitempty"`
	Process  string  `json:"process,omitempty"`
	// IdlePct and StealPct are the shares of the machine's CPU time, while this target
	// ran, that no thread used (every client waiting on a stalled relay leaves the CPUs
	// idle) and that the hypervisor gave other guests (a noisy host, not the target).
	// MachineTicks is the CPU time they are shares of, in clock ticks (0: not measured).
	IdlePct      float64 `json:"machine_idle_pct"`
	StealPct     float64 `json:"machine_steal_pct"`
	MachineTicks uint64  `json:"machine_ticks,omitempty"`

	machine   cpuTicks
	seconds   float64
	latencyMS float64 // sum of latency × transactions
	pid       int
	cpu       time.Duration
}

func (s *WireSide) add(sum pgbenchSummary) {
	s.Transactions += sum.Processed
	s.Failed += sum.Failed
	s.seconds += float64(sum.Processed) / sum.TPS
	s.latencyMS += sum.LatencyMS * float64(sum.Processed)
	s.Rounds = append(s.Rounds, sum.TPS)
}

func (s *WireSide) finish() {
	if s.seconds > 0 {
		s.TPS = float64(s.Transactions) / s.seconds
	}
	if s.Transactions > 0 {
		s.LatencyMS = s.latencyMS / float64(s.Transactions)
		if s.pid != 0 {
			s.CPUPerTx = float64(s.cpu.Microseconds()) / float64(s.Transactions)
		}
	}
	s.IdlePct, s.StealPct = s.machine.shares()
	s.MachineTicks = s.machine.busy + s.machine.idle + s.machine.steal
}

// WireRatio is the median over rounds of one side's tps over another's in the same round.
type WireRatio struct {
	Name   string  `json:"name"`
	Ratio  float64 `json:"ratio"`
	Target float64 `json:"target"`
	Met    bool    `json:"met"`
}

// WireReport is the output of `kapok bench wire`.
type WireReport struct {
	Script       string `json:"script"` // select-only or tpcb-like
	Scale        int    `json:"scale"`
	Clients      int    `json:"clients"`
	Threads      int    `json:"threads"`
	Seconds      int    `json:"seconds"` // per target per round
	Rounds       int    `json:"rounds"`
	PoolMaxConns int    `json:"pool_max_conns"` // Kapok's tenant pool (0: a running Kapok's own)
	// KapokProcs is the GOMAXPROCS the Kapok started reports on /metrics (0: not known).
	KapokProcs int          `json:"kapok_procs,omitempty"`
	KapokWire  string       `json:"kapok_wire"`
	Pooler     string       `json:"pooler"`
	Pgbench    string       `json:"pgbench"`
	Sides      []*WireSide  `json:"sides"`
	Ratios     []*WireRatio `json:"ratios"`
}

type wireOptions struct {
	quick                  bool
	kapokWire              string
	pid                    int
	kapokCmd               string
	kapokListen            string
	wireListen             string
	devUp                  string
	directDSN, poolerDSN   string
	tenant                 string
	user, database         string
	password               string
	scale                  int
	script                 string
	clients, threads       int
	seconds, rounds, warm  int
	poolMaxConns           int
	procs                  int
	pgbench                string
	skipSetup              bool
	asJSON, printConfig    bool
	schema, role, upstream string // derived
}

func cmdWire(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wire", flag.ContinueOnError)
	var o wireOptions
	fs.BoolVar(&o.quick, "quick", false, "3 rounds of 2 s, 1 s of warm-up")
	fs.StringVar(&o.kapokWire, "kapok-wire", "", "wire address (host:port) of a running Kapok serving --tenant (default: start --kapok-cmd)")
	fs.IntVar(&o.pid, "pid", 0, "process id of the running Kapok, for its CPU time (default: the process listening on --kapok-wire's port)")
	fs.StringVar(&o.kapokCmd, "kapok-cmd", "./bin/kapok serve --config {config} --listen {listen}", "command starting Kapok; {config} is the generated config file, {listen} its HTTP address")
	fs.StringVar(&o.kapokListen, "kapok-listen", "127.0.0.1:18280", "HTTP address of the Kapok started")
	fs.StringVar(&o.wireListen, "wire-listen", "127.0.0.1:18243", "wire address of the Kapok started")
	fs.StringVar(&o.devUp, "dev-up", "./bin/kapok dev up", "command bringing the dev stack up (skipped when its program is missing; empty: assume it is up)")
	fs.StringVar(&o.directDSN, "db-direct", "postgres://postgres@127.0.0.1:54320/kapok_bench?sslmode=disable", "direct superuser URL of the benchmark database (setup, and Kapok's upstream)")
	fs.StringVar(&o.poolerDSN, "db", "postgres://postgres@127.0.0.1:64320/kapok_bench?sslmode=disable", "PgBouncer URL of the benchmark database; pgbench connects through it as the tenant's role")
	fs.StringVar(&o.tenant, "tenant", "bench-wire", "the scratch tenant; its tables are in the schema of the same name with '_' for '-'")
	fs.StringVar(&o.user, "wire-user", "", "user pgbench gives Kapok and PgBouncer (default: the tenant's role kapok_t_<tenant>)")
	fs.StringVar(&o.database, "wire-database", "", "database pgbench gives Kapok (default: the tenant)")
	fs.StringVar(&o.password, "password", "kapok-bench-wire", "SCRAM password set on the tenant's role")
	fs.IntVar(&o.scale, "scale", 1, "pgbench scale factor of the tables (100,000 accounts each)")
	fs.StringVar(&o.script, "script", "select", "select (pgbench -S: one indexed read per transaction) or tpcb (pgbench's TPC-B-like default: 3 updates, a read and an insert)")
	fs.IntVar(&o.clients, "c", 8, "pgbench clients")
	fs.IntVar(&o.clients, "clients", 8, "pgbench clients (same as -c)")
	fs.IntVar(&o.threads, "j", 2, "pgbench threads")
	fs.IntVar(&o.seconds, "seconds", 0, "pgbench -T per target per round (default 5, quick 2)")
	fs.IntVar(&o.rounds, "rounds", 0, "rounds; each runs every target once, in an order rotating by round (default 6, quick 3)")
	fs.IntVar(&o.warm, "warmup", 0, "seconds of pgbench per target before the rounds (default 2, quick 1)")
	fs.IntVar(&o.poolMaxConns, "pool-max-conns", 0, "server connections of the tenant in the Kapok started (default: -c, as many as PgBouncer gives the clients)")
	fs.IntVar(&o.procs, "kapok-procs", 1, "procs (GOMAXPROCS) of the Kapok started; 0: Go's default, every CPU (1, like PgBouncer's single thread, leaves the other CPUs to PostgreSQL and pgbench)")
	fs.StringVar(&o.pgbench, "pgbench", "", "pgbench to run (default: from PATH or /usr/lib/postgresql/*/bin)")
	fs.BoolVar(&o.skipSetup, "skip-setup", false, "assume the tenant's role, schema and pgbench tables exist")
	fs.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the config Kapok is started with, and exit")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if err := o.complete(); err != nil {
		fmt.Fprintf(stderr, "kapok bench wire: %v\n", err)
		return 2
	}
	if o.printConfig {
		cfg, err := o.kapokConfig()
		if err != nil {
			fmt.Fprintf(stderr, "kapok bench wire: %v\n", err)
			return 2
		}
		stdout.Write(cfg)
		return 0
	}
	code, err := runWire(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "kapok bench wire: %v\n", err)
	}
	return code
}

// complete fills the defaults that depend on other flags and checks them.
func (o *wireOptions) complete() error {
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = map[bool]int{false: full, true: quick}[o.quick]
		}
	}
	def(&o.seconds, 5, 2)
	def(&o.rounds, 6, 3)
	def(&o.warm, 2, 1)
	if o.poolMaxConns == 0 {
		o.poolMaxConns = o.clients
	}
	switch {
	case o.script != "select" && o.script != "tpcb":
		return fmt.Errorf("--script %q: want select or tpcb", o.script)
	case o.clients <= 0 || o.threads <= 0 || o.seconds <= 0 || o.rounds <= 0 || o.warm < 0 || o.scale <= 0 || o.poolMaxConns <= 0:
		return errors.New("-c, -j, --seconds, --rounds, --scale and --pool-max-conns must be positive")
	case o.procs < 0:
		return errors.New("--kapok-procs must not be negative")
	case !tenantName.MatchString(o.tenant) || strings.Contains(o.tenant, "_") || len(fmt.Sprintf(benchTenantRole, o.tenant)) > 63:
		// Longer names get a hashed role from Kapok, which this command does not compute.
		return fmt.Errorf("--tenant %q: want a DNS label of at most %d characters", o.tenant, 63-len(fmt.Sprintf(benchTenantRole, "")))
	}
	o.threads = min(o.threads, o.clients)
	o.schema = TenantSchema(o.tenant)
	o.role = fmt.Sprintf(benchTenantRole, o.tenant)
	if o.user == "" {
		o.user = o.role
	}
	if o.database == "" {
		o.database = o.tenant
	}
	pc, err := pgconn.ParseConfig(o.poolerDSN)
	if err != nil {
		return fmt.Errorf("--db: %w", err)
	}
	o.upstream = pc.Database
	return nil
}

// kapokConfig is the config of the Kapok started: the tenant on the benchmark database, its
// wire server connections straight to PostgreSQL as the tenant's role (isolation login).
func (o *wireOptions) kapokConfig() ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# generated by kapok bench wire\nlisten: %s\nwire_listen: %s\nwire:\n  upstream: direct\n", o.kapokListen, o.wireListen)
	if o.procs > 0 {
		fmt.Fprintf(&b, "procs: %d\n", o.procs)
	}
	fmt.Fprintf(&b, "upstreams:\n  %s:\n    url: %s\n    pooler: %s\n", o.upstream, o.directDSN, o.poolerDSN)
	b.Write(TenantsConfig([]TenantEntry{{Name: o.tenant, Schemas: []string{o.schema}, Database: o.upstream, PoolMaxConns: o.poolMaxConns, Isolation: "login"}}))
	return []byte(b.String()), nil
}

// setupWire makes the tenant's role (LOGIN, the SCRAM password, search_path = its schema in
// the database, so that PgBouncer's sessions find the tables too), its schema and pgbench's
// tables at the scale (kept when they are there at that scale), and grants them to the role.
func setupWire(ctx context.Context, o wireOptions, pgbench string, logf func(string, ...any)) error {
	conn, err := connectCreatingDB(ctx, o.directDSN)
	if err != nil {
		return fmt.Errorf("benchmark database: %w (is the dev stack up? kapok dev up)", err)
	}
	defer conn.Close(context.Background())
	role, schema := pgx.Identifier{o.role}.Sanitize(), pgx.Identifier{o.schema}.Sanitize()
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	if _, err := conn.Exec(ctx, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "+lit(o.role)+") THEN CREATE ROLE "+role+
		" NOINHERIT; END IF; END $$; SET password_encryption = 'scram-sha-256'; ALTER ROLE "+role+" LOGIN PASSWORD "+lit(o.password)+
		"; ALTER ROLE "+role+" IN DATABASE "+pgx.Identifier{o.upstream}.Sanitize()+" SET search_path = "+schema+
		"; CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return fmt.Errorf("role %s: %w", o.role, err)
	}
	var branches int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+schema+".pgbench_branches").Scan(&branches); err != nil || branches != o.scale {
		t := time.Now()
		cmd := exec.CommandContext(ctx, pgbench, "-i", "-q", "-s", strconv.Itoa(o.scale), "-I", "dtGvp", o.directDSN)
		cmd.Env = append(os.Environ(), "PGOPTIONS=-c search_path="+o.schema)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pgbench -i: %w\n%s", err, tail(out, 2048))
		}
		logf("pgbench tables at scale %d in schema %s (%s)", o.scale, o.schema, time.Since(t).Round(time.Millisecond))
	}
	if _, err := conn.Exec(ctx, "GRANT USAGE ON SCHEMA "+schema+" TO "+role+"; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+schema+" TO "+role); err != nil {
		return fmt.Errorf("grants: %w", err)
	}
	return nil
}

// wireTarget is one pgbench configuration measured in every round.
type wireTarget struct {
	side *WireSide
	dsn  string
}

func runWire(ctx context.Context, o wireOptions, stdout, stderr io.Writer) (int, error) {
	began := time.Now()
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "wire: "+format+"\n", a...) }
	pgbench, err := findPgbench(o.pgbench)
	if err == nil && pgbench == "" {
		err = errors.New("pgbench not found: install PostgreSQL's client tools (apt-get install postgresql-contrib) or name it with --pgbench")
	}
	if err != nil {
		return 2, err
	}
	if !o.skipSetup {
		if err := runDevUp(ctx, strings.Fields(o.devUp), logf); err != nil {
			return 1, err
		}
		if err := setupWire(ctx, o, pgbench, logf); err != nil {
			return 1, err
		}
	}
	kapokPID, started := o.pid, o.kapokWire == ""
	if started {
		ln, err := net.Listen("tcp", o.wireListen)
		if err != nil {
			return 1, fmt.Errorf("cannot serve the wire port on %s: %w (a previous run still serving?)", o.wireListen, err)
		}
		ln.Close()
		cfg, err := o.kapokConfig()
		if err != nil {
			return 1, err
		}
		stop, _, pid, err := startKapokWith(ctx, "Kapok", cfg, o.kapokCmd, o.kapokListen, 0, logf)
		if err != nil {
			return 1, err
		}
		defer stop()
		if err := waitListening(ctx, o.wireListen, 10*time.Second); err != nil {
			return 1, fmt.Errorf("the Kapok started answers on %s but not on its wire port %s: %w", o.kapokListen, o.wireListen, err)
		}
		o.kapokWire, kapokPID = o.wireListen, pid
	} else if kapokPID == 0 {
		kapokPID = pidOfListener(o.kapokWire, "Kapok", logf)
	}
	pooler, err := pgconn.ParseConfig(o.poolerDSN)
	if err != nil {
		return 2, fmt.Errorf("--db: %w", err)
	}
	poolerAddr := net.JoinHostPort(pooler.Host, strconv.Itoa(int(pooler.Port)))
	poolerPID := pidOfListener(poolerAddr, "PgBouncer", logf)

	host, port, err := net.SplitHostPort(o.kapokWire)
	if err != nil {
		return 2, fmt.Errorf("--kapok-wire %q: %w", o.kapokWire, err)
	}
	conninfo := func(host, port, user, db string) string {
		return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable connect_timeout=10", connValue(host), connValue(port), connValue(user), connValue(db))
	}
	kapokDSN := conninfo(host, port, o.user, o.database)
	poolerDSN := conninfo(pooler.Host, strconv.Itoa(int(pooler.Port)), o.user, pooler.Database)
	targets := []*wireTarget{
		{side: &WireSide{Name: "Kapok -M extended", Via: "kapok", Mode: "extended", pid: kapokPID}, dsn: kapokDSN},
		{side: &WireSide{Name: "PgBouncer -M extended", Via: "pgbouncer", Mode: "extended", pid: poolerPID}, dsn: poolerDSN},
		{side: &WireSide{Name: "Kapok -M prepared", Via: "kapok", Mode: "prepared", pid: kapokPID}, dsn: kapokDSN},
	}
	for _, t := range targets {
		t.side.Process = processLabel(t.side.pid)
	}
	run := func(t *wireTarget, secs int) (pgbenchSummary, error) {
		args := []string{"-n", "-M", t.side.Mode, "-c", strconv.Itoa(o.clients), "-j", strconv.Itoa(o.threads), "-T", strconv.Itoa(secs)}
		if o.script == "select" {
			args = append(args, "-S")
		}
		args = append(args, t.dsn)
		cmd := exec.CommandContext(ctx, pgbench, args...)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+o.password, "PGAPPNAME=kapok-bench-wire")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return pgbenchSummary{}, fmt.Errorf("%s: pgbench %s: %w\n%s", t.side.Name, strings.Join(args, " "), err, tail(out, 2048))
		}
		sum, err := parsePgbenchSummary(out)
		if err != nil {
			return sum, fmt.Errorf("%s: pgbench %s: %w\n%s", t.side.Name, strings.Join(args, " "), err, tail(out, 2048))
		}
		return sum, nil
	}
	if o.warm > 0 {
		for _, t := range targets { // server connections, prepared statements, the OS page cache
			if _, err := run(t, o.warm); err != nil {
				return 1, err
			}
		}
	}
	for round := range o.rounds {
		// Every target once per round, each round starting with the next one: the load of
		// the moment falls on all of them, and on none first every time.
		var line []string
		for i := range targets {
			t := targets[(round+i)%len(targets)]
			before, berr := processCPU(t.side.pid)
			mBefore, merr := machineTicks()
			sum, err := run(t, o.seconds)
			if err != nil {
				return 1, err
			}
			if mAfter, err := machineTicks(); merr == nil && err == nil {
				t.side.machine = t.side.machine.add(mAfter.sub(mBefore))
			}
			if after, aerr := processCPU(t.side.pid); t.side.pid != 0 && berr == nil && aerr == nil {
				t.side.cpu += after - before
			} else {
				t.side.pid = 0 // unreadable: report none rather than a part
			}
			t.side.add(sum)
			line = append(line, fmt.Sprintf("%s %.0f tps", t.side.Name, sum.TPS))
		}
		logf("round %d/%d: %s", round+1, o.rounds, strings.Join(line, ", "))
	}
	report := WireReport{Script: map[string]string{"select": "select-only", "tpcb": "tpcb-like"}[o.script], Scale: o.scale, Clients: o.clients,
		Threads: o.threads, Seconds: o.seconds, Rounds: o.rounds, KapokWire: o.kapokWire, Pooler: poolerAddr, Pgbench: pgbench}
	if started {
		report.PoolMaxConns = o.poolMaxConns
		if m, err := scrapeMetrics("http://" + o.kapokListen); err == nil {
			report.KapokProcs = int(m.sums["go_sched_gomaxprocs_threads"])
		} else {
			logf("the Kapok started did not say its GOMAXPROCS: %v", err)
		}
	}
	for _, t := range targets {
		t.side.finish()
		report.Sides = append(report.Sides, t.side)
	}
	ratio := func(name string, a, b *WireSide, target float64) *WireRatio {
		r := &WireRatio{Name: name, Ratio: medianRatio(a.Rounds, b.Rounds), Target: target}
		r.Met = r.Ratio >= target
		return r
	}
	ext, bouncer, prep := targets[0].side, targets[1].side, targets[2].side
	report.Ratios = []*WireRatio{
		ratio("Kapok -M extended / PgBouncer -M extended", ext, bouncer, wireExtendedTarget),
		ratio("Kapok -M prepared / PgBouncer -M extended", prep, bouncer, wirePreparedTarget),
	}
	if o.asJSON {
		_ = WriteJSON(stdout, report)
	} else {
		WriteWireTable(stdout, report)
	}
	logf("done in %s", time.Since(began).Round(time.Second))
	for _, s := range report.Sides {
		if s.Failed > 0 {
			return 1, fmt.Errorf("%s: %d failed transactions", s.Name, s.Failed)
		}
	}
	return 0, nil
}

// WriteWireTable writes the report of `kapok bench wire`.
func WriteWireTable(w io.Writer, r WireReport) {
	procs := ""
	if r.KapokProcs > 0 {
		procs = fmt.Sprintf(" (GOMAXPROCS %d)", r.KapokProcs)
	}
	fmt.Fprintf(w, "pgbench %s, scale %d, %d clients, %d threads, %d rounds of %d s; Kapok %s%s, PgBouncer %s\n",
		r.Script, r.Scale, r.Clients, r.Threads, r.Rounds, r.Seconds, r.KapokWire, procs, r.Pooler)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\ttps\tlatency avg\tfailed\tCPU µs/tx\tprocess\tmachine idle\tsteal\t")
	for _, s := range r.Sides {
		cpu, proc := "-", "-"
		if s.CPUPerTx > 0 {
			cpu, proc = fmt.Sprintf("%.1f", s.CPUPerTx), s.Process
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.3f ms\t%d\t%s\t%s\t%.0f%%\t%.0f%%\t\n", s.Name, s.TPS, s.LatencyMS, s.Failed, cpu, proc, s.IdlePct, s.StealPct)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ratio (median over rounds)\tvalue\ttarget\t\t")
	for _, q := range r.Ratios {
		verdict := "met"
		if !q.Met {
			verdict = "UNDER TARGET"
		}
		fmt.Fprintf(tw, "%s\t%.2f\t≥%.2f\t%s\t\n", q.Name, q.Ratio, q.Target, verdict)
	}
	tw.Flush()
}

// pidOfListener is the process listening on addr's port (0, logged, when none is visible).
func pidOfListener(addr, name string, logf func(string, ...any)) int {
	_, p, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		logf("%s's address %q has no port: its CPU time is not measured", name, addr)
		return 0
	}
	pid, err := listenerPID(port)
	if err != nil {
		logf("%s's CPU time is not measured: %v", name, err)
		return 0
	}
	return pid
}

// processLabel names process pid for the table: its command name and id.
func processLabel(pid int) string {
	if pid == 0 {
		return ""
	}
	if pid == os.Getpid() {
		return fmt.Sprintf("in-process (pid %d)", pid)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("%s (pid %d)", strings.TrimSpace(string(comm)), pid)
}

// waitListening waits until addr accepts TCP connections.
func waitListening(ctx context.Context, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// connValue quotes a libpq keyword/value connection string value.
func connValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
