package wire

import (
	"fmt"
	"strings"
)

// The statement guard reads every simple Query text and every Parse text before PostgreSQL
// does. It splits the text into statements with a lexer that follows PostgreSQL's own
// (scan.l) wherever that decides where a string, identifier, comment or statement ends, so
// that nothing the server would run can hide from it inside what the guard takes for a
// literal. It refuses what would escape the session's role or claims, or what breaks
// under transaction pooling, and reports the session state a statement changes (SET,
// RESET, SET ROLE, DEALLOCATE, DISCARD ALL) so the engine can carry it to the next server
// connection.
//
// Its lexing assumes standard_conforming_strings on and a client encoding in which no byte
// of a multibyte character is ASCII; it refuses SET statements that would change either.

// policy is what the guard knows of the session a statement comes from.
type policy struct {
	// token: the client authenticated with an API key or JWT.
	token bool
	// usable reports whether the tenant may run as role.
	usable func(role string) bool
}

// refusal is a statement the guard will not let through.
type refusal struct{ Code, Message, Hint string }

// effectKind is what a statement changes in the session.
type effectKind uint8

const (
	effectSet effectKind = iota + 1
	effectReset
	effectResetAll
	effectSetRole
	effectDeallocate
	effectDeallocateAll
	effectDiscardAll
	// effectTouch: a set_config call the guard let through. Its parameter may outlive the
	// transaction on the server connection, where the engine cannot replay or undo it by
	// name, so the connection's settings are reset before its next session.
	effectTouch
)

// effect is one change a statement makes to the session.
type effect struct {
	Kind effectKind
	// Name is the parameter (lower-cased: PostgreSQL looks parameters up case-insensitively)
	// or the prepared statement's name.
	Name string
	// Value is the SQL text of a SET's value as written, or the role of effectSetRole
	// ("" for RESET ROLE and SET ROLE NONE).
	Value string
}

const (
	codeInsufficientPrivilege = "42501"
	codeFeatureNotSupported   = "0A000"
)

// inspect decides whether sql may run in a session under p, and what it changes in the
// session: one effect per statement that changes something, in statement order. A text
// with any refused statement is refused as a whole (the first refusal).
func inspect(sql string, p policy) ([]effect, *refusal) {
	in := inspector{lx: lexer{src: sql}, p: p}
	var effects []effect
	for {
		first := in.lx.next()
		if first.kind == tokEOF {
			if in.touched {
				effects = append(effects, effect{Kind: effectTouch})
			}
			return effects, nil
		}
		if first.kind == tokSemi {
			continue
		}
		e, r := in.statement(first)
		if r != nil {
			return nil, r
		}
		if e.Kind != 0 {
			effects = append(effects, e)
		}
	}
}

type inspector struct {
	lx lexer
	p  policy
	// onCommitDrop: rest saw ON COMMIT DROP (scanOnCommit).
	onCommitDrop bool
	// touched: an allowed set_config call was seen (effectTouch).
	touched bool
}

// scan flags: what to look for in the rest of a statement besides the function calls
// every statement is checked for.
const (
	scanSelectInto  = 1 << iota // SELECT … INTO TEMP t
	scanOnCommit                // ON COMMIT DROP (records it)
	scanAsExecute               // CREATE TABLE … AS EXECUTE
	scanEmbeddedSet             // SET clauses of functions, role and database defaults
)

// statement inspects one statement whose first token is first, consuming it up to and
// including its ';'.
func (in *inspector) statement(first token) (effect, *refusal) {
	if first.kind != tokIdent {
		_, r := in.rest(0)
		return effect{}, r
	}
	src := in.lx.src
	switch {
	case first.is(src, "select"), first.is(src, "with"):
		_, r := in.rest(scanSelectInto)
		return effect{}, r
	case first.is(src, "set"):
		return in.set()
	case first.is(src, "reset"):
		return in.reset()
	case first.is(src, "create"):
		return effect{}, in.create()
	case first.is(src, "alter"):
		t := in.lx.peek()
		flags := 0
		if t.is(src, "function") || t.is(src, "procedure") || t.is(src, "routine") ||
			t.is(src, "role") || t.is(src, "user") || t.is(src, "database") {
			flags = scanEmbeddedSet
		}
		_, r := in.rest(flags)
		return effect{}, r
	case first.is(src, "explain"):
		return in.explain()
	case first.is(src, "listen"):
		return effect{}, refuseListen
	case first.is(src, "prepare"):
		if in.lx.peek().is(src, "transaction") {
			_, r := in.rest(0)
			return effect{}, r
		}
		return effect{}, refusePrepare
	case first.is(src, "execute"):
		return effect{}, refusePrepare
	case first.is(src, "deallocate"):
		return in.deallocate()
	case first.is(src, "discard"):
		t := in.lx.next()
		if t.kind == tokEOF || t.kind == tokSemi {
			return effect{}, nil
		}
		_, r := in.rest(0)
		if r == nil && t.is(src, "all") {
			return effect{Kind: effectDiscardAll}, nil
		}
		return effect{}, r
	case first.is(src, "declare"):
		return effect{}, in.declare()
	case first.is(src, "load"):
		return effect{}, refuseLoad
	case first.is(src, "do"):
		if in.p.token {
			return effect{}, refuseDo
		}
	}
	_, r := in.rest(0)
	return effect{}, r
}

