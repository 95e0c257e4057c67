package sqlgen_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/planner/ir"
	"github.com/kapok-dev/kapok/planner/sqlgen"
)

var authors = ir.Relation{Schema: "public", Name: "authors"}

func TestBuildRefusesWhatCouldInjectSQL(t *testing.T) {
	for name, q := range map[string]*ir.Query{
		"a cast that is not a type name": {Bare: true, Roots: []ir.Root{{Value: &ir.Literal{Param: ir.Param{Slot: 0, Type: "int4); DROP TABLE x; --"}}}}},
		"an unknown function": {Bare: true, Roots: []ir.Root{{Value: &ir.Nested{Select: &ir.Select{From: authors, Shape: ir.ShapeArray,
			Output: &ir.Object{}, Where: &ir.Func{Name: "pg_sleep", Args: []ir.Expr{&ir.Param{Slot: 0, Type: "int4"}}}}}}}},
		"an unknown operator": {Bare: true, Roots: []ir.Root{{Value: &ir.Nested{Select: &ir.Select{From: authors, Shape: ir.ShapeArray,
			Output: &ir.Object{}, Where: &ir.Compare{Left: &ir.Column{Name: "a"}, Op: "= 1 OR", Right: &ir.Param{Slot: 0, Type: "int4"}}}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := sqlgen.Build(q); !errors.Is(err, sqlgen.ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestIdentifiersAreQuoted(t *testing.T) {
	q := &ir.Query{Roots: []ir.Root{{Name: "it's", Value: &ir.Nested{Select: &ir.Select{
		From: ir.Relation{Schema: `we"ird`, Name: "Tab le"}, Shape: ir.ShapeArray,
		Output: &ir.Object{Fields: []ir.Field{{Name: "a", Value: &ir.Column{Name: `c"ol`}}}},
	}}}}}
	st, err := sqlgen.Build(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`'{"it''s":'`, `"we""ird"."Tab le"`, `t0."c""ol"`} {
		if !strings.Contains(st.SQL, want) {
			t.Errorf("missing %s in %s", want, st.SQL)
		}
	}
}
