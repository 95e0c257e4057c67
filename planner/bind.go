package planner

import (
	"unicode/utf16"
	"unicode/utf8"
)

// maxBindVars bounds the per-call stack buffer for variable spans.
const maxBindVars = 16

var (
	textTrue  = []byte("true")
	textFalse = []byte("false")
)

// BindStatement converts a request's variables (a JSON object, or empty / null) into the
// TEXT parameters of statement i, appending to dst[:0]. Values are checked against their
// declared GraphQL types; a mismatch is a validation-failed *Error. Returned slices may
// alias variables: keep variables alive and unmodified until the statement has run.
func (p *Plan) BindStatement(i int, variables []byte, dst [][]byte) ([][]byte, error) {
	st := &p.Statements[i]
	dst = dst[:0]
	var stack [maxBindVars][]byte
	var spans [][]byte
	if len(p.Vars) <= maxBindVars {
		spans = stack[:len(p.Vars)]
	} else {
		spans = make([][]byte, len(p.Vars))
	}
	if err := findVars(variables, p.Vars, spans); err != nil {
		return dst, err
	}
	for _, prm := range st.Params {
		if prm.Var < 0 {
			dst = append(dst, prm.Const)
			continue
		}
		v := &p.Vars[prm.Var]
		raw := spans[prm.Var]
		if raw == nil {
			raw = v.Default
		}
		if raw == nil || isNull(raw) {
			if prm.RejectNull && spans[prm.Var] != nil {
				return dst, Errorf(CodeValidationFailed, "$", "unexpected null value for type %q", prm.NullType)
			}
			if v.NonNull {
				if spans[prm.Var] == nil {
					return dst, Errorf(CodeValidationFailed, "$", "expecting a value for non-nullable variable: %q", v.Name)
				}
				return dst, Errorf(CodeValidationFailed, "$", "null value found for non-nullable type: %q", v.TypeName+"!")
			}
			dst = append(dst, nil)
			continue
		}
		var b []byte
		var err error
		if prm.Rows != nil {
			b, err = prm.Rows.bind(raw, v)
		} else if v.ListDepth > 0 {
			b, err = listText(raw, v, v.ListDepth)
		} else {
			b, err = scalarText(raw, v)
		}
		if err != nil {
			return dst, err
		}
		dst = append(dst, b)
	}
	return dst, nil
}

func mismatch(v *Var, want string, raw []byte) error {
	return Errorf(CodeValidationFailed, "$.variableValues."+v.Name, "expected %s for type %q, but found %s", want, v.TypeName, jsonKindName(raw))
}

