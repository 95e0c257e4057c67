package gqlschema

import (
	"testing"

	"github.com/kapok-dev/kapok/planner/catalog"
)

var catalogSchemaEmpty = catalog.Schema{Schemas: []string{"public"}}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"authors": true, "_private": true, "Author2": true, "a_b_c": true,
		"": false, "2fast": false, "with space": false, "dash-ed": false, "__reserved": false, "é": false, "a.b": false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
	for _, v := range []string{"true", "false", "null"} {
		if validEnumValue(v) {
			t.Errorf("%q accepted as an enum value", v)
		}
	}
}

func TestTableBaseNameIsRelativeToTheDefaultSchema(t *testing.T) {
	cases := []struct{ def, schema, name, want string }{
		{"public", "public", "author", "author"},
		{"public", "billing", "invoice", "billing_invoice"},
		{"app", "app", "author", "author"},
		{"app", "public", "author", "public_author"},
	}
	for _, c := range cases {
		if got := TableBaseName(c.def, c.schema, c.name); got != c.want {
			t.Errorf("TableBaseName(%q, %q, %q) = %q, want %q", c.def, c.schema, c.name, got, c.want)
		}
	}
	n := allTableNames("billing_invoice")
	if n.ByPK != "billing_invoice_by_pk" || n.InsertOne != "insert_billing_invoice_one" || n.UpdateMany != "update_billing_invoice_many" ||
		n.FuncFields["var_samp"] != "billing_invoice_var_samp_fields" || n.FuncOrderBy["avg"] != "billing_invoice_avg_order_by" ||
		n.DeleteAtPathInput != "billing_invoice_delete_at_path_input" {
		t.Errorf("names: %+v", n)
	}
}

func TestScalarMappingFollowsHasura(t *testing.T) {
	cases := []struct {
		typeName string
		enum     bool
		want     string
		class    ScalarClass
	}{
		{"int4", false, "Int", ClassNumeric},
		{"int2", false, "smallint", ClassNumeric},
		{"int8", false, "bigint", ClassNumeric},
		{"float4", false, "Float", ClassNumeric},
		{"float8", false, "float8", ClassNumeric},
		{"numeric", false, "numeric", ClassNumeric},
		{"money", false, "money", ClassNumeric},
		{"bool", false, "Boolean", ClassBoolean},
		{"text", false, "String", ClassString},
		{"varchar", false, "String", ClassString},
		{"bpchar", false, "bpchar", ClassString},
		{"citext", false, "citext", ClassString},
		{"uuid", false, "uuid", ClassOrdered},
		{"date", false, "date", ClassOrdered},
		{"timestamp", false, "timestamp", ClassOrdered},
		{"timestamptz", false, "timestamptz", ClassOrdered},
		{"timetz", false, "timetz", ClassOrdered},
		{"time", false, "time", ClassOther},
		{"jsonb", false, "jsonb", ClassJSONB},
		{"json", false, "json", ClassJSON},
		{"inet", false, "inet", ClassOther},
		{"bytea", false, "bytea", ClassOther},
		{"mood", true, "mood", ClassOrdered},
	}
	for _, c := range cases {
		name, class, ok := ScalarFor(&catalog.Column{TypeName: c.typeName, IsEnum: c.enum})
		if !ok || name != c.want || class != c.class {
			t.Errorf("ScalarFor(%s) = %q %v %v, want %q %v", c.typeName, name, class, ok, c.want, c.class)
		}
	}
	if _, _, ok := ScalarFor(&catalog.Column{TypeName: "my type"}); ok {
		t.Error("a type name with a space was accepted as a scalar name")
	}
}

func TestDescriptionsKeepTheirExactText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":           `"plain"`,
		"a \"q\" \\ b":    `"a \"q\" \\ b"`,
		"line1\nline2\t.": `"line1\nline2\t."`,
		"nul\x00":         `"nul\u0000"`,
		"bad\xff":         `"bad\ufffd"`,
		"日本":              `"日本"`,
	} {
		if got := quoteGraphQL(in); got != want {
			t.Errorf("quoteGraphQL(%q) = %s, want %s", in, got, want)
		}
	}
}
