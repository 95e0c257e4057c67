package rest

import "github.com/kapok-dev/kapok/internal/jsonx"

// BodyIsObject tells whether a write body is one JSON object (not an array): the
// statement of an insert depends on it, so the plan cache key must too.
func BodyIsObject(body []byte) bool {
	i := jsonx.SkipSpace(body, 0)
	return i < len(body) && body[i] == '{'
}

// AppendBodyKeys appends the top-level keys of a JSON body (an object, or the first
// object of an array) to a shape key, as written (quoted), separated by ','. The
// handler folds them into the plan-cache key of POST/PATCH/PUT requests without
// ?columns=, because PostgREST then takes the column list from the payload's keys.
// It checks the first object's whole grammar and does not allocate; what follows that
// object is left to Postgres, which parses the body as the json parameter. An empty
// body, or a first object that is not JSON, is PGRST102.
func AppendBodyKeys(dst, body []byte) ([]byte, error) {
	i := jsonx.SkipSpace(body, 0)
	if i < len(body) && body[i] == '[' {
		i = jsonx.SkipSpace(body, i+1)
		if i < len(body) && body[i] == ']' {
			return dst, nil
		}
	}
	if i >= len(body) || body[i] != '{' {
		return dst, invalidBody()
	}
	n := 0
	if _, err := jsonx.EachMember(body, i, func(key, _ []byte) error {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = escapeKey(dst, bstr(key))
		return nil
	}); err != nil {
		return dst, invalidBody()
	}
	return dst, nil
}

func invalidBody() error {
	return &Error{Status: 400, Code: CodeInvalidBody, Message: "Empty or invalid json"}
}
