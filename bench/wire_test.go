package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestParsePgbenchSummaryReadsTheClosingLines(t *testing.T) {
	for _, c := range []struct {
		name, out string
		want      pgbenchSummary
		err       string
	}{
		{name: "PostgreSQL 15, with failures", out: `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: prepared
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 98765
number of failed transactions: 12 (0.012%)
latency average = 0.405 ms
initial connection time = 11.346 ms
tps = 19753.012345 (without initial connection time)
`, want: pgbenchSummary{Processed: 98765, Failed: 12, TPS: 19753.012345, LatencyMS: 0.405}},
		{name: "an older pgbench: no failed line, tps twice", out: `transaction type: <builtin: TPC-B (sort of)>
number of transactions actually processed: 5000
latency average = 1.600 ms
tps = 4990.100000 (including connections establishing)
tps = 5000.250000 (excluding connections establishing)
tps = 5001.5 (without initial connection time)
`, want: pgbenchSummary{Processed: 5000, TPS: 5001.5, LatencyMS: 1.6}},
		{name: "an aborted run has no summary", out: "pgbench: error: client 0 aborted in command 1 (SQL) of script 0; ERROR:  permission denied\n",
			err: "no transaction count and tps"},
		{name: "a count that is no number", out: "number of transactions actually processed: many\ntps = 1 (without initial connection time)\n",
			err: "invalid syntax"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parsePgbenchSummary([]byte(c.out))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("error %v, want one with %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("got %+v (err %v), want %+v", got, err, c.want)
			}
		})
	}
}

func TestWireSidesWeighLatencyByTransactions(t *testing.T) {
	s := &WireSide{pid: 1, cpu: 3 * time.Second}
	s.add(pgbenchSummary{Processed: 1000, TPS: 1000, LatencyMS: 1})
	s.add(pgbenchSummary{Processed: 3000, TPS: 1500, LatencyMS: 2})
	s.finish()
	// 4000 transactions in 1 s + 2 s; latency (1×1000 + 2×3000) / 4000; 3 s of CPU / 4000.
	if s.TPS != 4000.0/3 || s.LatencyMS != 1.75 || s.CPUPerTx != 750 || len(s.Rounds) != 2 || s.Rounds[1] != 1500 {
		t.Errorf("%+v", s)
	}
}

func TestWireFlags(t *testing.T) {
	t.Run("the Kapok started serves the tenant on its wire port with a direct upstream and a pool of -c", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), []string{"wire", "--print-config", "-c", "12", "--tenant", "bench-w", "--wire-listen", "127.0.0.1:7001"}, &out, &errb)
		cfg := out.String()
		for _, want := range []string{"\nwire_listen: 127.0.0.1:7001\nwire:\n  upstream: direct\n", "  - name: bench-w\n", "schemas: [bench_w]",
			"isolation: login", "pool: {max_conns: 12}", "url: postgres://postgres@127.0.0.1:54320/kapok_bench", "\nprocs: 1\n"} {
			if code != 0 || !strings.Contains(cfg, want) {
				t.Errorf("exit %d, no %q in:\n%s%s", code, want, cfg, errb.String())
			}
		}
	})
	t.Run("--kapok-procs 0 leaves GOMAXPROCS to Go", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), []string{"wire", "--print-config", "--kapok-procs", "0"}, &out, &errb); code != 0 || strings.Contains(out.String(), "procs:") {
			t.Errorf("exit %d:\n%s%s", code, out.String(), errb.String())
		}
	})
	for _, args := range [][]string{{"--kapok-procs", "-1"}, {"--script", "tpc-c"}, {"-c", "0"}, {"--tenant", "Bench"}, {"--tenant", strings.Repeat("t", 56)}} {
		t.Run("refuses "+strings.Join(args, " "), func(t *testing.T) {
			var errb bytes.Buffer
			if code := Main(context.Background(), append([]string{"wire", "--print-config"}, args...), &bytes.Buffer{}, &errb); code != 2 {
				t.Errorf("exit %d\n%s", code, errb.String())
			}
		})
	}
}

