// Package planner is Kapok's compiler: it turns a GraphQL or REST request, checked
// against one tenant's catalog, into a Plan of SQL statements plus the recipe to bind
// each request's values as parameters.
//
// Sub-packages read in pipeline order: catalog (the schema model, which
// control/catalogload reads from PostgreSQL), gqlschema (GraphQL names, SDL,
// introspection), graphql and rest (front ends: request → ir), ir (the dialect-neutral
// tree), sqlgen (ir → SQL text). This root package holds the contract every front end's
// plan keeps, Executable (AppendKey, Bind, Begin, Respond, Fail), with its Input, Batch and
// Response, and the GraphQL front end's plan: Plan, Statement, Param, variable binding,
// Hasura's response envelope and the typed Error. Whoever runs plans (the HTTP handlers,
// later the wire front door and subscriptions) runs every Executable the same way.
// It does no I/O. No package under planner/ imports a database driver or, apart from
// internal/jsonx and internal/statement (the statement/result contract it shares with
// poolmgr), anything of Kapok's outside planner/: arrows point into planner, never out of it.
//
// Cache keys: a Plan depends on the query text, the operation name and the catalog
// version; when Plan.KeyVars is not empty it also depends on the raw JSON of those
// variables (their values changed the SQL's shape), and the cache key must include them.
//
// Bind budget: binding variables allocates only for strings with JSON escapes and for
// list variables (Postgres array literals); everything else is sliced from the request
// body without copying.
package planner
