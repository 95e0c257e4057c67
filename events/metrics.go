package events

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are this process's delivery counters. Tenant labels are on counters and gauges
// only (the tenant set is bounded by the registry); histograms have none.
type metrics struct {
	delivered *prometheus.CounterVec
	failed    *prometheus.CounterVec
	dead      *prometheus.CounterVec
	latency   prometheus.Histogram
	duration  prometheus.Histogram

	pendingDesc, deadDesc *prometheus.Desc
}

func newMetrics() *metrics {
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: name, Help: help,
			Buckets:                         []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		})
	}
	return &metrics{
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_events_delivered_total",
			Help: "Events this process delivered (a 2xx answer), by tenant."}, []string{"tenant"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_events_failed_attempts_total",
			Help: "Delivery attempts of this process that failed (no 2xx answer), by tenant."}, []string{"tenant"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_events_dead_total",
			Help: "Events this process gave up on after their last retry, by tenant."}, []string{"tenant"}),
		latency: hist("kapok_events_delivery_latency_seconds",
			"From the change's commit (the event's creation) to its successful delivery."),
		duration: hist("kapok_events_attempt_duration_seconds", "Duration of one webhook request."),
		pendingDesc: prometheus.NewDesc("kapok_events_pending",
			"Events waiting for delivery (including retries and those of paused triggers), by tenant.", []string{"tenant"}, nil),
		deadDesc: prometheus.NewDesc("kapok_events_dead",
			"Dead events in the log (retries exhausted), by tenant.", []string{"tenant"}, nil),
	}
}

func (m *metrics) observe(tenant, state string, ok bool, created time.Time, d time.Duration) {
	m.duration.Observe(d.Seconds())
	switch {
	case ok:
		m.delivered.WithLabelValues(tenant).Inc()
		m.latency.Observe(time.Since(created).Seconds())
	default:
		m.failed.WithLabelValues(tenant).Inc()
		if state == "dead" {
			m.dead.WithLabelValues(tenant).Inc()
		}
	}
}

// Describe implements prometheus.Collector.
func (s *Service) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(s, ch)
}

// Collect implements prometheus.Collector: this process's counters, and the log's pending
// and dead events per tenant, read from each database at scrape time (through the partial
// index on pending events and the tenant index).
func (s *Service) Collect(ch chan<- prometheus.Metric) {
	m := s.met
	m.delivered.Collect(ch)
	m.failed.Collect(ch)
	m.dead.Collect(ch)
	m.latency.Collect(ch)
	m.duration.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.mu.Lock()
	var dbs []*database
	for url, db := range s.dbs {
		if s.installed[url] {
			dbs = append(dbs, db)
		}
	}
	s.mu.Unlock()
	served := map[string]bool{}
	for _, t := range s.reg.Tenants() {
		served[t.Name] = true
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, db := range dbs {
		wg.Add(1)
		go func(db *database) {
			defer wg.Done()
			rows, err := db.pool.Query(ctx, `SELECT tenant, count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'dead')
  FROM kapok_events.event_log WHERE state <> 'delivered' GROUP BY tenant`)
			if err != nil {
				return
			}
			defer rows.Close()
			for rows.Next() {
				var tenant string
				var pending, dead int64
				if rows.Scan(&tenant, &pending, &dead) != nil || !served[tenant] {
					continue
				}
				mu.Lock()
				ch <- prometheus.MustNewConstMetric(m.pendingDesc, prometheus.GaugeValue, float64(pending), tenant)
				ch <- prometheus.MustNewConstMetric(m.deadDesc, prometheus.GaugeValue, float64(dead), tenant)
				mu.Unlock()
			}
		}(db)
	}
	wg.Wait()
}
