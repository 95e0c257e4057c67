package ir

import "strings"

// TypeName spells a Postgres type for a cast: builtin names in pg_catalog stay bare
// ("int4", "text[]"), anything else is schema-qualified and quoted
// ("\"public\".\"mood\"[]"). sqlgen accepts only these two spellings.
func TypeName(schema, name string, array bool) string {
	var b strings.Builder
	if schema == "" || schema == "pg_catalog" {
		if isBareName(name) {
			b.WriteString(name)
		} else {
			b.WriteString(QuoteIdent(name))
		}
	} else {
		b.WriteString(QuoteIdent(schema))
		b.WriteByte('.')
		b.WriteString(QuoteIdent(name))
	}
	if array {
		b.WriteString("[]")
	}
	return b.String()
}

// QuoteIdent quotes a Postgres identifier.
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func isBareName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}
