// Package typescript writes the TypeScript types of a tenant's REST API from its catalog,
// in the shape `supabase gen types typescript` writes: a Database type whose schemas hold
// Tables (Row, Insert, Update, Relationships), Views, Functions (Args, Returns), Enums and
// CompositeTypes, followed by the helper types Tables<>, TablesInsert<>, TablesUpdate<>,
// Enums<> and CompositeTypes<>, so that supabase-js's createClient<Database>() types every
// query.
//
// The tenant's first exposed schema is written as the key public: supabase-js sends the
// profile public by default and Kapok reads it as that schema, so the types and the
// requests agree without a db.schema option. Other exposed schemas keep their names.
//
// The output is a pure function of the catalog (catalog order, no maps iterated), so it is
// compared byte for byte with golden files. The package does no I/O and knows nothing of
// how requests are served.
package typescript
