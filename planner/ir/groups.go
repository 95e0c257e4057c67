package ir

// Groups outputs the rows of a ShapeAggregate Select grouped by the values of Keys, as
// a JSON array with one Object per group. The Object may hold Column values of Keys
// columns, Agg values computed over the group's rows, Literals and Nests of these.
// Having filters the groups (its Compare operands may be Aggs); OrderBy, Limit and
// Offset apply to the groups. Groups ties are always broken by the keys, ascending, so
// the order is total.
type Groups struct {
	Keys    []string
	Object  *Object
	Having  Expr
	OrderBy []GroupOrder
	Limit   Expr
	Offset  Expr
}

// GroupOrder is one ORDER BY key of Groups: a Keys column (Key) or an aggregate (Agg).
type GroupOrder struct {
	Key        string
	Agg        *Agg
	Descending bool
	Nulls      Nulls
}

func (*Groups) value() {}
