package planner

import (
	"errors"
	"strings"

	"github.com/kapok-dev/kapok/internal/jsonx"
)

// A GraphQL operation runs its statements and answers Hasura's envelope: {"data":…} with
// every root field's value in place, or {"errors":[…]}. The statements' values are never
// decoded: a query's one statement writes straight after Begin's `{"data":{"<key>":`, and
// a mutation's root fields are spliced in order around their statements' values.

const contentTypeJSON = "application/json; charset=utf-8"

// AppendKey implements Executable: a plan whose SQL depends on variable values (KeyVars)
// extends the key with them.
func (p *Plan) AppendKey(key []byte, in *Input) ([]byte, bool) {
	if !p.ValueDependent() {
		return key, false
	}
	return p.AppendKeyVars(key, in.Variables), true
}

// Bind implements Executable: every statement's parameters, bound from in.Variables.
func (p *Plan) Bind(in *Input, b *Batch) error {
	for i := range p.Statements {
		n := len(b.Args)
		bound, err := p.BindStatement(i, in.Variables, b.Args[n:n])
		if err != nil {
			return err
		}
		b.Args = append(b.Args[:n], bound...)
		b.Add(p.Statements[i].SQL, p.Statements[i].Result, n)
	}
	b.Shareable = p.Kind == KindQuery && len(p.Statements) == 1
	b.RoleOnly = p.Kind == KindQuery && p.RoleOnly
	return nil
}

// Begin implements Executable: a query's value is written in place inside the envelope.
func (p *Plan) Begin(_ *Input, buf []byte) []byte {
	if p.Kind != KindQuery || len(p.Statements) == 0 {
		return buf
	}
	buf = append(buf, `{"data":`...)
	if key := p.Statements[0].ResponseKey; key != "" {
		buf = append(buf, '{')
		buf = jsonx.AppendString(buf, key)
		buf = append(buf, ':')
	}
	return buf
}

// Respond implements Executable.
func (p *Plan) Respond(_ *Input, buf []byte, ends []int, w *Response) error {
	w.ContentType = contentTypeJSON
	switch {
	case len(p.Statements) == 0:
		start := len(w.Scratch)
		w.Scratch = append(append(append(w.Scratch, `{"data":`...), p.Data...), '}')
		w.Body = w.Scratch[start:]
	case p.Kind == KindQuery:
		if p.Statements[0].ResponseKey != "" {
			buf = append(buf, '}')
		}
		w.Body = append(buf, '}')
	default:
		start := len(w.Scratch)
		out := append(w.Scratch, `{"data":{`...)
		prev := 0
		for i, s := range p.Statements {
			if i > 0 {
				out = append(out, ',')
			}
			// Statements with Part 1..Parts make one array-valued root field (update_<t>_many).
			if s.Part <= 1 {
				out = jsonx.AppendString(out, s.ResponseKey)
				out = append(out, ':')
			}
			if s.Part == 1 {
				out = append(out, '[')
			}
			out = append(out, buf[prev:ends[i]]...)
			if s.Parts > 0 && s.Part == s.Parts {
				out = append(out, ']')
			}
			prev = ends[i]
		}
		w.Scratch = append(out, "}}"...)
		w.Body = w.Scratch[start:]
	}
	return nil
}

// Fail implements Executable: a binding error, or a statement's database error in Hasura's
// codes, its path the mutation root field that raised it.
func (p *Plan) Fail(_ *Input, err error, w *Response) bool {
	var pe *Error
	if errors.As(err, &pe) {
		WriteGraphQLError(w, 200, pe.Code, pe.Message, pe.Path)
		return true
	}
	var se StatementError
	if !errors.As(err, &se) {
		return false
	}
	path := "$"
	if i := se.StatementIndex(); p.Kind == KindMutation && i >= 0 && i < len(p.Statements) {
		path = "$.selectionSet." + p.Statements[i].ResponseKey
	}
	code, msg := hasuraDBError(se.SQLState(), se.Message())
	WriteGraphQLError(w, 200, code, msg, path)
	return true
}

// Size implements Executable.
func (p *Plan) Size() int64 {
	n := int64(256 + len(p.Data))
	for _, s := range p.Statements {
		n += int64(len(s.SQL) + 32*len(s.Params))
	}
	return n
}

// hasuraDBError gives Hasura's code and message for a database error. The message comes
// from the statement's own error, which names only the tenant's objects.
func hasuraDBError(state, msg string) (code, message string) {
	switch {
	case state == "23505":
		return "constraint-violation", "Uniqueness violation. " + msg
	case state == "23503":
		return "constraint-violation", "Foreign key violation. " + msg
	case state == "23502":
		return "constraint-violation", "Not-NULL violation. " + msg
	case state == "23514":
		return "constraint-violation", "Check constraint violation. " + msg
	case state == "23P01":
		return "constraint-violation", "Exclusion violation. " + msg
	case strings.HasPrefix(state, "23"):
		return "constraint-violation", msg
	case strings.HasPrefix(state, "22"):
		return "data-exception", msg
	case state == "42501":
		return "permission-error", msg
	case state == "57014":
		return "unexpected", "the query was cancelled: " + msg
	case state == "P0001":
		return "unexpected", msg
	case state == "40001", state == "40P01":
		return "unexpected", msg
	}
	return "unexpected", "database query error"
}

// WriteGraphQLError answers w with Hasura's error envelope holding one error.
func WriteGraphQLError(w *Response, status int, code, message, path string) {
	w.Status, w.ContentType = status, contentTypeJSON
	start := len(w.Scratch)
	w.Scratch = AppendGraphQLErrors(w.Scratch, code, message, path)
	w.Body = w.Scratch[start:]
}

// AppendGraphQLErrors appends {"errors":[…]} holding one Hasura-shaped error.
func AppendGraphQLErrors(dst []byte, code, message, path string) []byte {
	dst = append(dst, `{"errors":[`...)
	dst = AppendGraphQLError(dst, code, message, path)
	return append(dst, "]}"...)
}

// AppendGraphQLError appends one Hasura-shaped error object; path "" is the root, "$".
func AppendGraphQLError(dst []byte, code, message, path string) []byte {
	if path == "" {
		path = "$"
	}
	dst = append(dst, `{"message":`...)
	dst = jsonx.AppendString(dst, message)
	dst = append(dst, `,"extensions":{"code":`...)
	dst = jsonx.AppendString(dst, code)
	dst = append(dst, `,"path":`...)
	dst = jsonx.AppendString(dst, path)
	return append(dst, "}}"...)
}
