package realtime

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// ChangesMetrics are the postgres_changes source's Prometheus metrics; the server registers
// them with its own.
type ChangesMetrics struct {
	subscribers prometheus.Gauge
	deliveries  prometheus.Counter
	checks      *prometheus.CounterVec
	reconnects  prometheus.Counter
	lagDesc     *prometheus.Desc
	src         atomic.Pointer[Changes]
}

// NewChangesMetrics builds the metrics.
func NewChangesMetrics() *ChangesMetrics {
	return &ChangesMetrics{
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kapok_realtime_changes_subscribers",
			Help: "postgres_changes bindings being served."}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{Name: "kapok_realtime_deliveries_total",
			Help: "Database changes delivered to postgres_changes subscribers."}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_realtime_rls_check_statements_total",
			Help: "Row-level security checks run (one statement per commit, table and group of subscribers sharing a role and claims), by outcome."},
			[]string{"outcome"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "kapok_realtime_replication_reconnects_total",
			Help: "Replication connections reopened after a loss (the changes in between are not delivered)."}),
		lagDesc: prometheus.NewDesc("kapok_realtime_slot_lag_bytes",
			"WAL between the server's current position and what a replication slot of Kapok confirmed, by database.",
			[]string{"database"}, nil),
	}
}

func (m *ChangesMetrics) attach(c *Changes) { m.src.Store(c) }

// Describe implements prometheus.Collector.
func (m *ChangesMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.subscribers.Describe(ch)
	m.deliveries.Describe(ch)
	m.checks.Describe(ch)
	m.reconnects.Describe(ch)
	ch <- m.lagDesc
}

// Collect implements prometheus.Collector.
func (m *ChangesMetrics) Collect(ch chan<- prometheus.Metric) {
	m.subscribers.Collect(ch)
	m.deliveries.Collect(ch)
	m.checks.Collect(ch)
	m.reconnects.Collect(ch)
	c := m.src.Load()
	if c == nil {
		return
	}
	lags := map[string]float64{}
	c.mu.Lock()
	for _, st := range c.streams {
		st.mu.Lock()
		if st.lag >= 0 {
			lags[dbName(st.url)] += st.lag
		}
		st.mu.Unlock()
	}
	c.mu.Unlock()
	for db, lag := range lags {
		ch <- prometheus.MustNewConstMetric(m.lagDesc, prometheus.GaugeValue, lag, db)
	}
}
