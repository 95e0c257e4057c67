package catalog

import (
	"fmt"
	"strings"
	"testing"
)

// table builds a table for naming tests: cols are column names; the first is the primary
// key. fks are "col1,col2->schema.table(ref1,ref2)" with optional "#name".
func table(name string, cols []string, fks ...string) *Table {
	t := &Table{Schema: "s", Name: name}
	for i, c := range cols {
		t.Columns = append(t.Columns, &Column{Name: c, Position: i + 1})
	}
	if len(cols) > 0 {
		t.PrimaryKey = []string{cols[0]}
	}
	for _, spec := range fks {
		fkName := ""
		if i := strings.Index(spec, "#"); i >= 0 {
			spec, fkName = spec[:i], spec[i+1:]
		}
		from, to, _ := strings.Cut(spec, "->")
		ref, refCols, _ := strings.Cut(strings.TrimSuffix(to, ")"), "(")
		fk := &ForeignKey{Columns: strings.Split(from, ","), RefSchema: "s", RefTable: ref, RefColumns: strings.Split(refCols, ",")}
		if fkName == "" {
			fkName = name + "_" + strings.Join(fk.Columns, "_") + "_fkey"
		}
		fk.Name = fkName
		t.ForeignKeys = append(t.ForeignKeys, fk)
	}
	return t
}

func relNames(t *Table) string {
	var out []string
	for _, r := range t.Relationships {
		out = append(out, fmt.Sprintf("%s:%s->%s(%s)", r.Name, r.Kind, r.RemoteTable, strings.Join(r.RemoteColumns, ",")))
	}
	return strings.Join(out, " ")
}

func TestRelationshipNames(t *testing.T) {
	cases := []struct {
		name   string
		tables []*Table
		want   map[string]string // table -> relNames
	}{{
		name: "an FK column ending in _id names the object relationship, the referencing table plus s the array one",
		tables: []*Table{
			table("author", []string{"id", "name"}),
			table("article", []string{"id", "author_id"}, "author_id->author(id)"),
		},
		want: map[string]string{
			"author":  "articles:array->article(author_id)",
			"article": "author:object->author(id)",
		},
	}, {
		name: "a column without _id and a bare _id fall back to the target table",
		tables: []*Table{
			table("person", []string{"id"}),
			table("loan", []string{"id", "borrower", "_id"}, "borrower->person(id)", "_id->person(id)"),
		},
		want: map[string]string{
			// both short names are "person": they clash and take the long form
			"loan":   "person_by__id:object->person(id) person_by_borrower:object->person(id)",
			"person": "loans_by__id:array->loan(_id) loans_by_borrower:array->loan(borrower)",
		},
	}, {
		name: "two FKs to one table give long array names on the target only",
		tables: []*Table{
			table("team", []string{"id"}),
			table("game", []string{"id", "home_team_id", "away_team_id"}, "home_team_id->team(id)", "away_team_id->team(id)"),
		},
		want: map[string]string{
			"team": "games_by_away_team_id:array->game(away_team_id) games_by_home_team_id:array->game(home_team_id)",
			"game": "away_team:object->team(id) home_team:object->team(id)",
		},
	}, {
		name: "a table name ending in s is not pluralised again",
		tables: []*Table{
			table("author", []string{"id"}),
			table("news", []string{"id", "author_id"}, "author_id->author(id)"),
			table("status", []string{"id", "author_id"}, "author_id->author(id)"),
		},
		want: map[string]string{"author": "news:array->news(author_id) status:array->status(author_id)"},
	}, {
		name: "a relationship never shadows a column",
		tables: []*Table{
			table("customer", []string{"id", "purchases"}),
			table("purchase", []string{"id", "customer"}, "customer->customer(id)"),
		},
		want: map[string]string{
			"customer": "purchases_by_customer:array->purchase(customer)",
			"purchase": "customer_by_customer:object->customer(id)",
		},
	}, {
		name: "a self-referencing FK gives both relationships on the same table",
		tables: []*Table{
			table("employee", []string{"id", "manager_id"}, "manager_id->employee(id)"),
		},
		want: map[string]string{"employee": "employees:array->employee(manager_id) manager:object->employee(id)"},
	}, {
		name: "two self-referencing FKs clash only on the array side",
		tables: []*Table{
			table("node", []string{"id", "parent_id", "next_id"}, "parent_id->node(id)", "next_id->node(id)"),
		},
		want: map[string]string{"node": "next:object->node(id) nodes_by_next_id:array->node(next_id) nodes_by_parent_id:array->node(parent_id) parent:object->node(id)"},
	}, {
		name: "a composite FK is named after the target and joins its columns with _and_ in the long form",
		tables: []*Table{
			table("region", []string{"country", "code"}),
			table("store", []string{"id", "country", "region_code"}, "country,region_code->region(country,code)"),
			table("depot", []string{"id", "country", "region_code", "backup_code"},
				"country,region_code->region(country,code)", "country,backup_code->region(country,code)"),
		},
		want: map[string]string{
			"region": "depots_by_country_and_backup_code:array->depot(country,backup_code) depots_by_country_and_region_code:array->depot(country,region_code) stores:array->store(country,region_code)",
			"store":  "region:object->region(country,code)",
			"depot":  "region_by_country_and_backup_code:object->region(country,code) region_by_country_and_region_code:object->region(country,code)",
		},
	}, {
		name: "a one-to-one FK is an object relationship both ways, named after the referencing table",
		tables: []*Table{
			table("author", []string{"id"}),
			table("author_profile", []string{"author_id", "bio"}, "author_id->author(id)"),
		},
		want: map[string]string{
			"author":         "author_profile:object->author_profile(author_id)",
			"author_profile": "author:object->author(id)",
		},
	}, {
		name: "duplicate FKs over the same columns are told apart by constraint name",
		tables: []*Table{
			table("team", []string{"id"}),
			table("game", []string{"id", "team_id"}, "team_id->team(id)#fk_a", "team_id->team(id)#fk_b"),
		},
		want: map[string]string{
			"team": "games_by_team_id_fk_a:array->game(team_id) games_by_team_id_fk_b:array->game(team_id)",
			"game": "team_by_team_id_fk_a:object->team(id) team_by_team_id_fk_b:object->team(id)",
		},
	}, {
		name: "FKs to tables that are not loaded give no relationship",
		tables: []*Table{
			table("article", []string{"id", "author_id"}, "author_id->elsewhere(id)"),
		},
		want: map[string]string{"article": ""},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			deriveRelationships(c.tables)
			for _, tb := range c.tables {
				want, ok := c.want[tb.Name]
				if !ok {
					continue
				}
				if got := relNames(tb); got != want {
					t.Errorf("%s:\n got  %s\n want %s", tb.Name, got, want)
				}
			}
		})
	}
}

