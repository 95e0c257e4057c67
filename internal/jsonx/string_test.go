package jsonx

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// AppendString must write what encoding/json writes (HTML escaping aside).
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	cases := []string{"", "plain", `quo"te`, `back\slash`, "new\nline\r\t", "\x00\x01\x1f\x7f", "héllo wörld ✓",
		"bad \xff utf8 \xc3", "line\u2028sep\u2029", "<&>", "emoji 😀"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("%q: got %s, want %s", s, got[1:], want.Bytes())
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = AppendString(make([]byte, 0, 64)[:0], "customers_by_pk") }); n > 1 {
		t.Fatalf("%v allocations", n)
	}
}

// What it writes reads back as the string, invalid UTF-8 replaced.
func TestAppendStringRoundTrips(t *testing.T) {
	for _, in := range []string{"plain", "quote\" back\\slash", "nl\n tab\t cr\r nul\x00 del\x7f", "é ü 日本", "bad\xffutf8", "\u2028"} {
		got := AppendString(nil, in)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q -> %s: %v", in, got, err)
		}
		want := string(bytes.ToValidUTF8([]byte(in), []byte("\uFFFD")))
		if back != want {
			t.Fatalf("%q round-tripped to %q", in, back)
		}
	}
}
