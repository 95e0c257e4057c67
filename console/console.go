package console

import (
	"bytes"
	"embed"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/valyala/fasthttp"
)

// Prefix is the path the console is served under.
const Prefix = "/console"

//go:embed all:dist
var dist embed.FS

// files is the built app; nil when this binary was built without it (go build without
// `make build`), and then the console answers a page saying how to build it.
var files = func() fs.FS {
	sub, err := fs.Sub(dist, "dist/app")
	if err != nil {
		return nil
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		return nil
	}
	return sub
}()

// Built reports whether this binary embeds the console.
func Built() bool { return files != nil }

// Serve answers a request whose path is /console or under it: the app's files, and
// index.html for any other path below /console (the app routes on the client), so a
// reloaded or shared console URL opens its page.
func Serve(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		ctx.Error("the console only answers GET and HEAD", fasthttp.StatusMethodNotAllowed)
		return
	}
	p := string(ctx.Path())
	if p == Prefix {
		ctx.Redirect(Prefix+"/", fasthttp.StatusFound)
		return
	}
	securityHeaders(&ctx.Response.Header)
	if files == nil {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetContentType("text/html; charset=utf-8")
		ctx.SetBodyString(notBuiltPage)
		return
	}
	name := strings.TrimPrefix(path.Clean(strings.TrimPrefix(p, Prefix+"/")), "/")
	if name == "." || name == "" {
		name = "index.html"
	}
	b, err := fs.ReadFile(files, name)
	switch {
	case err == nil && strings.HasPrefix(name, "assets/"):
		// Vite names assets after their content: they never change under one name.
		ctx.Response.Header.Set("Cache-Control", "public, max-age=31536000, immutable")
	case err == nil && name != "index.html":
		ctx.Response.Header.Set("Cache-Control", "no-cache")
	case path.Ext(name) != "" && name != "index.html":
		// A missing file (an asset of an older build, a typo) is a 404, not the app.
		ctx.Error("not found", fasthttp.StatusNotFound)
		return
	default:
		name = "index.html"
		if b, err = fs.ReadFile(files, name); err != nil {
			ctx.Error("the console's index.html is missing from this build", fasthttp.StatusInternalServerError)
			return
		}
	}
	if name == "index.html" {
		ctx.Response.Header.Set("Cache-Control", "no-cache")
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	ctx.SetContentType(ctype)
	if bytes.Contains(ctx.Request.Header.Peek("Accept-Encoding"), []byte("gzip")) && len(b) > 1024 && compressible(ctype) {
		ctx.Response.Header.Set("Vary", "Accept-Encoding")
		ctx.Response.Header.Set("Content-Encoding", "gzip")
		ctx.SetBody(gzipped(name, b))
		return
	}
	ctx.SetBody(b)
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "javascript") ||
		strings.Contains(ctype, "json") || strings.Contains(ctype, "svg")
}

// securityHeaders keep the console's pages to their own origin: no framing, no inline or
// foreign scripts, and calls only to this origin (the admin API and the tenants' APIs).
func securityHeaders(h *fasthttp.ResponseHeader) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

const notBuiltPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Kapok console</title></head>
<body style="font-family:system-ui;background:#09090b;color:#e4e4e7;padding:3rem">
<h1>The console is not in this build</h1>
<p>This binary was built without the console's files. Build it with <code>make build</code>
(it runs <code>npm ci</code> and <code>vite build</code> in <code>console/</code>, then <code>go build</code>).</p>
</body></html>`