// rest consumes the statement up to its ';' and checks every token of it. end is the end
// of its last token (the position the lexer was at if it had none left).
func (in *inspector) rest(flags int) (end int, r *refusal) {
	src := in.lx.src
	end = in.lx.pos
	var prev token
	for {
		t := in.lx.next()
		if t.kind == tokEOF || t.kind == tokSemi {
			return end, nil
		}
		end = t.end
		if t.kind == tokIdent || t.kind == tokQIdent {
			if r := in.call(t); r != nil {
				in.skip()
				return end, r
			}
		}
		if t.kind == tokIdent && flags != 0 {
			switch {
			case flags&scanSelectInto != 0 && t.is(src, "into") &&
				!prev.is(src, "insert") && !prev.is(src, "merge"):
				if in.intoTemp() {
					in.skip()
					return end, refuseTempTable
				}
			case flags&scanOnCommit != 0 && t.is(src, "on"):
				if in.lx.peek().is(src, "commit") && in.lx.peekSecond().is(src, "drop") {
					in.onCommitDrop = true
				}
			case flags&scanAsExecute != 0 && t.is(src, "as"):
				if in.lx.peek().is(src, "execute") {
					in.skip()
					return end, refusePrepare
				}
			case flags&scanEmbeddedSet != 0 && t.is(src, "begin"):
				if in.lx.peek().is(src, "atomic") {
					flags &^= scanEmbeddedSet
				}
			case flags&scanEmbeddedSet != 0 && t.is(src, "set"):
				if r := in.embeddedSet(); r != nil {
					in.skip()
					return end, r
				}
			}
		}
		prev = t
	}
}

// skip consumes the rest of a refused statement (its verdict is known).
func (in *inspector) skip() {
	for {
		t := in.lx.next()
		if t.kind == tokEOF || t.kind == tokSemi {
			return
		}
	}
}

// call checks a name that may be a function called with '(' next.
func (in *inspector) call(t token) *refusal {
	src := in.lx.src
	name := t.text(src)
	if t.kind == tokQIdent {
		if t.opaque {
			if in.lx.peek().isPunct(src, '(') {
				return refuseOpaqueName
			}
			return nil
		}
		name = name[t.inner:t.innerEnd()]
	}
	// Cheap filters first: this runs for every identifier of every statement.
	if len(name) < 10 || (name[0]|0x20 != 's' && name[0]|0x20 != 'p') {
		return nil
	}
	advisory := false
	switch {
	case equalFold(name, "set_config"):
	case len(name) >= 16 && (hasPrefixFold(name, "pg_advisory_") || hasPrefixFold(name, "pg_try_advisory_")):
		if !isSessionAdvisoryLock(name) {
			return nil
		}
		advisory = true
	default:
		return nil
	}
	if !in.lx.peek().isPunct(src, '(') {
		return nil
	}
	if advisory {
		return refuseAdvisoryLock
	}
	return in.setConfig()
}

func isSessionAdvisoryLock(name string) bool {
	for _, f := range [...]string{
		"pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock",
		"pg_try_advisory_lock_shared", "pg_advisory_unlock", "pg_advisory_unlock_shared",
		"pg_advisory_unlock_all",
	} {
		if equalFold(name, f) {
			return true
		}
	}
	return false
}

// setConfig checks the arguments of a set_config call; the lexer stands before its '('.
// The tokens it reads are consumed: none of them can be a name rest must look at, since
// literals and ',' are all it accepts before deciding.
func (in *inspector) setConfig() *refusal {
	r := in.checkSetConfig()
	if r == nil {
		in.touched = true
	}
	return r
}

// checkSetConfig is setConfig's verdict.
func (in *inspector) checkSetConfig() *refusal {
	src := in.lx.src
	save := in.lx.pos
	defer func() { in.lx.pos = save }()
	in.lx.next() // (
	arg := in.lx.next()
	name, ok := arg.literal(src)
	if ok && arg.kind != tokString {
		ok = false
	}
	if !ok || !in.lx.peek().isPunct(src, ',') {
		if in.p.token {
			return refuseComputedSetConfig
		}
		return nil
	}
	name = strings.ToLower(name)
	in.lx.next() // ,
	switch {
	case name == "role" || name == "session_authorization":
		return refuseParameter(name)
	case in.p.token && isClaims(name):
		return refuseParameter(name)
	case name == "standard_conforming_strings" || name == "client_encoding":
		v := in.lx.next()
		value, ok := v.literal(src)
		if !ok || v.kind != tokString || !in.lx.peek().isPunct(src, ',') {
			return refuseLexing(name, "")
		}
		return checkLexingValue(name, value)
	}
	return nil
}

