// Package aispec writes ai-spec.md: a compact Markdown description of one tenant's API
// for coding agents. It says where the GraphQL, REST and OpenAPI endpoints are, how to
// authenticate, what every table, view and function looks like (columns, types, keys,
// relationships, comments), gives a GraphQL query and curl-ready REST calls per table,
// and shows the admin endpoints that change the schema (migrations, reload), and what is
// not served.
//
// The document must be true for the instance it describes: its examples send the
// credentials that instance accepts (none on an open instance, the anon key as apikey
// where one is given, a bearer token otherwise), insert examples take fresh values for
// primary and unique keys ($UNIQUE) so they run twice on a table with rows, and the admin
// calls are shown only where an admin key enables them. A test runs every example against
// a live Kapok.
//
// GraphQL names come from planner/gqlschema (never re-derived here); REST embedding
// names follow PostgREST's rule (the related table's name, with a !constraint hint when
// that name alone is ambiguous). Past Options.CompactAbove relations, the per-table
// sections shrink to one block each and the examples are shown once.
//
// Output is deterministic (catalog order throughout). The package does no I/O and keeps
// no state; what it knows about authentication comes from Options.
package aispec
