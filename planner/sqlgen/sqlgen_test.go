package sqlgen_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/planner/ir"
	"github.com/kapok-dev/kapok/planner/sqlgen"
)

var authors = ir.Relation{Schema: "public", Name: "authors"}

func TestBuild(t *testing.T) {
	cases := []struct {
		name  string
		q     *ir.Query
		sql   string
		slots []int
	}{{
		name: "a bare root array with parameters numbered in order of first use",
		q: &ir.Query{Bare: true, Roots: []ir.Root{{Value: &ir.Nested{Select: &ir.Select{
			From: authors, Shape: ir.ShapeArray,
			Output: &ir.Object{Fields: []ir.Field{{Name: "id", Value: &ir.Column{Name: "id"}}}},
			Where: &ir.Or{Exprs: []ir.Expr{
				&ir.Compare{Left: &ir.Column{Name: "id"}, Op: ir.OpEq, Right: &ir.Param{Slot: 7, Type: "int4"}},
				&ir.Compare{Left: &ir.Column{Name: "id"}, Op: ir.OpGt, Right: &ir.Param{Slot: 7, Type: "int4"}},
			}},
			Limit: &ir.Param{Slot: 2, Type: "int4"},
		}}}}},
		sql:   `SELECT coalesce(json_agg(o1), '[]'::json) AS "j" FROM (SELECT t0."id" AS "id" FROM "public"."authors" AS t0 WHERE ((t0."id" = $1::int4) OR (t0."id" > $1::int4)) LIMIT $2::int4) AS o1`,
		slots: []int{7, 2},
	}, {
		name: "a many-to-many link goes through the junction",
		q: &ir.Query{Roots: []ir.Root{{Name: "a", Value: &ir.Nested{Select: &ir.Select{
			From: authors, Shape: ir.ShapeObject,
			Output: &ir.Object{Fields: []ir.Field{{Name: "tags", Value: &ir.Nested{Select: &ir.Select{
				From: ir.Relation{Schema: "public", Name: "tags"}, Shape: ir.ShapeArray,
				Link: &ir.Link{Columns: []string{"id"}, RemoteColumns: []string{"id"}, Through: &ir.Junction{
					Relation: ir.Relation{Schema: "public", Name: "author_tags"}, Columns: []string{"author_id"}, RemoteColumns: []string{"tag_id"}}},
				Output: &ir.Object{Fields: []ir.Field{{Name: "name", Value: &ir.Column{Name: "name"}}}},
			}}}}},
		}}}}},
		sql: `SELECT json_build_object('a', (SELECT row_to_json(o4) AS "j" FROM (SELECT (SELECT coalesce(json_agg(o3), '[]'::json) AS "j" FROM (SELECT t1."name" AS "name" FROM "public"."tags" AS t1 WHERE EXISTS (SELECT 1 FROM "public"."author_tags" AS j2 WHERE j2."author_id" = t0."id" AND j2."tag_id" = t1."id")) AS o3) AS "tags" FROM "public"."authors" AS t0) AS o4))`,
	}, {
		name: "JSON path keys are parameters and casts are checked type names",
		q: &ir.Query{Bare: true, Roots: []ir.Root{{Value: &ir.Nested{Select: &ir.Select{
			From: authors, Shape: ir.ShapeArray,
			Output: &ir.Object{Fields: []ir.Field{{Name: "city", Value: &ir.Column{Name: "profile", Path: []ir.PathStep{{Key: &ir.Param{Slot: 0, Type: "text"}}, {Index: 2}}, PathText: true, Cast: ir.TypeName("app", "Mood", false)}}}},
		}}}}},
		sql:   `SELECT coalesce(json_agg(o1), '[]'::json) AS "j" FROM (SELECT ((t0."profile"->$1::text->>2))::"app"."Mood" AS "city" FROM "public"."authors" AS t0) AS o1`,
		slots: []int{0},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := sqlgen.Build(c.q)
			if err != nil {
				t.Fatal(err)
			}
			if st.SQL != c.sql {
				t.Errorf("sql\n got %s\nwant %s", st.SQL, c.sql)
			}
			if len(st.Slots) != len(c.slots) {
				t.Errorf("slots got %v want %v", st.Slots, c.slots)
			}
			for i := range c.slots {
				if i < len(st.Slots) && st.Slots[i] != c.slots[i] {
					t.Errorf("slots got %v want %v", st.Slots, c.slots)
				}
			}
		})
	}
}

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
	for _, want := range []string{`'it''s'`, `"we""ird"."Tab le"`, `t0."c""ol"`} {
		if !strings.Contains(st.SQL, want) {
			t.Errorf("missing %s in %s", want, st.SQL)
		}
	}
}

func TestSpreadSharesOneLateralJoin(t *testing.T) {
	author := &ir.Select{From: authors, Shape: ir.ShapeObject,
		Link:   &ir.Link{Columns: []string{"author_id"}, RemoteColumns: []string{"id"}},
		Output: &ir.Object{Fields: []ir.Field{{Name: "name", Value: &ir.Column{Name: "name"}}, {Name: "email", Value: &ir.Column{Name: "email"}}}}}
	q := &ir.Query{Bare: true, Roots: []ir.Root{{Value: &ir.Nested{Select: &ir.Select{
		From: ir.Relation{Schema: "public", Name: "articles"}, Shape: ir.ShapeArray,
		Output: &ir.Object{Fields: []ir.Field{
			{Name: "title", Value: &ir.Column{Name: "title"}},
			{Name: "name", Value: &ir.Spread{Select: author, Key: "name"}},
			{Name: "email", Value: &ir.Spread{Select: author, Key: "email"}},
		}},
	}}}}}
	st, err := sqlgen.Build(q)
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT coalesce(json_agg(o4), '[]'::json) AS "j" FROM (SELECT t0."title" AS "title", (r1."j"->'name') AS "name", (r1."j"->'email') AS "email" FROM (SELECT t0."title", t0."author_id" FROM "public"."articles" AS t0) AS t0 LEFT JOIN LATERAL (SELECT row_to_json(o3) AS "j" FROM (SELECT t2."name" AS "name", t2."email" AS "email" FROM "public"."authors" AS t2 WHERE t2."id" = t0."author_id" LIMIT 1) AS o3) AS r1 ON true) AS o4`
	if st.SQL != want {
		t.Fatalf("sql\n got %s\nwant %s", st.SQL, want)
	}
}
