package proxy

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/auth"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/poolmgr"
	"github.com/kapok-dev/kapok/realtime"
)

// apis holds what the tenant-facing handlers share: pools, plans, per-version schemas and
// per-tenant authenticators.
type apis struct {
	s     *Server
	pools *poolmgr.Manager
	plans *planCache
	// roleEnsures counts the tenant-role scripts run by catalog-load hooks.
	roleEnsures atomic.Int64

	schemas *schemaCache
	// run executes a request on a tenant pool; tests replace it to keep Postgres out of
	// measurements of Kapok's own work.
	run func(p *poolmgr.Pool, c context.Context, req *poolmgr.Request, dst []byte) ([]byte, []int, error)

	// hub runs GraphQL subscriptions; sockets are the open WebSocket connections.
	hub     *realtime.Hub
	sockets sockets
	// gates hold a tenant's requests while a move switches its database.
	gates tenantGates
	// changes and channels serve Supabase Realtime; rtIdle closes a socket silent for
	// that long.
	changes  *realtime.Changes
	channels *realtime.Channels
	rtIdle   time.Duration

	guardMu sync.Mutex
	guards  map[*control.TenantConfig]*guard

	// overStorage counts the tenants over their storage quota: while it is 0, writes do
	// not look their tenant's usage up. stopUsage ends the storage measurements.
	overStorage atomic.Int64
	stopUsage   context.CancelFunc

	// rolePools hold direct connections for managing tenant roles, by database URL.
	rolePoolsMu sync.Mutex
	rolePools   map[string]*pgxpool.Pool
	httpc       *http.Client

	// auth serves Kapok Auth (/auth/v1); authServe is its Serve, which tests replace to see
	// the requests the proxy hands it.
	auth      *auth.Service
	authServe func(ctx context.Context, t *control.Tenant, r *auth.Request) *auth.Response
}

func newAPIs(s *Server) (*apis, error) {
	pc, err := newPlanCache(s.metrics.reg)
	if err != nil {
		return nil, err
	}
	a := &apis{
		s:       s,
		plans:   pc,
		schemas: newSchemaCache(int64(s.cfg.Tenancy.SchemaCacheMB) << 20),
		guards:  map[*control.TenantConfig]*guard{},
		httpc:   &http.Client{Timeout: 5 * time.Second},
		run:     (*poolmgr.Pool).Run,
	}
	a.pools = poolmgr.New(poolmgr.Config{
		MaxPools:         s.cfg.Pools.MaxPools,
		IdleTimeout:      s.cfg.Pools.IdleTimeout.D(),
		GlobalMaxClients: s.cfg.Pools.MaxClients,
		SharedMaxConns:   s.cfg.Pools.SharedMaxConns,
		RequestTimeout:   s.cfg.Limits.RequestTimeout.D(),
		Logger:           s.log,
	})
	s.metrics.reg.MustRegister(a.pools, usageCollector{a},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kapok_graphql_schemas",
			Help: "GraphQL schemas held for compiling requests (one per tenant and role in use)."},
			func() float64 { n, _, _ := a.schemas.stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kapok_graphql_schema_bytes",
			Help: "Estimated heap of the GraphQL schemas held, bounded by tenancy.schema_cache_mb."},
			func() float64 { _, b, _ := a.schemas.stats(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kapok_graphql_schema_evictions_total",
			Help: "GraphQL schemas dropped to stay under tenancy.schema_cache_mb (built again on their next compilation)."},
			func() float64 { _, _, e := a.schemas.stats(); return float64(e) }),
	)
	if every := s.cfg.Tenancy.UsageInterval.D(); every > 0 {
		var ctx context.Context
		ctx, a.stopUsage = context.WithCancel(context.Background())
		go a.measureUsage(ctx, every)
	}
	hm := realtime.NewMetrics()
	s.metrics.reg.MustRegister(hm)
	xm := realtime.NewChangesMetrics()
	s.metrics.reg.MustRegister(xm)
	// One change feed: postgres_changes and, where logical replication runs, the GraphQL
	// subscriptions' table changes come from the same stream.
	a.changes = realtime.NewChanges(realtime.ChangesOptions{Config: s.cfg, Registry: s.reg, Pools: a.pools, Pool: a.pool, Logger: s.log, Metrics: xm})
	a.hub = realtime.New(realtime.Options{Logger: s.log, Metrics: hm, Changes: a.changes})
	cm := realtime.NewChannelMetrics()
	s.metrics.reg.MustRegister(cm)
	a.channels = realtime.NewChannels(realtime.ChannelsOptions{Logger: s.log, Metrics: cm, Changes: a.changes})
	a.rtIdle = rtIdleTimeout
	am := auth.NewMetrics()
	if err := s.metrics.reg.Register(am); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	a.auth = auth.New(auth.Options{Registry: s.reg, Logger: s.log, Metrics: am, HTTPClient: a.httpc})
	a.authServe = a.auth.Serve
	// Live subscriptions and channels use the catalog with no request to count as use.
	s.reg.KeepAwake(func(t *control.Tenant) bool {
		topics, _ := a.channels.TenantChannels(t.Name)
		return a.hub.TenantSubscriptions(t.Name) > 0 || topics > 0
	})
	s.reg.OnChange(func(t *control.Tenant, old, cur *control.Snapshot) {
		// Plans of the old version are unreachable (the version is in every key): dropped
		// now, they free the catalog they hold. The GraphQL schemas are rebuilt on the
		// next request.
		a.schemas.drop(t)
		a.plans.forget(t.Name)
		if cur == nil {
			// Hibernated: the role, its grants and the auth store stay in the database,
			// and waking up is a first load, which refreshes them.
			return
		}
		a.refreshTenantRoles(t, old == nil)
		a.prepareAuth(t)
		if old != nil {
			// Live subscriptions hold plans of the old version: compiled again, off the
			// reload's path.
			go a.sockets.replan(t)
		}
	})
	return a, nil
}

