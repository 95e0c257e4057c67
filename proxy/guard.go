package proxy

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/planner/gqlschema"
)

// guard is a tenant's admission state that lives in the proxy: credentials, the request
// rate limit and the client address allow-list. It is built once per tenant config.
type guard struct {
	auth    *tenantAuth
	limiter *tokenBucket   // nil: no rate limit
	allow   []netip.Prefix // empty: every address
	// tenantRole is the Postgres role requests without a role of their own (admin key,
	// open tenants) run as under isolation "role"; "" = the pool's login role.
	tenantRole string
	// loginRole is the pool's login role: no credential may pick it.
	loginRole string

	// roleSchemas holds the GraphQL schema of each role seen, for one catalog version.
	schemaMu    sync.Mutex
	schemaVer   string
	roleSchemas map[string]*gqlschema.Schema
}

// authenticate resolves the request's principal and the Postgres role it runs as. A role
// taken from a credential may not be one of Kapok's tenant roles, a pg_* role or the pool's
// login role (a tenant's JWT must not reach past the tenant). Admin requests keep full API
// access but run as the tenant role, never as the login role, under isolation "role".
func (g *guard) authenticate(ctx *fasthttp.RequestCtx) (principal, error) {
	p, err := g.auth.authenticate(ctx)
	if err != nil {
		return p, err
	}
	if p.Role != "" && (control.IsReservedRole(p.Role) || p.Role == g.loginRole) {
		return principal{}, &authError{fasthttp.StatusForbidden, fmt.Sprintf("role %q may not be used by a request", p.Role)}
	}
	if !p.Admin || p.Role != "" {
		p.SchemaRole = p.Role
	}
	if p.Admin && p.Role == "" {
		p.Role = g.tenantRole
	}
	return p, nil
}

func newGuard(adminKey string, tc *control.TenantConfig, a *apis) (*guard, error) {
	ta, err := newTenantAuth(adminKey, tc.Auth, a.httpc)
	if err != nil {
		return nil, err
	}
	g := &guard{auth: ta}
	if tc.Isolation == control.IsolationRole {
		g.tenantRole = control.TenantRole(tc.Name)
	}
	if pc, err := pgconn.ParseConfig(a.s.cfg.LoginURL(tc)); err == nil {
		g.loginRole = pc.User
	}
	if l := tc.Limits; l != nil && l.RateLimit > 0 {
		burst := l.RateBurst
		if burst <= 0 {
			burst = int(math.Max(1, math.Ceil(l.RateLimit)))
		}
		g.limiter = newTokenBucket(l.RateLimit, burst)
	}
	if g.allow, err = parseCIDRs(tc.AllowCIDRs); err != nil {
		return nil, fmt.Errorf("tenant %s: %w", tc.Name, err)
	}
	return g, nil
}

func parseCIDRs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("allow_cidrs: %q is neither a CIDR nor an address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// allowed reports whether the client address may use the tenant.
func allowedAddr(list []netip.Prefix, ctx *fasthttp.RequestCtx) bool {
	if len(list) == 0 {
		return true
	}
	var addr netip.Addr
	switch a := ctx.RemoteAddr().(type) {
	case *net.TCPAddr:
		addr, _ = netip.AddrFromSlice(a.IP)
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return false
		}
		addr = ap.Addr()
	}
	addr = addr.Unmap()
	for _, p := range list {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// tokenBucket is a classic token bucket: rate tokens a second, at most burst saved.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// take spends one token; when none is left it says how long until one is.
func (b *tokenBucket) take(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// admit applies the allow-list and the rate limit. It answers the request itself when it
// refuses it, and returns false.
func (a *apis) admit(ctx *fasthttp.RequestCtx, g *guard, route string) bool {
	if !allowedAddr(g.allow, ctx) {
		a.s.metrics.rejected.WithLabelValues("ip_not_allowed").Inc()
		writeRouteError(ctx, route, fasthttp.StatusForbidden, "access-denied", "this client address may not use this tenant")
		return false
	}
	if g.limiter != nil {
		if ok, wait := g.limiter.take(time.Now()); !ok {
			a.s.metrics.rejected.WithLabelValues("rate_limit").Inc()
			secs := int(math.Ceil(wait.Seconds()))
			if secs < 1 {
				secs = 1
			}
			ctx.Response.Header.Set("Retry-After", fmt.Sprint(secs))
			writeRouteError(ctx, route, fasthttp.StatusTooManyRequests, "too-many-requests", "rate limit exceeded; retry later")
			return false
		}
	}
	return true
}

// ensureTenantRole creates or refreshes the Postgres role of a tenant under isolation
// "role" (control.EnsureTenantRole); the registry's change hook calls it on the first load
// and on every new schema version, so tables created since get their grants. It runs on
// the tenant's own pool (one round trip, and the pool is warm for the first request), whose
// login role is the member that may SET the role. A failure is logged and fails closed:
// requests cannot SET a missing role.
func (a *apis) ensureTenantRole(t *control.Tenant) {
	if !t.Config.UsesTenantRole() {
		return
	}
	// A direct connection as the upstream's own role: under IsolationLogin the tenant's
	// pool logs in as the very role this creates.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	member := ""
	if pc, err := pgconn.ParseConfig(a.s.cfg.LoginURL(t.Config)); err == nil {
		member = pc.User
	}
	conn, err := pgx.Connect(ctx, t.DirectURL)
	if err == nil {
		_, err = control.EnsureTenantRole(ctx, conn, t.Config, member)
		conn.Close(context.Background())
	}
	if err != nil {
		a.s.log.Error("tenant role", "tenant", t.Name, "err", err)
	}
}

// graphqlSchemaFor returns the GraphQL schema who sees: the whole schema of the snapshot
// for admin requests, else the one of its role's privileges, built once per (catalog
// version, role). Privileges are part of the catalog version, so a GRANT gives new schemas.
func (a *apis) graphqlSchemaFor(t *control.Tenant, snap *control.Snapshot, who principal) (*gqlschema.Schema, error) {
	if who.SchemaRole == "" {
		return a.graphqlSchema(t, snap)
	}
	g, err := a.guardFor(t)
	if err != nil {
		return nil, err
	}
	// Roles the catalog does not know have PUBLIC's privileges: they share its schema, so
	// made-up role names in tokens cannot grow the cache.
	role := snap.Catalog.Privileges.For(who.SchemaRole).Role
	g.schemaMu.Lock()
	if g.schemaVer != snap.Version {
		g.schemaVer, g.roleSchemas = snap.Version, map[string]*gqlschema.Schema{}
	}
	s := g.roleSchemas[role]
	g.schemaMu.Unlock()
	if s != nil {
		return s, nil
	}
	v, err, _ := a.gqlSF.Do(t.Name+"\x00"+snap.Version+"\x00"+role, func() (any, error) {
		s, err := gqlschema.BuildFor(snap.Catalog, role, gqlschema.Options{})
		if err != nil {
			return nil, err
		}
		g.schemaMu.Lock()
		if g.schemaVer == snap.Version {
			g.roleSchemas[role] = s
		}
		g.schemaMu.Unlock()
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*gqlschema.Schema), nil
}
