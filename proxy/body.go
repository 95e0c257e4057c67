package proxy

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// preAuthMaxBody caps the body of a request no tenant limit applies to: unknown tenants,
// health and metrics, the admin API without a valid key. Such a request is refused
// anyway; a small cap keeps it from costing memory first.
const preAuthMaxBody = 64 << 10

// headerReceived picks the request's body limit once its header is in and before its
// body is read: the tenant's own limit for tenant routes, the admin API's for a request
// bearing the admin key, preAuthMaxBody otherwise. fasthttp then refuses a larger
// Content-Length without reading any of the body, and stops a chunked body at the limit,
// so no request can make the process buffer more than its limit.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	cl := h.ContentLength()
	if cl == 0 || cl == -2 {
		return fasthttp.RequestConfig{} // no body
	}
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	// Parsed as the server will parse it (normalized path), so the route and tenant seen
	// here are the ones the handler will see.
	if err := u.Parse(h.Host(), h.RequestURI()); err != nil {
		return fasthttp.RequestConfig{MaxRequestBodySize: preAuthMaxBody}
	}
	path := u.Path()
	limit := s.bodyLimit(h, u.Host(), path)
	if cl == -1 {
		// fasthttp clears the request when a chunked body overruns its limit, before the
		// error handler runs: remember what the 413 needs. The header is part of the
		// server's pooled RequestCtx, so its address names this request until the next
		// request with a body on the same RequestCtx replaces or deletes the entry; the
		// map holds at most one entry per RequestCtx ever allocated.
		s.chunked.Store(h, refusal{route: routeOf(path), limit: limit})
	} else {
		s.chunked.Delete(h)
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: limit}
}

// refusal is what a 413 says: the API the request went to and the limit it broke.
type refusal struct {
	route string
	limit int
}

func routeOf(path []byte) string {
	if bytes.HasPrefix(path, prefixAdmin) {
		return routeAdmin
	}
	_, rest := splitTenantPath(path)
	return routeKind(rest)
}

// bodyLimit is the largest body the request may send.
func (s *Server) bodyLimit(h *fasthttp.RequestHeader, host, path []byte) int {
	if bytes.HasPrefix(path, prefixAdmin) {
		if key := adminKeyOf(h); s.cfg.AdminKey != "" && len(key) > 0 && subtle.ConstantTimeCompare(key, []byte(s.cfg.AdminKey)) == 1 {
			return adminMaxBody
		}
		return preAuthMaxBody
	}
	if bytes.Equal(path, pathHealthz) || bytes.Equal(path, pathReadyz) || bytes.Equal(path, pathMetrics) {
		return preAuthMaxBody
	}
	name, _ := splitTenantPath(path)
	t := s.resolveTenant(h, host, name)
	if t == nil {
		return preAuthMaxBody
	}
	if t.Config.Limits != nil && t.Config.Limits.MaxBodyBytes > 0 {
		return t.Config.Limits.MaxBodyBytes
	}
	if s.cfg.Limits.MaxBodyBytes > 0 {
		return s.cfg.Limits.MaxBodyBytes
	}
	return preAuthMaxBody
}

// adminKeyOf is the admin key the request presents: X-Kapok-Admin-Key, else a bearer token.
func adminKeyOf(h *fasthttp.RequestHeader) []byte {
	if key := h.Peek("X-Kapok-Admin-Key"); len(key) > 0 {
		return key
	}
	if auth := h.Peek("Authorization"); len(auth) > 7 && strings.EqualFold(string(auth[:7]), "bearer ") {
		return bytes.TrimSpace(auth[7:])
	}
	return nil
}

// requestError answers a request fasthttp could not read. A body over the limit gets a 413
// in the format of the API it was sent to; the connection then closes, after draining what
// the client is still sending so that it reads the 413 rather than a reset.
func (s *Server) requestError(ctx *fasthttp.RequestCtx, err error) {
	v, chunked := s.chunked.LoadAndDelete(&ctx.Request.Header)
	if !errors.Is(err, fasthttp.ErrBodyTooLarge) {
		defaultRequestError(ctx, err)
		return
	}
	var r refusal
	if chunked {
		r = v.(refusal)
	} else {
		r = refusal{route: routeOf(ctx.Path()), limit: s.bodyLimit(&ctx.Request.Header, ctx.Host(), ctx.Path())}
	}
	route, limit := r.route, r.limit
	s.metrics.rejected.WithLabelValues("body_too_large").Inc()
	s.metrics.observe(route, outcomeClientError, nil, 0)
	writeBodyTooLarge(ctx, route, limit)
	conn := ctx.Conn()
	if tc, ok := conn.(*tls.Conn); ok {
		// Under TLS the drain reads and drops the records below it, after the close_notify.
		conn = tc.NetConn()
	}
	if c, ok := conn.(*lingerConn); ok {
		c.discardBeforeClose(ctx.Request.Header.ContentLength())
	}
}

