package auth

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are Kapok Auth's counters. They carry no tenant label: the endpoints, methods
// and outcomes are few, the tenants may be many.
type Metrics struct {
	requests *prometheus.CounterVec
	signins  *prometheus.CounterVec
	limited  *prometheus.CounterVec
}

// NewMetrics builds the collectors; register the result (it is a prometheus.Collector)
// and pass it in Options.
func NewMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_auth_requests_total",
			Help: "Kapok Auth requests by endpoint and outcome (ok, client_error, rate_limited, server_error)."},
			[]string{"endpoint", "outcome"}),
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_auth_signins_total",
			Help: "Sign-in attempts by method (password, pkce, otp, oauth …) and outcome (ok, failed)."},
			[]string{"method", "outcome"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kapok_auth_rate_limited_total",
			Help: "Requests refused by a Kapok Auth rate limit, by kind (signin_ip, signin_account, otp_ip, email_tenant, refresh_ip)."},
			[]string{"kind"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.signins.Describe(ch)
	m.limited.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.signins.Collect(ch)
	m.limited.Collect(ch)
}

// request counts one answer of endpoint. A nil Metrics counts nothing.
func (m *Metrics) request(endpoint string, status int) {
	if m == nil {
		return
	}
	outcome := "ok"
	switch {
	case status == 429:
		outcome = "rate_limited"
	case status >= 500:
		outcome = "server_error"
	case status >= 400:
		outcome = "client_error"
	}
	m.requests.WithLabelValues(endpoint, outcome).Inc()
}

// signIn counts one sign-in attempt with method.
func (m *Metrics) signIn(method string, ok bool) {
	if m == nil {
		return
	}
	outcome := "ok"
	if !ok {
		outcome = "failed"
	}
	m.signins.WithLabelValues(method, outcome).Inc()
}

// rateLimited counts one request refused by a limit of kind.
func (m *Metrics) rateLimited(kind string) {
	if m == nil {
		return
	}
	m.limited.WithLabelValues(kind).Inc()
}