// wireBenchTenant drops the role and schema `kapok bench wire` makes for tenant, now and
// when the test ends. The sessions of the role end first: PgBouncer would keep its server
// connections of a dropped role, and a role made again under the same name would get them,
// with the old role's privileges (none on the new schema, which search_path then skips).
func wireBenchTenant(t *testing.T, tenant string) {
	t.Helper()
	role, schema := "kapok_t_"+tenant, TenantSchema(tenant)
	drop := func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err != nil {
			t.Fatalf("PostgreSQL is not reachable at %s: %v", testenv.DirectURL(), err)
		}
		defer c.Close(context.Background())
		_, err = c.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'kapok-bench-wire' AND (usename = $1 OR usename IS NULL)`, role)
		if err != nil {
			t.Logf("sessions of %s: %v", role, err)
		}
		_, err = c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE; "+
			"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '"+role+"') THEN DROP OWNED BY "+pgx.Identifier{role}.Sanitize()+
			"; DROP ROLE "+pgx.Identifier{role}.Sanitize()+"; END IF; END $$")
		if err != nil {
			t.Logf("drop %s, %s: %v", schema, role, err)
		}
	}
	drop()
	t.Cleanup(drop)
}

func checkWireReport(t *testing.T, rep WireReport, rounds int) {
	t.Helper()
	if len(rep.Sides) != 3 || len(rep.Ratios) != 2 {
		t.Fatalf("report %+v", rep)
	}
	for _, s := range rep.Sides {
		if s.Transactions == 0 || s.Failed != 0 || s.TPS <= 0 || s.LatencyMS <= 0 || len(s.Rounds) != rounds {
			t.Errorf("%s: %+v", s.Name, s)
		}
	}
	for _, r := range rep.Ratios {
		if r.Ratio <= 0 {
			t.Errorf("ratio %+v", r)
		}
	}
	if b := rep.Sides[1]; b.Via != "pgbouncer" || b.CPUPerTx <= 0 || !strings.Contains(b.Process, "pgbouncer") {
		t.Errorf("PgBouncer's CPU: %+v", b)
	}
	for _, s := range rep.Sides {
		// The machine was sampled around every run, and pgbench, the relay and PostgreSQL
		// kept its CPUs busy some of the time.
		if s.MachineTicks == 0 || s.IdlePct+s.StealPct >= 100 || s.IdlePct < 0 || s.StealPct < 0 {
			t.Errorf("%s: machine idle %.1f%%, steal %.1f%% of %d ticks", s.Name, s.IdlePct, s.StealPct, s.MachineTicks)
		}
	}
}

// TestWireBenchAgainstPostgreSQLInKapoksPlace runs the whole command with PostgreSQL itself
// given as the wire address (--kapok-wire, --wire-database): the setup, pgbench through both
// addresses in both modes, the rounds and the report, without Kapok.
func TestWireBenchAgainstPostgreSQLInKapoksPlace(t *testing.T) {
	if _, err := findPgbench(""); err != nil {
		t.Fatal(err)
	}
	direct, err := pgconn.ParseConfig(testenv.DirectURL())
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "bench-wire-pg"
	wireBenchTenant(t, tenant)
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Main(ctx, []string{"wire", "--json", "--dev-up", "", "--tenant", tenant, "--db-direct", testenv.DirectURL(), "--db", testenv.PoolerURL(),
		"--kapok-wire", net.JoinHostPort(direct.Host, strconv.Itoa(int(direct.Port))), "--wire-database", direct.Database,
		"-c", "4", "--seconds", "1", "--rounds", "2", "--warmup", "1"}, &out, &errb)
	var rep WireReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out.String(), errb.String())
	}
	checkWireReport(t, rep, 2)
	if rep.PoolMaxConns != 0 || !strings.Contains(rep.Sides[0].Process, "postgres") {
		t.Errorf("pool %d, process %q", rep.PoolMaxConns, rep.Sides[0].Process)
	}
}

// TestWireBenchStartsKapok runs `kapok bench wire` as `make bench` users would: a Kapok
// built from this tree, started with the generated config, serving the scratch tenant on
// its wire port.
func TestWireBenchStartsKapok(t *testing.T) {
	if _, err := findPgbench(""); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "kapok")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/kapok-dev/kapok/cmd/kapok").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const tenant = "bench-wire-e2e"
	wireBenchTenant(t, tenant)
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Main(ctx, []string{"wire", "--json", "--dev-up", "", "--tenant", tenant, "--db-direct", testenv.DirectURL(), "--db", testenv.PoolerURL(),
		"--kapok-cmd", bin + " serve --config {config} --listen {listen}", "--kapok-listen", freeAddr(t), "--wire-listen", freeAddr(t),
		"-c", "4", "--seconds", "1", "--rounds", "2", "--warmup", "1", "--script", "tpcb"}, &out, &errb)
	var rep WireReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out.String(), errb.String())
	}
	checkWireReport(t, rep, 2)
	for _, s := range []*WireSide{rep.Sides[0], rep.Sides[2]} {
		if s.CPUPerTx <= 0 || !strings.Contains(s.Process, "kapok") {
			t.Errorf("%s: CPU %.1f µs/tx of %q", s.Name, s.CPUPerTx, s.Process)
		}
	}
	if rep.PoolMaxConns != 4 || rep.Script != "tpcb-like" || rep.KapokProcs != 1 {
		t.Errorf("pool %d, script %s, GOMAXPROCS %d", rep.PoolMaxConns, rep.Script, rep.KapokProcs)
	}
}

func TestProcessCPUOfThisProcessComesFromGetrusage(t *testing.T) {
	before, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Work, not wall time: on a loaded machine a busy loop of 30 ms may run for less.
	buf := make([]byte, 1<<20)
	for range 64 {
		sum := sha256.Sum256(buf)
		buf[0] ^= sum[0]
	}
	after, err := processCPU(os.Getpid())
	stat, serr := procStatCPU(os.Getpid())
	if err != nil || serr != nil || after-before < 10*time.Millisecond {
		t.Errorf("%s of CPU over 64 MiB of SHA-256 (err %v, %v)", after-before, err, serr)
	}
	if d := stat - after; d < -50*time.Millisecond || d > 50*time.Millisecond {
		t.Errorf("getrusage says %s, /proc/self/stat %s", after, stat)
	}
	if got := processLabel(os.Getpid()); !strings.HasPrefix(got, "in-process") {
		t.Errorf("label %q", got)
	}
}

func TestParseCPULineSplitsIdleStealAndBusy(t *testing.T) {
	stat := []byte("cpu  100 5 40 900 20 3 7 11 50 0\ncpu0 50 2 20 450 10 1 3 5 25 0\nintr 1 2 3\n")
	got, err := parseCPULine(stat)
	// busy: user+nice+system+irq+softirq (guest is inside user); idle: idle+iowait.
	if want := (cpuTicks{busy: 155, idle: 920, steal: 11}); err != nil || got != want {
		t.Fatalf("got %+v (err %v), want %+v", got, err, want)
	}
	idle, steal := got.shares()
	if idle < 84.71 || idle > 84.72 || steal < 1.01 || steal > 1.02 {
		t.Errorf("shares idle %.3f%%, steal %.3f%%", idle, steal)
	}
	for _, bad := range []string{"", "cpu 1 2 3\n", "cpu 1 2 3 x 5 6 7 8\n", "intr 1\n"} {
		if _, err := parseCPULine([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if tk, err := machineTicks(); err != nil || tk.busy+tk.idle == 0 {
		t.Errorf("this machine's /proc/stat: %+v, %v", tk, err)
	}
}
