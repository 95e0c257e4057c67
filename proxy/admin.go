package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/planner/openapi"
)

// adminMaxBody caps admin request bodies (migrations included).
const adminMaxBody = 8 << 20

// adminTimeout bounds one admin call (provisioning, a migration, ad-hoc SQL).
const adminTimeout = 5 * time.Minute

// adminCall is one admin API request being served.
type adminCall struct {
	a     *apis
	ctx   *fasthttp.RequestCtx
	c     context.Context
	store *control.Store
}

// serveAdmin serves /admin/v1/… : rest is the path after /admin/v1.
func (a *apis) serveAdmin(ctx *fasthttp.RequestCtx, rest []byte) string {
	if string(rest) == "/openapi.json" && (ctx.IsGet() || ctx.IsHead()) {
		// The API's own description is public, as PostgREST's root document is.
		return a.adminOpenAPI(ctx)
	}
	if status, code, msg := a.adminAuthorized(ctx, string(rest)); status != 0 {
		writeJSONError(ctx, status, code, msg)
		return outcomeRejected
	}
	if len(ctx.Request.Body()) > adminMaxBody || ctx.Request.Header.ContentLength() > adminMaxBody {
		writeJSONError(ctx, fasthttp.StatusRequestEntityTooLarge, "payload-too-large",
			fmt.Sprintf("request body exceeds the admin API's limit of %d bytes", adminMaxBody))
		return outcomeClientError
	}
	c, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	call := &adminCall{a: a, ctx: ctx, c: c, store: a.s.reg.Store()}
	status := call.route(string(rest))
	switch {
	case status >= 500:
		return outcomeError
	case status >= 400:
		return outcomeClientError
	}
	return outcomeOK
}

// adminAuthorized checks the client address and the key: the admin key, or for a tenant's
// own routes (path, after /admin/v1) that tenant's service_role key. A zero status admits.
func (a *apis) adminAuthorized(ctx *fasthttp.RequestCtx, path string) (int, string, string) {
	cfg := a.s.cfg
	if cfg.AdminKey == "" {
		return fasthttp.StatusForbidden, "admin-disabled", "the admin API is disabled: set KAPOK_ADMIN_KEY (or admin_key in the config file) to enable it"
	}
	allow, err := parseCIDRs(cfg.AdminAllowCIDRs)
	if err != nil {
		return fasthttp.StatusInternalServerError, "bad-config", "admin_allow_cidrs: " + err.Error()
	}
	if !a.s.addrAllowed(allow, ctx) {
		a.s.metrics.rejected.WithLabelValues("ip_not_allowed").Inc()
		return fasthttp.StatusForbidden, "access-denied", "this client address may not use the admin API (admin_allow_cidrs)"
	}
	key := adminKeyOf(&ctx.Request.Header)
	if len(key) == 0 {
		return fasthttp.StatusUnauthorized, "access-denied", "missing admin key: send X-Kapok-Admin-Key: <key> or Authorization: Bearer <key>"
	}
	if subtle.ConstantTimeCompare(key, []byte(cfg.AdminKey)) != 1 {
		if !a.serviceKeyOpens(ctx, path, key) {
			return fasthttp.StatusUnauthorized, "access-denied", "invalid admin key"
		}
		if why := serviceKeyRefused(string(ctx.Method()), path); why != "" {
			return fasthttp.StatusForbidden, "access-denied", why
		}
	}
	return 0, "", ""
}

