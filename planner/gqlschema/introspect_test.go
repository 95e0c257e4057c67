package gqlschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// jsDir prepares testdata/js (npm ci when node_modules is missing). Node is required:
// the reference check is part of the suite, so a machine without it fails.
func jsDir(t *testing.T) string {
	t.Helper()
	return testenv.NodeDir(t, filepath.Join("testdata", "js"), "graphql")
}

func runNode(t *testing.T, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("node", append([]string{"check.js"}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node check.js %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

func parseOp(t *testing.T, s *Schema, q string) *ast.OperationDefinition {
	t.Helper()
	doc, errs := gqlparser.LoadQueryWithRules(s.AST, q, nil)
	if len(errs) > 0 {
		t.Fatalf("gqlparser rejected %q: %v", q, errs)
	}
	return doc.Operations[0]
}

func introspect(t *testing.T, s *Schema, q string, vars map[string]any) string {
	t.Helper()
	op := parseOp(t, s, q)
	out, err := s.Introspect(op, op.SelectionSet, vars, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %s", out)
	}
	return string(out)
}

func TestStandardIntrospectionQueryPassesGraphQLJS(t *testing.T) {
	s := buildFixture(t)
	dir := jsDir(t)
	var texts map[string]string
	if err := json.Unmarshal(runNode(t, dir, nil, "queries"), &texts); err != nil {
		t.Fatal(err)
	}
	var queries []string
	for _, q := range hasuraQueries {
		queries = append(queries, q.query)
	}
	for _, name := range []string{"full", "plain"} {
		t.Run(name, func(t *testing.T) {
			q := texts[name]
			// graphql-go's meta-schema lacks __Schema.description and
			// __Directive.isRepeatable, so only the plain query passes its validator.
			if errs := s.Record.Validate(q); name == "plain" && len(errs) > 0 {
				t.Fatalf("graphql-go rejected the IntrospectionQuery: %v", errs)
			}
			data := introspect(t, s, q, nil)
			in, err := json.Marshal(map[string]any{
				"sdl":           s.SDL,
				"introspection": map[string]json.RawMessage{"data": json.RawMessage(data)},
				"queries":       queries,
				"compareSDL":    name == "full", // the plain query asks for no descriptions
			})
			if err != nil {
				t.Fatal(err)
			}
			printed := runNode(t, dir, in, "check")
			if name == "full" {
				golden(t, "fixture.client.graphql", string(printed))
			}
		})
	}
}

func TestIntrospectionHonoursSelections(t *testing.T) {
	s := buildFixture(t)
	cases := []struct {
		name, query string
		vars        map[string]any
		want        string
	}{
		{"aliases and typename at the root", `{ a: __typename __schema { q: queryType { name } } }`, nil,
			`{"a":"query_root","__schema":{"q":{"name":"query_root"}}}`},
		{"type by variable", `query($n: String!) { __type(name: $n) { name kind ofType { name } } }`, map[string]any{"n": "order_by"},
			`{"__type":{"name":"order_by","kind":"ENUM","ofType":null}}`},
		{"unknown type is null", `{ __type(name: "nope") { name } }`, nil, `{"__type":null}`},
		{"fragments, inline fragments and merged keys", `
			query { __type(name: "orders_pk_columns_input") { ...A ... on __Type { inputFields { type { kind ofType { name } } } } } }
			fragment A on __Type { name inputFields { name } __typename }`, nil,
			`{"__type":{"name":"orders_pk_columns_input","inputFields":[{"name":"order_no","type":{"kind":"NON_NULL","ofType":{"name":"Int"}}},{"name":"region","type":{"kind":"NON_NULL","ofType":{"name":"String"}}}],"__typename":"__Type"}}`},
		{"skip and include", `query($yes: Boolean!) { __type(name: "order_by") { name @include(if: $yes) kind @skip(if: $yes) description @skip(if: false) } }`,
			map[string]any{"yes": true}, `{"__type":{"name":"order_by","description":"column ordering options"}}`},
		{"arguments with defaults", `{ __type(name: "authors_on_conflict") { inputFields { name defaultValue } } }`, nil,
			`{"__type":{"inputFields":[{"name":"constraint","defaultValue":null},{"name":"update_columns","defaultValue":"[]"},{"name":"where","defaultValue":null}]}}`},
		{"directives", `{ __schema { directives { name isRepeatable locations args(includeDeprecated: true) { name } } } }`, nil, ""},
		{"mutation root typename", `mutation { __typename }`, nil, `{"__typename":"mutation_root"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := introspect(t, s, c.query, c.vars)
			if c.want != "" && got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestIntrospectionOfMixedOperationGoesFieldByField(t *testing.T) {
	s := buildFixture(t)
	op := parseOp(t, s, `{ authors { id } __typename t: __type(name: "authors_select_column") { enumValues { name } } }`)
	if _, err := s.Introspect(op, op.SelectionSet, nil, nil); !errors.Is(err, ErrNotIntrospection) {
		t.Fatalf("Introspect over a mixed operation: got %v, want ErrNotIntrospection", err)
	}
	var got []byte
	for _, sel := range op.SelectionSet {
		f := sel.(*ast.Field)
		if !IsIntrospectionField(f.Name) {
			continue
		}
		var err error
		if got, err = s.IntrospectField(op.Operation, f, nil, append(got, f.Alias+"="...)); err != nil {
			t.Fatal(err)
		}
		got = append(got, ';')
	}
	want := `__typename="query_root";t={"enumValues":[{"name":"active"},{"name":"avatar"},{"name":"balance"},{"name":"bio"},{"name":"birthday"},{"name":"created_at"},{"name":"email"},{"name":"followers"},{"name":"handle"},{"name":"id"},{"name":"initials"},{"name":"ip"},{"name":"last_seen"},{"name":"lucky_numbers"},{"name":"mood"},{"name":"moods"},{"name":"name"},{"name":"name_upper"},{"name":"profile"},{"name":"rank"},{"name":"rating"},{"name":"ratio"},{"name":"score"},{"name":"settings"},{"name":"sleeps_at"},{"name":"tags"},{"name":"uid"},{"name":"wakes_at"}]};`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
