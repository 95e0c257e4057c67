package planner

import "github.com/kapok-dev/kapok/internal/statement"

// Kind is the operation type of a Plan.
type Kind uint8

const (
	KindQuery Kind = iota
	KindMutation
)

func (k Kind) String() string {
	if k == KindMutation {
		return "mutation"
	}
	return "query"
}

// Plan is a compiled GraphQL operation, immutable and shared by every request with the
// same cache key; it is the GraphQL front end's Executable.
type Plan struct {
	Kind Kind
	// Subscription: the operation is a subscription (a query a server reruns and pushes).
	Subscription bool
	// Statements run in order in one transaction (one round trip). A query has exactly
	// one: its JSON result is the whole data object (ResponseKey ""), or, with one root
	// field, that field's value (ResponseKey its response key). A GraphQL mutation
	// has one per root field, each filling data[ResponseKey], in order. Zero statements:
	// Data is the answer (introspection-only operations).
	Statements []Statement
	// Data is the precomputed data object when there are no statements.
	Data []byte
	// Vars are the operation's declared variables, referenced by Param.Var.
	Vars []Var
	// KeyVars names the variables whose values shaped the SQL (a whole `where: $w`,
	// `order_by: $o`, `@include(if: $x)`, ...). When not empty, the plan is valid only for
	// requests whose variables have byte-identical raw JSON for each of these names (or,
	// for those in Shapes, the same shape): the cache key must hash them in, keeping an
	// absent variable distinct from null (a declared default applies only when the
	// variable is absent). AppendKeyVars does exactly that.
	KeyVars []string
	// Shapes lists the KeyVars that a cache may key by their shape instead of their
	// bytes (see AppendKeyVars): whole insert inputs (`objects: $objs`) bound as one
	// JSON parameter. A cache that hashes their raw JSON stays correct, only less shared.
	Shapes []VarShape
	// Key is free for the cache to store the full key it was stored under.
	Key []byte
	// Reads lists the relations the operation's statements read (mutations: not the
	// relations they write), for a server that reruns the plan when they change.
	Reads []Relation
	// RoleOnly: the query's statement reads plain tables only, so nothing of the
	// request's session but its role can change its result (ir.RoleOnly).
	RoleOnly bool
	// Stream is set for a streaming subscription compiled with its cursor (see
	// graphql.Limits.StreamCursor).
	Stream *Stream
}

// Relation is a table or view a plan reads.
type Relation struct {
	Schema, Name string
	// Table: a table, whose changes statement triggers can report; false for views,
	// materialized views and foreign tables, whose changes nothing reports.
	Table bool
}

// CursorKey is the member that a streaming subscription compiled with its cursor adds,
// last, to each row object: the row's cursor values, {"column": value, ...}. The server
// that advances the cursor reads it and removes it before answering.
const CursorKey = "__kapok_cursor"

// Stream says how to advance a streaming subscription: the statement's placeholders that
// hold the cursor's values, in the order of Columns.
type Stream struct {
	Columns      []string
	Placeholders []int // 0-based, in Statements[0]
}

// ValueDependent reports whether variable values are part of this plan's cache key.
func (p *Plan) ValueDependent() bool { return len(p.KeyVars) > 0 }

// Statement is one SQL statement returning one row with one json column.
type Statement struct {
	SQL         string
	ResponseKey string
	// Params lists, for each placeholder $i+1, where its value comes from.
	Params []Param
	// Result is statement.Value, or how the executor gathers the statement's rows into its
	// value (a query's one root field).
	Result statement.Result
	// Parts > 0 marks one element of a root field whose value is a JSON array built from
	// several statements (update_<t>_many: one UPDATE per element, so that each sees the
	// rows the previous ones left). Part is the element's 1-based position: the statements
	// with Part 1..Parts are consecutive, share ResponseKey, and their values, in order,
	// make the array data[ResponseKey]. Parts == 0: the value alone fills ResponseKey.
	Part, Parts int
}

// Param is the source of one placeholder's TEXT-format value.
type Param struct {
	// Var indexes Plan.Vars; -1 means the constant Const (nil Const = SQL NULL).
	Var   int
	Const []byte
	// Type is the Postgres type the SQL casts the placeholder to (for messages).
	Type string
	// RejectNull refuses an explicit JSON null for the variable (Hasura v2 rejects
	// null comparison operands); NullType names the GraphQL type in that message. An
	// absent nullable variable still binds SQL NULL, which compares as unknown.
	RejectNull bool
	NullType   string
	// Rows, when set, binds the whole insert-input variable Var as a JSON array of
	// objects checked against Rows (see RowsInput).
	Rows *RowsInput
}

// ScalarKind says how a variable's JSON value is checked and turned into parameter text.
type ScalarKind uint8

const (
	ScalarString  ScalarKind = iota // JSON string, bound as its contents
	ScalarInt                       // 32-bit integer (GraphQL Int)
	ScalarFloat                     // JSON number (GraphQL Float)
	ScalarNumeric                   // JSON number or string (bigint, numeric, float8, smallint, ...)
	ScalarBool                      // true / false
	ScalarID                        // string or integer
	ScalarJSON                      // any JSON value, bound as JSON text (json, jsonb)
	ScalarEnum                      // enum value name, a JSON string
	ScalarOther                     // input objects and anything bound only through KeyVars
)

// Var is a declared operation variable.
type Var struct {
	Name string
	// TypeName is the GraphQL named type (innermost), e.g. "Int", "uuid".
	TypeName string
	Kind     ScalarKind
	NonNull  bool
	// ListDepth is the number of list wrappers (0 for a scalar); list variables bind as
	// Postgres array literals. ElemNonNull is the innermost element's non-null flag.
	ListDepth   int
	ElemNonNull bool
	// Default is the JSON of the declared default value, or nil.
	Default []byte
}
