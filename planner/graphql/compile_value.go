package graphql

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/ir"
)

// structural returns the literal value at a position whose value shapes the SQL. A
// variable there is inlined from the request (or its default) and recorded as a key
// variable. nil means absent.
func (c *compiler) structural(v *ast.Value) (*ast.Value, error) {
	if v == nil || v.Kind != ast.Variable {
		return v, nil
	}
	name := v.Raw
	c.keyVars[name] = true
	c.inlined[name] = true
	raw, ok := c.rawVars[name]
	if !ok {
		if v.VariableDefinition != nil && v.VariableDefinition.DefaultValue != nil {
			return v.VariableDefinition.DefaultValue, nil
		}
		return nil, nil
	}
	return jsonToValue(raw)
}

// items returns the elements of a list value; a single value is a one-element list
// (GraphQL input coercion).
func items(v *ast.Value) []*ast.Value {
	if v == nil || v.Kind == ast.NullValue {
		return nil
	}
	if v.Kind != ast.ListValue {
		return []*ast.Value{v}
	}
	out := make([]*ast.Value, len(v.Children))
	for i, ch := range v.Children {
		out[i] = ch.Value
	}
	return out
}

func isNull(v *ast.Value) bool { return v == nil || v.Kind == ast.NullValue }

// leaf turns a value at a value position into an ir expression over parameters. typ is
// the Postgres type of the placeholder ("int4", "text[]", "jsonb"); jsonValues makes
// scalar literals JSON text (json/jsonb positions).
func (c *compiler) leaf(v *ast.Value, typ string, jsonValues bool) (ir.Expr, error) {
	if v == nil {
		return c.constParam(typ, nil, true), nil
	}
	isArray := strings.HasSuffix(typ, "[]")
	switch v.Kind {
	case ast.Variable:
		return c.varParam(v.Raw, typ)
	case ast.NullValue:
		return c.constParam(typ, nil, true), nil
	}
	if isArray {
		elem := strings.TrimSuffix(typ, "[]")
		arr := &ir.Array{Type: typ}
		for _, it := range items(v) {
			e, err := c.leaf(it, elem, jsonValues)
			if err != nil {
				return nil, err
			}
			arr.Items = append(arr.Items, e)
		}
		return arr, nil
	}
	if jsonValues {
		b, err := c.valueJSON(v)
		if err != nil {
			return nil, err
		}
		return c.constParam(typ, b, false), nil
	}
	switch v.Kind {
	case ast.IntValue, ast.FloatValue, ast.StringValue, ast.BlockValue, ast.BooleanValue, ast.EnumValue:
		return c.constParam(typ, []byte(v.Raw), false), nil
	}
	return nil, validationf("$", "unexpected %s value for a %s", kindName(v.Kind), typ)
}

func kindName(k ast.ValueKind) string {
	switch k {
	case ast.ObjectValue:
		return "object"
	case ast.ListValue:
		return "list"
	}
	return "scalar"
}

// valueJSON renders a literal as JSON; variables inside it are inlined (key variables).
func (c *compiler) valueJSON(v *ast.Value) ([]byte, error) {
	var b bytes.Buffer
	err := c.writeJSON(&b, v)
	return b.Bytes(), err
}

func (c *compiler) writeJSON(b *bytes.Buffer, v *ast.Value) error {
	if v == nil {
		b.WriteString("null")
		return nil
	}
	switch v.Kind {
	case ast.Variable:
		r, err := c.structural(v)
		if err != nil {
			return err
		}
		return c.writeJSON(b, r)
	case ast.NullValue:
		b.WriteString("null")
	case ast.IntValue, ast.FloatValue, ast.BooleanValue:
		b.WriteString(v.Raw)
	case ast.StringValue, ast.BlockValue, ast.EnumValue:
		s, _ := json.Marshal(v.Raw)
		b.Write(s)
	case ast.ListValue:
		b.WriteByte('[')
		for i, ch := range v.Children {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := c.writeJSON(b, ch.Value); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case ast.ObjectValue:
		b.WriteByte('{')
		for i, ch := range v.Children {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(ch.Name)
			b.Write(k)
			b.WriteByte(':')
			if err := c.writeJSON(b, ch.Value); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	}
	return nil
}

// jsonToValue parses JSON into a literal tree, keeping object key order (order_by
// objects are ordered). Numbers keep their text.
func jsonToValue(raw []byte) (*ast.Value, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	v, err := readJSONValue(d)
	if err != nil {
		return nil, planner.Errorf(planner.CodeParseFailed, "$", "variables must be valid JSON")
	}
	return v, nil
}

func readJSONValue(d *json.Decoder) (*ast.Value, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := t.(type) {
	case json.Delim:
		switch t {
		case '{':
			v := &ast.Value{Kind: ast.ObjectValue}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				ch, err := readJSONValue(d)
				if err != nil {
					return nil, err
				}
				v.Children = append(v.Children, &ast.ChildValue{Name: k, Value: ch})
			}
			_, err := d.Token()
			return v, err
		case '[':
			v := &ast.Value{Kind: ast.ListValue}
			for d.More() {
				ch, err := readJSONValue(d)
				if err != nil {
					return nil, err
				}
				v.Children = append(v.Children, &ast.ChildValue{Value: ch})
			}
			_, err := d.Token()
			return v, err
		}
		return nil, io.ErrUnexpectedEOF
	case string:
		return &ast.Value{Kind: ast.StringValue, Raw: t}, nil
	case json.Number:
		k := ast.IntValue
		if strings.ContainsAny(string(t), ".eE") {
			k = ast.FloatValue
		}
		return &ast.Value{Kind: k, Raw: string(t)}, nil
	case bool:
		if t {
			return &ast.Value{Kind: ast.BooleanValue, Raw: "true"}, nil
		}
		return &ast.Value{Kind: ast.BooleanValue, Raw: "false"}, nil
	case nil:
		return &ast.Value{Kind: ast.NullValue}, nil
	}
	return nil, io.ErrUnexpectedEOF
}

// boolValue reads a Boolean at a structural position; ok is false when null/absent.
func (c *compiler) boolValue(v *ast.Value) (val, ok bool, err error) {
	v, err = c.structural(v)
	if err != nil || isNull(v) {
		return false, false, err
	}
	return v.Raw == "true", true, nil
}
