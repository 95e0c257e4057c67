package jsonx

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzScanner checks the scanner against encoding/json on arbitrary bytes: Valid agrees
// with json.Valid (below MaxDepth), and Unquote, given the same bytes as a string's contents, with
// json.Unmarshal into a string.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e3,"x\n",true,null,{}]}`, `"\ud83d\ude00\ud800\u0041"`, "\"\xff\"", `[01]`, `{"a" 1}`,
		`1e+`, `[[[[[]]]]]`, `"\u00zz"`, " \t\n[ ]\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, err := SkipValue(b, SkipSpace(b, 0))
		// encoding/json nests up to 10000 deep; only the depth may tell them apart.
		if got, want := Valid(b), json.Valid(b); got != want && err != ErrDepth {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
		if err == nil && !json.Valid(b[:end]) {
			t.Fatalf("SkipValue(%q) delimited %q, which is not JSON", b, b[:end])
		}
		// Walking an object or array member by member ends where skipping it whole does
		// (the walk counts depth from each member, one level less).
		if i := SkipSpace(b, 0); err != ErrDepth && i < len(b) && (b[i] == '{' || b[i] == '[') {
			var wend int
			var werr error
			if b[i] == '{' {
				wend, werr = EachMember(b, i, func(k, v []byte) error { return nil })
			} else {
				wend, werr = EachElement(b, i, func(int, []byte) error { return nil })
			}
			if (werr == nil) != (err == nil) || (err == nil && wend != end) {
				t.Fatalf("walking %q ends at %d, %v; skipping at %d, %v", b, wend, werr, end, err)
			}
		}
		got, err := Unquote(nil, b)
		lit := append(append([]byte{'"'}, b...), '"')
		var want string
		wantErr := json.Unmarshal(lit, &want)
		if (err == nil) != (wantErr == nil) || (err == nil && !bytes.Equal(got, []byte(want))) {
			t.Fatalf("Unquote(%q) = %q, %v; json.Unmarshal gives %q, %v", b, got, err, want, wantErr)
		}
		if err == nil {
			if end, esc, serr := ScanString(lit, 0); serr != nil || end != len(lit) || esc != bytes.Contains(b, []byte{'\\'}) {
				t.Fatalf("ScanString(%q) = %d, %v, %v", lit, end, esc, serr)
			}
		}
	})
}
