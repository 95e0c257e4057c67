// Package catalog is the immutable model (Schema) of a tenant's exposed PostgreSQL
// schemas: relations, columns and their types, keys, indexes, enums, domains, functions,
// comments, each role's privileges, and the relationships derived from foreign keys.
//
// A loader fills a Schema in and calls Finish, which puts every list in canonical order,
// derives the relationships, builds the lookup maps and stamps Version, a hash of the
// canonical encoding that ignores OIDs, so replaying identical DDL gives an identical
// version. Reading the model from PostgreSQL (and the DDL fingerprint pollers use) is
// control/catalogload's job; tests build a Schema by hand and call Index or Finish.
//
// The model is read by the GraphQL and REST front ends, the SQL generator and the admin
// API. It must not grow knowledge of either dialect: how a relation or relationship is
// spelled in GraphQL or REST is the dialect's business; Relationship names here follow
// the rule in relationships.go. The package does no I/O and imports no database driver.
package catalog
