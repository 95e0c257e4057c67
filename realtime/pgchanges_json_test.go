package realtime

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestChangeValuesAreTypedAsSupabaseSendsThem(t *testing.T) {
	for _, c := range []struct {
		typ  string
		cat  byte
		elem elemType
		in   string
		want string
	}{
		{"int4", 'N', elemType{}, "42", `42`},
		{"numeric", 'N', elemType{}, "-0.50", `-0.50`},
		{"numeric", 'N', elemType{}, "NaN", `"NaN"`},
		{"float8", 'N', elemType{}, "1e+20", `1e+20`},
		{"float8", 'N', elemType{}, "Infinity", `"Infinity"`},
		{"money", 'N', elemType{}, "$1.00", `"$1.00"`},
		{"int4", 'N', elemType{}, "007", `"007"`},
		{"bool", 'B', elemType{}, "t", `true`},
		{"bool", 'B', elemType{}, "f", `false`},
		{"jsonb", 'U', elemType{}, `{"a": [1, "x"]}`, `{"a": [1, "x"]}`},
		{"text", 'S', elemType{}, `say "hi"` + "\n", `"say \"hi\"\n"`},
		{"timestamp", 'D', elemType{}, "2024-05-01 10:00:00.5", `"2024-05-01T10:00:00.5"`},
		{"timestamptz", 'D', elemType{}, "2024-05-01 10:00:00+00", `"2024-05-01T10:00:00+00:00"`},
		{"timestamptz", 'D', elemType{}, "2024-05-01 10:00:00+05:30", `"2024-05-01T10:00:00+05:30"`},
		{"date", 'D', elemType{}, "2024-05-01", `"2024-05-01"`},
		{"_int4", 'A', elemType{"int4", 'N'}, "{1,2,NULL}", `[1,2,null]`},
		{"_int4", 'A', elemType{"int4", 'N'}, "{{1,2},{3,4}}", `[[1,2],[3,4]]`},
		{"_text", 'A', elemType{"text", 'S'}, `{a,"b,c","d\"e","NULL",""}`, `["a","b,c","d\"e","NULL",""]`},
		{"_text", 'A', elemType{"text", 'S'}, `{}`, `[]`},
		{"_bool", 'A', elemType{"bool", 'B'}, `{t,f}`, `[true,false]`},
		{"_int4", 'A', elemType{"int4", 'N'}, "[0:1]={1,2}", `"[0:1]={1,2}"`},
		{"_int4", 'A', elemType{"int4", 'N'}, "{1,", `"{1,"`},
		{"_box", 'A', elemType{"box", 'G'}, "{(1,1),(0,0);(2,2),(1,1)}", `"{(1,1),(0,0);(2,2),(1,1)}"`},
	} {
		rel := &relation{cols: []string{"v"}, typName: []string{c.typ}, typCat: []byte{c.cat}, elem: []elemType{c.elem}}
		got := appendRow(nil, rel, []colValue{{set: true, text: c.in}}, nil, nil, false)
		want := `{"v":` + c.want + `}`
		if string(got) != want {
			t.Errorf("%s %q: got %s, want %s", c.typ, c.in, got, want)
		}
		if !json.Valid(got) {
			t.Errorf("%s %q: %s is not JSON", c.typ, c.in, got)
		}
	}
}

func TestChangeRowsLeaveOutWhatTheWALDoesNotCarry(t *testing.T) {
	rel := &relation{cols: []string{"id", "body", "n"}, typName: []string{"int4", "text", "int4"}, typCat: []byte{'N', 'S', 'N'},
		elem: make([]elemType, 3), pkSet: map[string]bool{"id": true}}
	row := []colValue{{set: true, text: "1"}, {toast: true}, {}}
	if got := string(appendRow(nil, rel, row, nil, nil, false)); got != `{"id":1,"n":null}` {
		t.Errorf("unchanged TOASTed value without an old row: %s", got)
	}
	old := []colValue{{set: true, text: "1"}, {set: true, text: "long"}, {set: true, text: "2"}}
	if got := string(appendRow(nil, rel, row, old, nil, false)); got != `{"id":1,"body":"long","n":null}` {
		t.Errorf("unchanged TOASTed value with the old row: %s", got)
	}
	if got := string(appendRow(nil, rel, old, nil, rel.pkSet, false)); got != `{"id":1}` {
		t.Errorf("key only: %s", got)
	}
}

func TestFiltersCompareByTheColumnsType(t *testing.T) {
	for _, c := range []struct {
		f    rowFilter
		v    string
		null bool
		want bool
	}{
		{rowFilter{op: "eq", vals: []string{"10"}, numeric: true}, "10.0", false, true},
		{rowFilter{op: "lt", vals: []string{"10"}, numeric: true}, "9", false, true},
		{rowFilter{op: "lt", vals: []string{"10"}}, "9", false, false}, // text: "9" > "10"
		{rowFilter{op: "gte", vals: []string{"b"}}, "b", false, true},
		{rowFilter{op: "neq", vals: []string{"b"}}, "c", false, true},
		{rowFilter{op: "neq", vals: []string{"b"}}, "b", false, false},
		{rowFilter{op: "in", vals: []string{"1", "2"}, numeric: true}, "2", false, true},
		{rowFilter{op: "in", vals: []string{"1", "2"}, numeric: true}, "3", false, false},
		{rowFilter{op: "eq", vals: []string{"true"}, boolean: true}, "t", false, true},
		{rowFilter{op: "eq", vals: []string{"x"}}, "", true, false},
		{rowFilter{op: "neq", vals: []string{"x"}}, "", true, false},
	} {
		if got := c.f.match(c.v, !c.null); got != c.want {
			t.Errorf("%+v on %q (null %v): %v, want %v", c.f, c.v, c.null, got, c.want)
		}
	}
}

func TestAChangeOverAMegabyteKeepsOnlyItsSmallValues(t *testing.T) {
	rel := &relation{schema: "s", name: "t", cols: []string{"id", "big"}, typName: []string{"int4", "text"}, typCat: []byte{'N', 'S'},
		elem: make([]elemType, 2), pkSet: map[string]bool{"id": true}}
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = 'x'
	}
	ch := &change{rel: rel, kind: "INSERT", new: []colValue{{set: true, text: "7"}, {set: true, text: string(big)}}}
	got := changeJSON(ch, "2024-01-01T00:00:00.000Z")
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	if len(got) > maxRecordBytes || fmt.Sprint(m["record"]) != "map[id:7]" || fmt.Sprint(m["errors"]) != "[Error 413: Payload Too Large]" {
		t.Errorf("%d bytes: record %v, errors %v", len(got), m["record"], m["errors"])
	}
	ch = &change{rel: rel, kind: "INSERT", new: []colValue{{set: true, text: "7"}, {set: true, text: "small"}}}
	if err := json.Unmarshal(changeJSON(ch, "2024-01-01T00:00:00.000Z"), &m); err != nil || m["errors"] != nil {
		t.Errorf("a small change: errors %v (%v)", m["errors"], err)
	}
}
