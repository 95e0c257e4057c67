// Package statement is the contract between the SQL the planner writes and the values the
// executor reads back: a Statement and its arguments, how the rows a statement returns
// become one JSON value (Result, Gatherer), the REST envelope that carries row counts
// beside a body (Envelope), and the rewrite that answers many argument sets of one
// statement in one execution (Multiplex), for batched reads and live queries.
//
// planner writes statements to this contract and reads their values through it; poolmgr
// runs them and gathers rows through it. It does no I/O and imports nothing of Kapok's.
package statement

import (
	"errors"
	"fmt"
	"strconv"
)

// Statement is one compiled statement: SQL whose every placeholder carries an explicit cast
// ($1::int4), and its arguments in text format (nil = SQL NULL). It returns one row with one
// column of JSON text, or, as Result says, rows of one column that the executor gathers.
type Statement struct {
	SQL    string
	Args   [][]byte
	Result Result
}

// Result says how a statement hands back its value. Other than Value, the statement returns
// one JSON value per row and the executor assembles them, which spares Postgres an
// aggregate.
type Result uint8

const (
	Value    Result = iota // one row of one column: the value itself
	Envelope               // any rows; the value is the envelope `<n>,,[<rows>]`
	Array                  // any rows; the value is their JSON array
	One                    // zero or one row; the value is that row's, or null
	Count                  // a command; the value is the envelope `<rows affected>,,[]`
)

// ErrShape reports a statement whose rows do not fit its Result.
var ErrShape = errors.New("statement did not return the rows its result kind needs")

// Gatherer turns the rows of one statement into its value, appended to a buffer: Begin,
// Row for each row, End. It allocates nothing.
type Gatherer struct {
	kind  Result
	start int
	rows  int
}

// Begin starts gathering a statement of kind r into dst.
func (g *Gatherer) Begin(r Result, dst []byte) []byte {
	*g = Gatherer{kind: r, start: len(dst)}
	if r == Envelope || r == Array {
		dst = append(dst, '[')
	}
	return dst
}

// Row adds one row, given its column values (nil = SQL NULL); the values are copied.
func (g *Gatherer) Row(dst []byte, cols [][]byte) ([]byte, error) {
	g.rows++
	if len(cols) != 1 {
		return dst, fmt.Errorf("%w: a row of %d columns", ErrShape, len(cols))
	}
	switch g.kind {
	case Count:
		return dst, nil
	case Value, One:
		if g.rows > 1 {
			return dst, fmt.Errorf("%w: more than one row", ErrShape)
		}
	default:
		if g.rows > 1 {
			dst = append(dst, ',')
		}
	}
	if cols[0] == nil {
		return append(dst, "null"...), nil
	}
	return append(dst, cols[0]...), nil
}

// End finishes the value; affected is the command tag's row count (Count).
func (g *Gatherer) End(dst []byte, affected int64) ([]byte, error) {
	switch g.kind {
	case Value:
		if g.rows != 1 {
			return dst[:g.start], fmt.Errorf("%w: %d rows", ErrShape, g.rows)
		}
		return dst, nil
	case One:
		if g.rows == 0 {
			dst = append(dst, "null"...)
		}
		return dst, nil
	case Array:
		return append(dst, ']'), nil
	case Count:
		dst = strconv.AppendInt(dst, affected, 10)
		return append(dst, ",,[]"...), nil
	case Envelope:
	default:
		return dst[:g.start], fmt.Errorf("%w: unknown result kind %d", ErrShape, g.kind)
	}
	dst = append(dst, ']')
	// The count goes in front once known, by moving the array (one memmove).
	var num [24]byte
	prefix := append(strconv.AppendInt(num[:0], int64(g.rows), 10), ',', ',')
	n := len(prefix)
	dst = append(dst, prefix...)
	copy(dst[g.start+n:], dst[g.start:len(dst)-n])
	copy(dst[g.start:], prefix)
	return dst, nil
}

// Rows is the number of rows gathered so far.
func (g *Gatherer) Rows() int { return g.rows }

// An EnvelopeValue is a REST statement's value split into its parts: `N,T,BODY`, N the rows
// in BODY and T the total the request asked to count (empty: not counted). Statements of
// Result Value write it themselves; the executor writes it for Envelope and Count.
type EnvelopeValue struct {
	N     int64
	Total int64 // -1: not counted
	Body  []byte
}

// SplitEnvelope reads an envelope value without decoding its body.
func SplitEnvelope(v []byte) (EnvelopeValue, bool) {
	var e EnvelopeValue
	var ok bool
	i := 0
	if e.N, i, ok = readInt(v, i); !ok || i >= len(v) || v[i] != ',' {
		return e, false
	}
	i++
	if i < len(v) && v[i] == ',' {
		e.Total = -1
	} else if e.Total, i, ok = readInt(v, i); !ok || i >= len(v) || v[i] != ',' {
		return e, false
	}
	e.Body = v[i+1:]
	return e, true
}

func readInt(b []byte, i int) (int64, int, bool) {
	start := i
	var n int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 18 {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	return n, i, i > start
}
