// Package graphql is the GraphQL front end of the planner: it parses and validates a
// Hasura-dialect operation against a tenant's gqlschema.Schema, walks the annotated
// gqlparser AST, lowers it to ir, and has sqlgen render it, producing a planner.Plan.
//
// Files: compile*.go (the walk), errors.go (Hasura-style error messages). The schema
// itself (names, SDL, introspection) belongs to planner/gqlschema; this package never
// derives a GraphQL name from the catalog, it looks them up there.
//
// Every value from the request becomes a plan parameter: literals as constants, variables
// as variable references bound per request by planner.Plan.Bind. Variables whose value
// changes the SQL's shape (a whole `where: $w`, `order_by: $o`, `distinct_on: $d`,
// `_is_null: $b`, `path: $p`, `@include(if: $x)`, aggregate `columns:`) are inlined at
// compile time and listed in Plan.KeyVars: their raw JSON belongs in the cache key.
// A whole insert input (`objects: $objs`, `object: $obj`) whose objects all have the
// same keys binds as one json parameter read by json_populate_recordset; the plan then
// depends on those keys only, and Plan.Shapes tells the cache to key it by them.
//
// Operations: queries (list, _by_pk, _aggregate with its groups(group_by, having,
// order_by, limit, offset) field (compile_groups.go), <t>_stream for subscriptions) compile
// to one statement that builds the whole data object; mutations (insert with
// on_conflict and nested inserts through relationships, insert_one, update, update_by_pk
// with _set/_inc/_append/_prepend/_delete_key/_delete_elem/_delete_at_path, delete,
// delete_by_pk) compile to one statement per root field, a data-modifying CTE whose
// response is read from the returned rows; the proxy runs them in order in one
// transaction. update_many compiles to one statement per element of `updates`, marked
// with Statement.Part/Parts so the proxy makes their values one array: each update must
// see the rows the previous ones left, which the CTEs of one statement cannot (they
// share one snapshot and modify a row at most once). An empty `updates` is [].
//
// Nulls, as Hasura v2: an explicit null comparison operand (`_eq: null`, or a variable
// whose value is null) is a validation-failed error; `where: null`, `{}` and `_and: []`
// match everything, `_or: []` nothing. One deliberate difference: an absent nullable
// variable used as an operand binds SQL NULL and so matches nothing, where Hasura would
// drop the comparison and match every row.
//
// Limits (DefaultLimits): query text 256 KiB, 20 000 tokens, selection depth 16, 32 root
// fields, 10 000 fields once fragments are expanded and 100 copies of one response key in
// one selection set (both counted over the fragment graph before validation, limits.go),
// no cap on `limit` (MaxLimit 0) nor on the estimated cost (MaxCost 0: the rows each list
// may build, multiplied down the nesting). Exceeding one is a validation-failed error.
// A compilation still running at Limits.Deadline stops with an error.
//
// Golden cases: testdata/graphql_*.json, one file per topic, each case a request with the
// SQL, parameters and data it must give on testdata/fixture.sql (loaded into a schema of
// its own); `go test ./planner/graphql -update` rewrites them after a reviewed change.
//
// Not done here: executing SQL, caching plans, rendering errors as JSON (the proxy does).
package graphql
