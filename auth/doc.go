// Package auth is Kapok Auth: the GoTrue API (/auth/v1) that supabase.auth (auth-js)
// calls, for each tenant whose configuration has auth.users. It owns the tenant's users,
// their identities (email, OAuth providers), sessions, refresh tokens, PKCE flows, MFA
// factors, one-time codes and the audit log, and signs the access tokens the rest of
// Kapok then accepts for that tenant.
//
// The store is one schema per tenant (control.AuthSchema: kapok_auth_<tenant> in a shared
// database, auth in a tenant's own), in the tenant's database, reached through the
// pooler as Kapok's own login and never as the tenant's role, so no tenant request can
// read it. The SQL helpers row-level security policies call (auth.uid(), auth.role(),
// auth.email(), auth.jwt()) are installed next to it by Prepare. Secrets are stored
// hashed: refresh tokens, PKCE codes and one-time tokens as SHA-256, passwords as bcrypt.
//
// Sessions follow GoTrue: a sign-in creates a session and its first refresh token; each
// refresh revokes the token presented and hands out its child. A revoked token presented
// again within the reuse interval gets the session's current token back (a client that
// refreshed twice at once); presented later, it is taken for a stolen token and the session
// ends. An access token names its session, and the endpoints here refuse it (403
// session_not_found) once the session is gone. Password sign-in costs one bcrypt
// comparison whether the address exists or not, and is rate limited per client address
// and per account; refreshes per address.
//
// Serve answers one request the proxy has routed to a tenant and whose credentials it has
// checked (Request.Caller); Serve never panics (a bug answers 500 unexpected_failure).
// Metrics are kapok_auth_* counters without a tenant label.
//
// auth must not serve HTTP itself or import fasthttp (the proxy does both), verify the
// signature of incoming tokens (the proxy did, with the tenant's keys), import Kapok's
// packages other than control, or build SQL from request data: identifiers in its SQL are
// the quoted store schema from the configuration, and every value is a bound parameter.
package auth
