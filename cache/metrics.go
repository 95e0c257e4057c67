package cache

import (
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	rc            *ristretto.Metrics // nil unless Config.Metrics
	collisions    atomic.Uint64      // ristretto hits whose stored key differed
	compiles      atomic.Uint64
	compileErrors atomic.Uint64
	compileTime   prometheus.Histogram
}

var (
	descHits         = prometheus.NewDesc("kapok_plan_cache_hits_total", "Plan cache lookups that found the plan.", nil, nil)
	descMisses       = prometheus.NewDesc("kapok_plan_cache_misses_total", "Plan cache lookups that did not (collisions included).", nil, nil)
	descEvictions    = prometheus.NewDesc("kapok_plan_cache_evictions_total", "Plans evicted to stay under the cost bound.", nil, nil)
	descRejected     = prometheus.NewDesc("kapok_plan_cache_sets_rejected_total", "Plans not stored: dropped under contention or refused by the admission policy.", nil, nil)
	descCost         = prometheus.NewDesc("kapok_plan_cache_cost_bytes", "Sum of the costs of the plans held.", nil, nil)
	descCollisions   = prometheus.NewDesc("kapok_plan_cache_collisions_total", "Lookups whose hash matched a plan stored under another key (served as misses).", nil, nil)
	descCompiles     = prometheus.NewDesc("kapok_plan_cache_compiles_total", "Compilations run on a miss (one per key under concurrency).", nil, nil)
	descCompileError = prometheus.NewDesc("kapok_plan_cache_compile_errors_total", "Compilations that failed (not cached).", nil, nil)
)

func newMetrics() *metrics {
	return &metrics{compileTime: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:                            "kapok_plan_cache_compile_seconds",
		Help:                            "Time to compile a plan on a cache miss.",
		Buckets:                         []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	})}
}

func (m *metrics) observeCompile(d time.Duration, err error) {
	m.compiles.Add(1)
	if err != nil {
		m.compileErrors.Add(1)
	}
	m.compileTime.Observe(d.Seconds())
}

// Stats is a snapshot of the cache's counters. Hits, Misses, Evictions, SetsRejected and
// CostBytes are zero unless Config.Metrics is set.
type Stats struct {
	Hits, Misses, Evictions, SetsRejected uint64
	CostBytes                             int64
	Collisions, Compiles, CompileErrors   uint64
}

// Stats returns the cache's counters.
func (c *Cache[V]) Stats() Stats {
	m := c.metrics
	s := Stats{Collisions: m.collisions.Load(), Compiles: m.compiles.Load(), CompileErrors: m.compileErrors.Load()}
	if r := m.rc; r != nil {
		// ristretto counts a colliding lookup as a hit; it was served as a miss.
		s.Hits = r.Hits() - min(s.Collisions, r.Hits())
		s.Misses = r.Misses() + s.Collisions
		s.Evictions = r.KeysEvicted()
		s.SetsRejected = r.SetsDropped() + r.SetsRejected()
		s.CostBytes = int64(r.CostAdded()) - int64(r.CostEvicted())
	}
	return s
}

// Describe implements prometheus.Collector: the cache registers as one collector.
func (c *Cache[V]) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHits, descMisses, descEvictions, descRejected, descCost, descCollisions, descCompiles, descCompileError} {
		ch <- d
	}
	c.metrics.compileTime.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Cache[V]) Collect(ch chan<- prometheus.Metric) {
	s := c.Stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	if c.metrics.rc != nil {
		counter(descHits, s.Hits)
		counter(descMisses, s.Misses)
		counter(descEvictions, s.Evictions)
		counter(descRejected, s.SetsRejected)
		ch <- prometheus.MustNewConstMetric(descCost, prometheus.GaugeValue, float64(s.CostBytes))
	}
	counter(descCollisions, s.Collisions)
	counter(descCompiles, s.Compiles)
	counter(descCompileError, s.CompileErrors)
	c.metrics.compileTime.Collect(ch)
}