// intoTemp reports whether the INTO just read starts SELECT … INTO TEMP name or
// INTO pg_temp.name.
func (in *inspector) intoTemp() bool {
	src := in.lx.src
	t := in.lx.peek()
	if isPgTemp(src, t) && in.lx.peekSecond().isPunct(src, '.') {
		return true
	}
	if !t.is(src, "temp") && !t.is(src, "temporary") {
		return false
	}
	// INTO temp FROM …: a table named temp.
	n := in.lx.peekSecond()
	switch n.kind {
	case tokQIdent:
		return true
	case tokIdent:
		for _, w := range [...]string{"from", "where", "group", "having", "window", "order",
			"limit", "offset", "fetch", "for", "union", "intersect", "except"} {
			if n.is(src, w) {
				return false
			}
		}
		return true
	}
	return false
}

func isPgTemp(src string, t token) bool {
	if t.kind == tokIdent {
		return hasPrefixFold(t.text(src), "pg_temp")
	}
	return t.kind == tokQIdent && !t.opaque && strings.HasPrefix(t.text(src)[t.inner:t.innerEnd()], "pg_temp")
}

// create inspects CREATE …: temporary tables, views and sequences outlive the transaction
// unless dropped at its commit; functions carry SET clauses.
func (in *inspector) create() *refusal {
	src := in.lx.src
	t := in.lx.next()
	if t.is(src, "or") && in.lx.peek().is(src, "replace") {
		in.lx.next()
		t = in.lx.next()
	}
	if t.is(src, "global") || t.is(src, "local") {
		t = in.lx.next()
	}
	temp := false
	if t.is(src, "temp") || t.is(src, "temporary") {
		temp = true
		t = in.lx.next()
	}
	if t.is(src, "unlogged") || t.is(src, "recursive") {
		t = in.lx.next()
	}
	switch {
	case t.is(src, "function"), t.is(src, "procedure"):
		_, r := in.rest(scanEmbeddedSet)
		return r
	case t.is(src, "table"), t.is(src, "view"), t.is(src, "sequence"):
	default:
		if t.kind == tokSemi || t.kind == tokEOF {
			return nil
		}
		_, r := in.rest(0)
		return r
	}
	table := t.is(src, "table")
	if !temp {
		n := in.lx.peek()
		if n.is(src, "if") {
			in.lx.next()
			if in.lx.peek().is(src, "not") {
				in.lx.next()
			}
			if in.lx.peek().is(src, "exists") {
				in.lx.next()
			}
			n = in.lx.peek()
		}
		temp = isPgTemp(src, n) && in.lx.peekSecond().isPunct(src, '.')
	}
	in.onCommitDrop = false
	flags := scanAsExecute
	if table {
		flags |= scanOnCommit
	}
	_, r := in.rest(flags)
	switch {
	case r != nil:
		return r
	case temp && table && !in.onCommitDrop:
		return refuseTempTable
	case temp && !table:
		return refuseTempObject
	}
	return nil
}

// explain inspects the statement an EXPLAIN runs (EXPLAIN ANALYZE executes it).
func (in *inspector) explain() (effect, *refusal) {
	src := in.lx.src
	t := in.lx.next()
	if t.isPunct(src, '(') {
		for depth := 1; depth > 0; {
			t = in.lx.next()
			switch {
			case t.kind == tokEOF || t.kind == tokSemi:
				return effect{}, nil
			case t.isPunct(src, '('):
				depth++
			case t.isPunct(src, ')'):
				depth--
			}
		}
		t = in.lx.next()
	} else {
		for t.is(src, "analyze") || t.is(src, "analyse") || t.is(src, "verbose") {
			t = in.lx.next()
		}
	}
	if t.kind == tokEOF || t.kind == tokSemi {
		return effect{}, nil
	}
	_, r := in.statement(t)
	return effect{}, r
}

// declare refuses DECLARE … WITH HOLD: such a cursor outlives its transaction.
func (in *inspector) declare() *refusal {
	src := in.lx.src
	var prev token
	for {
		t := in.lx.next()
		switch {
		case t.kind == tokEOF || t.kind == tokSemi:
			return nil
		case t.is(src, "hold") && prev.is(src, "with"):
			in.skip()
			return refuseWithHold
		case t.is(src, "for"):
			_, r := in.rest(scanSelectInto)
			return r
		}
		prev = t
	}
}

func (in *inspector) deallocate() (effect, *refusal) {
	src := in.lx.src
	t := in.lx.next()
	if t.is(src, "prepare") {
		t = in.lx.next()
	}
	var e effect
	switch {
	case t.is(src, "all"):
		e = effect{Kind: effectDeallocateAll}
	case t.kind == tokIdent:
		e = effect{Kind: effectDeallocate, Name: strings.ToLower(t.text(src))}
	case t.kind == tokQIdent && !t.opaque:
		name, _ := t.literal(src)
		e = effect{Kind: effectDeallocate, Name: name}
	case t.kind == tokEOF || t.kind == tokSemi:
		return effect{}, nil
	}
	if _, r := in.rest(0); r != nil {
		return effect{}, r
	}
	return e, nil
}

