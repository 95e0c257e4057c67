package difftest

// Request is one generated read, in terms both dialects render and the oracle evaluates.
type Request struct {
	REST  bool
	Roots []*Query // GraphQL: one or more root fields; REST: exactly one
	// Timezone is a REST read's Prefer: timezone=… (an IANA zone, "" for none): PostgREST
	// renders timestamps in it.
	Timezone string
}

// Query is a list of rows of one table: a root field, a nested relationship or an embed.
type Query struct {
	Alias  string // GraphQL response key; "" means the field name
	Table  string
	Rel    *Rel // set for a relationship or embed
	ByPK   *int64
	Agg    *AggSel // GraphQL <table>_aggregate: the aggregate block (Sel is then its nodes)
	Where  Expr
	Order  []OrderKey
	Limit  int // -1: none
	Offset int // 0: none
	// DistinctOn columns lead Order (Hasura's rule).
	DistinctOn []string
	Inner      bool // REST !inner
	// Empty is a REST embed written rel() or rel!inner(): it selects nothing and the
	// response leaves it out, but its filters and !inner still decide its parent's rows.
	Empty bool
	// NullFilter is a REST filter on an embed itself: rel=is.null (1) keeps the parent
	// only when the embed has no matching row, rel=not.is.null (2) only when it has one.
	NullFilter int
	Star       bool // REST select=*
	Sel        []*Field
	// Range is a REST root's Range header, items Range[0] to Range[1] (-1: open-ended):
	// PostgREST serves the rows that are both in it and in the page of Offset and Limit.
	Range *[2]int
}

// Field is one selected field.
type Field struct {
	Alias string // "" means Name
	Col   string
	Sub   *Query // relationship (or, in GraphQL, its _aggregate when Sub.Agg is set)
	// Skipped fields carry @include(if: false) or @skip(if: true) (Dir names which, Var
	// whether the condition is a variable); the oracle leaves them out.
	Skipped bool
	Dir     string // "", "include" or "skip"
	DirVar  bool
	// Agg makes the field a REST aggregate (count sum avg min max) of Col, or count()
	// when Col is ""; BareCount writes that count() as an embed's bare count. A query
	// with aggregates is grouped by its other columns.
	Agg       string
	BareCount bool
	// InCast casts an aggregate's input (numeric); OutCast its result (text).
	InCast, OutCast string
}

// AggSel is a GraphQL aggregate selection.
type AggSel struct {
	Count    bool
	CountCol string // count(columns: c) when set
	Funcs    map[string][]string
	Nodes    bool
	Groups   *GroupSel // groups(group_by: …) { keys aggregate }
}

// GroupSel is a GraphQL groups field: the rows grouped by Keys, each group's count and
// Funcs, groups with fewer than HavingMin rows left out (0: no having), ordered by
// count when ByCount (then always by the keys, ascending), at most Limit (-1: none).
type GroupSel struct {
	Keys      []string
	Funcs     map[string][]string
	HavingMin int64
	ByCount   bool
	Desc      bool
	Limit     int
}

// OrderKey is one order_by key: a column, a column of an object relationship, or the row
// count of an array relationship.
type OrderKey struct {
	Col   string
	Rel   *Rel // object relationship (Col of it) or array relationship (count)
	Desc  bool
	Nulls int // 0 default, 1 first, 2 last
}

// Expr is a boolean expression over one row.
type Expr interface{ isExpr() }

type (
	// And is written as {a: …, b: …} in GraphQL when Implicit (its arguments then name
	// distinct columns or relationships), else as _and.
	And struct {
		Args     []Expr
		Implicit bool
	}
	Or  struct{ Args []Expr }
	Not struct{ Arg Expr }
	// Cmp compares a column with a literal (Val) or a list (Vals, for in/nin).
	Cmp struct {
		Col  string
		Op   string // eq neq gt gte lt lte like nlike ilike nilike in nin isnull notnull istrue isfalse
		Val  any
		Vals []any
		Var  bool // GraphQL: sent as a variable
	}
	// Exists holds when some row of Rel satisfies Where (GraphQL relationship filters).
	Exists struct {
		Rel   *Rel
		Where Expr
	}
	// EmbedNull is REST's rel.not.is.null (Has) or rel.is.null inside and=/or=: whether
	// Sub, an embed of the query whose condition this is, has a row for the parent.
	EmbedNull struct {
		Sub *Query
		Has bool
	}
)

func (And) isExpr()       {}
func (Or) isExpr()        {}
func (Not) isExpr()       {}
func (Cmp) isExpr()       {}
func (Exists) isExpr()    {}
func (EmbedNull) isExpr() {}

func (q *Query) key() string {
	if q.Alias != "" {
		return q.Alias
	}
	return q.fieldName(false)
}

func (q *Query) fieldName(rest bool) string {
	if rest {
		if q.Rel != nil {
			return q.Rel.RESTKey
		}
		return q.Table
	}
	name := q.Table
	if q.Rel != nil {
		name = q.Rel.Name
	}
	switch {
	case q.ByPK != nil:
		return name + "_by_pk"
	case q.Agg != nil:
		return name + "_aggregate"
	}
	return name
}

func (f *Field) key(rest bool) string {
	if f.Alias != "" {
		return f.Alias
	}
	if f.Agg != "" {
		return f.Agg
	}
	if f.Sub != nil {
		return f.Sub.fieldName(rest)
	}
	return f.Col
}
