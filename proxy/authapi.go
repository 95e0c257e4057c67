package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/auth"
	"github.com/kapok-dev/kapok/control"
)

// Kapok Auth: a tenant's /auth/v1/… is the GoTrue API that supabase-js's auth client
// speaks, served by package auth. The proxy routes it like the other APIs (tenant, address
// allow-list, rate limit, body limit) and hands auth the request with its credential
// already checked (auth.Caller): auth never sees fasthttp and never verifies a signature.

var prefixAuth = []byte("/auth/v1")

// authAPIVersion is the GoTrue API version Kapok Auth answers in: with it, auth-js reads an
// error's code member as the error code.
const authAPIVersion = "2024-01-01"

// authAPI serves /auth/v1/… of tenant t; rest is the request path below the tenant prefix.
//
// A bad credential does not fail the request here: GoTrue's public endpoints (sign-up,
// sign-in, verify, OAuth callbacks) need no valid token, so the refusal goes to auth as
// Caller.Err, and the endpoints that need a user or the service role answer it.
func (a *apis) authAPI(ctx *fasthttp.RequestCtx, t *control.Tenant, rest []byte) string {
	g, err := a.guardFor(t)
	if err != nil {
		a.s.log.Error("tenant guard", "tenant", t.Name, "err", err)
		writeAuthError(ctx, fasthttp.StatusInternalServerError, "unexpected_failure", "the tenant's access settings are invalid")
		return outcomeError
	}
	if !a.admit(ctx, g, routeAuth) {
		return outcomeRejected
	}
	a.prepare(ctx, t)
	if ctx.IsOptions() {
		ctx.Response.Header.Set("Allow", "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
		ctx.SetStatusCode(fasthttp.StatusOK)
		return outcomeOK
	}
	body := ctx.PostBody()
	if len(body) > t.Config.Limits.MaxBodyBytes {
		a.s.metrics.rejected.WithLabelValues("body_too_large").Inc()
		writeBodyTooLarge(ctx, routeAuth, t.Config.Limits.MaxBodyBytes)
		return outcomeClientError
	}
	path := string(rest[len(prefixAuth):])
	if path == "" {
		path = "/"
	}
	// The request's buffers belong to fasthttp and are reused once the handler returns:
	// auth gets copies, which it may keep (a mail sent after the answer, say).
	req := &auth.Request{
		Method:   string(ctx.Method()),
		Path:     path,
		Query:    authQuery(ctx.QueryArgs()),
		Header:   authHeader(&ctx.Request.Header),
		Body:     bytes.Clone(body),
		ClientIP: a.s.clientAddr(ctx),
		BaseURL:  authBaseURL(ctx, a.s.cfg, t, rest),
		Caller:   authCaller(ctx, g.auth),
	}
	c, cancel := context.WithTimeout(context.Background(), t.Config.Limits.RequestTimeout.D())
	defer cancel()
	return writeAuthResponse(ctx, a.authServe(c, t, req))
}

// authBaseURL is the tenant's /auth/v1 as the client addressed it: links in mails and
// OAuth callbacks must lead back through the same prefix and host.
// The Host header is the client's choice, so it is used only where it names this machine
// (development): elsewhere a mailed link built on it would carry a user's code to a host
// of an attacker's choosing. "" when there is no URL to trust (auth then refuses to build
// links, saying what to configure).
func authBaseURL(ctx *fasthttp.RequestCtx, cfg *control.Config, t *control.Tenant, rest []byte) string {
	if a := t.Config.Auth; a != nil && a.Users != nil && a.Users.ExternalURL != "" {
		return a.Users.ExternalURL
	}
	if cfg.PublicURL != "" {
		return cfg.PublicURL + "/t/" + t.Name + string(prefixAuth)
	}
	if !loopbackHost(string(ctx.Host())) {
		return ""
	}
	scheme := "http://"
	if ctx.IsTLS() {
		scheme = "https://"
	}
	p := ctx.Path()
	return scheme + string(ctx.Host()) + string(p[:len(p)-len(rest)]) + string(prefixAuth)
}

// loopbackHost reports whether a Host header names the local machine: localhost, a name
// under .localhost or a loopback address, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.HasSuffix(host, ".localhost") || control.IsLoopbackHost(host)
}

func authQuery(args *fasthttp.Args) url.Values {
	q := url.Values{}
	for k, v := range args.All() {
		q.Add(string(k), string(v))
	}
	return q
}

func authHeader(h *fasthttp.RequestHeader) http.Header {
	out := http.Header{}
	for k, v := range h.All() {
		out.Add(string(k), string(v))
	}
	return out
}

// authCaller is what the request's credential is worth to auth: the service role (Kapok's
// admin key, the tenant's service_role key), a user's verified token, or nothing, with the
// reason a presented credential was refused.
func authCaller(ctx *fasthttp.RequestCtx, ta *tenantAuth) auth.Caller {
	p, err := ta.authenticate(ctx)
	switch {
	case err != nil:
		return auth.Caller{Err: err.Error()}
	case p.Admin:
		return auth.Caller{Service: true}
	case p.Claims == nil || len(bearerToken(ctx.Request.Header.Peek("Authorization"))) == 0:
		// An API key, the anonymous role, or a JWT sent as apikey only: auth-js sends a
		// user's token as the bearer token, always.
		return auth.Caller{}
	}
	var c struct {
		Iss  string `json:"iss"`
		Role string `json:"role"`
	}
	if json.Unmarshal(p.Claims, &c) == nil && c.Iss == control.Issuer && c.Role == control.KeyRoleAnon {
		return auth.Caller{} // the anon key is a key, not a user
	}
	return auth.Caller{Claims: bytes.Clone(p.Claims)}
}

// writeAuthResponse copies auth's answer; its status gives the request's outcome label.
func writeAuthResponse(ctx *fasthttp.RequestCtx, r *auth.Response) string {
	if r == nil {
		writeAuthError(ctx, fasthttp.StatusInternalServerError, "unexpected_failure", "internal error")
		return outcomeError
	}
	for k, vs := range r.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Connection", "Transfer-Encoding":
			continue // fasthttp writes them for the body it sends
		}
		for _, v := range vs {
			ctx.Response.Header.Add(k, v)
		}
	}
	ctx.SetStatusCode(r.Status)
	ctx.SetBody(r.Body)
	switch {
	case r.Status == fasthttp.StatusTooManyRequests:
		return outcomeRejected
	case r.Status >= 500:
		return outcomeError
	case r.Status >= 400:
		return outcomeClientError
	}
	return outcomeOK
}

// writeAuthError answers in GoTrue's error shape, which auth-js reads: the code (as both
// code and error_code) and the message in msg.
func writeAuthError(ctx *fasthttp.RequestCtx, status int, code, message string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.Response.Header.Set("X-Supabase-Api-Version", authAPIVersion)
	ctx.SetBody(appendJSONObject(nil, "code", code, "error_code", code, "msg", message))
}

// authErrorCode is GoTrue's name for one of Kapok's own refusals, where it has one.
func authErrorCode(code string) string {
	switch code {
	case "too-many-requests":
		return "over_request_rate_limit"
	case "tenant-not-found", "not-found":
		return "not_found"
	case "payload-too-large":
		return "request_too_large"
	case "access-denied":
		return "access_denied"
	}
	return code
}
