package gqlschema

import (
	"errors"
	"fmt"

	"github.com/graph-gophers/graphql-go/introspection"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kapok-dev/kapok/internal/jsonx"
)

// ErrNotIntrospection is returned by Introspect for a root field that is not
// __schema, __type or __typename.
var ErrNotIntrospection = errors.New("gqlschema: not an introspection field")

// introspectionTypes caches what graphql-go's Inspect computes on every call.
type introspectionTypes struct {
	schema     *introspection.Schema
	types      []*introspection.Type
	byName     map[string]*introspection.Type
	directives []*introspection.Directive
}

func newIntrospectionTypes(s *Schema) *introspectionTypes {
	in := s.Record.Inspect()
	it := &introspectionTypes{schema: in, types: in.Types(), byName: map[string]*introspection.Type{}, directives: in.Directives()}
	for _, t := range it.types {
		it.byName[*t.Name()] = t
	}
	return it
}

// IsIntrospectionField reports whether a root field name is answered by Introspect.
func IsIntrospectionField(name string) bool {
	return name == "__schema" || name == "__type" || name == "__typename"
}

// RootTypeName is the root type of an operation: query_root, mutation_root or
// subscription_root.
func RootTypeName(op ast.Operation) string {
	switch op {
	case ast.Mutation:
		return "mutation_root"
	case ast.Subscription:
		return "subscription_root"
	}
	return "query_root"
}

// Introspect appends to dst a JSON object with one member per response key of
// fields (a root selection set of op, validated by gqlparser against s.AST): fragments
// are expanded, @skip/@include applied, aliases and repeated keys merged, as the
// GraphQL spec's CollectFields does. Every collected root field must be __schema,
// __type or __typename, else ErrNotIntrospection is returned. vars are the operation's
// coerced variable values.
func (s *Schema) Introspect(op *ast.OperationDefinition, fields ast.SelectionSet, vars map[string]any, dst []byte) ([]byte, error) {
	root := RootTypeName(op.Operation)
	w := &walker{s: s, vars: vars}
	groups, err := w.collect(fields, root, nil)
	if err != nil {
		return dst, err
	}
	dst = append(dst, '{')
	for i, g := range groups {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, g.key)
		dst = append(dst, ':')
		if dst, err = s.introspectGroup(w, g, root, dst); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// IntrospectField appends to dst the JSON value (not the key) of one root field f
// (__schema, __type or __typename) of an operation of type op. It is for operations
// that mix introspection and table fields: the compiler writes the key and this value
// where the field belongs. vars are the operation's coerced variable values.
func (s *Schema) IntrospectField(op ast.Operation, f *ast.Field, vars map[string]any, dst []byte) ([]byte, error) {
	w := &walker{s: s, vars: vars}
	return s.introspectGroup(w, &group{key: responseKey(f), field: f, sel: f.SelectionSet}, RootTypeName(op), dst)
}

func (s *Schema) introspectGroup(w *walker, g *group, root string, dst []byte) ([]byte, error) {
	switch g.field.Name {
	case "__typename":
		return jsonx.AppendString(dst, root), nil
	case "__schema":
		return w.schema(dst, g.sel)
	case "__type":
		name, err := w.argString(g.field, "name")
		if err != nil {
			return dst, err
		}
		t := s.introType.byName[name]
		if t == nil {
			return append(dst, "null"...), nil
		}
		return w.typ(dst, t, g.sel)
	}
	return dst, fmt.Errorf("%w: %q", ErrNotIntrospection, g.field.Name)
}

type walker struct {
	s    *Schema
	vars map[string]any
}

// group is the fields of one response key, merged.
type group struct {
	key   string
	field *ast.Field
	sel   ast.SelectionSet
}

func responseKey(f *ast.Field) string {
	if f.Alias != "" {
		return f.Alias
	}
	return f.Name
}

// collect implements CollectFields for an object of type typeName.
func (w *walker) collect(set ast.SelectionSet, typeName string, groups []*group) ([]*group, error) {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			ok, err := w.included(sel.Directives)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			key := responseKey(sel)
			var g *group
			for _, have := range groups {
				if have.key == key {
					g = have
					break
				}
			}
			if g == nil {
				groups = append(groups, &group{key: key, field: sel, sel: sel.SelectionSet})
			} else {
				g.sel = append(append(ast.SelectionSet(nil), g.sel...), sel.SelectionSet...)
			}
		case *ast.InlineFragment:
			ok, err := w.included(sel.Directives)
			if err != nil {
				return nil, err
			}
			if !ok || (sel.TypeCondition != "" && sel.TypeCondition != typeName) {
				continue
			}
			if groups, err = w.collect(sel.SelectionSet, typeName, groups); err != nil {
				return nil, err
			}
		case *ast.FragmentSpread:
			ok, err := w.included(sel.Directives)
			if err != nil {
				return nil, err
			}
			if !ok || sel.Definition == nil || (sel.Definition.TypeCondition != "" && sel.Definition.TypeCondition != typeName) {
				continue
			}
			if groups, err = w.collect(sel.Definition.SelectionSet, typeName, groups); err != nil {
				return nil, err
			}
		}
	}
	return groups, nil
}

