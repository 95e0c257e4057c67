package realtime

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kapok-dev/kapok/internal/jsonx"
	"github.com/kapok-dev/kapok/internal/statement"
)

// multiplexSQL rewrites one statement of a plan so that a single execution answers many
// subscribers: every placeholder $j becomes column p<j> of a row of unnest($1::text[],
// …, $n::text[]), one row per subscriber in order, and the statement returns one row per
// subscriber holding what the original statement's rows would have made its value (a JSON
// array for Array results, the value itself for Value and One). Each placeholder keeps its
// cast, so text becomes the type the original bound. ok is false for results it cannot
// rewrite (envelopes and command counts, which no query uses).
//
// Claims are never unnested: a policy such as (SELECT auth.uid()) is an InitPlan that
// PostgreSQL evaluates once per statement, so subscribers with different claims must not
// share one. Groups are keyed by claims for that reason.
func multiplexSQL(sql string, n int, r statement.Result) (string, bool) {
	var inner string
	body := renumber(sql)
	switch r {
	case statement.Value, statement.One:
		inner = "(" + body + ")"
	case statement.Array:
		inner = `(SELECT coalesce('[' || string_agg("_r"."v"::text, ',') || ']', '[]') FROM (` + body + `) AS "_r"("v"))`
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

// appendTextArray appends the Postgres array literal of vals (nil = NULL).
func appendTextArray(dst []byte, vals [][]byte) []byte {
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

// splitArray splits the JSON array v into exactly n elements.
func splitArray(v []byte, n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	_, err := jsonx.EachElement(v, jsonx.SkipSpace(v, 0), func(_ int, el []byte) error {
		out = append(out, el)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, fmt.Errorf("realtime: %d results for %d subscribers", len(out), n)
	}
	return out, nil
}

// takeCursor removes planner.CursorKey from each row object of the JSON array rows and
// returns the rows without it and the last row's cursor object (nil when rows is empty).
func takeCursor(rows []byte, key string) (out, last []byte, n int, err error) {
	quoted := strconv.Quote(key)
	out = make([]byte, 0, len(rows))
	out = append(out, '[')
	_, err = jsonx.EachElement(rows, jsonx.SkipSpace(rows, 0), func(i int, el []byte) error {
		if i > 0 {
			out = append(out, ',')
		}
		n++
		out = append(out, '{')
		first := true
		_, err := jsonx.EachMember(el, jsonx.SkipSpace(el, 0), func(k, v []byte) error {
			if string(k) == quoted {
				last = v
				return nil
			}
			if !first {
				out = append(out, ',')
			}
			first = false
			out = append(out, k...)
			out = append(out, ':')
			out = append(out, v...)
			return nil
		})
		out = append(out, '}')
		return err
	})
	return append(out, ']'), last, n, err
}
