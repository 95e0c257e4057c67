// Package openapi generates the OpenAPI 3.1 document of a tenant's PostgREST-compatible
// REST API from its catalog, and optionally the document of Kapok's admin API.
//
// Build describes every table and view of one exposed schema (read, and write where the
// relation allows it), every function as /rpc/<name>, a JSON Schema per relation derived
// from its columns (types, formats, nullability, defaults, enum values, keys, comments),
// PostgREST's shared query parameters and headers, its error body, and the security
// schemes (apikey header, bearer JWT, admin key).
//
// The output is a pure function of its inputs: maps are marshalled with sorted keys and
// every list follows catalog order, so documents can be compared byte for byte.
//
// The package reads the catalog and nothing else: it does no I/O, keeps no state, and
// knows nothing of how requests are served; it only describes them.
package openapi
