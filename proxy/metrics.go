package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Route labels; a closed set keeps cardinality bounded.
const (
	routeGraphQL  = "graphql"
	routeREST     = "rest"
	routeAdmin    = "admin"
	routeDocs     = "docs"
	routeHealth   = "health"
	routeOther    = "other"
	routeRealtime = "realtime"
	routeAuth     = "auth"
)

// Outcome labels.
const (
	outcomeOK          = "ok"
	outcomeClientError = "client_error"
	outcomeRejected    = "rejected"
	outcomeError       = "error"
)

var allRoutes = []string{routeGraphQL, routeREST, routeAdmin, routeDocs, routeHealth, routeOther, routeRealtime, routeAuth}
var allOutcomes = []string{outcomeOK, outcomeClientError, outcomeRejected, outcomeError}

// metrics holds Kapok's own series. Children are resolved once so the hot path does not
// look labels up. No histogram carries a tenant label.
type metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	reloads  prometheus.Counter
	rejected *prometheus.CounterVec

	reqChild map[[2]string]prometheus.Counter
	latChild map[string]prometheus.Observer
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kapok_requests_total", Help: "HTTP requests by route and outcome.",
	}, []string{"route", "outcome"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                            "kapok_request_duration_seconds",
		Help:                            "HTTP request latency by route.",
		Buckets:                         []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: 3600e9,
	}, []string{"route"})
	m.reloads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kapok_schema_reloads_total", Help: "Tenant catalog loads that produced a new schema version.",
	})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kapok_rejected_requests_total", Help: "Requests refused before any work, by reason.",
	}, []string{"reason"})
	m.reg.MustRegister(m.requests, m.latency, m.reloads, m.rejected)
	m.reqChild = map[[2]string]prometheus.Counter{}
	m.latChild = map[string]prometheus.Observer{}
	for _, r := range allRoutes {
		m.latChild[r] = m.latency.WithLabelValues(r)
		for _, o := range allOutcomes {
			m.reqChild[[2]string{r, o}] = m.requests.WithLabelValues(r, o)
		}
	}
	return m
}

func (m *metrics) observe(route, outcome string, seconds float64) {
	m.reqChild[[2]string{route, outcome}].Inc()
	m.latChild[route].Observe(seconds)
}