// defaultRequestError is fasthttp's own answer to an unreadable request.
func defaultRequestError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne *net.OpError
	switch {
	case errors.As(err, &small):
		ctx.Error("Too big request header", fasthttp.StatusRequestHeaderFieldsTooLarge)
	case errors.As(err, &ne) && ne.Timeout():
		ctx.Error("Request timeout", fasthttp.StatusRequestTimeout)
	default:
		ctx.Error("Error when parsing request", fasthttp.StatusBadRequest)
	}
}

// writeBodyTooLarge answers 413 in the format of route's API.
func writeBodyTooLarge(ctx *fasthttp.RequestCtx, route string, limit int) {
	msg := fmt.Sprintf("request body too large: the limit is %d bytes", limit)
	switch route {
	case routeGraphQL:
		writeGraphQLError(ctx, fasthttp.StatusRequestEntityTooLarge, "validation-failed", msg)
	case routeREST:
		d := fmt.Sprintf("The request body exceeds the limit of %d bytes", limit)
		writeRESTError(ctx, fasthttp.StatusRequestEntityTooLarge, "PGRST413", "Request body too large", &d, nil)
	case routeAuth:
		writeAuthError(ctx, fasthttp.StatusRequestEntityTooLarge, "request_too_large", msg)
	case routeAdmin:
		writeJSONError(ctx, fasthttp.StatusRequestEntityTooLarge, "payload-too-large",
			fmt.Sprintf("request body exceeds the admin API's limit of %d bytes", limit))
	default:
		writeJSONError(ctx, fasthttp.StatusRequestEntityTooLarge, "payload-too-large", msg)
	}
}

// Draining bounds: past them the connection is closed with the body unread, and the client
// may see a reset instead of the 413.
const (
	drainMaxBytes = 1 << 30
	drainIdle     = 2 * time.Second // no byte for this long: the client is not sending
)

// lingerListener wraps every accepted connection in a lingerConn.
type lingerListener struct {
	net.Listener
	maxWait time.Duration // the longest a refused body is drained
}

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c, maxWait: l.maxWait}, nil
}

// lingerConn is a connection that can be told to drain the rest of a refused request body
// before it closes. Closing a TCP socket with unread input makes the kernel send a reset,
// and a client still uploading then loses the response it has not read yet; most clients
// read the response only once they have sent the whole body.
type lingerConn struct {
	net.Conn
	maxWait time.Duration
	// discard is how much to read and drop at Close: 0 nothing, -1 up to EOF.
	discard atomic.Int64
}

func (c *lingerConn) discardBeforeClose(contentLength int) {
	n := int64(contentLength)
	if n <= 0 {
		n = -1 // chunked: until the client stops
	}
	c.discard.Store(min(n, drainMaxBytes))
}

func (c *lingerConn) Close() error {
	if n := c.discard.Swap(0); n != 0 {
		c.drain(n)
	}
	return c.Conn.Close()
}

var drainBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// drain half-closes the connection (the response is already written and flushed), then
// reads and drops up to n bytes (n < 0: up to drainMaxBytes) until EOF, drainIdle without
// data, or maxWait; memory stays one pooled buffer whatever the body's size.
func (c *lingerConn) drain(n int64) {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if n < 0 {
		n = drainMaxBytes
	}
	wait := c.maxWait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	end := time.Now().Add(wait)
	bp := drainBufs.Get().(*[]byte)
	defer drainBufs.Put(bp)
	buf := *bp
	for n > 0 {
		d := time.Now().Add(drainIdle)
		if d.After(end) {
			d = end
		}
		if c.Conn.SetReadDeadline(d) != nil {
			return
		}
		k, err := c.Conn.Read(buf[:min(int64(len(buf)), n)])
		n -= int64(k)
		if err != nil {
			return
		}
	}
}
