// Package rest is the PostgREST v12 front end of the planner.
//
// It owns the REST request grammar and its lowering:
//
//   - ParseRequest turns a method, a resource path, a raw query string and the relevant
//     headers into an ApiRequest: the target, the select tree (columns, aliases, casts,
//     JSON paths, embeds with hints and join types, spreads, aggregates), filters and
//     logic trees per embed level, order, limit/offset, columns, on_conflict, RPC
//     arguments, Prefer, Accept, Content-Type, profiles and the Range header.
//   - Shaper reduces the same input to the plan-cache key, with every value replaced
//     by a numbered placeholder, and extracts the values without allocating. The values
//     of a request bind to the slots recorded in its ApiRequest, so a cached plan is
//     reused with no parsing. AppendBodyKeys adds a write body's key set to the key.
//   - Plan resolves an ApiRequest against a catalog.Schema (tables, columns, foreign-key
//     embedding) and lowers reads to planner/ir.
//   - Compile turns any request (reads, grouped aggregates, CSV, POST/PATCH/PUT/DELETE,
//     rpc calls) into the one statement the proxy runs: it returns the envelope
//     `rows,total,body` (total empty when not counted), so the proxy writes Content-Range, 206/416 and
//     singular responses without decoding the body. Write bodies bind as one json
//     parameter; a Statement's Sources say where each placeholder's text comes from.
//
// Malformed input yields an *Error carrying PostgREST's code, message, details, hint
// and HTTP status; the proxy writes it. The package does no I/O, holds no mutable
// state, and never writes SQL text: SQL comes from planner/sqlgen.
package rest
