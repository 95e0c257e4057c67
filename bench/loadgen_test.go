package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve starts a fasthttp server on a free loopback port for the test's lifetime.
func serve(t testing.TB, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h, CloseOnShutdown: true}
	go s.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = s.Shutdown() })
	return "http://" + ln.Addr().String()
}

func mustScenario(t testing.TB, yamlText string) *Scenario {
	t.Helper()
	s, err := ParseScenario([]byte(yamlText))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const okScenario = `
name: ok
vars: {id: {range: [1, 9]}}
path: /item?id={{id}}
`

func countingServer(t *testing.T) (string, *atomic.Int64) {
	var n atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		n.Add(1)
		ctx.SetBodyString(`{"data":{}}`)
	})
	return url, &n
}

func TestClosedLoopSendsExactlyTheRequestsItCounts(t *testing.T) {
	url, n := countingServer(t)
	res, err := Run(context.Background(), LoadConfig{Target: url, Connections: 8, Requests: 1000, Warmup: 100 * time.Millisecond}, mustScenario(t, okScenario))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1000 || res.OK != 1000 {
		t.Errorf("measured %d requests (%d ok), want exactly 1000", res.Requests, res.OK)
	}
	if got := uint64(n.Load()); got != res.Requests+res.WarmupRequests {
		t.Errorf("server saw %d requests, generator reports %d measured + %d warm-up", got, res.Requests, res.WarmupRequests)
	}
	if res.WarmupRequests == 0 {
		t.Error("no warm-up requests were sent")
	}
}

func TestOpenLoopSendsRateTimesDuration(t *testing.T) {
	url, n := countingServer(t)
	res, err := Run(context.Background(), LoadConfig{Target: url, Connections: 4, Rate: 1000, Warmup: 500 * time.Millisecond, Duration: time.Second}, mustScenario(t, okScenario))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1000 || res.WarmupRequests != 500 || n.Load() != 1500 {
		t.Errorf("measured %d, warm-up %d, server saw %d; want 1000, 500, 1500", res.Requests, res.WarmupRequests, n.Load())
	}
	if res.Duration < 0.95 || res.Duration > 1.5 {
		t.Errorf("measured window %.3fs, want about 1s", res.Duration)
	}
}

// stallingServer answers at once, except that request number stallAt takes a full second.
func stallingServer(t *testing.T, stallAt int64) string {
	var n atomic.Int64
	return serve(t, func(ctx *fasthttp.RequestCtx) {
		if n.Add(1) == stallAt {
			time.Sleep(time.Second)
		}
		ctx.SetBodyString("ok")
	})
}

func TestAOneSecondStallShowsInOpenLoopP99ButHidesInClosedLoop(t *testing.T) {
	s := mustScenario(t, okScenario)
	closed, err := Run(context.Background(), LoadConfig{Target: stallingServer(t, 300), Connections: 1, Duration: 2 * time.Second}, s)
	if err != nil {
		t.Fatal(err)
	}
	open, err := Run(context.Background(), LoadConfig{Target: stallingServer(t, 300), Connections: 1, Rate: 500, Duration: 3 * time.Second}, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("closed: %d requests p50 %.3f p99 %.3f max %.1f ms", closed.Requests, closed.Latency.P50, closed.Latency.P99, closed.Latency.Max)
	t.Logf("open:   %d requests p50 %.3f p99 %.3f max %.1f ms", open.Requests, open.Latency.P50, open.Latency.P99, open.Latency.Max)
	for _, r := range []*Result{closed, open} {
		if r.Latency.Max < 1000 {
			t.Errorf("%s loop: max %.1f ms, want the 1 s stall", r.Mode, r.Latency.Max)
		}
	}
	// Closed loop: one slow request among thousands; the stall is coordinated away.
	if closed.Latency.P99 > 100 {
		t.Errorf("closed loop p99 = %.1f ms; one stalled request should not reach p99", closed.Latency.P99)
	}
	// Open loop: the ~500 requests due during the stall waited for it, measured from their schedule.
	if open.Latency.P99 < 500 {
		t.Errorf("open loop p99 = %.1f ms; the requests scheduled during the stall must show it", open.Latency.P99)
	}
	if open.Requests != 1500 {
		t.Errorf("open loop sent %d requests, want 1500 (500/s for 3 s)", open.Requests)
	}
}

func TestErrorsAreCountedByKind(t *testing.T) {
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/500":
			ctx.SetStatusCode(500)
		case "/gql":
			ctx.SetBodyString(`{"errors":[{"message":"no such field"}]}`)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		}
	})
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	closedPort := "http://" + ln.Addr().String()
	ln.Close()
	for _, c := range []struct {
		name, target, path, kind string
	}{
		{"a 500 is a status error", url, "/500", "status"},
		{"errors in a 200 GraphQL body are graphql errors", url, "/gql", "graphql"},
		{"an answer slower than the timeout is a timeout", url, "/slow", "timeout"},
		{"a refused connection is a connect error", closedPort, "/", "connect"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustScenario(t, "name: e\nkind: graphql\npath: "+c.path)
			res, err := Run(context.Background(), LoadConfig{Target: c.target, Connections: 2, Requests: 10, Timeout: 100 * time.Millisecond}, s)
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors[c.kind] != 10 || res.OK != 0 || res.ErrorCount() != 10 {
				t.Errorf("errors %v ok %d, want 10 %s", res.Errors, res.OK, c.kind)
			}
		})
	}
}

func TestResultJSONHasTheDocumentedFields(t *testing.T) {
	url, _ := countingServer(t)
	res, err := Run(context.Background(), LoadConfig{Target: url, Connections: 2, Rate: 200, Requests: 20, Warmup: 50 * time.Millisecond}, mustScenario(t, okScenario))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, res); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "target", "mode", "connections", "workers", "rate", "warmup_s", "duration_s",
		"warmup_requests", "requests", "ok", "throughput_rps", "ok_rps", "bytes_received", "errors", "status_codes", "latency_ms", "schedule_lag_ms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON result lacks %q: %s", k, buf.String())
		}
	}
	lat, _ := m["latency_ms"].(map[string]any)
	for _, k := range []string{"min", "mean", "p50", "p90", "p99", "p99.9", "max"} {
		if _, ok := lat[k].(float64); !ok {
			t.Errorf("latency_ms.%s missing or not a number", k)
		}
	}
	errs, _ := m["errors"].(map[string]any)
	for _, k := range errKindNames {
		if _, ok := errs[k].(float64); !ok {
			t.Errorf("errors.%s missing (every kind is always present)", k)
		}
	}
	if sc, _ := m["status_codes"].(map[string]any); m["mode"] != "open" || m["requests"].(float64) != 20 || sc["200"] != 20.0 {
		t.Errorf("mode %v requests %v status codes %v (measured requests only)", m["mode"], m["requests"], m["status_codes"])
	}
}

func BenchmarkClosedLoopRequest(b *testing.B) {
	url := serve(b, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"data":{"x":1}}`) })
	s := mustScenario(b, `
name: overhead
kind: graphql
vars: {id: {range: [1, 100000]}}
method: POST
path: /v1/graphql
headers: {Content-Type: application/json}
body: '{"operationName":"Q1","query":"query Q1($id: Int!) { customers_by_pk(id: $id) { id } }","variables":{"id":{{id}}}}'
`)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), LoadConfig{Target: url, Connections: 4, Requests: int64(b.N)}, s)
	if err != nil || res.OK != uint64(b.N) {
		b.Fatalf("%v ok %d of %d", err, res.OK, b.N)
	}
}
