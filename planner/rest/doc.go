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
//     embedding) and lowers it to planner/ir as one plan kind per action, as PostgREST
//     plans them: ReadPlan (GET/HEAD, grouped aggregates, CSV), MutatePlan
//     (POST/PATCH/PUT/DELETE) and CallPlan (rpc). Aggregates inside an embed (orders(count),
//     orders(status,total.sum())) lower to a linked Select whose output mixes columns and
//     Aggs; sqlgen groups it within each parent row.
//   - Compile writes any plan's one statement (SQL from planner/sqlgen) as a Statement, the
//     front end's planner.Executable: the statement returns the envelope `rows,total,body`
//     (internal/statement; total empty when not counted), from which Respond writes the
//     status, Content-Range, 206/416, Preference-Applied, Location and singular answers
//     without decoding the body, and Fail answers database errors with PostgREST's status.
//     Write bodies bind as one json parameter; a Statement's Sources say where each
//     placeholder's text comes from. A Prefer: timezone=… puts sqlgen.SetTimezone before
//     the statement, in the same transaction.
//
// Malformed input yields an *Error carrying PostgREST's code, message, details, hint and
// HTTP status (WriteError writes it). The package does no I/O, holds no mutable state,
// and never writes SQL text: SQL comes from planner/sqlgen.
package rest