// set inspects SET; the lexer stands after the SET keyword.
func (in *inspector) set() (effect, *refusal) {
	src := in.lx.src
	local := false
	t := in.lx.next()
	if t.is(src, "session") || t.is(src, "local") {
		n := in.lx.peek()
		if t.is(src, "local") || !(n.is(src, "authorization") || n.is(src, "characteristics")) {
			local = t.is(src, "local")
			t = in.lx.next()
		}
	}
	switch {
	case t.kind == tokEOF || t.kind == tokSemi:
		return effect{}, nil
	case t.is(src, "session"):
		n := in.lx.next()
		if n.is(src, "authorization") {
			in.skip()
			return effect{}, refuseSessionAuthorization
		}
		if n.kind == tokEOF || n.kind == tokSemi {
			return effect{}, nil
		}
		_, r := in.rest(0) // SESSION CHARACTERISTICS AS TRANSACTION …
		return effect{}, r
	case t.is(src, "transaction"), t.is(src, "constraints"):
		_, r := in.rest(0)
		return effect{}, r
	case t.is(src, "role") && !in.assignmentNext() && !in.lx.peek().is(src, "from"):
		return in.setRole(local, false)
	case t.is(src, "time") && in.lx.peek().is(src, "zone"):
		in.lx.next()
		return in.setValue("timezone", local, true)
	case t.is(src, "schema") && !in.assignmentNext():
		return in.setValue("search_path", local, false)
	case t.is(src, "names") && !in.assignmentNext():
		return in.setValue("client_encoding", local, false)
	case t.is(src, "xml") && in.lx.peek().is(src, "option"):
		in.lx.next()
		return in.setValue("xmloption", local, false)
	}
	name, r := in.varName(t)
	if r != nil {
		return effect{}, r
	}
	if name == "" {
		_, r := in.rest(0)
		return effect{}, r
	}
	if r := in.checkName(name); r != nil {
		return effect{}, r
	}
	n := in.lx.next()
	switch {
	case n.isOp(src, '='), n.is(src, "to"):
	case n.is(src, "from") && in.lx.peek().is(src, "current"):
		// SET x FROM CURRENT makes the session's value what it already is: nothing for the
		// engine to carry, but the role is still the role's business.
		if name == "role" && in.p.token {
			in.skip()
			return effect{}, refuseKeepRole
		}
		_, r := in.rest(0)
		return effect{}, r
	default:
		if n.kind == tokEOF || n.kind == tokSemi {
			return effect{}, nil
		}
		_, r := in.rest(0)
		return effect{}, r
	}
	if name == "role" {
		return in.setRole(local, true)
	}
	return in.setValue(name, local, false)
}

// assignmentNext reports whether '=' or TO comes next: SET role = x is the parameter
// form of SET ROLE x, both end in setRole.
func (in *inspector) assignmentNext() bool {
	n := in.lx.peek()
	return n.isOp(in.lx.src, '=') || n.is(in.lx.src, "to")
}

// varName reads a parameter name starting at t, the token just read: identifiers and
// quoted identifiers joined by dots, lower-cased. "" if t starts none.
func (in *inspector) varName(t token) (string, *refusal) {
	src := in.lx.src
	var b strings.Builder
	for {
		switch {
		case t.kind == tokIdent:
			b.WriteString(strings.ToLower(t.text(src)))
		case t.kind == tokQIdent && t.opaque:
			in.skip()
			return "", refuseOpaqueName
		case t.kind == tokQIdent:
			s, _ := t.literal(src)
			b.WriteString(strings.ToLower(s))
		default:
			return "", nil
		}
		if n := in.lx.peekSecond(); !in.lx.peek().isPunct(src, '.') || n.kind != tokIdent && n.kind != tokQIdent {
			return b.String(), nil
		}
		in.lx.next()
		b.WriteByte('.')
		t = in.lx.next()
	}
}

// checkName refuses SET/RESET of a parameter the session may not change; the role is
// left to setRole.
func (in *inspector) checkName(name string) *refusal {
	switch {
	case name == "session_authorization":
		in.skip()
		return refuseSessionAuthorization
	case in.p.token && isClaims(name):
		in.skip()
		return refuseParameter(name)
	}
	return nil
}

func isClaims(name string) bool { return strings.HasPrefix(name, "request.jwt") }

// setRole inspects the role of SET [LOCAL] ROLE x or SET role = x.
func (in *inspector) setRole(local, generic bool) (effect, *refusal) {
	if in.p.token {
		in.skip()
		return effect{}, refuseKeepRole
	}
	src := in.lx.src
	t := in.lx.next()
	if t.kind == tokEOF || t.kind == tokSemi {
		return effect{}, nil
	}
	end, r := in.rest(0)
	if r != nil {
		return effect{}, r
	}
	start := t.start
	role, ok := t.literal(src)
	if t.kind == tokIdent && generic && t.is(src, "default") {
		role = "none"
	}
	if !ok || end != t.end || t.kind == tokNumber {
		return effect{}, refuseRole(src[start:end])
	}
	if role == "none" {
		role = ""
	} else if in.p.usable == nil || !in.p.usable(role) {
		return effect{}, refuseRole(role)
	}
	if local {
		return effect{}, nil
	}
	return effect{Kind: effectSetRole, Value: role}, nil
}

