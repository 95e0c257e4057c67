package statement

import (
	"fmt"
	"strings"
)

// Multiplex rewrites a statement so that one execution answers many argument sets (the
// requests of a batch, the subscribers of a live query): every placeholder $j becomes
// column p<j> of a row of unnest($1::text[], …, $n::text[]) WITH ORDINALITY, one row per
// argument set, and the statement returns one row per set, in their order, holding the
// value the statement alone would have given for it (for Value and One the value itself,
// NULL for none; for Array and Envelope what Gatherer would build from its rows). Each
// placeholder keeps its cast, so the text becomes the type the original bound. ok is
// false for results it cannot rewrite (command counts).
//
// Settings are not unnested: a policy such as (SELECT auth.uid()) is an InitPlan that
// PostgreSQL evaluates once per statement, so requests with different claims or roles
// must never share one. Callers group by session for that reason.
func Multiplex(sql string, n int, r Result) (string, bool) {
	var inner string
	body := renumber(sql)
	switch r {
	case Value, One:
		inner = "(" + body + ")"
	case Array:
		inner = `(SELECT coalesce('[' || string_agg("_r"."v"::text, ',') || ']', '[]') FROM (` + body + `) AS "_r"("v"))`
	case Envelope:
		inner = `(SELECT count(*) || ',,' || coalesce('[' || string_agg("_r"."v"::text, ',') || ']', '[]') FROM (` + body + `) AS "_r"("v"))`
	default:
		return "", false
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(inner)
	b.WriteString(" FROM unnest(")
	for j := 1; j <= n; j++ {
		if j > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d::text[]", j)
	}
	b.WriteString(`) WITH ORDINALITY AS "_k"(`)
	for j := 1; j <= n; j++ {
		fmt.Fprintf(&b, `"p%d", `, j)
	}
	b.WriteString(`"i") ORDER BY "_k"."i"`)
	return b.String(), true
}

// renumber replaces each placeholder $j of sql with "_k"."p<j>", leaving string literals,
// quoted identifiers and dollar-quoted bodies alone.
func renumber(sql string) string {
	var b strings.Builder
	b.Grow(len(sql) + 64)
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(sql) {
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				if c == '\'' && sql[j] == '\\' && i > 0 && (sql[i-1] == 'E' || sql[i-1] == 'e') {
					j += 2
					continue
				}
				j++
			}
			end := min(j+1, len(sql))
			b.WriteString(sql[i:end])
			i = end
		case c == '$' && i+1 < len(sql) && isDigit(sql[i+1]) && (i == 0 || !isIdent(sql[i-1])):
			j := i + 1
			for j < len(sql) && isDigit(sql[j]) {
				j++
			}
			b.WriteString(`"_k"."p`)
			b.WriteString(sql[i+1 : j])
			b.WriteByte('"')
			i = j
		case c == '$' && (i == 0 || !isIdent(sql[i-1])):
			// A dollar quote: $tag$ … $tag$.
			j := i + 1
			for j < len(sql) && isIdent(sql[j]) {
				j++
			}
			if j < len(sql) && sql[j] == '$' {
				tag := sql[i : j+1]
				end := strings.Index(sql[j+1:], tag)
				if end >= 0 {
					stop := j + 1 + end + len(tag)
					b.WriteString(sql[i:stop])
					i = stop
					continue
				}
			}
			b.WriteByte(c)
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c >= 0x80
}

// AppendTextArray appends the Postgres array literal of vals (nil = NULL).
func AppendTextArray(dst []byte, vals [][]byte) []byte {
	dst = append(dst, '{')
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		if v == nil {
			dst = append(dst, "NULL"...)
			continue
		}
		dst = append(dst, '"')
		for _, c := range v {
			if c == '"' || c == '\\' {
				dst = append(dst, '\\')
			}
			dst = append(dst, c)
		}
		dst = append(dst, '"')
	}
	return append(dst, '}')
}
