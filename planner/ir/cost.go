package ir

import "math"

// Cost estimates the row objects a Select builds when it runs once per each of parents
// rows: a list (ShapeArray, or the nodes of an aggregate) yields rows(Limit) rows per
// parent, an object or an aggregate one, its groups rows(their Limit); nested Selects
// multiply down. The sum saturates
// instead of overflowing, so any depth of nesting gives a comparable number.
func Cost(s *Select, parents int64, rows func(limit Expr) int64) int64 {
	n := parents
	if s.Shape == ShapeArray {
		n = costMul(parents, rows(s.Limit))
	}
	cost := n
	if s.Output != nil {
		cost = costAdd(cost, objectCost(s.Output, n, s.Shape == ShapeAggregate, s.Limit, rows))
	}
	return cost
}

func objectCost(o *Object, n int64, aggregate bool, limit Expr, rows func(Expr) int64) int64 {
	var cost int64
	for _, f := range o.Fields {
		switch v := f.Value.(type) {
		case *Nested:
			cost = costAdd(cost, Cost(v.Select, n, rows))
		case *Nest:
			cost = costAdd(cost, objectCost(v.Object, n, aggregate, limit, rows))
		case *Rows:
			m := n
			if aggregate {
				m = costMul(n, rows(limit))
			}
			cost = costAdd(cost, costAdd(m, objectCost(v.Object, m, false, nil, rows)))
		case *Groups:
			cost = costAdd(cost, costMul(n, rows(v.Limit)))
		}
	}
	return cost
}

const costMax = math.MaxInt64 / 2

func costAdd(a, b int64) int64 {
	if a > costMax-b {
		return costMax
	}
	return a + b
}

func costMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > costMax/b {
		return costMax
	}
	return a * b
}
