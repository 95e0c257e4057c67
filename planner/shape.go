package planner

import (
	"sort"
	"strconv"

	"github.com/kapok-dev/kapok/internal/jsonx"
)

// VarShape names a variable holding whole insert input (`objects: $objs`, `object: $obj`)
// whose plan depends only on the shape of its value: the set of keys of its objects.
type VarShape struct {
	Var string `json:"var"`
	// Nested are the input fields (relationships) whose non-null value makes the plan
	// depend on the whole value: nested inserts are compiled from the values.
	Nested []string `json:"nested,omitempty"`
}

// Input shape kinds, as InputKeys reports them.
const (
	// ShapeRows: one object, or a non-empty list of objects that all have the same
	// non-empty set of keys and no non-null Nested field. Such a value binds as one
	// JSON parameter (see RowsInput); the plan holds for every value with these keys.
	ShapeRows byte = 'r'
	// ShapeValue: anything else (absent, null, [], mixed key sets, nested inserts): the
	// plan was compiled from the value itself.
	ShapeValue byte = 'v'
)

// InputKeys classifies the raw JSON of an insert-input variable and, for ShapeRows,
// returns its keys sorted (unescaped).
func InputKeys(raw []byte, nested []string) (kind byte, keys []string) {
	i := jsonx.SkipSpace(raw, 0)
	if i >= len(raw) {
		return ShapeValue, nil
	}
	var set []string
	first := true
	ok := true
	visit := func(obj []byte) {
		ks, bad := objectKeys(obj, nested)
		if bad || len(ks) == 0 {
			ok = false
			return
		}
		if first {
			set, first = ks, false
			return
		}
		if len(ks) != len(set) {
			ok = false
			return
		}
		for j := range ks {
			if ks[j] != set[j] {
				ok = false
				return
			}
		}
	}
	switch raw[i] {
	case '{':
		end, err := jsonx.SkipValue(raw, i)
		if err != nil {
			return ShapeValue, nil
		}
		visit(raw[i:end])
	case '[':
		_, err := jsonx.EachElement(raw, i, func(_ int, el []byte) error {
			if el[0] != '{' {
				ok = false
			} else if ok {
				visit(el)
			}
			return nil
		})
		if err != nil {
			return ShapeValue, nil
		}
	default:
		return ShapeValue, nil
	}
	if !ok || first {
		return ShapeValue, nil
	}
	return ShapeRows, set
}

// objectKeys returns the sorted keys of a JSON object; bad is set when a key repeats,
// cannot be read, or is a Nested field with a non-null value.
func objectKeys(obj []byte, nested []string) (keys []string, bad bool) {
	_, err := jsonx.EachMember(obj, 0, func(k, v []byte) error {
		key, err := unquote(k)
		if err != nil {
			return err
		}
		for _, n := range nested {
			if n == string(key) && !isNull(v) {
				bad = true
			}
		}
		keys = append(keys, string(key))
		return nil
	})
	if err != nil {
		return nil, true
	}
	sort.Strings(keys)
	for j := 1; j < len(keys); j++ {
		if keys[j] == keys[j-1] {
			return nil, true
		}
	}
	return keys, bad
}

