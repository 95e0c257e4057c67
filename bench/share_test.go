package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestPgbenchScriptsRunTheBaselinesStatementDrawnAsTheScenario(t *testing.T) {
	st := statementsFor("demo")
	for _, c := range []struct {
		scenario, set, sql string
	}{
		{"q1-graphql", `\set p random(1, 1000)`, st.q1},
		{"q2-graphql", `\set p random(1, 1000)`, st.q2},
		{"q3-graphql", `\set p random(1, 1000)`, st.q3},
		{"q4-graphql", `\set p random(1, 1000)`, st.q4},
		{"q1-rest", `\set p random(1, 1000)`, st.q1},
		{"q2-rest", `\set p random(1, 1000)`, st.q2},
		{"q3-rest", `\set p random(1, 1000)`, st.q3},
		{"q4-rest", `\set p random(1, 1000)`, st.q4},
		{"q1-hot", `\set p 1`, st.q1},
		{"q1-zipf", `\set p random_zipfian(1, 1000, 1.1)`, st.q1},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			s, err := LoadScenario(c.scenario)
			if err != nil {
				t.Fatal(err)
			}
			s.ScaleRanges(0.01)
			got, err := pgbenchScript(s, "demo")
			want := c.set + "\n" + strings.ReplaceAll(c.sql, "$1", ":p") + ";\n"
			if err != nil || got != want {
				t.Errorf("script (err %v):\n%s\nwant:\n%s", err, got, want)
			}
		})
	}
	t.Run("scenarios that are not one workload read are refused", func(t *testing.T) {
		for name, want := range map[string]string{"write-rest": "one request", "multitenant": "one request"} {
			s, _ := LoadScenario(name)
			if _, err := pgbenchScript(s, "demo"); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %v, want one mentioning %q", name, err, want)
			}
		}
		s, _ := ParseScenario([]byte("name: x\nvars: {id: {range: [1, 9]}}\npath: /t/bench/rest/v1/products?id=eq.{{id}}"))
		if _, err := pgbenchScript(s, "demo"); err == nil || !strings.Contains(err.Error(), "none of the workload's reads") {
			t.Errorf("products: error %v", err)
		}
		s, _ = ParseScenario([]byte("name: x\nvars: {id: {range: [1, 9]}, n: {range: [1, 2]}}\npath: /t/bench/rest/v1/orders?customer_id=eq.{{id}}&x={{n}}"))
		if _, err := pgbenchScript(s, "demo"); err == nil || !strings.Contains(err.Error(), "one variable besides tenant") {
			t.Errorf("two variables: error %v", err)
		}
	})
}

func TestParsePgbenchReadsCountsAndTPS(t *testing.T) {
	out := `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: /tmp/q1.sql
scaling factor: 1
query mode: extended
number of clients: 2
number of threads: 2
maximum number of tries: 1
duration: 1 s
number of transactions actually processed: 7433
number of failed transactions: 3 (0.040%)
latency average = 0.267 ms
initial connection time = 7.652 ms
tps = 7484.606361 (without initial connection time)
`
	r, err := parsePgbench([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.OK != 7433 || r.Requests != 7436 || r.Errors["status"] != 3 || r.OKThroughput != 7484.606361 ||
		r.Duration < 0.99 || r.Duration > 1 {
		t.Errorf("parsed %+v", r)
	}
	if _, err := parsePgbench([]byte("pgbench: error: connection to server failed\n")); err == nil {
		t.Error("an output without a summary parsed")
	}
}

func TestKapokConfigSaysWhetherReadsAreShared(t *testing.T) {
	o := suiteOptions{poolerDSN: "postgres://u@h:1/kapok_bench", directDSN: "postgres://u@h:2/kapok_bench", kapokListen: "127.0.0.1:1", poolMaxConns: 8}
	cfg, _ := kapokConfig(o, "demo")
	if strings.Contains(string(cfg), "share_reads") {
		t.Errorf("the suite's config sets share_reads:\n%s", cfg)
	}
	o.shareReads = new(bool)
	cfg, _ = kapokConfig(o, "demo")
	if !strings.Contains(string(cfg), "\npools:\n  share_reads: false\n") {
		t.Errorf("config lacks pools.share_reads false:\n%s", cfg)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestShareMeasuresEveryTargetAndOnlyOneKapokShares runs `kapok bench share` for real: two
// Kapok processes built from this tree, the baseline and pgbench, on the dev stack's demo
// dataset, with 32 connections on pools of 8 so that reads wait for a connection.
func TestShareMeasuresEveryTargetAndOnlyOneKapokShares(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU per request is read from /proc")
	}
	if _, err := exec.LookPath("pgbench"); err != nil {
		if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench"); len(found) == 0 {
			t.Fatal("pgbench (PostgreSQL's client tools) is needed: ", err)
		}
	}
	bin := filepath.Join(t.TempDir(), "kapok")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/kapok-dev/kapok/cmd/kapok").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Schema demo of the dev database is the dataset at 1/100: q1-hot's customer 1 is in it.
	code := Main(ctx, []string{"share", "--skip-setup", "--json", "--scenarios", "q1-hot", "-c", "32", "--rounds", "2",
		"--duration", "500ms", "--warmup", "200ms", "--db", testenv.PoolerURL(), "--db-direct", testenv.DirectURL(),
		"--kapok-cmd", bin + " serve --config {config} --listen {listen}", "--kapok-listen", freeAddr(t), "--no-share-listen", freeAddr(t),
		"--baseline-cmd", ""}, &out, &errOut)
	var rep ShareReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || code != 0 || len(rep.Rows) != 1 {
		t.Fatalf("exit %d, %v\n%s\n%s", code, err, out.String(), errOut.String())
	}
	r := rep.Rows[0]
	for name, sd := range map[string]*Side{"share": r.Share, "no-share": r.NoShare, "baseline": r.Baseline, "pgbench": r.Pgbench} {
		if sd == nil {
			t.Errorf("%s not measured", name)
			continue
		}
		var errs uint64
		for _, n := range sd.Errors {
			errs += n
		}
		if sd.RPS <= 0 || sd.Requests == 0 || len(sd.Rounds) != 2 || errs > 0 {
			t.Errorf("%s: %.0f req/s, %d requests, rounds %v, errors %v", name, sd.RPS, sd.Requests, sd.Rounds, sd.Errors)
		}
	}
	if r.Coalesced == 0 || r.ShareCPU <= 0 || r.NoShareCPU <= 0 || r.BaselineCPU != 0 || r.ShareVsNoShare <= 0 || r.ShareVsPgbench <= 0 {
		t.Errorf("coalesced %d, CPU µs/req share %.0f no-share %.0f baseline %.0f, share/no-share %.2f, share/pgbench %.2f\n%s",
			r.Coalesced, r.ShareCPU, r.NoShareCPU, r.BaselineCPU, r.ShareVsNoShare, r.ShareVsPgbench, errOut.String())
	}
	if !strings.Contains(errOut.String(), "Kapok (share_reads false)") || !strings.Contains(errOut.String(), "Kapok (share_reads true)") {
		t.Errorf("log:\n%s", errOut.String())
	}
}
