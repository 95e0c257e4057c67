package rest

import (
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Shaper reduces a request to its plan-cache shape key and its values.
//
// The key is the method, the path and the query string with every value replaced by a
// numbered placeholder, followed by the headers that change the SQL or the response
// (Prefer, Accept, Accept-Profile, Content-Profile, Content-Type, and the Range header
// of GET/HEAD as two placeholders: offset and limit):
//
//	GET /orders?customer_id=eq.$1&order=created_at.desc&limit=$2
//
// Contract: two requests with equal keys parse to the same ApiRequest up to the Text of
// its Values, and values[v.Slot] is the bind-ready text of every Value v (decoded, an
// in-list as one Postgres array literal, like patterns with * as %). Text that is not
// a value (select, order, operators, names, is.null, fts languages) stays in the key,
// escaped so that no value can forge key syntax. Input the grammar rejects leaves a
// key that no valid request has (its text marked with '!'); callers never cache
// errors. A Shaper is not safe for concurrent use; reuse one per worker for zero
// allocations. The values alias the Shaper's buffer and stay valid until its next call.
type Shaper struct {
	sc   []byte   // decoded query text and built values
	key  []byte   // the key being built
	vals [][]byte // the values being built
	base int      // len(vals) when the call started
}

func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Shape appends the shape key of the request to dst and its values to vals.
func (s *Shaper) Shape(method, path, rawQuery []byte, h HeaderGetter, dst []byte, vals [][]byte) ([]byte, [][]byte) {
	s.sc, s.key, s.vals, s.base = s.sc[:0], dst, vals, len(vals)
	s.key = append(s.key, method...)
	s.key = append(s.key, ' ')
	s.key = escapeKey(s.key, bstr(path))
	s.key = append(s.key, '?')
	first := true
	rootOff, rootLim := -1, -1 // the indexes in vals of the root's offset and limit
	for i := 0; i < len(rawQuery); {
		rn, rv, hasEq, nx := nextPair(rawQuery, i)
		i = nx
		if !hasEq {
			continue
		}
		ns := len(s.sc)
		s.sc = appendUnescape(s.sc, rn)
		vs := len(s.sc)
		s.sc = appendUnescape(s.sc, rv)
		name, value := bstr(s.sc[ns:vs]), bstr(s.sc[vs:])
		if !first {
			s.key = append(s.key, '&')
		}
		first = false
		s.key = escapeKey(s.key, name)
		s.key = append(s.key, '=')
		switch paramKind(name, value) {
		case kindSelect, kindColumns, kindOnConflict, kindOrder:
			s.key = escapeKey(s.key, value)
		case kindLimit, kindOffset:
			if allDigits([]byte(value)) {
				switch name {
				case "limit":
					rootLim = len(s.vals)
				case "offset":
					rootOff = len(s.vals)
				}
				s.value(value)
			} else {
				s.verbatim(value)
			}
		case kindArg:
			s.value(value)
		case kindFilter:
			s.template(value, false)
		case kindLogic:
			s.template(value, true)
		}
	}
	if rangeApplies(bstr(method)) {
		raw := firstHeader(h, HeaderRange)
		if rangeMalformed(raw) {
			s.key = append(s.key, "\x00R:"...)
			s.verbatim(bstr(raw))
		}
		if lo, up, ok := rangeHeader(raw); ok {
			s.key = append(s.key, "\x00R:"...)
			if len(up) > 0 && atoi(lo) > atoi(up) {
				s.key = append(s.key, '!')
			} else {
				hOff, hLim := len(s.vals), -1
				s.value(bstr(lo))
				if len(up) > 0 {
					s.key = append(s.key, '-')
					m := len(s.sc)
					s.sc = strconv.AppendInt(s.sc, atoi(up)-atoi(lo)+1, 10)
					hLim = len(s.vals)
					s.value(bstr(s.sc[m:]))
				}
				s.intersectPage(hOff, hLim, rootOff, rootLim)
			}
		}
	}
	s.header(h, HeaderPrefer, "\x00P:")
	s.header(h, HeaderAccept, "\x00A:")
	s.header(h, HeaderAcceptProfile, "\x00AP:")
	s.header(h, HeaderContentProfile, "\x00CP:")
	s.header(h, HeaderContentType, "\x00CT:")
	return s.key, s.vals
}

// intersectPage binds the intersection of the Range header (its values at hOff and hLim)
// and the root's offset and limit (at rootOff and rootLim; -1 where absent) in the
// slots ApiRequest.Page names, as parse does (ApiRequest.intersectPage). An empty one
// marks the key: parse refuses it.
func (s *Shaper) intersectPage(hOff, hLim, rootOff, rootLim int) {
	if (rootOff < 0 && rootLim < 0) || (rootLim >= 0 && atoi(s.vals[rootLim]) == 0) {
		return
	}
	num := func(i int) int64 {
		if i < 0 {
			return -1
		}
		return atoi(s.vals[i])
	}
	off, lim, ok := pageOf(num(hOff), num(hLim), num(rootOff), num(rootLim))
	if !ok {
		s.key = append(s.key, '!')
		return
	}
	set := func(i int, n int64) {
		m := len(s.sc)
		s.sc = strconv.AppendInt(s.sc, n, 10)
		s.vals[i] = s.sc[m:]
	}
	if rootOff >= 0 {
		hOff = rootOff
	}
	set(hOff, off)
	if rootLim >= 0 {
		hLim = rootLim
	}
	if lim >= 0 {
		set(hLim, lim)
	}
}

func (s *Shaper) header(h HeaderGetter, name, tag string) {
	if h == nil {
		return
	}
	all := h.PeekAll(name)
	if len(all) == 0 {
		return
	}
	s.key = append(s.key, tag...)
	for i, v := range all {
		if i > 0 {
			s.key = append(s.key, ',')
		}
		s.key = escapeKey(s.key, bstr(v))
	}
}

// value adds a placeholder for v, which must already live in s.sc or in the request.
func (s *Shaper) value(v string) {
	b := unsafe.Slice(unsafe.StringData(v), len(v))
	if b == nil {
		// An empty value unescaped from quotes ("") has no data pointer; a nil slice
		// would bind as NULL, not as the empty string.
		b = []byte{}
	}
	s.vals = append(s.vals, b)
	s.key = append(s.key, '$')
	s.key = strconv.AppendInt(s.key, int64(len(s.vals)-s.base), 10)
}

func (s *Shaper) verbatim(v string) {
	s.key = append(s.key, '!')
	s.key = escapeKey(s.key, v)
}

// escapeKey appends text to the key with the key's own syntax characters escaped.
func escapeKey(dst []byte, t string) []byte {
	const hexd = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(t); i++ {
		if c := t[i]; keySyntax[c] {
			dst = append(dst, t[start:i]...)
			dst = append(dst, '%', hexd[c>>4], hexd[c&15])
			start = i + 1
		}
	}
	return append(dst, t[start:]...)
}

var keySyntax = [256]bool{'&': true, '=': true, '$': true, '%': true, '!': true, '?': true, 0: true}

// tmpl walks a filter value or a logic tree, copying structure into the key and
// turning each operand into a placeholder. It mirrors the parser's grammar; on
// anything the grammar rejects it gives up and the caller writes the text verbatim.
type tmpl struct {
	s    *Shaper
	t    string
	pos  int
	last int // t[last:pos] not yet copied to the key
}

func (s *Shaper) template(v string, logic bool) {
	keyMark, valMark := len(s.key), len(s.vals)
	w := tmpl{s: s, t: v}
	var ok bool
	if logic {
		ok = w.logicExpr(0) && w.pos == len(w.t)
	} else {
		ok = w.opExpr(false) && w.pos == len(w.t)
	}
	if !ok {
		s.key, s.vals = s.key[:keyMark], s.vals[:valMark]
		s.verbatim(v)
		return
	}
	s.key = escapeKey(s.key, w.t[w.last:])
}

func (w *tmpl) has(p string) bool { return strings.HasPrefix(w.t[w.pos:], p) }
func (w *tmpl) peek() byte {
	if w.pos < len(w.t) {
		return w.t[w.pos]
	}
	return 0
}
func (w *tmpl) ws() {
	for w.pos < len(w.t) && (w.t[w.pos] == ' ' || w.t[w.pos] == '\t') {
		w.pos++
	}
}

// operand replaces t[a:b] by a placeholder bound to v.
func (w *tmpl) operand(a, b int, v string) {
	w.s.key = escapeKey(w.s.key, w.t[w.last:a])
	w.s.value(v)
	w.last = b
}

func (w *tmpl) ident() bool {
	start := w.pos
	for w.pos < len(w.t) {
		r, n := utf8.DecodeRuneInString(w.t[w.pos:])
		if !isIdentRune(r) {
			break
		}
		w.pos += n
	}
	return w.pos > start
}

// quotedEnd returns the index after the closing quote of a quoted name at i.
func quotedEnd(t string, i int) (int, bool) {
	for i++; i < len(t); i++ {
		switch t[i] {
		case '"':
			return i + 1, true
		case '\\':
			if i+1 < len(t) {
				i++
			}
		}
	}
	return len(t), false
}

func (w *tmpl) fieldName() bool {
	if w.peek() == '"' {
		end, ok := quotedEnd(w.t, w.pos)
		w.pos = end
		return ok
	}
	if !w.ident() {
		return false
	}
	for w.has("-") && !w.has("->") {
		save := w.pos
		w.pos++
		if !w.ident() {
			w.pos = save
			break
		}
	}
	return true
}

func (w *tmpl) jsonPath() bool {
	for {
		switch {
		case w.has("->>"):
			w.pos += 3
		case w.has("->"):
			w.pos += 2
		default:
			return true
		}
		t := w.t
		i := w.pos
		if i < len(t) && t[i] == '-' {
			i++
		}
		j := i
		for j < len(t) && t[j] >= '0' && t[j] <= '9' {
			j++
		}
		if j > i && (j == len(t) || strings.IndexByte(",.:)-", t[j]) >= 0) &&
			(j == len(t) || t[j] != ':' || strings.HasPrefix(t[j:], "::")) &&
			(j == len(t) || t[j] != '-' || strings.HasPrefix(t[j:], "->")) {
			w.pos = j
			continue
		}
		if w.peek() == '-' || !w.fieldName() {
			return false
		}
	}
}

func (w *tmpl) field() bool {
	w.ws()
	if !w.fieldName() || !w.jsonPath() {
		return false
	}
	w.ws()
	return true
}

func (w *tmpl) until(stop string) {
	for w.pos < len(w.t) && strings.IndexByte(stop, w.t[w.pos]) < 0 {
		w.pos++
	}
}

// opExpr mirrors scanner.opExpr.
func (w *tmpl) opExpr(logic bool) bool {
	if w.has("not.") {
		w.pos += 4
	}
	switch {
	case w.has("in."):
		w.pos += 3
		return w.listVal()
	case w.has("is."):
		w.pos += 3
		for _, tv := range [...]string{"null", "unknown", "true", "false"} {
			if r := w.t[w.pos:]; len(r) >= len(tv) && strings.EqualFold(r[:len(tv)], tv) {
				w.pos += len(tv)
				return true
			}
		}
		return false
	}
	start := w.pos
	for w.pos < len(w.t) && w.t[w.pos] != '.' && w.t[w.pos] != '(' {
		w.pos++
	}
	like := false
	if isFtsOp(w.t[start:w.pos]) {
		if w.peek() == '(' {
			w.pos++
			if !w.ident() || w.peek() != ')' {
				return false
			}
			w.pos++
		}
		if w.peek() != '.' {
			return false
		}
		w.pos++
	} else {
		for w.pos < len(w.t) && w.t[w.pos] != '.' {
			w.pos++
		}
		op, q := splitQuant(w.t[start:w.pos])
		if !isSimpleOp(op) || (q != QuantNone && !isQuantifiable(op)) || w.pos >= len(w.t) {
			return false
		}
		w.pos++
		like = isLikeOp(Operator(op))
	}
	a := w.pos
	var text string
	if logic {
		var ok bool
		if text, ok = w.logicSingleVal(); !ok {
			return false
		}
	} else {
		text = w.t[a:]
		w.pos = len(w.t)
	}
	if like && strings.IndexByte(text, '*') >= 0 {
		m := len(w.s.sc)
		for i := 0; i < len(text); i++ {
			c := text[i]
			if c == '*' {
				c = '%'
			}
			w.s.sc = append(w.s.sc, c)
		}
		text = bstr(w.s.sc[m:])
	}
	w.operand(a, w.pos, text)
	return true
}

// logicSingleVal mirrors scanner.logicSingleVal; a quoted value is unescaped into s.sc.
func (w *tmpl) logicSingleVal() (string, bool) {
	if w.peek() == '"' {
		end, ok := quotedEnd(w.t, w.pos)
		if ok && (end == len(w.t) || w.t[end] == ',' || w.t[end] == ')') {
			v := w.unquote(w.pos, end)
			w.pos = end
			return v, true
		}
	}
	if w.peek() == '{' {
		r := w.t[w.pos+1:]
		if end := strings.IndexByte(r, '}'); end >= 0 && strings.IndexByte(r[:end], '{') < 0 {
			v := w.t[w.pos : w.pos+end+2]
			w.pos += end + 2
			return v, true
		}
	}
	a := w.pos
	w.until(",)")
	return w.t[a:w.pos], true
}

// unquote decodes the quoted text t[a:end] (quotes included) into s.sc.
func (w *tmpl) unquote(a, end int) string {
	m := len(w.s.sc)
	for i := a + 1; i < end-1; i++ {
		c := w.t[i]
		if c == '\\' {
			if i+1 < end-1 {
				i++
				c = w.t[i]
			} else {
				continue
			}
		}
		w.s.sc = append(w.s.sc, c)
	}
	return bstr(w.s.sc[m:])
}

// listVal mirrors scanner.listVal, building the array literal in s.sc.
func (w *tmpl) listVal() bool {
	w.ws()
	if w.peek() != '(' {
		return false
	}
	a := w.pos
	w.pos++
	w.ws()
	m := len(w.s.sc)
	w.s.sc = append(w.s.sc, '{')
	if w.peek() == ')' {
		w.pos++
	} else {
		for n := 0; ; n++ {
			if n > 0 {
				w.s.sc = append(w.s.sc, ',')
			}
			done := false
			if w.peek() == '"' {
				end, ok := quotedEnd(w.t, w.pos)
				if ok && end < len(w.t) && (w.t[end] == ',' || w.t[end] == ')') {
					w.s.sc = append(w.s.sc, '"')
					for i := w.pos + 1; i < end-1; i++ {
						c := w.t[i]
						if c == '\\' {
							if i+1 >= end-1 {
								continue
							}
							i++
							c = w.t[i]
						}
						if c == '"' || c == '\\' {
							w.s.sc = append(w.s.sc, '\\')
						}
						w.s.sc = append(w.s.sc, c)
					}
					w.s.sc = append(w.s.sc, '"')
					w.pos = end
					done = true
				}
			}
			if !done {
				e := w.pos
				w.until(",)")
				w.s.sc = appendArrayElem(w.s.sc, w.t[e:w.pos])
			}
			if w.peek() == ',' {
				w.pos++
				continue
			}
			if w.peek() != ')' {
				return false
			}
			w.pos++
			break
		}
	}
	w.s.sc = append(w.s.sc, '}')
	b := w.pos
	w.ws()
	w.operand(a, b, bstr(w.s.sc[m:]))
	return true
}

// logicExpr mirrors scanner.logicExpr.
func (w *tmpl) logicExpr(depth int) bool {
	if depth > maxSelectDepth {
		return false
	}
	w.ws()
	if w.peek() != '(' {
		return false
	}
	w.pos++
	for {
		w.ws()
		if !w.logicItem(depth) {
			return false
		}
		w.ws()
		if w.peek() == ',' {
			w.pos++
			continue
		}
		if w.peek() != ')' {
			return false
		}
		w.pos++
		w.ws()
		return true
	}
}

func (w *tmpl) logicItem(depth int) bool {
	save := w.pos
	if w.has("not.") {
		w.pos += 4
	}
	if w.has("and(") || w.has("or(") {
		if w.peek() == 'a' {
			w.pos += 3
		} else {
			w.pos += 2
		}
		return w.logicExpr(depth + 1)
	}
	w.pos = save
	if w.pos >= len(w.t) || w.peek() == ')' || w.peek() == ',' {
		return false
	}
	if !w.field() || w.peek() != '.' {
		return false
	}
	w.pos++
	return w.opExpr(true)
}
