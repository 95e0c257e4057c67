package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// Supabase's other APIs, which Kapok does not serve: supabase-js calls them under the same
// URL as /rest/v1, and a bare 404 or a dropped connection would leave its users guessing.
var (
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
