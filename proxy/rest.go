package proxy

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/cache"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/aispec"
	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/openapi"
	"github.com/kapok-dev/kapok/planner/rest"
)

// restState is the per-request scratch space of the REST handler, pooled so a cache
// hit allocates almost nothing.
type restState struct {
	x      exchange
	shaper rest.Shaper
	vals   [][]byte
	path   string // the last request path, reused while it repeats
}

var restStates = sync.Pool{New: func() any { return &restState{x: exchange{buf: make([]byte, 0, 4096)}} }}

var (
	restKeyMark = []byte{0, 'r'}
	restRoot    = []byte("/")
)

// rest serves /rest/v1/… of tenant t; path is the request path below the tenant prefix.
func (a *apis) rest(ctx *fasthttp.RequestCtx, t *control.Tenant, path []byte) string {
	st := restStates.Get().(*restState)
	defer func() {
		st.x.from, st.x.header = origin{}, nil
		if cap(st.x.buf) <= 1<<20 && cap(st.x.w.Scratch) <= 1<<20 {
			restStates.Put(st)
		}
	}()
	res := path[len(prefixREST):]
	if len(res) == 0 {
		res = restRoot
	} else if res[0] != '/' {
		writeRESTError(ctx, fasthttp.StatusNotFound, rest.CodeInvalidPath, "Invalid path specified in request URL", nil, nil)
		return outcomeClientError
	}
	if ctx.IsOptions() {
		ctx.Response.Header.Set("Allow", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
		ctx.SetStatusCode(fasthttp.StatusOK)
		return outcomeOK
	}
	body := ctx.PostBody()
	if len(body) > t.Config.Limits.MaxBodyBytes {
		a.s.metrics.rejected.WithLabelValues("body_too_large").Inc()
		writeBodyTooLarge(ctx, routeREST, t.Config.Limits.MaxBodyBytes)
		return outcomeClientError
	}
	who, snap, outcome := a.restPrelude(ctx, t)
	if snap == nil {
		return outcome
	}
	x := &st.x
	x.reset()
	// Admission comes before any work for the request, compiling included.
	pool, err := a.pool(t)
	if err != nil {
		a.s.requestLog(ctx).Error("tenant pool", "tenant", t.Name, "err", err)
		writeRESTFault(ctx, dbFault{status: fasthttp.StatusServiceUnavailable, code: "PGRST000", message: msgConnection})
		return outcomeError
	}
	adm, err := pool.Admit(context.Background())
	if err != nil {
		return a.writeRefusal(ctx, x, restDoor{}, err)
	}
	defer adm.Release()

	method := ctx.Method()
	h := &ctx.Request.Header
	rawQuery := ctx.URI().QueryString()
	x.key = cache.AppendKey(x.key[:0], t.Name, snap.Version, who.Role, 0)
	x.key = append(x.key, restKeyMark...)
	x.key, st.vals = st.shaper.Shape(method, res, rawQuery, h, x.key, st.vals[:0])
	if (string(method) == fasthttp.MethodPost || string(method) == fasthttp.MethodPut) && rest.BodyIsObject(body) {
		x.key = append(x.key, 0, 'O') // an insert of one object reads it as a record, not a set
	}
	if restBodyShapesSQL(method, res, rawQuery) {
		x.key = append(x.key, 0, 'B')
		if x.key, err = rest.AppendBodyKeys(x.key, body); err != nil {
			restDoor{}.compileFailure(a, origin{req: ctx}, &x.w, err)
			writeResponse(ctx, &x.w)
			return outcomeClientError
		}
	}
	isRoot := bytes.Equal(res, restRoot)
	if isRoot {
		x.key = append(x.key, 0)
		x.key = append(x.key, ctx.Path()...)
	}
	x.in = planner.Input{Values: st.vals, Body: body, Head: string(method) == fasthttp.MethodHead, Anonymous: anonymous(t, who)}
	x.pool = pool
	x.from = origin{req: ctx}
	x.session = who.withSession()
	if x.session {
		if p := ctx.Path(); st.path != string(p) {
			st.path = string(p)
		}
		x.sess = who.session(methodName(method), st.path)
		x.header = h // written into x.sess.Headers only if the plan can read it
	}
	outcome = a.execute(x, restDoor{}, func() (planner.Executable, error) {
		req, err := rest.ParseRequest(string(method), string(res), rawQuery, h)
		if err != nil {
			return nil, err
		}
		if req.Action == rest.ActionSchema {
			opts := openapi.Options{BaseURL: string(ctx.Path()[:len(ctx.Path())-len(res)])}
			if t.Config.Auth != nil {
				opts.AnonRole = t.Config.Auth.AnonRole
			}
			doc, err := openapi.Build(docCatalog(snap, who), opts)
			if err != nil {
				return nil, err
			}
			return &planner.Document{Body: doc, ContentType: "application/openapi+json; charset=utf-8"}, nil
		}
		return rest.Compile(snap.Catalog, req, body)
	})
	writeResponse(ctx, &x.w)
	return outcome
}

// restPrelude applies the tenant's guard and authentication and returns the principal
// and the catalog snapshot; on refusal it answers the request and returns a nil snapshot
// and the outcome.
func (a *apis) restPrelude(ctx *fasthttp.RequestCtx, t *control.Tenant) (principal, *control.Snapshot, string) {
	g, err := a.guardFor(t)
	if err != nil {
		a.s.requestLog(ctx).Error("tenant guard", "tenant", t.Name, "err", err)
		writeRESTError(ctx, fasthttp.StatusInternalServerError, "PGRST000", "the tenant's access settings are invalid", nil, nil)
		return principal{}, nil, outcomeError
	}
	if !a.admit(ctx, g, routeREST) {
		return principal{}, nil, outcomeRejected
	}
	// Before authenticating: a cold tenant's first load creates its role and grants (the
	// registry's change hooks), and the roles a credential may name depend on them.
	snap, err := a.s.reg.Ensure(ctx, t)
	if err != nil {
		writeRESTFault(ctx, dbFault{status: fasthttp.StatusServiceUnavailable, code: "PGRST002", message: msgNoSchema})
		return principal{}, nil, outcomeError
	}
	who, err := g.authenticate(ctx)
	if err != nil {
		var ae *authError
		errors.As(err, &ae)
		code := "PGRST301"
		if ae.status == fasthttp.StatusForbidden {
			code = "42501"
		}
		writeRESTError(ctx, ae.status, code, ae.message, nil, nil)
		return principal{}, nil, outcomeRejected
	}
	return who, snap, outcomeOK
}

var pathAISpec = []byte("/ai-spec.md")

// docs serves /swagger.json (the OpenAPI document of GET /rest/v1/) and /ai-spec.md,
// built once per tenant, catalog version, role and address.
func (a *apis) docs(ctx *fasthttp.RequestCtx, t *control.Tenant, path []byte) string {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		writeJSONError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use GET")
		return outcomeClientError
	}
	who, snap, outcome := a.restPrelude(ctx, t)
	if snap == nil {
		return outcome
	}
	prefix := string(ctx.Path()[:len(ctx.Path())-len(path)])
	host := string(ctx.Host())
	key := cache.AppendKey(nil, t.Name, snap.Version, who.Role, 0)
	key = append(key, 0, 'd')
	key = append(key, path...)
	key = append(key, 0)
	key = append(key, prefix...)
	key = append(key, 0)
	key = append(key, host...)
	x := exchange{from: origin{req: ctx}}
	x.key = key
	x.in.Head = ctx.IsHead()
	outcome = a.execute(&x, restDoor{}, func() (planner.Executable, error) {
		anon := ""
		if t.Config.Auth != nil {
			anon = t.Config.Auth.AnonRole
		}
		var doc []byte
		var err error
		contentType := "application/openapi+json; charset=utf-8"
		if bytes.Equal(path, pathAISpec) {
			opts := aispec.Options{Tenant: t.Name, URL: "http://" + host, AnonRole: anon,
				Open: a.s.cfg.OpenTenant(t.Config), AdminDisabled: a.s.cfg.AdminKey == ""}
			if !a.s.cfg.Wire.Disabled && a.s.cfg.WireListen != "" {
				opts.WireAddr = a.s.cfg.WireListen
			}
			if t.Config.Auth != nil {
				opts.RoleClaim = t.Config.Auth.RoleClaim
				if u := t.Config.Auth.Users; u != nil {
					opts.Users, opts.AuthenticatedRole = true, t.Config.Auth.AuthenticatedRole
					for name := range u.External {
						opts.Providers = append(opts.Providers, name)
					}
					slices.Sort(opts.Providers)
				}
				// The anon key grants only what a request that reaches this document has
				// already: the examples can then run as written.
				if keys, kerr := control.KeysFor(t.Name, t.Config.Auth); kerr == nil && anon != "" {
					opts.AnonKey = keys.Anon
				}
			}
			doc, err = aispec.Build(docCatalog(snap, who), opts)
			contentType = "text/markdown; charset=utf-8"
		} else {
			doc, err = openapi.Build(docCatalog(snap, who), openapi.Options{BaseURL: prefix + string(prefixREST), AnonRole: anon})
		}
		if err != nil {
			return nil, err
		}
		return &planner.Document{Body: doc, ContentType: contentType}, nil
	})
	writeResponse(ctx, &x.w)
	return outcome
}

