package catalog

// Schema is the immutable model of one tenant's exposed schemas. It is built once by a
// loader (control/catalogload), finished by Finish, and then only read; every slice and map
// in it must be treated as read-only.
//
// The JSON encoding (snake_case field names, OIDs left out) is what the admin API serves
// as GET /schema, and its canonical form is what Version hashes (see version.go).
type Schema struct {
	// Version is a deterministic hash of everything below (hex). Two loads of an
	// unchanged database give the same Version.
	Version string `json:"version"`
	// Schemas lists the exposed Postgres schemas, in configured order.
	Schemas   []string    `json:"schemas"`
	Tables    []*Table    `json:"tables"`    // tables, views, materialized views, sorted by (Schema, Name)
	Enums     []*Enum     `json:"enums"`     // sorted by (Schema, Name)
	Functions []*Function `json:"functions"` // sorted by (Schema, Name, argument types)
	// Domains are the domain types defined in the exposed schemas, sorted by (Schema, Name).
	Domains []*Domain `json:"domains"`
	// Privileges says what each role may do with the relations (see privileges.go); nil in
	// a model built by hand, which then grants nothing to any role.
	Privileges *Privileges `json:"privileges,omitempty"`

	tableIndex map[QualifiedName]*Table
	enumIndex  map[QualifiedName]*Enum
}

// QualifiedName names a relation or type in a Postgres schema.
type QualifiedName struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
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
	Schema  string    `json:"schema"`
	Name    string    `json:"name"`
	Kind    TableKind `json:"kind"`
	Comment string    `json:"comment,omitempty"`
	// Columns in attnum order.
	Columns []*Column `json:"columns"`
	// PrimaryKey lists column names in key order; empty when there is none.
	PrimaryKey []string `json:"primary_key"`
	// PrimaryKeyName is the constraint name of the primary key.
	PrimaryKeyName string              `json:"primary_key_name,omitempty"`
	Uniques        []*UniqueConstraint `json:"uniques"`      // sorted by Name
	ForeignKeys    []*ForeignKey       `json:"foreign_keys"` // outgoing FKs, sorted by Name
	Indexes        []*Index            `json:"indexes"`      // sorted by Name
	// Relationships are derived from foreign keys in both directions (see relationships.go):
	// object relationships from this table's FKs, array relationships from FKs that
	// reference it. Sorted by Name.
	Relationships []*Relationship `json:"relationships"`
	// Insertable/Updatable/Deletable come from pg_relation_is_updatable for views; always
	// true for ordinary tables.
	Insertable bool `json:"insertable"`
	Updatable  bool `json:"updatable"`
	Deletable  bool `json:"deletable"`
	// RowSecurity is set when row-level security is enabled on the relation
	// (pg_class.relrowsecurity): its policies may read the request's settings.
	RowSecurity bool `json:"row_security,omitempty"`
	// PartitionOf names the partitioned table this table is a partition of, else nil.
	PartitionOf *QualifiedName `json:"partition_of,omitempty"`
	// OID is pg_class.oid. It changes when identical DDL is replayed, so it is left out of
	// the JSON encoding and of Version.
	OID uint32 `json:"-"`

	columnIndex map[string]*Column
	relIndex    map[string]*Relationship
}

// Column is one attribute of a table or view.
type Column struct {
	Name     string `json:"name"`
	Position int    `json:"position"` // attnum
	// Type is the column's type as format_type prints it, e.g. "integer",
	// "character varying(20)", "text[]", "public.mood". The loader runs with search_path set
	// to pg_catalog only, so every type outside pg_catalog is schema-qualified.
	Type string `json:"type"`
	// TypeName is the base type's name without modifiers or array brackets
	// (for a domain: the domain's base type), e.g. "int4", "varchar", "text", "mood".
	TypeName string `json:"type_name"`
	// TypeSchema is the schema of the (element) type, e.g. "pg_catalog" or "public".
	TypeSchema string `json:"type_schema"`
	// TypeOID is the OID of the column's own type (array type for arrays, domain for domains).
	TypeOID uint32 `json:"-"`
	// BaseTypeOID is the OID of the type TypeName names: the element type of an array, the
	// base type of a domain (both unwrapped as far as they go).
	BaseTypeOID uint32 `json:"-"`
	IsArray     bool   `json:"is_array"`
	// ArrayElementType is format_type of the element type when IsArray (e.g. "integer",
	// "public.mood"), else "".
	ArrayElementType string `json:"array_element_type,omitempty"`
	IsEnum           bool   `json:"is_enum"`
	// Domain is the domain's qualified name when the column's type is a domain, else zero.
	// For an array of a domain it names the element's domain.
	Domain *QualifiedName `json:"domain,omitempty"`
	// Category is Postgres's typcategory of the (element, base) type: N numeric, S string,
	// B boolean, D date/time, U user (json/uuid/...), E enum, A array...
	Category string `json:"category"`
	// Nullable is false when the column is NOT NULL or its type is a NOT NULL domain.
	Nullable bool `json:"nullable"`
	// HasDefault tells that an INSERT may leave the column out and still get a value
	// other than NULL: it has a DEFAULT, its domain has one, or it is an identity column.
	// Default holds the column's own DEFAULT only. Generated columns have no default (see
	// GenerationExpr).
	HasDefault   bool   `json:"has_default"`
	Default      string `json:"default,omitempty"` // pg_get_expr of the default, "" when none
	IsIdentity   bool   `json:"is_identity"`
	IdentityKind string `json:"identity_kind,omitempty"` // "a" ALWAYS, "d" BY DEFAULT, "" none
	IsGenerated  bool   `json:"is_generated"`            // GENERATED ALWAYS AS (...) STORED
	// GenerationExpr is the expression of a generated column, "" otherwise.
	GenerationExpr string `json:"generation_expr,omitempty"`
	Comment        string `json:"comment,omitempty"`
	// Insertable/Updatable: false for generated columns, for GENERATED ALWAYS identity
	// columns and for non-updatable view columns.
	Insertable bool `json:"insertable"`
	Updatable  bool `json:"updatable"`
}

