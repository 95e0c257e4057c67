package ir

// Relation names a table, view or function result in a Postgres schema.
type Relation struct {
	Schema string
	Name   string
}

// Shape says how the rows of a Select become JSON.
type Shape uint8

const (
	// ShapeArray is a JSON array of row objects; an empty result is [].
	ShapeArray Shape = iota
	// ShapeObject is the first row's object, or null when there is none (by_pk, object
	// relationships, PostgREST's singular responses).
	ShapeObject
	// ShapeAggregate is one object computed over all selected rows in one scan: its
	// Output may hold Agg values and a Rows value (Hasura's nodes).
	ShapeAggregate
)

// Select reads rows of one relation.
type Select struct {
	From  Relation
	Shape Shape
	// Output is the JSON object built per row (ShapeArray, ShapeObject) or once over all
	// rows (ShapeAggregate).
	Output *Object
	// Link correlates a nested Select with its parent row; nil at the root.
	Link       *Link
	Where      Expr // nil: no filter
	OrderBy    []OrderItem
	DistinctOn []string // column names; sqlgen puts them first in ORDER BY as Postgres requires
	Limit      Expr     // nil or a Param / Const of an integer type
	Offset     Expr
}

// Link joins a nested relation to its parent: Columns on the parent row equal
// RemoteColumns on this Select's relation, pairwise. Through, when set, is a
// many-to-many junction: parent.Columns = Through.Columns and Through.RemoteColumns =
// this.RemoteColumns.
type Link struct {
	Columns       []string
	RemoteColumns []string
	Through       *Junction
	// Inner drops parent rows that have no match (PostgREST's !inner): the front end
	// also adds an Exists filter on the parent; sqlgen uses it only as a hint.
	Inner bool
}

// Junction is the join table of a many-to-many link.
type Junction struct {
	Relation      Relation
	Columns       []string // on the junction, equal to the parent's Link.Columns
	RemoteColumns []string // on the junction, equal to the target's Link.RemoteColumns
}

// Object is a JSON object with fields in output order. Spread fields (PostgREST's
// ...rel(cols)) are flattened by the front end into plain fields over nested values.
type Object struct {
	Fields []Field
}

// Field is one key of an Object.
type Field struct {
	Name  string
	Value Value
}

// Value is what an output field holds.
type Value interface{ value() }

// Column outputs a column of the current row, optionally through a JSON path and a cast.
type Column struct {
	Name string
	// Path walks into a json/jsonb column: each step is a key or an array index.
	Path []PathStep
	// PathText makes the last step ->> (text) instead of -> (json).
	PathText bool
	// Cast is a Postgres type name to cast the value to before it becomes JSON ("" none).
	Cast string
}

// PathStep is one step of a JSON path: the text parameter Key, or the array index
// Index when Key is nil (request text never becomes SQL text, so keys are parameters).
type PathStep struct {
	Key   *Param
	Index int
}

// Literal outputs a constant: Param names the slot holding its text and type (for
// example a __typename, or precomputed introspection JSON with type json).
type Literal struct {
	Param Param
}

// Nested outputs a related Select (its Link says how it joins the current row).
type Nested struct {
	Select *Select
}

// Nest outputs a JSON object built from the same row (for example Hasura's
// aggregate { sum { a b } } object or a REST spread kept as an object).
type Nest struct {
	Object *Object
}

// Agg outputs an aggregate over the rows of a ShapeAggregate Select.
type Agg struct {
	Func AggFunc
	// Columns: for count, the counted columns (none: count(*)); for the other functions,
	// exactly one column.
	Columns  []string
	Distinct bool
	// Input, when set, is the one value aggregated instead of Columns: a column through
	// a JSON path or a cast (PostgREST's data->>x::numeric.sum()).
	Input *Column
	// Cast is applied to the aggregate's result ("" none).
	Cast string
}

// AggFunc is an aggregate function name as Postgres spells it.
type AggFunc string

const (
	AggCount      AggFunc = "count"
	AggSum        AggFunc = "sum"
	AggAvg        AggFunc = "avg"
	AggMax        AggFunc = "max"
	AggMin        AggFunc = "min"
	AggStddev     AggFunc = "stddev"
	AggStddevPop  AggFunc = "stddev_pop"
	AggStddevSamp AggFunc = "stddev_samp"
	AggVariance   AggFunc = "variance"
	AggVarPop     AggFunc = "var_pop"
	AggVarSamp    AggFunc = "var_samp"
	AggBoolAnd    AggFunc = "bool_and"
	AggBoolOr     AggFunc = "bool_or"
)

// Rows outputs the selected rows of a ShapeAggregate Select as an array of objects
// (Hasura's nodes), in the Select's order.
type Rows struct {
	Object *Object
}

func (*Column) value()  {}
func (*Literal) value() {}
func (*Nested) value()  {}
func (*Nest) value()    {}
func (*Agg) value()     {}
func (*Rows) value()    {}

// OrderItem is one ORDER BY key.
type OrderItem struct {
	// Exactly one of Column, Via or Agg-based key is used: a column of the current
	// relation (with an optional JSON path), or a key reached through a relationship.
	Column     *Column
	Via        *OrderVia
	Descending bool
	// Nulls: NullsDefault follows Postgres (NULLS LAST for ASC, FIRST for DESC).
	Nulls Nulls
}

