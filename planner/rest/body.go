package rest

// BodyIsObject tells whether a write body is one JSON object (not an array): the
// statement of an insert depends on it, so the plan cache key must too.
func BodyIsObject(body []byte) bool {
	i := skipJSONSpace(body, 0)
	return i < len(body) && body[i] == '{'
}

// AppendBodyKeys appends the top-level keys of a JSON body (an object, or the first
// object of an array) to a shape key, as written (quoted), separated by ','. The
// handler folds them into the plan-cache key of POST/PATCH/PUT requests without
// ?columns=, because PostgREST then takes the column list from the payload's keys.
// It reads only the first object's structure and does not allocate; the body's full
// validity is left to Postgres, which parses it as the json parameter. An empty or
// structurally broken body is PGRST102.
func AppendBodyKeys(dst, body []byte) ([]byte, error) {
	i := skipJSONSpace(body, 0)
	if i < len(body) && body[i] == '[' {
		i = skipJSONSpace(body, i+1)
		if i < len(body) && body[i] == ']' {
			return dst, nil
		}
	}
	if i >= len(body) || body[i] != '{' {
		return dst, invalidBody()
	}
	i++
	for n := 0; ; n++ {
		i = skipJSONSpace(body, i)
		if i < len(body) && body[i] == '}' && n == 0 {
			return dst, nil
		}
		if i >= len(body) || body[i] != '"' {
			return dst, invalidBody()
		}
		end, ok := skipJSONString(body, i)
		if !ok {
			return dst, invalidBody()
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = escapeKey(dst, bstr(body[i:end]))
		i = skipJSONSpace(body, end)
		if i >= len(body) || body[i] != ':' {
			return dst, invalidBody()
		}
		if i, ok = skipJSONValue(body, skipJSONSpace(body, i+1)); !ok {
			return dst, invalidBody()
		}
		i = skipJSONSpace(body, i)
		if i < len(body) && body[i] == ',' {
			i++
			continue
		}
		if i < len(body) && body[i] == '}' {
			return dst, nil
		}
		return dst, invalidBody()
	}
}

func invalidBody() error {
	return &Error{Status: 400, Code: CodeInvalidBody, Message: "Empty or invalid json"}
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipJSONString returns the index after the string starting at b[i] == '"'.
func skipJSONString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return i, false
}

// skipJSONValue skips one value: strings exactly, containers by bracket depth,
// scalars up to the next delimiter.
func skipJSONValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipJSONString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipJSONString(b, i)
				if !ok {
					return end, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	start := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\t' && b[i] != '\r' {
		i++
	}
	return i, i > start
}
