package ir

// REST statements (PostgREST's dialect) answer with one envelope value
// `<rows in the body>,<total rows or nothing>,<body>` so the front door can
// write Content-Range, pick 206/416 and check singular responses without decoding
// the body. These nodes are used by planner/rest only.

// RESTRead is a read whose body is Select (ShapeArray); Total asks for the count of
// every row matching Select's filters, ignoring its limit, offset and order.
//
// Grouped reads (PostgREST's aggregates) output one object per group: Select's Output
// mixes Columns (the grouping keys) and Aggs, and its order, limit and offset apply to
// the groups.
//
// A linked Select (an embed) whose Output holds Aggs is grouped the same way within each
// parent row: one object per group of its Columns, or exactly one object without them
// (count 0 and null sums over no rows); its order, limit and offset are not used.
type RESTRead struct {
	Select  *Select
	Total   bool
	Grouped bool
	// CSV makes the body text/csv: a header line of the output's names, then one line
	// per row of its Column values as Postgres prints them (no embeds).
	CSV bool
}

// RESTWrite is an INSERT, UPDATE or DELETE whose input rows come from one json
// parameter (an object or an array of objects) read as the row type of Table.
type RESTWrite struct {
	Op    MutationOp
	Table Relation
	// Columns are set from the body: the INSERT column list, or UPDATE's SET list.
	Columns []string
	Body    *Param
	// OnConflict, for inserts, is the conflict target; DoNothing chooses DO NOTHING,
	// else DO UPDATE SET every Column to the proposed value.
	OnConflict []string
	DoNothing  bool
	// MissingDefault (inserts, Prefer: missing=default) gives a Column absent from a
	// row of the body its default instead of NULL: Defaults[i] is the default of
	// Columns[i], an SQL expression read from the catalog (pg_get_expr, never request
	// text); "" means NULL, or the next value of the column's sequence when
	// Identity[i] is set.
	MissingDefault bool
	// BodyObject says the body is one JSON object, not an array of them: an insert reads
	// it with json_populate_record. The plan is then valid for object bodies only (the
	// front door keys plans by the body's kind).
	BodyObject bool
	Defaults   []string
	Identity   []bool
	// Where filters UPDATE and DELETE (nil: every row).
	Where Expr
	// Returning builds the body from the affected rows (its From is MutatedRows); nil:
	// the body is [] and only the count is returned.
	Returning *Select
	// CountInserted (an upsert that updates on conflict: PUT, POST with merge-duplicates)
	// puts the number of rows inserted, not updated, in the envelope's total, for the
	// response status (201 when a row was inserted, else 200).
	CountInserted bool
	// Singular fails the statement, undoing the write, unless exactly one row was
	// affected: the error is SQLSTATE 42704 on the setting SingularSetting + the count.
	Singular bool
	// MaxAffected, when set (Prefer: handling=strict, max-affected=n on PATCH and
	// DELETE), fails the statement, undoing the write, when it affected more rows: the
	// error is SQLSTATE 42704 on the setting MaxAffectedSetting + the count.
	MaxAffected *int64
}

// MaxAffectedSetting prefixes the unknown setting a write or call over its MaxAffected
// reads to fail: the error message names it followed by the number of rows.
const MaxAffectedSetting = "kapok.max_affected_rows."

// SingularSetting prefixes the unknown setting a Singular write reads to fail: the error
// message names it followed by the number of affected rows.
const SingularSetting = "kapok.singular_rows."

// RESTCall calls a function with named arguments. Args come from request values;
// BodyArgs, when Body is set, are read from the json object parameter Body.
type RESTCall struct {
	Function Relation
	Args     []NamedArg
	Body     *Param
	BodyArgs []TypedName
	// Set is true for set-returning functions, Composite when the rows have columns,
	// Void when the function returns nothing (the body is null).
	Set, Composite, Void bool
	// MaxAffected fails a set-returning call that returns more rows, undoing what the
	// function wrote (RESTWrite.MaxAffected).
	MaxAffected *int64
	// Rows, for composite results, is the Select over the rows (From is CallRows); nil
	// for a scalar or a set of scalars.
	Rows *Select
	// Total as in RESTRead, for set results.
	Total bool
}

// NamedArg is name => Value in a call.
type NamedArg struct {
	Name  string
	Value Expr
}

// TypedName is a name and a type spelled by TypeName.
type TypedName struct {
	Name string
	Type string
}

// CallRows is the pseudo-relation of the rows a RESTCall's function returned.
var CallRows = Relation{Name: "c"}