func TestRelationshipNamesAreUniqueEvenInDegenerateCases(t *testing.T) {
	// Long forms that collide with columns and with each other.
	tbl := table("x", []string{"id", "x_by_a", "x_by_a_f1", "xs"},
		"a->x(id)#f1", "a->x(id)#f2")
	tbl.Columns = append(tbl.Columns, &Column{Name: "a", Position: 5})
	deriveRelationships([]*Table{tbl})
	seen := map[string]bool{}
	for _, c := range tbl.Columns {
		seen[c.Name] = true
	}
	for _, r := range tbl.Relationships {
		if seen[r.Name] {
			t.Errorf("relationship name %q is taken: %s", r.Name, relNames(tbl))
		}
		seen[r.Name] = true
	}
	if len(tbl.Relationships) != 4 {
		t.Errorf("got %d relationships, want 4: %s", len(tbl.Relationships), relNames(tbl))
	}
}

func TestShortNames(t *testing.T) {
	for _, c := range []struct {
		cols   []string
		target string
		want   string
	}{
		{[]string{"author_id"}, "author", "author"},
		{[]string{"owner_id"}, "person", "owner"},
		{[]string{"author"}, "person", "person"},
		{[]string{"_id"}, "person", "person"},
		{[]string{"id"}, "person", "person"},
		{[]string{"a_id", "b_id"}, "pair", "pair"},
	} {
		if got := ObjectRelName(c.cols, c.target); got != c.want {
			t.Errorf("ObjectRelName(%v, %s) = %s, want %s", c.cols, c.target, got, c.want)
		}
	}
	for in, want := range map[string]string{"article": "articles", "news": "news", "address": "address", "s": "s"} {
		if got := ArrayRelName(in); got != want {
			t.Errorf("ArrayRelName(%s) = %s, want %s", in, got, want)
		}
	}
}
