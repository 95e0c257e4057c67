package proxy

import (
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// corsServer serves the REST fixture as tenant "blog" with the given CORS settings.
func corsServer(t *testing.T, c control.CORSConfig) *testServer {
	testenv.FreshSchema(t, "rest_t_cors", restFixtureDDL)
	return startServer(t, &control.Config{DefaultTenant: "blog", CORS: c, Tenants: []*control.TenantConfig{
		{Name: "blog", Schemas: []string{"rest_t_cors"}},
	}})
}

func TestCORSByDefaultAnyOriginMayCallTheTenantAPIs(t *testing.T) {
	ts := corsServer(t, control.CORSConfig{})
	const app = "http://localhost:5173"

	t.Run("a preflight is answered 200 with the method and headers asked for, without credentials", func(t *testing.T) {
		r := ts.do("OPTIONS", "/t/blog/rest/v1/authors?select=*", "", "Origin: "+app,
			"Access-Control-Request-Method: PATCH", "Access-Control-Request-Headers: authorization, apikey, x-client-info, prefer, content-type")
		if r.status != 200 || r.body != "" {
			t.Fatalf("%d %q", r.status, r.body)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      app,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Headers":     "authorization, apikey, x-client-info, prefer, content-type",
			"Access-Control-Max-Age":           "86400",
			"Vary":                             "Origin",
		}
		for k, v := range want {
			if r.header[k] != v {
				t.Errorf("%s = %q, want %q", k, r.header[k], v)
			}
		}
		if !strings.Contains(r.header["Access-Control-Allow-Methods"], "PATCH") {
			t.Errorf("Allow-Methods %q", r.header["Access-Control-Allow-Methods"])
		}
	})
	t.Run("a preflight for an unknown tenant is answered too: the request's 404 is readable", func(t *testing.T) {
		r := ts.do("OPTIONS", "/t/nobody/v1/graphql", "", "Origin: "+app, "Access-Control-Request-Method: POST")
		if r.status != 200 || r.header["Access-Control-Allow-Origin"] != app || r.header["Access-Control-Allow-Headers"] == "" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		r = ts.do("POST", "/t/nobody/v1/graphql", `{"query":"{__typename}"}`, "Origin: "+app)
		if r.status != 404 || r.header["Access-Control-Allow-Origin"] != app {
			t.Fatalf("%d %v %s", r.status, r.header, r.body)
		}
	})
	t.Run("a response carries the origin and exposes Content-Range, which counts need", func(t *testing.T) {
		r := ts.do("GET", "/t/blog/rest/v1/authors?select=id", "", "Origin: "+app, "Prefer: count=exact")
		if r.status != 200 || r.header["Access-Control-Allow-Origin"] != app || r.header["Content-Range"] == "" {
			t.Fatalf("%d %v", r.status, r.header)
		}
		for _, h := range []string{"Content-Range", "Location", "X-Request-Id", "Retry-After", "X-Supabase-Api-Version"} {
			if !strings.Contains(r.header["Access-Control-Expose-Headers"], h) {
				t.Errorf("%s is not exposed: %q", h, r.header["Access-Control-Expose-Headers"])
			}
		}
	})
	t.Run("an error is readable by the page", func(t *testing.T) {
		r := ts.do("GET", "/t/blog/rest/v1/nope", "", "Origin: "+app)
		if r.status != 404 || r.header["Access-Control-Allow-Origin"] != app {
			t.Fatalf("%d %v", r.status, r.header)
		}
	})
	t.Run("a plain OPTIONS (no preflight) still reaches the API", func(t *testing.T) {
		r := ts.do("OPTIONS", "/t/blog/rest/v1/authors", "", "Origin: "+app)
		if r.header["Access-Control-Allow-Origin"] != app || r.header["Access-Control-Allow-Methods"] != "" {
			t.Fatalf("%d %v", r.status, r.header)
		}
	})
	t.Run("a request without Origin gets no CORS header", func(t *testing.T) {
		r := ts.do("GET", "/t/blog/rest/v1/authors?select=id", "")
		if r.status != 200 || r.header["Access-Control-Allow-Origin"] != "" {
			t.Fatalf("%d %v", r.status, r.header)
		}
	})
	t.Run("origins that are not http(s) origins are not echoed", func(t *testing.T) {
		for _, o := range []string{"null", "file://", "chrome-extension://abc", "http://a.test/path", "javascript:alert(1)"} {
			r := ts.do("OPTIONS", "/t/blog/rest/v1/authors", "", "Origin: "+o, "Access-Control-Request-Method: GET")
			if r.header["Access-Control-Allow-Origin"] != "" {
				t.Errorf("%s: %v", o, r.header)
			}
		}
	})
	t.Run("requested headers that are not a list of names are not echoed", func(t *testing.T) {
		r := ts.do("OPTIONS", "/t/blog/rest/v1/authors", "", "Origin: "+app,
			"Access-Control-Request-Method: GET", "Access-Control-Request-Headers: x-a, <script>")
		if got := r.header["Access-Control-Allow-Headers"]; got != corsHeaders {
			t.Fatalf("%q", got)
		}
	})
	t.Run("the admin API and /metrics never allow another origin", func(t *testing.T) {
		for _, p := range []string{"/admin/v1/tenants", "/metrics", "/healthz"} {
			r := ts.do("OPTIONS", p, "", "Origin: "+app, "Access-Control-Request-Method: GET")
			if r.header["Access-Control-Allow-Origin"] != "" {
				t.Errorf("%s: %v", p, r.header)
			}
		}
	})
}

func TestCORSAllowsOnlyTheConfiguredOrigins(t *testing.T) {
	ts := corsServer(t, control.CORSConfig{AllowedOrigins: []string{"https://app.example.com", "https://*.preview.example.com"}})
	for origin, allowed := range map[string]bool{
		"https://app.example.com":             true,
		"https://pr-7.preview.example.com":    true,
		"https://a.b.preview.example.com":     true,
		"https://preview.example.com":         false,
		"http://app.example.com":              false,
		"https://app.example.com.evil.test":   false,
		"https://evilpreview.example.com":     false,
		"https://app.example.com:8443":        false,
		"https://pr-7.preview.example.com.io": false,
	} {
		r := ts.do("GET", "/t/blog/rest/v1/authors?select=id", "", "Origin: "+origin)
		if got := r.header["Access-Control-Allow-Origin"]; (got == origin) != allowed || (got != "" && got != origin) {
			t.Errorf("%s: Allow-Origin %q, allowed %v", origin, got, allowed)
		}
		if r.status != 200 {
			t.Errorf("%s: %d (the server answers; the browser decides)", origin, r.status)
		}
	}
}

func TestCORSCanBeDisabled(t *testing.T) {
	ts := corsServer(t, control.CORSConfig{Disabled: true})
	r := ts.do("OPTIONS", "/t/blog/rest/v1/authors", "", "Origin: http://localhost:5173", "Access-Control-Request-Method: GET")
	if r.header["Access-Control-Allow-Origin"] != "" || r.header["Access-Control-Allow-Methods"] != "" {
		t.Fatalf("%v", r.header)
	}
}

func TestCORSConfigRefusesWhatIsNotAnOrigin(t *testing.T) {
	for _, o := range []string{"app.example.com", "https://app.example.com/", "https://*.*.example.com", "ftp://x.test", "https://App.example.com", "https://*"} {
		c := &control.Config{CORS: control.CORSConfig{AllowedOrigins: []string{o}}}
		if err := c.Normalize(); err == nil || !strings.Contains(err.Error(), "cors.allowed_origins") {
			t.Errorf("%s: %v", o, err)
		}
	}
}
