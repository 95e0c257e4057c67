package sqlgen

import (
	"strconv"
	"strings"

	"github.com/kapok-dev/kapok/planner/ir"
)

// Responses are compact JSON, byte for byte what Hasura and PostgREST clients see:
// json_build_object writes `{"k" : v, "k2" : v2}` and json_agg separates rows with
// ", \n ", so neither is used. Objects are row_to_json over a row whose column names
// are the keys (rowsObject) or, where a row cannot be had (aggregates, keys longer than
// a column name), concat() of the keys and the values' JSON text (concatObject). Arrays
// are array_to_json over ARRAY(sub-select) or, inside an aggregate, over array_agg.
// Values that are JSON already (json columns, nested objects) keep their own text.

// valueKind says what SQL type a pair's expression has, which decides how it enters an
// object.
type valueKind uint8

const (
	// kindScalar is any SQL value: it becomes JSON through to_json (NULL: null).
	kindScalar valueKind = iota
	// kindJSON is a json value (NULL: null).
	kindJSON
	// kindText is JSON written as text (a concatObject): it must be cast to json before
	// a json builder reads it, or it would become a string.
	kindText
	// kindCount is a bigint that is never NULL: its text is its JSON.
	kindCount
)

type pair struct {
	key  string
	expr string
	kind valueKind
	// notNull: the expression is never NULL (an ARRAY sub-select, an object).
	notNull bool
	// object, when set, holds the pairs of an object value (see objectPair).
	object []pair
}

// column is the pair's value as a column of a row that row_to_json or array_to_json
// reads.
func (p pair) column() string {
	if p.kind == kindText {
		return "(" + p.expr + ")::json"
	}
	return p.expr
}

// maxConcatArgs is how many arguments one concat() call takes (FUNC_MAX_ARGS).
const maxConcatArgs = 100

// concatObject is the JSON object of pairs as text: concat('{"k":', v, ',"k2":', v2,
// '}'). It is never NULL and may hold aggregate calls.
// columnList is `<expr> AS "<key>", …`: pairs as the columns of a row whose keys are the
// object's, for row_to_json (keys must fit a column name: pairKeysFit).
func columnList(pairs []pair) string {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.column())
		b.WriteString(" AS ")
		b.WriteString(ir.QuoteIdent(p.key))
	}
	return b.String()
}

func concatObject(pairs []pair) string {
	var args []string
	lit := concatArgs(pairs, &args, "")
	args = append(args, quoteLiteral(lit))
	return concatCall(args)
}

// objectPair is a pair whose value is the object of pairs, written into its parent's
// concat() rather than by a call of its own.
func objectPair(pairs []pair) pair {
	return pair{expr: concatObject(pairs), kind: kindText, notNull: true, object: pairs}
}

// concatArgs appends the arguments that write pairs as an object after the literal text
// lit, and returns the literal text still to be written.
func concatArgs(pairs []pair, args *[]string, lit string) string {
	lit += "{"
	for i, p := range pairs {
		if i > 0 {
			lit += ","
		}
		lit += jsonString(p.key) + ":"
		if p.object != nil {
			lit = concatArgs(p.object, args, lit)
			continue
		}
		*args = append(*args, quoteLiteral(lit))
		lit = ""
		switch {
		case p.kind == kindCount, p.notNull && p.kind != kindScalar:
			*args = append(*args, p.expr)
		case p.kind == kindScalar:
			*args = append(*args, "coalesce(to_json("+p.expr+"), 'null')")
		default:
			*args = append(*args, "coalesce("+p.expr+", 'null')")
		}
	}
	return lit + "}"
}

// concatCall is concat(args…), nested when there are more arguments than one call takes
// (concat writes a text argument as it is).
func concatCall(args []string) string {
	for len(args) > maxConcatArgs {
		var chunks []string
		for len(args) > 0 {
			n := min(len(args), maxConcatArgs)
			chunks = append(chunks, "concat("+strings.Join(args[:n], ", ")+")")
			args = args[n:]
		}
		args = chunks
	}
	return "concat(" + strings.Join(args, ", ") + ")"
}

// jsonObject is concatObject as a json value.
func jsonObject(pairs []pair) string { return "(" + concatObject(pairs) + ")::json" }

// jsonArray aggregates elem over the rows in order (keys, when the input's order is not
// enough) into a JSON array, [] when there are no rows. Outside an aggregate, arrayOf
// is cheaper.
func jsonArray(elem string, keys []string) string {
	return "coalesce(array_to_json(array_agg(" + elem + orderSuffix(keys) + ")), '[]'::json)"
}

// arrayOf is the JSON array of the one-column rows of query, in their order ([] for none):
// an ARRAY sub-select needs no aggregate step, and array_to_json writes no spaces.
func arrayOf(query string) string { return "array_to_json(ARRAY(" + query + "))" }

// jsonString writes s as a JSON string the way Postgres' escape_json does, so a key
// reads the same whether row_to_json or concatObject wrote it.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				h := strconv.FormatInt(int64(c), 16)
				if len(h) < 2 {
					b.WriteByte('0')
				}
				b.WriteString(h)
				continue
			}
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
