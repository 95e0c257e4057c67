package sqlgen

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/planner/ir"
)

// TestBoolExprIsOneOperand checks the invariant every caller of boolExpr relies on: its
// text has no AND or OR outside parentheses, so `link AND <filter>` keeps the filter
// whole whatever its shape. Trees are random but seeded.
func TestBoolExprIsOneOperand(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	rel := ir.Relation{Schema: "public", Name: "orders"}
	link := &ir.Link{Columns: []string{"id"}, RemoteColumns: []string{"customer_id"}}
	var tree func(depth int) ir.Expr
	tree = func(depth int) ir.Expr {
		leaf := func() ir.Expr {
			switch rng.Intn(4) {
			case 0:
				return &ir.Compare{Left: &ir.Column{Name: "status"}, Op: ir.OpEq, Right: &ir.Param{Slot: rng.Intn(3), Type: "text"}}
			case 1:
				return &ir.IsNull{Expr: &ir.Column{Name: "note"}, Negate: rng.Intn(2) == 0}
			case 2:
				return &ir.Bool{Value: rng.Intn(2) == 0}
			}
			return &ir.Compare{Left: &ir.Column{Name: "id"}, Op: ir.OpEqAny, Right: &ir.Param{Slot: 3, Type: "int4[]"}}
		}
		if depth == 0 {
			return leaf()
		}
		kids := func() []ir.Expr {
			es := make([]ir.Expr, rng.Intn(4))
			for i := range es {
				es[i] = tree(depth - 1)
			}
			return es
		}
		switch rng.Intn(7) {
		case 0:
			return &ir.And{Exprs: kids()}
		case 1, 2:
			return &ir.Or{Exprs: kids()}
		case 3:
			return &ir.Not{Expr: tree(depth - 1)}
		case 4:
			return &ir.Exists{Relation: rel, Link: link, Where: tree(depth - 1)}
		case 5:
			return &ir.Compare{Left: &ir.Related{Relation: rel, Link: link, Where: tree(depth - 1), Agg: &ir.Agg{Func: ir.AggCount}},
				Op: ir.OpGt, Right: &ir.Param{Slot: 4, Type: "int4"}}
		}
		return leaf()
	}
	for i := 0; i < 2000; i++ {
		e := tree(4)
		g := &gen{slot: map[int]int{}}
		s := g.boolExpr(e, "t0")
		if g.err != nil {
			t.Fatalf("case %d: %v", i, g.err)
		}
		if top := topLevel(s); strings.Contains(top, " AND ") || strings.Contains(top, " OR ") {
			t.Fatalf("case %d: AND/OR outside parentheses in %s", i, s)
		}
		// A WHERE clause may leave a top-level AND bare, never an OR.
		if top := topLevel(g.conjunction(e, "t0")); strings.Contains(top, " OR ") {
			t.Fatalf("case %d: OR outside parentheses in the clause %s", i, s)
		}
	}
}

// topLevel is s without its parenthesised parts (SQL string literals hold no
// parentheses here: values are parameters).
func topLevel(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		default:
			if depth == 0 {
				b.WriteByte(s[i])
			}
		}
	}
	return b.String()
}
