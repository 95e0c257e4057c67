package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/cache"
	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/planner/aispec"
	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/ir"
	"github.com/kapok-dev/kapok/planner/openapi"
	"github.com/kapok-dev/kapok/planner/rest"
	"github.com/kapok-dev/kapok/poolmgr"
)

// restPlan is a compiled REST request: a statement, or the API document of GET /.
type restPlan struct {
	st  *rest.Statement
	doc []byte
	// offset is the request value holding the root offset (-1: none), for Content-Range.
	offset int
}

var errPlanKind = errors.New("proxy: plan cache entry belongs to another API")

// restState is the per-request scratch space of the REST handler, pooled so a cache
// hit allocates almost nothing.
type restState struct {
	shaper  rest.Shaper
	key     []byte
	vals    [][]byte
	args    [][]byte
	out     []byte
	headers []byte
	crange  []byte
	path    string // the last request path, reused while it repeats
	stmts   [1]poolmgr.Statement
	sess    poolmgr.Session
	preq    poolmgr.Request
}

var restStates = sync.Pool{New: func() any { return &restState{out: make([]byte, 0, 4096)} }}

var (
	restKeyMark = []byte{0, 'r'}
	restRoot    = []byte("/")
)

// rest serves /rest/v1/… of tenant t; path is the request path below the tenant prefix.
func (a *apis) rest(ctx *fasthttp.RequestCtx, t *control.Tenant, path []byte) string {
	st := restStates.Get().(*restState)
	defer func() {
		if cap(st.out) <= 1<<20 {
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
	// Admission comes before any work for the request, compiling included.
	pool, err := a.pool(t)
	if err != nil {
		a.s.log.Error("tenant pool", "tenant", t.Name, "err", err)
		writeRESTFault(ctx, dbFault{status: fasthttp.StatusServiceUnavailable, code: "PGRST000", message: msgConnection})
		return outcomeError
	}
	c := context.Background()
	adm, err := pool.Admit(c)
	if err != nil {
		return a.restRejected(ctx, err)
	}
	defer adm.Release()

	method := ctx.Method()
	h := &ctx.Request.Header
	rawQuery := ctx.URI().QueryString()
	st.key = cache.AppendKey(st.key[:0], t.Name, snap.Version, who.Role, 0)
	st.key = append(st.key, restKeyMark...)
	st.key, st.vals = st.shaper.Shape(method, res, rawQuery, h, st.key, st.vals[:0])
	if (string(method) == fasthttp.MethodPost || string(method) == fasthttp.MethodPut) && rest.BodyIsObject(body) {
		st.key = append(st.key, 0, 'O') // an insert of one object reads it as a record, not a set
	}
	if restBodyShapesSQL(method, res, rawQuery) {
		st.key = append(st.key, 0, 'B')
		if st.key, err = rest.AppendBodyKeys(st.key, body); err != nil {
			return a.restFailure(ctx, err)
		}
	}
	isRoot := bytes.Equal(res, restRoot)
	if isRoot {
		st.key = append(st.key, 0)
		st.key = append(st.key, ctx.Path()...)
	}
	pl, err := a.plans.getREST(st.key, func() (*restPlan, error) {
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
			return &restPlan{doc: doc, offset: -1}, nil
		}
		s, err := rest.Compile(snap.Catalog, req, body)
		if err != nil {
			return nil, err
		}
		p := &restPlan{st: s, offset: -1}
		if rg := req.RootRange(); rg != nil && rg.Offset != nil {
			p.offset = rg.Offset.Slot
		} else if req.HeaderRange != nil && rg == nil {
			p.offset = req.HeaderRange.Offset.Slot
		}
		return p, nil
	})
	if err != nil {
		return a.restFailure(ctx, err)
	}
	if pl.doc != nil {
		ctx.SetContentType("application/openapi+json; charset=utf-8")
		if string(method) != fasthttp.MethodHead {
			ctx.SetBody(pl.doc)
		}
		return outcomeOK
	}

	s := pl.st
	st.args = s.AppendArgs(st.args[:0], st.vals, body)
	st.stmts[0] = poolmgr.Statement{SQL: s.SQL, Args: st.args, Result: poolmgr.Result(s.Result)}
	st.preq = poolmgr.Request{Statements: st.stmts[:], Admitted: true}
	if !who.Admin || who.Role != "" {
		st.headers = appendHeadersJSON(st.headers[:0], h)
		if p := ctx.Path(); st.path != string(p) {
			st.path = string(p)
		}
		st.sess = poolmgr.Session{Role: who.Role, Claims: who.Claims, Method: methodName(method), Path: st.path, Headers: st.headers}
		st.preq.Session = &st.sess
	}
	out, _, runErr := a.run(pool, c, &st.preq, st.out[:0])
	st.out = out
	if runErr != nil {
		return a.restRunError(ctx, runErr, anonymous(t, who))
	}
	env, ok := splitEnvelope(out)
	if !ok {
		a.s.log.Error("rest envelope", "tenant", t.Name)
		writeRESTError(ctx, fasthttp.StatusInternalServerError, "PGRST000", "unexpected response from the database", nil, nil)
		return outcomeError
	}
	return a.restRespond(ctx, pl, st, env)
}

// restPrelude applies the tenant's guard and authentication and returns the principal
// and the catalog snapshot; on refusal it answers the request and returns a nil snapshot
// and the outcome.
func (a *apis) restPrelude(ctx *fasthttp.RequestCtx, t *control.Tenant) (principal, *control.Snapshot, string) {
	g, err := a.guardFor(t)
	if err != nil {
		a.s.log.Error("tenant guard", "tenant", t.Name, "err", err)
		writeRESTError(ctx, fasthttp.StatusInternalServerError, "PGRST000", "the tenant's access settings are invalid", nil, nil)
		return principal{}, nil, outcomeError
	}
	if !a.admit(ctx, g, routeREST) {
		return principal{}, nil, outcomeRejected
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
	snap := t.Snapshot()
	if snap == nil {
		writeRESTFault(ctx, dbFault{status: fasthttp.StatusServiceUnavailable, code: "PGRST002", message: msgNoSchema})
		return principal{}, nil, outcomeError
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
	pl, err := a.plans.getREST(key, func() (*restPlan, error) {
		anon := ""
		if t.Config.Auth != nil {
			anon = t.Config.Auth.AnonRole
		}
		var doc []byte
		var err error
		if bytes.Equal(path, pathAISpec) {
			opts := aispec.Options{Tenant: t.Name, URL: "http://" + host, AnonRole: anon}
			if t.Config.Auth != nil {
				opts.RoleClaim = t.Config.Auth.RoleClaim
			}
			doc, err = aispec.Build(docCatalog(snap, who), opts)
		} else {
			doc, err = openapi.Build(docCatalog(snap, who), openapi.Options{BaseURL: prefix + string(prefixREST), AnonRole: anon})
		}
		if err != nil {
			return nil, err
		}
		return &restPlan{doc: doc, offset: -1}, nil
	})
	if err != nil {
		return a.restFailure(ctx, err)
	}
	if bytes.Equal(path, pathAISpec) {
		ctx.SetContentType("text/markdown; charset=utf-8")
	} else {
		ctx.SetContentType("application/openapi+json; charset=utf-8")
	}
	if !ctx.IsHead() {
		ctx.SetBody(pl.doc)
	}
	return outcomeOK
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

// envelope is a REST statement's result split into its parts.
type envelope struct {
	n     int64
	total int64 // -1: unknown
	body  []byte
}

// splitEnvelope reads `N,T,BODY` as the statements write it (T empty: not counted).
func splitEnvelope(out []byte) (envelope, bool) {
	var e envelope
	var ok bool
	i := 0
	if e.n, i, ok = readInt(out, i); !ok || i >= len(out) || out[i] != ',' {
		return e, false
	}
	i++
	if i < len(out) && out[i] == ',' {
		e.total = -1
	} else if e.total, i, ok = readInt(out, i); !ok || i >= len(out) || out[i] != ',' {
		return e, false
	}
	e.body = out[i+1:]
	return e, true
}

func readInt(b []byte, i int) (int64, int, bool) {
	start := i
	var n int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	return n, i, i > start
}

func (a *apis) restRespond(ctx *fasthttp.RequestCtx, pl *restPlan, st *restState, env envelope) string {
	s := pl.st
	head := ctx.IsHead()
	body := env.body
	singular := s.Accept == rest.MediaObject
	if singular && !s.Scalar && (s.Representation || s.Action == rest.ActionRead) {
		if env.n != 1 {
			d := "The result contains " + strconv.FormatInt(env.n, 10) + " rows"
			writeRESTError(ctx, fasthttp.StatusNotAcceptable, rest.CodeSingular,
				"JSON object requested, multiple (or no) rows returned", &d, nil)
			return outcomeClientError
		}
		body = stripArray(body)
	}
	hdr := &ctx.Response.Header
	var lower int64
	if pl.offset >= 0 && pl.offset < len(st.vals) {
		lower, _, _ = readInt(st.vals[pl.offset], 0)
	}
	status := fasthttp.StatusOK
	applied := ""
	switch s.Action {
	case rest.ActionRead, rest.ActionCall:
		if !s.Scalar {
			if env.total >= 0 && env.n == 0 && lower > 0 && lower >= env.total {
				d := "An offset of " + strconv.FormatInt(lower, 10) + " was requested, but there are only " +
					strconv.FormatInt(env.total, 10) + " rows."
				hdr.Set("Content-Range", "*/"+strconv.FormatInt(env.total, 10))
				writeRESTError(ctx, fasthttp.StatusRequestedRangeNotSatisfiable, rest.CodeInvalidRange,
					"Requested range not satisfiable", &d, nil)
				return outcomeClientError
			}
			st.crange = appendContentRange(st.crange[:0], lower, env.n, env.total)
			hdr.SetBytesV("Content-Range", st.crange)
			if env.total >= 0 && (lower > 0 || lower+env.n < env.total) {
				status = fasthttp.StatusPartialContent
			}
		}
		if s.Void {
			ctx.SetStatusCode(fasthttp.StatusNoContent)
			return outcomeOK
		}
	default:
		if s.Prefer.Count != "" {
			// Every affected row is in the statement's result.
			env.total = env.n
		}
		switch s.Action {
		case rest.ActionInsert:
			status = fasthttp.StatusCreated
			hdr.Set("Content-Range", "*/"+totalText(env))
		default:
			cr := "*/" + totalText(env)
			if env.n > 0 {
				cr = "0-" + strconv.FormatInt(env.n-1, 10) + "/" + totalText(env)
			}
			hdr.Set("Content-Range", cr)
		}
		ret := s.Prefer.Return
		if ret != "" {
			applied = "return=" + ret
		}
		if s.Prefer.Resolution != "" && s.Action == rest.ActionInsert {
			applied = joinPref(applied, "resolution="+s.Prefer.Resolution)
		}
		if s.Prefer.Missing == "default" && s.Action == rest.ActionInsert {
			applied = joinPref(applied, "missing=default")
		}
		if s.Prefer.Count != "" {
			applied = joinPref(applied, "count="+s.Prefer.Count)
		}
		if applied != "" {
			hdr.Set("Preference-Applied", applied)
		}
		if s.Location {
			if loc := locationHeader(s.Table, s.PrimaryKey, body); loc != "" {
				hdr.Set("Location", loc)
			}
		}
		if !s.Representation {
			if status != fasthttp.StatusCreated {
				status = fasthttp.StatusNoContent
			}
			ctx.SetStatusCode(status)
			return outcomeOK
		}
	}
	ctx.SetStatusCode(status)
	switch {
	case singular && !s.Scalar:
		ctx.SetContentType("application/vnd.pgrst.object+json; charset=utf-8")
	case s.Accept == rest.MediaCSV && s.Action == rest.ActionRead:
		ctx.SetContentType("text/csv; charset=utf-8")
	default:
		ctx.SetContentType("application/json; charset=utf-8")
	}
	if !head {
		ctx.Response.SetBody(body)
	}
	return outcomeOK
}

// locationHeader builds `/table?pk=eq.value` from the first row of rows (the inserted
// keys), relative to the API root like PostgREST's.
func locationHeader(table string, pk []string, rows []byte) string {
	var keys []map[string]any
	dec := json.NewDecoder(bytes.NewReader(rows))
	dec.UseNumber()
	if dec.Decode(&keys) != nil || len(keys) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("/" + table)
	for i, k := range pk {
		v := keys[0][k]
		var text string
		switch v := v.(type) {
		case string:
			text = v
		case nil:
			text = "null"
		default:
			t, _ := json.Marshal(v)
			text = string(t)
		}
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape("eq."+text))
	}
	return b.String()
}

func joinPref(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

func totalText(env envelope) string {
	if env.total < 0 {
		return "*"
	}
	return strconv.FormatInt(env.total, 10)
}

// appendContentRange writes `lower-upper/total`, `*/total` for no rows, `*` for an
// unknown total.
func appendContentRange(dst []byte, lower, n, total int64) []byte {
	if n == 0 {
		dst = append(dst, '*')
	} else {
		dst = strconv.AppendInt(dst, lower, 10)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, lower+n-1, 10)
	}
	dst = append(dst, '/')
	if total < 0 {
		return append(dst, '*')
	}
	return strconv.AppendInt(dst, total, 10)
}

// stripArray turns `[x]` into `x`.
func stripArray(b []byte) []byte {
	if len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']' {
		return b[1 : len(b)-1]
	}
	return b
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

// restFailure writes a compile failure.
func (a *apis) restFailure(ctx *fasthttp.RequestCtx, err error) string {
	var re *rest.Error
	if errors.As(err, &re) {
		b, _ := re.MarshalJSON()
		ctx.SetStatusCode(re.Status)
		ctx.SetContentType("application/json; charset=utf-8")
		ctx.SetBody(b)
		return outcomeClientError
	}
	if errors.Is(err, rest.ErrNotLowered) {
		writeRESTError(ctx, fasthttp.StatusNotImplemented, "PGRST501", "not implemented yet: "+err.Error(), nil, nil)
		return outcomeClientError
	}
	a.s.log.Error("rest compile", "err", err)
	writeRESTError(ctx, fasthttp.StatusInternalServerError, "PGRST000", "internal error compiling the request", nil, nil)
	return outcomeError
}

func (a *apis) restRejected(ctx *fasthttp.RequestCtx, err error) string {
	writeRESTError(ctx, a.rejected(ctx, err), "PGRST003", rejectionMessage(err), nil, nil)
	return outcomeRejected
}

// restRunError maps an execution failure to PostgREST's status and body.
func (a *apis) restRunError(ctx *fasthttp.RequestCtx, err error, anon bool) string {
	if f, ok := dbFaultOf(err); ok {
		a.noteFault("rest", err)
		writeRESTFault(ctx, f)
		return outcomeError
	}
	var rej *poolmgr.RejectedError
	if errors.As(err, &rej) {
		return a.restRejected(ctx, err)
	}
	var pe *poolmgr.PgError
	if errors.As(err, &pe) {
		state := pe.SQLState()
		if n, ok := singularRows(pe); ok {
			d := "The result contains " + n + " rows"
			writeRESTError(ctx, fasthttp.StatusNotAcceptable, rest.CodeSingular,
				"JSON object requested, multiple (or no) rows returned", &d, nil)
			return outcomeClientError
		}
		var details, hint *string
		if d := pe.Detail(); d != "" {
			details = &d
		}
		if h := pe.Hint(); h != "" {
			hint = &h
		}
		status := pgErrorStatus(state, anon)
		writeRESTError(ctx, status, state, pe.Message(), details, hint)
		if status >= 500 {
			return outcomeError
		}
		return outcomeClientError
	}
	if errors.Is(err, poolmgr.ErrRequestTimeout) || errors.Is(err, context.DeadlineExceeded) {
		writeRESTError(ctx, fasthttp.StatusGatewayTimeout, "57014", "request timed out", nil, nil)
		return outcomeError
	}
	a.s.log.Error("rest execution", "err", err)
	writeRESTError(ctx, fasthttp.StatusInternalServerError, "PGRST000", "database query error", nil, nil)
	return outcomeError
}

// singularRows recognises the failure a singular write raises when it did not affect
// exactly one row (the write is undone), and returns the row count it names.
func singularRows(pe *poolmgr.PgError) (string, bool) {
	if pe.SQLState() != "42704" {
		return "", false
	}
	msg := pe.Message()
	i := strings.Index(msg, ir.SingularSetting)
	if i < 0 {
		return "", false
	}
	n := msg[i+len(ir.SingularSetting):]
	j := 0
	for j < len(n) && n[j] >= '0' && n[j] <= '9' {
		j++
	}
	return n[:j], j > 0
}

// anonymous reports whether who runs as the tenant's anonymous role (a permission error
// is then 401, asking for credentials, rather than 403).
func anonymous(t *control.Tenant, who principal) bool {
	return !who.Admin && len(who.Claims) == 0 && t.Config.Auth != nil && who.Role == t.Config.Auth.AnonRole
}

// pgErrorStatus is PostgREST's HTTP status for a SQLSTATE.
func pgErrorStatus(state string, anonymous bool) int {
	switch state {
	case "23503", "23505", "23P01":
		return fasthttp.StatusConflict
	case "42P01", "42883":
		return fasthttp.StatusNotFound
	case "42501":
		if anonymous {
			return fasthttp.StatusUnauthorized
		}
		return fasthttp.StatusForbidden
	case "25006":
		return fasthttp.StatusMethodNotAllowed
	case "P0001":
		return fasthttp.StatusBadRequest
	case "53400", "57014", "40001", "40P01":
		return fasthttp.StatusInternalServerError
	}
	switch {
	case strings.HasPrefix(state, "08"):
		return fasthttp.StatusServiceUnavailable
	case strings.HasPrefix(state, "22"), strings.HasPrefix(state, "23"), strings.HasPrefix(state, "42"):
		return fasthttp.StatusBadRequest
	case strings.HasPrefix(state, "53"), strings.HasPrefix(state, "54"):
		return fasthttp.StatusServiceUnavailable
	case strings.HasPrefix(state, "P0"):
		return fasthttp.StatusInternalServerError
	}
	return fasthttp.StatusInternalServerError
}

// getREST returns the REST plan under key, compiling it once on a miss.
func (pc *planCache) getREST(key []byte, compile func() (*restPlan, error)) (*restPlan, error) {
	p, _, err := pc.c.GetOrCompile(key, func() (*cachedPlan, int64, error) {
		p, err := compile()
		if err != nil {
			return nil, 0, err
		}
		cost := int64(256 + len(p.doc))
		if p.st != nil {
			cost += int64(len(p.st.SQL) + 16*len(p.st.Sources))
		}
		return &cachedPlan{rest: p}, cost, nil
	})
	if err != nil {
		return nil, err
	}
	if p.rest == nil {
		return nil, errPlanKind
	}
	return p.rest, nil
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
