package graphql

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kapok-dev/kapok/planner"
)

func validationf(path, format string, args ...any) *planner.Error {
	return planner.Errorf(planner.CodeValidationFailed, path, format, args...)
}

var (
	reUnknownField = regexp.MustCompile(`^Cannot query field "([^"]+)" on type "([^"]+)"`)
	reUnknownInput = regexp.MustCompile(`^Field "([^"]+)" is not defined by type "([^"]+)"`)
	reBadScalar    = regexp.MustCompile(`^(Int|Float|String|Boolean|ID) cannot represent [^:]*: (.*)$`)
)

var scalarWant = map[string]string{
	"Int": "a 32-bit integer", "Float": "a float", "String": "a string", "Boolean": "a boolean", "ID": "a String or a 32-bit integer",
}

// literalKind names the kind of a literal as printed by gqlparser, Hasura-style.
func literalKind(lit string) string {
	switch {
	case lit == "":
		return "nothing"
	case lit[0] == '"':
		return "a string"
	case lit[0] == '[':
		return "a list"
	case lit[0] == '{':
		return "an object"
	case lit == "true" || lit == "false":
		return "a boolean"
	case lit == "null":
		return "null"
	case lit[0] == '-' || lit[0] >= '0' && lit[0] <= '9':
		return "a number"
	}
	return "an enum value"
}

// fromGQLError turns a gqlparser validation error into Hasura's wording where Hasura's
// is known, and keeps gqlparser's message otherwise.
func fromGQLError(e *gqlerror.Error) *planner.Error {
	msg := e.Message
	if m := reUnknownField.FindStringSubmatch(msg); m != nil {
		msg = "field '" + m[1] + "' not found in type: '" + m[2] + "'"
	} else if m := reUnknownInput.FindStringSubmatch(msg); m != nil {
		msg = "field '" + m[1] + "' not found in type: '" + m[2] + "'"
	} else if m := reBadScalar.FindStringSubmatch(msg); m != nil {
		msg = "expected " + scalarWant[m[1]] + " for type \"" + m[1] + "\", but found " + literalKind(m[2])
	}
	path := "$"
	if len(e.Path) > 0 {
		var b strings.Builder
		b.WriteString("$")
		for _, p := range e.Path {
			b.WriteString(".")
			b.WriteString(fmt.Sprint(p))
		}
		path = b.String()
	}
	return &planner.Error{Code: planner.CodeValidationFailed, Message: msg, Path: path}
}
