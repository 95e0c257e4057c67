package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync/atomic"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/trace"
)

// headerRequestID carries a request's id: taken from the client (or a load balancer) when
// it sent a usable one, else made here, and always echoed in the response.
const headerRequestID = "X-Request-Id"

// keyRequestID is the header's canonical name, which SetCanonical takes as it is: setting
// it through SetBytesV would copy and normalize the name on every request.
var keyRequestID = []byte(headerRequestID)

// maxRequestIDLen bounds an id taken from a client, which goes into every log line of
// its request.
const maxRequestIDLen = 128

// requestIDs makes ids unique across replicas without coordination: a random prefix per
// process and a counter, written in hex into a fixed buffer so that no request allocates.
type requestIDs struct {
	prefix [12]byte // 6 random bytes in hex
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var r [6]byte
	_, _ = rand.Read(r[:])
	ids := &requestIDs{}
	hex.Encode(ids.prefix[:], r[:])
	return ids
}

// next writes a new id, 24 hex digits, into buf.
func (g *requestIDs) next(buf *[24]byte) []byte {
	copy(buf[:12], g.prefix[:])
	n := g.n.Add(1)
	const digits = "0123456789abcdef"
	for i := 23; i >= 12; i-- {
		buf[i] = digits[n&0xf]
		n >>= 4
	}
	return buf[:]
}

// tagRequest gives the request its id: the client's X-Request-Id when it is usable,
// else a new one, set on the response (where log lines read it back).
func (s *Server) tagRequest(ctx *fasthttp.RequestCtx) {
	if id := ctx.Request.Header.Peek(headerRequestID); usableRequestID(id) {
		ctx.Response.Header.SetCanonical(keyRequestID, id)
		return
	}
	var buf [24]byte
	ctx.Response.Header.SetCanonical(keyRequestID, s.ids.next(&buf))
}

// usableRequestID accepts ids of the characters ids are made of (UUIDs, hex, base64,
// dotted or colon-separated parts), so a client cannot put anything else into the logs.
func usableRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=', c == '@':
		default:
			return false
		}
	}
	return true
}

// requestAttrs are the attributes that tie a log line to its request: request_id, and
// trace_id and span_id when the request carries W3C trace context (the span is Kapok's
// own when tracing is on, else the caller's).
func (s *Server) requestAttrs(ctx *fasthttp.RequestCtx) []any {
	attrs := []any{slog.String("request_id", string(ctx.Response.Header.Peek(headerRequestID)))}
	sc := s.spanContext(ctx)
	if sc.IsValid() {
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return attrs
}

// spanContext is the request's span: Kapok's when tracing is on, else the parent its
// traceparent header names (invalid when it has none).
func (s *Server) spanContext(ctx *fasthttp.RequestCtx) trace.SpanContext {
	if sc := trace.SpanContextFromContext(requestTraceContext(ctx)); sc.IsValid() {
		return sc
	}
	return parseTraceparent(ctx.Request.Header.Peek("traceparent"))
}

// requestLog is the server's logger with the request's id and trace context.
func (s *Server) requestLog(ctx *fasthttp.RequestCtx) *slog.Logger {
	if ctx == nil {
		return s.log
	}
	return s.log.With(s.requestAttrs(ctx)...)
}

// origin says where a request came from, for its log lines: an HTTP request, or a
// WebSocket connection whose logger carries the upgrade request's attributes.
type origin struct {
	req  *fasthttp.RequestCtx
	sock *slog.Logger
}

// logger returns the logger for a line about the request from o.
func (a *apis) logger(o origin) *slog.Logger {
	if o.sock != nil {
		return o.sock
	}
	return a.s.requestLog(o.req)
}

// parseTraceparent reads a W3C traceparent header (version 00, or a later version read as
// 00 as the spec asks); anything else gives an invalid span context.
func parseTraceparent(h []byte) trace.SpanContext {
	// 00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>
	if len(h) < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-' || (len(h) > 55 && h[55] != '-') {
		return trace.SpanContext{}
	}
	if string(h[:2]) == "ff" || (string(h[:2]) == "00" && len(h) != 55) {
		return trace.SpanContext{}
	}
	var tid trace.TraceID
	var sid trace.SpanID
	var flags [1]byte
	if _, err := hex.Decode(tid[:], h[3:35]); err != nil {
		return trace.SpanContext{}
	}
	if _, err := hex.Decode(sid[:], h[36:52]); err != nil {
		return trace.SpanContext{}
	}
	if _, err := hex.Decode(flags[:], h[53:55]); err != nil {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]), Remote: true})
}