func (w *walker) included(dirs ast.DirectiveList) (bool, error) {
	for _, d := range dirs {
		if d.Name != "skip" && d.Name != "include" {
			continue
		}
		a := d.Arguments.ForName("if")
		if a == nil {
			continue
		}
		v, err := a.Value.Value(w.vars)
		if err != nil {
			return false, err
		}
		b, _ := v.(bool)
		if (d.Name == "skip" && b) || (d.Name == "include" && !b) {
			return false, nil
		}
	}
	return true, nil
}

func (w *walker) argValue(f *ast.Field, name string) (any, error) {
	a := f.Arguments.ForName(name)
	if a == nil {
		// A default declared on the field applies when the argument is absent.
		if f.Definition != nil {
			if d := f.Definition.Arguments.ForName(name); d != nil && d.DefaultValue != nil {
				return d.DefaultValue.Value(nil)
			}
		}
		return nil, nil
	}
	return a.Value.Value(w.vars)
}

func (w *walker) argString(f *ast.Field, name string) (string, error) {
	v, err := w.argValue(f, name)
	if err != nil {
		return "", err
	}
	str, _ := v.(string)
	return str, nil
}

func (w *walker) deprecatedArg(f *ast.Field) (*struct{ IncludeDeprecated bool }, error) {
	v, err := w.argValue(f, "includeDeprecated")
	if err != nil {
		return nil, err
	}
	b, _ := v.(bool)
	return &struct{ IncludeDeprecated bool }{b}, nil
}

