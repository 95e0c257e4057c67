package wire

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxTenantLabels bounds the tenant label: the first tenants seen get their own, the rest
// share "other".
const maxTenantLabels = 100

// Connection outcomes (kapok_wire_connections_total).
const (
	OutcomeOK             = "ok"
	OutcomeAuthFailed     = "auth_failed"
	OutcomeUnknownTenant  = "unknown_tenant"
	OutcomeRefusedAddress = "refused_address"
	OutcomeTLSRequired    = "tls_required"
	OutcomeTooMany        = "too_many"
	OutcomeProtocol       = "protocol_error"
)

// Metrics holds the kapok_wire_* series. It is a prometheus.Collector; the binary
// registers it beside the HTTP server's.
type Metrics struct {
	mu      sync.Mutex
	tenants map[string]string // tenant -> label

	clients      *prometheus.GaugeVec
	connections  *prometheus.CounterVec
	servers      *prometheus.GaugeVec
	transactions *prometheus.CounterVec
	refused      *prometheus.CounterVec
	prepares     *prometheus.CounterVec
	prepareKind  map[string]prometheus.Counter // the children of prepares, resolved once
	cancels      prometheus.Counter
	serverWait   prometheus.Histogram
}

// NewMetrics creates the series.
func NewMetrics() *Metrics {
	m := &Metrics{
		tenants: map[string]string{},
		clients: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kapok_wire_connections", Help: "Client connections open on the Postgres wire port, by tenant.",
		}, []string{"tenant"}),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kapok_wire_connections_total", Help: "Client connection attempts on the Postgres wire port, by tenant and outcome.",
		}, []string{"tenant", "outcome"}),
		servers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kapok_wire_server_connections", Help: "Server connections the wire port holds open, by tenant.",
		}, []string{"tenant"}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kapok_wire_transactions_total", Help: "Transactions run through the wire port (one per server connection hold), by tenant.",
		}, []string{"tenant"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kapok_wire_refused_statements_total", Help: "Statements the wire port refused before PostgreSQL saw them, by tenant and reason.",
		}, []string{"tenant", "reason"}),
		prepares: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kapok_wire_prepares_total", Help: "Prepared statements: client Parse messages (client), statements prepared on a server connection (server), and re-prepared on a server connection that lacked them (reprepare).",
		}, []string{"kind"}),
		cancels: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kapok_wire_cancels_total", Help: "Cancel requests forwarded to a backend.",
		}),
		serverWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kapok_wire_server_wait_seconds",
			Help:    "Time a transaction waited for a server connection.",
			Buckets: []float64{.00001, .0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5},
		}),
	}
	m.prepareKind = map[string]prometheus.Counter{}
	for _, k := range []string{"client", "server", "reprepare"} {
		m.prepareKind[k] = m.prepares.WithLabelValues(k)
	}
	return m
}

func (m *Metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.clients, m.connections, m.servers, m.transactions, m.refused, m.prepares, m.cancels, m.serverWait}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all() {
		c.Collect(ch)
	}
}

// label is tenant's label value, bounded by maxTenantLabels.
func (m *Metrics) label(tenant string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.tenants[tenant]; ok {
		return l
	}
	l := "other"
	if len(m.tenants) < maxTenantLabels {
		l = tenant
	}
	m.tenants[tenant] = l
	return l
}

// Connection counts a connection attempt's outcome ("" tenant: not resolved).
func (m *Metrics) Connection(tenant, outcome string) {
	if tenant != "" {
		tenant = m.label(tenant)
	}
	m.connections.WithLabelValues(tenant, outcome).Inc()
}

// Clients moves the open client connections gauge of tenant by d.
func (m *Metrics) Clients(tenant string, d float64) {
	m.clients.WithLabelValues(m.label(tenant)).Add(d)
}

// Servers moves the open server connections gauge of tenant by d.
func (m *Metrics) Servers(tenant string, d float64) {
	m.servers.WithLabelValues(m.label(tenant)).Add(d)
}

// Transactions is tenant's transaction counter, which a session resolves once and passes to
// Transaction for each of its transactions.
func (m *Metrics) Transactions(tenant string) prometheus.Counter {
	return m.transactions.WithLabelValues(m.label(tenant))
}

// Transaction counts one transaction on its tenant's counter (Transactions) and the time
// it waited for its server.
func (m *Metrics) Transaction(tenant prometheus.Counter, waited float64) {
	tenant.Inc()
	m.serverWait.Observe(waited)
}

// Refused counts a statement the guard refused.
func (m *Metrics) Refused(tenant, reason string) {
	m.refused.WithLabelValues(m.label(tenant), reason).Inc()
}

// Prepare counts a prepare of kind "client", "server" or "reprepare".
func (m *Metrics) Prepare(kind string) {
	c := m.prepareKind[kind]
	if c == nil {
		c = m.prepares.WithLabelValues(kind)
	}
	c.Inc()
}

// Cancel counts a forwarded cancel request.
func (m *Metrics) Cancel() { m.cancels.Inc() }
