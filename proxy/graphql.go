package proxy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/cache"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/jsonx"
	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/graphql"
)

// gqlState is the per-request scratch space of the GraphQL handler, pooled so the
// cache-hit path allocates almost nothing.
type gqlState struct {
	x    exchange
	reqs []gqlRequest
	out  []byte // a batch's array of responses
	hash xxhash.Digest
}

var gqlStates = sync.Pool{New: func() any { return &gqlState{x: exchange{buf: make([]byte, 0, 4096)}} }}

// maxBatch caps the operations of one batched request.
const maxBatch = 32

func (a *apis) graphql(ctx *fasthttp.RequestCtx, t *control.Tenant) string {
	st := gqlStates.Get().(*gqlState)
	defer func() {
		st.x.from = origin{}
		if cap(st.x.buf) <= 1<<20 && cap(st.x.w.Scratch) <= 1<<20 && cap(st.out) <= 1<<20 {
			gqlStates.Put(st)
		}
	}()
	lim := t.Config.Limits
	g, err := a.guardFor(t)
	if err != nil {
		a.s.requestLog(ctx).Error("tenant guard", "tenant", t.Name, "err", err)
		writeGraphQLError(ctx, fasthttp.StatusInternalServerError, "unexpected", "the tenant's access settings are invalid")
		return outcomeError
	}
	if !a.admit(ctx, g, routeGraphQL) {
		return outcomeRejected
	}
	if websocket.FastHTTPIsWebSocketUpgrade(ctx) {
		return a.graphqlSocket(ctx, t)
	}
	switch {
	case ctx.IsPost():
		body := ctx.PostBody()
		if len(body) > lim.MaxBodyBytes {
			a.s.metrics.rejected.WithLabelValues("body_too_large").Inc()
			writeBodyTooLarge(ctx, routeGraphQL, lim.MaxBodyBytes)
			return outcomeClientError
		}
		st.reqs, _, err = parseGraphQLBody(body, st.reqs[:0])
	case ctx.IsGet():
		st.reqs, err = graphQLFromQueryString(ctx, st.reqs[:0])
	default:
		ctx.Response.Header.Set("Allow", "GET, POST")
		writeGraphQLError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use POST (or GET with ?query=…)")
		return outcomeClientError
	}
	if err != nil {
		// An unreadable request is no GraphQL request at all: 400, as the GraphQL-over-HTTP
		// spec says for application/json bodies, in the usual error envelope.
		writeGraphQLError(ctx, fasthttp.StatusBadRequest, "invalid-json", err.Error())
		return outcomeClientError
	}
	batched := len(st.reqs) > 1 || (ctx.IsPost() && firstNonSpace(ctx.PostBody()) == '[')
	if len(st.reqs) > maxBatch {
		writeGraphQLError(ctx, fasthttp.StatusOK, "validation-failed", "too many operations in one batch")
		return outcomeClientError
	}
	// Before authenticating: a cold tenant's first load creates its role and grants (the
	// registry's change hooks), and the roles a credential may name depend on them.
	snap, err := a.s.reg.Ensure(ctx, t)
	if err != nil {
		retryAfter(ctx)
		writeGraphQLError(ctx, fasthttp.StatusServiceUnavailable, gqlCodeUnavailable, msgNoSchema)
		return outcomeError
	}
	who, err := g.authenticate(ctx)
	if err != nil {
		var ae *authError
		errors.As(err, &ae)
		a.s.metrics.rejected.WithLabelValues(ae.reason()).Inc()
		code := "invalid-jwt"
		if ae.status == fasthttp.StatusForbidden {
			code = "access-denied"
		} else if !strings.Contains(ae.message, "JWT") {
			code = "invalid-headers"
		}
		writeGraphQLError(ctx, ae.status, code, ae.message)
		return outcomeRejected
	}
	x := &st.x
	x.reset()
	pool, err := a.pool(t)
	if err != nil {
		a.s.requestLog(ctx).Error("tenant pool", "tenant", t.Name, "err", err)
		retryAfter(ctx)
		writeGraphQLError(ctx, fasthttp.StatusServiceUnavailable, gqlCodeUnavailable, msgConnection)
		return outcomeError
	}
	adm, err := pool.Admit(context.Background())
	if err != nil {
		return a.writeRefusal(ctx, x, graphqlDoor{}, err)
	}
	defer adm.Release()
	x.pool = pool
	x.from = origin{req: ctx}
	x.session = who.withSession()
	if x.session {
		x.sess = who.session("POST", string(ctx.Path()))
	}
	if !batched {
		outcome := a.graphqlOne(t, snap, who, &st.reqs[0], st)
		writeResponse(ctx, &x.w)
		return outcome
	}
	// One status cannot speak for every operation of a batch: each carries its own errors.
	out := append(st.out[:0], '[')
	outcome := outcomeOK
	for i := range st.reqs {
		if i > 0 {
			out = append(out, ',')
		}
		x.reset()
		if oc := a.graphqlOne(t, snap, who, &st.reqs[i], st); oc != outcomeOK {
			outcome = oc
		}
		out = append(out, x.w.Body...)
		for _, h := range x.w.Headers { // Retry-After of an operation the database could not serve
			ctx.Response.Header.SetBytesV(h.Name, h.Value)
		}
	}
	st.out = append(out, ']')
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.Response.SetBody(st.out)
	return outcome
}