// setValue reads the value of SET name {=|TO} value (or of its special forms) to the
// statement's end.
func (in *inspector) setValue(name string, local, timeZone bool) (effect, *refusal) {
	src := in.lx.src
	first := in.lx.peek()
	end, r := in.rest(0)
	if r != nil {
		return effect{}, r
	}
	if first.kind == tokEOF || first.kind == tokSemi {
		return effect{}, nil
	}
	value := src[first.start:end]
	single := end == first.end
	if name == "standard_conforming_strings" || name == "client_encoding" {
		v, ok := first.literal(src)
		if !single || !ok {
			return effect{}, refuseLexing(name, value)
		}
		if !(first.kind == tokIdent && first.is(src, "default")) {
			if r := checkLexingValue(name, v); r != nil {
				return effect{}, r
			}
		}
	}
	if local {
		return effect{}, nil
	}
	if single && first.kind == tokIdent && (first.is(src, "default") || timeZone && first.is(src, "local")) {
		return effect{Kind: effectReset, Name: name}, nil
	}
	return effect{Kind: effectSet, Name: name, Value: value}, nil
}

// reset inspects RESET; the lexer stands after the RESET keyword.
func (in *inspector) reset() (effect, *refusal) {
	src := in.lx.src
	t := in.lx.next()
	switch {
	case t.kind == tokEOF || t.kind == tokSemi:
		return effect{}, nil
	case t.is(src, "all"):
		_, r := in.rest(0)
		return effect{Kind: effectResetAll}, r
	case t.is(src, "session") && in.lx.peek().is(src, "authorization"):
		in.skip()
		return effect{}, refuseSessionAuthorization
	case t.is(src, "time") && in.lx.peek().is(src, "zone"):
		in.lx.next()
		_, r := in.rest(0)
		return effect{Kind: effectReset, Name: "timezone"}, r
	case t.is(src, "transaction"):
		_, r := in.rest(0)
		return effect{}, r
	}
	name, r := in.varName(t)
	if r != nil {
		return effect{}, r
	}
	if r := in.checkName(name); r != nil {
		return effect{}, r
	}
	if _, r := in.rest(0); r != nil {
		return effect{}, r
	}
	switch name {
	case "":
		return effect{}, nil
	case "role":
		if in.p.token {
			return effect{}, refuseKeepRole
		}
		return effect{Kind: effectSetRole}, nil
	}
	return effect{Kind: effectReset, Name: name}, nil
}

// embeddedSet checks the SET clause of CREATE/ALTER FUNCTION and ALTER ROLE/DATABASE:
// a role default or a function's SET role would change the role behind the guard's back.
// The lexer stands after SET; only what follows the name is left for rest.
func (in *inspector) embeddedSet() *refusal {
	src := in.lx.src
	save := in.lx.pos
	t := in.lx.next()
	if t.kind == tokQIdent && t.opaque {
		return refuseOpaqueName
	}
	if t.kind != tokIdent && t.kind != tokQIdent {
		in.lx.pos = save
		return nil
	}
	name, r := in.varName(t)
	if r != nil {
		return r
	}
	n := in.lx.peek()
	if !(n.isOp(src, '=') || n.is(src, "to") || n.is(src, "from")) {
		in.lx.pos = save
		return nil
	}
	switch {
	case name == "role" || name == "session_authorization":
		return refuseParameter(name)
	case in.p.token && isClaims(name):
		return refuseParameter(name)
	case name == "standard_conforming_strings" || name == "client_encoding":
		in.lx.next()
		v := in.lx.peek()
		value, ok := v.literal(src)
		if !ok || v.is(src, "current") {
			return refuseLexing(name, v.text(src))
		}
		return checkLexingValue(name, value)
	}
	return nil
}

// checkLexingValue refuses settings under which the guard would lex differently from
// PostgreSQL: standard_conforming_strings off (backslashes escape in '…'), and client
// encodings whose multibyte characters may end in a backslash or quote byte (the server
// converts them before it lexes, the guard sees the raw bytes).
func checkLexingValue(name, value string) *refusal {
	if name == "standard_conforming_strings" {
		if isTrue(value) {
			return nil
		}
		return refuseLexing(name, value)
	}
	var b [32]byte
	n := 0
	for i := 0; i < len(value) && n < len(b); i++ {
		c := value[i] | 0x20
		if c >= 'a' && c <= 'z' || value[i] >= '0' && value[i] <= '9' {
			b[n] = value[i]
			if c >= 'a' && c <= 'z' {
				b[n] = c
			}
			n++
		}
	}
	switch string(b[:n]) {
	case "sjis", "shiftjis", "mskanji", "win932", "windows932", "shiftjis2004",
		"big5", "win950", "windows950", "gbk", "win936", "windows936",
		"uhc", "win949", "windows949", "gb18030", "johab":
		return refuseLexing(name, value)
	}
	return nil
}

// isTrue is PostgreSQL's parse_bool for the true side (unique prefixes of true/yes, on, 1).
func isTrue(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	switch {
	case v == "":
		return false
	case strings.HasPrefix("true", v), strings.HasPrefix("yes", v), v == "on", v == "1":
		return true
	}
	return false
}

