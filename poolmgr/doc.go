// Package poolmgr owns Kapok's connections to PostgreSQL (normally through PgBouncer in
// transaction mode): a logical Pool per tenant, created lazily, closed when idle or pushed
// out of the LRU and reopened on the next request; under them the physical pgxpools — one
// per upstream URL shared by every tenant that logs in alike and switches role per request
// (SharedLogin), with a fair gate that hands its connections to waiting tenants in turn
// (fair.go, physical.go), and one of its own for a tenant with its own login; the admission
// limits that run before any work (per-tenant in-flight cap, global cap, bounded pool
// wait); the Prometheus collector over every live pool; and the executor that runs a
// compiled plan's statements in one round trip and returns the raw JSON bytes Postgres
// built.
//
// The executor's interface is deliberately narrow: statements with text-format parameters
// in, one JSON value per statement out (Pool.Run), gathered from the statement's rows as its
// Result says (internal/statement, the contract it shares with the planner). Coalesced execution of concurrent
// requests that share a plan can slide in behind it without touching callers.
//
// What it must not do: import anything of ours but internal/statement, build or edit SQL from request data (the
// only SQL it writes are the two fixed set_config preludes, every value a bound parameter), decode
// or re-encode the JSON it returns, map errors to HTTP/GraphQL/REST shapes (the proxy does
// that from the typed errors here), or hold a connection after Run returns.
//
// Errors and the HTTP status the proxy should give them:
//
//   - ErrTooManyRequests (tenant in-flight cap hit after the bounded wait): 429, with
//     Retry-After; the tenant is over its own quota, other tenants are unaffected.
//   - ErrServerBusy (global cap on concurrent client requests): 503 with Retry-After; the
//     process is saturated, the request is not at fault.
//   - ErrAcquireTimeout (no pooled connection within AcquireTimeout): 504 with Retry-After,
//     as PostgREST answers its pool's acquisition timeout (PGRST003).
//   - ErrRequestTimeout (client-side deadline; the connection is discarded): 504.
//   - *PgError (Postgres answered with an error): mapped by SQLSTATE, e.g. 23505 → 409,
//     57014 (statement timeout) → 504 for REST, Hasura codes for GraphQL.
//   - ErrResultShape (a statement did not return one row with one column): 500, a bug in
//     the compiler.
//   - *UnavailableError, matching ErrUnavailable (cannot connect, login refused, too many
//     connections, the connection reset or closed, 08xxx, 57P01, any FATAL): 503 with
//     Retry-After; the request is not at fault. After a broken connection Run drops the
//     pool's idle ones, which most likely broke with it, so the next request connects anew.
//   - ErrClosed (manager shut down): 503.
//   - ErrSessionRole (a Session.Role of "none", which Postgres reads as RESET ROLE): 500, a
//     bug in the caller, which checks roles before it runs anything.
package poolmgr
