package proxy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/cache"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/jsonx"
	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/graphql"
	"github.com/kapok-dev/kapok/poolmgr"
)

// gqlState is the per-request scratch space of the GraphQL handler, pooled so the
// cache-hit path allocates almost nothing.
type gqlState struct {
	reqs  []gqlRequest
	args  [][]byte
	out   []byte
	key   []byte
	hash  xxhash.Digest
	stmts []poolmgr.Statement
	sess  poolmgr.Session
	preq  poolmgr.Request
}

var gqlStates = sync.Pool{New: func() any { return &gqlState{out: make([]byte, 0, 4096)} }}

// maxBatch caps the operations of one batched request.
const maxBatch = 32

func (a *apis) graphql(ctx *fasthttp.RequestCtx, t *control.Tenant) string {
	st := gqlStates.Get().(*gqlState)
	defer func() {
		if cap(st.out) <= 1<<20 {
			gqlStates.Put(st)
		}
	}()
	lim := t.Config.Limits
	g, err := a.guardFor(t)
	if err != nil {
		a.s.log.Error("tenant guard", "tenant", t.Name, "err", err)
		writeGraphQLError(ctx, fasthttp.StatusInternalServerError, "unexpected", "the tenant's access settings are invalid")
		return outcomeError
	}
	if !a.admit(ctx, g, routeGraphQL) {
		return outcomeRejected
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
	snap := t.Snapshot()
	if snap == nil {
		retryAfter(ctx)
		writeGraphQLError(ctx, fasthttp.StatusServiceUnavailable, gqlCodeUnavailable, msgNoSchema)
		return outcomeError
	}
	pool, err := a.pool(t)
	if err != nil {
		a.s.log.Error("tenant pool", "tenant", t.Name, "err", err)
		retryAfter(ctx)
		writeGraphQLError(ctx, fasthttp.StatusServiceUnavailable, gqlCodeUnavailable, msgConnection)
		return outcomeError
	}
	// No deadline here: the pool bounds every wait (QueueWait, AcquireTimeout) and every run
	// (its request timeout), so the hot path does not pay for a timer it already has.
	c := context.Background()
	adm, err := pool.Admit(c)
	if err != nil {
		return a.graphqlRejected(ctx, err)
	}
	defer adm.Release()

	out := st.out[:0]
	if batched {
		out = append(out, '[')
	}
	outcome := outcomeOK
	for i := range st.reqs {
		if i > 0 {
			out = append(out, ',')
		}
		var oc string
		out, oc = a.graphqlOne(c, t, snap, who, pool, &st.reqs[i], st, out, ctx)
		if oc != outcomeOK {
			outcome = oc
		}
	}
	if batched {
		out = append(out, ']')
		// One status cannot speak for every operation: each carries its own errors.
		ctx.SetStatusCode(fasthttp.StatusOK)
	}
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.Response.SetBody(out)
	st.out = out
	return outcome
}

func firstNonSpace(b []byte) byte {
	i := skipWS(b, 0)
	if i < len(b) {
		return b[i]
	}
	return 0
}

// graphqlOne runs one operation and appends its response object to out.
func (a *apis) graphqlOne(c context.Context, t *control.Tenant, snap *control.Snapshot, who principal,
	pool *poolmgr.Pool, r *gqlRequest, st *gqlState, out []byte, ctx *fasthttp.RequestCtx) ([]byte, string) {
	if len(r.Query) == 0 {
		return appendGraphQLErrors(out, "validation-failed", "the request has no query", "$"), outcomeClientError
	}
	lim := t.Config.Limits
	st.key = cache.AppendKey(st.key[:0], t.Name, snap.Version, who.Role, shapeHash(&st.hash, r.Query, r.OperationName))
	compile := func() (*planner.Plan, error) {
		q, err := r.queryText()
		if err != nil {
			return nil, planner.Errorf("invalid-json", "$", "%s", err.Error())
		}
		op, err := r.operationName()
		if err != nil {
			return nil, planner.Errorf("invalid-json", "$", "%s", err.Error())
		}
		gs, err := a.graphqlSchemaFor(t, snap, who)
		if err != nil {
			return nil, err
		}
		return graphql.Compile(gs, q, op, r.Variables, graphql.Limits{
			MaxQueryBytes: lim.MaxQueryLength, MaxDepth: lim.MaxDepth, MaxRootFields: lim.MaxRootFields, MaxLimit: lim.MaxLimit,
			MaxFields: lim.MaxFields, MaxCost: lim.MaxCost, Deadline: time.Now().Add(lim.RequestTimeout.D()),
		})
	}
	plan, err := a.plans.get(st.key, compile)
	if err == nil && plan.ValueDependent() {
		st.key = plan.AppendKeyVars(st.key, r.Variables)
		plan, err = a.plans.get(st.key, compile)
	}
	if err != nil {
		return appendGraphQLFailure(out, err, a), outcomeClientError
	}
	if len(plan.Statements) == 0 {
		out = append(out, `{"data":`...)
		out = append(out, plan.Data...)
		return append(out, '}'), outcomeOK
	}
	// Bind every statement's arguments into one flat slice the statements point into.
	st.args, st.stmts = st.args[:0], st.stmts[:0]
	for i := range plan.Statements {
		n := len(st.args)
		var bound [][]byte
		bound, err = plan.BindStatement(i, r.Variables, st.args[n:n])
		if err != nil {
			return appendGraphQLFailure(out, err, a), outcomeClientError
		}
		st.args = append(st.args[:n], bound...)
		st.stmts = append(st.stmts, poolmgr.Statement{SQL: plan.Statements[i].SQL, Args: st.args[n:len(st.args):len(st.args)],
			Result: poolmgr.Result(plan.Statements[i].Result)})
	}
	st.preq = poolmgr.Request{Statements: st.stmts, Admitted: true}
	if !who.Admin || who.Role != "" {
		st.sess = poolmgr.Session{Role: who.Role, Claims: who.Claims, Method: "POST", Path: string(ctx.Path())}
		st.preq.Session = &st.sess
	}
	mark := len(out)
	if plan.Kind == planner.KindQuery {
		key := plan.Statements[0].ResponseKey
		out = append(out, `{"data":`...)
		if key != "" {
			out = append(out, '{')
			out = jsonx.AppendString(out, key)
			out = append(out, ':')
		}
		var runErr error
		out, _, runErr = a.run(pool, c, &st.preq, out)
		if runErr != nil {
			out = out[:mark]
			return a.appendRunError(out, runErr, plan, ctx)
		}
		if key != "" {
			out = append(out, '}')
		}
		return append(out, '}'), outcomeOK
	}
	// Mutations: one statement per root field; Run appends their values back to back.
	start := len(out)
	res, ends, runErr := a.run(pool, c, &st.preq, out)
	if runErr != nil {
		return a.appendRunError(res[:mark], runErr, plan, ctx)
	}
	vals := append([]byte(nil), res[start:]...)
	out = append(res[:start], `{"data":{`...)
	prev := 0
	for i, s := range plan.Statements {
		if i > 0 {
			out = append(out, ',')
		}
		// Statements with Part 1..Parts make one array-valued root field (update_<t>_many).
		if s.Part <= 1 {
			out = jsonx.AppendString(out, s.ResponseKey)
			out = append(out, ':')
		}
		if s.Part == 1 {
			out = append(out, '[')
		}
		out = append(out, vals[prev:ends[i]-start]...)
		if s.Parts > 0 && s.Part == s.Parts {
			out = append(out, ']')
		}
		prev = ends[i] - start
	}
	return append(out, "}}"...), outcomeOK
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
		if _, err := skipValue(v, skipWS(v, 0), 0); err != nil || firstNonSpace(v) != '{' {
			return dst, errors.New(`"variables" must be a JSON object`)
		}
		r.Variables = v
	}
	return append(dst, r), nil
}

