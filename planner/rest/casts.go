package rest

import (
	"strings"

	"github.com/kapok-dev/kapok/planner/ir"
)

// builtinCasts are the pg_catalog types a select may cast to, by every name Postgres
// accepts for them, with the name Kapok writes. A cast names a type, never SQL: only
// these and the types of the tenant's own schemas resolve.
var builtinCasts = map[string]string{
	"bool": "bool", "boolean": "bool",
	"int2": "int2", "smallint": "int2",
	"int4": "int4", "int": "int4", "integer": "int4",
	"int8": "int8", "bigint": "int8",
	"float4": "float4", "real": "float4",
	"float8": "float8", "double precision": "float8", "float": "float8",
	"numeric": "numeric", "decimal": "numeric", "money": "money",
	"text": "text", "varchar": "varchar", "character varying": "varchar",
	"char": "bpchar", "character": "bpchar", "bpchar": "bpchar", "name": "name",
	"json": "json", "jsonb": "jsonb", "xml": "xml",
	"uuid": "uuid", "bytea": "bytea",
	"date": "date", "time": "time", "timetz": "timetz", "time without time zone": "time", "time with time zone": "timetz",
	"timestamp": "timestamp", "timestamptz": "timestamptz",
	"timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz",
	"interval": "interval", "inet": "inet", "cidr": "cidr", "macaddr": "macaddr",
	"point": "point", "line": "line", "lseg": "lseg", "box": "box", "path": "path", "polygon": "polygon", "circle": "circle",
	"tsvector": "tsvector", "tsquery": "tsquery",
	"int4range": "int4range", "int8range": "int8range", "numrange": "numrange",
	"tsrange": "tsrange", "tstzrange": "tstzrange", "daterange": "daterange",
	"bit": "bit", "varbit": "varbit", "bit varying": "varbit",
	"oid": "oid",
}

// castType resolves a select cast ("" none) to the type name written in SQL: a built-in
// type, or an enum, domain or table row type of the request's schema or another schema
// of the tenant, schema-qualified and quoted. Anything else is the error Postgres gives
// for an unknown type, answered before the statement is built.
func (l *lowering) castType(c string) (string, error) {
	c = strings.TrimSpace(c)
	if c == "" {
		return "", nil
	}
	lc := strings.Join(strings.Fields(strings.ToLower(c)), " ")
	if t := builtinCasts[lc]; t != "" {
		return t, nil
	}
	schemas := append([]string{l.schema}, l.cat.Schemas...)
	for _, s := range schemas {
		for _, name := range []string{c, lc} {
			if l.cat.Enum(s, name) != nil || l.cat.Table(s, name) != nil || l.domain(s, name) {
				return ir.TypeName(s, name, false), nil
			}
		}
	}
	return "", &Error{Status: 400, Code: "42704", Message: `type "` + c + `" does not exist`}
}

func (l *lowering) domain(schema, name string) bool {
	for _, d := range l.cat.Domains {
		if d.Schema == schema && d.Name == name {
			return true
		}
	}
	return false
}
