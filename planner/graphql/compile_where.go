package graphql

import (
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/planner/ir"
)

// boolExp compiles a "<t>_bool_exp" value; nil means no filter.
func (c *compiler) boolExp(t *gqlschema.Table, v *ast.Value, path string) (ir.Expr, error) {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return nil, err
	}
	if v.Kind != ast.ObjectValue {
		return nil, validationf(path, "expected an object for type '%s'", t.Names.BoolExp)
	}
	var conds []ir.Expr
	for _, ch := range v.Children {
		cpath := path + "." + ch.Name
		ref := c.s.Field(t.Names.BoolExp, ch.Name)
		if ref == nil {
			return nil, validationf(cpath, "field '%s' not found in type: '%s'", ch.Name, t.Names.BoolExp)
		}
		var e ir.Expr
		switch ref.Kind {
		case gqlschema.FieldAnd, gqlschema.FieldOr, gqlschema.FieldNot:
			e, err = c.connective(ref.Kind, ch.Value, cpath, func(v *ast.Value, path string) (ir.Expr, error) { return c.boolExp(t, v, path) })
		case gqlschema.FieldColumn:
			col := ref.Column
			e, err = c.comparison(&ir.Column{Name: col.Name}, operandOf(col), ch.Value, cpath)
		case gqlschema.FieldObjectRel, gqlschema.FieldArrayRel:
			r := ref.Rel
			w, err := c.boolExp(r.Remote, ch.Value, cpath)
			if err != nil {
				return nil, err
			}
			e = &ir.Exists{Relation: c.relationOf(r.Remote), Link: linkOf(r), Where: w}
		case gqlschema.FieldArrayRelAggregate:
			e, err = c.aggregateBoolExp(ref.Rel, ch.Value, cpath)
		default:
			return nil, validationf(cpath, "field '%s' cannot be used in a filter", ch.Name)
		}
		if err != nil {
			return nil, err
		}
		if e != nil {
			conds = append(conds, e)
		}
	}
	return andOf(conds), nil
}

// connective compiles an _and, _or or _not field of a boolean expression, each operand by
// sub: nil for an explicit null, which filters nothing. An empty operand ({}, or only
// empty parts) is true, so _not of it matches no row and _or: [] none either.
func (c *compiler) connective(kind gqlschema.FieldKind, v *ast.Value, path string, sub func(*ast.Value, string) (ir.Expr, error)) (ir.Expr, error) {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return nil, err
	}
	operand := func(v *ast.Value) (ir.Expr, error) {
		p, err := sub(v, path)
		if p == nil && err == nil {
			p = &ir.Bool{Value: true}
		}
		return p, err
	}
	if kind == gqlschema.FieldNot {
		p, err := operand(v)
		if err != nil {
			return nil, err
		}
		return &ir.Not{Expr: p}, nil
	}
	var parts []ir.Expr
	for _, it := range items(v) {
		p, err := operand(it)
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	if kind == gqlschema.FieldAnd {
		return &ir.And{Exprs: parts}, nil
	}
	return &ir.Or{Exprs: parts}, nil
}

// operand describes the left side of a comparison.
type operand struct {
	typ      string // Postgres type of the compared value
	elem     string // element type for array columns
	array    bool
	jsonb    bool
	compType string // GraphQL comparison input type
}

func operandOf(col *gqlschema.Column) operand {
	return operand{
		typ: colType(col), elem: colElemType(col), array: col.IsArray,
		jsonb:    !col.IsArray && (col.Scalar.Class == gqlschema.ClassJSONB || col.Scalar.Class == gqlschema.ClassJSON),
		compType: col.Comparison,
	}
}

var simpleOps = map[string]ir.Op{
	"_eq": ir.OpEq, "_neq": ir.OpNeq, "_gt": ir.OpGt, "_gte": ir.OpGte, "_lt": ir.OpLt, "_lte": ir.OpLte,
	"_like": ir.OpLike, "_nlike": ir.OpNotLike, "_ilike": ir.OpILike, "_nilike": ir.OpNotILike,
	"_similar": ir.OpSimilar, "_nsimilar": ir.OpNotSimilar, "_regex": ir.OpRegex, "_nregex": ir.OpNotRegex,
	"_iregex": ir.OpIRegex, "_niregex": ir.OpNotIRegex,
	"_contains": ir.OpContains, "_contained_in": ir.OpContainedIn,
}

