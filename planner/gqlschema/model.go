package gqlschema

import (
	graphql "github.com/graph-gophers/graphql-go"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// Schema is the GraphQL schema of one catalog version. Immutable.
type Schema struct {
	// SDL is the generated schema document both libraries were loaded from.
	SDL string
	// Record is the graph-gophers/graphql-go schema (schema of record, validation,
	// introspection data).
	Record *graphql.Schema
	// AST is the gqlparser schema used to parse and validate queries into a typed AST.
	AST *ast.Schema
	// Catalog is the catalog the schema was built from.
	Catalog *catalog.Schema
	// DefaultSchema is the tenant's first exposed Postgres schema.
	DefaultSchema string
	// Tables lists the exposed relations in catalog order.
	Tables []*Table
	// Skipped explains, one line each, what was left out of the schema and why
	// (invalid GraphQL names, name collisions). Sorted, for logs.
	Skipped []string

	// loaded holds SDL, Record and AST, which tenants of one structure share (loaded.go).
	loaded    *loadedSDL
	byCatalog map[*catalog.Table]*Table
	query     map[string]*RootField
	mutation  map[string]*RootField
	stream    map[string]*RootField
	types     map[string]*TypeInfo
	scalars   map[string]*Scalar
	introType *introspectionTypes
	// entries counts the types, fields and enum values of the lookup structures
	// (Footprint).
	entries int
}

// Heap estimates per unit, measured on built schemas (TestFootprintEstimates): a type,
// field or enum value of the lookup structures, introspection included, costs about 155
// bytes; a loaded document about 15 bytes per byte of SDL.
const (
	bytesPerEntry  = 155
	bytesPerSDLDoc = 15
)

// Footprint estimates the heap the schema holds, in bytes: own is what it alone holds (its
// lookup structures), doc is its loaded document (the SDL as both libraries parsed it),
// which every Schema of the same document shares; Document tells which.
func (s *Schema) Footprint() (own, doc int64) {
	return int64(s.entries) * bytesPerEntry, int64(len(s.SDL)) * bytesPerSDLDoc
}

// Document identifies the loaded document: Schemas with equal Documents share it.
func (s *Schema) Document() any { return s.loaded }

// Table is a relation as exposed in GraphQL.
type Table struct {
	Catalog *catalog.Table
	Names   TableNames
	// Columns are the exposed columns in attnum order.
	Columns []*Column
	// PrimaryKey is empty when the table gets no _by_pk fields.
	PrimaryKey []*Column
	// Constraints are the values of "<t>_constraint" (primary key first), or nil when
	// the table gets no on_conflict.
	Constraints   []*Constraint
	Relationships []*Relationship

	// What the table gets. A false flag means its root fields and types are absent.
	Insertable, Updatable, Deletable, HasOnConflict bool

	columns map[string]*Column
	rels    map[string]*Relationship
}

// Column looks up an exposed column by its GraphQL field name (= column name).
func (t *Table) Column(name string) *Column { return t.columns[name] }

// Relationship looks up an exposed relationship by name.
func (t *Table) Relationship(name string) *Relationship { return t.rels[name] }

// Column is an exposed column.
type Column struct {
	Name    string // GraphQL field name and Postgres column name
	Catalog *catalog.Column
	// Scalar is the GraphQL scalar of the column (of its elements for arrays).
	Scalar  *Scalar
	IsArray bool
	// Type is the column's GraphQL output type, e.g. "Int!", "[String!]", "jsonb".
	Type string
	// InputType is the type in insert/set inputs (never non-null), e.g. "Int", "[String!]".
	InputType string
	// Comparison is the bool_exp input type for the column, e.g. "Int_comparison_exp",
	// "String_array_comparison_exp".
	Comparison string
	// Cast is the SQL type to cast a bound parameter to (format_type of the column).
	Cast string
	// Numeric: appears in sum/avg/stddev/var* and _inc. Comparable: appears in max/min.
	Numeric, Comparable bool
}

// Scalar is a GraphQL scalar used by at least one column.
type Scalar struct {
	Name  string
	Class ScalarClass
	// PGType is the Postgres type name the scalar was first derived from (e.g. "int4").
	PGType string
}

// Constraint is a unique or primary key constraint usable in on_conflict.
type Constraint struct {
	Name    string
	Columns []string
	Primary bool
}

// Relationship is an exposed relationship of a table.
type Relationship struct {
	Name    string
	Catalog *catalog.Relationship
	Table   *Table // the table the relationship is defined on
	Remote  *Table
	// AggregateName is "<name>_aggregate" for array relationships ("" for object
	// relationships or when that name clashes with another field).
	AggregateName string
	// NonNull: an object relationship whose FK columns on this table are all NOT NULL.
	NonNull bool
}

// RootKind is what a root field does.
type RootKind uint8

const (
	RootSelect RootKind = iota + 1
	RootSelectByPK
	RootSelectAggregate
	RootInsert
	RootInsertOne
	RootUpdate
	RootUpdateByPK
	RootUpdateMany
	RootDelete
	RootDeleteByPK
	RootSelectStream // subscription_root only
)

var rootKindNames = [...]string{"", "select", "select_by_pk", "select_aggregate", "insert", "insert_one", "update", "update_by_pk", "update_many", "delete", "delete_by_pk", "select_stream"}

func (k RootKind) String() string { return rootKindNames[k] }

// RootField is a root field of query_root/subscription_root or mutation_root.
type RootField struct {
	Name  string
	Kind  RootKind
	Table *Table
}

// QueryField returns the query_root field name, or nil. Introspection fields
// (__schema, __type, __typename) are not in this map.
func (s *Schema) QueryField(name string) *RootField { return s.query[name] }

// SubscriptionField returns the subscription_root field name: the query_root fields
// plus "<t>_stream", or nil.
func (s *Schema) SubscriptionField(name string) *RootField {
	if rf := s.query[name]; rf != nil {
		return rf
	}
	return s.stream[name]
}

// MutationField returns the mutation_root field name, or nil.
func (s *Schema) MutationField(name string) *RootField { return s.mutation[name] }

// Table returns the exposed table for a catalog table, or nil.
func (s *Schema) Table(t *catalog.Table) *Table { return s.byCatalog[t] }

// Scalar returns a scalar used by columns, by GraphQL name, or nil (built-in scalars
// used only by generated arguments, such as Boolean for _is_null, may be absent).
func (s *Schema) Scalar(name string) *Scalar { return s.scalars[name] }

// Type returns what a generated type name stands for, or nil for root types,
// built-in scalars and introspection types.
func (s *Schema) Type(name string) *TypeInfo { return s.types[name] }

// Field returns what field fieldName of type typeName stands for, or nil.
func (s *Schema) Field(typeName, fieldName string) *FieldRef {
	ti := s.types[typeName]
	if ti == nil {
		return nil
	}
	return ti.Fields[fieldName]
}

// TypeRole is what a generated type is for.
type TypeRole uint8

const (
	TypeRow                    TypeRole = iota + 1 // "t": columns and relationships
	TypeAggregate                                  // "t_aggregate": aggregate, nodes
	TypeAggregateFields                            // "t_aggregate_fields": count, sum, avg…
	TypeAggregateFuncFields                        // "t_sum_fields" etc. (Func says which)
	TypeMutationResponse                           // "t_mutation_response": affected_rows, returning
	TypeBoolExp                                    // "t_bool_exp"
	TypeComparisonExp                              // "Int_comparison_exp", "String_array_comparison_exp", "jsonb_cast_exp"
	TypeOrderBy                                    // "t_order_by"
	TypeAggregateOrderBy                           // "t_aggregate_order_by": count, avg…
	TypeAggregateFuncOrderBy                       // "t_avg_order_by" etc.
	TypeAggregateBoolExp                           // "t_aggregate_bool_exp": count, bool_and, bool_or
	TypeAggregateBoolExpFunc                       // "t_aggregate_bool_exp_count" etc.: arguments, distinct, filter, predicate
	TypeInsertInput                                // "t_insert_input"
	TypeArrRelInsertInput                          // "t_arr_rel_insert_input": data, on_conflict
	TypeObjRelInsertInput                          // "t_obj_rel_insert_input": data, on_conflict
	TypeOnConflict                                 // "t_on_conflict": constraint, update_columns, where
	TypeSetInput                                   // "t_set_input"
	TypeIncInput                                   // "t_inc_input"
	TypeJSONBOpInput                               // "t_append_input" etc. (Func holds "_append"…)
	TypePKColumnsInput                             // "t_pk_columns_input"
	TypeUpdates                                    // "t_updates": where, _set, _inc…
	TypeSelectColumn                               // enum "t_select_column" (also the bool_and/bool_or argument enums)
	TypeUpdateColumn                               // enum "t_update_column"
	TypeConstraint                                 // enum "t_constraint"
	TypeOrderByEnum                                // enum "order_by"
	TypeCursorOrdering                             // enum "cursor_ordering": ASC, DESC (Desc set)
	TypeStreamCursorInput                          // "t_stream_cursor_input": initial_value, ordering
	TypeStreamCursorValueInput                     // "t_stream_cursor_value_input": columns
	TypeScalar                                     // a column scalar
	TypeGroupByColumn                              // enum "t_group_by_column"
	TypeGroup                                      // "t_aggregate_group": keys, aggregate
	TypeGroupKeys                                  // "t_aggregate_group_keys": the grouped columns
	TypeGroupOrderBy                               // "t_aggregate_group_order_by": keys, aggregate
	TypeGroupKeysOrderBy                           // "t_aggregate_group_keys_order_by"
	TypeAggregateHaving                            // "t_aggregate_having": _and _or _not count sum…
	TypeAggregateFuncHaving                        // "t_sum_having" etc. (Func says which)
)

// TypeInfo describes a generated type.
type TypeInfo struct {
	Name  string
	Role  TypeRole
	Table *Table // nil for shared types (comparison expressions, order_by, scalars)
	// Func is the aggregate function for TypeAggregateFuncFields/TypeAggregateFuncOrderBy
	// ("sum"…) and TypeAggregateBoolExpFunc ("count", "bool_and", "bool_or"), the
	// operator argument for TypeJSONBOpInput ("_append"…), and for TypeComparisonExp the
	// compared scalar's name.
	Func string
	// Fields of object and input object types, by name.
	Fields map[string]*FieldRef
	// Values of enum types, by name.
	Values map[string]*EnumValue
}

// FieldKind is what a field of a generated type stands for.
type FieldKind uint8

const (
	FieldColumn            FieldKind = iota + 1 // Column
	FieldObjectRel                              // Rel (kind object)
	FieldArrayRel                               // Rel (kind array)
	FieldArrayRelAggregate                      // Rel: "<rel>_aggregate" (object field, bool_exp, order_by)
	FieldAggregate                              // "aggregate" of t_aggregate
	FieldNodes                                  // "nodes" of t_aggregate
	FieldAggCount                               // "count" (aggregate fields, aggregate order_by, aggregate bool_exp)
	FieldAggFunc                                // Func: "sum", "avg"… (and "bool_and"/"bool_or" in aggregate bool_exp)
	FieldAffectedRows                           // "affected_rows"
	FieldReturning                              // "returning"
	FieldAnd                                    // "_and"
	FieldOr                                     // "_or"
	FieldNot                                    // "_not"
	FieldOperator                               // a comparison operator: Op is "_eq", "_like", "_cast"…
	FieldInsertData                             // "data" of *_rel_insert_input
	FieldOnConflict                             // "on_conflict"
	FieldConstraint                             // "constraint" of on_conflict
	FieldUpdateColumns                          // "update_columns" of on_conflict
	FieldWhere                                  // "where" (on_conflict, updates) and "filter" (aggregate bool_exp)
	FieldUpdateOp                               // Op: "_set", "_inc", "_append"… of t_updates
	FieldAggArguments                           // "arguments" of aggregate bool_exp
	FieldAggDistinct                            // "distinct" of aggregate bool_exp
	FieldAggPredicate                           // "predicate" of aggregate bool_exp
	FieldInitialValue                           // "initial_value" of t_stream_cursor_input
	FieldOrdering                               // "ordering" of t_stream_cursor_input
	FieldGroups                                 // "groups" of t_aggregate
	FieldGroupKeys                              // "keys" of t_aggregate_group and t_aggregate_group_order_by
)

// FieldRef says what a field of a generated type stands for.
type FieldRef struct {
	Kind   FieldKind
	Column *Column
	Rel    *Relationship
	Func   string // aggregate function
	Op     string // operator name for FieldOperator / FieldUpdateOp
	// Type is the field's GraphQL type as written in the SDL, e.g. "[Int!]".
	Type string
}

// EnumValue is what an enum value stands for.
type EnumValue struct {
	Column     *Column     // select_column, update_column
	Constraint *Constraint // constraint
	// OrderBy values: Desc for desc*, NullsFirst for *nulls_first and for plain "desc"
	// (Postgres's default, and Hasura's).
	Desc, NullsFirst bool
}
