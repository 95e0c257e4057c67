package gqlschema

import "fmt"

// Grouped aggregates go beyond Hasura v2, which has none: "<t>_aggregate" gets a field
//
//	groups(group_by: [<t>_group_by_column!]!, having: <t>_aggregate_having,
//	       order_by: [<t>_aggregate_group_order_by!], limit: Int, offset: Int): [<t>_aggregate_group!]!
//
// whose elements are { keys { <grouped columns> } aggregate { <t>_aggregate_fields } }.
// The grouping arguments sit on the field rather than on "<t>_aggregate", so that the
// root field keeps Hasura's arguments and their meaning (where/order_by/limit pick the
// rows that aggregate, nodes and groups all read), and one query can group the same
// rows several ways under aliases.

// ungroupable are types without an equality operator Postgres can group by.
var ungroupable = map[string]bool{
	"json": true, "xml": true, "point": true, "line": true, "lseg": true, "box": true,
	"path": true, "polygon": true, "circle": true,
}

// Groupable reports whether rows can be grouped by the column.
func Groupable(c *Column) bool { return !ungroupable[c.Catalog.TypeName] }

func (b *builder) groupTypes(t *Table) {
	n, label := t.Names, b.label(t)
	var cols []*Column
	for _, c := range t.Columns {
		if Groupable(c) {
			cols = append(cols, c)
		}
	}
	if len(cols) == 0 {
		return
	}
	enum := b.addType(&typeDef{kind: "enum", name: n.GroupByColumn, desc: fmt.Sprintf("columns of table %q that rows can be grouped by", label),
		info: &TypeInfo{Role: TypeGroupByColumn, Table: t}})
	keys := b.addType(&typeDef{kind: "type", name: n.GroupKeys, desc: "the values of the group_by columns shared by the rows of a group",
		info: &TypeInfo{Role: TypeGroupKeys, Table: t}})
	keysOrder := b.addType(&typeDef{kind: "input", name: n.GroupKeysOrderBy, desc: "order groups by their group_by columns",
		info: &TypeInfo{Role: TypeGroupKeysOrderBy, Table: t}})
	for _, c := range cols {
		enum.value(&valueDef{name: c.Name, desc: "column name", val: &EnumValue{Column: c}})
		keys.field(&fieldDef{name: c.Name, typ: c.Type, ref: &FieldRef{Kind: FieldColumn, Column: c}})
		keysOrder.field(&fieldDef{name: c.Name, typ: "order_by", ref: &FieldRef{Kind: FieldColumn, Column: c}})
	}

	group := b.addType(&typeDef{kind: "type", name: n.Group, desc: fmt.Sprintf("a group of rows of %q sharing the values of the group_by columns", label),
		info: &TypeInfo{Role: TypeGroup, Table: t}})
	group.field(&fieldDef{name: "keys", typ: n.GroupKeys + "!", ref: &FieldRef{Kind: FieldGroupKeys}})
	group.field(&fieldDef{name: "aggregate", typ: n.AggregateFields + "!", ref: &FieldRef{Kind: FieldAggregate}})

	order := b.addType(&typeDef{kind: "input", name: n.GroupOrderBy, desc: "ordering options of groups: by their keys or their aggregates",
		info: &TypeInfo{Role: TypeGroupOrderBy, Table: t}})
	order.field(&fieldDef{name: "keys", typ: n.GroupKeysOrderBy, ref: &FieldRef{Kind: FieldGroupKeys}})
	order.field(&fieldDef{name: "aggregate", typ: n.AggregateOrderBy, ref: &FieldRef{Kind: FieldAggregate}})

	b.havingTypes(t)

	agg := b.types[n.AggregateType]
	agg.field(&fieldDef{name: "groups", desc: "the rows grouped by the group_by columns, one element per group",
		typ: "[" + n.Group + "!]!", ref: &FieldRef{Kind: FieldGroups}, args: []*argDef{
			{name: "group_by", desc: "the columns whose values define a group", typ: "[" + n.GroupByColumn + "!]!"},
			{name: "having", desc: "filter the groups by their aggregates", typ: n.AggregateHaving},
			{name: "order_by", desc: "sort the groups by their keys or aggregates; ties are broken by the keys, ascending", typ: "[" + n.GroupOrderBy + "!]"},
			{name: "limit", desc: "limit the number of groups returned", typ: "Int"},
			{name: "offset", desc: "skip the first n groups", typ: "Int"},
		}})
}

// havingTypes generates "<t>_aggregate_having": the aggregates of a group compared as
// a where compares columns.
func (b *builder) havingTypes(t *Table) {
	n, label := t.Names, b.label(t)
	td := b.addType(&typeDef{kind: "input", name: n.AggregateHaving,
		desc: fmt.Sprintf("Boolean expression to filter groups of rows of %q by their aggregates. All fields are combined with a logical 'AND'.", label),
		info: &TypeInfo{Role: TypeAggregateHaving, Table: t}})
	td.field(&fieldDef{name: "_and", typ: "[" + n.AggregateHaving + "!]", ref: &FieldRef{Kind: FieldAnd}})
	td.field(&fieldDef{name: "_or", typ: "[" + n.AggregateHaving + "!]", ref: &FieldRef{Kind: FieldOr}})
	td.field(&fieldDef{name: "_not", typ: n.AggregateHaving, ref: &FieldRef{Kind: FieldNot}})
	b.ensureComparison(b.scalar("Int", ClassNumeric, "int4"), false)
	td.field(&fieldDef{name: "count", typ: "Int_comparison_exp", ref: &FieldRef{Kind: FieldAggCount}})
	for _, fn := range aggregateFuncs {
		ft := &typeDef{kind: "input", name: n.FuncHaving[fn], desc: fmt.Sprintf("filter groups by %s() on columns of table %q", fn, label),
			info: &TypeInfo{Role: TypeAggregateFuncHaving, Table: t, Func: fn}}
		for _, c := range aggColumns(t, fn) {
			cmp := c.Comparison
			if aggType(c, fn) == "Float" {
				b.ensureComparison(b.scalar("Float", ClassNumeric, "float4"), false)
				cmp = "Float_comparison_exp"
			}
			ft.field(&fieldDef{name: c.Name, typ: cmp, ref: &FieldRef{Kind: FieldColumn, Column: c, Func: fn}})
		}
		if ft.empty() {
			continue
		}
		b.addType(ft)
		td.field(&fieldDef{name: fn, typ: ft.name, ref: &FieldRef{Kind: FieldAggFunc, Func: fn}})
	}
}
