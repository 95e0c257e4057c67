package events

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/kapok-dev/kapok/control"
)

// refusedRanges are addresses a webhook may not reach unless the tenant allows them:
// anything but the public internet (loopback, link-local with the cloud metadata
// services, private, shared, benchmark, documentation and reserved ranges).
var refusedRanges = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
		"224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "64:ff9b::/96", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// RefusedError is a webhook address the tenant's policy does not allow.
type RefusedError struct{ Addr netip.Addr }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refused to connect to %s: not a public address; allow it in the tenant's events.webhook_allow_cidrs", e.Addr)
}

// dialPolicy decides, per resolved address, whether a webhook may connect.
type dialPolicy struct{ allow []netip.Prefix }

func newDialPolicy(cfg *control.TenantConfig) dialPolicy {
	var p dialPolicy
	if cfg.Events != nil {
		for _, c := range cfg.Events.WebhookAllowCIDRs {
			if pr, err := control.ParseAddrOrPrefix(c); err == nil {
				p.allow = append(p.allow, pr)
			}
		}
	}
	return p
}

func (p dialPolicy) check(addr netip.Addr) error {
	// A zoned address (fe80::1%eth0) is contained in no prefix: drop the zone first.
	addr = addr.Unmap().WithZone("")
	for _, pr := range p.allow {
		if pr.Contains(addr) {
			return nil
		}
	}
	for _, pr := range refusedRanges {
		if pr.Contains(addr) {
			return &RefusedError{Addr: addr}
		}
	}
	return nil
}

// control runs on every connection attempt with the address the name resolved to, after
// resolution: a name that resolves to a public address for a check and to a private one
// for the connection (DNS rebinding) is still refused.
func (p dialPolicy) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refused to connect to %q: not an IP address", address)
	}
	return p.check(ap.Addr())
}

// tenantClient is the HTTP client of one tenant's configuration. Each tenant has its own
// transport, so no tenant reuses a keep-alive connection another tenant's policy allowed.
type tenantClient struct {
	cfg  *control.TenantConfig
	http *http.Client
}

func newTenantClient(cfg *control.TenantConfig) *tenantClient {
	pol := newDialPolicy(cfg)
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: pol.control}
	tr := &http.Transport{
		// No proxy from the environment: a proxy would make the connection, unchecked.
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0,
		ForceAttemptHTTP2:     true,
	}
	return &tenantClient{cfg: cfg, http: &http.Client{
		Transport: tr,
		// A redirect is the receiver's answer, not a new destination to check.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// client returns the HTTP client of the tenant's current configuration.
func (s *Service) client(t *control.Tenant) *tenantClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[t.Name]
	if c != nil && c.cfg == t.Config {
		return c
	}
	if c != nil {
		c.http.CloseIdleConnections()
	}
	c = newTenantClient(t.Config)
	s.clients[t.Name] = c
	return c
}
