// Package tracing builds the OpenTelemetry tracer that Kapok's HTTP server traces requests
// with, exporting spans over OTLP/HTTP to the collector of the config's tracing section.
// It owns the SDK's setup and shutdown only: which spans exist and what they say is the
// server's business (package proxy), and with no endpoint configured nothing here runs.
package tracing

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kapok-dev/kapok/control"
)

// Provider exports the spans of its tracer until Shutdown.
type Provider struct {
	tp *sdktrace.TracerProvider
}

// New builds the provider cfg describes, or returns nil when cfg names no endpoint. It
// does not connect: spans are sent in batches, and a collector out of reach loses them
// without slowing requests.
func New(cfg control.TracingConfig, version string) (*Provider, error) {
	if cfg.OTLPEndpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(cfg.OTLPEndpoint)
	if err != nil {
		return nil, fmt.Errorf("tracing.otlp_endpoint: %w", err)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/v1/traces" // the OTLP/HTTP default, which the exporter adds only to a host:port
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(u.String()), otlptracehttp.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "kapok"), attribute.String("service.version", version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		// A caller that traces the request decides; the others are sampled at the ratio.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Provider{tp: tp}, nil
}

// Tracer returns the tracer requests are traced with; nil for a nil provider (tracing off).
func (p *Provider) Tracer() trace.Tracer {
	if p == nil {
		return nil
	}
	return p.tp.Tracer("github.com/kapok-dev/kapok")
}

// Shutdown exports the spans still queued and stops the exporter.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.Shutdown(ctx)
}