// restBodyShapesSQL tells whether the body's key set is part of the request's shape:
// writes without ?columns= and POST rpc calls.
func restBodyShapesSQL(method, res, rawQuery []byte) bool {
	switch string(method) {
	case fasthttp.MethodPost:
		if bytes.HasPrefix(res, []byte("/rpc/")) {
			return true
		}
	case fasthttp.MethodPatch, fasthttp.MethodPut:
	default:
		return false
	}
	// With ?columns= the payload's keys do not shape the statement. A value cannot hold
	// a raw '&', so this finds only the parameter itself.
	return !bytes.HasPrefix(rawQuery, []byte("columns=")) && !bytes.Contains(rawQuery, []byte("&columns="))
}

// appendHeadersJSON writes the request headers as a JSON object with lower-case names,
// the shape PostgREST gives request.headers.
func appendHeadersJSON(dst []byte, h *fasthttp.RequestHeader) []byte {
	dst = append(dst, '{')
	first := true
	for k, v := range h.All() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		for _, c := range k {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = appendJSONByte(dst, c)
		}
		dst = append(dst, `":"`...)
		for _, c := range v {
			dst = appendJSONByte(dst, c)
		}
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

func appendJSONByte(dst []byte, c byte) []byte {
	switch {
	case c == '"' || c == '\\':
		return append(dst, '\\', c)
	case c < 0x20:
		const hex = "0123456789abcdef"
		return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
	}
	return append(dst, c)
}

// methodName returns the request method as a constant string, so a session costs no
// allocation for it.
func methodName(m []byte) string {
	for _, s := range [...]string{fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPost, fasthttp.MethodPatch, fasthttp.MethodPut, fasthttp.MethodDelete} {
		if string(m) == s {
			return s
		}
	}
	return string(m)
}

// anonymous reports whether who runs as the tenant's anonymous role (a permission error
// is then 401, asking for credentials, rather than 403).
func anonymous(t *control.Tenant, who principal) bool {
	return !who.Admin && len(who.Claims) == 0 && t.Config.Auth != nil && who.Role == t.Config.Auth.AnonRole
}

// The REST door answers in PostgREST's error body and statuses.
type restDoor struct{}

func (restDoor) name() string { return "rest" }

func (restDoor) compileFailure(a *apis, from origin, w *planner.Response, err error) string {
	var re *rest.Error
	if errors.As(err, &re) {
		rest.WriteError(w, re)
		return outcomeClientError
	}
	if errors.Is(err, rest.ErrNotLowered) {
		rest.WriteError(w, &rest.Error{Status: fasthttp.StatusNotImplemented, Code: "PGRST501", Message: "not implemented yet: " + err.Error()})
		return outcomeClientError
	}
	a.logger(from).Error("rest compile", "err", err)
	rest.WriteError(w, &rest.Error{Status: fasthttp.StatusInternalServerError, Code: "PGRST000", Message: "internal error compiling the request"})
	return outcomeError
}

func (restDoor) fault(w *planner.Response, f dbFault) {
	rest.WriteError(w, &rest.Error{Status: f.status, Code: f.code, Message: f.message, Details: f.details})
}

func (restDoor) rejected(w *planner.Response, status int, message string) {
	rest.WriteError(w, &rest.Error{Status: status, Code: "PGRST003", Message: message})
}

func (restDoor) timeout(w *planner.Response) {
	rest.WriteError(w, &rest.Error{Status: fasthttp.StatusGatewayTimeout, Code: "57014", Message: "request timed out"})
}

func (restDoor) internal(w *planner.Response, message string) {
	rest.WriteError(w, &rest.Error{Status: fasthttp.StatusInternalServerError, Code: "PGRST000", Message: message})
}

// docCatalog is what a caller's documents describe: everything for the admin, else only what
// the caller's role may use, as PostgREST's OpenAPI follows privileges. Requests themselves
// compile against the whole catalog, so a table the role may not use answers 401/403 from
// Postgres, as in PostgREST, rather than 404.
func docCatalog(snap *control.Snapshot, who principal) *catalog.Schema {
	if who.SchemaRole == "" {
		return snap.Catalog
	}
	return snap.Catalog.VisibleTo(who.SchemaRole)
}
