package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/bench"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/internal/testserver"
)

// TestBenchRealtimeAgainstKapok runs `kapok bench realtime` briefly against a Kapok serving
// two open bench tenants, and checks what it measured: every channel joined, every change
// delivered once to every subscriber of its row, within a second, the server's CPU and the
// replication slot read.
func TestBenchRealtimeAgainstKapok(t *testing.T) {
	direct := inDatabase(t, testenv.DirectURL(), "kapok_bench")
	pooler := inDatabase(t, testenv.PoolerURL(), "kapok_bench")
	cfg := &control.Config{Upstreams: map[string]*control.Upstream{"kapok_bench": {URL: direct, Pooler: pooler}}}
	for _, n := range []string{"bench-t000", "bench-t001"} {
		cfg.Tenants = append(cfg.Tenants, &control.TenantConfig{Name: n, Mode: "schema", Upstream: "kapok_bench", Database: "kapok_bench",
			Schemas: []string{bench.TenantSchema(n)}, Isolation: "role"})
	}
	target := testserver.Serve(t, cfg)

	const subs = 120
	code, stdout, stderr := cli(t, "bench", "realtime", "--target", target, "--db", direct, "--tenants", "2", "--subs", "120",
		"--sockets", "4", "--filtered", "0.5", "--rows", "20", "--write-rate", "40", "--duration", "3s", "--settle", "5s",
		"--establish-timeout", "20s", "--seed", "7", "--json")
	var r bench.RTResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("exit %d, output not a result: %v\n%s\n%s", code, err, stdout, stderr)
	}
	if code != 0 || r.Established != subs || len(r.Errors) > 0 {
		t.Fatalf("exit %d, %d of %d channels joined, errors %v %v\n%s", code, r.Established, subs, r.Errors, r.FirstErrors, stderr)
	}
	if r.Filtered == 0 || r.Filtered == subs {
		t.Errorf("%d of %d subscribers filtered, want about half", r.Filtered, subs)
	}
	// 120 writes are due; a busy machine may leave the writer behind and some of them skipped.
	if r.Writes < 60 || r.WritesFailed > 0 {
		t.Errorf("writes %d (failed %d, skipped %d)", r.Writes, r.WritesFailed, r.WritesSkipped)
	}
	if r.Expected == 0 || r.Seen != r.Expected || r.Duplicates != 0 || r.Deliveries < r.Seen {
		// The server's kapok_realtime_* counters say where missing deliveries went (a
		// failed row-level security check drops its commit's changes, for one).
		t.Errorf("deliveries seen %d of %d expected, %d duplicates, %d frames; server counters %v\n%s", r.Seen, r.Expected, r.Duplicates, r.Deliveries, r.Server, stderr)
	}
	if r.Latency.P50 <= 0 || r.Latency.P99 > 1000 || r.CommitTSBad > 0 || r.CommitTSLatency.P99 > 1000 {
		t.Errorf("latency %+v, from commit_timestamp %+v (%d unreadable)", r.Latency, r.CommitTSLatency, r.CommitTSBad)
	}
	// Kapok runs in this process here, so the port leads to it.
	if r.PID != os.Getpid() || r.CPUPerDeliveryUS <= 0 {
		t.Errorf("pid %d (want %d), CPU per delivery %vµs", r.PID, os.Getpid(), r.CPUPerDeliveryUS)
	}
	if r.SlotLag.Samples == 0 || r.SlotLag.Slots == 0 || r.SlotLag.Error != "" {
		t.Errorf("slot lag %+v", r.SlotLag)
	}
	metrics := false
	for name := range r.Server {
		metrics = metrics || strings.HasPrefix(name, "kapok_realtime_")
	}
	if !metrics {
		t.Errorf("no kapok_realtime_* series on /metrics: %v", r.Server)
	}
}
