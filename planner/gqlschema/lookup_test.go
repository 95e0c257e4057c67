package gqlschema

import (
	"testing"

	"github.com/kapok-dev/kapok/planner/catalog"
)

func TestRootFieldsMapBackToTables(t *testing.T) {
	s := buildFixture(t)
	cases := []struct {
		mutation bool
		name     string
		kind     RootKind
		table    string // schema.name; "" when the field must not exist
	}{
		{false, "authors", RootSelect, "app.authors"},
		{false, "authors_by_pk", RootSelectByPK, "app.authors"},
		{false, "authors_aggregate", RootSelectAggregate, "app.authors"},
		{false, "billing_invoices", RootSelect, "billing.invoices"},
		{false, "billing_invoices_by_pk", RootSelectByPK, "billing.invoices"},
		{false, "author_stats", RootSelect, "app.author_stats"},
		{false, "author_stats_by_pk", 0, ""},
		{false, "events_by_pk", 0, ""},
		{false, "invoices", 0, ""},
		{false, "__schema", 0, ""},
		{true, "insert_authors", RootInsert, "app.authors"},
		{true, "insert_authors_one", RootInsertOne, "app.authors"},
		{true, "update_authors", RootUpdate, "app.authors"},
		{true, "update_authors_by_pk", RootUpdateByPK, "app.authors"},
		{true, "update_authors_many", RootUpdateMany, "app.authors"},
		{true, "delete_authors", RootDelete, "app.authors"},
		{true, "delete_authors_by_pk", RootDeleteByPK, "app.authors"},
		{true, "delete_billing_invoices_by_pk", RootDeleteByPK, "billing.invoices"},
		{true, "insert_recent_articles", RootInsert, "app.recent_articles"},
		{true, "update_recent_articles_by_pk", 0, ""},
		{true, "insert_author_stats", 0, ""},
		{true, "insert_daily_totals", 0, ""},
		{true, "delete_events_by_pk", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rf := s.QueryField(c.name)
			if c.mutation {
				rf = s.MutationField(c.name)
			}
			if c.table == "" {
				if rf != nil {
					t.Fatalf("unexpected root field %s (%v)", c.name, rf.Kind)
				}
				return
			}
			if rf == nil {
				t.Fatalf("no root field %s", c.name)
			}
			if got := rf.Table.Catalog.Schema + "." + rf.Table.Catalog.Name; got != c.table || rf.Kind != c.kind {
				t.Fatalf("got %s %v, want %s %v", got, rf.Kind, c.table, c.kind)
			}
		})
	}
}

func TestSubscriptionRootMirrorsQueriesAndAddsStreams(t *testing.T) {
	s := buildFixture(t)
	if rf := s.SubscriptionField("authors_stream"); rf == nil || rf.Kind != RootSelectStream || rf.Table.Names.Base != "authors" {
		t.Fatalf("authors_stream: %+v", rf)
	}
	if rf := s.SubscriptionField("authors_by_pk"); rf == nil || rf.Kind != RootSelectByPK {
		t.Fatalf("authors_by_pk: %+v", rf)
	}
	if s.QueryField("authors_stream") != nil {
		t.Fatal("authors_stream must not be a query_root field")
	}
	if f := s.Field("authors_stream_cursor_input", "initial_value"); f == nil || f.Kind != FieldInitialValue {
		t.Fatalf("initial_value: %+v", f)
	}
	if v := s.Type("cursor_ordering").Values["DESC"]; v == nil || !v.Desc {
		t.Fatalf("DESC: %+v", v)
	}
}

func TestFieldsMapBackToColumnsAndRelationships(t *testing.T) {
	s := buildFixture(t)
	cases := []struct {
		typ, field string
		kind       FieldKind
		target     string // column or relationship name, aggregate function, or operator
	}{
		{"authors", "name", FieldColumn, "name"},
		{"authors", "articles_by_author_id", FieldArrayRel, "articles_by_author_id"},
		{"authors", "articles_by_reviewer_id_aggregate", FieldArrayRelAggregate, "articles_by_reviewer_id"},
		{"articles", "author", FieldObjectRel, "author"},
		{"authors_bool_exp", "mood", FieldColumn, "mood"},
		{"authors_bool_exp", "_or", FieldOr, ""},
		{"authors_bool_exp", "invoices_aggregate", FieldArrayRelAggregate, "invoices"},
		{"authors_order_by", "articles_by_author_id_aggregate", FieldArrayRelAggregate, "articles_by_author_id"},
		{"articles_order_by", "reviewer", FieldObjectRel, "reviewer"},
		{"authors_aggregate", "nodes", FieldNodes, ""},
		{"authors_aggregate_fields", "count", FieldAggCount, ""},
		{"authors_aggregate_fields", "stddev_pop", FieldAggFunc, "stddev_pop"},
		{"authors_sum_fields", "followers", FieldColumn, "followers"},
		{"articles_aggregate_order_by", "max", FieldAggFunc, "max"},
		{"articles_aggregate_bool_exp", "bool_or", FieldAggFunc, "bool_or"},
		{"articles_aggregate_bool_exp_count", "predicate", FieldAggPredicate, ""},
		{"authors_mutation_response", "returning", FieldReturning, ""},
		{"authors_insert_input", "articles_by_author_id", FieldArrayRel, "articles_by_author_id"},
		{"articles_insert_input", "author", FieldObjectRel, "author"},
		{"articles_arr_rel_insert_input", "data", FieldInsertData, ""},
		{"authors_on_conflict", "update_columns", FieldUpdateColumns, ""},
		{"authors_updates", "_delete_at_path", FieldUpdateOp, "_delete_at_path"},
		{"authors_delete_key_input", "profile", FieldColumn, "profile"},
		{"String_comparison_exp", "_niregex", FieldOperator, "_niregex"},
		{"jsonb_comparison_exp", "_has_keys_all", FieldOperator, "_has_keys_all"},
		{"Int_array_comparison_exp", "_contained_in", FieldOperator, "_contained_in"},
		{"billing_invoices", "author", FieldObjectRel, "author"},
	}
	for _, c := range cases {
		t.Run(c.typ+"."+c.field, func(t *testing.T) {
			f := s.Field(c.typ, c.field)
			if f == nil {
				t.Fatalf("no field %s.%s", c.typ, c.field)
			}
			var got string
			switch {
			case f.Column != nil:
				got = f.Column.Name
			case f.Rel != nil:
				got = f.Rel.Name
			case f.Op != "":
				got = f.Op
			default:
				got = f.Func
			}
			if f.Kind != c.kind || got != c.target {
				t.Fatalf("got kind %d target %q, want %d %q", f.Kind, got, c.kind, c.target)
			}
		})
	}
	for _, missing := range [][2]string{{"authors", "bad name"}, {"authors_insert_input", "name_upper"},
		{"authors_inc_input", "name"}, {"authors_avg_fields", "created_at"}, {"authors_max_fields", "active"},
		{"authors_max_fields", "wakes_at"}, {"author_stats", "x"}} {
		if s.Field(missing[0], missing[1]) != nil {
			t.Errorf("field %s.%s should not exist", missing[0], missing[1])
		}
	}
}