// route dispatches on the path and method; it returns the status it answered with.
func (call *adminCall) route(path string) int {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) == 1 && parts[0] == "monitor" {
		return call.monitorAll()
	}
	if len(parts) == 1 && parts[0] == "usage" {
		return call.usageAll()
	}
	if parts[0] != "tenants" {
		return call.fail(fasthttp.StatusNotFound, "not-found", "no admin route "+path+" (see /admin/v1/tenants)")
	}
	m := string(call.ctx.Method())
	if len(parts) == 1 {
		switch m {
		case "GET":
			return call.listTenants()
		case "POST":
			return call.createTenant()
		}
		return call.notAllowed("GET, POST")
	}
	name := parts[1]
	if len(parts) == 2 {
		switch m {
		case "GET":
			return call.showTenant(name)
		case "PATCH":
			return call.patchTenant(name)
		case "DELETE":
			return call.deleteTenant(name)
		}
		return call.notAllowed("GET, PATCH, DELETE")
	}
	// Per sub-resource: its handlers by method.
	routes := map[string]map[string]func(*control.Tenant) int{
		"migrations":          {"GET": call.listMigrations, "POST": call.migrate},
		"migrations/rollback": {"POST": call.rollback},
		"sql":                 {"POST": call.sql},
		"schema":              {"GET": call.schema},
		"reload":              {"POST": call.reload},
		"move":                {"POST": call.moveTenant},
		"stats":               {"GET": call.stats},
		"usage":               {"GET": call.usage},
		"keys":                {"GET": call.keys},
		"keys/rotate":         {"POST": call.rotateKeys},
		"token":               {"POST": call.mintToken},
		"monitor":             {"GET": call.monitorTenant},
	}
	if parts[2] == "events" {
		t := call.a.s.reg.Tenant(name)
		if t == nil {
			return call.fail(fasthttp.StatusNotFound, "tenant-not-found", fmt.Sprintf("tenant %q not found", name))
		}
		return call.eventsRoute(t, parts[3:])
	}
	byMethod, ok := routes[strings.Join(parts[2:], "/")]
	if !ok {
		return call.fail(fasthttp.StatusNotFound, "not-found", "no admin route "+path)
	}
	fn := byMethod[m]
	if fn == nil {
		allow := make([]string, 0, len(byMethod))
		for k := range byMethod {
			allow = append(allow, k)
		}
		sort.Strings(allow)
		return call.notAllowed(strings.Join(allow, ", "))
	}
	t := call.a.s.reg.Tenant(name)
	if t == nil {
		return call.fail(fasthttp.StatusNotFound, "tenant-not-found", fmt.Sprintf("tenant %q not found", name))
	}
	return fn(t)
}

// usage answers what the tenant spent, its quotas and what they refused.
func (call *adminCall) usage(t *control.Tenant) int {
	return call.reply(fasthttp.StatusOK, call.a.usageOf(t))
}

// usageAll answers the tenants that spent the most: ?by=requests|db_seconds|database_bytes
// (default requests), ?top=N (default 20, at most 1000).
func (call *adminCall) usageAll() int {
	if !call.ctx.IsGet() {
		return call.notAllowed("GET")
	}
	args := call.ctx.QueryArgs()
	by := string(args.Peek("by"))
	if by == "" {
		by = quotaRequests
	}
	top := 20
	if v := args.Peek("top"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 1000 {
			return call.fail(fasthttp.StatusBadRequest, "invalid-parameter", "top must be a whole number from 1 to 1000")
		}
		top = n
	}
	out, err := call.a.topUsage(by, top)
	if err != nil {
		return call.fail(fasthttp.StatusBadRequest, "invalid-parameter", err.Error())
	}
	return call.reply(fasthttp.StatusOK, map[string]any{"by": by, "tenants": out})
}

func (call *adminCall) notAllowed(allow string) int {
	call.ctx.Response.Header.Set("Allow", allow)
	return call.fail(fasthttp.StatusMethodNotAllowed, "method-not-allowed",
		fmt.Sprintf("%s is not allowed here (allowed: %s)", call.ctx.Method(), allow))
}

func (call *adminCall) fail(status int, code, msg string) int {
	writeJSONError(call.ctx, status, code, msg)
	return status
}

func (call *adminCall) reply(status int, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return call.fail(fasthttp.StatusInternalServerError, "unexpected", err.Error())
	}
	call.ctx.SetStatusCode(status)
	call.ctx.SetContentType("application/json; charset=utf-8")
	call.ctx.SetBody(b)
	return status
}

// decode reads the JSON body into dst, refusing unknown fields.
func (call *adminCall) decode(dst any) int {
	body := call.ctx.Request.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return call.fail(fasthttp.StatusBadRequest, "invalid-json", "the request needs a JSON body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return call.fail(fasthttp.StatusBadRequest, "invalid-json", "invalid JSON body: "+err.Error())
	}
	return 0
}

// needStore answers 503 when no control tables are attached.
func (call *adminCall) needStore() int {
	if call.store == nil {
		return call.fail(fasthttp.StatusServiceUnavailable, "control-unavailable",
			"the control tables are not available: the control database could not be opened, or Kapok does not manage it "+
				"(serve it with `kapok serve --manage`, or set `manage: true` on the upstream); see the server log")
	}
	return 0
}