// prepareAuth installs the Kapok Auth store and the auth.uid() helpers in the database
// of a tenant with auth.users, when it loads and when its configuration changes: a
// migration's row-level security policy may name auth.uid() before any user signs in. A
// failure is logged; the first request to /auth/v1 tries again.
func (a *apis) prepareAuth(t *control.Tenant) {
	if !a.auth.Enabled(t) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.auth.Prepare(ctx, t); err != nil {
		a.s.log.Error("kapok auth store", "tenant", t.Name, "err", err)
	}
}

// prepare loads a cold tenant's catalog for a route that compiles nothing against it
// (Kapok Auth, Realtime, the wire port, a GraphQL socket's connection_init): the first
// load's change hooks create the tenant's role and grants and its auth store, which
// authentication and the tenant's pool rely on. A failed load is no answer there: what it
// would have prepared fails closed where it is missing, and the registry logged why.
func (a *apis) prepare(ctx context.Context, t *control.Tenant) {
	_, _ = a.s.reg.Ensure(ctx, t)
}

// drainSockets closes the WebSocket connections and stops the subscriptions; the HTTP
// server's shutdown would otherwise wait for them.
func (a *apis) drainSockets() {
	a.sockets.drain()
	a.hub.Close()
	a.channels.Close()
}

func (a *apis) close() {
	if a.stopUsage != nil {
		a.stopUsage()
	}
	a.auth.Close()
	a.hub.Close()
	a.channels.Close()
	a.changes.Close()
	a.pools.Close()
	a.plans.close()
	a.rolePoolsMu.Lock()
	for _, p := range a.rolePools {
		p.Close()
	}
	a.rolePoolsMu.Unlock()
}

// serve handles a request addressed to tenant t.
func (a *apis) serve(ctx *fasthttp.RequestCtx, t *control.Tenant, kind string, rest []byte) string {
	switch kind {
	case routeGraphQL:
		return a.graphql(ctx, t)
	case routeREST:
		return a.rest(ctx, t, rest)
	case routeDocs:
		return a.docs(ctx, t, rest)
	case routeRealtime:
		return a.realtime(ctx, t, rest)
	case routeAuth:
		return a.authAPI(ctx, t, rest)
	}
	writeRouteError(ctx, kind, fasthttp.StatusNotFound, "not-found", "no route for "+string(ctx.Method())+" "+string(ctx.Path()))
	return outcomeClientError
}

// admin serves /admin/v1/…
func (a *apis) admin(ctx *fasthttp.RequestCtx, rest []byte) string {
	return a.serveAdmin(ctx, rest)
}

// guardFor returns the tenant's guard, built once per tenant config.
func (a *apis) guardFor(t *control.Tenant) (*guard, error) {
	a.guardMu.Lock()
	defer a.guardMu.Unlock()
	if g := a.guards[t.Config]; g != nil {
		return g, nil
	}
	g, err := newGuard(a.s.cfg.AdminKey, t.Config, a)
	if err != nil {
		return nil, err
	}
	a.guards[t.Config] = g
	return g, nil
}

// forget releases what the proxy holds for a tenant that is gone: its pool (and its share
// of a shared one), its GraphQL schemas, its plans and its guards.
func (a *apis) forget(tenant string) {
	a.pools.Remove(tenant)
	a.schemas.forget(tenant)
	a.plans.forget(tenant)
	a.dropGuards(tenant, nil)
}

// dropStaleGuards forgets the guards built for t's earlier configurations.
func (a *apis) dropStaleGuards(t *control.Tenant) { a.dropGuards(t.Name, t.Config) }

// dropGuards forgets the guards of tenant, but the one built for keep.
func (a *apis) dropGuards(tenant string, keep *control.TenantConfig) {
	a.guardMu.Lock()
	defer a.guardMu.Unlock()
	for tc := range a.guards {
		if tc.Name == tenant && tc != keep {
			delete(a.guards, tc)
		}
	}
}

// pool returns the tenant's pool, opening it on first use.
func (a *apis) pool(t *control.Tenant) (*poolmgr.Pool, error) {
	c := t.Config
	// Get does not connect (a pool opens connections on demand), so it needs no deadline.
	return a.pools.Get(context.Background(), t.Name, poolmgr.PoolConfig{
		URL:              t.PoolerURL,
		SharedLogin:      c.Isolation != control.IsolationLogin,
		MaxConns:         c.Pool.MaxConns,
		MinIdleConns:     c.Pool.MinIdleConns,
		MaxInFlight:      c.Pool.MaxInFlight,
		Weight:           c.Pool.Weight,
		QueueWait:        c.Pool.QueueTimeout.D(),
		AcquireTimeout:   c.Pool.QueueTimeout.D(),
		StatementTimeout: c.Limits.StatementTimeout.D(),
		ExecMode:         poolmgr.ExecMode(t.ExecMode),
		ShareReads:       a.s.cfg.ShareReads(c),
	})
}
