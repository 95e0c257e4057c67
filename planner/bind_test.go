package planner_test

import (
	"errors"
	"testing"

	"github.com/kapok-dev/kapok/planner"
)

func plan(vars []planner.Var, params ...planner.Param) *planner.Plan {
	return &planner.Plan{Vars: vars, Statements: []planner.Statement{{SQL: "-", Params: params}}}
}

func TestBindConvertsJSONToTextParameters(t *testing.T) {
	vars := []planner.Var{
		{Name: "i", TypeName: "Int", Kind: planner.ScalarInt},
		{Name: "s", TypeName: "String", Kind: planner.ScalarString},
		{Name: "n", TypeName: "numeric", Kind: planner.ScalarNumeric},
		{Name: "b", TypeName: "Boolean", Kind: planner.ScalarBool},
		{Name: "j", TypeName: "jsonb", Kind: planner.ScalarJSON},
		{Name: "l", TypeName: "String", Kind: planner.ScalarString, ListDepth: 1},
		{Name: "d", TypeName: "Int", Kind: planner.ScalarInt, Default: []byte("7")},
		{Name: "z", TypeName: "Int", Kind: planner.ScalarInt},
	}
	var params []planner.Param
	for i := range vars {
		params = append(params, planner.Param{Var: i})
	}
	params = append(params, planner.Param{Var: -1, Const: []byte("const")})
	p := plan(vars, params...)
	got, err := p.BindStatement(0, []byte(`{"i": -2147483648, "s": "a\"b\u00e9\n", "n": "12.50", "b": false, "j": {"x": [1, "y"]},
		"l": ["p\"q", null, "r\\s"], "z": null}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-2147483648", "a\"bé\n", "12.50", "false", `{"x": [1, "y"]}`, `{"p\"q",NULL,"r\\s"}`, "7", "<nil>", "const"}
	for i, w := range want {
		g := "<nil>"
		if got[i] != nil {
			g = string(got[i])
		}
		if g != w {
			t.Errorf("param %d (%s): got %q want %q", i+1, params[i].Type, g, w)
		}
	}
}

func TestBindRejectsValuesOfTheWrongType(t *testing.T) {
	for name, c := range map[string]struct {
		v    planner.Var
		vars string
	}{
		"a string for Int":             {planner.Var{Name: "x", TypeName: "Int", Kind: planner.ScalarInt}, `{"x": "1"}`},
		"a fraction for Int":           {planner.Var{Name: "x", TypeName: "Int", Kind: planner.ScalarInt}, `{"x": 1.5}`},
		"an Int beyond 32 bits":        {planner.Var{Name: "x", TypeName: "Int", Kind: planner.ScalarInt}, `{"x": 2147483648}`},
		"a number for String":          {planner.Var{Name: "x", TypeName: "String", Kind: planner.ScalarString}, `{"x": 1}`},
		"null for a non-null":          {planner.Var{Name: "x", TypeName: "Int", Kind: planner.ScalarInt, NonNull: true}, `{"x": null}`},
		"absent non-null":              {planner.Var{Name: "x", TypeName: "Int", Kind: planner.ScalarInt, NonNull: true}, `{}`},
		"null in a [Int!] list":        {planner.Var{Name: "x", TypeName: "Int", Kind: planner.ScalarInt, ListDepth: 1, ElemNonNull: true}, `{"x": [1, null]}`},
		"an undeclared variable":       {planner.Var{Name: "x", TypeName: "Int", Kind: planner.ScalarInt}, `{"y": 1}`},
		"variables that are a list":    {planner.Var{Name: "x", TypeName: "Int", Kind: planner.ScalarInt}, `[1]`},
		"broken JSON":                  {planner.Var{Name: "x", TypeName: "Int", Kind: planner.ScalarInt}, `{"x": 1`},
		"a number JSON does not spell": {planner.Var{Name: "x", TypeName: "Float", Kind: planner.ScalarFloat}, `{"x": 01}`},
		"a list without commas":        {planner.Var{Name: "x", TypeName: "jsonb", Kind: planner.ScalarJSON}, `{"x": [1 2]}`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := plan([]planner.Var{c.v}, planner.Param{Var: 0}).BindStatement(0, []byte(c.vars), nil)
			var pe *planner.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v, want a *planner.Error", err)
			}
		})
	}
}

func FuzzBind(f *testing.F) {
	f.Add([]byte(`{"a": 1, "b": ["x", null], "c": {"k": "\u0041"}}`))
	f.Add([]byte(`{"a": "\ud83d\ude00"}`))
	vars := []planner.Var{
		{Name: "a", TypeName: "ID", Kind: planner.ScalarID},
		{Name: "b", TypeName: "String", Kind: planner.ScalarString, ListDepth: 2},
		{Name: "c", TypeName: "jsonb", Kind: planner.ScalarJSON},
	}
	p := plan(vars, planner.Param{Var: 0}, planner.Param{Var: 1}, planner.Param{Var: 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = p.BindStatement(0, b, nil)
	})
}

// BenchmarkBindVariables binds one variable of each kind the scanner handles: numbers, a
// string with escapes, a list and a JSON value.
func BenchmarkBindVariables(b *testing.B) {
	vars := []planner.Var{
		{Name: "i", TypeName: "Int", Kind: planner.ScalarInt},
		{Name: "s", TypeName: "String", Kind: planner.ScalarString},
		{Name: "n", TypeName: "numeric", Kind: planner.ScalarNumeric},
		{Name: "j", TypeName: "jsonb", Kind: planner.ScalarJSON},
		{Name: "l", TypeName: "String", Kind: planner.ScalarString, ListDepth: 1},
	}
	p := plan(vars, planner.Param{Var: 0}, planner.Param{Var: 1}, planner.Param{Var: 2}, planner.Param{Var: 3}, planner.Param{Var: 4})
	body := []byte(`{"i": 12345, "s": "Ada \"L\" \u00e9", "n": 12.5e2, "j": {"x": [1, "y", {"z": null}]}, "l": ["a", "b\\c", null]}`)
	dst := make([][]byte, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = p.BindStatement(0, body, dst); err != nil {
			b.Fatal(err)
		}
	}
}
