package difftest

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/internal/testenv"
)

var shareMetric = regexp.MustCompile(`(?m)^(kapok_batched_requests_total|kapok_coalesced_requests_total) (\S+)$`)

// TestSharedReadsAnswerAsTheOracle sends the cases of TestKapokAnswersAsTheOracle, each
// with variants of other values (the same statement, other arguments) and a duplicate
// (the same arguments), all at once to a Kapok whose pool has two connections: the reads
// queue, and poolmgr runs them as multiplexed statements and coalesces the duplicates.
// Every answer must still be the oracle's. KAPOK_DIFFTEST_SHARE_CASES sets how many cases.
func TestSharedReadsAnswerAsTheOracle(t *testing.T) {
	seed := envInt(t, "KAPOK_DIFFTEST_SEED", defaultSeed)
	first, last := caseRange(t, int(envInt(t, "KAPOK_DIFFTEST_SHARE_CASES", 1500)))
	avoid := avoidedBugs()
	testenv.FreshSchema(t, schemaName, FixtureDDL+";\n"+FixtureInserts(seed))
	db, err := Load(t.Context(), testenv.Conn(t), schemaName)
	if err != nil {
		t.Fatal(err)
	}
	oracle := NewOracle(db)
	k := startKapokPool(t, 2)

	var (
		mu       sync.Mutex
		failures []failure
		sent     atomic.Int64
	)
	start := time.Now()
	eachCase(first, last, workers, func(w, i int) {
		req := caseRequest(db, seed, i, avoid)
		reqs := []*Request{req, req}
		g := NewGenerator(db, rand.New(rand.NewPCG(seed^0x5eed, uint64(i))))
		g.Avoid = avoid
		for range 3 {
			if v, ok := g.Revalue(req); ok {
				reqs = append(reqs, v)
			}
		}
		msgs := make([]string, len(reqs))
		var cw sync.WaitGroup
		for j, r := range reqs {
			cw.Add(1)
			go func() {
				defer cw.Done()
				msgs[j] = differs(oracle, k.ask, r)
			}()
		}
		cw.Wait()
		sent.Add(int64(len(reqs)))
		for j, msg := range msgs {
			if msg != "" {
				mu.Lock()
				failures = append(failures, failure{i, reqs[j], msg})
				mu.Unlock()
			}
		}
	})
	counts := map[string]float64{}
	for _, m := range shareMetric.FindAllStringSubmatch(string(k.get(t, "/metrics")), -1) {
		counts[m[1]], _ = strconv.ParseFloat(m[2], 64)
	}
	t.Logf("%d cases, %d requests in %v, %d failed; %v requests batched, %v coalesced",
		last-first, sent.Load(), time.Since(start).Round(time.Millisecond), len(failures),
		counts["kapok_batched_requests_total"], counts["kapok_coalesced_requests_total"])
	report(t, seed, failures, oracle, k.ask, describe)
	if last-first > 100 && (counts["kapok_batched_requests_total"] == 0 || counts["kapok_coalesced_requests_total"] == 0) {
		t.Fatal("no read was shared: this test did not test sharing")
	}
}
