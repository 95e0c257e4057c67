package proxy

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
)

// WireAuth checks the tenant credentials and roles of clients of the Postgres wire port
// with the same rules as HTTP requests. It has the methods of wire.Authenticator, which the
// binary hands it as; proxy does not import wire.
type WireAuth struct{ s *Server }

// WireAuth returns the server's credential checks for the wire port.
func (s *Server) WireAuth() *WireAuth { return &WireAuth{s: s} }

// Credential checks secret (the admin key, an API key or a JWT of tenant). The admin key
// (and a Kapok service-role key) runs as the tenant's own role: role "". An API key or a
// JWT runs as its role, which must be one the tenant's requests may use, as over HTTP.
func (w *WireAuth) Credential(tenant, secret string) (role string, claims []byte, err error) {
	g, err := w.guard(tenant)
	if err != nil {
		return "", nil, err
	}
	if !g.auth.required {
		return "", nil, nil // an open tenant: every request runs as its own role
	}
	p, err := g.auth.credential([]byte(secret), &fasthttp.RequestHeader{})
	if err != nil {
		return "", nil, err
	}
	if p.Admin && p.Role == "" {
		return "", p.Claims, nil
	}
	if p.Role == g.loginRole || !g.roles.usable(p.Role) {
		return "", nil, errRoleRefused
	}
	return p.Role, p.Claims, nil
}

// Usable reports whether role is one tenant's requests may run as (SET ROLE, a
// "role.tenant" user).
func (w *WireAuth) Usable(tenant, role string) bool {
	g, err := w.guard(tenant)
	return err == nil && role != g.loginRole && g.roles.usable(role)
}

func (w *WireAuth) guard(tenant string) (*guard, error) {
	t := w.s.reg.Tenant(tenant)
	if t == nil {
		return nil, control.ErrUnknownTenant
	}
	w.s.api.prepare(context.Background(), t)
	return w.s.api.guardFor(t)
}
