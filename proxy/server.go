package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
	"go.opentelemetry.io/otel/trace"

	"github.com/kapok-dev/kapok/console"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/events"
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
	// events serves the admin API's event routes (nil: not enabled).
	events *events.Service
	// chunked holds, per request header, the 413 a chunked body would get (see headerReceived).
	chunked sync.Map
	ids     *requestIDs
	// tracer opens a span per request; nil when tracing is off, which then costs nothing.
	tracer trace.Tracer
	// cors answers browsers' cross-origin checks on the tenant APIs (nil: disabled).
	cors *cors
	// trusted are the proxies whose X-Forwarded-For names the client (see clientAddr).
	trusted []netip.Prefix
}

// Options carries what the server needs besides its config.
type Options struct {
	Config   *control.Config
	Registry *control.Registry
	Logger   *slog.Logger
	// Events, when set, adds the event routes to the admin API and kapok_events_* to
	// /metrics.
	Events *events.Service
	// Collectors join /metrics (the wire port's kapok_wire_* series, for one).
	Collectors []prometheus.Collector
	// Tracer, when set, traces every request: a server span, and a child span for its
	// statements (package tracing builds it from the config's tracing section).
	Tracer trace.Tracer
}

// New builds a server; call Serve or ListenAndServe to run it.
func New(opts Options) (*Server, error) {
	s := &Server{cfg: opts.Config, reg: opts.Registry, log: opts.Logger, metrics: newMetrics(opts.Config.Metrics), events: opts.Events,
		ids: newRequestIDs(), tracer: opts.Tracer, cors: newCORS(opts.Config.CORS)}
	trusted, err := parseCIDRs(opts.Config.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	s.trusted = trusted
	if s.events != nil {
		s.metrics.reg.MustRegister(s.events)
	}
	for _, c := range opts.Collectors {
		if err := s.metrics.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.metrics.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kapok_schema_load_failures_total",
			Help: "Tenant catalog loads that failed (the tenant keeps serving its last schema, or is not ready without one)."},
			func() float64 { return float64(s.reg.LoadFailures()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kapok_tenants_unloaded",
			Help: "Tenants whose last catalog load failed (cold and hibernated tenants are not counted)."},
			func() float64 { return float64(s.reg.Unloaded()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kapok_tenants_resident",
			Help: "Tenants whose catalog is in memory (the others are cold or hibernated, and load on their next request)."},
			func() float64 { return float64(s.reg.Resident()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kapok_tenant_hibernations_total",
			Help: "Tenant catalogs given back after tenancy.hibernate_after unused."},
			func() float64 { return float64(s.reg.Hibernations()) }),
	)
	s.reg.OnChange(func(t *control.Tenant, old, cur *control.Snapshot) {
		// A first load or a wake-up (old nil) and a hibernation (cur nil) are no reload.
		if old != nil && cur != nil {
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
		MaxRequestBodySize:    preAuthMaxBody, // HeaderReceived gives every request with a body its own limit
		HeaderReceived:        s.headerReceived,
		ErrorHandler:          s.requestError,
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		CloseOnShutdown:       true,
		Logger:                slogPrintf{s.log},
	}
	return s, nil
}

type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) {
	for _, a := range args {
		if err, ok := a.(error); ok && errors.Is(err, fasthttp.ErrBodyTooLarge) {
			return // answered 413 and counted in kapok_rejected_total; a log line each would let clients flood the log
		}
	}
	p.l.Warn(fmt.Sprintf(format, args...))
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.http.Serve(lingerListener{Listener: ln, maxWait: s.http.ReadTimeout})
}

// ServeTLS serves HTTPS on ln until Shutdown, with cfg for every connection. fasthttp runs
// each handshake under the server's read and write timeouts.
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config) error {
	return s.http.Serve(tls.NewListener(lingerListener{Listener: ln, maxWait: s.http.ReadTimeout}, cfg))
}

// Shutdown stops accepting connections and waits for in-flight requests to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	s.api.drainSockets()
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
	// prefixConsole is the web console's (package console).
	prefixConsole = []byte(console.Prefix)
)

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	start := monotonic()
	s.tagRequest(ctx)
	var span trace.Span
	if s.tracer != nil {
		span = s.startSpan(ctx)
	}
	route, outcome := routeOther, outcomeOK
	var t *control.Tenant
	defer func() {
		if p := recover(); p != nil {
			s.requestLog(ctx).Error("panic in handler", "panic", p, "stack", string(debug.Stack()))
			id := append([]byte(nil), ctx.Response.Header.Peek(headerRequestID)...)
			ctx.Response.Reset()
			ctx.Response.Header.SetCanonical(keyRequestID, id)
			writeJSONError(ctx, fasthttp.StatusInternalServerError, "unexpected", "internal error")
			outcome = outcomeError
		}
		var e *tenantEntry
		if t != nil {
			e = s.metrics.tenant(t.Name)
		}
		s.metrics.observe(route, outcome, e, (monotonic() - start).Seconds())
		if span != nil {
			s.endSpan(ctx, span, t, route, outcome)
		}
	}()
	route, outcome, t = s.dispatch(ctx)
}

