package proxy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
)

// guard is a tenant's admission state that lives in the proxy: credentials, the request
// rate limit, the client address allow-list and the roles requests may run as. It is built
// once per tenant config.
type guard struct {
	auth    *tenantAuth
	limiter *tokenBucket   // nil: no rate limit
	allow   []netip.Prefix // empty: every address
	// loginRole is the pool's login role: no credential may pick it.
	loginRole string
	roles     requestRoles
	// tenant and quota: the tenant's limits.quota_* per window (zero: none).
	tenant string
	quota  quotas
}

// errRoleRefused answers every role a request may not run as, whether the role exists or
// not, so the answer tells a caller nothing about which roles exist.
var errRoleRefused = &authError{fasthttp.StatusForbidden, "the request's role may not be used with this tenant"}

// authenticate resolves the request's principal and the Postgres role it runs as. A role
// taken from a credential must be one of the tenant's usable roles (control.LoadRequestRoles):
// a token must not reach past the tenant, nor reset the role to the pool's login with
// "none". Admin requests keep full API access and run as the tenant's default role.
func (g *guard) authenticate(ctx *fasthttp.RequestCtx) (principal, error) {
	p, err := g.auth.authenticate(ctx)
	if err != nil {
		return p, err
	}
	if p.Admin && p.Role == "" {
		p.Role = g.roles.defaultRole()
		return p, nil
	}
	if p.Role == g.loginRole || !g.roles.usable(p.Role) {
		return principal{}, errRoleRefused
	}
	p.SchemaRole = p.Role
	return p, nil
}

// requestRoles holds a tenant's control.RequestRoles, loaded off the request path when
// the tenant's catalog loads or changes (apis.refreshTenantRoles), and again as requests
// use it: GRANT and REVOKE of a role are no schema change. A request naming a role the set
// lacks (granted since?) reloads it at once, at most every rolesRetry; see usable for age.
type requestRoles struct {
	cur atomic.Pointer[loadedRoles]
	// static is the default role when it does not depend on the database.
	static   string
	isStatic bool
	load     func(context.Context) (*control.RequestRoles, error)

	mu         sync.Mutex
	tried      time.Time // last load attempt, under mu
	refreshing atomic.Bool
}

type loadedRoles struct {
	*control.RequestRoles
	at time.Time
}

const (
	rolesMaxAge = 10 * time.Second
	rolesRetry  = time.Second
)

func (r *requestRoles) set(rr *control.RequestRoles) {
	r.cur.Store(&loadedRoles{RequestRoles: rr, at: time.Now()})
}

// defaultRole is the role of requests without one of their own. Under isolation "none"
// it depends on whether the login role is a superuser; until that is known, it is the
// tenant's role, which fails closed if it does not exist.
func (r *requestRoles) defaultRole() string {
	if r.isStatic {
		return r.static
	}
	cur := r.cur.Load()
	if cur == nil {
		cur = r.reload()
	}
	if cur == nil {
		return r.static
	}
	return cur.Default
}

// usable reports whether a credential may name role. A set older than rolesMaxAge is
// reloaded first, so a revoked role is refused within rolesMaxAge; under steady traffic the
// set is refreshed in the background before that, and no request waits.
func (r *requestRoles) usable(role string) bool {
	if control.IsReservedRole(role) {
		return false
	}
	cur := r.cur.Load()
	if cur != nil {
		if _, ok := cur.Usable[role]; ok {
			age := time.Since(cur.at)
			if age <= rolesMaxAge {
				if age > rolesMaxAge/2 && r.refreshing.CompareAndSwap(false, true) {
					go func() {
						defer r.refreshing.Store(false)
						r.reload()
					}()
				}
				return true
			}
		}
	}
	if cur = r.reload(); cur == nil {
		return false
	}
	_, ok := cur.Usable[role]
	return ok
}

// reload loads the roles unless a load was tried less than rolesRetry ago, and returns the
// current ones (nil if never loaded). Concurrent callers wait for one load.
func (r *requestRoles) reload() *loadedRoles {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.tried) < rolesRetry || r.load == nil {
		return r.cur.Load()
	}
	r.tried = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rr, err := r.load(ctx); err == nil {
		r.set(rr)
	}
	return r.cur.Load()
}

func newGuard(adminKey string, tc *control.TenantConfig, a *apis) (*guard, error) {
	ta, err := newTenantAuth(tc.Name, adminKey, tc.Auth, a.s.cfg.OpenTenant(tc), a.httpc)
	if err != nil {
		return nil, err
	}
	g := &guard{auth: ta, tenant: tc.Name, quota: quotasOf(tc.Limits)}
	if pc, err := pgconn.ParseConfig(a.s.cfg.LoginURL(tc)); err == nil {
		g.loginRole = pc.User
	}
	switch tc.Isolation {
	case control.IsolationRole:
		g.roles.static, g.roles.isStatic = tc.OwnRole(), true
	case control.IsolationLogin:
		g.roles.isStatic = true
	default:
		g.roles.static = tc.OwnRole()
	}
	name, login := tc.Name, g.loginRole
	g.roles.load = func(ctx context.Context) (*control.RequestRoles, error) {
		t := a.s.reg.Tenant(name)
		if t == nil || t.Config != tc {
			return nil, control.ErrUnknownTenant
		}
		p, err := a.pool(t)
		if err != nil {
			return nil, err
		}
		return control.LoadRequestRoles(ctx, p.Pgx(), tc, login)
	}
	if l := tc.Limits; l != nil && l.RateLimit > 0 {
		burst := l.RateBurst
		if burst <= 0 {
			burst = int(math.Max(1, math.Ceil(l.RateLimit)))
		}
		g.limiter = newTokenBucket(l.RateLimit, burst)
	}
	if g.allow, err = parseCIDRs(tc.AllowCIDRs); err != nil {
		return nil, fmt.Errorf("tenant %s: allow_cidrs: %w", tc.Name, err)
	}
	return g, nil
}

