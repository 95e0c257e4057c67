package proxy

import (
	"encoding/json"
	"net/url"
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
