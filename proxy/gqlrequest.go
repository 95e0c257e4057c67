package proxy

import (
	"bytes"
	"errors"
	"unicode/utf8"

	"github.com/kapok-dev/kapok/internal/jsonx"
)

// gqlRequest is one GraphQL operation of a request body. Fields alias the body and hold the
// raw JSON of each value: Query and OperationName are still-escaped string contents, so
// the cache key is computed without unescaping (or allocating) anything.
type gqlRequest struct {
	Query         []byte // contents of the JSON string, escapes kept
	QueryEscaped  bool   // Query contains a backslash escape
	OperationName []byte // contents of the JSON string (nil when absent or null)
	Variables     []byte // raw JSON object, or nil when absent or null
}

var (
	errBadGraphQLBody = errors.New("the request body is not a GraphQL request: expected a JSON object {\"query\": …, \"variables\": …, \"operationName\": …} or an array of them")
	errBodyTooDeep    = errors.New("the request body nests too deeply")
)

// parseGraphQLBody scans a POST body: one operation object or a batch (array). It checks
// the JSON structure of the parts it reads and skips the rest without decoding it.
func parseGraphQLBody(body []byte, dst []gqlRequest) ([]gqlRequest, bool, error) {
	i := jsonx.SkipSpace(body, 0)
	if i >= len(body) {
		return dst, false, errBadGraphQLBody
	}
	if body[i] == '[' {
		i = jsonx.SkipSpace(body, i+1)
		if i < len(body) && body[i] == ']' {
			return dst, true, errors.New("empty batch: the request array holds no operation")
		}
		for {
			var r gqlRequest
			var err error
			if i, err = parseGraphQLObject(body, i, &r); err != nil {
				return dst, true, err
			}
			dst = append(dst, r)
			i = jsonx.SkipSpace(body, i)
			if i >= len(body) {
				return dst, true, errBadGraphQLBody
			}
			if body[i] == ']' {
				i++
				break
			}
			if body[i] != ',' {
				return dst, true, errBadGraphQLBody
			}
			i = jsonx.SkipSpace(body, i+1)
		}
		if jsonx.SkipSpace(body, i) != len(body) {
			return dst, true, errBadGraphQLBody
		}
		return dst, true, nil
	}
	var r gqlRequest
	end, err := parseGraphQLObject(body, i, &r)
	if err != nil {
		return dst, false, err
	}
	if jsonx.SkipSpace(body, end) != len(body) {
		return dst, false, errBadGraphQLBody
	}
	return append(dst, r), false, nil
}

func parseGraphQLObject(b []byte, i int, r *gqlRequest) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return i, errBadGraphQLBody
	}
	end, err := jsonx.EachMember(b, i, func(key, val []byte) error {
		switch string(key[1 : len(key)-1]) {
		case "query":
			if val[0] != '"' {
				return errors.New(`"query" must be a string`)
			}
			r.Query = val[1 : len(val)-1]
			r.QueryEscaped = bytes.IndexByte(r.Query, '\\') >= 0
		case "operationName":
			switch val[0] {
			case '"':
				r.OperationName = val[1 : len(val)-1]
			case 'n':
			default:
				return errors.New(`"operationName" must be a string or null`)
			}
		case "variables":
			switch val[0] {
			case '{':
				r.Variables = val
			case 'n':
			default:
				return errors.New(`"variables" must be an object or null`)
			}
		}
		return nil
	})
	switch err {
	case jsonx.ErrSyntax:
		return end, errBadGraphQLBody
	case jsonx.ErrDepth:
		return end, errBodyTooDeep
	}
	return end, err
}

// queryText returns the query as a Go string, unescaping it when needed.
func (r *gqlRequest) queryText() (string, error) {
	return jsonStringContents(r.Query, r.QueryEscaped)
}

func (r *gqlRequest) operationName() (string, error) {
	return jsonStringContents(r.OperationName, true)
}

func jsonStringContents(raw []byte, escaped bool) (string, error) {
	if !escaped {
		if !utf8.Valid(raw) {
			return "", errors.New("the request body is not valid UTF-8")
		}
		return string(raw), nil
	}
	s, err := jsonx.Unquote(make([]byte, 0, len(raw)), raw)
	if err != nil {
		return "", errBadGraphQLBody
	}
	return string(s), nil
}
