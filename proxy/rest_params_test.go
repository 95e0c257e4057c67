package proxy

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// TestRESTPagingAndCastMistakesAreRefused: a limit, offset or Range the request cannot
// mean, and a cast to a type the database does not have, are client mistakes answered in
// PostgREST's format, never every row of the table nor a 500.
func TestRESTPagingAndCastMistakesAreRefused(t *testing.T) {
	ts := restServer(t, "params")
	for _, c := range []struct {
		name, path string
		headers    []string
		status     int
		code, msg  string
	}{
		{"a limit that is not a number is a parse error", "/tags?limit=abc", nil, 400, "PGRST100", `"failed to parse limit parameter (abc)" (line 1, column 1)`},
		{"an offset that is not a number is a parse error", "/tags?offset=abc", nil, 400, "PGRST100", `"failed to parse offset parameter (abc)" (line 1, column 1)`},
		{"a negative offset is a parse error", "/tags?offset=-1", nil, 400, "PGRST100", `"failed to parse offset parameter (-1)" (line 1, column 1)`},
		{"a negative limit is an unsatisfiable range", "/tags?limit=-1", nil, 416, "PGRST103", "Requested range not satisfiable"},
		{"a Range header that is not lower-upper is a parse error", "/tags", []string{"Range: abc"}, 400, "PGRST100", `"failed to parse Range header (abc)" (line 1, column 1)`},
		{"a Range header without a lower bound is a parse error", "/tags", []string{"Range: -3"}, 400, "PGRST100", `"failed to parse Range header (-3)" (line 1, column 1)`},
		{"a Range header whose bounds are reversed is unsatisfiable", "/tags", []string{"Range: 5-2"}, 416, "PGRST103", "Requested range not satisfiable"},
		{"a cast to a name that is no type is an unknown type", "/tags?select=id::" + url.QueryEscape("$$"), nil, 400, "42704", `type "$$" does not exist`},
		{"a cast to an unknown type is an unknown type", "/tags?select=id::nosuchtype", nil, 400, "42704", `type "nosuchtype" does not exist`},
		{"a cast to a type of another schema is an unknown type", "/tags?select=id::" + url.QueryEscape("pg_authid"), nil, 400, "42704", `type "pg_authid" does not exist`},
		{"a cast followed by SQL is a parse error", "/tags?select=id::" + url.QueryEscape("text;drop table tags"), nil, 400, "PGRST100", ""},
		{"an aggregate cast to an unknown type is an unknown type", "/tags?select=id.max()::nosuchtype", nil, 400, "42704", `type "nosuchtype" does not exist`},
		{"a count cast to an unknown type is an unknown type", "/tags?select=count()::" + url.QueryEscape("$x"), nil, 400, "42704", `type "$x" does not exist`},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Twice: the second request must not be answered by a plan cached for a valid one.
			ts.do("GET", "/t/blog/rest/v1/tags?limit=1&offset=0", "", "Range: 0-0")
			ts.do("GET", "/t/blog/rest/v1"+c.path, "")
			for range 2 {
				r := ts.do("GET", "/t/blog/rest/v1"+c.path, "", c.headers...)
				if r.status != c.status {
					t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
				}
				var e struct{ Code, Message string }
				if err := json.Unmarshal([]byte(r.body), &e); err != nil {
					t.Fatalf("body %q: %v", r.body, err)
				}
				if e.Code != c.code || (c.msg != "" && e.Message != c.msg) {
					t.Fatalf("body %s, want code %s message %q", r.body, c.code, c.msg)
				}
			}
		})
	}
	runRESTCases(t, ts, []restCase{
		{name: "a cast to a built-in type still works", method: "GET", path: "/tags?select=id::text&id=eq.1", status: 200, want: `[{"id":"1"}]`},
		{name: "a cast to a built-in type in upper case still works", method: "GET", path: "/tags?select=id::TEXT&id=eq.1", status: 200, want: `[{"id":"1"}]`},
		{name: "a cast to a built-in type of two words still works", method: "GET", path: "/tags?select=id::double%20precision&id=eq.1", status: 200, want: `[{"id":1}]`},
	})
}

// TestRESTRangeHeaderMeetsLimitAndOffset: a Range header with limit/offset parameters
// asks for their intersection, as PostgREST serves it; an empty one is 416. Each case runs
// after a request of the same shape with other values, so the cached plan answers it too.
func TestRESTRangeHeaderMeetsLimitAndOffset(t *testing.T) {
	ts := restServer(t, "ranges")
	for _, c := range []struct {
		name, query, rng string
		warm, warmRange  string // a request of the same shape, other values
		status           int
		want, contentRng string
	}{
		{"a limit cuts the header's range", "limit=2", "1-3", "limit=3", "0-3", 200, `[{"id":2}]`, "1-1/*"},
		{"an offset moves the header's lower bound", "offset=2", "0-3", "offset=1", "0-2", 200, `[{"id":3},{"id":4}]`, "2-3/*"},
		{"an open-ended header meets limit and offset", "limit=2&offset=1", "1-", "limit=3&offset=0", "1-", 200, `[{"id":2},{"id":3}]`, "1-2/*"},
		{"the header's bounds win inside a wider page", "limit=10&offset=0", "2-2", "limit=9&offset=1", "1-3", 200, `[{"id":3}]`, "2-2/*"},
		{"limit=0 answers no rows whatever the header", "limit=0", "2-3", "limit=2", "0-3", 200, `[]`, ""},
		{"an empty intersection is unsatisfiable", "limit=2", "3-3", "limit=2", "0-3", 416, "", ""},
		{"on a function's rows too", "offset=1", "0-1", "offset=0", "0-1", 200, `[{"id":2}]`, "1-1/*"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := "/t/blog/rest/v1/articles?select=id&order=id&"
			if strings.HasPrefix(c.name, "on a function") {
				path = "/t/blog/rest/v1/rpc/articles_by?author=1&select=id&order=id&"
			}
			if r := ts.do("GET", path+c.warm, "", "Range: "+c.warmRange); r.status >= 300 {
				t.Fatalf("warm-up: status %d: %s", r.status, r.body)
			}
			for range 2 {
				r := ts.do("GET", path+c.query, "", "Range: "+c.rng)
				if r.status != c.status {
					t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
				}
				if c.status == 416 {
					var e struct{ Code, Details string }
					if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Code != "PGRST103" || e.Details != "Limit should be greater than or equal to zero." {
						t.Fatalf("body %s", r.body)
					}
					continue
				}
				jsonEq(t, r.body, c.want)
				if c.contentRng != "" && r.header["Content-Range"] != c.contentRng {
					t.Fatalf("Content-Range %q, want %q", r.header["Content-Range"], c.contentRng)
				}
			}
		})
	}
}