var (
	refuseListen = &refusal{Code: codeFeatureNotSupported,
		Message: "LISTEN is not supported through Kapok's transaction pooling",
		Hint:    "Connect to PostgreSQL directly to LISTEN, or use Kapok's realtime APIs."}
	refuseAdvisoryLock = &refusal{Code: codeFeatureNotSupported,
		Message: "session-level advisory locks are not supported through Kapok's transaction pooling",
		Hint:    "Use pg_advisory_xact_lock (or pg_try_advisory_xact_lock), which is released at commit."}
	refuseTempTable = &refusal{Code: codeFeatureNotSupported,
		Message: "temporary tables that outlive their transaction are not supported through Kapok's transaction pooling",
		Hint:    "Create it inside a transaction with ON COMMIT DROP: BEGIN; CREATE TEMP TABLE … ON COMMIT DROP; …; COMMIT."}
	refuseTempObject = &refusal{Code: codeFeatureNotSupported,
		Message: "temporary views and sequences are not supported through Kapok's transaction pooling",
		Hint:    "Use a WITH query, or a temporary table created with ON COMMIT DROP inside a transaction."}
	refusePrepare = &refusal{Code: codeFeatureNotSupported,
		Message: "SQL PREPARE and EXECUTE are not supported through Kapok's transaction pooling",
		Hint:    "Use the protocol's prepared statements (every driver does)."}
	refuseWithHold = &refusal{Code: codeFeatureNotSupported,
		Message: "cursors WITH HOLD are not supported through Kapok's transaction pooling",
		Hint:    "Declare the cursor without HOLD and use it inside one transaction."}
	refuseLoad = &refusal{Code: codeInsufficientPrivilege,
		Message: "permission denied to load a library",
		Hint:    "Libraries are loaded by the server's configuration, not by a session."}
	refuseDo = &refusal{Code: codeInsufficientPrivilege,
		Message: "permission denied to run a DO block in a session authenticated by an API key or JWT",
		Hint:    "Call a function instead, or connect with the tenant's admin key or role."}
	refuseSessionAuthorization = &refusal{Code: codeInsufficientPrivilege,
		Message: "permission denied to set session authorization",
		Hint:    `Connect as the role you need (user "role.tenant") instead.`}
	refuseKeepRole = &refusal{Code: codeInsufficientPrivilege,
		Message: "permission denied to change the role of a session authenticated by an API key or JWT",
		Hint:    "The credential decides the role; connect with a credential for the role you need."}
	refuseComputedSetConfig = &refusal{Code: codeInsufficientPrivilege,
		Message: "permission denied: set_config with a parameter name that is not a string literal cannot be checked",
		Hint:    "Name the parameter with a string literal, e.g. set_config('search_path', …)."}
	refuseOpaqueName = &refusal{Code: codeInsufficientPrivilege,
		Message: "permission denied: names written with Unicode escapes cannot be checked here",
		Hint:    "Write the name without U&\"…\" escapes."}
)

func refuseRole(role string) *refusal {
	return &refusal{Code: codeInsufficientPrivilege,
		Message: fmt.Sprintf("permission denied to set role %q", role),
		Hint:    "SET ROLE may name only the roles this tenant may use."}
}

func refuseParameter(name string) *refusal {
	r := &refusal{Code: codeInsufficientPrivilege,
		Message: fmt.Sprintf("permission denied to set parameter %q", name),
		Hint:    "Use SET ROLE in the session, or connect as the role you need."}
	if isClaims(name) {
		r.Hint = "A session authenticated by an API key or JWT keeps the claims of its credential."
	}
	return r
}

func refuseLexing(name, value string) *refusal {
	if name == "standard_conforming_strings" {
		return &refusal{Code: codeFeatureNotSupported,
			Message: "standard_conforming_strings cannot be turned off through Kapok",
			Hint:    `Use E'…' strings where backslash escapes are wanted.`}
	}
	return &refusal{Code: codeFeatureNotSupported,
		Message: fmt.Sprintf("client encoding %s is not supported through Kapok", value),
		Hint:    "Use UTF8 (or another ASCII-safe encoding); the server converts to the database encoding."}
}

// The lexer.

type tokKind uint8

const (
	tokEOF    tokKind = iota
	tokIdent          // unquoted identifier or keyword
	tokQIdent         // "quoted identifier", U&"…"
	tokString         // '…', E'…', U&'…', B'…', X'…', N'…', $tag$…$tag$
	tokNumber
	tokParam // $1
	tokOp    // one operator character
	tokPunct // any other single character: ( ) [ ] , . : …
	tokSemi
)

type strKind uint8

const (
	strPlain strKind = iota
	strEscape
	strUnicode
	strBits
	strDollar
)

// token is a span of the source; text, literal and is read it without copying.
type token struct {
	kind tokKind
	str  strKind
	// opaque: a U& string or identifier whose value depends on escapes the guard does not
	// decode.
	opaque bool
	// inner is the offset of the body from start, for quoted tokens; closeLen the length
	// of the closing quote (0 if unterminated).
	inner, closeLen int
	start, end      int
}

func (t token) text(src string) string { return src[t.start:t.end] }

func (t token) innerEnd() int { return t.end - t.start - t.closeLen }

// is reports whether t is the unquoted keyword kw (given in lower case).
func (t token) is(src string, kw string) bool {
	return t.kind == tokIdent && t.end-t.start == len(kw) && equalFold(src[t.start:t.end], kw)
}