// OrderVia orders by a value of a related relation: a column of an object relationship
// (possibly through further object relationships in Next), or an aggregate over an array
// relationship.
type OrderVia struct {
	Relation Relation
	Link     *Link
	// Next continues through another object relationship; when nil, Column or Agg applies.
	Next   *OrderVia
	Column *Column
	Agg    *Agg
}

// Nulls places NULLs in an ORDER BY.
type Nulls uint8

const (
	NullsDefault Nulls = iota
	NullsFirst
	NullsLast
)

// Expr is a boolean filter or a scalar operand.
type Expr interface{ expr() }

// And is true when every Exprs is true; an empty And is true.
type And struct{ Exprs []Expr }

// Or is true when any Exprs is true; an empty Or is false.
type Or struct{ Exprs []Expr }

// Not negates Expr.
type Not struct{ Expr Expr }

// Bool is a constant truth value.
type Bool struct{ Value bool }

// Compare applies a binary operator: Left Op Right.
type Compare struct {
	Left  Expr
	Op    Op
	Right Expr
}

// Op is a binary SQL operator.
type Op string

const (
	OpEq          Op = "="
	OpNeq         Op = "<>"
	OpGt          Op = ">"
	OpGte         Op = ">="
	OpLt          Op = "<"
	OpLte         Op = "<="
	OpLike        Op = "LIKE"
	OpNotLike     Op = "NOT LIKE"
	OpILike       Op = "ILIKE"
	OpNotILike    Op = "NOT ILIKE"
	OpSimilar     Op = "SIMILAR TO"
	OpNotSimilar  Op = "NOT SIMILAR TO"
	OpRegex       Op = "~"
	OpNotRegex    Op = "!~"
	OpIRegex      Op = "~*"
	OpNotIRegex   Op = "!~*"
	OpDistinct    Op = "IS DISTINCT FROM"
	OpNotDistinct Op = "IS NOT DISTINCT FROM"
	OpContains    Op = "@>"
	OpContainedIn Op = "<@"
	OpOverlaps    Op = "&&"
	OpHasKey      Op = "?"
	OpHasKeysAny  Op = "?|"
	OpHasKeysAll  Op = "?&"
	OpStrictLeft  Op = "<<"
	OpStrictRight Op = ">>"
	OpNotExtRight Op = "&<"
	OpNotExtLeft  Op = "&>"
	OpAdjacent    Op = "-|-"
	OpTextSearch  Op = "@@"
	OpEqAny       Op = "= ANY"  // Right is an array
	OpNeqAll      Op = "<> ALL" // Right is an array
	OpLikeAny     Op = "LIKE ANY"
	OpLikeAll     Op = "LIKE ALL"
	OpILikeAny    Op = "ILIKE ANY"
	OpILikeAll    Op = "ILIKE ALL"
)

// IsNull tests Expr IS NULL (or IS NOT NULL when Negate).
type IsNull struct {
	Expr   Expr
	Negate bool
}

// Exists is true when a related row satisfies Where (relationship filters).
type Exists struct {
	Relation Relation
	Link     *Link
	Where    Expr
}

// Param references parameter slot Slot, cast to the Postgres type Type
// ("int4", "text[]", "jsonb"). Slots are numbered by the front end; sqlgen renumbers
// them into $1..$n in order of first use.
type Param struct {
	Slot int
	Type string
}

// Array is ARRAY[items]::Type (Type is the array type, e.g. "int4[]").
type Array struct {
	Items []Expr
	Type  string
}

// Func calls a fixed, front-end-chosen SQL function (never a name from the request
// unless the catalog lists it): to_tsquery, plainto_tsquery, ...
type Func struct {
	Name string
	Args []Expr
}

// Cast casts Expr to Type.
type Cast struct {
	Expr Expr
	Type string
}

func (*And) expr()     {}
func (*Or) expr()      {}
func (*Not) expr()     {}
func (*Bool) expr()    {}
func (*Compare) expr() {}
func (*IsNull) expr()  {}
func (*Exists) expr()  {}
func (*Param) expr()   {}
func (*Array) expr()   {}
func (*Func) expr()    {}
func (*Cast) expr()    {}
func (*Column) expr()  {}
func (*Agg) expr()     {}

// Query is a whole read request: several root fields built into one JSON object, in
// order. With Bare set, Roots holds one root whose value is the statement's result
// itself (REST responses are not wrapped in an object). With Rows also set, the
// statement may return that root's rows, one JSON value each, for the executor to
// gather (see Result).
type Query struct {
	Roots []Root
	Bare  bool
	Rows  bool
}

// Root is one key of the response's data object.
type Root struct {
	Name  string
	Value Value // *Nested (a root Select, Link nil) or *Literal
}

// Related is a scalar sub-select: Agg over the rows of Relation linked to the current
// row and matching Where (Hasura's aggregate filters such as
// `articles_aggregate: {count: {predicate: {_gt: 1}}}`).
type Related struct {
	Relation Relation
	Link     *Link
	Where    Expr
	Agg      *Agg
}

func (*Related) expr() {}

// Spread outputs one key of a nested object Select's result (PostgREST's
// `...rel(col)` spreads a to-one relationship's columns into the parent object): the
// front end emits one Spread field per spread column, all sharing the same Select.
type Spread struct {
	Select *Select
	Key    string
}

func (*Spread) value() {}
