package rest

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// scanner is a cursor over one parameter's decoded text. Errors quote the whole input
// and the byte position, as PostgREST's parsec errors do.
type scanner struct {
	what string // "select parameter", "filter", "order", ...
	s    string
	pos  int
	err  *Error
}

func (p *scanner) eof() bool { return p.pos >= len(p.s) }
func (p *scanner) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}
func (p *scanner) rest() string      { return p.s[p.pos:] }
func (p *scanner) has(t string) bool { return strings.HasPrefix(p.s[p.pos:], t) }

func (p *scanner) skipWS() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// fail records the first error: `unexpected X expecting E`.
func (p *scanner) fail(expecting string) bool {
	if p.err == nil {
		var unexpected string
		if p.eof() {
			unexpected = "unexpected end of input"
		} else {
			r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
			unexpected = "unexpected \"" + string(r) + "\""
		}
		d := unexpected
		if expecting != "" {
			d += " expecting " + expecting
		}
		p.err = parseError(p.what, p.s, p.pos, d)
	}
	return false
}

func (p *scanner) failMsg(msg string) bool {
	if p.err == nil {
		p.err = parseError(p.what, p.s, p.pos, msg)
	}
	return false
}

func (p *scanner) expect(c byte, expecting string) bool {
	if p.peek() != c {
		return p.fail(expecting)
	}
	p.pos++
	return true
}

func isIdentRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == ' ' || r == '$'
}

// identifier reads [letter digit _ space $]+ and trims spaces.
func (p *scanner) identifier() (string, bool) {
	start := p.pos
	for p.pos < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.pos:])
		if !isIdentRune(r) {
			break
		}
		p.pos += n
	}
	if p.pos == start {
		return "", false
	}
	return strings.TrimSpace(p.s[start:p.pos]), true
}

// quoted reads "..." with backslash escapes.
func (p *scanner) quoted() (string, bool) {
	if p.peek() != '"' {
		return "", false
	}
	i := p.pos + 1
	var b strings.Builder
	for i < len(p.s) {
		c := p.s[i]
		switch c {
		case '"':
			p.pos = i + 1
			return b.String(), true
		case '\\':
			if i+1 < len(p.s) {
				b.WriteByte(p.s[i+1])
				i += 2
				continue
			}
			i++
			continue
		}
		b.WriteByte(c)
		i++
	}
	p.pos = len(p.s)
	return "", p.fail("\"\\\"\"")
}

// fieldName reads a quoted name or identifiers joined by '-' (a '-' before '>' ends it).
func (p *scanner) fieldName() (string, bool) {
	if p.peek() == '"' {
		return p.quoted()
	}
	start := p.pos
	if _, ok := p.identifier(); !ok {
		return "", p.fail("field name (* or [a..z0..9_$])")
	}
	for p.has("-") && !p.has("->") {
		save := p.pos
		p.pos++
		if _, ok := p.identifier(); !ok {
			p.pos = save
			break
		}
	}
	return strings.TrimSpace(p.s[start:p.pos]), true
}

// jsonPath reads (-> | ->>) operand, repeatedly.
func (p *scanner) jsonPath() ([]JSONOp, bool) {
	var ops []JSONOp
	for {
		var op JSONOp
		switch {
		case p.has("->>"):
			op.Text = true
			p.pos += 3
		case p.has("->"):
			p.pos += 2
		default:
			return ops, true
		}
		// An index is an optionally negative integer that ends the step.
		i := p.pos
		if i < len(p.s) && p.s[i] == '-' {
			i++
		}
		j := i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j > i && (j == len(p.s) || strings.ContainsRune(",.:)-", rune(p.s[j]))) &&
			(j == len(p.s) || p.s[j] != ':' || strings.HasPrefix(p.s[j:], "::")) &&
			(j == len(p.s) || p.s[j] != '-' || strings.HasPrefix(p.s[j:], "->")) {
			op.Key, op.Index = p.s[p.pos:j], true
			p.pos = j
		} else {
			if p.peek() == '-' {
				p.pos++
				return nil, p.fail("digit")
			}
			k, ok := p.fieldName()
			if !ok {
				return nil, false
			}
			op.Key = k
		}
		ops = append(ops, op)
	}
}

