// Package sqlgen turns an ir.Query into one PostgreSQL statement that returns exactly one
// row with one json column: the whole response, assembled by Postgres.
//
// Shape (see DESIGN.md): each Select becomes `SELECT <json> AS "j" FROM (<filtered,
// ordered, limited rows>) tN` with every nested relationship as a correlated
// `LEFT JOIN LATERAL (...) rN ON true`; arrays are `coalesce(json_agg(... ORDER BY ...),
// '[]'::json)`, objects are null when absent, a nested limit applies per parent row.
// Objects wider than 50 fields (json_build_object's 100-argument limit) are built with
// row_to_json over a one-row sub-select. Identifiers are always quoted, aliases are
// numbered in walk order so the text is deterministic, and every value is a parameter
// `$n::type`: sqlgen renumbers the front end's slots in order of first use and reports
// that order in Statement.Slots. A filter is always rendered as one operand: every
// group of AND/OR operands comes back parenthesised, so a filter joined to a link, an
// EXISTS or another condition cannot spill over to other rows.
//
// Cases: sqlgen_cases_test.go builds IR trees in Go; the SQL each renders to is kept in
// testdata/<topic>.sql and every case is prepared and run on testdata/fixture.sql, so a
// change to the SQL reads as a diff of those files (`go test ./planner/sqlgen -update`).
//
// sqlgen reads only the IR: no catalog lookups, no request text, no I/O.
package sqlgen
