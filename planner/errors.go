package planner

import "fmt"

// Error codes, as Hasura spells them in extensions.code.
const (
	CodeValidationFailed = "validation-failed"
	CodeParseFailed      = "parse-failed"
	CodeDataException    = "data-exception"
	CodeNotSupported     = "not-supported"
	CodeUnexpected       = "unexpected"
)

// Error is a request error the proxy renders in its dialect: for GraphQL,
// {"message": Message, "extensions": {"code": Code, "path": Path}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Path is Hasura's JSON path of the offending node, e.g. "$.selectionSet.author.args.where".
	Path string `json:"path,omitempty"`
}

func (e *Error) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("%s: %s (at %s)", e.Code, e.Message, e.Path)
	}
	return e.Code + ": " + e.Message
}

// Errorf builds an *Error.
func Errorf(code, path, format string, args ...any) *Error {
	return &Error{Code: code, Path: path, Message: fmt.Sprintf(format, args...)}
}
