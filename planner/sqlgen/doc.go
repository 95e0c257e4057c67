// Package sqlgen turns an ir.Query into one PostgreSQL statement that returns exactly one
// row with one JSON value (json, or JSON text where only the statement's reader sees
// it): the whole response, assembled by Postgres; or, per Statement.Result, rows of JSON
// values for the executor to gather.
//
// Shape (see DESIGN.md): each Select reads a rows sub-select `(SELECT <columns> FROM rel
// AS tN WHERE … ORDER BY … LIMIT …) tN` whose column list is computed from the IR (only
// what the statement reads outside it); a nested relationship is a correlated scalar
// sub-select (or a LEFT JOIN LATERAL for spreads) and a nested limit applies per parent
// row. The JSON is compact, as Hasura and PostgREST clients see it (json.go): an object
// is row_to_json over a row whose columns are named by its keys, or concat() of its keys
// and values where no such row can be had (aggregates, keys longer than 63 bytes); an
// array is array_to_json(ARRAY(<ordered rows>)), or array_agg inside an aggregate; an
// empty array is [], an absent object null; a stored json/jsonb value keeps Postgres'
// own text. json_build_object and json_agg are not used: they write `"k" : v` and
// ", \n ". Identifiers are always quoted, aliases are numbered in walk order so the text
// is deterministic, and every value is a parameter `$n::type`: sqlgen renumbers the
// front end's slots in order of first use and reports that order in Statement.Slots. A
// filter is always rendered as one operand: every group of AND/OR operands comes back
// parenthesised, so a filter joined to a link, an EXISTS or another condition cannot
// spill over to other rows.
//
// A linked ShapeArray/ShapeObject Select whose output holds Aggs (PostgREST's aggregates
// inside an embed) is rendered by rest_embed_groups.go as one grouped sub-select per
// parent row: `SELECT <keys>, <aggregates> FROM rel WHERE <link> AND … GROUP BY <keys>`.
//
// A grouping (ir.Groups, in an aggregate's output) is an ARRAY sub-select that reads the
// aggregate's rows again with GROUP BY (groups.go); an aggregate whose output reads its
// rows only through such sub-selects has no FROM of its own.
//
// Cases: sqlgen_cases_test.go builds IR trees in Go; the SQL each renders to is kept in
// testdata/<topic>.sql and every case is prepared and run on testdata/fixture.sql, so a
// change to the SQL reads as a diff of those files (`go test ./planner/sqlgen -update`).
//
// sqlgen reads only the IR: no catalog lookups, no request text, no I/O.
package sqlgen