func (a *apis) graphqlRejected(ctx *fasthttp.RequestCtx, err error) string {
	writeGraphQLError(ctx, a.rejected(ctx, err), "too-many-requests", rejectionMessage(err))
	return outcomeRejected
}

// rejected counts an admission refusal, sets Retry-After and gives its status: 429 for the
// tenant's own in-flight cap, 503 when the server or the pool is the bottleneck.
func (a *apis) rejected(ctx *fasthttp.RequestCtx, err error) int {
	status := fasthttp.StatusServiceUnavailable
	reason := "busy"
	var rej *poolmgr.RejectedError
	if errors.As(err, &rej) {
		reason = string(rej.Reason)
		if rej.Reason == poolmgr.ReasonTenantInFlight {
			status = fasthttp.StatusTooManyRequests
		}
	}
	a.s.metrics.rejected.WithLabelValues(reason).Inc()
	ctx.Response.Header.Set("Retry-After", "1")
	return status
}

func rejectionMessage(err error) string {
	switch {
	case errors.Is(err, poolmgr.ErrTooManyRequests):
		return "too many requests in flight for this tenant; retry later"
	case errors.Is(err, poolmgr.ErrServerBusy):
		return "the server is at its request limit; retry later"
	case errors.Is(err, poolmgr.ErrAcquireTimeout):
		return "timed out waiting for a database connection; retry later"
	}
	return "request timed out"
}