func (p *scanner) field() (Field, bool) {
	p.skipWS()
	name, ok := p.fieldName()
	if !ok {
		return Field{}, false
	}
	js, ok := p.jsonPath()
	if !ok {
		return Field{}, false
	}
	p.skipWS()
	return Field{Name: name, JSON: js}, true
}

// ---- select ----

var aggregates = [...]string{"count", "sum", "avg", "max", "min"}

func parseSelect(s string) ([]SelectItem, *Error) {
	p := &scanner{what: "select parameter", s: s}
	items, ok := p.forest(0)
	if ok && !p.eof() {
		p.fail(`"," or end of input`)
		ok = false
	}
	if !ok {
		return nil, p.err
	}
	return items, nil
}

const maxSelectDepth = 32

func (p *scanner) forest(depth int) ([]SelectItem, bool) {
	if depth > maxSelectDepth {
		return nil, p.failMsg("select is nested too deeply")
	}
	var items []SelectItem
	for {
		p.skipWS()
		it, ok := p.selectItem(depth)
		if !ok {
			return nil, false
		}
		items = append(items, it)
		p.skipWS()
		if p.peek() != ',' {
			return items, true
		}
		p.pos++
	}
}

func (p *scanner) itemEnd() bool {
	p.skipWS()
	if p.eof() || p.peek() == ',' || p.peek() == ')' {
		return true
	}
	return p.fail(`"," or end of input`)
}

func (p *scanner) embedParams(it *SelectItem) bool {
	for i := 0; i < 2 && p.peek() == '!'; i++ {
		p.pos++
		name, ok := p.fieldName()
		if !ok {
			return false
		}
		switch {
		case name == "inner" && it.Join == JoinDefault:
			it.Join = JoinInner
		case name == "left" && it.Join == JoinDefault:
			it.Join = JoinLeft
		case it.Hint == "":
			it.Hint = name
		default:
			return p.fail(`"("`)
		}
	}
	return true
}

func (p *scanner) embedBody(it *SelectItem, depth int) bool {
	if !p.embedParams(it) {
		return false
	}
	if !p.expect('(', `"("`) {
		return false
	}
	p.skipWS()
	if p.peek() == ')' {
		// rel(): an empty embed, there to filter (rel!inner(), rel=not.is.null,
		// rel.col=…) and left out of the response.
		p.pos++
		return p.itemEnd()
	}
	kids, ok := p.forest(depth + 1)
	if !ok {
		return false
	}
	p.skipWS()
	if !p.expect(')', `")"`) {
		return false
	}
	it.Children = kids
	return p.itemEnd()
}

func (p *scanner) cast() (string, bool) {
	if !p.has("::") {
		return "", true
	}
	p.pos += 2
	id, ok := p.identifier()
	if !ok {
		return "", p.fail("letter or digit")
	}
	return id, true
}

func (p *scanner) selectItem(depth int) (SelectItem, bool) {
	var it SelectItem
	if p.has("...") {
		p.pos += 3
		it.Kind = SelectSpread
		name, ok := p.fieldName()
		if !ok {
			return it, false
		}
		it.Relation = name
		return it, p.embedBody(&it, depth)
	}
	if p.peek() == '*' {
		p.pos++
		it.Kind, it.Star, it.Field.Name = SelectColumn, true, "*"
		return it, p.itemEnd()
	}
	// alias:
	save := p.pos
	if a, ok := p.fieldName(); ok && p.peek() == ':' && !p.has("::") {
		p.pos++
		it.Alias = a
		p.skipWS()
	} else {
		p.pos, p.err = save, nil
	}
	if p.has("count()") {
		p.pos += len("count()")
		it.Kind = SelectCount
		c, ok := p.cast()
		if !ok {
			return it, false
		}
		it.CountCast = c
		return it, p.itemEnd()
	}
	name, ok := p.fieldName()
	if !ok {
		return it, false
	}
	if p.peek() == '!' || p.peek() == '(' {
		it.Kind, it.Relation = SelectEmbed, name
		return it, p.embedBody(&it, depth)
	}
	it.Kind, it.Field.Name = SelectColumn, name
	if it.Field.JSON, ok = p.jsonPath(); !ok {
		return it, false
	}
	if it.Cast, ok = p.cast(); !ok {
		return it, false
	}
	if p.peek() == '.' {
		p.pos++
		fn, _ := p.identifier()
		known := false
		for _, a := range aggregates {
			known = known || a == fn
		}
		if !known || !p.has("()") {
			return it, p.failMsg("unknown aggregate function " + fn)
		}
		p.pos += 2
		it.Agg = fn
		if it.AggCast, ok = p.cast(); !ok {
			return it, false
		}
	}
	return it, p.itemEnd()
}

