package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Supabase's other APIs, which Kapok does not serve: supabase-js calls them under the same
// URL as /rest/v1, and a bare 404 or a dropped connection would leave its users guessing.
var (
	prefixAuth      = []byte("/auth/v1")
	prefixStorage   = []byte("/storage/v1")
	prefixFunctions = []byte("/functions/v1")
)

func underPrefix(rest, prefix []byte) bool {
	return bytes.HasPrefix(rest, prefix) && (len(rest) == len(prefix) || rest[len(prefix)] == '/')
}

// unservedAPI answers a request to one of Supabase's APIs that Kapok does not serve, in the
// error shape that API's client reads, with 501 (a status no client retries); it reports
// false for any other path.
func unservedAPI(ctx *fasthttp.RequestCtx, rest []byte) bool {
	const status = fasthttp.StatusNotImplemented
	var body []byte
	switch {
	case underPrefix(rest, prefixAuth):
		// GoTrue's shape: auth-js shows msg and keys on error_code.
		body = appendJSONObject(nil, "error_code", "not_implemented",
			"msg", "Kapok does not serve Supabase Auth (/auth/v1): sign users in with your own identity provider and send its JWT as the bearer token")
		body = appendCode(body, status)
	case underPrefix(rest, prefixStorage):
		// Storage's shape: storage-js reads statusCode, error and message.
		body = appendJSONObject(nil, "statusCode", "501", "error", "Not Implemented",
			"message", "Kapok does not serve Supabase Storage (/storage/v1)")
	case underPrefix(rest, prefixFunctions):
		body = appendJSONObject(nil, "code", "not-served", "error", "Kapok does not serve Supabase Edge Functions (/functions/v1)",
			"message", "Kapok does not serve Supabase Edge Functions (/functions/v1)")
	default:
		return false
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(body)
	return true
}

// appendCode adds GoTrue's numeric "code" member to a JSON object.
func appendCode(obj []byte, status int) []byte {
	obj = obj[:len(obj)-1]
	obj = append(obj, `,"code":`...)
	obj = fasthttp.AppendUint(obj, status)
	return append(obj, '}')
}
