package proxy

import (
	"math"
	"sort"
	"sync/atomic"
)

// liveBounds are the upper bounds, in seconds, of the per-tenant latency buckets the console
// reads (GET /admin/v1/monitor): 100 µs to about 40 s, each 35% above the last, so a
// percentile read from them is within 35% — fine enough to tell p50 from p99, where the
// Prometheus series' five buckets per tenant are not.
var liveBounds = func() []float64 {
	b := make([]float64, 0, 44)
	for v := 1e-4; v < 45; v *= 1.35 {
		// Four significant digits: the bounds read as numbers, not float noise.
		p := math.Pow(10, math.Floor(math.Log10(v))-3)
		b = append(b, math.Round(v/p)*p)
	}
	return b
}()

// liveStats are one tenant's request counts and latency histogram since the process started,
// whatever metrics.max_tenant_labels says: a few hundred bytes a tenant, counted with atomic
// adds and no lock.
type liveStats struct {
	outcomes [len(allOutcomes)]atomic.Uint64
	buckets  [45]atomic.Uint64 // len(liveBounds) + the overflow bucket
	sumMicro atomic.Uint64
}

func (l *liveStats) observe(outcome int, seconds float64) {
	l.outcomes[outcome].Add(1)
	// The first bound at or above seconds; past the last bound (or NaN), the overflow bucket.
	i := sort.SearchFloat64s(liveBounds, seconds)
	l.buckets[i].Add(1)
	l.sumMicro.Add(uint64(seconds * 1e6))
}

// liveCounters is a tenant's liveStats as the admin API answers them: cumulative counts, so
// a client diffs two answers for rates and the percentiles of the interval.
type liveCounters struct {
	Requests struct {
		OK          uint64 `json:"ok"`
		ClientError uint64 `json:"client_error"`
		Rejected    uint64 `json:"rejected"`
		Error       uint64 `json:"error"`
	} `json:"requests"`
	Latency struct {
		// Counts[i] requests took at most Bounds[i] seconds; Counts has one more entry
		// than Bounds, the total (its bucket's bound is +Inf).
		Bounds     []float64 `json:"bounds"`
		Counts     []uint64  `json:"counts"`
		SumSeconds float64   `json:"sum_seconds"`
	} `json:"latency"`
}

func (l *liveStats) snapshot() liveCounters {
	var c liveCounters
	if l != nil {
		c.Requests.OK = l.outcomes[0].Load()
		c.Requests.ClientError = l.outcomes[1].Load()
		c.Requests.Rejected = l.outcomes[2].Load()
		c.Requests.Error = l.outcomes[3].Load()
	}
	c.Latency.Bounds = liveBounds
	c.Latency.Counts = make([]uint64, len(liveBounds)+1)
	var cum uint64
	for i := range c.Latency.Counts {
		if l != nil {
			cum += l.buckets[i].Load()
		}
		c.Latency.Counts[i] = cum
	}
	if l != nil {
		c.Latency.SumSeconds = float64(l.sumMicro.Load()) / 1e6
	}
	return c
}
