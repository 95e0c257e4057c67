package rest

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/kapok-dev/kapok/internal/jsonx"
	"github.com/kapok-dev/kapok/planner"
)

// Error is a request error in PostgREST's shape. The proxy writes it as
// {"code","message","details","hint"} with Status; an empty Details or Hint is null.
type Error struct {
	Status  int
	Code    string
	Message string
	Details string
	Hint    string
	// DetailsJSON, when set, replaces Details with raw JSON (PGRST201 lists candidates).
	DetailsJSON json.RawMessage
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.Details != "" {
		b.WriteString(" (")
		b.WriteString(e.Details)
		b.WriteString(")")
	}
	return b.String()
}

// MarshalJSON writes PostgREST's error body.
func (e *Error) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendJSON appends PostgREST's error body {"code","details","hint","message"}.
func (e *Error) AppendJSON(b []byte) []byte {
	b = append(b, `{"code":`...)
	b = jsonx.AppendString(b, e.Code)
	b = append(b, `,"details":`...)
	switch {
	case len(e.DetailsJSON) > 0:
		b = append(b, e.DetailsJSON...)
	case e.Details != "":
		b = jsonx.AppendString(b, e.Details)
	default:
		b = append(b, "null"...)
	}
	b = append(b, `,"hint":`...)
	if e.Hint != "" {
		b = jsonx.AppendString(b, e.Hint)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"message":`...)
	b = jsonx.AppendString(b, e.Message)
	return append(b, '}')
}

// WriteError answers w with e, as PostgREST does.
func WriteError(w *planner.Response, e *Error) {
	w.Status, w.ContentType = e.Status, contentTypeJSON
	start := len(w.Scratch)
	w.Scratch = e.AppendJSON(w.Scratch)
	w.Body = w.Scratch[start:]
}

// PostgREST error codes produced by this package.
const (
	CodeQueryParam       = "PGRST100" // 400 failed to parse a query parameter
	CodeInvalidRPCMethod = "PGRST101" // 405 method not allowed on rpc
	CodeInvalidBody      = "PGRST102" // 400 empty or invalid JSON body
	CodeInvalidRange     = "PGRST103" // 416 range not satisfiable / negative limit
	CodeInvalidFilters   = "PGRST105" // 405 PUT filters
	CodeSchema           = "PGRST106" // 406 schema not exposed
	CodeMediaType        = "PGRST107" // 406 Accept / 415 Content-Type
	CodeNotEmbedded      = "PGRST108" // 400 filter or order on a resource not embedded
	CodePutLimit         = "PGRST114" // 400 limit/offset on PUT
	CodeSingular         = "PGRST116" // 406 object requested, not one row
	CodeUnsupportedVerb  = "PGRST117" // 405 unsupported HTTP method
	CodeRelatedOrder     = "PGRST118" // 400 related order on a to-many embed
	CodeSpreadToMany     = "PGRST119" // 400 spread of a to-many relationship
	CodeEmbeddedFilter   = "PGRST120" // 400 bad operator on an embedded resource
	CodePreferences      = "PGRST122" // 400 invalid preferences with handling=strict
	CodeMaxAffected      = "PGRST124" // 400 more rows affected than max-affected allows
	CodeMaxAffectedRPC   = "PGRST128" // 400 max-affected on a function returning one value
	CodeInvalidPath      = "PGRST125" // 404 invalid resource path
	CodeNoRelationship   = "PGRST200" // 400 no relationship found
	CodeAmbiguousEmbed   = "PGRST201" // 300 more than one relationship
	CodeNoFunction       = "PGRST202" // 404 function not found
	CodeAmbiguousRPC     = "PGRST203" // 300 overloaded function ambiguity
	CodeColumnNotFound   = "PGRST204" // 400 column not in schema cache
	CodeUndefinedTable   = "42P01"    // 404 relation does not exist
	CodeUndefinedColumn  = "42703"    // 400 column does not exist
)

// parseError builds a PGRST100 error the way PostgREST renders a parsec failure:
// message `"failed to parse <what> (<input>)" (line 1, column N)` and the parser's
// expectation in details.
func parseError(what, input string, pos int, details string) *Error {
	return &Error{
		Status:  400,
		Code:    CodeQueryParam,
		Message: `"failed to parse ` + what + ` (` + input + `)" (line 1, column ` + strconv.Itoa(pos+1) + `)`,
		Details: details,
	}
}

// rangeNotSatisfiable is PostgREST's 416 (PGRST103) with details saying why.
func rangeNotSatisfiable(details string) *Error {
	return &Error{Status: 416, Code: CodeInvalidRange, Message: "Requested range not satisfiable", Details: details}
}

// detailNegativeLimit is PostgREST's details for a negative limit, and for a Range header
// with nothing in common with the limit and offset parameters.
const detailNegativeLimit = "Limit should be greater than or equal to zero."
