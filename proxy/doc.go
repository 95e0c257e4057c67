// Package proxy is Kapok's HTTP front door: the fasthttp server, routing, tenant resolution,
// the GraphQL, REST and admin handlers, health endpoints and /metrics.
//
// It is the one place that maps typed errors from the planner, the pools and the registry to
// each dialect's error format. It never builds SQL text: plans come from the planner, values
// are bound by the plan, and bytes from Postgres are written to the socket as they are.
//
// A request's body limit is chosen from its header before the body is read (the tenant's
// max_body_bytes, the admin API's, a small one for everything unauthenticated), so no
// request makes the process buffer more than its limit; a larger body is answered 413 in its
// API's format and drained before the connection closes, so the client reads the 413 rather
// than a reset. A request the database could not serve (unreachable, connection lost, pool
// wait timed out) is answered 503/504 with Retry-After, never 500 or an empty 200.
//
// Handlers never keep a *fasthttp.RequestCtx or any byte slice it returned after they return,
// and never pass the fasthttp ctx to pgx (it is only cancelled at shutdown): every database
// call is bounded by the pool (queue wait, acquire timeout, request timeout).
//
// Allocation budget: a GraphQL request whose plan is cached costs at most 2 allocations from
// handler entry to response bytes, Postgres excluded (TestACacheHitStaysWithinItsAllocationBudget;
// 0 measured). Scratch space comes from a sync.Pool, the plan key is built in a reused buffer,
// the body is scanned in place and the statement's JSON is copied once, into the response.
package proxy