// ---- columns, on_conflict ----

func parseColumns(what, s string) ([]string, *Error) {
	p := &scanner{what: what, s: s}
	var cols []string
	for {
		p.skipWS()
		c, ok := p.fieldName()
		if !ok {
			return nil, p.err
		}
		cols = append(cols, c)
		p.skipWS()
		if p.eof() {
			return cols, nil
		}
		if !p.expect(',', `"," or end of input`) {
			return nil, p.err
		}
	}
}

// ---- order ----

func parseOrder(s string) ([]OrderTerm, *Error) {
	p := &scanner{what: "order", s: s}
	var terms []OrderTerm
	for {
		p.skipWS()
		var t OrderTerm
		save := p.pos
		if name, ok := p.fieldName(); ok && p.peek() == '(' {
			p.pos++
			f, ok := p.field()
			if !ok {
				return nil, p.err
			}
			if !p.expect(')', `")"`) {
				return nil, p.err
			}
			t.Relation, t.Field = name, f
		} else {
			p.pos, p.err = save, nil
			f, ok := p.field()
			if !ok {
				return nil, p.err
			}
			t.Field = f
		}
		if p.has(".asc") || p.has(".desc") {
			t.Dir = true
			t.Desc = p.has(".desc")
			p.pos += 4
			if t.Desc {
				p.pos++
			}
		}
		switch {
		case p.has(".nullsfirst"):
			t.Nulls, t.NullsFirst = true, true
			p.pos += len(".nullsfirst")
		case p.has(".nullslast"):
			t.Nulls = true
			p.pos += len(".nullslast")
		case p.peek() == '.':
			p.pos++
			if t.Dir {
				p.fail(`"nullsfirst" or "nullslast"`)
			} else {
				p.fail(`"asc", "desc", "nullsfirst" or "nullslast"`)
			}
			return nil, p.err
		}
		terms = append(terms, t)
		p.skipWS()
		if p.eof() {
			return terms, nil
		}
		if !p.expect(',', `"," or end of input`) {
			return nil, p.err
		}
	}
}

// ---- paths ----

// parseTreePath parses a filter key `a.b.col->x`: embed path and field.
func parseTreePath(s string) ([]string, Field, *Error) {
	p := &scanner{what: "tree path", s: s}
	var names []string
	for {
		n, ok := p.fieldName()
		if !ok {
			return nil, Field{}, p.err
		}
		names = append(names, n)
		if p.peek() != '.' {
			break
		}
		p.pos++
	}
	js, ok := p.jsonPath()
	if !ok {
		return nil, Field{}, p.err
	}
	if !p.eof() {
		p.fail(`"." or end of input`)
		return nil, Field{}, p.err
	}
	return names[:len(names)-1], Field{Name: names[len(names)-1], JSON: js}, nil
}

// splitPath splits `a.b.limit` into the embed path [a b].
func splitPath(key string) []string {
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return nil
	}
	return strings.Split(key[:i], ".")
}

// ---- operators ----

func isSimpleOp(s string) bool {
	switch s {
	case "eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch",
		"cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj", "isdistinct":
		return true
	}
	return false
}

func isFtsOp(s string) bool {
	switch s {
	case "fts", "plfts", "phfts", "wfts":
		return true
	}
	return false
}

func isQuantifiable(s string) bool {
	switch s {
	case "eq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch":
		return true
	}
	return false
}

