package proxy

import (
	"bytes"
	"net"
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// Who a request comes from: the connection's peer, or the client a trusted proxy names.

// addrAllowed reports whether the client may go on, given an allow list (empty: anyone).
func (s *Server) addrAllowed(list []netip.Prefix, ctx *fasthttp.RequestCtx) bool {
	if len(list) == 0 {
		return true
	}
	return inPrefixes(list, s.clientAddr(ctx))
}

func inPrefixes(list []netip.Prefix, addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	for _, p := range list {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// clientAddr is the client's address: the connection's peer, or, when the peer is a
// trusted proxy, the last address of X-Forwarded-For that is not one (each proxy appends
// the address it was reached from, so what comes before the first untrusted one from the
// right is the client's own word). A malformed entry stops the walk at the proxy before
// it.
func (s *Server) clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	addr := remoteAddr(ctx)
	if len(s.trusted) == 0 || !inPrefixes(s.trusted, addr) {
		return addr
	}
	headers := ctx.Request.Header.PeekAll("X-Forwarded-For")
	for i := len(headers) - 1; i >= 0; i-- {
		hops := bytes.Split(headers[i], []byte(","))
		for j := len(hops) - 1; j >= 0; j-- {
			hop, ok := forwardedAddr(hops[j])
			if !ok {
				return addr
			}
			addr = hop
			if !inPrefixes(s.trusted, hop) {
				return hop
			}
		}
	}
	return addr
}

// forwardedAddr reads one X-Forwarded-For entry: an address, possibly with a port (IPv6
// then in brackets).
func forwardedAddr(b []byte) (netip.Addr, bool) {
	v := string(bytes.TrimSpace(b))
	if a, err := netip.ParseAddr(v); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// remoteAddr is the connection's peer address, IPv4 unmapped; the zero Addr when the
// connection has none.
func remoteAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	var addr netip.Addr
	switch a := ctx.RemoteAddr().(type) {
	case *net.TCPAddr:
		addr, _ = netip.AddrFromSlice(a.IP)
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.Addr{}
		}
		addr = ap.Addr()
	}
	return addr.Unmap()
}
