package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control/catalogload"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner/catalog"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

const shopSchema = "openapi_t_shop"

// loadSchema creates schema name from ddl on the dev stack and loads its catalog.
func loadSchema(t *testing.T, name, ddl string) *catalog.Schema {
	t.Helper()
	testenv.FreshSchema(t, name, ddl)
	cat, err := catalogload.Load(context.Background(), testenv.Conn(t), []string{name})
	if err != nil {
		t.Fatalf("catalogload.Load: %v", err)
	}
	return cat
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// golden compares got (indented for review) with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("%s: not JSON: %v", name, err)
	}
	got = buf.Bytes()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./planner/openapi -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		aside := path + ".new"
		_ = os.WriteFile(aside, got, 0o644)
		t.Errorf("%s differs from the generated document, written to %s; review it and run `go test ./planner/openapi -update` to accept", path, aside)
	}
}

// samples reads every row of every relation of schema as JSON, keyed like the
// component schemas (the fixture's names need no sanitizing).
func samples(t *testing.T, cat *catalog.Schema) map[string][]json.RawMessage {
	t.Helper()
	c := testenv.Conn(t)
	out := map[string][]json.RawMessage{}
	for _, tb := range cat.Tables {
		q := "SELECT coalesce(json_agg(r), '[]')::text FROM " + pgx.Identifier{tb.Schema, tb.Name}.Sanitize() + " r"
		var raw string
		if err := c.QueryRow(context.Background(), q).Scan(&raw); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var rows []json.RawMessage
		if err := json.Unmarshal([]byte(raw), &rows); err != nil {
			t.Fatal(err)
		}
		out[tb.Name] = rows
	}
	return out
}

func TestShopDocuments(t *testing.T) {
	cat := loadSchema(t, shopSchema, readFile(t, "testdata/shop.sql"))

	tenant, err := Build(cat, Options{BaseURL: "/t/demo/rest/v1", Version: "test", AnonRole: "anon"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "shop.json", tenant)

	admin, err := Build(nil, Options{AdminPaths: true, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "admin.json", admin)

	both, err := Build(cat, Options{BaseURL: "/t/demo/rest/v1", Version: "test", AdminPaths: true})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("every document validates with swagger-parser and every row Postgres returns fits its schema", func(t *testing.T) {
		dir := t.TempDir()
		var files []string
		for name, doc := range map[string][]byte{"tenant.json": tenant, "admin.json": admin, "both.json": both} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, doc, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, p)
		}
		sj, _ := json.Marshal(samples(t, cat))
		sp := filepath.Join(dir, "samples.json")
		if err := os.WriteFile(sp, sj, 0o644); err != nil {
			t.Fatal(err)
		}
		out := runCheck(t, append([]string{sp}, files...)...)
		var res struct{ Documents, Schemas, Rows int }
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("check.js: %v\n%s", err, out)
		}
		if res.Documents != 3 || res.Rows < 10 {
			t.Fatalf("check.js checked too little: %s", out)
		}
	})

	t.Run("the document lists every table, column and function", func(t *testing.T) {
		assertCovers(t, cat, tenant)
	})

	t.Run("the tenant document with admin paths keeps both", func(t *testing.T) {
		var d struct{ Paths map[string]json.RawMessage }
		if err := json.Unmarshal(both, &d); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/customers", "/rpc/add_them", "/tenants", "/tenants/{tenant}/migrations", "/tenants/{tenant}/reload"} {
			if d.Paths[p] == nil {
				t.Errorf("missing path %s", p)
			}
		}
	})
}

