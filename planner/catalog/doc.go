// Package catalog introspects a tenant's exposed PostgreSQL schemas into an immutable
// model (Schema): relations, columns and their types, keys, indexes, enums, domains,
// functions, comments, and the relationships derived from foreign keys.
//
// Load reads the catalog with a handful of bulk queries (one per kind of object, never
// one per table) inside one read-only snapshot, and stamps the result with Version, a
// hash of its canonical encoding that ignores OIDs, so replaying identical DDL gives an
// identical version. Fingerprint (and Fingerprints, per schema, for many tenants at
// once) is a single query that detects DDL, for pollers that cannot install an event
// trigger; it is a change hint, not a version.
//
// The model is read by the GraphQL and REST front ends, the SQL generator and the admin
// API. It must not grow knowledge of either dialect: how a relation or relationship is
// spelled in GraphQL or REST is the dialect's business; Relationship names here follow
// the rule in relationships.go. Apart from Load and Fingerprint the package does no I/O.
package catalog
