package bench

// jsonMember returns the raw bytes of member key of the JSON object in doc, without decoding
// anything else: the generator uses it to spot a GraphQL "errors" member in 200 responses and
// the baseline to read operationName and variables. Malformed input gives ok == false.
func jsonMember(doc []byte, key string) (raw []byte, ok bool) {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return nil, false
	}
	i++
	for {
		i = skipSpace(doc, i)
		if i >= len(doc) || doc[i] != '"' {
			return nil, false
		}
		kEnd := skipString(doc, i)
		if kEnd < 0 {
			return nil, false
		}
		k := doc[i+1 : kEnd-1]
		i = skipSpace(doc, kEnd)
		if i >= len(doc) || doc[i] != ':' {
			return nil, false
		}
		i = skipSpace(doc, i+1)
		vEnd := skipValue(doc, i)
		if vEnd < 0 {
			return nil, false
		}
		if string(k) == key {
			return doc[i:vEnd], true
		}
		i = skipSpace(doc, vEnd)
		if i >= len(doc) || doc[i] != ',' {
			return nil, false
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"', or -1.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				j := skipString(b, i)
				if j < 0 {
					return -1
				}
				i = j - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	start := i
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\t' && b[i] != '\r' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// graphQLFailed reports whether a GraphQL response body carries a non-null "errors" member.
func graphQLFailed(body []byte) bool {
	v, ok := jsonMember(body, "errors")
	return ok && string(v) != "null"
}
