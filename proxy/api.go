package proxy

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/poolmgr"
)

// apis holds what the tenant-facing handlers share: pools, plans, per-version schemas and
// per-tenant authenticators.
type apis struct {
	s     *Server
	pools *poolmgr.Manager
	plans *planCache

	// gql holds the GraphQL schema of each tenant's current catalog version.
	gqlMu sync.Mutex
	gql   map[string]*gqlEntry
	gqlSF singleflight.Group
	// run executes a request on a tenant pool; tests replace it to keep Postgres out of
	// measurements of Kapok's own work.
	run func(p *poolmgr.Pool, c context.Context, req *poolmgr.Request, dst []byte) ([]byte, []int, error)

	guardMu sync.Mutex
	guards  map[*control.TenantConfig]*guard
	httpc   *http.Client
}

type gqlEntry struct {
	version string
	schema  *gqlschema.Schema
}

func newAPIs(s *Server) (*apis, error) {
	pc, err := newPlanCache(s.metrics.reg)
	if err != nil {
		return nil, err
	}
	a := &apis{
		s:      s,
		plans:  pc,
		gql:    map[string]*gqlEntry{},
		guards: map[*control.TenantConfig]*guard{},
		httpc:  &http.Client{Timeout: 5 * time.Second},
		run:    (*poolmgr.Pool).Run,
	}
	a.pools = poolmgr.New(poolmgr.Config{
		MaxPools:         s.cfg.Pools.MaxPools,
		IdleTimeout:      s.cfg.Pools.IdleTimeout.D(),
		GlobalMaxClients: s.cfg.Pools.MaxClients,
		RequestTimeout:   s.cfg.Limits.RequestTimeout.D(),
		Logger:           s.log,
	})
	s.metrics.reg.MustRegister(a.pools)
	s.reg.OnChange(func(t *control.Tenant, old, cur *control.Snapshot) {
		// Plans of the old version are unreachable (the version is in every key); the
		// GraphQL schema is rebuilt on the next request.
		a.gqlMu.Lock()
		delete(a.gql, t.Name)
		a.gqlMu.Unlock()
		a.refreshTenantRoles(t, old == nil)
	})
	return a, nil
}

func (a *apis) close() {
	a.pools.Close()
	a.plans.close()
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
		QueueWait:        c.Pool.QueueTimeout.D(),
		AcquireTimeout:   c.Pool.QueueTimeout.D(),
		StatementTimeout: c.Limits.StatementTimeout.D(),
		ExecMode:         poolmgr.ExecMode(t.ExecMode),
	})
}

// graphqlSchema returns the GraphQL schema of snapshot snap of tenant t, building it once
// per version.
func (a *apis) graphqlSchema(t *control.Tenant, snap *control.Snapshot) (*gqlschema.Schema, error) {
	a.gqlMu.Lock()
	e := a.gql[t.Name]
	a.gqlMu.Unlock()
	if e != nil && e.version == snap.Version {
		return e.schema, nil
	}
	v, err, _ := a.gqlSF.Do(t.Name+"\x00"+snap.Version, func() (any, error) {
		s, err := gqlschema.Build(snap.Catalog, gqlschema.Options{})
		if err != nil {
			return nil, err
		}
		a.gqlMu.Lock()
		if cur := t.Snapshot(); cur != nil && cur.Version == snap.Version {
			a.gql[t.Name] = &gqlEntry{version: snap.Version, schema: s}
		}
		a.gqlMu.Unlock()
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*gqlschema.Schema), nil
}