// comparison compiles a "<scalar>_comparison_exp" applied to left.
func (c *compiler) comparison(left ir.Expr, o operand, v *ast.Value, path string) (ir.Expr, error) {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return nil, err
	}
	if v.Kind != ast.ObjectValue {
		return nil, validationf(path, "expected an object for type '%s'", o.compType)
	}
	var conds []ir.Expr
	for _, ch := range v.Children {
		cpath := path + "." + ch.Name
		if ch.Value != nil && ch.Value.Kind == ast.NullValue {
			return nil, validationf(cpath, "unexpected null value for type %q", c.operandType(o.compType, ch.Name))
		}
		if ch.Value != nil && ch.Value.Kind == ast.Variable {
			c.rejectNull(ch.Value.Raw, c.operandType(o.compType, ch.Name))
		}
		var e ir.Expr
		switch name := ch.Name; name {
		case "_in", "_nin":
			if o.array {
				return nil, planner.Errorf(planner.CodeNotSupported, cpath, "%s on array columns is not supported", name)
			}
			r, err := c.leaf(ch.Value, o.typ+"[]", o.jsonb)
			if err != nil {
				return nil, err
			}
			op := ir.OpEqAny
			if name == "_nin" {
				op = ir.OpNeqAll
			}
			e = &ir.Compare{Left: left, Op: op, Right: r}
		case "_is_null":
			b, ok, err := c.boolValue(ch.Value)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			e = &ir.IsNull{Expr: left, Negate: !b}
		case "_has_key":
			r, err := c.leaf(ch.Value, "text", false)
			if err != nil {
				return nil, err
			}
			e = &ir.Compare{Left: left, Op: ir.OpHasKey, Right: r}
		case "_has_keys_any", "_has_keys_all":
			r, err := c.leaf(ch.Value, "text[]", false)
			if err != nil {
				return nil, err
			}
			op := ir.OpHasKeysAny
			if name == "_has_keys_all" {
				op = ir.OpHasKeysAll
			}
			e = &ir.Compare{Left: left, Op: op, Right: r}
		case "_cast":
			cv, err := c.structural(ch.Value)
			if err != nil {
				return nil, err
			}
			if isNull(cv) {
				continue
			}
			var parts []ir.Expr
			for _, cc := range cv.Children {
				if cc.Name != "String" {
					return nil, planner.Errorf(planner.CodeNotSupported, cpath+"."+cc.Name, "cast to %s is not supported", cc.Name)
				}
				p, err := c.comparison(&ir.Cast{Expr: left, Type: "text"}, operand{typ: "text", compType: "String_comparison_exp"}, cc.Value, cpath+"."+cc.Name)
				if err != nil {
					return nil, err
				}
				if p != nil {
					parts = append(parts, p)
				}
			}
			e = andOf(parts)
		default:
			op, ok := simpleOps[name]
			if !ok {
				return nil, planner.Errorf(planner.CodeNotSupported, cpath, "operator '%s' is not supported", name)
			}
			r, err := c.leaf(ch.Value, o.typ, o.jsonb)
			if err != nil {
				return nil, err
			}
			e = &ir.Compare{Left: left, Op: op, Right: r}
		}
		if e != nil {
			conds = append(conds, e)
		}
	}
	return andOf(conds), nil
}

// aggregateBoolExp compiles "<remote>_aggregate_bool_exp": count / bool_and / bool_or
// over the related rows, compared with predicate.
func (c *compiler) aggregateBoolExp(r *gqlschema.Relationship, v *ast.Value, path string) (ir.Expr, error) {
	v, err := c.structural(v)
	if err != nil || isNull(v) {
		return nil, err
	}
	remote := r.Remote
	var conds []ir.Expr
	for _, ch := range v.Children {
		cpath := path + "." + ch.Name
		fv, err := c.structural(ch.Value)
		if err != nil {
			return nil, err
		}
		if isNull(fv) {
			continue
		}
		rel := &ir.Related{Relation: c.relationOf(remote), Link: linkOf(r)}
		var o operand
		switch ch.Name {
		case "count":
			rel.Agg = &ir.Agg{Func: ir.AggCount}
			o = operand{typ: "int4", compType: "Int_comparison_exp"}
		case "bool_and", "bool_or":
			rel.Agg = &ir.Agg{Func: ir.AggFunc(ch.Name)}
			o = operand{typ: "bool", compType: "Boolean_comparison_exp"}
		default:
			return nil, planner.Errorf(planner.CodeNotSupported, cpath, "aggregate '%s' is not supported in filters", ch.Name)
		}
		var pred *ast.Value
		for _, a := range fv.Children {
			switch a.Name {
			case "arguments":
				cols, err := c.distinctOn(remote, a.Value, cpath+".arguments")
				if err != nil {
					return nil, err
				}
				if rel.Agg.Func != ir.AggCount && len(cols) != 1 {
					return nil, validationf(cpath+".arguments", "expected exactly one column")
				}
				rel.Agg.Columns = cols
			case "distinct":
				d, _, err := c.boolValue(a.Value)
				if err != nil {
					return nil, err
				}
				rel.Agg.Distinct = d
			case "filter":
				if rel.Where, err = c.boolExp(remote, a.Value, cpath+".filter"); err != nil {
					return nil, err
				}
			case "predicate":
				pred = a.Value
			}
		}
		if rel.Agg.Distinct && len(rel.Agg.Columns) == 0 {
			rel.Agg.Distinct = false
		}
		if rel.Agg.Func != ir.AggCount && len(rel.Agg.Columns) != 1 {
			return nil, validationf(cpath, "missing required field 'arguments'")
		}
		e, err := c.comparison(rel, o, pred, cpath+".predicate")
		if err != nil {
			return nil, err
		}
		if e != nil {
			conds = append(conds, e)
		}
	}
	return andOf(conds), nil
}

// operandType is the GraphQL type of a comparison operator's operand, for messages.
func (c *compiler) operandType(compType, op string) string {
	if ref := c.s.Field(compType, op); ref != nil && ref.Type != "" {
		return ref.Type
	}
	return strings.TrimSuffix(compType, "_comparison_exp")
}

// rejectNull makes Bind refuse an explicit null for variable name (see paramsOf).
func (c *compiler) rejectNull(name, typ string) {
	if c.nullChecked == nil {
		c.nullChecked = map[string]string{}
	}
	c.nullChecked[name] = typ
}
