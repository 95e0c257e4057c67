package gqlschema

import (
	"testing"

	"github.com/kapok-dev/kapok/planner/catalog"
)

func TestARoleSchemaHoldsOnlyWhatTheRoleMayDo(t *testing.T) {
	cat := fixtureCatalog()
	cat.Privileges = &catalog.Privileges{Roles: []*catalog.RolePrivileges{
		{Role: "reader", Tables: []*catalog.TablePrivileges{
			{Schema: "app", Name: "authors", Select: []string{"id", "name"}},
		}},
		{Role: "writer", Tables: []*catalog.TablePrivileges{
			{Schema: "app", Name: "authors", Select: []string{"id", "name", "email"}, Insert: []string{"name"},
				Update: []string{"email"}, Delete: true},
		}},
	}}
	full, err := Build(cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := BuildFor(cat, "reader", Options{})
	if err != nil {
		t.Fatal(err)
	}
	writer, err := BuildFor(cat, "writer", Options{})
	if err != nil {
		t.Fatal(err)
	}
	nobody, err := BuildFor(cat, "nobody", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if full.QueryField("articles") == nil || full.MutationField("insert_authors") == nil {
		t.Fatal("the whole schema lost fields")
	}
	cases := []struct {
		name   string
		s      *Schema
		field  string
		root   func(*Schema, string) *RootField
		wanted bool
	}{
		{"a reader can query what it may select", reader, "authors", (*Schema).QueryField, true},
		{"a reader cannot query other tables", reader, "articles", (*Schema).QueryField, false},
		{"a reader has no mutations", reader, "insert_authors", (*Schema).MutationField, false},
		{"a writer can insert", writer, "insert_authors_one", (*Schema).MutationField, true},
		{"a writer can delete", writer, "delete_authors_by_pk", (*Schema).MutationField, true},
		{"a role without grants sees no table", nobody, "authors", (*Schema).QueryField, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.root(c.s, c.field) != nil; got != c.wanted {
				t.Fatalf("%s present: %v", c.field, got)
			}
		})
	}
	t.Run("column privileges shape types and inputs", func(t *testing.T) {
		ra := reader.AST.Types["authors"]
		if ra.Fields.ForName("email") != nil || ra.Fields.ForName("name") == nil {
			t.Fatal("reader's authors type")
		}
		in := writer.AST.Types["authors_insert_input"]
		set := writer.AST.Types["authors_set_input"]
		if in == nil || set == nil || in.Fields.ForName("name") == nil || in.Fields.ForName("email") != nil ||
			set.Fields.ForName("email") == nil || set.Fields.ForName("name") != nil {
			t.Fatalf("writer's inputs: insert %v, set %v", in, set)
		}
	})
}
