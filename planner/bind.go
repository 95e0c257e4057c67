package planner

import (
	"bytes"

	"github.com/kapok-dev/kapok/internal/jsonx"
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
	switch jsonx.KindOf(raw) {
	case jsonx.String:
		return "a string"
	case jsonx.Object:
		return "an object"
	case jsonx.Array:
		return "a list"
	case jsonx.Bool:
		return "a boolean"
	case jsonx.Null:
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
		if jsonx.KindOf(raw) != jsonx.Number {
			return nil, mismatch(v, "a number", raw)
		}
		return raw, nil
	case ScalarNumeric:
		if jsonx.KindOf(raw) == jsonx.Number {
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
		if jsonx.IsInteger(raw) {
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
	_, err := jsonx.EachElement(raw, 0, func(n int, el []byte) error {
		if n > 0 {
			out = append(out, ',')
		}
		var err error
		out, err = appendElem(out, el, v, depth-1)
		return err
	})
	if err != nil {
		return out, scanError(err)
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
// (nil when absent). What follows the object is not read.
func findVars(b []byte, vars []Var, spans [][]byte) error {
	i := jsonx.SkipSpace(b, 0)
	if i == len(b) || (len(b)-i >= 4 && string(b[i:i+4]) == "null") {
		return nil
	}
	if b[i] != '{' {
		return Errorf(CodeParseFailed, "$", "variables must be a JSON object")
	}
	_, err := jsonx.EachMember(b, i, func(key, val []byte) error {
		name := key[1 : len(key)-1]
		known := false
		for k := range vars {
			if vars[k].Name == string(name) {
				spans[k] = val
				known = true
			}
		}
		if !known {
			return Errorf(CodeValidationFailed, "$", "unexpected variables in variableValues: %s", name)
		}
		return nil
	})
	return scanError(err)
}

var errBadJSON = &Error{Code: CodeParseFailed, Path: "$", Message: "variables are not valid JSON"}

// scanError gives the scanner's errors the planner's face and lets the others through.
func scanError(err error) error {
	if err == jsonx.ErrSyntax || err == jsonx.ErrDepth {
		return errBadJSON
	}
	return err
}

func isNull(b []byte) bool { return len(b) == 4 && string(b) == "null" }

func isInt32(b []byte) bool {
	if !jsonx.IsInteger(b) {
		return false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
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

// unquote returns the contents of a JSON string, without copying when it has no escapes.
func unquote(raw []byte) ([]byte, error) {
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	out, err := jsonx.Unquote(make([]byte, 0, len(s)), s)
	if err != nil {
		return nil, errBadJSON
	}
	// A string holds no raw NUL, so a NUL here was written \u0000, which text refuses.
	if bytes.IndexByte(out, 0) >= 0 {
		return nil, &Error{Code: CodeDataException, Path: "$", Message: "unsupported Unicode escape sequence \\u0000"}
	}
	return out, nil
}
