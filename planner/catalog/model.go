package catalog

// Schema is the immutable model of one tenant's exposed schemas. It is built once by
// Load and then only read; every slice and map in it must be treated as read-only.
type Schema struct {
	// Version is a deterministic hash of everything below (hex). Two loads of an
	// unchanged database give the same Version.
	Version string
	// Schemas lists the exposed Postgres schemas, in configured order.
	Schemas   []string
	Tables    []*Table    // tables, views, materialized views, sorted by (Schema, Name)
	Enums     []*Enum     // sorted by (Schema, Name)
	Functions []*Function // sorted by (Schema, Name, argument types)

	tableIndex map[QualifiedName]*Table
}

// QualifiedName names a relation or type in a Postgres schema.
type QualifiedName struct {
	Schema string
	Name   string
}

// TableKind distinguishes relations that can be queried.
type TableKind string

const (
	KindTable            TableKind = "table"
	KindView             TableKind = "view"
	KindMaterializedView TableKind = "materialized_view"
	KindForeignTable     TableKind = "foreign_table"
	KindPartitionedTable TableKind = "partitioned_table"
)

// Table is a table, view or materialized view.
type Table struct {
	Schema  string
	Name    string
	Kind    TableKind
	Comment string
	// Columns in attnum order.
	Columns []*Column
	// PrimaryKey lists column names in key order; empty when there is none.
	PrimaryKey []string
	// PrimaryKeyName is the constraint name of the primary key.
	PrimaryKeyName string
	Uniques        []*UniqueConstraint // sorted by Name
	ForeignKeys    []*ForeignKey       // outgoing FKs, sorted by Name
	Indexes        []*Index            // sorted by Name
	// Relationships are derived from foreign keys in both directions (see relationships.go):
	// object relationships from this table's FKs, array relationships from FKs that
	// reference it. Sorted by Name.
	Relationships []*Relationship
	// Insertable/Updatable/Deletable come from pg_relation_is_updatable for views; always
	// true for ordinary tables.
	Insertable bool
	Updatable  bool
	Deletable  bool

	columnIndex map[string]*Column
}

// Column is one attribute of a table or view.
type Column struct {
	Name     string
	Position int // attnum
	// Type is the column's type as format_type prints it, e.g. "integer",
	// "character varying(20)", "text[]", "public.mood".
	Type string
	// TypeName is the base type's name without modifiers or array brackets
	// (for a domain: the domain's base type), e.g. "int4", "varchar", "text", "mood".
	TypeName string
	// TypeSchema is the schema of the (element) type, e.g. "pg_catalog" or "public".
	TypeSchema string
	// TypeOID is the OID of the column's own type (array type for arrays, domain for domains).
	TypeOID uint32
	IsArray bool
	IsEnum  bool
	// Domain is the domain's qualified name when the column's type is a domain, else zero.
	Domain *QualifiedName
	// Category is Postgres's typcategory of the (element, base) type: N numeric, S string,
	// B boolean, D date/time, U user (json/uuid/...), E enum, A array...
	Category     string
	Nullable     bool
	HasDefault   bool
	Default      string // pg_get_expr of the default, "" when none
	IsIdentity   bool
	IdentityKind string // "a" ALWAYS, "d" BY DEFAULT, "" none
	IsGenerated  bool   // GENERATED ALWAYS AS (...) STORED
	Comment      string
	// Insertable/Updatable: false for generated columns and for non-updatable view columns.
	Insertable bool
	Updatable  bool
}

// UniqueConstraint is a UNIQUE constraint (not the primary key).
type UniqueConstraint struct {
	Name    string
	Columns []string
}

// ForeignKey is an outgoing foreign key; Columns[i] references RefColumns[i].
type ForeignKey struct {
	Name       string
	Columns    []string
	RefSchema  string
	RefTable   string
	RefColumns []string
	OnDelete   string // a, r, c, n, d (pg_constraint.confdeltype)
	OnUpdate   string
}

// Index is an index on a table.
type Index struct {
	Name      string
	Columns   []string // column names; expressions appear as their text
	Unique    bool
	Primary   bool
	Method    string // btree, gin, ...
	Predicate string // partial index predicate, "" when none
}

// Enum is a Postgres enum type.
type Enum struct {
	Schema  string
	Name    string
	Values  []string // in sort order
	Comment string
}

// Function is a function (not procedure/aggregate) in an exposed schema.
type Function struct {
	Schema string
	Name   string
	OID    uint32
	Args   []*FunctionArg
	// ReturnType is format_type of the return type ("integer", "setof public.orders" is
	// represented as ReturnType "public.orders" with ReturnsSet).
	ReturnType       string
	ReturnTypeName   string // base name, e.g. "int4", "orders", "record", "void"
	ReturnTypeSchema string
	ReturnsSet       bool
	// ReturnsTable is set for RETURNS TABLE(...) / OUT parameters: the columns are in OutColumns.
	ReturnsTable bool
	OutColumns   []*FunctionArg
	// ReturnsRelation names the table/view whose row type the function returns (composite
	// return type of an exposed relation), else nil.
	ReturnsRelation *QualifiedName
	Volatility      string // "i" immutable, "s" stable, "v" volatile
	Comment         string
}

// FunctionArg is an input (IN / INOUT / VARIADIC) argument or an output column.
type FunctionArg struct {
	Name       string
	Type       string // format_type
	TypeName   string
	HasDefault bool
	Mode       string // i, o, b, v, t
}

// RelKind tells whether a relationship yields one row (object) or many (array).
type RelKind string

const (
	ObjectRel RelKind = "object" // this table holds the FK (many-to-one), or a one-to-one
	ArrayRel  RelKind = "array"  // the remote table holds the FK (one-to-many)
)

// Relationship is a join path to another relation, derived from one foreign key.
// Columns[i] on this table equals RemoteColumns[i] on the remote table.
type Relationship struct {
	// Name follows DESIGN.md's rule (Hasura-style): object relationships are named after the
	// FK column without "_id", else the target table; array relationships after the
	// referencing table plus "s"; clashes take the long form "<table>s_by_<fk_column>".
	Name          string
	Kind          RelKind
	RemoteSchema  string
	RemoteTable   string
	Columns       []string
	RemoteColumns []string
	// Constraint is the name of the FK this relationship comes from.
	Constraint string
}
