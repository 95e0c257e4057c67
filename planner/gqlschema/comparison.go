package gqlschema

import "fmt"

// needComparison makes sure the comparison expression of a column exists.
func (b *builder) needComparison(c *Column) {
	b.ensureComparison(c.Scalar, c.IsArray)
}

// ensureComparison generates "<S>_comparison_exp" or "<S>_array_comparison_exp".
func (b *builder) ensureComparison(sc *Scalar, array bool) {
	if array {
		name := sc.Name + "_array_comparison_exp"
		if b.types[name] != nil {
			return
		}
		list, listList := "["+sc.Name+"!]", "[["+sc.Name+"!]!]"
		td := b.addType(&typeDef{kind: "input", name: name, desc: cmpDesc(sc.Name), info: &TypeInfo{Role: TypeComparisonExp, Func: sc.Name}})
		op := func(name, desc, typ string) {
			td.field(&fieldDef{name: name, desc: desc, typ: typ, ref: &FieldRef{Kind: FieldOperator, Op: name}})
		}
		op("_contained_in", "is the array contained in the given array value", list)
		op("_contains", "does the array contain the given value", list)
		for _, o := range []string{"_eq", "_gt", "_gte", "_lt", "_lte", "_neq"} {
			op(o, "", list)
		}
		op("_in", "", listList)
		op("_nin", "", listList)
		op("_is_null", "", "Boolean")
		return
	}
	name := sc.Name + "_comparison_exp"
	if b.types[name] != nil {
		return
	}
	td := b.addType(&typeDef{kind: "input", name: name, desc: cmpDesc(sc.Name), info: &TypeInfo{Role: TypeComparisonExp, Func: sc.Name}})
	op := func(name, desc, typ string) {
		td.field(&fieldDef{name: name, desc: desc, typ: typ, ref: &FieldRef{Kind: FieldOperator, Op: name}})
	}
	for _, o := range []string{"_eq", "_gt", "_gte", "_lt", "_lte", "_neq"} {
		op(o, "", sc.Name)
	}
	op("_in", "", "["+sc.Name+"!]")
	op("_nin", "", "["+sc.Name+"!]")
	op("_is_null", "", "Boolean")
	switch sc.Class {
	case ClassString:
		op("_like", "does the column match the given pattern", sc.Name)
		op("_nlike", "does the column NOT match the given pattern", sc.Name)
		op("_ilike", "does the column match the given case-insensitive pattern", sc.Name)
		op("_nilike", "does the column NOT match the given case-insensitive pattern", sc.Name)
		op("_similar", "does the column match the given SQL regular expression", sc.Name)
		op("_nsimilar", "does the column NOT match the given SQL regular expression", sc.Name)
		op("_regex", "does the column match the given POSIX regular expression, case sensitive", sc.Name)
		op("_nregex", "does the column NOT match the given POSIX regular expression, case sensitive", sc.Name)
		op("_iregex", "does the column match the given POSIX regular expression, case insensitive", sc.Name)
		op("_niregex", "does the column NOT match the given POSIX regular expression, case insensitive", sc.Name)
	case ClassJSONB:
		op("_cast", "", "jsonb_cast_exp")
		op("_contained_in", "is the column contained in the given json value", sc.Name)
		op("_contains", "does the column contain the given json value at the top level", sc.Name)
		op("_has_key", "does the string exist as a top-level key in the column", "String")
		op("_has_keys_all", "do all of these strings exist as top-level keys in the column", "[String!]")
		op("_has_keys_any", "do any of these strings exist as top-level keys in the column", "[String!]")
		str := b.scalar("String", ClassString, "text")
		b.ensureComparison(str, false)
		if b.types["jsonb_cast_exp"] == nil {
			ce := b.addType(&typeDef{kind: "input", name: "jsonb_cast_exp", info: &TypeInfo{Role: TypeComparisonExp, Func: sc.Name}})
			ce.field(&fieldDef{name: "String", typ: "String_comparison_exp", ref: &FieldRef{Kind: FieldOperator, Op: "String"}})
		}
	}
}

func cmpDesc(scalar string) string {
	return fmt.Sprintf("Boolean expression to compare columns of type %q. All fields are combined with logical 'AND'.", scalar)
}

// comparisons declares every non-built-in scalar in use.
func (b *builder) comparisons() {
	for name, sc := range b.s.scalars {
		if builtinScalars[name] {
			continue
		}
		b.addType(&typeDef{kind: "scalar", name: name, info: &TypeInfo{Role: TypeScalar, Func: sc.PGType}})
	}
}
