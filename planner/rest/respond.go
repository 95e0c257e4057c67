package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/ir"
	"github.com/kapok-dev/kapok/planner/sqlgen"
)

// A Statement is the REST front end's Executable: one statement whose value is the
// envelope `N,T,BODY` (statement.EnvelopeValue), after sqlgen.SetTimezone for Prefer:
// timezone=…, answered as PostgREST answers: the body
// as it is, Content-Range from the counts, the status and Preference-Applied from the
// action and the Prefer header, 406 for a singular response that is not one row.

const contentTypeJSON = "application/json; charset=utf-8"

// AppendKey implements planner.Executable: the shape key is complete.
func (s *Statement) AppendKey(key []byte, _ *planner.Input) ([]byte, bool) { return key, false }

// Bind implements planner.Executable.
func (s *Statement) Bind(in *planner.Input, b *planner.Batch) error {
	if s.Prefer.Timezone != "" {
		n := len(b.Args)
		b.Args = append(b.Args, s.timezone)
		b.Add(sqlgen.SetTimezone, statement.Value, n)
	}
	n := len(b.Args)
	b.Args = s.AppendArgs(b.Args, in.Values, in.Body)
	b.Add(s.SQL, s.Result, n)
	// Reads of tables and views; a function may be volatile, and tx= and timezone= are the
	// request's own.
	b.Shareable = s.Action == ActionRead && s.Prefer.Tx == "" && s.Prefer.Timezone == ""
	b.RoleOnly = s.RoleOnly
	return nil
}

// Begin implements planner.Executable: the envelope is the statement's whole value.
func (s *Statement) Begin(_ *planner.Input, buf []byte) []byte { return buf }

// Size implements planner.Executable.
func (s *Statement) Size() int64 {
	return int64(256 + len(s.SQL) + 16*len(s.Sources) + len(s.applied) + len(s.timezone))
}

// Respond implements planner.Executable.
func (s *Statement) Respond(in *planner.Input, buf []byte, ends []int, w *planner.Response) error {
	from := 0
	if s.Prefer.Timezone != "" && len(ends) == 2 {
		from, ends = ends[0], ends[1:] // the new TimeZone set_config answered
	}
	if len(ends) != 1 {
		return errEnvelope
	}
	env, ok := statement.SplitEnvelope(buf[from:ends[0]])
	if !ok {
		return errEnvelope
	}
	body := env.Body
	singular := s.Accept == MediaObject
	if singular && !s.Scalar && (s.Representation || s.Action == ActionRead) {
		if env.N != 1 {
			WriteError(w, singularError(strconv.FormatInt(env.N, 10)))
			return nil
		}
		body = stripArray(body)
	}
	var lower int64
	if s.Offset >= 0 && s.Offset < len(in.Values) {
		for _, c := range in.Values[s.Offset] {
			if c < '0' || c > '9' || lower > 1e17 {
				break
			}
			lower = lower*10 + int64(c-'0')
		}
	}
	status := 200
	switch s.Action {
	case ActionRead, ActionCall:
		if !s.Scalar {
			if env.Total >= 0 && env.N == 0 && lower > 0 && lower >= env.Total {
				WriteError(w, rangeNotSatisfiable("An offset of "+strconv.FormatInt(lower, 10)+" was requested, but there are only "+
					strconv.FormatInt(env.Total, 10)+" rows."))
				w.SetHeader("Content-Range", append(append(w.Scratch[len(w.Scratch):], "*/"...), strconv.FormatInt(env.Total, 10)...))
				return nil
			}
			w.SetHeader("Content-Range", appendContentRange(w.Scratch[len(w.Scratch):], lower, env.N, env.Total))
			if env.Total >= 0 && (lower > 0 || lower+env.N < env.Total) {
				status = 206
			}
		}
		if len(s.applied) > 0 {
			w.SetHeader("Preference-Applied", s.applied)
		}
		if s.Void {
			w.Status = 204
			return nil
		}
	default:
		inserted := int64(-1)
		if s.Inserted {
			// The total slot holds the rows the upsert inserted, not a count.
			inserted, env.Total = env.Total, -1
		}
		if s.Prefer.Count != "" {
			// Every affected row is in the statement's result.
			env.Total = env.N
		}
		// PostgREST v12: the updated rows' range for PATCH and PUT, no range (*) for POST
		// and DELETE.
		cr := append(w.Scratch[len(w.Scratch):], "*/"...)
		if (s.Action == ActionUpdate || s.Action == ActionUpsert) && env.N > 0 {
			cr = append(strconv.AppendInt(append(cr[:0], "0-"...), env.N-1, 10), '/')
		}
		if env.Total < 0 {
			cr = append(cr, '*')
		} else {
			cr = strconv.AppendInt(cr, env.Total, 10)
		}
		w.SetHeader("Content-Range", cr)
		switch {
		case s.Action == ActionInsert && s.Prefer.Resolution == "merge-duplicates" && (inserted == 0 || env.N == 0):
			status = 200 // an upsert that inserted nothing (PostgREST v12)
		case s.Action == ActionInsert, s.Action == ActionUpsert && inserted > 0:
			status = 201
		}
		if len(s.applied) > 0 {
			w.SetHeader("Preference-Applied", s.applied)
		}
		if s.Location {
			if loc := locationHeader(s.Table, s.PrimaryKey, body); loc != "" {
				w.SetHeader("Location", []byte(loc))
			}
		}
		if !s.Representation {
			if s.Action != ActionInsert {
				status = 204
			}
			w.Status = status
			return nil
		}
	}
	w.Status = status
	switch {
	case singular && !s.Scalar:
		w.ContentType = "application/vnd.pgrst.object+json; charset=utf-8"
	case s.Accept == MediaCSV && s.Action == ActionRead:
		w.ContentType = "text/csv; charset=utf-8"
	default:
		w.ContentType = contentTypeJSON
	}
	if !in.Head {
		w.Body = body
	}
	return nil
}

