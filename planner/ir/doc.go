// Package ir is the planner's dialect-neutral intermediate representation: the tree that
// the GraphQL and REST front ends lower a request to, and that sqlgen turns into one SQL
// statement building the whole JSON response.
//
// A read is a Query of root Selects; a write is a Mutation (insert with on-conflict and
// nested-insert steps, update with assignments, delete) whose response reads the
// affected rows. A Select reads one relation with an output shape (array of row objects, a
// single object or null, or an aggregate object), a filter expression, ordering,
// limit/offset and DISTINCT ON. Nested Selects hang off output fields and are linked to
// their parent through join columns. Every value that comes from a request is a Param
// naming a parameter slot and its Postgres type; the IR never holds request values
// that sqlgen would splice into SQL text. Names (relations, columns, output keys) are
// always quoted by sqlgen, and type names, functions and operators are checked against
// fixed sets, so a front-end bug yields an error, not an injection.
//
// The package owns only data types and small constructors. It must not know GraphQL or
// PostgREST syntax, must not build SQL, and must not do I/O.
package ir