func (t token) isPunct(src string, c byte) bool {
	return t.kind == tokPunct && src[t.start] == c
}

func (t token) isOp(src string, c byte) bool {
	return t.kind == tokOp && src[t.start] == c
}

// literal is the value a literal or name token stands for, if the guard can tell:
// identifiers lower-cased, quoted ones and strings unquoted. Strings continued over a
// newline, escapes in E'…' and U&'…', and bit strings are not decoded (ok false).
func (t token) literal(src string) (string, bool) {
	s := src[t.start:t.end]
	switch t.kind {
	case tokIdent:
		return strings.ToLower(s), true
	case tokNumber:
		return s, true
	case tokQIdent:
		if t.opaque || t.closeLen == 0 {
			return "", false
		}
		return strings.ReplaceAll(s[t.inner:t.innerEnd()], `""`, `"`), true
	case tokString:
		if t.opaque || t.closeLen == 0 {
			return "", false
		}
		body := s[t.inner:t.innerEnd()]
		switch t.str {
		case strDollar:
			return body, true
		case strBits:
			return "", false
		case strEscape:
			if strings.IndexByte(body, '\\') >= 0 {
				return "", false
			}
		}
		if strings.IndexByte(body, '\n') >= 0 || strings.IndexByte(body, '\r') >= 0 {
			// may hold a continuation: 'a'\n'b' is 'ab'.
			return "", false
		}
		return strings.ReplaceAll(body, "''", "'"), true
	}
	return "", false
}

type lexer struct {
	src string
	pos int
}

func (l *lexer) peek() token {
	save := l.pos
	t := l.next()
	l.pos = save
	return t
}

func (l *lexer) peekSecond() token {
	save := l.pos
	l.next()
	t := l.next()
	l.pos = save
	return t
}

// next returns the next token, skipping whitespace and comments.
func (l *lexer) next() token {
	l.skipSpace()
	src := l.src
	start := l.pos
	if start >= len(src) {
		return token{kind: tokEOF, start: start, end: start}
	}
	c := src[start]
	var next byte
	if start+1 < len(src) {
		next = src[start+1]
	}
	switch {
	case c == ';':
		l.pos++
		return token{kind: tokSemi, start: start, end: l.pos}
	case c == '\'':
		return l.quoted(start, 1, strPlain)
	case c == '"':
		return l.quotedIdent(start, 1, false)
	case c == '$':
		return l.dollar(start)
	case (c == 'e' || c == 'E') && next == '\'':
		return l.quoted(start, 2, strEscape)
	case (c == 'b' || c == 'B' || c == 'x' || c == 'X') && next == '\'':
		return l.quoted(start, 2, strBits)
	case (c == 'n' || c == 'N') && next == '\'':
		return l.quoted(start, 2, strPlain)
	case (c == 'u' || c == 'U') && next == '&' && start+2 < len(src) && src[start+2] == '\'':
		t := l.quoted(start, 3, strUnicode)
		t.opaque = l.unicodeOpaque(t)
		return t
	case (c == 'u' || c == 'U') && next == '&' && start+2 < len(src) && src[start+2] == '"':
		t := l.quotedIdent(start, 3, true)
		t.opaque = l.unicodeOpaque(t)
		return t
	case isIdentStart(c):
		l.pos++
		for l.pos < len(src) && isIdentCont(src[l.pos]) {
			l.pos++
		}
		return token{kind: tokIdent, start: start, end: l.pos}
	case isDigit(c) || c == '.' && isDigit(next):
		l.number()
		return token{kind: tokNumber, start: start, end: l.pos}
	case isOpChar(c):
		l.pos++
		return token{kind: tokOp, start: start, end: l.pos}
	}
	l.pos++
	return token{kind: tokPunct, start: start, end: l.pos}
}

// skipSpace skips whitespace, -- comments and nested /* */ comments.
func (l *lexer) skipSpace() {
	src := l.src
	for l.pos < len(src) {
		c := src[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case c == '-' && l.pos+1 < len(src) && src[l.pos+1] == '-':
			l.pos = lineEnd(src, l.pos)
		case c == '/' && l.pos+1 < len(src) && src[l.pos+1] == '*':
			depth := 1
			l.pos += 2
			for l.pos < len(src) && depth > 0 {
				switch {
				case src[l.pos] == '/' && l.pos+1 < len(src) && src[l.pos+1] == '*':
					depth++
					l.pos += 2
				case src[l.pos] == '*' && l.pos+1 < len(src) && src[l.pos+1] == '/':
					depth--
					l.pos += 2
				default:
					l.pos++
				}
			}
		default:
			return
		}
	}
}

// lineEnd is the position of the newline ending the -- comment at i (or the text's end).
func lineEnd(src string, i int) int {
	for i < len(src) && src[i] != '\n' && src[i] != '\r' {
		i++
	}
	return i
}

