package realtime

import (
	"encoding/json"
	"strings"
)

// changeJSON is a change's "data" object as Supabase Realtime sends it and realtime-js
// reads it (RealtimeChannel._getPayloadRecords, lib/transformers): schema, table,
// commit_timestamp (ISO 8601, UTC), type, columns [{name, type}] with the types' names
// (int4, text, _int4 …), record (inserts, updates), old_record (updates, deletes) and
// errors. Values are typed the way Supabase's to_jsonb makes them: numbers, booleans and
// json as such, timestamps in ISO form, arrays as JSON arrays, the rest as text.
//
// A change whose JSON would exceed maxRecordBytes is sent as Supabase sends it: only the
// values of at most 64 bytes, and "errors":["Error 413: Payload Too Large"].
func changeJSON(ch *change, commitTS string) []byte {
	if b := buildChange(ch, commitTS, false); len(b) <= maxRecordBytes {
		return b
	}
	return buildChange(ch, commitTS, true)
}

// maxRecordBytes is Supabase Realtime's default max_record_bytes.
const maxRecordBytes = 1 << 20

func buildChange(ch *change, commitTS string, trim bool) []byte {
	rel := ch.rel
	b := make([]byte, 0, 256)
	b = append(b, `{"schema":`...)
	b = appendString(b, rel.schema)
	b = append(b, `,"table":`...)
	b = appendString(b, rel.name)
	b = append(b, `,"commit_timestamp":`...)
	b = appendString(b, commitTS)
	b = append(b, `,"type":"`...)
	b = append(b, ch.kind...)
	b = append(b, `","columns":[`...)
	for i, name := range rel.cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, name)
		b = append(b, `,"type":`...)
		b = appendString(b, rel.typName[i])
		b = append(b, '}')
	}
	b = append(b, ']')
	if ch.kind != "DELETE" {
		b = append(b, `,"record":`...)
		b = appendRow(b, rel, ch.new, ch.old, nil, trim)
	}
	switch ch.kind {
	case "UPDATE":
		b = append(b, `,"old_record":`...)
		switch {
		case ch.old != nil && ch.oldFull:
			b = appendRow(b, rel, ch.old, nil, nil, trim)
		case ch.old != nil:
			b = appendRow(b, rel, ch.old, nil, rel.pkSet, trim)
		default: // the key did not change: it is the new row's
			b = appendRow(b, rel, ch.new, nil, rel.pkSet, trim)
		}
	case "DELETE":
		b = append(b, `,"old_record":`...)
		if ch.oldFull && !rel.rls {
			b = appendRow(b, rel, ch.old, nil, nil, trim)
		} else {
			// Only the key: what the WAL has without REPLICA IDENTITY FULL, and all Supabase
			// sends of a deleted row of a table with row-level security.
			b = appendRow(b, rel, ch.old, nil, rel.pkSet, trim)
		}
	}
	if trim {
		return append(b, `,"errors":["Error 413: Payload Too Large"]}`...)
	}
	b = append(b, `,"errors":null}`...)
	return b
}

// appendRow writes row as a JSON object; an unchanged TOASTed value is taken from fallback
// (the old row) when it has it, else left out; only names in only, when only is not nil;
// trim leaves out values over 64 bytes.
func appendRow(b []byte, rel *relation, row, fallback []colValue, only map[string]bool, trim bool) []byte {
	b = append(b, '{')
	n := 0
	for i, name := range rel.cols {
		if only != nil && !only[name] {
			continue
		}
		if i >= len(row) {
			break
		}
		v := row[i]
		if v.toast {
			if i >= len(fallback) || fallback[i].toast {
				continue
			}
			v = fallback[i]
		}
		if trim && len(v.text) > 64 {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = appendString(b, name)
		b = append(b, ':')
		if !v.set {
			b = append(b, "null"...)
			continue
		}
		if e := rel.elem[i]; e.name != "" {
			if arr, ok := appendArray(b, e, v.text); ok {
				b = arr
				continue
			}
		}
		b = appendValue(b, rel.typName[i], rel.typCat[i], v.text)
	}
	return append(b, '}')
}

// appendArray writes an array's text form as a JSON array of its elements typed like
// columns (nested for several dimensions), as to_jsonb does. ok is false for what it does
// not read (explicit bounds, the box type's ';' delimiter): the caller writes the text.
func appendArray(b []byte, e elemType, s string) ([]byte, bool) {
	if e.name == "box" || len(s) < 2 || s[0] != '{' {
		return b, false
	}
	out, rest, ok := arrayLevel(b, e, s)
	if !ok || rest != "" {
		return b, false
	}
	return out, true
}

// arrayLevel reads one {…} level at the start of s.
func arrayLevel(b []byte, e elemType, s string) ([]byte, string, bool) {
	b = append(b, '[')
	s = s[1:]
	first := true
	for {
		s = strings.TrimLeft(s, " \t\n")
		if s == "" {
			return b, s, false
		}
		if s[0] == '}' {
			if !first {
				return b, s, false // "{1,}"
			}
			return append(b, ']'), s[1:], true
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		switch s[0] {
		case '{':
			var ok bool
			if b, s, ok = arrayLevel(b, e, s); !ok {
				return b, s, false
			}
		case '"':
			var sb strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				sb.WriteByte(s[i])
			}
			if i >= len(s) {
				return b, s, false
			}
			b = appendValue(b, e.name, e.cat, sb.String())
			s = s[i+1:]
		default:
			i := strings.IndexAny(s, ",}")
			if i < 0 {
				return b, s, false
			}
			v := strings.TrimRight(s[:i], " \t\n")
			if strings.EqualFold(v, "NULL") {
				b = append(b, "null"...)
			} else {
				b = appendValue(b, e.name, e.cat, v)
			}
			s = s[i:]
		}
		s = strings.TrimLeft(s, " \t\n")
		if s == "" {
			return b, s, false
		}
		switch s[0] {
		case ',':
			s = s[1:]
		case '}':
			return append(b, ']'), s[1:], true
		default:
			return b, s, false
		}
	}
}

// appendValue writes a text-format value as Supabase types it.
func appendValue(b []byte, typ string, cat byte, v string) []byte {
	switch {
	case typ == "bool":
		if v == "t" {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case typ == "json" || typ == "jsonb":
		if json.Valid([]byte(v)) {
			return append(b, v...)
		}
	case cat == 'N' && jsonNumber(v):
		return append(b, v...)
	case typ == "timestamp":
		return appendString(b, strings.Replace(v, " ", "T", 1))
	case typ == "timestamptz":
		v = strings.Replace(v, " ", "T", 1)
		// PostgreSQL prints a whole-hour offset as +00; to_jsonb as +00:00.
		if n := len(v); n > 3 && (v[n-3] == '+' || v[n-3] == '-') {
			v += ":00"
		}
		return appendString(b, v)
	}
	return appendString(b, v)
}

// jsonNumber reports whether s is a JSON number (NaN, Infinity and money are not).
func jsonNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	start := i
	if d := digits(); d == 0 || (d > 1 && s[start] == '0') {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
