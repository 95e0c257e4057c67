package gqlschema

import (
	"errors"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// BuildFor generates the GraphQL schema role sees: the schema of the part of cat that role
// may use (catalog.Schema.VisibleTo), so introspection, validation and compilation all
// follow the role's privileges, column privileges included. A table the role may not
// select from is absent, and so are its root fields; one it may select but not insert
// into has no insert fields; a column it may not select is absent from every type, and
// one it may not insert or update is absent from the insert or set inputs.
//
// Build the schema of the admin (who sees everything) with Build.
func BuildFor(cat *catalog.Schema, role string, opts Options) (*Schema, error) {
	if cat == nil {
		return nil, errors.New("gqlschema: nil catalog")
	}
	return Build(cat.VisibleTo(role), opts)
}
