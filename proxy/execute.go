package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/poolmgr"
)

// exchange is one request's way through a plan: its cache key, values, statements, result
// buffer and response. Handlers pool them, so a cache hit allocates almost nothing.
type exchange struct {
	key   []byte
	in    planner.Input
	w     planner.Response
	batch planner.Batch
	buf   []byte
	pool  *poolmgr.Pool
	sess  poolmgr.Session
	// session is set when the request runs with a role and request settings (sess).
	session bool
	// header, when set, is the request's headers, which execute writes into sess.Headers
	// as JSON (headers its buffer) for a plan that can read them; handlers clear it.
	header  *fasthttp.RequestHeader
	headers []byte
	preq    poolmgr.Request
	// from names the request in log lines and parents its database span; handlers set it
	// and clear it before the exchange goes back to its pool.
	from origin
}

// reset readies x for another plan of the same request (a GraphQL batch runs several).
func (x *exchange) reset() {
	x.in = planner.Input{}
	x.w.Reset()
}

// door is how an API answers what no plan answers, in the API's own format: a request
// that does not compile, a database fault, a refusal, a failure of Kapok's own.
type door interface {
	name() string // the API, for logs
	// compileFailure answers an error from compiling; it returns the outcome.
	compileFailure(a *apis, from origin, w *planner.Response, err error) string
	fault(w *planner.Response, f dbFault)
	rejected(w *planner.Response, status int, message string)
	timeout(w *planner.Response)
	internal(w *planner.Response, message string)
}

// execute answers one request with the plan under x.key, compiling it on a miss: key →
// cache → bind → run → respond. It is the one place where plans run, whatever their
// dialect. x.w holds the response when it returns the outcome.
func (a *apis) execute(x *exchange, d door, compile func() (planner.Executable, error)) string {
	plan, err := a.plans.get(x.key, compile)
	if err == nil {
		if key, refined := plan.AppendKey(x.key, &x.in); refined {
			x.key = key
			plan, err = a.plans.get(x.key, compile)
		}
	}
	if err != nil {
		return d.compileFailure(a, x.from, &x.w, err)
	}
	b := &x.batch
	b.Reset()
	if err := plan.Bind(&x.in, b); err != nil {
		return a.planFailure(x, d, plan, err)
	}
	x.buf = plan.Begin(&x.in, x.buf[:0])
	var ends []int
	if len(b.Statements) > 0 && a.storageRefused(x, b.Shareable) {
		d.rejected(&x.w, fasthttp.StatusInsufficientStorage,
			"the tenant's database is over its storage quota: writes are refused until it holds less (reads and REST DELETE go on)")
		return outcomeRejected
	}
	if len(b.Statements) > 0 {
		x.preq = poolmgr.Request{Statements: b.Statements, Admitted: true, Shareable: b.Shareable}
		if x.session {
			// A plan that sees the role alone (a read of plain tables) gets a prelude that
			// sets nothing else, and its headers are not even written.
			x.sess.RoleOnly = b.RoleOnly
			if !b.RoleOnly && x.header != nil && x.sess.Headers == nil {
				x.headers = appendHeadersJSON(x.headers[:0], x.header)
				x.sess.Headers = x.headers
			}
			x.preq.Session = &x.sess
		}
		// No deadline here: the pool bounds every wait (QueueWait, AcquireTimeout) and every
		// run (its request timeout), so the hot path does not pay for a timer it has.
		span := a.startDBSpan(x, b.Statements)
		start := monotonic()
		x.buf, ends, err = a.run(x.pool, context.Background(), &x.preq, x.buf)
		a.noteDBTime(x, d, b.Statements, monotonic()-start)
		if span != nil {
			endDBSpan(span, err)
		}
		if err != nil {
			return a.runFailure(x, d, plan, err)
		}
	}
	if err := plan.Respond(&x.in, x.buf, ends, &x.w); err != nil {
		return a.planFailure(x, d, plan, err)
	}
	if x.w.Status >= 400 {
		return outcomeClientError
	}
	return outcomeOK
}

// noteDBTime counts a run of statements and logs it when it was slow: the SQL, never the
// values.
func (a *apis) noteDBTime(x *exchange, d door, stmts []statement.Statement, took time.Duration) {
	a.s.metrics.dbTime.Observe(took.Seconds())
	a.s.metrics.tenant(x.pool.Tenant()).usage.addDB(took)
	if slow := a.s.cfg.SlowQuery.D(); slow > 0 && took >= slow {
		sql := make([]string, len(stmts))
		for i := range stmts {
			sql[i] = stmts[i].SQL
		}
		a.logger(x.from).Warn("slow query", "tenant", x.pool.Tenant(), "api", d.name(), "seconds", took.Seconds(), "sql", sql)
	}
}

