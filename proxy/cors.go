package proxy

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
)

// cors answers browsers' cross-origin checks on the tenant APIs, as PostgREST does: an
// allowed origin is echoed with credentials allowed, a preflight gets the methods and the
// headers it asked for, and the response headers clients read (Content-Range for counts,
// Location, Retry-After, the request id) are exposed. An origin that is not allowed gets
// no CORS header at all, so its browser refuses the call.
type cors struct {
	anyOrigin bool
	exact     map[string]bool
	wildcards [][2]string // {"https://", ".example.com"} for https://*.example.com
	maxAge    string
}

// newCORS returns nil when CORS is disabled.
func newCORS(c control.CORSConfig) *cors {
	if c.Disabled {
		return nil
	}
	r := &cors{exact: map[string]bool{}, maxAge: strconv.Itoa(int(c.MaxAge.D().Seconds()))}
	for _, o := range c.AllowedOrigins {
		switch scheme, host, _ := strings.Cut(o, "://"); {
		case o == "*":
			r.anyOrigin = true
		case strings.HasPrefix(host, "*."):
			r.wildcards = append(r.wildcards, [2]string{scheme + "://", host[1:]})
		default:
			r.exact[o] = true
		}
	}
	return r
}

// The methods the APIs answer, and the response headers a page's script may read.
const (
	corsMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"
	corsExpose  = "Content-Encoding, Content-Location, Content-Profile, Content-Range, Content-Type, Date, Location, " +
		"Preference-Applied, Range-Unit, Retry-After, Server, Transfer-Encoding, X-Request-Id, X-Supabase-Api-Version"
	// corsHeaders is the preflight's answer when the browser named no header it will send.
	corsHeaders = "Authorization, Apikey, Content-Type, Prefer, Range, Accept-Profile, Content-Profile, X-Client-Info"
)

// allows reports whether a page of origin may call the tenant APIs. Only http(s)
// origins qualify: "null" (a sandboxed frame, a file) never does.
func (c *cors) allows(origin []byte) bool {
	o := string(origin)
	scheme, host, ok := strings.Cut(o, "://")
	if !ok || (scheme != "http" && scheme != "https") || host == "" || strings.ContainsAny(host, "/?#@ \t") {
		return false
	}
	if c.anyOrigin || c.exact[o] {
		return true
	}
	for _, w := range c.wildcards {
		// The subdomain is one or more labels before the suffix, which may carry a port.
		if rest, ok := strings.CutPrefix(o, w[0]); ok && strings.HasSuffix(rest, w[1]) && len(rest) > len(w[1]) {
			return true
		}
	}
	return false
}

var (
	headerOrigin        = []byte("Origin")
	headerRequestMethod = []byte("Access-Control-Request-Method")
)

// apply adds the CORS headers to a tenant API's response when the request comes from an
// allowed origin, and answers a preflight itself (then it reports true).
func (c *cors) apply(ctx *fasthttp.RequestCtx) bool {
	if c == nil {
		return false
	}
	h := &ctx.Request.Header
	origin := h.PeekBytes(headerOrigin)
	if len(origin) == 0 || !c.allows(origin) {
		return false
	}
	rh := &ctx.Response.Header
	rh.SetBytesV("Access-Control-Allow-Origin", origin)
	rh.Set("Access-Control-Allow-Credentials", "true")
	rh.Add("Vary", "Origin")
	if !ctx.IsOptions() || len(h.PeekBytes(headerRequestMethod)) == 0 {
		rh.Set("Access-Control-Expose-Headers", corsExpose)
		return false
	}
	// A preflight: the browser asks whether the request it is about to send may go.
	rh.Set("Access-Control-Allow-Methods", corsMethods)
	if asked := h.Peek("Access-Control-Request-Headers"); len(asked) > 0 && validHeaderList(asked) {
		rh.SetBytesV("Access-Control-Allow-Headers", asked)
	} else {
		rh.Set("Access-Control-Allow-Headers", corsHeaders)
	}
	rh.Set("Access-Control-Max-Age", c.maxAge)
	ctx.SetStatusCode(fasthttp.StatusOK)
	return true
}

// validHeaderList reports whether v is a comma-separated list of header names (RFC 9110
// tokens), so that echoing it cannot carry anything else.
func validHeaderList(v []byte) bool {
	if len(v) > 2048 {
		return false
	}
	for _, name := range bytes.Split(v, []byte(",")) {
		name = bytes.TrimSpace(name)
		if len(name) == 0 {
			return false
		}
		for _, b := range name {
			if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0) {
				return false
			}
		}
	}
	return true
}