// splitQuant splits `eq(any)` into eq and the quantifier.
func splitQuant(s string) (string, Quantifier) {
	if strings.HasSuffix(s, "(any)") {
		return s[:len(s)-5], QuantAny
	}
	if strings.HasSuffix(s, "(all)") {
		return s[:len(s)-5], QuantAll
	}
	return s, QuantNone
}

// hasOperator mirrors PostgREST's test telling a filter from an RPC argument.
func hasOperator(v string) bool {
	first, _, dotted := strings.Cut(v, ".")
	switch {
	case first == "not" && dotted:
		return true
	case first == "is" || first == "in":
		return true
	}
	op, q := splitQuant(first)
	if isSimpleOp(op) && (q == QuantNone || isQuantifiable(op)) {
		return true
	}
	if isFtsOp(first) {
		return true
	}
	if i := strings.IndexByte(v, '('); i >= 0 && isFtsOp(v[:i]) {
		return true
	}
	return false
}

// isLikeOp reports operators whose pattern turns * into %.
func isLikeOp(op Operator) bool { return op == "like" || op == "ilike" }

func likePattern(s string) string { return strings.ReplaceAll(s, "*", "%") }

// opExpr parses [not.]operation; logic selects the operand grammar of logic trees
// (quoted, {array} or up to ',' / ')') over the top level's "rest of the text".
// next hands out value slots in order.
func (p *scanner) opExpr(logic bool, next func() int) (OpExpr, bool) {
	var e OpExpr
	if p.has("not.") {
		p.pos += 4
		e.Negate = true
	}
	switch {
	case p.has("in."):
		p.pos += 3
		e.Op = "in"
		list, ok := p.listVal()
		if !ok {
			return e, false
		}
		e.List = list
		e.Value = Value{Slot: next(), Text: arrayLiteral(list)}
		return e, true
	case p.has("is."):
		p.pos += 3
		for _, t := range [...]string{"null", "unknown", "true", "false"} {
			if len(p.rest()) >= len(t) && strings.EqualFold(p.rest()[:len(t)], t) {
				p.pos += len(t)
				e.Op, e.Is = "is", t
				return e, true
			}
		}
		return e, p.fail("null or trilean value (unknown, true, false)")
	}
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] != '.' && p.s[p.pos] != '(' {
		p.pos++
	}
	name := p.s[start:p.pos]
	if isFtsOp(name) {
		e.Op = Operator(name)
		if p.peek() == '(' {
			p.pos++
			lang, ok := p.identifier()
			if !ok || !p.expect(')', `")"`) {
				return e, p.fail("letter or digit")
			}
			e.Lang = lang
		}
		if !p.expect('.', "delimiter (.)") {
			return e, false
		}
	} else {
		for p.pos < len(p.s) && p.s[p.pos] != '.' {
			p.pos++
		}
		opStr := p.s[start:p.pos]
		op, q := splitQuant(opStr)
		if !isSimpleOp(op) || (q != QuantNone && !isQuantifiable(op)) || p.eof() {
			if p.eof() {
				return e, p.fail("delimiter (.)")
			}
			// PostgREST reports the operator after reading it and its delimiter.
			p.pos++
			return e, p.failMsg("unknown single value operator " + opStr)
		}
		p.pos++
		e.Op, e.Quant = Operator(op), q
	}
	var text string
	if logic {
		v, ok := p.logicSingleVal()
		if !ok {
			return e, false
		}
		text = v
	} else {
		text = p.rest()
		p.pos = len(p.s)
	}
	if isLikeOp(e.Op) {
		text = likePattern(text)
	}
	e.Value = Value{Slot: next(), Text: text}
	return e, true
}

// listVal reads ( elem, ... ) where elements may be "quoted".
func (p *scanner) listVal() ([]string, bool) {
	p.skipWS()
	if !p.expect('(', `"("`) {
		return nil, false
	}
	p.skipWS()
	list := []string{}
	if p.peek() == ')' {
		p.pos++
		p.skipWS()
		return list, true
	}
	for {
		if p.peek() == '"' {
			save := p.pos
			q, ok := p.quoted()
			if ok && (p.peek() == ',' || p.peek() == ')') {
				list = append(list, q)
			} else {
				p.pos, p.err = save, nil
				list = append(list, p.until(",)"))
			}
		} else {
			list = append(list, p.until(",)"))
		}
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if !p.expect(')', `")"`) {
			return nil, false
		}
		p.skipWS()
		return list, true
	}
}

