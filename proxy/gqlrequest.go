package proxy

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
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

var errBadGraphQLBody = errors.New("the request body is not a GraphQL request: expected a JSON object {\"query\": …, \"variables\": …, \"operationName\": …} or an array of them")

// parseGraphQLBody scans a POST body: one operation object or a batch (array). It checks
// the JSON structure of the parts it reads and skips the rest without decoding it.
func parseGraphQLBody(body []byte, dst []gqlRequest) ([]gqlRequest, bool, error) {
	i := skipWS(body, 0)
	if i >= len(body) {
		return dst, false, errBadGraphQLBody
	}
	if body[i] == '[' {
		i = skipWS(body, i+1)
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
			i = skipWS(body, i)
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
			i = skipWS(body, i+1)
		}
		if skipWS(body, i) != len(body) {
			return dst, true, errBadGraphQLBody
		}
		return dst, true, nil
	}
	var r gqlRequest
	end, err := parseGraphQLObject(body, i, &r)
	if err != nil {
		return dst, false, err
	}
	if skipWS(body, end) != len(body) {
		return dst, false, errBadGraphQLBody
	}
	return append(dst, r), false, nil
}

func parseGraphQLObject(b []byte, i int, r *gqlRequest) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return i, errBadGraphQLBody
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, errBadGraphQLBody
		}
		ks, ke, _, err := scanString(b, i)
		if err != nil {
			return i, err
		}
		key := b[ks:ke]
		i = skipWS(b, ke+1)
		if i >= len(b) || b[i] != ':' {
			return i, errBadGraphQLBody
		}
		i = skipWS(b, i+1)
		vs := i
		ve, err := skipValue(b, i, 0)
		if err != nil {
			return i, err
		}
		val := b[vs:ve]
		switch string(key) {
		case "query":
			if val[0] != '"' {
				return i, errors.New(`"query" must be a string`)
			}
			s, e, esc, _ := scanString(b, vs)
			r.Query, r.QueryEscaped = b[s:e], esc
		case "operationName":
			switch val[0] {
			case '"':
				s, e, _, _ := scanString(b, vs)
				r.OperationName = b[s:e]
			case 'n':
			default:
				return i, errors.New(`"operationName" must be a string or null`)
			}
		case "variables":
			switch val[0] {
			case '{':
				r.Variables = val
			case 'n':
			default:
				return i, errors.New(`"variables" must be an object or null`)
			}
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return i, errBadGraphQLBody
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return i, errBadGraphQLBody
		}
		i = skipWS(b, i+1)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// scanString reads the string starting at b[i] == '"'; it returns the contents' bounds
// and whether they contain escapes.
func scanString(b []byte, i int) (start, end int, escaped bool, err error) {
	start = i + 1
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return start, j, escaped, nil
		case c == '\\':
			escaped = true
			j++
		case c < 0x20:
			return 0, 0, false, errBadGraphQLBody
		}
	}
	return 0, 0, false, errBadGraphQLBody
}

const maxJSONDepth = 256

// skipValue returns the index after the JSON value at b[i].
func skipValue(b []byte, i, depth int) (int, error) {
	if depth > maxJSONDepth {
		return i, errors.New("the request body nests too deeply")
	}
	if i >= len(b) {
		return i, errBadGraphQLBody
	}
	switch c := b[i]; {
	case c == '"':
		_, e, _, err := scanString(b, i)
		return e + 1, err
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		for {
			if c == '{' {
				if i >= len(b) || b[i] != '"' {
					return i, errBadGraphQLBody
				}
				_, e, _, err := scanString(b, i)
				if err != nil {
					return i, err
				}
				i = skipWS(b, e+1)
				if i >= len(b) || b[i] != ':' {
					return i, errBadGraphQLBody
				}
				i = skipWS(b, i+1)
			}
			var err error
			if i, err = skipValue(b, i, depth+1); err != nil {
				return i, err
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return i, errBadGraphQLBody
			}
			if b[i] == closer {
				return i + 1, nil
			}
			if b[i] != ',' {
				return i, errBadGraphQLBody
			}
			i = skipWS(b, i+1)
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
			j++
		}
		return j, nil
	}
	return i, errBadGraphQLBody
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return i, errBadGraphQLBody
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
	q := make([]byte, 0, len(raw)+2)
	q = append(q, '"')
	q = append(q, raw...)
	q = append(q, '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return "", errBadGraphQLBody
	}
	return s, nil
}
