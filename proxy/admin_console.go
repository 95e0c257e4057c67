package proxy

import (
	"context"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/events"
	"github.com/kapok-dev/kapok/poolmgr"
)

// The admin routes the web console (package console) reads for its live views, and those
// that act on a tenant's keys.

// tenantLive is one tenant's live figures: cumulative request counts and latency (a client
// diffs two answers) and its pool's state now.
type tenantLive struct {
	liveCounters
	Pool *poolmgr.PoolStats `json:"pool"`
}

func (call *adminCall) tenantLive(name string) tenantLive {
	out := tenantLive{liveCounters: call.a.s.metrics.liveOf(name).snapshot()}
	if ps, ok := call.a.pools.Stats(name); ok {
		out.Pool = &ps
	}
	return out
}

// monitorAll answers GET /admin/v1/monitor: every served tenant's live figures, from this
// process's memory alone (no query), so polling it every second costs little.
func (call *adminCall) monitorAll() int {
	if m := string(call.ctx.Method()); m != "GET" && m != "HEAD" {
		return call.notAllowed("GET")
	}
	tenants := map[string]tenantLive{}
	for _, t := range call.a.s.reg.Tenants() {
		tenants[t.Name] = call.tenantLive(t.Name)
	}
	return call.reply(fasthttp.StatusOK, map[string]any{"at": time.Now().UnixMilli(), "tenants": tenants})
}

// monitorTenant answers GET /admin/v1/tenants/{name}/monitor: the tenant's live figures and
// PostgreSQL's view of it (table activity, cache hits, pg_stat_statements), its realtime
// channels and subscriptions here, and its events by state.
func (call *adminCall) monitorTenant(t *control.Tenant) int {
	type realtimeCounts struct {
		Topics        int `json:"topics"`
		Channels      int `json:"channels"`
		Subscriptions int `json:"subscriptions"`
	}
	out := struct {
		At     int64  `json:"at"`
		Tenant string `json:"tenant"`
		tenantLive
		Database   *control.DatabaseStats `json:"database"`
		Statements *control.Statements    `json:"statements"`
		Realtime   realtimeCounts         `json:"realtime"`
		Events     *events.Counts         `json:"events"`
	}{At: time.Now().UnixMilli(), Tenant: t.Name, tenantLive: call.tenantLive(t.Name)}
	topics, chans := call.a.channels.TenantChannels(t.Name)
	out.Realtime = realtimeCounts{Topics: topics, Channels: chans, Subscriptions: call.a.hub.TenantSubscriptions(t.Name)}
	if call.store != nil {
		// PostgreSQL's figures are a few catalog reads: bounded, so a slow database leaves
		// the live figures on time.
		c, cancel := context.WithTimeout(call.c, 5*time.Second)
		defer cancel()
		db, err := call.store.Stats(c, t)
		if err != nil {
			return call.failErr(err)
		}
		out.Database = db
		if out.Statements, err = call.store.Statements(c, t, 25); err != nil {
			return call.failErr(err)
		}
		if ev := call.a.s.events; ev != nil {
			// A tenant whose events schema cannot be read has no counts: not a failure of
			// the whole view.
			out.Events, _ = ev.Count(c, t)
		}
	}
	if out.Statements == nil {
		out.Statements = &control.Statements{Reason: "no control tables: Kapok does not manage this upstream", Rows: []control.StatementStats{}}
	}
	return call.reply(fasthttp.StatusOK, out)
}

// rotateKeys answers POST /admin/v1/tenants/{name}/keys/rotate: a new JWT secret, and the
// keys it signs.
func (call *adminCall) rotateKeys(t *control.Tenant) int {
	if s := call.needStore(); s != 0 {
		return s
	}
	nt, err := call.store.RotateKeySecret(call.c, t.Name)
	if err != nil {
		return call.failErr(err)
	}
	call.a.s.requestLog(call.ctx).Info("tenant keys rotated", "tenant", t.Name, "actor", call.actor())
	return call.keys(nt)
}

// mintToken answers POST /admin/v1/tenants/{name}/token {"role", "claims", "expires_in"}:
// a token of the tenant for that role, to try its APIs as that role would.
func (call *adminCall) mintToken(t *control.Tenant) int {
	var req struct {
		Role      string         `json:"role"`
		Claims    map[string]any `json:"claims"`
		ExpiresIn int            `json:"expires_in"`
	}
	if s := call.decode(&req); s != 0 {
		return s
	}
	if req.ExpiresIn == 0 {
		req.ExpiresIn = 3600
	}
	tok, exp, err := control.MintToken(t.Name, t.Config.Auth, req.Role, req.Claims, time.Duration(req.ExpiresIn)*time.Second)
	if err == control.ErrNoKeySecret {
		return call.fail(fasthttp.StatusConflict, "no-jwt-secret", err.Error())
	}
	if err != nil {
		return call.failErr(err)
	}
	return call.reply(fasthttp.StatusOK, map[string]any{"token": tok, "expires_at": exp.Unix()})
}

// serviceKeyOpens reports whether key opens the admin routes of the tenant path names
// (/tenants/{name} and below; path is after /admin/v1): a key the tenant's own APIs take as
// its owner, that is its service_role key, checked by the tenant's credential rules (its
// guard) rather than by rules of the admin API's own. The console's tenant sign-in uses it.
// Some routes stay the admin key's alone (serviceKeyRefused).
func (a *apis) serviceKeyOpens(ctx *fasthttp.RequestCtx, path string, key []byte) bool {
	parts := strings.SplitN(strings.Trim(path, "/"), "/", 3)
	if len(parts) < 2 || parts[0] != "tenants" {
		return false
	}
	t := a.s.reg.Tenant(parts[1])
	if t == nil {
		return false
	}
	g, err := a.guardFor(t)
	if err != nil {
		return false
	}
	// The admin key, the one other key the tenant takes as its owner, failed already.
	p, err := g.auth.credential(key, &ctx.Request.Header)
	return err == nil && p.Admin
}

// serviceKeyRefused says why a tenant's service_role key may not take this route: changing
// or deleting the tenant, rotating its keys (which would lock the key itself out) and moving
// it (a database of the platform's) need the admin key.
func serviceKeyRefused(method, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 2 && method != "GET" && method != "HEAD":
		return "changing or deleting a tenant needs the admin key, not the tenant's service_role key"
	case len(parts) == 4 && parts[2] == "keys" && parts[3] == "rotate":
		return "rotating a tenant's keys needs the admin key, not the tenant's service_role key"
	case len(parts) == 3 && parts[2] == "move":
		return "moving a tenant to a database of its own needs the admin key, not the tenant's service_role key"
	}
	return ""
}
