package graphql

import (
	"errors"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/gqlschema"
)

// introspect answers a __schema / __type root field through gqlschema. Its JSON is
// computed now and travels as a json parameter (or as Plan.Data when the operation has
// nothing else). Variables can steer introspection (__type(name: $n), @include), so
// every declared variable becomes a key variable.
func (c *compiler) introspect(of *outField) ([]byte, error) {
	f := *of.fields[0]
	f.SelectionSet = of.selections()
	for _, vd := range c.op.VariableDefinitions {
		c.keyVars[vd.Variable] = true
	}
	out, err := c.s.IntrospectField(c.op.Operation, &f, c.coerced, nil)
	if err != nil {
		var pe *planner.Error
		if errors.As(err, &pe) {
			return nil, pe
		}
		if errors.Is(err, gqlschema.ErrNotIntrospection) {
			return nil, validationf("$.selectionSet."+of.key, "field '%s' not found in type: '%s'", f.Name, gqlschema.RootTypeName(c.op.Operation))
		}
		return nil, validationf("$.selectionSet."+of.key, "%s", err.Error())
	}
	return out, nil
}