func (p *scanner) until(stop string) string {
	start := p.pos
	for p.pos < len(p.s) && strings.IndexByte(stop, p.s[p.pos]) < 0 {
		p.pos++
	}
	return p.s[start:p.pos]
}

// logicSingleVal reads a "quoted" value, a {pg,array} or text up to ',' or ')'.
func (p *scanner) logicSingleVal() (string, bool) {
	if p.peek() == '"' {
		save := p.pos
		q, ok := p.quoted()
		if ok && (p.eof() || p.peek() == ',' || p.peek() == ')') {
			return q, true
		}
		p.pos, p.err = save, nil
	}
	if p.peek() == '{' {
		if end := strings.IndexByte(p.s[p.pos+1:], '}'); end >= 0 && !strings.ContainsRune(p.s[p.pos+1:p.pos+1+end], '{') {
			v := p.s[p.pos : p.pos+end+2]
			p.pos += end + 2
			return v, true
		}
	}
	return p.until(",)"), true
}

// arrayLiteral renders elements as a Postgres array literal with every element quoted.
func arrayLiteral(list []string) string {
	return string(appendArrayLiteral(nil, list...))
}

func appendArrayLiteral(b []byte, list ...string) []byte {
	b = append(b, '{')
	for i, e := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendArrayElem(b, e)
	}
	return append(b, '}')
}

func appendArrayElem[T string | []byte](b []byte, e T) []byte {
	b = append(b, '"')
	for i := 0; i < len(e); i++ {
		if e[i] == '"' || e[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, e[i])
	}
	return append(b, '"')
}

// ---- filters and logic ----

func parseFilterValue(v string, next func() int) (OpExpr, *Error) {
	p := &scanner{what: "filter", s: v}
	e, ok := p.opExpr(false, next)
	if ok && !p.eof() {
		ok = p.fail("end of input")
	}
	if !ok {
		return e, p.err
	}
	return e, nil
}

func parseLogic(op, v string, next func() int) (LogicTree, *Error) {
	p := &scanner{what: "logic tree", s: v}
	// PostgREST parses "or(...)"; positions are reported against the value.
	t, ok := p.logicExpr(op, 0, next)
	if ok && !p.eof() {
		ok = p.fail("end of input")
	}
	if !ok {
		return t, p.err
	}
	return t, nil
}

func (p *scanner) logicExpr(op string, depth int, next func() int) (LogicTree, bool) {
	t := LogicTree{Or: op == "or"}
	if depth > maxSelectDepth {
		return t, p.failMsg("logic tree is nested too deeply")
	}
	p.skipWS()
	if !p.expect('(', `"("`) {
		return t, false
	}
	for {
		p.skipWS()
		c, ok := p.logicItem(depth, next)
		if !ok {
			return t, false
		}
		t.Children = append(t.Children, c)
		p.skipWS()
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if !p.expect(')', `")" or ","`) {
			return t, false
		}
		p.skipWS()
		return t, true
	}
}

func (p *scanner) logicItem(depth int, next func() int) (LogicTree, bool) {
	neg := false
	save := p.pos
	if p.has("not.") {
		p.pos += 4
		neg = true
	}
	for _, op := range [...]string{"and", "or"} {
		if p.has(op + "(") {
			p.pos += len(op)
			t, ok := p.logicExpr(op, depth+1, next)
			t.Negate = neg
			return t, ok
		}
	}
	p.pos = save
	if p.eof() || p.peek() == ')' || p.peek() == ',' {
		return LogicTree{}, p.fail("field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)")
	}
	f, ok := p.field()
	if !ok {
		return LogicTree{}, false
	}
	if !p.expect('.', "delimiter (.)") {
		return LogicTree{}, false
	}
	e, ok := p.opExpr(true, next)
	if !ok {
		return LogicTree{}, false
	}
	return LogicTree{Leaf: &Filter{Field: f, Expr: e}}, true
}