var errEnvelope = errors.New("rest: the statement's value is not an envelope")

// preferenceApplied is the Preference-Applied header: the preferences the request
// honoured (Compile keeps it in s.applied).
func (s *Statement) preferenceApplied() string {
	// PostgREST's order: resolution, missing, return, count, handling, timezone,
	// max-affected (with handling=strict only); a read honours no return=.
	var parts []string
	if s.Prefer.Resolution != "" && s.Action == ActionInsert {
		parts = append(parts, "resolution="+s.Prefer.Resolution)
	}
	if s.Prefer.Missing == "default" && s.Action == ActionInsert {
		parts = append(parts, "missing=default")
	}
	if s.Prefer.Return != "" && s.Action != ActionRead && s.Action != ActionCall {
		parts = append(parts, "return="+s.Prefer.Return)
	}
	if s.Prefer.Count != "" {
		parts = append(parts, "count="+s.Prefer.Count)
	}
	if s.Prefer.Handling != "" {
		parts = append(parts, "handling="+s.Prefer.Handling)
	}
	if s.Prefer.Timezone != "" {
		parts = append(parts, "timezone="+s.Prefer.Timezone)
	}
	if n := s.Prefer.maxAffected(); n != nil && (s.Action == ActionUpdate || s.Action == ActionDelete || s.Action == ActionCall) {
		parts = append(parts, "max-affected="+strconv.FormatInt(*n, 10))
	}
	return strings.Join(parts, ", ")
}

// Fail implements planner.Executable: a statement's database error with PostgREST's status.
func (s *Statement) Fail(in *planner.Input, err error, w *planner.Response) bool {
	var re *Error
	if errors.As(err, &re) {
		WriteError(w, re)
		return true
	}
	var se planner.StatementError
	if !errors.As(err, &se) {
		return false
	}
	state := se.SQLState()
	if n, ok := settingRows(state, se.Message(), ir.SingularSetting); ok {
		WriteError(w, singularError(n))
		return true
	}
	if n, ok := settingRows(state, se.Message(), ir.MaxAffectedSetting); ok {
		WriteError(w, &Error{Status: 400, Code: CodeMaxAffected, Message: "Query result exceeds max-affected preference constraint",
			Details: "The query affects " + n + " rows"})
		return true
	}
	WriteError(w, &Error{Status: StatusOf(state, in.Anonymous), Code: state, Message: se.Message(), Details: se.Detail(), Hint: se.Hint()})
	return true
}

func singularError(rows string) *Error {
	return &Error{Status: 406, Code: CodeSingular, Message: "JSON object requested, multiple (or no) rows returned",
		Details: "The result contains " + rows + " rows"}
}

// settingRows recognises the failure a statement raises by reading the unknown setting
// prefix + its row count (a singular write that did not affect exactly one row, a write
// over its max-affected; the write is undone), and returns the row count it names.
func settingRows(state, msg, prefix string) (string, bool) {
	if state != "42704" {
		return "", false
	}
	i := strings.Index(msg, prefix)
	if i < 0 {
		return "", false
	}
	n := msg[i+len(prefix):]
	j := 0
	for j < len(n) && n[j] >= '0' && n[j] <= '9' {
		j++
	}
	return n[:j], j > 0
}

// StatusOf is PostgREST's HTTP status for a SQLSTATE; anonymous turns a permission error
// into 401, asking for credentials.
func StatusOf(state string, anonymous bool) int {
	switch state {
	case "23503", "23505", "23P01":
		return 409
	case "42P01", "42883":
		return 404
	case "42501":
		if anonymous {
			return 401
		}
		return 403
	case "25006":
		return 405
	case "P0001":
		return 400
	case "53400", "57014", "40001", "40P01":
		return 500
	}
	switch {
	case strings.HasPrefix(state, "08"):
		return 503
	case strings.HasPrefix(state, "22"), strings.HasPrefix(state, "23"), strings.HasPrefix(state, "42"):
		return 400
	case strings.HasPrefix(state, "53"), strings.HasPrefix(state, "54"):
		return 503
	case strings.HasPrefix(state, "P0"):
		return 500
	}
	return 500
}

// locationHeader builds `/table?pk=eq.value` from the first row of rows (the inserted
// keys), relative to the API root like PostgREST's.
func locationHeader(table string, pk []string, rows []byte) string {
	var keys []map[string]any
	dec := json.NewDecoder(bytes.NewReader(rows))
	dec.UseNumber()
	if dec.Decode(&keys) != nil || len(keys) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("/" + table)
	for i, k := range pk {
		v := keys[0][k]
		var text string
		switch v := v.(type) {
		case string:
			text = v
		case nil:
			text = "null"
		default:
			t, _ := json.Marshal(v)
			text = string(t)
		}
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape("eq."+text))
	}
	return b.String()
}

// appendContentRange writes `lower-upper/total`, `*/total` for no rows, `*` for an
// unknown total.
func appendContentRange(dst []byte, lower, n, total int64) []byte {
	if n == 0 {
		dst = append(dst, '*')
	} else {
		dst = strconv.AppendInt(dst, lower, 10)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, lower+n-1, 10)
	}
	dst = append(dst, '/')
	if total < 0 {
		return append(dst, '*')
	}
	return strconv.AppendInt(dst, total, 10)
}

// stripArray turns `[x]` into `x`.
func stripArray(b []byte) []byte {
	if len(b) >= 2 && b[0] == '[' && b[len(b)-1] == ']' {
		return b[1 : len(b)-1]
	}
	return b
}
