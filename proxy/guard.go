package proxy

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
)

// guard is a tenant's admission state that lives in the proxy: credentials, the request
// rate limit and the client address allow-list. It is built once per tenant config.
type guard struct {
	auth    *tenantAuth
	limiter *tokenBucket   // nil: no rate limit
	allow   []netip.Prefix // empty: every address
}

func newGuard(adminKey string, tc *control.TenantConfig, a *apis) (*guard, error) {
	ta, err := newTenantAuth(adminKey, tc.Auth, a.httpc)
	if err != nil {
		return nil, err
	}
	g := &guard{auth: ta}
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
