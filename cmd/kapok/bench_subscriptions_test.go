package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/bench"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/internal/testserver"
)

// inDatabase is url naming database db instead of its own.
func inDatabase(t *testing.T, raw, db string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	return u.String()
}

// TestBenchSubscriptionsAgainstKapok runs `kapok bench subscriptions` briefly against a Kapok
// serving two bench tenants, and checks what it measured: every subscription established, every
// write's marker pushed to every subscriber that shows the changed row, the server's metrics
// read, one refresh statement per group rather than per subscriber, and the subscriptions
// released when the sockets close.
func TestBenchSubscriptionsAgainstKapok(t *testing.T) {
	direct := inDatabase(t, testenv.DirectURL(), "kapok_bench")
	pooler := inDatabase(t, testenv.PoolerURL(), "kapok_bench")
	var errb bytes.Buffer
	if code := bench.Main(context.Background(), []string{"setup-tenants", "--db", direct, "--count", "2", "--main-tenant", ""}, &bytes.Buffer{}, &errb); code != 0 {
		t.Fatalf("setup-tenants: exit %d\n%s", code, errb.String())
	}
	const adminKey = "bench-subscriptions-admin-key"
	cfg := &control.Config{AdminKey: adminKey, Upstreams: map[string]*control.Upstream{"kapok_bench": {URL: direct, Pooler: pooler}}}
	for _, n := range []string{"bench-t000", "bench-t001"} {
		cfg.Tenants = append(cfg.Tenants, &control.TenantConfig{Name: n, Mode: "schema", Upstream: "kapok_bench", Database: "kapok_bench",
			Schemas: []string{bench.TenantSchema(n)}, Isolation: "role"})
	}
	target := testserver.Serve(t, cfg)

	// The key travels in connection_init: without it, no subscription.
	code, _, stderr := cli(t, "bench", "subscriptions", "--target", target, "--db", direct, "--tenants", "2", "--subs", "8", "--sockets", "2", "--duration", "1s")
	if code != 1 || !strings.Contains(stderr, "warm-up: 0 of 8 subscriptions established") {
		t.Errorf("without the admin key: exit %d\n%s", code, stderr)
	}

	const subs = 300
	code, stdout, stderr := cli(t, "bench", "subscriptions", "--target", target, "--db", direct, "--admin-key", adminKey, "--tenants", "2", "--subs", "300",
		"--sockets", "6", "--write-rate", "40", "--duration", "3s", "--settle", "5s", "--establish-timeout", "20s", "--seed", "7", "--json")
	var r bench.SubsResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("exit %d, output not a result: %v\n%s\n%s", code, err, stdout, stderr)
	}
	if code != 0 || r.Established != subs || len(r.Errors) > 0 {
		t.Fatalf("exit %d, %d of %d subscriptions established, errors %v %v\n%s", code, r.Established, subs, r.Errors, r.FirstErrors, stderr)
	}
	// 120 writes are due; a busy machine may leave the writer behind and some of them skipped.
	if r.Groups != 8 || r.Writes < 60 || r.WritesFailed > 0 {
		t.Errorf("groups %d (want 2 tenants × 4 shapes), writes %d (failed %d, skipped %d)", r.Groups, r.Writes, r.WritesFailed, r.WritesSkipped)
	}
	if r.PushExpected == 0 || r.PushSeen != r.PushExpected || r.PushLatency.P50 <= 0 {
		// What else the run saw, for a failure that only a loaded machine shows.
		t.Errorf("pushes seen %d of %d expected, latency %+v; writes %d (skipped %d), group refreshes due %d, server %+v\n%s",
			r.PushSeen, r.PushExpected, r.PushLatency, r.Writes, r.WritesSkipped, r.GroupRefreshes, r.Server, stderr)
	}
	s := r.Server
	if !s.Metrics || s.Active != subs || s.Groups != 8 || s.RefreshStatements <= 0 || s.Messages <= 0 {
		t.Errorf("server figures %+v", s)
	}
	// 37 subscribers a group: one statement each would put the ratio near 37.
	if s.StatementsPerGroupRefresh <= 0 || s.StatementsPerGroupRefresh > 1.5 {
		t.Errorf("%.2f refresh statements per group refresh (%.0f statements, %d group refreshes due)", s.StatementsPerGroupRefresh, s.RefreshStatements, r.GroupRefreshes)
	}
	if s.ActiveAfterClose != 0 {
		t.Errorf("%v subscriptions still active after every socket closed", s.ActiveAfterClose)
	}
	// Kapok runs in this process here, so the port leads to it.
	if s.PID != os.Getpid() || s.RSSEstablishedKB <= 0 {
		t.Errorf("pid %d (want %d), RSS %d KiB", s.PID, os.Getpid(), s.RSSEstablishedKB)
	}
}