// planFailure answers an error a plan returned while binding or responding.
func (a *apis) planFailure(x *exchange, d door, plan planner.Executable, err error) string {
	if plan.Fail(&x.in, err, &x.w) {
		return outcomeClientError
	}
	a.logger(x.from).Error(d.name()+" plan", "err", err)
	d.internal(&x.w, "unexpected response from the database")
	return outcomeError
}

var headerRetryAfter = []byte("1")

// runFailure answers a failed run: a fault of the database or the pooler (retry later), a
// refusal, the request's own error (the plan answers it), a timeout.
func (a *apis) runFailure(x *exchange, d door, plan planner.Executable, err error) string {
	w := &x.w
	if f, ok := dbFaultOf(err); ok {
		a.noteFault(x.from, d.name(), err)
		w.SetHeader("Retry-After", headerRetryAfter)
		d.fault(w, f)
		return outcomeError
	}
	var rej *poolmgr.RejectedError
	if errors.As(err, &rej) {
		w.SetHeader("Retry-After", headerRetryAfter)
		d.rejected(w, a.rejectedStatus(err), rejectionMessage(err))
		return outcomeRejected
	}
	if plan.Fail(&x.in, err, w) {
		if w.Status >= 500 {
			return outcomeError
		}
		return outcomeClientError
	}
	if errors.Is(err, poolmgr.ErrRequestTimeout) || errors.Is(err, context.DeadlineExceeded) {
		d.timeout(w)
		return outcomeError
	}
	a.logger(x.from).Error(d.name()+" execution", "err", err)
	d.internal(w, "database query error")
	return outcomeError
}

// rejectedStatus counts an admission refusal and gives its status: 429 for the tenant's
// own in-flight cap, 503 when the server or the pool is the bottleneck.
func (a *apis) rejectedStatus(err error) int {
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

// writeResponse hands w to fasthttp, which copies the body.
func writeResponse(ctx *fasthttp.RequestCtx, w *planner.Response) {
	if w.Status != 0 {
		ctx.SetStatusCode(w.Status)
	}
	for _, h := range w.Headers {
		ctx.Response.Header.SetBytesV(h.Name, h.Value)
	}
	if w.ContentType != "" {
		ctx.SetContentType(w.ContentType)
	}
	if w.Body != nil {
		ctx.Response.SetBody(w.Body)
	}
}

// writeRefusal answers a refusal before any plan: admission to the pool.
func (a *apis) writeRefusal(ctx *fasthttp.RequestCtx, x *exchange, d door, err error) string {
	x.w.SetHeader("Retry-After", headerRetryAfter)
	d.rejected(&x.w, a.rejectedStatus(err), rejectionMessage(err))
	writeResponse(ctx, &x.w)
	return outcomeRejected
}

// The GraphQL door answers in Hasura's envelope.
type graphqlDoor struct{}

func (graphqlDoor) name() string { return "graphql" }

func (graphqlDoor) compileFailure(a *apis, from origin, w *planner.Response, err error) string {
	var pe *planner.Error
	if errors.As(err, &pe) {
		planner.WriteGraphQLError(w, fasthttp.StatusOK, pe.Code, pe.Message, pe.Path)
		return outcomeClientError
	}
	a.logger(from).Error("graphql compile", "err", err)
	planner.WriteGraphQLError(w, fasthttp.StatusOK, "unexpected", "internal error compiling the query", "$")
	return outcomeError
}

func (graphqlDoor) fault(w *planner.Response, f dbFault) {
	planner.WriteGraphQLError(w, f.status, gqlCodeUnavailable, graphQLFaultMessage(f), "$")
}

func (graphqlDoor) rejected(w *planner.Response, status int, message string) {
	planner.WriteGraphQLError(w, status, "too-many-requests", message, "$")
}

func (graphqlDoor) timeout(w *planner.Response) {
	planner.WriteGraphQLError(w, fasthttp.StatusOK, "unexpected", "request timed out", "$")
}

func (graphqlDoor) internal(w *planner.Response, message string) {
	planner.WriteGraphQLError(w, fasthttp.StatusOK, "unexpected", message, "$")
}

// poolmgr's statement errors are what plans answer in their dialect.
var _ planner.StatementError = (*poolmgr.PgError)(nil)
