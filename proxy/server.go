package proxy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/kapok-dev/kapok/control"
)

// Server is Kapok's HTTP server.
type Server struct {
	cfg            *control.Config
	reg            *control.Registry
	log            *slog.Logger
	metrics        *metrics
	http           *fasthttp.Server
	metricsHandler fasthttp.RequestHandler
	api            *apis
}

// Options carries what the server needs besides its config.
type Options struct {
	Config   *control.Config
	Registry *control.Registry
	Logger   *slog.Logger
}

// New builds a server; call Serve or ListenAndServe to run it.
func New(opts Options) (*Server, error) {
	s := &Server{cfg: opts.Config, reg: opts.Registry, log: opts.Logger, metrics: newMetrics()}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.reg.OnChange(func(t *control.Tenant, old, cur *control.Snapshot) {
		if old != nil {
			s.metrics.reloads.Inc()
		}
	})
	api, err := newAPIs(s)
	if err != nil {
		return nil, err
	}
	s.api = api
	// Tenants that keep idle connections get their pool now, so the first request does
	// not pay for connecting and /metrics shows the pools from the start.
	for _, t := range s.reg.Tenants() {
		if t.Config.Pool.MinIdleConns > 0 {
			if _, err := api.pool(t); err != nil {
				s.log.Warn("tenant pool", "tenant", t.Name, "err", err)
			}
		}
	}
	s.metricsHandler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	s.http = &fasthttp.Server{
		Handler:               s.handle,
		Name:                  "kapok",
		ReadBufferSize:        16 << 10,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           90 * time.Second,
		MaxRequestBodySize:    maxBody(s.cfg),
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		CloseOnShutdown:       true,
		Logger:                slogPrintf{s.log},
	}
	return s, nil
}

// maxBody is the largest body any tenant accepts; per-tenant limits are checked in handlers.
func maxBody(cfg *control.Config) int {
	m := cfg.Limits.MaxBodyBytes
	for _, t := range cfg.Tenants {
		if t.Limits != nil && t.Limits.MaxBodyBytes > m {
			m = t.Limits.MaxBodyBytes
		}
	}
	if m < 64<<20 {
		m = 64 << 20 // the admin API and bulk inserts may exceed a tenant's limit; handlers enforce theirs
	}
	return m
}

type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) { p.l.Warn(fmt.Sprintf(format, args...)) }

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.http.Serve(ln) }

// Shutdown stops accepting connections and waits for in-flight requests to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.ShutdownWithContext(ctx)
	s.api.close()
	return err
}

// Handler exposes the request handler (tests serve it on an in-memory listener).
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

var (
	pathHealthz = []byte("/healthz")
	pathReadyz  = []byte("/readyz")
	pathMetrics = []byte("/metrics")
	prefixT     = []byte("/t/")
	prefixAdmin = []byte("/admin/v1")
)

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	route, outcome := routeOther, outcomeOK
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "panic", p, "stack", string(debug.Stack()))
			ctx.Response.Reset()
			writeJSONError(ctx, fasthttp.StatusInternalServerError, "unexpected", "internal error")
			outcome = outcomeError
		}
		s.metrics.observe(route, outcome, time.Since(start).Seconds())
	}()
	route, outcome = s.dispatch(ctx)
}

// dispatch routes a request and reports its route and outcome labels.
func (s *Server) dispatch(ctx *fasthttp.RequestCtx) (string, string) {
	path := ctx.Path()
	switch {
	case bytes.Equal(path, pathHealthz):
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
		return routeHealth, outcomeOK
	case bytes.Equal(path, pathReadyz):
		return routeHealth, s.readyz(ctx)
	case bytes.Equal(path, pathMetrics):
		s.metricsHandler(ctx)
		return routeHealth, outcomeOK
	case bytes.HasPrefix(path, prefixAdmin):
		return routeAdmin, s.api.admin(ctx, path[len(prefixAdmin):])
	}
	var tenantName []byte
	rest := path
	if bytes.HasPrefix(path, prefixT) {
		p := path[len(prefixT):]
		i := bytes.IndexByte(p, '/')
		if i < 0 {
			tenantName, rest = p, nil
		} else {
			tenantName, rest = p[:i], p[i:]
		}
	}
	kind := routeKind(rest)
	t := s.resolveTenant(ctx, tenantName)
	if t == nil {
		name := string(tenantName)
		if name == "" {
			name = string(ctx.Request.Header.Peek("X-Kapok-Tenant"))
		}
		writeRouteError(ctx, kind, fasthttp.StatusNotFound, "tenant-not-found", tenantNotFoundMessage(name))
		return kind, outcomeClientError
	}
	return kind, s.api.serve(ctx, t, kind, rest)
}

func tenantNotFoundMessage(name string) string {
	if name == "" {
		return "no tenant named in the request (use /t/{tenant}/…, the X-Kapok-Tenant header or a tenant host name) and no default tenant is configured"
	}
	return fmt.Sprintf("tenant %q not found", name)
}

var (
	prefixGraphQL = []byte("/v1/graphql")
	prefixREST    = []byte("/rest/v1")
)

func routeKind(rest []byte) string {
	switch {
	case bytes.Equal(rest, prefixGraphQL):
		return routeGraphQL
	case bytes.HasPrefix(rest, prefixREST):
		return routeREST
	case bytes.Equal(rest, []byte("/swagger.json")), bytes.Equal(rest, []byte("/ai-spec.md")):
		return routeDocs
	}
	return routeOther
}

// resolveTenant applies DESIGN.md's order: path prefix, X-Kapok-Tenant, the first label of
// Host when it names a tenant, the default tenant.
func (s *Server) resolveTenant(ctx *fasthttp.RequestCtx, fromPath []byte) *control.Tenant {
	if fromPath != nil {
		return s.reg.Tenant(string(fromPath))
	}
	if h := ctx.Request.Header.Peek("X-Kapok-Tenant"); len(h) > 0 {
		return s.reg.Tenant(string(h))
	}
	host := ctx.Host()
	if i := bytes.IndexByte(host, '.'); i > 0 {
		if t := s.reg.Tenant(string(host[:i])); t != nil {
			return t
		}
	}
	if s.cfg.DefaultTenant != "" {
		return s.reg.Tenant(s.cfg.DefaultTenant)
	}
	return nil
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx) string {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ctx.SetContentType("application/json")
	if err := s.reg.Ready(c); err != nil {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBody(appendJSONObject(nil, "status", "unavailable", "reason", err.Error()))
		return outcomeError
	}
	ctx.SetBodyString(`{"status":"ready"}`)
	return outcomeOK
}

// AttachStore lets the server follow tenants of the control tables: a tenant removed by
// any replica has its pool closed here at once, not at the next idle sweep.
func (s *Server) AttachStore(st *control.Store) {
	st.OnRemove(s.api.pools.Remove)
}