func firstNonSpace(b []byte) byte {
	i := jsonx.SkipSpace(b, 0)
	if i < len(b) {
		return b[i]
	}
	return 0
}

// graphqlOne answers one operation into st.x.w.
func (a *apis) graphqlOne(t *control.Tenant, snap *control.Snapshot, who principal, r *gqlRequest, st *gqlState) string {
	x := &st.x
	if len(r.Query) == 0 {
		planner.WriteGraphQLError(&x.w, fasthttp.StatusOK, "validation-failed", "the request has no query", "$")
		return outcomeClientError
	}
	x.key = cache.AppendKey(x.key[:0], t.Name, snap.Version, who.Role, shapeHash(&st.hash, r.Query, r.OperationName))
	x.in.Variables = r.Variables
	return a.execute(x, graphqlDoor{}, func() (planner.Executable, error) {
		return a.compileGraphQL(t, snap, who, r, false)
	})
}

// compileGraphQL compiles one operation for who; socket compiles a streaming
// subscription with its cursor (graphql.Limits.StreamCursor), for the WebSocket endpoint.
func (a *apis) compileGraphQL(t *control.Tenant, snap *control.Snapshot, who principal, r *gqlRequest, socket bool) (planner.Executable, error) {
	lim := t.Config.Limits
	q, err := r.queryText()
	if err != nil {
		return nil, planner.Errorf("invalid-json", "$", "%s", err.Error())
	}
	op, err := r.operationName()
	if err != nil {
		return nil, planner.Errorf("invalid-json", "$", "%s", err.Error())
	}
	gs, err := a.schemas.get(t, snap, who.SchemaRole)
	if err != nil {
		return nil, err
	}
	return graphql.Compile(gs, q, op, r.Variables, graphql.Limits{
		MaxQueryBytes: lim.MaxQueryLength, MaxDepth: lim.MaxDepth, MaxRootFields: lim.MaxRootFields, MaxLimit: lim.MaxLimit,
		MaxFields: lim.MaxFields, MaxCost: lim.MaxCost, Deadline: time.Now().Add(lim.RequestTimeout.D()),
		StreamCursor: socket,
	})
}

func graphQLFromQueryString(ctx *fasthttp.RequestCtx, dst []gqlRequest) ([]gqlRequest, error) {
	args := ctx.QueryArgs()
	q := args.Peek("query")
	if len(q) == 0 {
		return dst, errors.New("GET requests need a query parameter: /v1/graphql?query=…")
	}
	r := gqlRequest{Query: q}
	if op := args.Peek("operationName"); len(op) > 0 {
		r.OperationName = []byte(strings.ReplaceAll(strings.ReplaceAll(string(op), `\`, `\\`), `"`, `\"`))
	}
	if v := args.Peek("variables"); len(v) > 0 {
		if _, err := jsonx.SkipValue(v, jsonx.SkipSpace(v, 0)); err != nil || firstNonSpace(v) != '{' {
			return dst, errors.New(`"variables" must be a JSON object`)
		}
		r.Variables = v
	}
	return append(dst, r), nil
}