// appendRunError maps an execution failure to Hasura's error shape. A failure that is not
// the request's (the database out of reach, the pool's wait timed out, admission refused)
// also sets the response's status and Retry-After; a batch resets the status to 200.
func (a *apis) appendRunError(out []byte, err error, plan *planner.Plan, ctx *fasthttp.RequestCtx) ([]byte, string) {
	if f, ok := dbFaultOf(err); ok {
		a.noteFault("graphql", err)
		retryAfter(ctx)
		ctx.SetStatusCode(f.status)
		return appendGraphQLErrors(out, gqlCodeUnavailable, graphQLFaultMessage(f), "$"), outcomeError
	}
	var rej *poolmgr.RejectedError
	if errors.As(err, &rej) {
		ctx.SetStatusCode(a.rejected(ctx, err))
		return appendGraphQLErrors(out, "too-many-requests", rejectionMessage(err), "$"), outcomeRejected
	}
	var pe *poolmgr.PgError
	if errors.As(err, &pe) {
		path := "$"
		if plan.Kind == planner.KindMutation && pe.Statement >= 0 && pe.Statement < len(plan.Statements) {
			path = "$.selectionSet." + plan.Statements[pe.Statement].ResponseKey
		}
		code, msg := hasuraPgError(pe)
		return appendGraphQLErrors(out, code, msg, path), outcomeClientError
	}
	if errors.Is(err, poolmgr.ErrRequestTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return appendGraphQLErrors(out, "unexpected", "request timed out", "$"), outcomeError
	}
	a.s.log.Error("graphql execution", "err", err)
	return appendGraphQLErrors(out, "unexpected", "database query error", "$"), outcomeError
}

// hasuraPgError gives Hasura's code and message for a Postgres error. The message comes
// from the statement's own error, which names only the tenant's objects.
func hasuraPgError(pe *poolmgr.PgError) (code, message string) {
	state, msg := pe.SQLState(), pe.Message()
	switch {
	case state == "23505":
		return "constraint-violation", "Uniqueness violation. " + msg
	case state == "23503":
		return "constraint-violation", "Foreign key violation. " + msg
	case state == "23502":
		return "constraint-violation", "Not-NULL violation. " + msg
	case state == "23514":
		return "constraint-violation", "Check constraint violation. " + msg
	case state == "23P01":
		return "constraint-violation", "Exclusion violation. " + msg
	case strings.HasPrefix(state, "23"):
		return "constraint-violation", msg
	case strings.HasPrefix(state, "22"):
		return "data-exception", msg
	case state == "42501":
		return "permission-error", msg
	case state == "57014":
		return "unexpected", "the query was cancelled: " + msg
	case state == "P0001":
		return "unexpected", msg
	case state == "40001", state == "40P01":
		return "unexpected", msg
	}
	return "unexpected", "database query error"
}

func appendGraphQLErrors(out []byte, code, message, path string) []byte {
	out = append(out, `{"errors":[`...)
	out = appendGraphQLError(out, code, message, path)
	return append(out, "]}"...)
}

func appendGraphQLFailure(out []byte, err error, a *apis) []byte {
	var pe *planner.Error
	if errors.As(err, &pe) {
		return appendGraphQLErrors(out, pe.Code, pe.Message, pe.Path)
	}
	a.s.log.Error("graphql compile", "err", err)
	return appendGraphQLErrors(out, "unexpected", "internal error compiling the query", "$")
}
