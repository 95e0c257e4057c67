package catalogload

import (
	"context"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner/catalog"
)

// Roles are cluster-wide: created idempotently, never dropped (other runs may use them).
const privilegeRolesSQL = `
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['auth_t_cat_reader', 'auth_t_cat_group', 'auth_t_cat_writer', 'auth_t_cat_nousage'] LOOP
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END LOOP;
END$$;
GRANT auth_t_cat_group TO auth_t_cat_writer;`

const privilegeDDL = `
CREATE TABLE author (id int PRIMARY KEY, name text);
CREATE TABLE doc (id int PRIMARY KEY, title text, secret text, author_id int REFERENCES author);
CREATE TABLE hidden (id int PRIMARY KEY);
GRANT USAGE ON SCHEMA auth_t_cat_priv TO auth_t_cat_reader, auth_t_cat_group;
GRANT SELECT (id, title) ON doc TO auth_t_cat_reader;
GRANT SELECT ON author TO auth_t_cat_reader;
GRANT SELECT, INSERT, DELETE ON doc, author TO auth_t_cat_group;
GRANT UPDATE (title) ON doc TO auth_t_cat_group;
GRANT SELECT ON doc TO auth_t_cat_nousage;`

func TestPrivilegesAreLoadedPerRole(t *testing.T) {
	testenv.Exec(t, privilegeRolesSQL)
	testenv.FreshSchema(t, "auth_t_cat_priv", privilegeDDL)
	ctx := context.Background()
	conn := testenv.Conn(t)
	s, err := Load(ctx, conn, []string{"auth_t_cat_priv"})
	if err != nil {
		t.Fatal(err)
	}
	str := func(tp *catalog.TablePrivileges) string {
		if tp == nil {
			return "none"
		}
		return "select=" + strings.Join(tp.Select, ",") + " insert=" + strings.Join(tp.Insert, ",") +
			" update=" + strings.Join(tp.Update, ",") + map[bool]string{true: " delete", false: ""}[tp.Delete]
	}
	cases := []struct {
		name, role, table, want string
	}{
		{"a column grant gives those columns only", "auth_t_cat_reader", "doc", "select=id,title insert= update="},
		{"a table grant gives every column", "auth_t_cat_reader", "author", "select=id,name insert= update="},
		{"nothing granted, nothing given", "auth_t_cat_reader", "hidden", "none"},
		{"privileges are inherited through membership", "auth_t_cat_writer", "doc",
			"select=id,title,secret,author_id insert=id,title,secret,author_id update=title delete"},
		{"a role without USAGE on the schema can use none of it", "auth_t_cat_nousage", "doc", "none"},
		{"an unknown role has PUBLIC's privileges", "auth_t_cat_nobody", "doc", "none"},
		{"the owner may do everything", "postgres", "hidden", "select=id insert=id update=id delete"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := str(s.Privileges.For(c.role).Table("auth_t_cat_priv", c.table)); got != c.want {
				t.Fatalf("%s on %s: %s, want %s", c.role, c.table, got, c.want)
			}
		})
	}

	t.Run("a role's view holds what it may read, and writes only where it may", func(t *testing.T) {
		v := s.VisibleTo("auth_t_cat_reader")
		if len(v.Tables) != 2 || v.Table("auth_t_cat_priv", "hidden") != nil {
			t.Fatalf("tables %v", names(v))
		}
		doc := v.Table("auth_t_cat_priv", "doc")
		if len(doc.Columns) != 2 || doc.Column("secret") != nil || doc.Insertable || doc.Updatable || doc.Deletable {
			t.Fatalf("doc %+v", doc)
		}
		if doc.Relationship("author") != nil || len(doc.ForeignKeys) != 0 {
			t.Fatal("a relationship through a column the role may not read is kept")
		}
		w := s.VisibleTo("auth_t_cat_writer").Table("auth_t_cat_priv", "doc")
		if !w.Insertable || !w.Updatable || !w.Deletable || w.Column("secret").Updatable || !w.Column("title").Updatable ||
			w.Relationship("author") == nil {
			t.Fatalf("writer's doc %+v", w)
		}
		if n := len(s.VisibleTo("auth_t_cat_nobody").Tables); n != 0 {
			t.Fatalf("an unknown role sees %d tables", n)
		}
		if s.Table("auth_t_cat_priv", "doc").Column("secret") == nil {
			t.Fatal("VisibleTo changed the catalog it was called on")
		}
	})

	t.Run("a GRANT changes the version", func(t *testing.T) {
		testenv.Exec(t, "GRANT SELECT ON auth_t_cat_priv.hidden TO auth_t_cat_reader")
		s2, err := Load(ctx, conn, []string{"auth_t_cat_priv"})
		if err != nil {
			t.Fatal(err)
		}
		if s2.Version == s.Version || s2.Privileges.For("auth_t_cat_reader").Table("auth_t_cat_priv", "hidden") == nil {
			t.Fatal("the grant is not in the new model")
		}
	})
}

func names(s *catalog.Schema) []string {
	var out []string
	for _, t := range s.Tables {
		out = append(out, t.Name)
	}
	return out
}
