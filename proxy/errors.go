package proxy

import (
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/internal/jsonx"
)

// appendJSONObject appends {"k1":"v1",...} for string pairs.
func appendJSONObject(dst []byte, kv ...string) []byte {
	dst = append(dst, '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, kv[i])
		dst = append(dst, ':')
		dst = jsonx.AppendString(dst, kv[i+1])
	}
	return append(dst, '}')
}

// appendGraphQLError appends one Hasura-shaped error object.
func appendGraphQLError(dst []byte, code, message, path string) []byte {
	if path == "" {
		path = "$"
	}
	dst = append(dst, `{"message":`...)
	dst = jsonx.AppendString(dst, message)
	dst = append(dst, `,"extensions":{"code":`...)
	dst = jsonx.AppendString(dst, code)
	dst = append(dst, `,"path":`...)
	dst = jsonx.AppendString(dst, path)
	return append(dst, "}}"...)
}

// writeGraphQLError answers with Hasura's error envelope.
func writeGraphQLError(ctx *fasthttp.RequestCtx, status int, code, message string) {
	b := append([]byte(`{"errors":[`), nil...)
	b = appendGraphQLError(b, code, message, "$")
	b = append(b, "]}"...)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(b)
}

// writeRESTError answers with PostgREST's error body.
func writeRESTError(ctx *fasthttp.RequestCtx, status int, code, message string, details, hint *string) {
	b := []byte(`{"code":`)
	b = jsonx.AppendString(b, code)
	b = append(b, `,"details":`...)
	b = appendNullableString(b, details)
	b = append(b, `,"hint":`...)
	b = appendNullableString(b, hint)
	b = append(b, `,"message":`...)
	b = jsonx.AppendString(b, message)
	b = append(b, '}')
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(b)
}

func appendNullableString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return jsonx.AppendString(dst, *s)
}

// writeJSONError answers with Kapok's own error body (admin API, health, unknown routes).
func writeJSONError(ctx *fasthttp.RequestCtx, status int, code, message string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(appendJSONObject(nil, "error", message, "code", code))
}

// writeRouteError answers in the format of the API the request was addressed to.
func writeRouteError(ctx *fasthttp.RequestCtx, route string, status int, code, message string) {
	switch route {
	case routeGraphQL:
		writeGraphQLError(ctx, status, code, message)
	case routeREST:
		// Kapok's own refusals (unknown tenant, rate limit, …) keep their code: no PostgREST
		// code means the same thing, and clients key on the status.
		writeRESTError(ctx, status, code, message, nil, nil)
	default:
		writeJSONError(ctx, status, code, message)
	}
}
