package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func serve(t *testing.T, method, path string, headers ...string) *fasthttp.Response {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		ctx.Request.Header.Set(k, strings.TrimSpace(v))
	}
	Serve(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

func TestServeAnswersTheAppItsAssetsAndItsRoutes(t *testing.T) {
	if !Built() {
		t.Fatal("the console is not built into this test binary: run `make build` (console/build) first")
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	if r := serve(t, "GET", "/console"); r.StatusCode() != 302 || !strings.HasSuffix(string(r.Header.Peek("Location")), "/console/") {
		t.Errorf("/console: %d %s", r.StatusCode(), r.Header.Peek("Location"))
	}
	for _, p := range []string{"/console/", "/console/tenants", "/console/t/acme/tables/orders", "/console/signin?next=%2F"} {
		r := serve(t, "GET", p)
		if r.StatusCode() != 200 || !bytes.Equal(r.Body(), index) || !strings.HasPrefix(string(r.Header.ContentType()), "text/html") {
			t.Errorf("%s: %d %s, want index.html", p, r.StatusCode(), r.Header.ContentType())
		}
		if csp := string(r.Header.Peek("Content-Security-Policy")); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if cc := string(r.Header.Peek("Cache-Control")); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q: the page must be revalidated, so a new build is picked up", p, cc)
		}
	}
	// Every asset index.html names is served, cached for good, and compressed on request.
	assets, _ := fs.Glob(files, "assets/*")
	if len(assets) == 0 {
		t.Fatal("no assets in the build")
	}
	for _, a := range assets {
		if !bytes.Contains(index, []byte(a)) && strings.HasSuffix(a, ".css") {
			t.Errorf("index.html does not link %s", a)
		}
		raw, _ := fs.ReadFile(files, a)
		r := serve(t, "GET", "/console/"+a)
		if r.StatusCode() != 200 || !bytes.Equal(r.Body(), raw) || !strings.Contains(string(r.Header.Peek("Cache-Control")), "immutable") {
			t.Errorf("%s: %d, cache %q", a, r.StatusCode(), r.Header.Peek("Cache-Control"))
		}
		if strings.HasSuffix(a, ".js") && !strings.Contains(string(r.Header.ContentType()), "javascript") {
			t.Errorf("%s: content type %s", a, r.Header.ContentType())
		}
		if len(raw) > 1024 {
			z := serve(t, "GET", "/console/"+a, "Accept-Encoding: gzip, br")
			if string(z.Header.Peek("Content-Encoding")) != "gzip" {
				t.Errorf("%s: not compressed", a)
				continue
			}
			zr, err := gzip.NewReader(bytes.NewReader(z.Body()))
			if err != nil {
				t.Fatal(err)
			}
			unz, _ := io.ReadAll(zr)
			if !bytes.Equal(unz, raw) || len(z.Body()) >= len(raw) {
				t.Errorf("%s: gzip body does not inflate to the file, or is not smaller", a)
			}
		}
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/console/assets/gone-1234.js", 404},  // an older build's asset: not the app
		{"GET", "/console/../../etc/passwd.txt", 404}, // cleaned below /console
		{"POST", "/console/", 405},
		{"DELETE", "/console/tenants", 405},
	} {
		if r := serve(t, c.method, c.path); r.StatusCode() != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, r.StatusCode(), c.status)
		}
	}
}
