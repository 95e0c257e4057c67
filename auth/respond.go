package auth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiVersion is the API version Kapok Auth answers as: auth-js reads an error's code from
// the body's "code" only when the answer carries this header with a date at least this one.
const apiVersion = "2024-01-01"

// jsonResponse answers v as JSON with status.
func jsonResponse(status int, v any) *Response {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value answered is built here from maps, strings and numbers; one that does
		// not encode is a bug, not the client's doing.
		return apiError(http.StatusInternalServerError, "unexpected_failure", "Kapok Auth could not encode its answer")
	}
	return &Response{Status: status, Header: jsonHeader(), Body: b}
}

func jsonHeader() http.Header {
	return http.Header{
		"Content-Type":           {"application/json"},
		"X-Supabase-Api-Version": {apiVersion},
	}
}

// errorBody is GoTrue's error: code and error_code name it (auth-js reads either), msg says it.
type errorBody struct {
	Code         string        `json:"code"`
	ErrorCode    string        `json:"error_code"`
	Msg          string        `json:"msg"`
	WeakPassword *weakPassword `json:"weak_password,omitempty"`
}

type weakPassword struct {
	Reasons []string `json:"reasons"`
}

// apiError answers GoTrue's error body.
func apiError(status int, code, msg string) *Response {
	b, _ := json.Marshal(errorBody{Code: code, ErrorCode: code, Msg: msg})
	return &Response{Status: status, Header: jsonHeader(), Body: b}
}

// weakPasswordError refuses a password, with the reasons auth-js hands to the application.
func weakPasswordError(msg string, reasons ...string) *Response {
	b, _ := json.Marshal(errorBody{Code: "weak_password", ErrorCode: "weak_password", Msg: msg,
		WeakPassword: &weakPassword{Reasons: reasons}})
	return &Response{Status: http.StatusUnprocessableEntity, Header: jsonHeader(), Body: b}
}

// tooManyRequests answers 429 with Retry-After in whole seconds (at least one).
func tooManyRequests(code, msg string, retry time.Duration) *Response {
	resp := apiError(http.StatusTooManyRequests, code, msg)
	secs := int((retry + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	resp.Header.Set("Retry-After", strconv.Itoa(secs))
	return resp
}

// redirect answers 303 See Other to the URL to.
func redirect(to string) *Response {
	return &Response{Status: http.StatusSeeOther, Header: http.Header{"Location": {to}}}
}

// noContent answers 204.
func noContent() *Response {
	return &Response{Status: http.StatusNoContent, Header: http.Header{"X-Supabase-Api-Version": {apiVersion}}}
}

// badJSON is the answer to a body that is not the JSON object an endpoint reads.
func badJSON() *Response {
	return apiError(http.StatusBadRequest, "bad_json", "Could not parse request body as JSON")
}

// decodeBody reads the request's JSON object into v: nil on success, else 400 bad_json.
// Unknown fields are ignored, as GoTrue does; an empty body reads as {} (a DELETE or a
// POST without options sends none).
func decodeBody(r *Request, v any) *Response {
	body := bytes.TrimSpace(r.Body)
	if len(body) == 0 {
		return nil
	}
	if body[0] != '{' {
		return badJSON()
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badJSON()
	}
	// JSON may carry NUL (\u0000) in a string; PostgreSQL's text and jsonb cannot.
	if bytes.Contains(body, []byte(`\u0000`)) {
		var all any
		if json.Unmarshal(body, &all) == nil && hasNUL(all) {
			return apiError(http.StatusBadRequest, "validation_failed", "The request's strings cannot contain the NUL character (\\u0000)")
		}
	}
	return nil
}

// hasNUL reports whether a decoded JSON value has NUL in a string or a key.
func hasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	}
	return false
}

// internalError answers 500 unexpected_failure: a bug of Kapok's or the database being
// unreachable, never the client's mistake. The cause goes to the log, not to the client.
func (s *Service) internalError(tn *tenantCtx, what string, err error) *Response {
	tenant := ""
	if tn != nil {
		tenant = tn.t.Name
	}
	s.log.Error("kapok auth: "+what, "tenant", tenant, "err", err)
	return apiError(http.StatusInternalServerError, "unexpected_failure", "Kapok Auth failed to "+what)
}
