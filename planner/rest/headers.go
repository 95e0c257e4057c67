package rest

import (
	"bytes"
	"strconv"
	"strings"
)

// HeaderGetter gives the request headers; *fasthttp.RequestHeader satisfies it.
// PeekAll returns every value of a header in request order, nil when absent.
type HeaderGetter interface {
	PeekAll(name string) [][]byte
}

// Header names the package reads.
const (
	HeaderPrefer         = "Prefer"
	HeaderAccept         = "Accept"
	HeaderRange          = "Range"
	HeaderAcceptProfile  = "Accept-Profile"
	HeaderContentProfile = "Content-Profile"
	HeaderContentType    = "Content-Type"
)

// Preferences is the Prefer header (every occurrence, comma lists). Empty strings mean
// "not given"; the first occurrence of a preference wins.
type Preferences struct {
	Return      string // minimal | headers-only | representation
	Count       string // exact | planned | estimated
	Resolution  string // merge-duplicates | ignore-duplicates
	Missing     string // default | null
	Handling    string // strict | lenient
	Tx          string // commit | rollback
	Timezone    string
	MaxAffected *int64
	// Invalid lists the preferences that were not understood, as written.
	Invalid []string
}

// maxAffected is the cap on the rows a PATCH, DELETE or set-returning call may affect:
// max-affected, which PostgREST enforces only with handling=strict; nil without one.
func (p *Preferences) maxAffected() *int64 {
	if p.Handling != "strict" {
		return nil
	}
	return p.MaxAffected
}

func parsePrefer(h HeaderGetter) (Preferences, *Error) {
	var pr Preferences
	if h == nil {
		return pr, nil
	}
	set := func(dst *string, v string, allowed ...string) bool {
		for _, a := range allowed {
			if v == a {
				if *dst == "" {
					*dst = v
				}
				return true
			}
		}
		return false
	}
	for _, hv := range h.PeekAll(HeaderPrefer) {
		for _, tok := range strings.Split(string(hv), ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			k, v, _ := strings.Cut(tok, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			ok := false
			switch k {
			case "return":
				ok = set(&pr.Return, v, "minimal", "headers-only", "representation")
			case "count":
				ok = set(&pr.Count, v, "exact", "planned", "estimated")
			case "resolution":
				ok = set(&pr.Resolution, v, "merge-duplicates", "ignore-duplicates")
			case "missing":
				ok = set(&pr.Missing, v, "default", "null")
			case "handling":
				ok = set(&pr.Handling, v, "strict", "lenient")
			case "tx":
				ok = set(&pr.Tx, v, "commit", "rollback")
			case "timezone":
				ok = v != ""
				if ok && pr.Timezone == "" {
					pr.Timezone = v
				}
			case "max-affected":
				n, err := strconv.ParseInt(v, 10, 64)
				ok = err == nil
				if ok && pr.MaxAffected == nil {
					pr.MaxAffected = &n
				}
			}
			if !ok {
				pr.Invalid = append(pr.Invalid, tok)
			}
		}
	}
	if pr.Handling == "strict" && len(pr.Invalid) > 0 {
		return pr, &Error{Status: 400, Code: CodePreferences,
			Message: "Invalid preferences given with handling=strict",
			Details: "Invalid preferences: " + strings.Join(pr.Invalid, ", ")}
	}
	return pr, nil
}

// MediaType is a negotiated media type.
type MediaType uint8

const (
	MediaJSON        MediaType = iota + 1 // application/json
	MediaObject                           // application/vnd.pgrst.object+json
	MediaCSV                              // text/csv
	MediaOpenAPI                          // application/openapi+json (root document)
	MediaFormURL                          // application/x-www-form-urlencoded (bodies)
	MediaText                             // text/plain (rpc bodies)
	MediaOctetStream                      // application/octet-stream (rpc bodies)
	MediaAny                              // */* resolved by the caller
)

func (m MediaType) String() string {
	switch m {
	case MediaJSON:
		return "application/json"
	case MediaObject:
		return "application/vnd.pgrst.object+json"
	case MediaCSV:
		return "text/csv"
	case MediaOpenAPI:
		return "application/openapi+json"
	case MediaFormURL:
		return "application/x-www-form-urlencoded"
	case MediaText:
		return "text/plain"
	case MediaOctetStream:
		return "application/octet-stream"
	}
	return "*/*"
}

type mediaRange struct {
	typ string
	q   float64
}

// parseAccept picks the first acceptable media type by quality then order;
// PGRST107 406 when none is offered.
func parseAccept(h HeaderGetter, action Action) (MediaType, *Error) {
	var all []string
	if h != nil {
		for _, v := range h.PeekAll(HeaderAccept) {
			all = append(all, string(v))
		}
	}
	raw := strings.Join(all, ",")
	if strings.TrimSpace(raw) == "" {
		if action == ActionSchema {
			return MediaOpenAPI, nil
		}
		return MediaJSON, nil
	}
	var ranges []mediaRange
	for _, part := range strings.Split(raw, ",") {
		fields := strings.Split(part, ";")
		typ := strings.ToLower(strings.TrimSpace(fields[0]))
		if typ == "" {
			continue
		}
		q := 1.0
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
			if strings.TrimSpace(k) == "q" {
				if x, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = x
				}
			}
		}
		ranges = append(ranges, mediaRange{typ, q})
	}
	// Stable sort by descending quality.
	for i := 1; i < len(ranges); i++ {
		for j := i; j > 0 && ranges[j].q > ranges[j-1].q; j-- {
			ranges[j], ranges[j-1] = ranges[j-1], ranges[j]
		}
	}
	for _, r := range ranges {
		if r.q <= 0 {
			continue
		}
		switch r.typ {
		case "*/*", "application/*", "application/json":
			if action == ActionSchema {
				return MediaOpenAPI, nil
			}
			return MediaJSON, nil
		case "application/vnd.pgrst.object+json", "application/vnd.pgrst.object":
			if action != ActionSchema {
				return MediaObject, nil
			}
		case "text/csv", "text/*":
			if action != ActionSchema {
				return MediaCSV, nil
			}
		case "application/openapi+json":
			if action == ActionSchema {
				return MediaOpenAPI, nil
			}
		}
	}
	types := make([]string, 0, len(ranges))
	for _, r := range ranges {
		types = append(types, r.typ)
	}
	return 0, &Error{Status: 406, Code: CodeMediaType,
		Message: "None of these media types are available: " + strings.Join(types, ", ")}
}

