package planner_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/planner"
)

func TestInputKeysTellRowsFromValues(t *testing.T) {
	nested := []string{"articles"}
	cases := []struct {
		raw  string
		kind byte
		keys string
	}{
		{`{"b": 1, "a": null}`, planner.ShapeRows, "a,b"},
		{`[{"a": 1, "b": 2}, {"b": "x", "a": null}]`, planner.ShapeRows, "a,b"},
		{`[{"a": 1, "articles": null}]`, planner.ShapeRows, "a,articles"},
		{`[{"a\u0062": 1}]`, planner.ShapeRows, "ab"},
		{`[{"a": 1}, {"a": 1, "b": 2}]`, planner.ShapeValue, ""},
		{`[{"a": 1, "articles": {"data": []}}]`, planner.ShapeValue, ""},
		{`[{"a": 1, "a": 2}]`, planner.ShapeValue, ""},
		{`[]`, planner.ShapeValue, ""},
		{`[{}]`, planner.ShapeValue, ""},
		{`[{"a": 1}, null]`, planner.ShapeValue, ""},
		{`null`, planner.ShapeValue, ""},
		{``, planner.ShapeValue, ""},
		{`[{"a": 1}`, planner.ShapeValue, ""},
	}
	for _, c := range cases {
		kind, keys := planner.InputKeys([]byte(c.raw), nested)
		if kind != c.kind || strings.Join(keys, ",") != c.keys {
			t.Errorf("%s: got %c %v, want %c %s", c.raw, kind, keys, c.kind, c.keys)
		}
	}
}

func TestAppendKeyVarsKeysInsertInputByItsKeysOnly(t *testing.T) {
	p := &planner.Plan{
		Vars:    []planner.Var{{Name: "objs", TypeName: "t_insert_input", Kind: planner.ScalarOther, ListDepth: 1}, {Name: "w", Kind: planner.ScalarOther}},
		KeyVars: []string{"objs", "w"},
		Shapes:  []planner.VarShape{{Var: "objs", Nested: []string{"rel"}}},
	}
	key := func(vars string) string { return string(p.AppendKeyVars([]byte("k"), []byte(vars))) }
	same := [][2]string{
		{`{"objs": [{"a": 1, "b": 2}], "w": {"x": 1}}`, `{"w": {"x": 1}, "objs": [{"b": "z", "a": null}, {"a": 3, "b": 4}]}`},
		{`{"objs": {"a": 1}, "w": null}`, `{"objs": [{"a": 2}, {"a": 3}], "w": null}`},
	}
	for _, s := range same {
		if key(s[0]) != key(s[1]) {
			t.Errorf("%s and %s should share a plan", s[0], s[1])
		}
	}
	differ := [][2]string{
		{`{"objs": [{"a": 1}]}`, `{"objs": [{"a": 1, "b": 2}]}`},
		{`{"objs": [{"a": 1}], "w": {"x": 1}}`, `{"objs": [{"a": 1}], "w": {"x": 2}}`},
		{`{"objs": [{"a": 1}, {"b": 1}]}`, `{"objs": [{"a": 2}, {"b": 1}]}`},
		{`{"objs": [{"a": 1, "rel": {"data": {"x": 1}}}]}`, `{"objs": [{"a": 1, "rel": {"data": {"x": 2}}}]}`},
		{`{"objs": [{"a": 1}], "w": null}`, `{"objs": [{"a": 1}]}`},
	}
	for _, d := range differ {
		if key(d[0]) == key(d[1]) {
			t.Errorf("%s and %s must not share a plan", d[0], d[1])
		}
	}
	// Without Shapes, every key variable is keyed by its bytes.
	p.Shapes = nil
	if key(`{"objs": [{"a": 1}]}`) == key(`{"objs": [{"a": 2}]}`) {
		t.Error("a key variable without a shape must be keyed by its value")
	}
}