// quoted lexes a string whose opening quote ends at start+open. Like PostgreSQL it
// continues the string over a quote that follows whitespace holding a newline
// ('a'\n'b' is one literal, and an E'…' continued this way keeps its backslash escapes).
func (l *lexer) quoted(start, open int, kind strKind) token {
	src := l.src
	i := start + open
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\\' && kind == strEscape:
			i += 2
			continue
		case c != '\'':
			i++
			continue
		}
		if i+1 < len(src) && src[i+1] == '\'' {
			i += 2
			continue
		}
		if j, ok := quoteContinue(src, i+1); ok {
			i = j
			continue
		}
		l.pos = i + 1
		return token{kind: tokString, str: kind, inner: open, closeLen: 1, start: start, end: l.pos}
	}
	l.pos = len(src)
	return token{kind: tokString, str: kind, inner: open, start: start, end: l.pos}
}

// quoteContinue reports whether a string's closing quote at i-1 is followed by
// PostgreSQL's quotecontinue: horizontal space and -- comments, a newline, then
// whitespace and -- comments ending in newlines, then a quote; j is past that quote.
func quoteContinue(src string, i int) (j int, ok bool) {
	for i < len(src) {
		c := src[i]
		if c == ' ' || c == '\t' || c == '\f' || c == '\v' {
			i++
		} else if c == '-' && i+1 < len(src) && src[i+1] == '-' {
			i = lineEnd(src, i)
		} else {
			break
		}
	}
	if i >= len(src) || (src[i] != '\n' && src[i] != '\r') {
		return 0, false
	}
	i++
	for i < len(src) {
		c := src[i]
		if isSpace(c) {
			i++
			continue
		}
		if c == '-' && i+1 < len(src) && src[i+1] == '-' {
			e := lineEnd(src, i)
			if e >= len(src) {
				return 0, false
			}
			i = e + 1
			continue
		}
		break
	}
	if i < len(src) && src[i] == '\'' {
		return i + 1, true
	}
	return 0, false
}

func (l *lexer) quotedIdent(start, open int, unicode bool) token {
	src := l.src
	i := start + open
	for i < len(src) {
		if src[i] != '"' {
			i++
			continue
		}
		if i+1 < len(src) && src[i+1] == '"' {
			i += 2
			continue
		}
		l.pos = i + 1
		return token{kind: tokQIdent, inner: open, closeLen: 1, start: start, end: l.pos}
	}
	l.pos = len(src)
	return token{kind: tokQIdent, inner: open, start: start, end: l.pos}
}

// unicodeOpaque reports whether the U& token t holds escapes or is followed by UESCAPE.
func (l *lexer) unicodeOpaque(t token) bool {
	if strings.IndexByte(l.src[t.start:t.end], '\\') >= 0 {
		return true
	}
	return l.peek().is(l.src, "uescape")
}

// dollar lexes what starts with '$': a parameter $n, a dollar-quoted string $tag$…$tag$
// (tag as PostgreSQL's: identifier characters without '$', not starting with a digit), or
// a lone '$'.
func (l *lexer) dollar(start int) token {
	src := l.src
	i := start + 1
	if i < len(src) && isDigit(src[i]) {
		for i < len(src) && isDigit(src[i]) {
			i++
		}
		l.pos = i
		l.junk()
		return token{kind: tokParam, start: start, end: l.pos}
	}
	if i < len(src) && isIdentStart(src[i]) {
		i++
		for i < len(src) && isIdentStart(src[i]) || i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	if i >= len(src) || src[i] != '$' {
		l.pos = start + 1
		return token{kind: tokPunct, start: start, end: l.pos}
	}
	delim := src[start : i+1]
	body := i + 1
	k := strings.Index(src[body:], delim)
	if k < 0 {
		l.pos = len(src)
		return token{kind: tokString, str: strDollar, inner: len(delim), start: start, end: l.pos}
	}
	l.pos = body + k + len(delim)
	return token{kind: tokString, str: strDollar, inner: len(delim), closeLen: len(delim), start: start, end: l.pos}
}

// number lexes a numeric literal and, as PostgreSQL does, identifier characters stuck
// to it (1abc is an error there; what matters is that 1a$$ does not open a dollar quote).
func (l *lexer) number() {
	src := l.src
	digits := func() {
		for l.pos < len(src) && (isDigit(src[l.pos]) || src[l.pos] == '_') {
			l.pos++
		}
	}
	digits()
	if l.pos < len(src) && src[l.pos] == '.' && !(l.pos+1 < len(src) && src[l.pos+1] == '.') {
		l.pos++
		digits()
	}
	if l.pos < len(src) && (src[l.pos] == 'e' || src[l.pos] == 'E') {
		j := l.pos + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && isDigit(src[j]) {
			l.pos = j
			digits()
		}
	}
	l.junk()
}

// junk consumes identifier characters stuck to a number or parameter.
func (l *lexer) junk() {
	src := l.src
	if l.pos < len(src) && isIdentStart(src[l.pos]) {
		for l.pos < len(src) && isIdentCont(src[l.pos]) {
			l.pos++
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentCont(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

func isOpChar(c byte) bool {
	switch c {
	case '~', '!', '@', '#', '^', '&', '|', '`', '?', '+', '-', '*', '/', '%', '<', '>', '=':
		return true
	}
	return false
}

// equalFold compares s with lower, an ASCII lower-case word, ignoring ASCII case.
func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(s, lower string) bool {
	return len(s) >= len(lower) && equalFold(s[:len(lower)], lower)
}