func parseCIDRs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		p, err := control.ParseAddrOrPrefix(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
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
	if !a.s.addrAllowed(g.allow, ctx) {
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
	if g.quota.perWindow() {
		if quota, retry := a.s.metrics.tenant(g.tenant).usage.spend(g.quota, time.Now()); quota != "" {
			a.quotaRefusal(ctx, route, quota, retry)
			return false
		}
	}
	return true
}

// inConfigFile reports whether the config file defines tenant name (else it comes from
// the control tables).
func (a *apis) inConfigFile(name string) bool {
	for _, tc := range a.s.cfg.Tenants {
		if tc.Name == name {
			return true
		}
	}
	return false
}

// rolePool is a small pool of direct connections to the database at url, as the
// upstream's own role, for managing tenant roles: a tenant's first load must not pay for
// a connection of its own.
func (a *apis) rolePool(url string) (*pgxpool.Pool, error) {
	a.rolePoolsMu.Lock()
	defer a.rolePoolsMu.Unlock()
	if p := a.rolePools[url]; p != nil {
		return p, nil
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns, cfg.MinConns, cfg.MaxConnIdleTime = 2, 0, time.Minute
	cfg.ConnConfig.RuntimeParams["application_name"] = "kapok-roles"
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	if a.rolePools == nil {
		a.rolePools = map[string]*pgxpool.Pool{}
	}
	a.rolePools[url] = p
	return p, nil
}

// roleMadeAtCreation reports whether this replica's store is creating the tenant and made
// its role in the provisioning transaction.
func (a *apis) roleMadeAtCreation(name string) bool {
	store := a.s.reg.Store()
	return store != nil && store.RoleMadeAtCreation(name)
}

// refreshTenantRoles creates or refreshes the Postgres role of a tenant that needs one
// (control.NeedsTenantRole: isolation "role" and "login", and "none" when the login role is
// a superuser) and reloads the roles its requests may run as. The registry's change hook
// calls it on the first load and on every new schema version, so tables created since get
// their grants. It uses a direct connection as the upstream's own role: under isolation
// "login" the tenant's pool logs in as the very role this creates. A failure is logged and
// fails closed: requests cannot SET a missing role, nor name a role not loaded.
func (a *apis) refreshTenantRoles(t *control.Tenant, first bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	member := ""
	if pc, err := pgconn.ParseConfig(a.s.cfg.LoginURL(t.Config)); err == nil {
		member = pc.User
	}
	pc, err := a.rolePool(t.DirectURL)
	var pooled *pgxpool.Conn
	if err == nil {
		pooled, err = pc.Acquire(ctx)
	}
	if err != nil {
		a.s.log.Error("tenant role", "tenant", t.Name, "err", err)
		return
	}
	defer pooled.Release()
	conn := pooled.Conn()
	need, err := control.NeedsTenantRole(ctx, conn, t.Config, member)
	if a.s.reg.Tenant(t.Name) != t && !first {
		return // deleted or replaced meanwhile: creating its role now would outlive the tenant
	}
	if err == nil && need && first && t.Config.UsesTenantRole() && a.roleMadeAtCreation(t.Name) {
		need = false // made with its schema in the creation's transaction, a moment ago
	}
	if err == nil && need {
		a.roleEnsures.Add(1)
		if first && !t.Config.UsesTenantRole() {
			a.s.log.Info("the login role is a superuser: the tenant's requests run as its own role instead",
				"tenant", t.Name, "login", member, "role", t.Config.OwnRole())
		}
		if t.Config.Role == "" {
			err = a.s.cfg.CheckManaged(t.Config, "creating role "+control.TenantRole(t.Name))
		}
		ensure := func() error {
			_, err := control.EnsureTenantRole(ctx, conn, t.Config, member)
			return err
		}
		if store := a.s.reg.Store(); store != nil && first && !a.inConfigFile(t.Name) {
			// A control-table tenant may be deleted while this replica loads it.
			ensure = func() error { return store.EnsureLiveTenantRole(ctx, conn, t.Config, member) }
		}
		for try := 0; err == nil; try++ {
			// GRANTs of two tenants' roles on one schema, from two tenants or two
			// replicas starting together, can collide ("tuple concurrently updated",
			// a deadlock): the script is idempotent, so it runs again.
			if err = ensure(); err == nil || try == 4 || !control.ConcurrentCatalogUpdate(err) {
				break
			}
			err = nil
			time.Sleep(time.Duration(20<<try) * time.Millisecond)
		}
		if errors.Is(err, control.ErrUnknownTenant) {
			return // deleted meanwhile: its role stays dropped
		}
	}
	var rr *control.RequestRoles
	if err == nil {
		rr, err = control.LoadRequestRoles(ctx, conn, t.Config, member)
	}
	if err != nil {
		a.s.log.Error("tenant role", "tenant", t.Name, "err", err)
		return
	}
	if g, err := a.guardFor(t); err == nil {
		g.roles.set(rr)
	}
}
