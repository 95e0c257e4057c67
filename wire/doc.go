// Package wire is Kapok's Postgres wire-protocol front door: psql, BI tools, ORMs and every
// Postgres driver reach a tenant through it, with the same routing, credentials, limits and
// metrics as HTTP.
//
// It owns:
//   - the listener on wire_listen, TLS (sslmode=require/verify-full) and the startup
//     exchange (front.go): SSLRequest, StartupMessage, CancelRequest;
//   - authentication: SCRAM-SHA-256 against the role's verifier in pg_authid, or an API key,
//     JWT or admin key of the tenant presented as a cleartext password (TLS or a config that
//     allows plain text), checked by the Authenticator that the binary wires in;
//   - tenant routing by the Supavisor conventions: user "role.tenant", or database = tenant;
//   - its own transaction pooling over server connections that log in as the tenant's own
//     role (engine.go, servers.go): a client holds a server connection for one transaction,
//     the session's role, claims and SET parameters are re-applied when the server
//     connection it gets last served another session;
//   - client prepared statements that survive transaction pooling (prepared.go): each named
//     statement is prepared once per server connection under a name derived from its text,
//     and re-prepared transparently on the next server connection that lacks it; outside
//     a transaction, a statement a server of the pool already parsed under the same
//     session state is taken without waiting for a server connection. Server
//     connections go straight to PostgreSQL: through a transaction-mode pooler (PgBouncer
//     1.18) neither statements nor settings would survive between Kapok's own messages;
//   - the relay (engine.go, frames.go, rawconn_linux.go): a batch that ends in Sync or is
//     a Query is answered on the client's goroutine, the server's messages go to the client
//     as the frames they came in, and TCP sockets are read and written with raw system
//     calls the Go scheduler does not hand off; the write of such a batch waits for the
//     server's answer itself, and the write of the answer that ends a transaction waits
//     for the client's next message (the client is read through a messageReader, which
//     shows whether it sent more already), so that no read takes an attempt that finds
//     nothing;
//   - the statement guard (guard.go): what would escape the tenant or break under
//     transaction pooling (SET ROLE to a role the tenant may not use, SET SESSION
//     AUTHORIZATION, LISTEN, session advisory locks, temporary tables that outlive a
//     transaction, SQL PREPARE) is refused before it reaches PostgreSQL;
//   - cancel requests routed to the backend running the client's statement, the
//     idle-in-transaction timeout, per-tenant client connection caps, kapok_wire_* metrics
//     and drain on shutdown.
//
// Isolation does not rest on the guard alone: server connections log in as the tenant's
// own role (control.TenantConfig.OwnRole) whenever the tenant runs as one, so a statement
// the guard missed still cannot reach another tenant's objects.
//
// What it must not do: import proxy (credentials come through Authenticator), build SQL
// from client data other than quoted identifiers and bound literals of the session prelude,
// decode result rows (messages are relayed as they come), or tell a client anything about
// tenants other than the one it authenticated to.
package wire
