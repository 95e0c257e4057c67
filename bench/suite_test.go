package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func thresholdsFile(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "thresholds.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runGate runs the suite on q1-graphql and q2-rest between two given servers.
func runGate(t *testing.T, kapok, baseline, thresholds string, extra ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	args := append([]string{"suite", "--kapok", kapok, "--baseline", baseline, "--threshold-file", thresholds,
		"--skip-setup", "--microbench=false", "--scenarios", "q1-graphql,q2-rest", "--rounds", "2",
		"--duration", "300ms", "--warmup", "50ms", "-c", "2"}, extra...)
	code := Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func fakeServer(t *testing.T, delay time.Duration) string {
	return serve(t, func(ctx *fasthttp.RequestCtx) {
		if delay > 0 {
			time.Sleep(delay)
		}
		ctx.SetBodyString(`{"data":{"x":1}}`)
	})
}

func TestSuiteGate(t *testing.T) {
	fast, slow := fakeServer(t, 0), fakeServer(t, 5*time.Millisecond)
	t.Run("passes when Kapok keeps up with the baseline", func(t *testing.T) {
		code, out, errOut := runGate(t, fast, slow, thresholdsFile(t, `{"default": 0.8}`))
		if code != 0 || strings.Contains(out, "FAIL") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("fails when a ratio is under the default threshold", func(t *testing.T) {
		code, out, errOut := runGate(t, slow, fast, thresholdsFile(t, `{"default": 0.8}`))
		if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "under 0.80") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("a scenario under its threshold is measured again twice, then judged on every round", func(t *testing.T) {
		code, out, errOut := runGate(t, slow, fast, thresholdsFile(t, `{"default": 0.8}`), "--json", "--scenarios", "q1-graphql")
		var rep struct {
			Pass bool `json:"pass"`
			Rows []struct {
				Kapok struct {
					Rounds []float64 `json:"rounds_rps"`
				} `json:"kapok"`
				Baseline struct {
					Rounds []float64 `json:"rounds_rps"`
				} `json:"baseline"`
			} `json:"rows"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if code != 1 || rep.Pass || len(rep.Rows) != 1 || len(rep.Rows[0].Kapok.Rounds) != 6 || len(rep.Rows[0].Baseline.Rounds) != 6 ||
			strings.Count(errOut, "measuring 2 rounds more") != 2 || !strings.Contains(errOut, "FAIL (thresholds in ") ||
			!strings.Contains(errOut, "q1-graphql (ratio ") {
			t.Errorf("exit %d report %+v\n%s", code, rep, errOut)
		}
		code, _, errOut = runGate(t, slow, fast, thresholdsFile(t, `{"default": 0.8}`), "--scenarios", "q1-graphql", "--confirm=false")
		if code != 1 || strings.Contains(errOut, "rounds more") {
			t.Errorf("--confirm=false: exit %d\n%s", code, errOut)
		}
		code, _, errOut = runGate(t, slow, fast, thresholdsFile(t, `{"default": 0.8}`), "--scenarios", "q1-graphql", "--confirm-max", "1")
		if code != 1 || strings.Count(errOut, "rounds more") != 1 {
			t.Errorf("--confirm-max 1: exit %d\n%s", code, errOut)
		}
	})
	t.Run("a per-scenario override lets that scenario pass", func(t *testing.T) {
		code, out, errOut := runGate(t, slow, fast, thresholdsFile(t, `{"default": 0.8, "scenarios": {"q1-graphql": 0, "q2-rest": 0}}`))
		if code != 0 {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("fails when Kapok answers with errors, however fast", func(t *testing.T) {
		broken := serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"errors":[{"message":"boom"}]}`) })
		code, out, errOut := runGate(t, broken, slow, thresholdsFile(t, `{"default": 0.8}`))
		if code != 1 || !strings.Contains(out, "Kapok errors: graphql:") {
			t.Errorf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("a malformed thresholds file is a usage error", func(t *testing.T) {
		code, _, errOut := runGate(t, fast, fast, thresholdsFile(t, `{"defualt": 0.8}`))
		if code != 2 || !strings.Contains(errOut, "defualt") {
			t.Errorf("exit %d, %s", code, errOut)
		}
	})
	t.Run("the JSON report carries every row and the verdict", func(t *testing.T) {
		code, out, _ := runGate(t, fast, slow, thresholdsFile(t, `{"default": 0.8}`), "--json")
		var rep struct {
			Pass bool `json:"pass"`
			Rows []struct {
				Scenario  string  `json:"scenario"`
				Ratio     float64 `json:"ratio"`
				Threshold float64 `json:"threshold"`
				Pass      bool    `json:"pass"`
				Kapok     struct {
					RPS    float64   `json:"rps"`
					P50    float64   `json:"p50_ms"`
					P99    float64   `json:"p99_ms"`
					Rounds []float64 `json:"rounds_rps"`
				} `json:"kapok"`
			} `json:"rows"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if code != 0 || !rep.Pass || len(rep.Rows) != 2 || rep.Rows[0].Scenario != "q1-graphql" || len(rep.Rows[0].Kapok.Rounds) != 2 ||
			rep.Rows[0].Ratio < 1 || rep.Rows[0].Kapok.P99 <= 0 {
			t.Errorf("exit %d report %+v", code, rep)
		}
	})
}

func TestThresholdsFileInTheRepoIsValid(t *testing.T) {
	th, err := LoadThresholds("thresholds.json")
	if err != nil {
		t.Fatal(err)
	}
	if th.Default != 0.80 {
		t.Errorf("default threshold %v, want 0.80", th.Default)
	}
	for name := range th.Scenarios {
		if _, err := LoadScenario(name); err != nil {
			t.Errorf("override for unknown scenario %s", name)
		}
	}
}

func TestKapokConfigNamesEveryTenant(t *testing.T) {
	cfg, err := kapokConfig(suiteOptions{poolerDSN: "postgres://u@h:1/kapok_bench", directDSN: "postgres://u@h:2/kapok_bench", kapokListen: "127.0.0.1:1", tenants: 3, poolMaxConns: 8}, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  - name: bench\n    mode: schema\n    schemas: [demo]\n    database: kapok_bench\n    isolation: login\n    pool: {max_conns: 8}\n",
		"  - name: bench-t002\n    mode: schema\n    schemas: [bench_t002]\n    database: kapok_bench\n    isolation: role\n", "listen: 127.0.0.1:1\n"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

func TestMedianRatioPairsRounds(t *testing.T) {
	for _, c := range []struct {
		a, b []float64
		want float64
	}{
		{[]float64{100, 90, 10}, []float64{100, 100, 100}, 0.9}, // one disturbed round does not decide
		{[]float64{100, 80}, []float64{100, 100}, 0.9},
		{[]float64{100}, []float64{0}, 0},
		{nil, nil, 0},
	} {
		if got := medianRatio(c.a, c.b); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("medianRatio(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
