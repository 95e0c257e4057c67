// Package catalogload reads a tenant's exposed PostgreSQL schemas into planner/catalog's
// model, and computes the DDL fingerprint that pollers compare.
//
// Load reads the catalog with a handful of bulk queries (one per kind of object, never
// one per table) inside one read-only snapshot, sent in two batches (three round trips
// with the types) where the connection can batch, then hands the result to
// catalog.Schema.Finish, which sorts it, derives relationships and stamps Version. A
// schema's relations, types and functions are found through pg_depend's index (inSchemas),
// not by scanning pg_class, pg_type and pg_proc, so a tenant's load costs what its own
// schema holds however many other tenants share the database; the queries' plans are
// generic, made once per connection.
// Fingerprint (and Fingerprints, per schema, for many tenants at once) is a single query
// that detects DDL, for pollers that cannot install an event trigger; it is a change hint,
// not a version.
//
// It runs on whatever connection, pool or transaction the caller passes and keeps none:
// it must not open or hold connections, serve requests, or decide when to reload (that is
// control's watcher).
package catalogload
