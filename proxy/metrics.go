package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kapok-dev/kapok/control"
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
	routeConsole  = "console"
)

// Outcome labels.
const (
	outcomeOK          = "ok"
	outcomeClientError = "client_error"
	outcomeRejected    = "rejected"
	outcomeError       = "error"
)

// allRoutes and allOutcomes are in the order of routeIndex and outcomeIndex, so a request's
// series are found by index, not by hashing its labels.
var allRoutes = [...]string{routeGraphQL, routeREST, routeAdmin, routeDocs, routeHealth, routeOther, routeRealtime, routeAuth, routeConsole}
var allOutcomes = [...]string{outcomeOK, outcomeClientError, outcomeRejected, outcomeError}

func routeIndex(r string) int {
	switch r {
	case routeGraphQL:
		return 0
	case routeREST:
		return 1
	case routeAdmin:
		return 2
	case routeDocs:
		return 3
	case routeHealth:
		return 4
	case routeRealtime:
		return 6
	case routeAuth:
		return 7
	case routeConsole:
		return 8
	}
	return 5
}

func outcomeIndex(o string) int {
	switch o {
	case outcomeOK:
		return 0
	case outcomeClientError:
		return 1
	case outcomeRejected:
		return 2
	}
	return 3
}

// tenantOther is the tenant label of the tenants beyond metrics.max_tenant_labels.
const tenantOther = "other"

// tenantBuckets are few: per tenant, latency only has to tell tenants apart; the fine
// distribution is kapok_request_duration_seconds's, which carries no tenant label.
var tenantBuckets = []float64{.005, .025, .1, .5, 2.5}

// metrics holds Kapok's own series. Children are resolved once so the hot path does not
// look labels up.
type metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	dbTime   prometheus.Histogram
	reloads  prometheus.Counter
	rejected *prometheus.CounterVec

	reqChild [len(allRoutes)][len(allOutcomes)]prometheus.Counter
	latChild [len(allRoutes)]prometheus.Observer

	tenantRequests *prometheus.CounterVec
	tenantLatency  *prometheus.HistogramVec
	tenants        tenantLabels
}

func newMetrics(cfg control.MetricsConfig) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kapok_requests_total", Help: "HTTP requests by route and outcome.",
	}, []string{"route", "outcome"})
	buckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                            "kapok_request_duration_seconds",
		Help:                            "HTTP request latency by route.",
		Buckets:                         buckets,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: 3600e9,
	}, []string{"route"})
	// Classic buckets only: a native histogram's observation costs about twice as much,
	// and the request latency above already has one.
	m.dbTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kapok_db_execution_seconds",
		Help:    "Time a request's statements spent in the tenant pool, from handing them over to the last result (connection acquire included).",
		Buckets: buckets,
	})
	m.reloads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kapok_schema_reloads_total", Help: "Tenant catalog loads that produced a new schema version.",
	})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kapok_rejected_requests_total", Help: "Requests refused before any work, by reason.",
	}, []string{"reason"})
	m.tenantRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kapok_tenant_requests_total",
		Help: "Requests addressed to a tenant, by tenant, API and outcome; tenants beyond metrics.max_tenant_labels count as tenant=\"other\".",
	}, []string{"tenant", "api", "outcome"})
	m.tenantLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kapok_tenant_request_duration_seconds",
		Help:    "Latency of requests addressed to a tenant, by tenant and API (coarse buckets; see kapok_request_duration_seconds).",
		Buckets: tenantBuckets,
	}, []string{"tenant", "api"})
	m.reg.MustRegister(m.requests, m.latency, m.dbTime, m.reloads, m.rejected, m.tenantRequests, m.tenantLatency)
	for r, route := range allRoutes {
		m.latChild[r] = m.latency.WithLabelValues(route)
		for o, outcome := range allOutcomes {
			m.reqChild[r][o] = m.requests.WithLabelValues(route, outcome)
		}
	}
	m.tenants.init(cfg)
	return m
}

// observe counts a request; e is its tenant's entry (nil: the request named none).
func (m *metrics) observe(route, outcome string, e *tenantEntry, seconds float64) {
	r, o := routeIndex(route), outcomeIndex(outcome)
	m.reqChild[r][o].Inc()
	m.latChild[r].Observe(seconds)
	if e != nil {
		e.live.observe(o, seconds)
		ts := e.series.Load()
		if ts == nil {
			ts = m.tenants.label(e)
		}
		ts.counter(m, r, o).Inc()
		ts.observer(m, r).Observe(seconds)
	}
}

// tenantEntry is what a tenant's requests count into: its Prometheus series (the shared
// "other" ones for the tenants beyond the labelled) and its own live counts, which the
// console reads whatever the labels.
type tenantEntry struct {
	name string
	// series is decided on the tenant's first counted request (label): storage measured or
	// usage read before it gives no tenant a label.
	series atomic.Pointer[tenantSeries]
	live   liveStats
	usage  tenantUsage
}

