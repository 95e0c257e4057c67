package rest

import "testing"

func TestBodyKeysFoldIntoTheShape(t *testing.T) {
	cases := []struct{ body, want string }{
		{`{"a":1,"b":"x,y"}`, `"a","b"`},
		{` [ {"id": 1, "tags": ["a", {"b": "}"}], "n": null}, {"id": 2} ]`, `"id","tags","n"`},
		{`{}`, ``},
		{`[]`, ``},
		{`{"a$&=":true}`, `"a%24%26%3D"`},
	}
	for _, c := range cases {
		got, err := AppendBodyKeys(nil, []byte(c.body))
		if err != nil || string(got) != c.want {
			t.Errorf("%s: got %q %v, want %q", c.body, got, err, c.want)
		}
	}
	for _, bad := range []string{``, `1`, `{"a"}`, `{"a":}`, `{"a":1`, `[1]`, `{"a":"x`,
		`{"a":tru}`, `{"a":01}`, `{"a":[1 2]}`, `[{"a":{"b":1,}}]`, `{"a":"\q"}`} {
		if _, err := AppendBodyKeys(nil, []byte(bad)); err == nil || err.(*Error).Code != "PGRST102" {
			t.Errorf("%q: got %v, want PGRST102", bad, err)
		}
	}
	b := []byte(`{"id":1,"name":"x","tags":[1,2]}`)
	dst := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { dst, _ = AppendBodyKeys(dst[:0], b) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

func BenchmarkAppendBodyKeys(b *testing.B) {
	body := []byte(`[{"id": 1, "name": "Ada \"L\"", "tags": ["a", {"b": "}"}], "profile": {"x": [1.5, -2e3, true, null]}, "n": null}, {"id": 2}]`)
	dst := make([]byte, 0, 64)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = AppendBodyKeys(dst[:0], body)
	}
}
