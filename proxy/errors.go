package proxy

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/internal/jsonx"
	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/rest"
	"github.com/kapok-dev/kapok/poolmgr"
)

// appendJSONObject appends {"k1":"v1",...} for string pairs.
func appendJSONObject(dst []byte, kv ...string) []byte {
	dst = append(dst, '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, kv[i])
		dst = append(dst, ':')
		dst = jsonx.AppendString(dst, kv[i+1])
	}
	return append(dst, '}')
}

// writeGraphQLError answers with Hasura's error envelope.
func writeGraphQLError(ctx *fasthttp.RequestCtx, status int, code, message string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(planner.AppendGraphQLErrors(nil, code, message, "$"))
}

// writeRESTError answers with PostgREST's error body.
func writeRESTError(ctx *fasthttp.RequestCtx, status int, code, message string, details, hint *string) {
	e := rest.Error{Status: status, Code: code, Message: message}
	if details != nil {
		e.Details = *details
	}
	if hint != nil {
		e.Hint = *hint
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(e.AppendJSON(nil))
}

// writeJSONError answers with Kapok's own error body (admin API, health, unknown routes).
func writeJSONError(ctx *fasthttp.RequestCtx, status int, code, message string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(appendJSONObject(nil, "error", message, "code", code))
}

// writeRouteError answers in the format of the API the request was addressed to.
func writeRouteError(ctx *fasthttp.RequestCtx, route string, status int, code, message string) {
	switch route {
	case routeGraphQL:
		writeGraphQLError(ctx, status, code, message)
	case routeREST:
		// Kapok's own refusals (unknown tenant, rate limit, …) keep their code: no PostgREST
		// code means the same thing, and clients key on the status.
		writeRESTError(ctx, status, code, message, nil, nil)
	case routeAuth:
		writeAuthError(ctx, status, authErrorCode(code), message)
	default:
		writeJSONError(ctx, status, code, message)
	}
}

// dbFault is an execution failure that is the database's or the pooler's, not the
// request's: the request may succeed as it is when retried, so it is answered 503 (504 for
// a pool wait that timed out) with Retry-After, never 500 and never 200.
type dbFault struct {
	status int
	// PostgREST's code and message for it (PGRST000 connection, PGRST001 connection lost
	// during the request, PGRST003 pool acquisition timeout).
	code, message string
	// details says what happened, in words safe for any client (no address, no role name).
	details string
}

const (
	msgConnection = "Database connection error. Retrying the connection."
	msgClient     = "Database client error. Retrying the connection."
	msgAcquire    = "Timed out acquiring connection from connection pool."
	msgNoSchema   = "Could not query the database for the schema cache. Retrying."
)

// dbFaultOf recognises the failures of poolmgr that leave the request blameless.
func dbFaultOf(err error) (dbFault, bool) {
	var rej *poolmgr.RejectedError
	if errors.As(err, &rej) && rej.Reason == poolmgr.ReasonAcquireTimeout {
		return dbFault{status: fasthttp.StatusGatewayTimeout, code: "PGRST003", message: msgAcquire}, true
	}
	var ue *poolmgr.UnavailableError
	if errors.As(err, &ue) {
		if ue.Connect {
			return dbFault{status: fasthttp.StatusServiceUnavailable, code: "PGRST000", message: msgConnection, details: ue.Reason()}, true
		}
		return dbFault{status: fasthttp.StatusServiceUnavailable, code: "PGRST001", message: msgClient, details: ue.Reason()}, true
	}
	if errors.Is(err, poolmgr.ErrUnavailable) || errors.Is(err, poolmgr.ErrClosed) {
		return dbFault{status: fasthttp.StatusServiceUnavailable, code: "PGRST000", message: msgConnection}, true
	}
	return dbFault{}, false
}

// retryAfter tells the client when to try again after a refusal that is not its fault.
func retryAfter(ctx *fasthttp.RequestCtx) { ctx.Response.Header.Set("Retry-After", "1") }

// writeRESTFault answers a database fault with PostgREST's body, status and Retry-After.
func writeRESTFault(ctx *fasthttp.RequestCtx, f dbFault) {
	retryAfter(ctx)
	var details *string
	if f.details != "" {
		details = &f.details
	}
	writeRESTError(ctx, f.status, f.code, f.message, details, nil)
}

// gqlCodeUnavailable is the extensions.code of every database fault in GraphQL answers:
// one code for clients to retry on, the message says which fault it was.
const gqlCodeUnavailable = "database-unavailable"

// graphQLFaultMessage is the GraphQL message of a database fault.
func graphQLFaultMessage(f dbFault) string {
	if f.details == "" {
		return f.message
	}
	return f.message + " (" + f.details + ")"
}

// noteFault records a database fault of an API's request: a pool wait that timed out is a
// rejection, counted by reason; anything else (the database out of reach) is logged.
func (a *apis) noteFault(from origin, api string, err error) {
	var rej *poolmgr.RejectedError
	if errors.As(err, &rej) {
		a.s.metrics.rejected.WithLabelValues(string(rej.Reason)).Inc()
		return
	}
	a.logger(from).Warn(api+" execution: database unavailable", "err", err)
}
