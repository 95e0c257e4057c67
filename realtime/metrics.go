package realtime

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the hub's Prometheus metrics; the server registers them with its own.
type Metrics struct {
	active     prometheus.Gauge
	groups     prometheus.Gauge
	statements prometheus.Counter
	messages   prometheus.Counter
	push       prometheus.Histogram
}

// NewMetrics builds the hub's metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kapok_subscriptions_active",
			Help: "GraphQL subscriptions (live queries and streams) being served."}),
		groups: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kapok_subscription_groups",
			Help: "Groups of subscriptions sharing one plan, role and claims: one statement each per refresh."}),
		statements: prometheus.NewCounter(prometheus.CounterOpts{Name: "kapok_subscription_refresh_statements_total",
			Help: "Statements run to refresh subscriptions."}),
		messages: prometheus.NewCounter(prometheus.CounterOpts{Name: "kapok_subscription_messages_total",
			Help: "Results pushed to subscribers."}),
		push: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kapok_subscription_push_seconds",
			Help:    "From a change reported by the database to the result pushed to a subscriber.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.active.Describe(ch)
	m.groups.Describe(ch)
	m.statements.Describe(ch)
	m.messages.Describe(ch)
	m.push.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.active.Collect(ch)
	m.groups.Collect(ch)
	m.statements.Collect(ch)
	m.messages.Collect(ch)
	m.push.Collect(ch)
}