// parseContentType accepts the body types PostgREST reads; PGRST107 415 otherwise.
func parseContentType(h HeaderGetter, action Action) (MediaType, *Error) {
	var v []byte
	if h != nil {
		if all := h.PeekAll(HeaderContentType); len(all) > 0 {
			v = all[0]
		}
	}
	typ := strings.ToLower(strings.TrimSpace(string(bytes.SplitN(v, []byte{';'}, 2)[0])))
	switch typ {
	case "", "application/json":
		return MediaJSON, nil
	case "text/csv":
		return MediaCSV, nil
	case "application/x-www-form-urlencoded":
		return MediaFormURL, nil
	case "text/plain":
		if action == ActionCall {
			return MediaText, nil
		}
	case "application/octet-stream":
		if action == ActionCall {
			return MediaOctetStream, nil
		}
	}
	return 0, &Error{Status: 415, Code: CodeMediaType,
		Message: "Content-Type not acceptable: " + strings.TrimSpace(string(v))}
}

// rangeHeader splits `[items=]lower-[upper]` into digit strings; ok false when the
// header is absent or malformed (see rangeMalformed).
func rangeHeader(v []byte) (lower, upper []byte, ok bool) {
	v = bytes.TrimSpace(v)
	if bytes.HasPrefix(v, []byte("items=")) {
		v = v[len("items="):]
	}
	i := bytes.IndexByte(v, '-')
	if i <= 0 {
		return nil, nil, false
	}
	lower, upper = v[:i], v[i+1:]
	if !allDigits(lower) || (len(upper) > 0 && !allDigits(upper)) {
		return nil, nil, false
	}
	return lower, upper, true
}

// rangeMalformed reports a Range header that is present but not lower-[upper]. PostgREST
// ignores it and answers every row; Kapok refuses it, so a client never takes the whole
// table for the page it asked for.
func rangeMalformed(v []byte) bool {
	if len(bytes.TrimSpace(v)) == 0 {
		return false
	}
	_, _, ok := rangeHeader(v)
	return !ok
}

func allDigits(b []byte) bool {
	if len(b) == 0 || len(b) > 18 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func atoi(b []byte) int64 {
	var n int64
	for _, c := range b {
		n = n*10 + int64(c-'0')
	}
	return n
}

func firstHeader(h HeaderGetter, name string) []byte {
	if h == nil {
		return nil
	}
	if all := h.PeekAll(name); len(all) > 0 {
		return all[0]
	}
	return nil
}
