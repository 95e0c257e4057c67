package rest

import (
	"errors"
	"strings"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	for _, q := range corpus {
		f.Add("GET", "/items", q, "count=exact", "0-24")
	}
	for _, q := range []string{"or=(a.eq.1", "select=a(b(c(", "a=in.(\"x", "or=(a.eq.\"x\\", "a=fts(", "select=a->>-", "order=a(b).desc.nullsfirst,c", "x=like(all).{a*,b}"} {
		f.Add("GET", "/t", q, "", "")
	}
	f.Add("POST", "/rpc/fn", "columns=a,b&on_conflict=a", "return=representation,resolution=merge-duplicates", "")
	// A Range header with the root's limit and offset: their intersection is bound.
	f.Add("GET", "/items", "limit=2&offset=1", "", "1-5")
	f.Add("GET", "/items", "offset=3&a.limit=1", "", "0-1")
	f.Add("GET", "/rpc/fn", "limit=00", "", "3-")
}

// FuzzParseRequest: no panics; errors are typed PostgREST errors; an accepted request
// binds exactly the Shaper's values.
func FuzzParseRequest(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, method, path, q, prefer, rng string) {
		h := hdrs{"Prefer": {prefer}, "Range": {rng}}
		r, err := ParseRequest(method, path, []byte(q), h)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Status < 300 || e.Status > 499 {
				t.Fatalf("untyped error %v", err)
			}
			if e.Code == CodeQueryParam && e.Status != 400 {
				t.Fatalf("PGRST100 with status %d", e.Status)
			}
			return
		}
		checkSlots(t, method, path, q, h, r)
	})
}

// FuzzShape: no panics, the key starts with the method, and when the grammar accepts
// the request the Shaper's values bind every slot the parser recorded.
func FuzzShape(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, method, path, q, prefer, rng string) {
		h := hdrs{"Prefer": {prefer}, "Range": {rng}}
		k1, _ := shapeOf(method, path, q, h)
		if !strings.HasPrefix(k1, method+" ") {
			t.Fatalf("key %q", k1)
		}
		if _, err := ParseRequest(method, path, []byte(q), h); err == nil {
			r, _ := ParseRequest(method, path, []byte(q), h)
			checkSlots(t, method, path, q, h, r)
		}
	})
}

// FuzzAppendBodyKeys: no panics; failures are PGRST102.
func FuzzAppendBodyKeys(f *testing.F) {
	for _, b := range []string{`{"a":1,"b":[1,{"c":"}"}]}`, `[{"id":1},{"id":2}]`, `{"a":"\"x"}`, `[`, `{"a"`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := AppendBodyKeys(nil, body); err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalidBody {
				t.Fatalf("untyped error %v", err)
			}
		}
	})
}

// FuzzCompile: every request the grammar accepts either compiles against the test
// catalog, with every placeholder bound, or fails with a typed error or ErrNotLowered;
// never a panic or an sqlgen failure (that would be a 500 for a client mistake).
func FuzzCompile(f *testing.F) {
	fuzzSeeds(f)
	for _, q := range []string{"select=title,authors!author_id(name)&id=gt.1", "select=author_id,id.sum(),count()", "select=title,...authors!author_id(name)"} {
		f.Add("GET", "/articles", q, "count=exact", "")
	}
	f.Add("POST", "/tags", "select=id", "return=representation,missing=default", "")
	f.Add("PATCH", "/articles", "id=eq.1&select=title,tags(name)", "return=representation", "")
	f.Add("POST", "/rpc/by_author", "select=title&order=id", "", "")
	cat := testCatalog()
	f.Fuzz(func(t *testing.T, method, path, q, prefer, rng string) {
		h := hdrs{"Prefer": {prefer}, "Range": {rng}}
		r, err := ParseRequest(method, path, []byte(q), h)
		if err != nil {
			return
		}
		st, err := Compile(cat, r, []byte(`{"id":1,"name":"x","author":1}`))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) && !errors.Is(err, ErrNotLowered) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var s Shaper
		_, vals := s.Shape([]byte(method), []byte(path), []byte(q), h, nil, nil)
		for _, src := range st.Sources {
			if src >= len(vals) || src < -1-len(st.Consts) {
				t.Fatalf("placeholder source %d out of range (%d values, %d consts)", src, len(vals), len(st.Consts))
			}
		}
	})
}