// dispatch routes a request and reports its route and outcome labels, and its tenant (nil
// when it names none that exists).
func (s *Server) dispatch(ctx *fasthttp.RequestCtx) (string, string, *control.Tenant) {
	path := ctx.Path()
	switch {
	case bytes.Equal(path, pathHealthz):
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"status":"ok"}`)
		return routeHealth, outcomeOK, nil
	case bytes.Equal(path, pathReadyz):
		return routeHealth, s.readyz(ctx), nil
	case bytes.Equal(path, pathMetrics):
		s.metricsHandler(ctx)
		return routeHealth, outcomeOK, nil
	case bytes.HasPrefix(path, prefixAdmin):
		return routeAdmin, s.api.admin(ctx, path[len(prefixAdmin):]), nil
	case underPrefix(path, prefixConsole):
		console.Serve(ctx)
		return routeConsole, outcomeOK, nil
	case len(path) == 1 && path[0] == '/' && (ctx.IsGet() || ctx.IsHead()):
		ctx.Redirect(console.Prefix+"/", fasthttp.StatusFound)
		return routeConsole, outcomeOK, nil
	}
	tenantName, rest := splitTenantPath(path)
	kind := routeKind(rest)
	if s.cors.apply(ctx) { // a browser's preflight, answered whatever the tenant
		return kind, outcomeOK, nil
	}
	if kind == routeOther && unservedAPI(ctx, rest) { // never the path of a served API
		return routeOther, outcomeClientError, nil
	}
	t := s.resolveTenant(&ctx.Request.Header, ctx.Host(), tenantName)
	if t != nil {
		g, waited := s.api.gates.enter(t)
		if g == nil {
			writeRouteError(ctx, kind, fasthttp.StatusServiceUnavailable, "tenant-moving",
				fmt.Sprintf("tenant %q is being moved to a database of its own and was paused longer than the request may wait; retry", t.Name))
			return kind, outcomeError, t
		}
		defer g.exit()
		if waited || t.Retired() { // a move held it, or switched before it entered: resolve again
			t = s.resolveTenant(&ctx.Request.Header, ctx.Host(), tenantName)
		}
	}
	if t == nil {
		name := string(tenantName)
		if name == "" {
			name = string(ctx.Request.Header.Peek("X-Kapok-Tenant"))
		}
		writeRouteError(ctx, kind, fasthttp.StatusNotFound, "tenant-not-found", tenantNotFoundMessage(name))
		return kind, outcomeClientError, nil
	}
	return kind, s.api.serve(ctx, t, kind, rest), t
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
	case underPrefix(rest, prefixRealtime):
		return routeRealtime
	case underPrefix(rest, prefixAuth):
		return routeAuth
	}
	return routeOther
}

// splitTenantPath splits /t/{tenant}/rest into the tenant's name and the rest; a path
// without the prefix names no tenant (nil) and is all rest.
func splitTenantPath(path []byte) (tenantName, rest []byte) {
	if !bytes.HasPrefix(path, prefixT) {
		return nil, path
	}
	p := path[len(prefixT):]
	if i := bytes.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i:]
	}
	return p, nil
}

// resolveTenant applies DESIGN.md's order: path prefix, X-Kapok-Tenant, the first label of
// Host when it names a tenant, the default tenant. It needs only the request's header, so
// the body limit can be chosen before the body is read.
func (s *Server) resolveTenant(h *fasthttp.RequestHeader, host, fromPath []byte) *control.Tenant {
	if fromPath != nil {
		return s.reg.Tenant(string(fromPath))
	}
	if v := h.Peek("X-Kapok-Tenant"); len(v) > 0 {
		return s.reg.Tenant(string(v))
	}
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
	if w := s.reg.Warnings(); len(w) > 0 {
		// A tenant without tables is that tenant's configuration problem: the replica
		// stays in rotation, and says so.
		b, _ := json.Marshal(struct {
			Status   string   `json:"status"`
			Warnings []string `json:"warnings"`
		}{"ready", w})
		ctx.SetBody(b)
		return outcomeOK
	}
	ctx.SetBodyString(`{"status":"ready"}`)
	return outcomeOK
}

// AttachStore lets the server follow tenants of the control tables: a tenant removed by
// any replica has its pool closed and its schemas and guards dropped here at once, not at
// the next idle sweep, a tenant moved to a database of its own has its old pool and its
// WebSocket connections closed, and a tenant
// whose configuration changed gets its new anonymous, authenticated and API-key roles
// granted, and its Kapok Auth store when it turned auth.users on.
func (s *Server) AttachStore(st *control.Store) {
	st.OnRemove(s.api.forget)
	st.OnRemove(s.api.gates.forget)
	st.OnRemove(s.metrics.forgetTenant)
	st.OnMove(s.api.movedTenant)
	st.OnUpdate(func(t *control.Tenant) {
		s.api.dropStaleGuards(t)
		s.api.refreshTenantRoles(t, false)
		s.api.prepareAuth(t)
	})
}
