package ir

import "testing"

func TestRoleOnlyNeedsPlainTablesBuiltinTypesAndFunctions(t *testing.T) {
	plain := plainIn(func(schema, name string) bool { return schema == "s" && name != "secured" && name != "view" })
	rel := func(name string) Relation { return Relation{Schema: "s", Name: name} }
	root := func(sel *Select) *Query {
		return &Query{Bare: true, Roots: []Root{{Name: "r", Value: &Nested{Select: sel}}}}
	}
	col := func(name string) *Column { return &Column{Name: name} }
	out := func(vs ...Value) *Object {
		o := &Object{}
		for _, v := range vs {
			o.Fields = append(o.Fields, Field{Name: "f", Value: v})
		}
		return o
	}
	param := func(typ string) *Param { return &Param{Slot: 0, Type: typ} }
	link := &Link{Columns: []string{"id"}, RemoteColumns: []string{"a_id"}}
	for _, c := range []struct {
		name string
		q    *Query
		want bool
	}{
		{"a plain table's columns", root(&Select{From: rel("a"), Output: out(col("id"))}), true},
		{"a filter on a built-in parameter, ordered, limited",
			root(&Select{From: rel("a"), Output: out(col("id")), Where: &Compare{Left: col("id"), Op: OpEq, Right: param("int4")},
				OrderBy: []OrderItem{{Column: col("id")}}, Limit: param("int8"), Offset: param("int8")}), true},
		{"an array parameter and full-text search",
			root(&Select{From: rel("a"), Output: out(col("id")), Where: &And{Exprs: []Expr{
				&Compare{Left: col("id"), Op: OpEqAny, Right: param("int4[]")},
				&Compare{Left: &Func{Name: "to_tsvector", Args: []Expr{col("body")}}, Op: OpTextSearch, Right: &Func{Name: "plainto_tsquery", Args: []Expr{param("text")}}},
			}}}), true},
		{"a nested plain table, an exists and an aggregate",
			root(&Select{From: rel("a"), Output: out(col("id"), &Nested{Select: &Select{From: rel("b"), Link: link, Output: out(col("x"))}},
				&Nest{Object: out(&Agg{Func: AggCount})}),
				Where: &Exists{Relation: rel("b"), Link: link, Where: &IsNull{Expr: col("x")}}}), true},
		{"a row-secured root", root(&Select{From: rel("secured"), Output: out(col("id"))}), false},
		{"a view", root(&Select{From: rel("view"), Output: out(col("id"))}), false},
		{"a row-secured table nested", root(&Select{From: rel("a"), Output: out(&Nested{Select: &Select{From: rel("secured"), Link: link, Output: out(col("x"))}})}), false},
		{"a row-secured table spread", root(&Select{From: rel("a"), Output: out(&Spread{Select: &Select{From: rel("secured"), Link: link, Output: out(col("x"))}, Key: "x"})}), false},
		{"a row-secured junction", root(&Select{From: rel("a"), Output: out(&Nested{Select: &Select{From: rel("b"),
			Link: &Link{Columns: []string{"id"}, RemoteColumns: []string{"id"}, Through: &Junction{Relation: rel("secured")}}, Output: out(col("x"))}})}), false},
		{"a row-secured table in a filter", root(&Select{From: rel("a"), Output: out(col("id")), Where: &Not{Expr: &Exists{Relation: rel("secured"), Link: link}}}), false},
		{"a row-secured table in an aggregate filter", root(&Select{From: rel("a"), Output: out(col("id")),
			Where: &Compare{Left: &Related{Relation: rel("secured"), Link: link, Agg: &Agg{Func: AggCount}}, Op: OpGt, Right: param("int8")}}), false},
		{"a row-secured table in an order", root(&Select{From: rel("a"), Output: out(col("id")),
			OrderBy: []OrderItem{{Via: &OrderVia{Relation: rel("b"), Link: link, Next: &OrderVia{Relation: rel("secured"), Link: link, Column: col("x")}}}}}), false},
		{"a table of another catalog", root(&Select{From: Relation{Schema: "t", Name: "a"}, Output: out(col("id"))}), false},
		{"a parameter cast to a type of the tenant's", root(&Select{From: rel("a"), Output: out(col("id")),
			Where: &Compare{Left: col("mood"), Op: OpEq, Right: param(TypeName("s", "mood", false))}}), false},
		{"an output cast to a type of the tenant's", root(&Select{From: rel("a"), Output: out(&Column{Name: "id", Cast: TypeName("s", "d", false)})}), false},
		{"a cast to a type of the tenant's in a filter", root(&Select{From: rel("a"), Output: out(col("id")),
			Where: &Compare{Left: &Cast{Expr: col("id"), Type: TypeName("s", "d", true)}, Op: OpEq, Right: param("int4")}}), false},
		{"an aggregate cast to a type of the tenant's", root(&Select{From: rel("a"), Shape: ShapeAggregate, Output: out(&Agg{Func: AggSum, Columns: []string{"n"}, Cast: TypeName("s", "d", false)})}), false},
		{"a function no front end writes", root(&Select{From: rel("a"), Output: out(col("id")), Where: &Compare{Left: &Func{Name: "my_check", Args: []Expr{col("id")}}, Op: OpEq, Right: param("bool")}}), false},
		{"groups over a plain table", root(&Select{From: rel("a"), Shape: ShapeAggregate, Output: out(&Groups{Keys: []string{"k"}, Object: out(col("k"), &Agg{Func: AggCount}),
			Having: &Compare{Left: &Agg{Func: AggCount}, Op: OpGt, Right: param("int8")}, OrderBy: []GroupOrder{{Agg: &Agg{Func: AggMax, Columns: []string{"n"}}}}})}), true},
		{"a literal", &Query{Roots: []Root{{Name: "__typename", Value: &Literal{Param: *param("text")}}}}, true},
		{"rows a mutation affected", &Query{Roots: []Root{{Name: "m", Value: &AffectedRows{}}}}, false},
	} {
		if got := RoleOnly(c.q, plain); got != c.want {
			t.Errorf("%s: RoleOnly = %v, want %v", c.name, got, c.want)
		}
	}
}

// plainIn is a PlainTables of a function.
type plainIn func(schema, name string) bool

func (f plainIn) PlainTable(schema, name string) bool { return f(schema, name) }
