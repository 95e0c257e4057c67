package ir

// MutationOp is the data-modifying statement of a Mutation.
type MutationOp uint8

const (
	MutInsert MutationOp = iota + 1
	MutUpdate
	MutDelete
)

// Mutation is one data-modifying statement rendered as a CTE named by sqlgen; its
// Response reads the affected rows through Selects whose From is MutatedRows.
type Mutation struct {
	Op    MutationOp
	Table Relation
	// Insert: Columns and one Values row per object (nil item: DEFAULT).
	Columns []string
	Values  [][]Expr
	// Rows: see InsertStep.Rows.
	Rows       *Param
	OnConflict *OnConflict
	// Steps, when set, replace Columns/Values/OnConflict for inserts through
	// relationships: every step is a CTE, run in order; the rows of the Result steps
	// are the mutation's rows, and AffectedRows counts the rows of every step. Reads of
	// a table a step inserted into see the new rows too.
	Steps  []*InsertStep
	Result []string
	// Update: Set assigns expressions (which may read the old row through Column).
	Set []Assignment
	// Update, delete: the filter (required by the front ends; nil means every row).
	Where Expr
	// Response is built from AffectedRows, Literal, Nest and Nested values, where
	// nested Selects read From MutatedRows.
	Response Value
}

// MutatedRows is the pseudo-relation of the rows a Mutation returned (RETURNING *).
var MutatedRows = Relation{Name: "m"}

// OnConflict is INSERT ... ON CONFLICT ON CONSTRAINT Constraint DO UPDATE SET the
// UpdateColumns to the proposed values WHERE Where; no UpdateColumns: DO NOTHING.
type OnConflict struct {
	Constraint    string
	UpdateColumns []string
	Where         Expr
}

// Assignment is SET Column = Value.
type Assignment struct {
	Column string
	Value  Expr
}

// AffectedRows outputs the number of rows the mutation returned.
type AffectedRows struct{}

func (*AffectedRows) value() {}

// Operators used in update assignments.
const (
	OpAdd        Op = "+"
	OpConcat     Op = "||"
	OpMinus      Op = "-"
	OpDeletePath Op = "#-"
)

// InsertStep is one INSERT of a nested insert, rendered as its own CTE named Name.
// Values may hold RowRefs to earlier steps (a parent row's key for its children, a
// referenced row's key for the row pointing at it).
type InsertStep struct {
	Name       string
	Table      Relation
	Columns    []string
	Values     [][]Expr // nil item: DEFAULT
	OnConflict *OnConflict
	// Rows, when set, replaces Values: a json parameter holding an array of objects that
	// all have exactly the keys Columns, read through the table's row type, in order.
	Rows *Param
}

// RowRef is a column of the one row an earlier InsertStep inserted.
type RowRef struct {
	Step   string
	Column string
}

func (*RowRef) expr() {}
