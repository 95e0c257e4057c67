package auth

// Stand-in for the Service that service.go and metrics.go define, with the signatures the
// proxy calls; the integrator deletes it.

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kapok-dev/kapok/control"
)

type Service struct{ opts Options }

func New(opts Options) *Service { return &Service{opts: opts} }

func (s *Service) Enabled(t *control.Tenant) bool {
	return t.Config.Auth != nil && t.Config.Auth.Users != nil
}

func (s *Service) Prepare(ctx context.Context, t *control.Tenant) error { return nil }

func (s *Service) Serve(ctx context.Context, t *control.Tenant, r *Request) *Response {
	status, body := http.StatusNotImplemented, `{"code":"not_implemented","error_code":"not_implemented","msg":"stand-in"}`
	if !s.Enabled(t) {
		status, body = http.StatusNotFound, `{"code":"not_found","error_code":"not_found","msg":"Kapok Auth is not enabled for this tenant (auth.users)"}`
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Supabase-Api-Version", "2024-01-01")
	return &Response{Status: status, Header: h, Body: []byte(body)}
}

func (s *Service) Close() {}

func NewMetrics() *Metrics { return &Metrics{} }

func (m *Metrics) Describe(chan<- *prometheus.Desc) {}
func (m *Metrics) Collect(chan<- prometheus.Metric) {}
