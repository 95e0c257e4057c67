package jsonx

import "errors"

// MaxDepth is how many arrays and objects a value may be nested in, counted from the
// value a scan starts at. The limit bounds the scanner's memory, and it refuses bodies
// built only to be expensive; no API request nests anywhere near it.
const MaxDepth = 256

var (
	// ErrSyntax reports bytes that are not JSON where a value, key or delimiter was due.
	ErrSyntax = errors.New("jsonx: invalid JSON")
	// ErrDepth reports a value nested more than MaxDepth arrays and objects deep.
	ErrDepth = errors.New("jsonx: JSON nested too deeply")
)

// Kind is the type of a JSON value, as its first byte tells it.
type Kind uint8

// The kinds of JSON values. Invalid is what an empty slice, or one that starts with no
// value's first byte, is.
const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

// KindOf classifies the value v by its first byte; it does not check the rest, which
// SkipValue has done when v is a slice it delimited.
func KindOf(v []byte) Kind {
	if len(v) == 0 {
		return Invalid
	}
	switch c := v[0]; {
	case c == '"':
		return String
	case c == '{':
		return Object
	case c == '[':
		return Array
	case c == 't' || c == 'f':
		return Bool
	case c == 'n':
		return Null
	case c == '-' || (c >= '0' && c <= '9'):
		return Number
	}
	return Invalid
}

// SkipSpace returns the index of the first byte at or after i that is not JSON
// whitespace (space, tab, newline, carriage return), or len(b).
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		if c := b[i]; c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			break
		}
		i++
	}
	return i
}

// ScanString reads the string literal that starts at b[i] (a '"'): end is the index
// just past its closing quote and escaped tells whether it holds a backslash escape,
// that is whether its contents b[i+1:end-1] differ from what they stand for (invalid
// UTF-8 aside). Escapes are checked; an unescaped control character is an error.
func ScanString(b []byte, i int) (end int, escaped bool, err error) {
	if i >= len(b) || b[i] != '"' {
		return i, false, ErrSyntax
	}
	return scanStringFrom(b, i+1, false)
}

// scanStringFrom is ScanString from b[j], inside the string, so that a fast loop that
// stops at an escape need not start over.
func scanStringFrom(b []byte, j int, escaped bool) (end int, _ bool, err error) {
	for {
		for j < len(b) && !stringStop[b[j]] {
			j++
		}
		if j >= len(b) {
			return j, escaped, ErrSyntax
		}
		switch b[j] {
		case '"':
			return j + 1, escaped, nil
		case '\\':
			escaped = true
			if j+1 >= len(b) {
				return j, escaped, ErrSyntax
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if hex4(b[j+2:]) < 0 {
					return j, escaped, ErrSyntax
				}
				j += 6
			default:
				return j, escaped, ErrSyntax
			}
		default: // a control character
			return j, escaped, ErrSyntax
		}
	}
}

// SkipValue returns the index just past the JSON value that starts at b[i] (no space is
// skipped before it). It checks the value's whole grammar without decoding it.
func SkipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return i, ErrSyntax
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		return skipContainer(b, i)
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	case 'n':
		return literal(b, i, "null")
	}
	// Integers are most numbers in requests: read them without another call.
	j := i
	if b[j] == '-' {
		j++
	}
	if j < len(b) && b[j] >= '1' && b[j] <= '9' {
		j = skipDigits(b, j+1)
		if j == len(b) || (b[j] != '.' && b[j] != 'e' && b[j] != 'E') {
			return j, nil
		}
	}
	return skipNumber(b, i)
}

// skipString returns the index just past the string literal at b[i] (a '"'); plain
// contents take the short way.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		if c := b[j]; c == '"' {
			return j + 1, nil
		} else if c == '\\' || c < 0x20 {
			end, _, err := scanStringFrom(b, j, false)
			return end, err
		}
	}
	return len(b), ErrSyntax
}