// AppendKeyVars appends to a plan's cache key what its KeyVars bind to in the request's
// variables (a JSON object): the raw JSON of each, except that a Shapes variable of
// kind ShapeRows contributes only its keys. An absent variable stays distinct from null.
func (p *Plan) AppendKeyVars(dst, variables []byte) []byte {
	var stack [maxBindVars][]byte
	var spans [][]byte
	if len(p.Vars) <= maxBindVars {
		spans = stack[:len(p.Vars)]
	} else {
		spans = make([][]byte, len(p.Vars))
	}
	if findVars(variables, p.Vars, spans) != nil {
		// The request is refused when bound; any key unlike a valid one will do.
		return append(dst, 0, '!')
	}
	dst = append(dst, 0, 'v')
	for _, name := range p.KeyVars {
		dst = append(dst, 0)
		dst = append(dst, name...)
		dst = append(dst, '=')
		var raw []byte
		for i := range p.Vars {
			if p.Vars[i].Name == name {
				raw = spans[i]
			}
		}
		shaped := false
		for _, s := range p.Shapes {
			if s.Var != name {
				continue
			}
			if kind, keys := InputKeys(raw, s.Nested); kind == ShapeRows {
				dst = append(dst, 1, ShapeRows)
				for _, k := range keys {
					dst = append(dst, k...)
					dst = append(dst, 0)
				}
				shaped = true
			}
		}
		if !shaped {
			dst = append(dst, raw...)
		}
	}
	return dst
}

// RowsInput describes a parameter bound from a whole insert-input variable of kind
// ShapeRows: the value becomes a JSON array of its objects (one object is wrapped), after
// checking that every object has exactly Keys and that each value fits its column. The
// objects are rewritten without insignificant whitespace; values keep their spelling.
type RowsInput struct {
	// Keys are sorted; Checks[i] checks the values of Keys[i] like a variable of that
	// type. A Check of Kind ScalarOther accepts only null (an unused relationship).
	Keys   []string
	Checks []Var
}

func (r *RowsInput) bind(raw []byte, v *Var) ([]byte, error) {
	out := make([]byte, 0, len(raw)+2)
	out = append(out, '[')
	check := func(idx int, obj []byte) error {
		path := "$.variableValues." + v.Name
		if idx >= 0 {
			path += "[" + strconv.Itoa(idx) + "]"
		}
		if obj[0] != '{' {
			return Errorf(CodeValidationFailed, path, "expected an object for type %q, but found %s", v.TypeName, jsonKindName(obj))
		}
		n := 0
		out = append(out, '{')
		_, err := jsonx.EachMember(obj, 0, func(k, val []byte) error {
			key, err := unquote(k)
			if err != nil {
				return err
			}
			j := sort.SearchStrings(r.Keys, string(key))
			if j == len(r.Keys) || r.Keys[j] != string(key) {
				return Errorf(CodeUnexpected, path, "the plan expects the keys %v", r.Keys)
			}
			if n > 0 {
				out = append(out, ',')
			}
			n++
			out = append(out, k...)
			out = append(out, ':')
			c := &r.Checks[j]
			// GraphQL coerces a single value to a one-element list; json_populate_record
			// would instead read a string as an array literal.
			wrap := c.ListDepth > 0 && !isNull(val) && val[0] != '['
			if wrap {
				out = append(out, '[')
			}
			out = append(out, val...)
			if wrap {
				out = append(out, ']')
			}
			if isNull(val) {
				return nil
			}
			var cerr error
			switch {
			case c.Kind == ScalarOther:
				cerr = Errorf(CodeUnexpected, path, "the plan expects %q to be null", key)
			case c.ListDepth > 0:
				_, cerr = listText(val, c, c.ListDepth)
			default:
				_, cerr = scalarText(val, c)
			}
			if e, ok := cerr.(*Error); ok && e.Code == CodeValidationFailed {
				e.Path = path + "." + string(key)
			}
			return cerr
		})
		if err != nil {
			return scanError(err)
		}
		if n != len(r.Keys) {
			return Errorf(CodeUnexpected, path, "the plan expects the keys %v", r.Keys)
		}
		out = append(out, '}')
		return nil
	}
	i := jsonx.SkipSpace(raw, 0)
	if raw[i] == '[' {
		_, err := jsonx.EachElement(raw, i, func(idx int, el []byte) error {
			if idx > 0 {
				out = append(out, ',')
			}
			return check(idx, el)
		})
		if err != nil {
			return nil, scanError(err)
		}
	} else if err := check(-1, raw[i:]); err != nil {
		return nil, err
	}
	return append(out, ']'), nil
}