// object writes one introspection object of meta-type typeName.
func (w *walker) object(dst []byte, sel ast.SelectionSet, typeName string, field func(dst []byte, g *group) ([]byte, error)) ([]byte, error) {
	groups, err := w.collect(sel, typeName, nil)
	if err != nil {
		return dst, err
	}
	dst = append(dst, '{')
	for i, g := range groups {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, g.key)
		dst = append(dst, ':')
		if g.field.Name == "__typename" {
			dst = jsonx.AppendString(dst, typeName)
			continue
		}
		if dst, err = field(dst, g); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

func unknownField(meta string, g *group) error {
	return fmt.Errorf("gqlschema: unknown field %s.%s", meta, g.field.Name)
}

func (w *walker) schema(dst []byte, sel ast.SelectionSet) ([]byte, error) {
	it := w.s.introType
	return w.object(dst, sel, "__Schema", func(dst []byte, g *group) ([]byte, error) {
		switch g.field.Name {
		case "description":
			return append(dst, "null"...), nil
		case "types":
			return list(dst, it.types, func(dst []byte, t *introspection.Type) ([]byte, error) { return w.typ(dst, t, g.sel) })
		case "queryType":
			return w.typ(dst, it.schema.QueryType(), g.sel)
		case "mutationType":
			return w.typ(dst, it.schema.MutationType(), g.sel)
		case "subscriptionType":
			return w.typ(dst, it.schema.SubscriptionType(), g.sel)
		case "directives":
			return list(dst, it.directives, func(dst []byte, d *introspection.Directive) ([]byte, error) { return w.directive(dst, d, g.sel) })
		}
		return dst, unknownField("__Schema", g)
	})
}

func (w *walker) typ(dst []byte, t *introspection.Type, sel ast.SelectionSet) ([]byte, error) {
	if t == nil {
		return append(dst, "null"...), nil
	}
	return w.object(dst, sel, "__Type", func(dst []byte, g *group) ([]byte, error) {
		switch g.field.Name {
		case "kind":
			return jsonx.AppendString(dst, t.Kind()), nil
		case "name":
			return appendOptString(dst, t.Name()), nil
		case "description":
			return appendOptString(dst, t.Description()), nil
		case "specifiedByURL", "specifiedByUrl":
			return appendOptString(dst, t.SpecifiedByURL()), nil
		case "isOneOf":
			return append(dst, "false"...), nil
		case "fields":
			args, err := w.deprecatedArg(g.field)
			if err != nil {
				return dst, err
			}
			fs := t.Fields(args)
			if fs == nil {
				return append(dst, "null"...), nil
			}
			return list(dst, *fs, func(dst []byte, f *introspection.Field) ([]byte, error) { return w.fieldDef(dst, f, g.sel) })
		case "interfaces", "possibleTypes":
			var ts *[]*introspection.Type
			if g.field.Name == "interfaces" {
				ts = t.Interfaces()
			} else {
				ts = t.PossibleTypes()
			}
			if ts == nil {
				return append(dst, "null"...), nil
			}
			return list(dst, *ts, func(dst []byte, x *introspection.Type) ([]byte, error) { return w.typ(dst, x, g.sel) })
		case "enumValues":
			args, err := w.deprecatedArg(g.field)
			if err != nil {
				return dst, err
			}
			vs := t.EnumValues(args)
			if vs == nil {
				return append(dst, "null"...), nil
			}
			return list(dst, *vs, func(dst []byte, v *introspection.EnumValue) ([]byte, error) { return w.enumValue(dst, v, g.sel) })
		case "inputFields":
			args, err := w.deprecatedArg(g.field)
			if err != nil {
				return dst, err
			}
			ivs := t.InputFields(args)
			if ivs == nil {
				return append(dst, "null"...), nil
			}
			return list(dst, *ivs, func(dst []byte, v *introspection.InputValue) ([]byte, error) { return w.inputValue(dst, v, g.sel) })
		case "ofType":
			return w.typ(dst, t.OfType(), g.sel)
		}
		return dst, unknownField("__Type", g)
	})
}

func (w *walker) fieldDef(dst []byte, f *introspection.Field, sel ast.SelectionSet) ([]byte, error) {
	return w.object(dst, sel, "__Field", func(dst []byte, g *group) ([]byte, error) {
		switch g.field.Name {
		case "name":
			return jsonx.AppendString(dst, f.Name()), nil
		case "description":
			return appendOptString(dst, f.Description()), nil
		case "args":
			args, err := w.deprecatedArg(g.field)
			if err != nil {
				return dst, err
			}
			return list(dst, f.Args(args), func(dst []byte, v *introspection.InputValue) ([]byte, error) { return w.inputValue(dst, v, g.sel) })
		case "type":
			return w.typ(dst, f.Type(), g.sel)
		case "isDeprecated":
			return appendBool(dst, f.IsDeprecated()), nil
		case "deprecationReason":
			return appendOptString(dst, f.DeprecationReason()), nil
		}
		return dst, unknownField("__Field", g)
	})
}

func (w *walker) inputValue(dst []byte, v *introspection.InputValue, sel ast.SelectionSet) ([]byte, error) {
	return w.object(dst, sel, "__InputValue", func(dst []byte, g *group) ([]byte, error) {
		switch g.field.Name {
		case "name":
			return jsonx.AppendString(dst, v.Name()), nil
		case "description":
			return appendOptString(dst, v.Description()), nil
		case "type":
			return w.typ(dst, v.Type(), g.sel)
		case "defaultValue":
			return appendOptString(dst, v.DefaultValue()), nil
		case "isDeprecated":
			return appendBool(dst, v.IsDeprecated()), nil
		case "deprecationReason":
			return appendOptString(dst, v.DeprecationReason()), nil
		}
		return dst, unknownField("__InputValue", g)
	})
}

func (w *walker) enumValue(dst []byte, v *introspection.EnumValue, sel ast.SelectionSet) ([]byte, error) {
	return w.object(dst, sel, "__EnumValue", func(dst []byte, g *group) ([]byte, error) {
		switch g.field.Name {
		case "name":
			return jsonx.AppendString(dst, v.Name()), nil
		case "description":
			return appendOptString(dst, v.Description()), nil
		case "isDeprecated":
			return appendBool(dst, v.IsDeprecated()), nil
		case "deprecationReason":
			return appendOptString(dst, v.DeprecationReason()), nil
		}
		return dst, unknownField("__EnumValue", g)
	})
}

func (w *walker) directive(dst []byte, d *introspection.Directive, sel ast.SelectionSet) ([]byte, error) {
	return w.object(dst, sel, "__Directive", func(dst []byte, g *group) ([]byte, error) {
		switch g.field.Name {
		case "name":
			return jsonx.AppendString(dst, d.Name()), nil
		case "description":
			return appendOptString(dst, d.Description()), nil
		case "locations":
			return list(dst, d.Locations(), func(dst []byte, l string) ([]byte, error) { return jsonx.AppendString(dst, l), nil })
		case "args":
			args, err := w.deprecatedArg(g.field)
			if err != nil {
				return dst, err
			}
			return list(dst, d.Args(args), func(dst []byte, v *introspection.InputValue) ([]byte, error) { return w.inputValue(dst, v, g.sel) })
		case "isRepeatable":
			rep := false
			if def := w.s.AST.Directives[d.Name()]; def != nil {
				rep = def.IsRepeatable
			}
			return appendBool(dst, rep), nil
		}
		return dst, unknownField("__Directive", g)
	})
}

func list[T any](dst []byte, items []T, each func([]byte, T) ([]byte, error)) ([]byte, error) {
	var err error
	dst = append(dst, '[')
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = each(dst, it); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}

func appendOptString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return jsonx.AppendString(dst, *s)
}