// tenantSeries are the children of one tenant label, resolved on their first use and read
// with an atomic load after that. Tenants counted as "other" share one.
type tenantSeries struct {
	label    string
	requests [len(allRoutes)][len(allOutcomes)]atomic.Pointer[prometheus.Counter]
	latency  [len(allRoutes)]atomic.Pointer[prometheus.Observer]
	// gone is set when the tenant was removed and its series deleted: a request still in
	// flight must not bring them back.
	gone atomic.Bool
}

// discarded takes the observations of a removed tenant's last requests.
var (
	discardedCounter  prometheus.Counter  = prometheus.NewCounter(prometheus.CounterOpts{Name: "discarded"})
	discardedObserver prometheus.Observer = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "discarded"})
)

func (ts *tenantSeries) counter(m *metrics, r, o int) prometheus.Counter {
	if c := ts.requests[r][o].Load(); c != nil {
		return *c
	}
	if ts.gone.Load() {
		return discardedCounter
	}
	c := m.tenantRequests.WithLabelValues(ts.label, allRoutes[r], allOutcomes[o])
	ts.requests[r][o].Store(&c)
	return c
}

func (ts *tenantSeries) observer(m *metrics, r int) prometheus.Observer {
	if h := ts.latency[r].Load(); h != nil {
		return *h
	}
	if ts.gone.Load() {
		return discardedObserver
	}
	h := m.tenantLatency.WithLabelValues(ts.label, allRoutes[r])
	ts.latency[r].Store(&h)
	return h
}

// tenantLabels decides which tenants get a label of their own: the first MaxTenantLabels
// served (a request counted, not a storage measurement or a usage read), or only those
// listed in TenantLabels. The map is copied on write, so a request reads it with one
// atomic load and no lock.
type tenantLabels struct {
	byName atomic.Pointer[map[string]*tenantEntry]
	mu     sync.Mutex
	own    int
	max    int
	listed map[string]bool // nil: first come, first labelled
	other  *tenantSeries
}

func (l *tenantLabels) init(cfg control.MetricsConfig) {
	l.max = cfg.MaxTenantLabels
	if len(cfg.TenantLabels) > 0 {
		l.listed = map[string]bool{}
		for _, n := range cfg.TenantLabels {
			l.listed[n] = true
		}
	}
	l.other = &tenantSeries{label: tenantOther}
	l.byName.Store(&map[string]*tenantEntry{})
}

// tenant returns the entry of the tenant named name, making it on the tenant's first request.
func (m *metrics) tenant(name string) *tenantEntry {
	if e := (*m.tenants.byName.Load())[name]; e != nil {
		return e
	}
	return m.tenants.assign(name)
}

// liveOf returns the live counts of the tenant named name; nil before its first request.
func (m *metrics) liveOf(name string) *liveStats {
	if e := (*m.tenants.byName.Load())[name]; e != nil {
		return &e.live
	}
	return nil
}

func (l *tenantLabels) assign(name string) *tenantEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := *l.byName.Load()
	if e := cur[name]; e != nil {
		return e
	}
	e := &tenantEntry{name: name}
	next := make(map[string]*tenantEntry, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = e
	l.byName.Store(&next)
	return e
}

// label gives e its series on its tenant's first counted request: a label of its own while
// fewer than max tenants have one, the shared "other" ones after that or once it is removed.
func (l *tenantLabels) label(e *tenantEntry) *tenantSeries {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts := e.series.Load(); ts != nil {
		return ts
	}
	ts := l.other
	if (*l.byName.Load())[e.name] == e && l.own < l.max && (l.listed == nil || l.listed[e.name]) {
		ts = &tenantSeries{label: e.name}
		l.own++
	}
	e.series.Store(ts)
	return ts
}

// forgetTenant deletes a removed tenant's series and frees its label for another tenant.
func (m *metrics) forgetTenant(name string) {
	l := &m.tenants
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := *l.byName.Load()
	e := cur[name]
	if e == nil {
		return
	}
	ts := e.series.Load()
	next := make(map[string]*tenantEntry, len(cur))
	for k, v := range cur {
		if k != name {
			next[k] = v
		}
	}
	l.byName.Store(&next)
	if ts == nil || ts == l.other {
		return
	}
	l.own--
	ts.gone.Store(true)
	m.tenantRequests.DeletePartialMatch(prometheus.Labels{"tenant": name})
	m.tenantLatency.DeletePartialMatch(prometheus.Labels{"tenant": name})
}

// clockBase makes a monotonic reading cost one clock read: time.Since of a time that has a
// monotonic reading reads only that clock, where time.Now reads the wall clock too. A
// request reads the clock four times (its start and end, its statements' start and end).
var clockBase = time.Now()

// monotonic is the time since clockBase, for measuring durations.
func monotonic() time.Duration { return time.Since(clockBase) }