// failErr maps control-plane errors to statuses.
func (call *adminCall) failErr(err error) int {
	var se *control.SQLError
	switch {
	case errors.As(err, &se):
		status := fasthttp.StatusBadRequest
		if !se.SyntaxOrSemantic() {
			status = fasthttp.StatusInternalServerError
		}
		return call.reply(status, struct {
			Error string `json:"error"`
			Code  string `json:"code"`
			*control.SQLError
		}{se.Error(), "sql-error", se})
	case errors.Is(err, control.ErrUnknownTenant):
		return call.fail(fasthttp.StatusNotFound, "tenant-not-found", err.Error())
	case errors.Is(err, control.ErrTenantExists):
		return call.fail(fasthttp.StatusConflict, "already-exists", err.Error())
	case errors.Is(err, control.ErrInvalid):
		return call.fail(fasthttp.StatusBadRequest, "invalid-request", err.Error())
	case errors.Is(err, control.ErrConflict):
		return call.fail(fasthttp.StatusConflict, "conflict", err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return call.fail(fasthttp.StatusGatewayTimeout, "timeout", "the operation did not finish in time: "+err.Error())
	}
	call.a.s.requestLog(call.ctx).Error("admin call failed", "path", string(call.ctx.Path()), "err", err)
	return call.fail(fasthttp.StatusInternalServerError, "unexpected", err.Error())
}

func (call *adminCall) actor() string {
	if v := call.ctx.Request.Header.Peek("X-Kapok-Actor"); len(v) > 0 && len(v) < 200 {
		return string(v)
	}
	host, _, err := net.SplitHostPort(call.ctx.RemoteAddr().String())
	if err != nil {
		host = call.ctx.RemoteAddr().String()
	}
	return "admin@" + host
}

func (call *adminCall) listTenants() int {
	if call.store != nil {
		list, err := call.store.List(call.c)
		if err != nil {
			return call.failErr(err)
		}
		return call.reply(fasthttp.StatusOK, map[string]any{"tenants": list})
	}
	list := []*control.TenantInfo{}
	for _, t := range call.a.s.reg.Tenants() {
		info, err := call.store.Info(call.c, t) // a nil store describes file tenants
		if err != nil {
			return call.failErr(err)
		}
		list = append(list, info)
	}
	return call.reply(fasthttp.StatusOK, map[string]any{"tenants": list})
}

func (call *adminCall) createTenant() int {
	if s := call.needStore(); s != 0 {
		return s
	}
	var req control.CreateTenant
	if s := call.decode(&req); s != 0 {
		return s
	}
	created, err := call.store.CreateTenant(call.c, &req)
	if err != nil {
		return call.failErr(err)
	}
	info, err := call.store.Info(call.c, created.Tenant)
	if err != nil {
		return call.failErr(err)
	}
	return call.reply(fasthttp.StatusCreated, map[string]any{
		"tenant":       info,
		"provision_ms": float64(created.Provision.Microseconds()) / 1000,
		"total_ms":     float64(created.Total.Microseconds()) / 1000,
		"from_spare":   created.FromSpare,
	})
}

func (call *adminCall) showTenant(name string) int {
	t := call.a.s.reg.Tenant(name)
	if t == nil {
		return call.fail(fasthttp.StatusNotFound, "tenant-not-found", fmt.Sprintf("tenant %q not found", name))
	}
	info, err := call.store.Info(call.c, t)
	if err != nil {
		return call.failErr(err)
	}
	return call.reply(fasthttp.StatusOK, info)
}

func (call *adminCall) patchTenant(name string) int {
	if s := call.needStore(); s != 0 {
		return s
	}
	if call.a.s.reg.Tenant(name) == nil {
		return call.fail(fasthttp.StatusNotFound, "tenant-not-found", fmt.Sprintf("tenant %q not found", name))
	}
	var p control.TenantPatch
	if s := call.decode(&p); s != 0 {
		return s
	}
	t, err := call.store.UpdateTenant(call.c, name, &p)
	if err != nil {
		return call.failErr(err)
	}
	info, err := call.store.Info(call.c, t)
	if err != nil {
		return call.failErr(err)
	}
	return call.reply(fasthttp.StatusOK, info)
}

func (call *adminCall) deleteTenant(name string) int {
	if s := call.needStore(); s != 0 {
		return s
	}
	if !control.ValidTenantName(name) {
		return call.fail(fasthttp.StatusNotFound, "tenant-not-found", fmt.Sprintf("tenant %q not found", name))
	}
	if confirm := string(call.ctx.QueryArgs().Peek("confirm")); confirm != name {
		return call.fail(fasthttp.StatusBadRequest, "confirmation-required",
			fmt.Sprintf("deleting tenant %q drops its schema or database and all its data: repeat its name as ?confirm=%s", name, name))
	}
	if err := call.store.DeleteTenant(call.c, name); err != nil {
		return call.failErr(err)
	}
	call.a.forget(name)
	return call.reply(fasthttp.StatusOK, map[string]any{"deleted": name})
}

func (call *adminCall) migrate(t *control.Tenant) int {
	if s := call.needStore(); s != 0 {
		return s
	}
	var m control.Migration
	if s := call.decode(&m); s != 0 {
		return s
	}
	m.AppliedBy = call.actor()
	res, err := call.store.Migrate(call.c, t, &m)
	if err != nil {
		return call.failErr(err)
	}
	status := fasthttp.StatusCreated
	if m.DryRun {
		status = fasthttp.StatusOK
	}
	return call.reply(status, res)
}

func (call *adminCall) listMigrations(t *control.Tenant) int {
	if s := call.needStore(); s != 0 {
		return s
	}
	list, err := call.store.Migrations(call.c, t.Name)
	if err != nil {
		return call.failErr(err)
	}
	return call.reply(fasthttp.StatusOK, map[string]any{"tenant": t.Name, "migrations": list})
}

func (call *adminCall) rollback(t *control.Tenant) int {
	if s := call.needStore(); s != 0 {
		return s
	}
	var req struct {
		To *int64 `json:"to"`
	}
	if len(bytes.TrimSpace(call.ctx.Request.Body())) > 0 {
		if s := call.decode(&req); s != 0 {
			return s
		}
	}
	res, err := call.store.Rollback(call.c, t, req.To)
	if err != nil {
		return call.failErr(err)
	}
	return call.reply(fasthttp.StatusOK, res)
}

func (call *adminCall) sql(t *control.Tenant) int {
	if s := call.needStore(); s != 0 {
		return s
	}
	var req control.SQLRequest
	if s := call.decode(&req); s != 0 {
		return s
	}
	res, err := call.store.RunSQL(call.c, t, &req)
	if err != nil {
		return call.failErr(err)
	}
	return call.reply(fasthttp.StatusOK, res)
}

func (call *adminCall) schema(t *control.Tenant) int {
	snap, err := call.a.s.reg.Ensure(call.c, t)
	if err != nil {
		return call.fail(fasthttp.StatusServiceUnavailable, "schema-not-loaded", "the tenant's schema could not be loaded: "+err.Error())
	}
	return call.reply(fasthttp.StatusOK, snap.Catalog)
}

func (call *adminCall) reload(t *control.Tenant) int {
	if err := call.a.s.reg.Reload(call.c, t.Name); err != nil {
		return call.failErr(err)
	}
	snap, err := call.a.s.reg.Ensure(call.c, t)
	if err != nil {
		return call.failErr(err)
	}
	return call.reply(fasthttp.StatusOK, map[string]any{"tenant": t.Name, "version": snap.Version,
		"tables": len(snap.Catalog.Tables), "loaded_at": snap.LoadedAt})
}

// stats describes the tenant as it is: a cold tenant is not loaded to be described.
func (call *adminCall) stats(t *control.Tenant) int {
	out := map[string]any{"tenant": t.Name, "plan_cache": call.a.plans.c.Stats(), "state": t.State()}
	if snap := t.Snapshot(); snap != nil {
		out["schema_version"] = snap.Version
	}
	if ps, ok := call.a.pools.Stats(t.Name); ok {
		// The pool's acquire count is the number of requests it ran since it opened.
		out["pool"] = ps
		out["requests"] = ps.AcquireCount
	} else {
		out["pool"] = nil
		out["requests"] = 0
	}
	if call.store != nil {
		db, err := call.store.Stats(call.c, t)
		if err != nil {
			return call.failErr(err)
		}
		out["database"] = db
	}
	return call.reply(fasthttp.StatusOK, out)
}

var (
	adminDocOnce sync.Once
	adminDoc     []byte
	adminDocErr  error
)

// adminOpenAPI serves the OpenAPI 3.1 document of the admin API, built once.
func (a *apis) adminOpenAPI(ctx *fasthttp.RequestCtx) string {
	adminDocOnce.Do(func() {
		adminDoc, adminDocErr = openapi.Build(nil, openapi.Options{AdminPaths: true})
	})
	if adminDocErr != nil {
		a.s.log.Error("admin openapi", "err", adminDocErr)
		writeJSONError(ctx, fasthttp.StatusInternalServerError, "unexpected", "the admin API's description could not be built")
		return outcomeError
	}
	ctx.SetContentType("application/openapi+json; charset=utf-8")
	ctx.SetBody(adminDoc)
	return outcomeOK
}

// keys answers the tenant's anon and service_role keys (control.KeysFor).
func (call *adminCall) keys(t *control.Tenant) int {
	k, err := control.KeysFor(t.Name, t.Config.Auth)
	if err != nil {
		return call.fail(fasthttp.StatusConflict, "no-jwt-secret", err.Error())
	}
	return call.reply(fasthttp.StatusOK, k)
}
