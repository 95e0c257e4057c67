// Package proxy is Kapok's HTTP front door: the fasthttp server, routing, tenant resolution,
// the GraphQL, REST and admin handlers, health endpoints and /metrics. /console (and /, which
// leads there) is routed to package console before tenant resolution; the console reads the
// admin API's live figures (GET /admin/v1/monitor), which come from each tenant's liveStats:
// counts and a latency histogram kept with atomic adds, in this process only.
//
// Every plan runs through one function, apis.execute: key → plan cache → AppendKey → Bind →
// Begin → poolmgr → Respond. It never knows which dialect produced the plan
// (planner.Executable): the plan binds the request's values, shapes the response (the GraphQL
// envelope, REST's status, Content-Range and singular answers) and answers the request's own
// errors. The proxy owns what no plan can answer, through each API's door (graphqlDoor,
// restDoor): requests that do not compile, refusals, database faults, timeouts. It never
// builds SQL text and never decodes the bytes Postgres returns.
//
// GraphQL schemas are cached once per (tenant, catalog version, role) (schemaCache), up to
// tenancy.schema_cache_mb, least recently used dropped first: only compiling needs one; plans,
// of every API, in one cache keyed by (tenant, version, role, request shape).
//
// A request gets its tenant's catalog from control.Registry.Ensure, which loads a cold or
// hibernated tenant's, before authenticating: that first load's change hooks create the
// tenant's role and grants, which decide the roles a credential may name. Routes that compile
// nothing (Kapok Auth, Realtime, the wire port) ensure the catalog for those hooks alone
// (apis.prepare). A hibernating tenant's hook drops its GraphQL schemas and its plans (which
// hold its catalog), as a new catalog version or the tenant's deletion does; a wake-up
// compiles them afresh.
//
// Every resolved request passes its tenant's gate (move.go) and leaves it when answered, so
// a move to a database of its own (POST …/move, control.Store.MoveTenant) can hold the
// tenant's new requests and wait for those in flight; held ones resolve the tenant again
// when it resumes, and run against the moved tenant. At the switch the tenant's old pool and
// WebSockets close (control.Store.OnMove, on every replica).
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
// Supabase Realtime (/realtime/v1/websocket and the REST broadcast endpoint) is served in
// realtimews.go: the socket's apikey and each channel's access_token go through
// guard.authenticate like any request; the protocol itself lives in package realtime.
// Kapok Auth (/auth/v1, the GoTrue API of supabase.auth) is package auth's; authapi.go routes
// it and hands it the request's credential as checked here (auth.Caller), a refused one
// included, since GoTrue's public endpoints need none. Supabase's other APIs (/storage/v1,
// /functions/v1) are not served: unservedAPI answers them 501 in the error shape of each
// one's client. Kapok's own keys (control.KeysFor) and Kapok Auth's access tokens are read
// in auth.go: anon is the tenant's anonymous role, authenticated its authenticated_role,
// service_role the tenant's own role, all through guard.authenticate's role rules.
//
// A browser's cross-origin checks are answered in cors.go for the tenant APIs only (never
// the admin API, /metrics or the health checks), before tenant resolution, so a preflight
// needs no tenant and an error stays readable. The client's address (clientaddr.go) is the
// connection's peer, or, from a trusted_proxies peer, the last X-Forwarded-For address that
// is not a trusted proxy: allow lists and Kapok Auth's per-address limits use it. Kapok
// Auth's links are built on the configuration (public_url, users.external_url), never on
// the Host header, which the client chooses; only a loopback Host stands in for them.
//
// Every request gets an id (X-Request-Id: the client's when it is made of id characters,
// else one made from a per-process prefix and a counter) echoed in the response; the log
// lines about a request carry it as request_id, and trace_id/span_id when the request
// came with a W3C traceparent. With Options.Tracer set (package tracing), each request is a
// server span (tenant, API, outcome), a child of the caller's traceparent, with a child span
// for its statements; without it nothing of tracing runs. /metrics counts requests by route
// and outcome, and by tenant in kapok_tenant_* (metrics.max_tenant_labels tenants get a
// label, the others count as "other"); a request finds its tenant's series by index under
// one atomic load, never hashing labels.
//
// Allocation budget: a GraphQL request whose plan is cached costs at most 2 allocations from
// handler entry to response bytes, Postgres excluded (TestACacheHitStaysWithinItsAllocationBudget;
// 0 measured). Scratch space (an exchange) comes from a sync.Pool, the plan key is built in a
// reused buffer, the body is scanned in place and the statement's JSON is copied once, into
// the response.
package proxy