// UniqueConstraint is a UNIQUE constraint (not the primary key).
type UniqueConstraint struct {
	Name    string   `json:"name"`
	Columns []string `json:"columns"`
}

// ForeignKey is an outgoing foreign key; Columns[i] references RefColumns[i].
type ForeignKey struct {
	Name       string   `json:"name"`
	Columns    []string `json:"columns"`
	RefSchema  string   `json:"ref_schema"`
	RefTable   string   `json:"ref_table"`
	RefColumns []string `json:"ref_columns"`
	OnDelete   string   `json:"on_delete"` // a, r, c, n, d (pg_constraint.confdeltype)
	OnUpdate   string   `json:"on_update"`
}

// Index is an index on a table.
type Index struct {
	Name      string   `json:"name"`
	Columns   []string `json:"columns"` // key column names; expressions appear as their text
	Unique    bool     `json:"unique"`
	Primary   bool     `json:"primary"`
	Method    string   `json:"method"`              // btree, gin, ...
	Predicate string   `json:"predicate,omitempty"` // partial index predicate, "" when none
	// Include lists the non-key columns of INCLUDE (...).
	Include []string `json:"include,omitempty"`
}

// Enum is a Postgres enum type.
type Enum struct {
	Schema  string   `json:"schema"`
	Name    string   `json:"name"`
	Values  []string `json:"values"` // in sort order
	Comment string   `json:"comment,omitempty"`
}

// Domain is a domain type defined in an exposed schema.
type Domain struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	// BaseType is format_type of the underlying type (itself possibly a domain).
	BaseType string `json:"base_type"`
	NotNull  bool   `json:"not_null"`
	Default  string `json:"default,omitempty"`
	// Checks are the CHECK constraints as pg_get_constraintdef prints them, sorted by
	// constraint name.
	Checks  []string `json:"checks,omitempty"`
	Comment string   `json:"comment,omitempty"`
}

// Function is a function (not procedure/aggregate/window function) in an exposed schema.
// Functions returning trigger or event_trigger cannot be called and are left out.
type Function struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
	OID    uint32 `json:"-"`
	// IdentityArgs is pg_get_function_identity_arguments: what tells overloads apart,
	// e.g. "a integer, b text".
	IdentityArgs string         `json:"identity_args"`
	Args         []*FunctionArg `json:"args"` // input arguments (modes i, b, v) in order
	// ReturnType is format_type of the return type ("integer", "setof public.orders" is
	// represented as ReturnType "public.orders" with ReturnsSet).
	ReturnType       string `json:"return_type"`
	ReturnTypeName   string `json:"return_type_name"` // base name, e.g. "int4", "orders", "record", "void"
	ReturnTypeSchema string `json:"return_type_schema"`
	// ReturnIsArray and ReturnCategory describe the return type like Column's IsArray and
	// Category (ReturnTypeName is then the element's base name).
	ReturnIsArray  bool   `json:"return_is_array"`
	ReturnCategory string `json:"return_category"`
	ReturnsSet     bool   `json:"returns_set"`
	// ReturnsTable is set for RETURNS TABLE(...) and for OUT/INOUT parameters that make the
	// function return a record; the columns are in OutColumns. A single OUT parameter makes
	// a scalar function (ReturnsTable false), its OutColumns still list it.
	ReturnsTable bool           `json:"returns_table"`
	OutColumns   []*FunctionArg `json:"out_columns,omitempty"`
	// ReturnsRelation names the table/view whose row type the function returns (composite
	// return type of an exposed relation), else nil.
	ReturnsRelation *QualifiedName `json:"returns_relation,omitempty"`
	Volatility      string         `json:"volatility"` // "i" immutable, "s" stable, "v" volatile
	Strict          bool           `json:"strict"`
	SecurityDefiner bool           `json:"security_definer"`
	Language        string         `json:"language"`
	// DefinitionHash is md5 of pg_get_functiondef: a changed body or setting changes Version.
	DefinitionHash string `json:"definition_hash"`
	Comment        string `json:"comment,omitempty"`
}

// FunctionArg is an input (IN / INOUT / VARIADIC) argument or an output column.
type FunctionArg struct {
	Name       string `json:"name"` // "" for an unnamed argument
	Type       string `json:"type"` // format_type
	TypeName   string `json:"type_name"`
	TypeSchema string `json:"type_schema"`
	IsArray    bool   `json:"is_array"`
	Category   string `json:"category"`
	HasDefault bool   `json:"has_default"`
	Default    string `json:"default,omitempty"` // pg_get_function_arg_default
	Mode       string `json:"mode"`              // i, o, b, v, t
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
	// The exact rule is documented in relationships.go.
	Name          string   `json:"name"`
	Kind          RelKind  `json:"kind"`
	RemoteSchema  string   `json:"remote_schema"`
	RemoteTable   string   `json:"remote_table"`
	Columns       []string `json:"columns"`
	RemoteColumns []string `json:"remote_columns"`
	// Constraint is the name of the FK this relationship comes from.
	Constraint string `json:"constraint"`
	// Outgoing is true when this table holds the FK (Columns are the FK's columns), false
	// when the remote table holds it.
	Outgoing bool `json:"outgoing"`
	// OneToOne is true when the FK's columns are also the primary key or a unique
	// constraint of the referencing table: both directions are object relationships.
	OneToOne bool `json:"one_to_one"`
}
