package wire

import (
	"net"
	"net/netip"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/kapok-dev/kapok/control"
)

// Identity is who an authenticated client connection is and what its session runs as.
type Identity struct {
	Tenant *control.Tenant
	// User is the role part of the startup user, as the client gave it.
	User string
	// Role is the role the session runs as: "" for the server connection's login role
	// (the tenant's own role, or the upstream login under isolation "none").
	Role string
	// Claims is the JSON exposed to SQL as request.jwt.claims (nil: not set).
	Claims []byte
	// Token is true when the client authenticated with an API key or JWT: it may then
	// neither change its role nor set request.jwt.* (its claims are what RLS trusts).
	Token bool
	// Params are the client's startup parameters other than user, database and
	// replication (application_name, client_encoding, DateStyle, TimeZone, search_path,
	// and the -c settings of options), applied like SET.
	Params map[string]string
	// Addr is the client's address.
	Addr netip.Addr
}

// Authenticator checks the tenant credentials Kapok's HTTP APIs accept (admin key, API
// keys, JWTs) and the roles a tenant may run as. The binary wires the proxy's in.
type Authenticator interface {
	// Credential checks secret, presented as tenant's password. role is the Postgres role
	// the session runs as ("" = the tenant's own role, for the admin key), claims the JWT
	// payload (nil for keys). An error is a refused credential (28P01).
	Credential(tenant, secret string) (role string, claims []byte, err error)
	// Usable reports whether role is one of tenant's usable request roles, which SET ROLE
	// and a "role.tenant" user may name.
	Usable(tenant, role string) bool
}

// The pieces of the package meet at these names (each file owns one side):
//
//	front.go   Server: Listen/Serve/Shutdown, TLS (its certificate from internal/certfile,
//	           reloaded when the files change), startup, auth, routing, cancel keys.
//	           Calls Engine.Serve once the client is authenticated (after AuthenticationOk).
//	startup.go the startup packet, read byte for byte (protocol versions, options).
//	scram.go   SCRAM-SHA-256(-PLUS) against the role's verifier in pg_authid.
//	engine.go  Engine: NewEngine(EngineOptions), Serve(ctx, *Client, Identity) error,
//	           Cancel(pid, secret uint32), Drain(), Close(); the relay, transaction pooling,
//	           prepared statements, session state, idle-in-transaction timeout.
//	prepared.go client statements on server connections: server names, re-prepare, eviction.
//	servers.go per-tenant pools of server connections (pgconn, hijacked) and cancel.
//	guard.go   inspect(sql, policy) ([]effect, *refusal): the statement guard.
//	metrics.go kapok_wire_* collectors, shared by front and engine.

// Client is an authenticated client connection, handed by the front to Engine.Serve.
type Client struct {
	Conn    net.Conn
	Backend *pgproto3.Backend
	// PID and Secret are the BackendKeyData Engine.Serve sends; a CancelRequest carrying
	// them cancels what the session runs (Engine.Cancel).
	PID, Secret uint32

	// reader is what Backend reads the client through, when the front made it so: it
	// tells the session whether the client sent more than the Backend returned.
	reader *messageReader
}
