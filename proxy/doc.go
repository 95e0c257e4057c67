// Package proxy is Kapok's HTTP front door: the fasthttp server, routing, tenant resolution,
// the GraphQL, REST and admin handlers, health endpoints and /metrics.
//
// It is the one place that maps typed errors from the planner, the pools and the registry to
// each dialect's error format. It never builds SQL text: plans come from the planner, values
// are bound by the plan, and bytes from Postgres are written to the socket as they are.
//
// Handlers never keep a *fasthttp.RequestCtx or any byte slice it returned after they return,
// and never pass the fasthttp ctx to pgx (it is only cancelled at shutdown): every database
// call gets its own deadline.
package proxy
