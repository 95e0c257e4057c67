package proxy

import (
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendJSONObject appends {"k1":"v1",...} for string pairs.
func appendJSONObject(dst []byte, kv ...string) []byte {
	dst = append(dst, '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, kv[i])
		dst = append(dst, ':')
		dst = appendJSONString(dst, kv[i+1])
	}
	return append(dst, '}')
}

// appendGraphQLError appends one Hasura-shaped error object.
func appendGraphQLError(dst []byte, code, message, path string) []byte {
	if path == "" {
		path = "$"
	}
	dst = append(dst, `{"message":`...)
	dst = appendJSONString(dst, message)
	dst = append(dst, `,"extensions":{"code":`...)
	dst = appendJSONString(dst, code)
	dst = append(dst, `,"path":`...)
	dst = appendJSONString(dst, path)
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
	b = appendJSONString(b, code)
	b = append(b, `,"details":`...)
	b = appendNullableString(b, details)
	b = append(b, `,"hint":`...)
	b = appendNullableString(b, hint)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, message)
	b = append(b, '}')
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(b)
}

func appendNullableString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, *s)
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
