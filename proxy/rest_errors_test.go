package proxy

import "testing"

// TestRESTClientMistakesAreNever500 sends malformed or impossible requests: each gets a
// PostgREST error with a 4xx status.
func TestRESTClientMistakesAreNever500(t *testing.T) {
	ts := restServer(t, "mistakes")
	for _, c := range []struct{ name, method, path, body string }{
		{"a truncated body", "POST", "/tags", `{"id":`},
		{"a body that is a string", "POST", "/tags", `"x"`},
		{"an array body for PATCH", "PATCH", "/tags?id=eq.1", `[{"name":"x"}]`},
		{"a value of the wrong type in the body", "POST", "/tags", `{"id":"abc","name":"x"}`},
		{"an unknown ?columns= column", "POST", "/tags?columns=id,nope", `{"id":5}`},
		{"an unknown cast", "GET", "/tags?select=id::nosuchtype", ""},
		{"an unknown conflict target", "POST", "/tags?on_conflict=name", `{"id":5,"name":"x"}`},
		{"a function argument of the wrong type", "GET", "/rpc/add?a=x&b=1", ""},
		{"an unknown function argument", "GET", "/rpc/add?a=1&c=2", ""},
		{"a broken select", "GET", "/tags?select=id,(", ""},
		{"a broken logic tree", "GET", "/tags?or=(id.eq.1", ""},
		{"an unknown operator", "GET", "/tags?id=nope.1", ""},
		{"PATCH on the rpc path", "PATCH", "/rpc/add", `{}`},
		{"an unknown method", "TRACE", "/tags", ""},
		{"a bad Range header", "GET", "/tags", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			headers := []string{"Prefer: resolution=merge-duplicates"}
			if c.name == "a bad Range header" {
				headers = []string{"Range: 5-2"}
			}
			r := ts.do(c.method, "/t/blog/rest/v1"+c.path, c.body, headers...)
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if r.header["Content-Type"] != "application/json; charset=utf-8" {
				t.Fatalf("content type %q: %s", r.header["Content-Type"], r.body)
			}
		})
	}
}