func TestTypesAndEnumValuesMapBack(t *testing.T) {
	s := buildFixture(t)
	ti := s.Type("billing_invoices_constraint")
	if ti == nil || ti.Role != TypeConstraint || ti.Table.Catalog.Name != "invoices" {
		t.Fatalf("billing_invoices_constraint: %+v", ti)
	}
	if v := ti.Values["invoices_pkey"]; v == nil || !v.Constraint.Primary {
		t.Fatalf("invoices_pkey: %+v", v)
	}
	if v := s.Type("categories_constraint").Values["categories_parent_id_name_key"]; v == nil || len(v.Constraint.Columns) != 2 {
		t.Fatalf("categories unique constraint: %+v", v)
	}
	if v := s.Type("authors_select_column").Values["tags"]; v == nil || v.Column.Cast != "text[]" || !v.Column.IsArray {
		t.Fatalf("authors_select_column.tags: %+v", v)
	}
	ob := s.Type("order_by")
	if v := ob.Values["desc"]; !v.Desc || !v.NullsFirst {
		t.Fatalf("desc: %+v", v)
	}
	if v := ob.Values["asc"]; v.Desc || v.NullsFirst {
		t.Fatalf("asc: %+v", v)
	}
	if ti := s.Type("authors_stddev_samp_fields"); ti == nil || ti.Role != TypeAggregateFuncFields || ti.Func != "stddev_samp" {
		t.Fatalf("authors_stddev_samp_fields: %+v", ti)
	}
	if ti := s.Type("mood"); ti == nil || ti.Role != TypeScalar {
		t.Fatalf("mood: %+v", ti)
	}
	if sc := s.Scalar("float8"); sc == nil || !sc.Class.numeric() {
		t.Fatalf("float8: %+v", sc)
	}
	tbl := s.QueryField("orders_by_pk").Table
	if len(tbl.PrimaryKey) != 2 || tbl.PrimaryKey[0].Name != "order_no" || tbl.PrimaryKey[1].Name != "region" {
		t.Fatalf("orders primary key: %+v", tbl.PrimaryKey)
	}
	if r := s.QueryField("articles").Table.Relationship("author"); r == nil || !r.NonNull || r.Remote.Names.Base != "authors" {
		t.Fatalf("articles.author: %+v", r)
	}
	if r := s.QueryField("articles").Table.Relationship("reviewer"); r == nil || r.NonNull {
		t.Fatalf("articles.reviewer must be nullable: %+v", r)
	}
}

func TestEmptyCatalogStillBuilds(t *testing.T) {
	s, err := Build(&catalogSchemaEmpty, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.MutationField("insert_x") != nil || s.Type("order_by") == nil {
		t.Fatal("unexpected lookups on an empty schema")
	}
}

func TestScalarNamedLikeATableIsRenamed(t *testing.T) {
	// "a_tickets" comes first, so its enum column is seen before the table "status".
	tickets := table("public", "a_tickets", catalog.KindTable, col(1, "state", "public.status", "status", "enum"))
	status := table("public", "status", catalog.KindTable, col(1, "id", "integer", "int4", "notnull"))
	cat := &catalog.Schema{Schemas: []string{"public"}, Tables: []*catalog.Table{tickets, status}}
	cat.Index()
	s, err := Build(cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.QueryField("a_tickets").Table.Column("state")
	if c.Scalar.Name != "status_scalar" || c.Comparison != "status_scalar_comparison_exp" || c.Type != "status_scalar" {
		t.Fatalf("got scalar %q, comparison %q, type %q", c.Scalar.Name, c.Comparison, c.Type)
	}
	if ti := s.Type("status"); ti == nil || ti.Role != TypeRow {
		t.Fatalf("type status should stay the table's row type: %+v", ti)
	}
}
