package openapi

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// obj is a JSON object under construction; encoding/json writes its keys sorted.
type obj = map[string]any

// pgType is what the JSON mapping needs to know about a Postgres type, whether it types a
// column, a function argument or a function result.
type pgType struct {
	name     string // base type name: int4, varchar, mood…
	schema   string // schema of the base type
	full     string // format_type, e.g. "character varying(20)[]"
	isArray  bool
	category string // typcategory of the (element) type
}

func columnType(c *catalog.Column) pgType {
	return pgType{name: c.TypeName, schema: c.TypeSchema, full: c.Type, isArray: c.IsArray, category: c.Category}
}

func argType(a *catalog.FunctionArg) pgType {
	return pgType{name: a.TypeName, schema: a.TypeSchema, full: a.Type, isArray: a.IsArray, category: a.Category}
}

// valueSchema is the JSON Schema of a value of type t as Postgres renders it in JSON
// (to_json), which is what every response carries. nullable adds "null" to the types.
func valueSchema(cat *catalog.Schema, t pgType, nullable bool) obj {
	s := scalarSchema(cat, t)
	if t.isArray {
		s = obj{"type": "array", "items": s}
	}
	if nullable {
		makeNullable(s)
	}
	return s
}

// makeNullable turns "type": T into "type": [T, "null"] (OpenAPI 3.1 style) and admits
// null among enum values. A schema without a type already accepts null.
func makeNullable(s obj) {
	switch t := s["type"].(type) {
	case string:
		s["type"] = []string{t, "null"}
	default:
		return
	}
	if e, ok := s["enum"].([]any); ok {
		s["enum"] = append(e, nil)
	}
}

func scalarSchema(cat *catalog.Schema, t pgType) obj {
	if e := cat.Enum(t.schema, t.name); e != nil {
		vals := make([]any, len(e.Values))
		for i, v := range e.Values {
			vals[i] = v
		}
		return obj{"type": "string", "enum": vals}
	}
	switch t.name {
	case "int2":
		return obj{"type": "integer", "format": "int32", "minimum": -32768, "maximum": 32767}
	case "int4":
		return obj{"type": "integer", "format": "int32"}
	case "int8":
		return obj{"type": "integer", "format": "int64"}
	case "oid", "xid", "cid":
		return obj{"type": "integer", "format": "int64", "minimum": 0}
	case "float4":
		return obj{"type": "number", "format": "float"}
	case "float8":
		return obj{"type": "number", "format": "double"}
	case "numeric":
		return obj{"type": "number", "format": "decimal"}
	case "bool":
		return obj{"type": "boolean"}
	case "json", "jsonb":
		// Any JSON value: the empty schema.
		return obj{}
	case "uuid":
		return obj{"type": "string", "format": "uuid"}
	case "date":
		return obj{"type": "string", "format": "date"}
	case "timestamptz":
		return obj{"type": "string", "format": "date-time"}
	case "timestamp":
		return obj{"type": "string", "format": "date-time-local"}
	case "time":
		return obj{"type": "string", "format": "time-local"}
	case "varchar", "bpchar":
		s := obj{"type": "string"}
		if n := typeLength(t.full); n > 0 {
			s["maxLength"] = n
		}
		return s
	}
	switch t.category {
	case "N":
		return obj{"type": "number"}
	case "B":
		return obj{"type": "boolean"}
	case "C":
		return obj{"type": "object"}
	}
	if t.name == "record" {
		return obj{"type": "object"}
	}
	return obj{"type": "string"}
}

// typeLength reads n from "character varying(n)" or "character(n)" (and their arrays).
func typeLength(full string) int {
	i := strings.IndexByte(full, '(')
	j := strings.IndexByte(full, ')')
	if i < 0 || j < i {
		return 0
	}
	n, err := strconv.Atoi(full[i+1 : j])
	if err != nil {
		return 0
	}
	return n
}

// defaultValue turns a column default into a JSON value when it is a constant
// ('x'::text, 42, true, '{}'::text[]…); ok is false for expressions (now(), nextval…).
func defaultValue(c *catalog.Column, sch obj) (any, bool) {
	expr := strings.TrimSpace(c.Default)
	for {
		e := stripCast(stripParens(expr))
		if e == expr {
			break
		}
		expr = e
	}
	var lit string
	quoted := false
	if strings.HasPrefix(expr, "'") && strings.HasSuffix(expr, "'") && len(expr) >= 2 {
		lit = strings.ReplaceAll(expr[1:len(expr)-1], "''", "'")
		quoted = true
	} else {
		lit = expr
	}
	if c.IsArray {
		if quoted && lit == "{}" {
			return []any{}, true
		}
		return nil, false
	}
	typ, _ := sch["type"].(string)
	if ts, ok := sch["type"].([]string); ok && len(ts) > 0 {
		typ = ts[0]
	}
	switch typ {
	case "integer", "number":
		if _, err := strconv.ParseFloat(lit, 64); err == nil && lit != "" && !strings.ContainsAny(lit, "eEnN") {
			return json.Number(lit), true
		}
	case "boolean":
		switch lit {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	case "string":
		if quoted {
			return lit, true
		}
	}
	return nil, false
}

func stripParens(s string) string {
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") && strings.Count(s, "(") == 1 {
		return strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// stripCast removes a trailing ::type (outside quotes).
func stripCast(s string) string {
	inQuote := false
	last := -1
	for i := 0; i+1 < len(s); i++ {
		switch {
		case s[i] == '\'':
			inQuote = !inQuote
		case !inQuote && s[i] == ':' && s[i+1] == ':':
			last = i
			i++
		}
	}
	if last < 0 {
		return s
	}
	return strings.TrimSpace(s[:last])
}
