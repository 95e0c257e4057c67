// Package difftest owns Kapok's differential tester: a seeded fixture, a generator of random
// read requests (GraphQL in the Hasura dialect and REST in the PostgREST dialect) over it, and
// an independent oracle that answers the same requests by evaluating them in Go over the rows
// read once with plain `SELECT * FROM t`. The test in this package runs thousands of such
// requests through an in-process Kapok and compares its answers with the oracle's. Writes
// too (writes.go): random updates, deletes, inserts and upserts in both dialects, whose
// returned rows, table afterwards and constraint violations (NOT NULL, primary key, foreign
// key) the oracle predicts from the same rows.
//
// It is used only by tests. It must not import the planner (or anything that builds SQL) and
// must never build SQL from a request: the oracle is only worth something while it shares no
// code and no SQL with what it checks. Its only SQL is the fixture's DDL and inserts, the
// plain reads of the fixture's tables, and TRUNCATE to reload them between writes.
package difftest