// skipContainer is SkipValue for an array or object at b[i].
func skipContainer(b []byte, i int) (int, error) {
	// Bit d of open is set when the container open at depth d is an object; inObject
	// caches the bit of the innermost one. The loop is one function, strings and keys
	// inline, because calls per token are most of a scan's cost.
	var open [MaxDepth/64 + 1]uint64
	depth, inObject, needKey := 0, false, false
	var err error
	for {
		if needKey {
			if i >= len(b) || b[i] != '"' {
				return i, ErrSyntax
			}
			j := i + 1
			for j < len(b) {
				if c := b[j]; c == '"' || c == '\\' || c < 0x20 {
					break
				}
				j++
			}
			if j < len(b) && b[j] == '"' {
				i = j + 1
			} else if i, _, err = scanStringFrom(b, j, false); err != nil {
				return i, err
			}
			i = SkipSpace(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, ErrSyntax
			}
			i = SkipSpace(b, i+1)
			needKey = false
		}
		// b[i] starts a value nested in depth containers.
		if depth > MaxDepth {
			return i, ErrDepth
		}
		if i >= len(b) {
			return i, ErrSyntax
		}
		switch c := b[i]; c {
		case '"':
			j := i + 1
			for j < len(b) {
				if c := b[j]; c == '"' || c == '\\' || c < 0x20 {
					break
				}
				j++
			}
			if j < len(b) && b[j] == '"' {
				i = j + 1
			} else {
				i, _, err = scanStringFrom(b, j, false)
			}
		case '{', '[':
			closer := byte(']')
			if c == '{' {
				closer = '}'
			}
			i = SkipSpace(b, i+1)
			if i < len(b) && b[i] == closer {
				i++
				break
			}
			inObject = c == '{'
			if inObject {
				open[depth>>6] |= 1 << (depth & 63)
			} else {
				open[depth>>6] &^= 1 << (depth & 63)
			}
			depth++
			needKey = inObject
			continue
		case 't':
			i, err = literal(b, i, "true")
		case 'f':
			i, err = literal(b, i, "false")
		case 'n':
			i, err = literal(b, i, "null")
		default:
			i, err = skipNumber(b, i)
		}
		if err != nil {
			return i, err
		}
		// The value ended: close containers until one goes on with a comma.
		for depth > 0 {
			i = SkipSpace(b, i)
			if i >= len(b) {
				return i, ErrSyntax
			}
			c := b[i]
			if c == ',' {
				i = SkipSpace(b, i+1)
				needKey = inObject
				break
			}
			if (inObject && c != '}') || (!inObject && c != ']') {
				return i, ErrSyntax
			}
			i++
			depth--
			if depth > 0 {
				inObject = open[(depth-1)>>6]&(1<<((depth-1)&63)) != 0
			}
		}
		if depth == 0 {
			return i, nil
		}
	}
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return i, ErrSyntax
}

// skipNumber reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? from b[i].
func skipNumber(b []byte, i int) (int, error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return i, ErrSyntax
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return j, ErrSyntax
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return j, ErrSyntax
		}
		i = j
	}
	return i, nil
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// Valid reports whether b is one JSON value, with only whitespace around it.
func Valid(b []byte) bool {
	end, err := SkipValue(b, SkipSpace(b, 0))
	return err == nil && SkipSpace(b, end) == len(b)
}

// IsNumber reports whether v is exactly one JSON number.
func IsNumber(v []byte) bool {
	end, err := skipNumber(v, 0)
	return err == nil && end == len(v)
}

// IsInteger reports whether v is exactly one JSON number with neither a fraction nor
// an exponent.
func IsInteger(v []byte) bool {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	switch {
	case i < len(v) && v[i] == '0':
		return i+1 == len(v)
	case i < len(v) && v[i] >= '1' && v[i] <= '9':
		return skipDigits(v, i+1) == len(v)
	}
	return false
}

// EachMember walks the object that starts at b[i] (a '{'), calling fn with each
// member's key (the quoted literal, escapes kept) and value (as SkipValue delimits it,
// nesting counted from the value), in order. It returns the index just past the
// object's '}', or the first error: the scanner's, or fn's as fn returned it, which
// stops the walk before the rest is read.
func EachMember(b []byte, i int, fn func(key, val []byte) error) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return i, ErrSyntax
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	var err error
	for {
		if i >= len(b) || b[i] != '"' {
			return i, ErrSyntax
		}
		kend := i + 1
		for kend < len(b) && b[kend] != '"' && b[kend] != '\\' && b[kend] >= 0x20 {
			kend++
		}
		if kend < len(b) && b[kend] == '"' {
			kend++
		} else if kend, _, err = scanStringFrom(b, kend, false); err != nil {
			return kend, err
		}
		key := b[i:kend]
		i = SkipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return i, ErrSyntax
		}
		i = SkipSpace(b, i+1)
		vend, err := SkipValue(b, i)
		if err != nil {
			return vend, err
		}
		if err := fn(key, b[i:vend]); err != nil {
			return i, err
		}
		if i = SkipSpace(b, vend); i >= len(b) {
			return i, ErrSyntax
		}
		switch b[i] {
		case '}':
			return i + 1, nil
		case ',':
			i = SkipSpace(b, i+1)
		default:
			return i, ErrSyntax
		}
	}
}

// EachElement walks the array that starts at b[i] (a '['), calling fn with each
// element's index and value (as SkipValue delimits it), in order. It returns the index
// just past the array's ']', or the first error: the scanner's, or fn's as fn returned
// it, which stops the walk before the rest is read.
func EachElement(b []byte, i int, fn func(n int, el []byte) error) (int, error) {
	if i >= len(b) || b[i] != '[' {
		return i, ErrSyntax
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		end, err := SkipValue(b, i)
		if err != nil {
			return end, err
		}
		if err := fn(n, b[i:end]); err != nil {
			return i, err
		}
		if i = SkipSpace(b, end); i >= len(b) {
			return i, ErrSyntax
		}
		switch b[i] {
		case ']':
			return i + 1, nil
		case ',':
			i = SkipSpace(b, i+1)
		default:
			return i, ErrSyntax
		}
	}
}

// hex4 reads four hex digits from the start of b, or gives -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// stringStop marks the bytes that end a run of plain string contents.
var stringStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()
