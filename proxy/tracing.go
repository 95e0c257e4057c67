package proxy

import (
	"context"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/statement"
)

// traceKey holds, among a request's user values, the context of its span while tracing is
// on; nothing is stored when it is off.
const traceKey = "kapok.trace"

// requestTraceContext is the context carrying the request's span, or Background.
func requestTraceContext(ctx *fasthttp.RequestCtx) context.Context {
	if c, ok := ctx.UserValue(traceKey).(context.Context); ok {
		return c
	}
	return context.Background()
}

// startSpan opens the request's server span, a child of the caller's traceparent (with
// its tracestate) when it sent one.
func (s *Server) startSpan(ctx *fasthttp.RequestCtx) trace.Span {
	parent := context.Background()
	if sc := parseTraceparent(ctx.Request.Header.Peek("traceparent")); sc.IsValid() {
		if h := ctx.Request.Header.Peek("tracestate"); len(h) > 0 {
			if ts, err := trace.ParseTraceState(string(h)); err == nil {
				sc = sc.WithTraceState(ts)
			}
		}
		parent = trace.ContextWithRemoteSpanContext(parent, sc)
	}
	c, span := s.tracer.Start(parent, "kapok "+string(ctx.Method()), trace.WithSpanKind(trace.SpanKindServer))
	ctx.SetUserValue(traceKey, c)
	return span
}

// endSpan names the request's span after its API and records what it became.
func (s *Server) endSpan(ctx *fasthttp.RequestCtx, span trace.Span, t *control.Tenant, route, outcome string) {
	if span.IsRecording() {
		tenant := ""
		if t != nil {
			tenant = t.Name
		}
		span.SetName(string(ctx.Method()) + " " + route)
		span.SetAttributes(
			attribute.String("kapok.tenant", tenant),
			attribute.String("kapok.api", route),
			attribute.String("kapok.outcome", outcome),
			attribute.String("kapok.request_id", string(ctx.Response.Header.Peek(headerRequestID))),
			attribute.String("http.request.method", string(ctx.Method())),
			attribute.String("url.path", string(ctx.Path())),
			attribute.Int("http.response.status_code", ctx.Response.StatusCode()),
		)
		if outcome == outcomeError {
			span.SetStatus(codes.Error, outcome)
		}
	}
	span.End()
}

// startDBSpan opens the child span of a request's statements; nil when tracing is off or
// the request came over a WebSocket.
func (a *apis) startDBSpan(x *exchange, stmts []statement.Statement) trace.Span {
	if a.s.tracer == nil || x.from.req == nil {
		return nil
	}
	_, span := a.s.tracer.Start(requestTraceContext(x.from.req), "db", trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("db.system.name", "postgresql"),
			attribute.String("kapok.tenant", x.pool.Tenant()),
			attribute.Int("db.operation.batch.size", len(stmts)),
		)
	}
	return span
}

func endDBSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "statements failed")
	}
	span.End()
}
