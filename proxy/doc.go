// Package proxy is Kapok's HTTP front door: the fasthttp server, routing, tenant resolution,
// the GraphQL, REST and admin handlers, health endpoints and /metrics.
//
// It is the one place that maps typed errors from the planner, the pools and the registry to
// each dialect's error format. It never builds SQL text: plans come from the planner, values
// are bound by the plan, and bytes from Postgres are written to the socket as they are.
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
