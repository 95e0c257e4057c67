package catalog

import (
	"slices"
	"testing"
)

// build gives the same model with its lists in the given order of tables and roles.
func build(tableOrder []string, roleOrder []string) *Schema {
	s := &Schema{Schemas: []string{"s"}}
	for _, name := range tableOrder {
		switch name {
		case "author":
			t := table("author", []string{"id", "name"})
			t.Columns[0], t.Columns[1] = t.Columns[1], t.Columns[0]
			s.Tables = append(s.Tables, t)
		case "article":
			s.Tables = append(s.Tables, table("article", []string{"id", "author_id"}, "author_id->author(id)"))
		}
	}
	s.Privileges = &Privileges{}
	for _, role := range roleOrder {
		s.Privileges.Roles = append(s.Privileges.Roles, &RolePrivileges{Role: role, Tables: []*TablePrivileges{
			{Schema: "s", Name: "author", Select: []string{"id"}},
			{Schema: "s", Name: "article", Select: []string{"id"}},
		}})
	}
	return s
}

func TestFinishMakesTheModelCanonical(t *testing.T) {
	a := build([]string{"author", "article"}, []string{"writer", "reader"})
	b := build([]string{"article", "author"}, []string{"reader", "writer"})
	a.Finish()
	b.Finish()

	t.Run("the order a loader filled lists in does not change the version", func(t *testing.T) {
		if a.Version == "" || a.Version != b.Version {
			t.Fatalf("versions %q and %q", a.Version, b.Version)
		}
	})
	t.Run("tables, columns, roles and their tables come out sorted", func(t *testing.T) {
		if a.Tables[0].Name != "article" || a.Table("s", "author").Columns[0].Name != "id" {
			t.Fatalf("tables %s, %s; author's first column %s", a.Tables[0].Name, a.Tables[1].Name,
				a.Table("s", "author").Columns[0].Name)
		}
		p := a.Privileges
		if p.Roles[0].Role != "reader" || p.Roles[0].Tables[0].Name != "article" {
			t.Fatalf("roles %s, %s; first table %s", p.Roles[0].Role, p.Roles[1].Role, p.Roles[0].Tables[0].Name)
		}
	})
	t.Run("relationships are derived and every lookup works", func(t *testing.T) {
		if a.Table("s", "article").Relationship("author") == nil || a.Table("s", "author").Column("name") == nil {
			t.Fatal("a lookup failed after Finish")
		}
		if got := a.Privileges.For("writer").Table("s", "author"); got == nil || !slices.Equal(got.Select, []string{"id"}) {
			t.Fatalf("writer on author: %+v", got)
		}
	})
}