func TestRowsInputBindsOneJSONArrayAndChecksEveryValue(t *testing.T) {
	rows := &planner.RowsInput{
		Keys: []string{"id", "name", "rel", "tags"},
		Checks: []planner.Var{
			{Name: "id", TypeName: "Int", Kind: planner.ScalarInt},
			{Name: "name", TypeName: "String", Kind: planner.ScalarString},
			{Name: "rel", Kind: planner.ScalarOther},
			{Name: "tags", TypeName: "String", Kind: planner.ScalarString, ListDepth: 1},
		},
	}
	p := plan([]planner.Var{{Name: "objs", TypeName: "t_insert_input", Kind: planner.ScalarOther, ListDepth: 1, NonNull: true}},
		planner.Param{Var: 0, Type: "json", Rows: rows})
	got, err := p.BindStatement(0, []byte(`{"objs": [{"id": 1, "name": "a\"", "rel": null, "tags": ["x"]}, {"tags": null, "rel": null, "name": null, "id": 2}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"id":1,"name":"a\"","rel":null,"tags":["x"]},{"tags":null,"rel":null,"name":null,"id":2}]`; string(got[0]) != want {
		t.Fatalf("got %s\nwant %s", got[0], want)
	}
	got, err = p.BindStatement(0, []byte(`{"objs": {"id": 1, "name": "a", "rel": null, "tags": "{x,y}"}}`), nil)
	if err != nil || !bytes.Equal(got[0], []byte(`[{"id":1,"name":"a","rel":null,"tags":["{x,y}"]}]`)) {
		t.Fatalf("one object: %s, %v", got, err)
	}
	bad := []struct{ vars, code, path string }{
		{`{"objs": [{"id": "1", "name": "a", "rel": null, "tags": []}]}`, planner.CodeValidationFailed, "$.variableValues.objs[0].id"},
		{`{"objs": [{"id": 1, "name": "a", "rel": null, "tags": [1]}]}`, planner.CodeValidationFailed, "$.variableValues.objs[0].tags"},
		{`{"objs": [{"id": 1, "name": "a", "rel": null, "tags": []}, 5]}`, planner.CodeValidationFailed, "$.variableValues.objs[1]"},
		{`{"objs": [{"id": 1, "name": "a", "rel": null}]}`, planner.CodeUnexpected, "$.variableValues.objs[0]"},
		{`{"objs": [{"id": 1, "name": "a", "rel": null, "tags": [], "x": 1}]}`, planner.CodeUnexpected, "$.variableValues.objs[0]"},
		{`{"objs": [{"id": 1, "name": "a", "rel": {"data": {}}, "tags": []}]}`, planner.CodeUnexpected, "$.variableValues.objs[0]"},
		{`{"objs": null}`, planner.CodeValidationFailed, "$"},
	}
	for _, b := range bad {
		_, err := p.BindStatement(0, []byte(b.vars), nil)
		var pe *planner.Error
		if !errors.As(err, &pe) || pe.Code != b.code || pe.Path != b.path {
			t.Errorf("%s: got %v, want %s at %s", b.vars, err, b.code, b.path)
		}
	}
}

func FuzzAppendKeyVars(f *testing.F) {
	f.Add([]byte(`{"objs": [{"a": 1}, {"a": 2}]}`))
	f.Add([]byte(`{"objs": {"a\u0000": [1, {"b": 2}]}}`))
	p := &planner.Plan{
		Vars:    []planner.Var{{Name: "objs", Kind: planner.ScalarOther, ListDepth: 1}},
		KeyVars: []string{"objs"},
		Shapes:  []planner.VarShape{{Var: "objs", Nested: []string{"b"}}},
	}
	rows := &planner.RowsInput{Keys: []string{"a"}, Checks: []planner.Var{{Name: "a", TypeName: "Int", Kind: planner.ScalarInt}}}
	bp := plan(p.Vars, planner.Param{Var: 0, Type: "json", Rows: rows})
	f.Fuzz(func(t *testing.T, vars []byte) {
		p.AppendKeyVars(nil, vars)
		_, _ = bp.BindStatement(0, vars, nil)
	})
}

func BenchmarkAppendKeyVars(b *testing.B) {
	p := &planner.Plan{
		Vars:    []planner.Var{{Name: "objs", TypeName: "t_insert_input", Kind: planner.ScalarOther, ListDepth: 1}, {Name: "w", Kind: planner.ScalarOther}},
		KeyVars: []string{"objs", "w"},
		Shapes:  []planner.VarShape{{Var: "objs", Nested: []string{"rel"}}},
	}
	vars := []byte(`{"w": {"x": 1}, "objs": [{"b": "z", "a": null, "rel": null}, {"a": 3, "b": 4, "rel": null}]}`)
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		dst = p.AppendKeyVars(dst[:0], vars)
	}
}