func jsonKindName(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// scalarText checks one non-null JSON scalar against v's kind and returns its text.
func scalarText(raw []byte, v *Var) ([]byte, error) {
	switch v.Kind {
	case ScalarInt:
		if !isInt32(raw) {
			return nil, mismatch(v, "a 32-bit integer", raw)
		}
		return raw, nil
	case ScalarFloat:
		if !isNumber(raw) {
			return nil, mismatch(v, "a number", raw)
		}
		return raw, nil
	case ScalarNumeric:
		if isNumber(raw) {
			return raw, nil
		}
		if raw[0] == '"' {
			return unquote(raw)
		}
		return nil, mismatch(v, "a number", raw)
	case ScalarBool:
		switch string(raw) {
		case "true":
			return textTrue, nil
		case "false":
			return textFalse, nil
		}
		return nil, mismatch(v, "a boolean", raw)
	case ScalarID:
		if isInteger(raw) {
			return raw, nil
		}
		if raw[0] == '"' {
			return unquote(raw)
		}
		return nil, mismatch(v, "a string or an integer", raw)
	case ScalarJSON:
		return raw, nil
	case ScalarString, ScalarEnum:
		if raw[0] == '"' {
			return unquote(raw)
		}
		return nil, mismatch(v, "a string", raw)
	}
	return nil, Errorf(CodeUnexpected, "$", "variable %q of type %q cannot be bound as a value", v.Name, v.TypeName)
}

// listText turns a JSON array into a Postgres array literal. A non-list value is coerced
// to a one-element list, as GraphQL input coercion does.
func listText(raw []byte, v *Var, depth int) ([]byte, error) {
	out := make([]byte, 0, len(raw)+8)
	var err error
	out, err = appendArray(out, raw, v, depth)
	return out, err
}

func appendArray(out, raw []byte, v *Var, depth int) ([]byte, error) {
	out = append(out, '{')
	if raw[0] != '[' {
		var err error
		out, err = appendElem(out, raw, v, depth-1)
		if err != nil {
			return out, err
		}
		return append(out, '}'), nil
	}
	i := skipWS(raw, 1)
	first := true
	for i < len(raw) && raw[i] != ']' {
		end, err := skipValue(raw, i)
		if err != nil {
			return out, err
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		if out, err = appendElem(out, raw[i:end], v, depth-1); err != nil {
			return out, err
		}
		i = skipWS(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipWS(raw, i+1)
		}
	}
	return append(out, '}'), nil
}

func appendElem(out, raw []byte, v *Var, depth int) ([]byte, error) {
	if isNull(raw) {
		if depth == 0 && v.ElemNonNull {
			return out, Errorf(CodeValidationFailed, "$.variableValues."+v.Name, "null value found for non-nullable type: %q", v.TypeName+"!")
		}
		return append(out, "NULL"...), nil
	}
	if depth > 0 {
		if raw[0] != '[' {
			return out, mismatch(v, "a list", raw)
		}
		return appendArray(out, raw, v, depth)
	}
	b, err := scalarText(raw, v)
	if err != nil {
		return out, err
	}
	out = append(out, '"')
	for _, c := range b {
		if c == '"' || c == '\\' {
			out = append(out, '\\')
		}
		out = append(out, c)
	}
	return append(out, '"'), nil
}

// findVars stores in spans[i] the raw JSON value of vars[i] in the variables object
// (nil when absent).
func findVars(b []byte, vars []Var, spans [][]byte) error {
	i := skipWS(b, 0)
	if i == len(b) || (len(b)-i >= 4 && string(b[i:i+4]) == "null") {
		return nil
	}
	if b[i] != '{' {
		return Errorf(CodeParseFailed, "$", "variables must be a JSON object")
	}
	i = skipWS(b, i+1)
	for i < len(b) && b[i] != '}' {
		if b[i] != '"' {
			return errBadJSON
		}
		kend, err := skipString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : kend-1]
		i = skipWS(b, kend)
		if i >= len(b) || b[i] != ':' {
			return errBadJSON
		}
		i = skipWS(b, i+1)
		vend, err := skipValue(b, i)
		if err != nil {
			return err
		}
		known := false
		for k := range vars {
			if vars[k].Name == string(key) {
				spans[k] = b[i:vend]
				known = true
			}
		}
		if !known {
			return Errorf(CodeValidationFailed, "$", "unexpected variables in variableValues: %s", key)
		}
		i = skipWS(b, vend)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
		}
	}
	if i >= len(b) {
		return errBadJSON
	}
	return nil
}

var errBadJSON = &Error{Code: CodeParseFailed, Path: "$", Message: "variables are not valid JSON"}

func isNull(b []byte) bool { return len(b) == 4 && string(b) == "null" }

func isInteger(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	i := 0
	if b[0] == '-' {
		i++
	}
	if i == len(b) {
		return false
	}
	for ; i < len(b); i++ {
		if b[i] < '0' || b[i] > '9' {
			return false
		}
	}
	return true
}

func isInt32(b []byte) bool {
	if !isInteger(b) {
		return false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) > 1 && b[0] == '0' {
		return false
	}
	var n int64
	for _, c := range b {
		n = n*10 + int64(c-'0')
		if n > 1<<31 {
			return false
		}
	}
	return n < 1<<31 || (neg && n == 1<<31)
}

func isNumber(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	c := b[0]
	return c == '-' || (c >= '0' && c <= '9')
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the closing quote of the string starting at i.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		default:
			if b[j] < 0x20 {
				return 0, errBadJSON
			}
		}
	}
	return 0, errBadJSON
}

// skipValue returns the index after the JSON value starting at i. It checks structure
// loosely (numbers and literals by their characters); Postgres checks what it parses.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errBadJSON
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errBadJSON
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
				return i + len(lit), nil
			}
		}
		return 0, errBadJSON
	case c == '-' || (c >= '0' && c <= '9'):
		j := i + 1
		for j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
			j++
		}
		return j, nil
	}
	return 0, errBadJSON
}

// unquote returns the contents of a JSON string, without copying when it has no escapes.
func unquote(raw []byte) ([]byte, error) {
	s := raw[1 : len(raw)-1]
	esc := false
	for _, c := range s {
		if c == '\\' {
			esc = true
			break
		}
	}
	if !esc {
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, errBadJSON
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := hex4(s[i+1:])
			if n < 0 {
				return nil, errBadJSON
			}
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if r2, m := hex4(s[i+3:]); m >= 0 {
					r = utf16.DecodeRune(r, r2)
					i += 6
				}
			}
			if r == 0 {
				return nil, &Error{Code: CodeDataException, Path: "$", Message: "unsupported Unicode escape sequence \\u0000"}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, errBadJSON
		}
	}
	return out, nil
}

func hex4(b []byte) (rune, int) {
	if len(b) < 4 {
		return 0, -1
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, -1
		}
	}
	return r, 4
}
