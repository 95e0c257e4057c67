package aispec

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control/catalogload"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner/catalog"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./planner/aispec -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		aside := path + ".new"
		_ = os.WriteFile(aside, got, 0o644)
		t.Errorf("%s differs from the generated document, written to %s; review it and run `go test ./planner/aispec -update` to accept", path, aside)
	}
}

// The shop fixture is shared with planner/openapi; a second schema references it, so the
// document shows prefixed GraphQL names and REST profiles.
const billingDDL = `
CREATE TABLE invoices (
  id          integer PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES aispec_t_shop.customers(id),
  amount      numeric(12,2) NOT NULL,
  paid        boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE invoices IS 'Bills sent to customers.';
CREATE FUNCTION unpaid_total() RETURNS numeric LANGUAGE sql STABLE AS $$ SELECT coalesce(sum(amount), 0) FROM invoices WHERE NOT paid $$;
`

func loadShop(t *testing.T) *catalog.Schema {
	t.Helper()
	ddl, err := os.ReadFile("../openapi/testdata/shop.sql")
	if err != nil {
		t.Fatal(err)
	}
	testenv.FreshSchema(t, "aispec_t_shop", string(ddl))
	testenv.FreshSchema(t, "aispec_t_billing", billingDDL)
	cat, err := catalogload.Load(context.Background(), testenv.Conn(t), []string{"aispec_t_shop", "aispec_t_billing"})
	if err != nil {
		t.Fatalf("catalogload.Load: %v", err)
	}
	return cat
}

func TestShopSpec(t *testing.T) {
	cat := loadShop(t)
	doc, err := Build(cat, Options{Tenant: "demo", AnonRole: "anon", Users: true, AuthenticatedRole: "app_user", Providers: []string{"github"}, WireAddr: "127.0.0.1:6543"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "shop.md", doc)

	t.Run("it names every table, column and function", func(t *testing.T) {
		assertCovers(t, cat, doc)
	})
	t.Run("it uses the GraphQL names of the schema, prefixed outside the default schema", func(t *testing.T) {
		for _, want := range []string{"orders_by_pk(id: 1)", "aispec_t_billing_invoices(", "`customer` → one `customers`", "Accept-Profile: aispec_t_billing"} {
			if !bytes.Contains(doc, []byte(want)) {
				t.Errorf("missing %q", want)
			}
		}
	})
	t.Run("two foreign keys to one table embed with a constraint hint", func(t *testing.T) {
		if !bytes.Contains(doc, []byte("REST embed `customers!transfers_from_customer_fkey(…)`")) {
			t.Error("no hinted embed for transfers → customers")
		}
	})
	t.Run("it is deterministic", func(t *testing.T) {
		again, err := Build(cat, Options{Tenant: "demo", AnonRole: "anon", Users: true, AuthenticatedRole: "app_user", Providers: []string{"github"}, WireAddr: "127.0.0.1:6543"})
		if err != nil || !bytes.Equal(doc, again) {
			t.Fatalf("second build differs (err %v)", err)
		}
	})
}

func assertCovers(t *testing.T, cat *catalog.Schema, doc []byte) {
	t.Helper()
	for _, tb := range cat.Tables {
		if !bytes.Contains(doc, []byte("`"+tb.Name+"` (")) && !bytes.Contains(doc, []byte("."+tb.Name+"` (")) {
			t.Errorf("table %s has no section", tb.Name)
		}
		for _, c := range tb.Columns {
			if !bytes.Contains(doc, []byte("`"+c.Name+"`")) {
				t.Errorf("column %s.%s is not listed", tb.Name, c.Name)
			}
		}
	}
	for _, f := range cat.Functions {
		if !bytes.Contains(doc, []byte(f.Name+"(")) {
			t.Errorf("function %s is not listed", f.Name)
		}
	}
}

// A tenant with many tables gets one short block per table and the examples once.
func TestManyTablesAreCompact(t *testing.T) {
	cat := &catalog.Schema{Schemas: []string{"app"}}
	for i := 1; i <= 60; i++ {
		tb := &catalog.Table{Schema: "app", Name: fmt.Sprintf("t%02d", i), Kind: catalog.KindTable,
			Insertable: true, Updatable: true, Deletable: true, PrimaryKey: []string{"id"},
			Columns: []*catalog.Column{
				{Name: "id", Position: 1, Type: "integer", TypeName: "int4", TypeSchema: "pg_catalog", Category: "N", Insertable: true, Updatable: true},
				{Name: "label", Position: 2, Type: "text", TypeName: "text", TypeSchema: "pg_catalog", Category: "S", Nullable: true, Insertable: true, Updatable: true},
			}}
		if i > 1 {
			tb.Columns = append(tb.Columns, &catalog.Column{Name: "parent_id", Position: 3, Type: "integer", TypeName: "int4", TypeSchema: "pg_catalog", Category: "N", Nullable: true, Insertable: true, Updatable: true})
			tb.ForeignKeys = []*catalog.ForeignKey{{Name: tb.Name + "_parent_id_fkey", Columns: []string{"parent_id"}, RefSchema: "app", RefTable: "t01", RefColumns: []string{"id"}}}
			tb.Relationships = []*catalog.Relationship{{Name: "parent", Kind: catalog.ObjectRel, RemoteSchema: "app", RemoteTable: "t01",
				Columns: []string{"parent_id"}, RemoteColumns: []string{"id"}, Constraint: tb.Name + "_parent_id_fkey", Outgoing: true}}
		}
		cat.Tables = append(cat.Tables, tb)
	}
	cat.Index()
	doc, err := Build(cat, Options{Tenant: "big"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "compact.md", doc)
	if n := strings.Count(string(doc), "```graphql"); n != 1 {
		t.Errorf("%d GraphQL examples, want 1", n)
	}
	full, err := Build(cat, Options{Tenant: "big", CompactAbove: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(doc)*2 > len(full) {
		t.Errorf("compact document is %d bytes, the full one %d: not compact enough", len(doc), len(full))
	}
	assertCovers(t, cat, doc)
}

func TestExamplesSendTheCredentialsTheInstanceAccepts(t *testing.T) {
	cat := loadShop(t)
	tests := []struct {
		name      string
		opts      Options
		want, not []string
	}{
		{name: "an open instance's examples send nothing", opts: Options{Tenant: "demo", Open: true, AdminDisabled: true},
			want: []string{"this instance is open", "admin API is disabled"}, not: []string{"$TOKEN", "$ANON_KEY", "$ADMIN_KEY", "Bearer $"}},
		{name: "an instance with an anon key sends it as apikey", opts: Options{Tenant: "demo", AnonKey: "eyJanon"},
			want: []string{"ANON_KEY=eyJanon\n", `-H "apikey: $ANON_KEY"`}, not: []string{"$TOKEN"}},
		{name: "an instance with auth and no anon key asks for a token", opts: Options{Tenant: "demo"},
			want: []string{"TOKEN=<JWT or API key>", `-H "Authorization: Bearer $TOKEN"`, "$ADMIN_KEY"}, not: []string{"$ANON_KEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Build(cat, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(doc), w) {
					t.Errorf("lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(string(doc), n) {
					t.Errorf("has %q", n)
				}
			}
		})
	}
	t.Run("insert examples take fresh values for primary and unique keys", func(t *testing.T) {
		doc, _ := Build(cat, Options{Tenant: "demo", Open: true})
		for _, w := range []string{`"id": '"$UNIQUE"'`, `"email": "example-'"$UNIQUE"'"`} {
			if !strings.Contains(string(doc), w) {
				t.Errorf("lacks %q", w)
			}
		}
	})
}
