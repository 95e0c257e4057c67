package aispec

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// value is one example value written three ways.
type value struct {
	gql  string // GraphQL literal
	rest string // PostgREST filter value (unencoded)
	json string // JSON
}

func str(s string) value {
	return value{gql: jsonString(s), rest: s, json: jsonString(s)}
}

// sample is a plausible value for a column.
func sample(cat *catalog.Schema, c *catalog.Column) value {
	return sampleOf(cat, c.TypeName, c.TypeSchema, c.Type, c.IsArray, c.Category)
}

func sampleArg(cat *catalog.Schema, a *catalog.FunctionArg) value {
	return sampleOf(cat, a.TypeName, a.TypeSchema, a.Type, a.IsArray, a.Category)
}

func sampleOf(cat *catalog.Schema, name, schema, full string, isArray bool, category string) value {
	v := scalarSample(cat, name, schema, full, category)
	if isArray {
		return value{gql: "[" + v.gql + "]", rest: "{" + v.rest + "}", json: "[" + v.json + "]"}
	}
	return v
}

func scalarSample(cat *catalog.Schema, name, schema, full, category string) value {
	if e := cat.Enum(schema, name); e != nil && len(e.Values) > 0 {
		return str(e.Values[0])
	}
	switch name {
	case "bool":
		return value{"true", "true", "true"}
	case "numeric", "float4", "float8", "money":
		return value{"9.99", "9.99", "9.99"}
	case "uuid":
		return str("00000000-0000-0000-0000-000000000001")
	case "date":
		return str("2024-01-31")
	case "timestamptz":
		return str("2024-01-31T12:00:00Z")
	case "timestamp":
		return str("2024-01-31T12:00:00")
	case "time", "timetz":
		return str("12:00:00")
	case "json", "jsonb":
		return value{gql: `{key: "value"}`, rest: `{"key":"value"}`, json: `{"key": "value"}`}
	case "varchar", "bpchar":
		s := "example"
		if n := typeLength(full); n > 0 && n < len(s) {
			s = s[:n]
		}
		return str(s)
	}
	if category == "N" {
		return value{"1", "1", "1"}
	}
	return str("example")
}

func typeLength(full string) int {
	i := strings.IndexByte(full, '(')
	j := strings.IndexByte(full, ')')
	if i < 0 || j < i {
		return 0
	}
	n, _ := strconv.Atoi(full[i+1 : j])
	return n
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// urlPart escapes a query-string name or value, keeping PostgREST's punctuation readable.
func urlPart(s string) string {
	e := url.QueryEscape(s)
	return strings.NewReplacer("%2C", ",", "%28", "(", "%29", ")", "%3A", ":", "%21", "!", "%7B", "{", "%7D", "}", "%22", "%22").Replace(e)
}

func pathPart(name string) string { return "/" + url.PathEscape(name) }

// shellQuote makes s safe inside single quotes.
func shellQuote(s string) string { return strings.ReplaceAll(s, "'", `'\''`) }
