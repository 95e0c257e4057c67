// Package gqlschema turns a tenant's catalog into its Hasura-v2-compatible GraphQL
// schema and answers introspection over it.
//
// It owns: the naming of every GraphQL type, root field, field and enum value
// generated for tables, views and relationships; the Postgres → GraphQL scalar
// mapping; the generated SDL; loading that one SDL string into both
// graph-gophers/graphql-go (the schema of record, and the source of introspection
// data) and gqlparser (the typed AST the compiler walks); and the lookup maps that
// take a GraphQL type/field/enum value name back to the catalog object it stands for,
// so that the compiler never re-derives a name.
//
// A *Schema is immutable once Build returns and safe for concurrent use.
//
// It must not: build SQL, bind values, perform I/O, or import anything of ours
// outside planner/catalog.
//
// Naming rules (Hasura v2):
//   - Tables of the tenant's default schema (its first exposed schema) keep their
//     name; tables of other exposed schemas are prefixed "<schema>_".
//   - Names that are not valid GraphQL names (/^[_A-Za-z][_0-9A-Za-z]*$/, and not
//     starting with "__") are never sanitized: the object is left out of the schema
//     and reported in Schema.Skipped. A table whose generated names collide with
//     names already taken (earlier in catalog order) is left out the same way, as is a
//     column that would clash with another field of its type. Renaming would make
//     names depend on the set of other tables and silently change under clients.
//   - Postgres arrays are GraphQL lists of the element scalar ("text[]" → [String!]),
//     filtered with "<Elem>_array_comparison_exp", as Hasura does since v2.29.
//   - Grouped aggregates, which Hasura v2 lacks, add "groups" to "<t>_aggregate" and the
//     types "<t>_group_by_column", "<t>_aggregate_group[_keys]",
//     "<t>_aggregate_group[_keys]_order_by", "<t>_aggregate_having", "<t>_<fn>_having"
//     (groups.go); "<t>_aggregate_order_by" exists for every table.
//   - A scalar whose name is taken by a table's type (an enum "status" beside a table
//     "status") is renamed "<name>_scalar".
//
// How the compiler uses it, on a plan-cache miss:
//
//	doc, errs := gqlparser.LoadQuery(s.AST, query)          // typed, validated AST
//	for each root field f of the operation:
//	    IsIntrospectionField(f.Name) → s.IntrospectField(op.Operation, f, vars, buf)
//	    rf := s.QueryField(f.Name) / s.MutationField(f.Name) → rf.Kind, rf.Table
//	for each selected field f below it:
//	    ref := s.Field(f.ObjectDefinition.Name, f.Name) → ref.Kind, ref.Column, ref.Rel, ref.Func
//	for each input object field k of an argument value v (where, order_by, _set, objects…):
//	    ref := s.Field(v.Definition.Name, k)             → column, relationship, operator…
//	for enum values (distinct_on, order_by directions, constraint, update_columns):
//	    s.Type(typeName).Values[value]                   → column, constraint, direction
//
// Column.Cast is the SQL type to cast a parameter to; Relationship.Catalog holds the
// join columns; Table.PrimaryKey holds the _by_pk arguments (named after the columns).
// subscription_root mirrors query_root, so QueryField serves both.
package gqlschema