// TestDemoWorkloadDocument builds the document of the dev stack's demo dataset (at a tiny
// scale) and checks it covers every table and column and validates.
func TestDemoWorkloadDocument(t *testing.T) {
	ddl := "SELECT set_config('kapok.scale', '0.0001', true);\n" + readFile(t, "../../configs/demo/workload.sql")
	cat := loadSchema(t, "openapi_t_demo", ddl)
	if len(cat.Tables) != 4 {
		t.Fatalf("demo schema has %d tables, want 4", len(cat.Tables))
	}
	doc, err := Build(cat, Options{BaseURL: "/t/demo/rest/v1"})
	if err != nil {
		t.Fatal(err)
	}
	assertCovers(t, cat, doc)
	p := filepath.Join(t.TempDir(), "demo.json")
	if err := os.WriteFile(p, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	sj, _ := json.Marshal(samples(t, cat))
	sp := filepath.Join(t.TempDir(), "samples.json")
	if err := os.WriteFile(sp, sj, 0o644); err != nil {
		t.Fatal(err)
	}
	runCheck(t, sp, p)
}

func assertCovers(t *testing.T, cat *catalog.Schema, doc []byte) {
	t.Helper()
	var d struct {
		Paths      map[string]map[string]json.RawMessage
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	for _, tb := range cat.Tables {
		item := d.Paths["/"+tb.Name]
		if item["get"] == nil || item["head"] == nil {
			t.Errorf("table %s: no GET/HEAD /%s", tb.Name, tb.Name)
		}
		if tb.Kind == catalog.KindTable {
			for _, m := range []string{"post", "patch", "delete"} {
				if item[m] == nil {
					t.Errorf("table %s: no %s", tb.Name, m)
				}
			}
			if (item["put"] != nil) != (len(tb.PrimaryKey) > 0) {
				t.Errorf("table %s: PUT present = %v with primary key %v", tb.Name, item["put"] != nil, tb.PrimaryKey)
			}
		}
		s, ok := d.Components.Schemas[tb.Name]
		if !ok {
			t.Errorf("table %s: no component schema", tb.Name)
			continue
		}
		for _, c := range tb.Columns {
			if s.Properties[c.Name] == nil {
				t.Errorf("table %s: column %s missing from its schema", tb.Name, c.Name)
			}
			if !reservedParams[c.Name] && !bytes.Contains(item["get"], []byte(`"#/components/parameters/rowFilter.`+tb.Name+`.`+c.Name+`"`)) {
				t.Errorf("table %s: no filter parameter for column %s", tb.Name, c.Name)
			}
		}
	}
	for _, f := range cat.Functions {
		item := d.Paths["/rpc/"+f.Name]
		if item["post"] == nil || item["get"] == nil {
			t.Errorf("function %s: no POST and GET /rpc/%s", f.Name, f.Name)
		}
	}
}

// runCheck runs testdata/js/check.js (npm ci first when node_modules is missing). Node is
// required: without it the test fails.
func runCheck(t *testing.T, args ...string) []byte {
	t.Helper()
	dir := testenv.NodeDir(t, "testdata/js", filepath.Join("@apidevtools", "swagger-parser"))
	cmd := exec.Command("node", append([]string{"check.js"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("check.js: %v\n%s%s", err, out, stderr.String())
	}
	return out
}

func TestColumnDefaults(t *testing.T) {
	cases := []struct {
		name, typ, typeName, def string
		array                    bool
		want                     string // JSON, "" = not a constant
	}{
		{"an integer literal", "integer", "int4", "0", false, "0"},
		{"a parenthesized cast number", "numeric(12,2)", "numeric", "(0)::numeric", false, "0"},
		{"a negative decimal", "numeric", "numeric", "'-1.5'::numeric", false, "-1.5"},
		{"a text literal with a quote", "text", "text", "'it''s'::text", false, `"it's"`},
		{"a boolean", "boolean", "bool", "true", false, "true"},
		{"an empty array", "text[]", "text", "'{}'::text[]", true, "[]"},
		{"a function call", "timestamp with time zone", "timestamptz", "now()", false, ""},
		{"a sequence", "integer", "int4", "nextval('t_id_seq'::regclass)", false, ""},
		{"a cast that contains colons in quotes", "text", "text", "'a::b'::text", false, `"a::b"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			col := &catalog.Column{Name: "c", Type: c.typ, TypeName: c.typeName, TypeSchema: "pg_catalog", IsArray: c.array, Default: c.def, HasDefault: true}
			cat := &catalog.Schema{}
			cat.Index()
			v, ok := defaultValue(col, valueSchema(cat, columnType(col), false))
			got := ""
			if ok {
				b, _ := json.Marshal(v)
				got = string(b)
			}
			if got != c.want {
				t.Errorf("default %q: got %s, want %s", c.def, got, c.want)
			}
		})
	}
}

func TestKeysAreValidComponentNamesAndUnique(t *testing.T) {
	k := newKeys()
	got := []string{k.claim("order items"), k.claim("order_items"), k.claim("émoji"), k.claim("")}
	want := []string{"order_items", "order_items_2", "__moji", "_"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
}

// A second exposed schema: profiles become parameters, and names that are not valid
// component names, path segments or filter parameters are handled.
func TestSecondSchemaAndOddNames(t *testing.T) {
	testenv.FreshSchema(t, "openapi_t_two_a", readFile(t, "testdata/shop.sql"))
	testenv.FreshSchema(t, "openapi_t_two_b", `
CREATE TABLE invoices (id integer PRIMARY KEY, customer_id integer REFERENCES openapi_t_two_a.customers(id), amount numeric NOT NULL);
CREATE TABLE "odd/{name}" ("select" integer, "a b" text, "a_b" text, "ünï" varchar(3));
CREATE TABLE "odd__name_" (id integer);
CREATE TABLE "Error" (id integer);
CREATE FUNCTION "odd fn"(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x $$;
CREATE FUNCTION over(a integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT a $$;
CREATE FUNCTION over(b text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT b $$;
INSERT INTO "odd/{name}" VALUES (1, 'x', NULL, 'abc');`)
	cat, err := catalogload.Load(context.Background(), testenv.Conn(t), []string{"openapi_t_two_a", "openapi_t_two_b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Build(cat, Options{Schema: "public"}); err == nil {
		t.Error("a schema that is not exposed was accepted")
	}
	first, err := Build(cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Build(cat, Options{Schema: "openapi_t_two_b", AdminPaths: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"/odd%2F%7Bname%7D"`, `"odd__name_"`, `"odd__name__2"`, `"/rpc/odd%20fn"`, `"Accept-Profile"`, `"rowFilter.odd__name_.a_b_2"`, `"#/components/schemas/Error_2"`} {
		if !bytes.Contains(second, []byte(want)) {
			t.Errorf("second schema's document lacks %s", want)
		}
	}
	if bytes.Contains(second, []byte(`"/customers"`)) || !bytes.Contains(first, []byte(`"/customers"`)) {
		t.Error("each document must describe its own schema only")
	}
	dir := t.TempDir()
	var files []string
	for i, doc := range [][]byte{first, second} {
		p := filepath.Join(dir, "doc"+string(rune('a'+i))+".json")
		if err := os.WriteFile(p, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	runCheck(t, append([]string{"-"}, files...)...)
}
