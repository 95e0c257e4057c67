package gqlschema

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	graphql "github.com/graph-gophers/graphql-go"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// Options tune Build.
type Options struct {
	// RecordOptions are passed to graphql.ParseSchema (e.g. graphql.MaxDepth,
	// graphql.MaxQueryLength). Introspection answers do not depend on them.
	RecordOptions []graphql.SchemaOpt
}

// BuildError is returned when a generated SDL is refused by one of the GraphQL
// libraries: a bug in this package, never a property of the tenant's database.
type BuildError struct {
	Library string // "graphql-go" or "gqlparser"
	Err     error
}

func (e *BuildError) Error() string {
	return "gqlschema: generated SDL rejected by " + e.Library + ": " + e.Err.Error()
}

func (e *BuildError) Unwrap() error { return e.Err }

// Names owned by the shared part of the schema; a table whose base name is one of
// them is left out.
var reservedTypeNames = map[string]bool{
	"query_root": true, "mutation_root": true, "subscription_root": true,
	"order_by": true, "cursor_ordering": true, "jsonb_cast_exp": true,
	"Int": true, "Float": true, "String": true, "Boolean": true, "ID": true,
}

// Build generates the GraphQL schema of cat and loads it into both libraries.
func Build(cat *catalog.Schema, opts Options) (*Schema, error) {
	if cat == nil {
		return nil, errors.New("gqlschema: nil catalog")
	}
	b := newBuilder(cat)
	b.collectTables()
	b.collectRelationships()
	b.generate()
	s := b.s
	s.SDL = render(len(b.mutation.fields) > 0, b.types)

	p, err := loadSDL(s.SDL, opts)
	if err != nil {
		return nil, err
	}
	s.loaded, s.SDL, s.Record, s.AST = p, p.sdl, p.record, p.ast
	s.introType = newIntrospectionTypes(s)
	sort.Strings(s.Skipped)
	s.entries = len(s.types)
	for _, ti := range s.types {
		s.entries += len(ti.Fields) + len(ti.Values)
	}
	return s, nil
}

type builder struct {
	s       *Schema
	types   map[string]*typeDef
	claimed map[string]bool // type names and root field names taken by tables
	byQN    map[catalog.QualifiedName]*Table

	query, mutation, subscription *typeDef
	arrayTargets                  map[*Table]bool // remote tables of array relationships
}

func newBuilder(cat *catalog.Schema) *builder {
	def := "public"
	if len(cat.Schemas) > 0 {
		def = cat.Schemas[0]
	}
	s := &Schema{
		Catalog: cat, DefaultSchema: def,
		byCatalog: map[*catalog.Table]*Table{},
		query:     map[string]*RootField{}, mutation: map[string]*RootField{}, stream: map[string]*RootField{},
		types: map[string]*TypeInfo{}, scalars: map[string]*Scalar{},
	}
	b := &builder{
		s: s, types: map[string]*typeDef{}, claimed: map[string]bool{},
		byQN:         map[catalog.QualifiedName]*Table{},
		arrayTargets: map[*Table]bool{},
	}
	b.query = &typeDef{kind: "type", name: "query_root"}
	b.mutation = &typeDef{kind: "type", name: "mutation_root", desc: "mutation root"}
	b.subscription = &typeDef{kind: "type", name: "subscription_root"}
	return b
}

func (b *builder) skip(format string, args ...any) {
	b.s.Skipped = append(b.s.Skipped, fmt.Sprintf(format, args...))
}

// tableOrder puts the default schema's tables first, then the other exposed schemas
// in configured order, so that the default schema wins every name collision.
func (b *builder) tableOrder() []*catalog.Table {
	rank := map[string]int{}
	for i, sc := range b.s.Catalog.Schemas {
		if _, ok := rank[sc]; !ok {
			rank[sc] = i
		}
	}
	out := append([]*catalog.Table(nil), b.s.Catalog.Tables...)
	sort.SliceStable(out, func(i, j int) bool {
		ri, oki := rank[out[i].Schema]
		rj, okj := rank[out[j].Schema]
		if !oki {
			ri = len(rank)
		}
		if !okj {
			rj = len(rank)
		}
		return ri < rj
	})
	return out
}

func (b *builder) collectTables() {
	// Tables claim their names before any column creates a scalar, so that a scalar
	// named like a table is renamed whatever the order of the two.
	var kept []*Table
	for _, ct := range b.tableOrder() {
		qn := ct.Schema + "." + ct.Name
		base := TableBaseName(b.s.DefaultSchema, ct.Schema, ct.Name)
		if !ValidName(base) {
			b.skip("table %s: %q is not a valid GraphQL name", qn, base)
			continue
		}
		if reservedTypeNames[base] || strings.HasSuffix(base, "_comparison_exp") {
			b.skip("table %s: name %q is reserved", qn, base)
			continue
		}
		names := allTableNames(base)
		if clash := b.firstClaimed(names); clash != "" {
			b.skip("table %s: name %q is already taken", qn, clash)
			continue
		}
		exposable := false
		for _, cc := range ct.Columns {
			if _, _, ok := ScalarFor(cc); ok && ValidName(cc.Name) {
				exposable = true
				break
			}
		}
		if !exposable {
			b.skip("table %s: no column can be exposed", qn)
			continue
		}
		b.claim(names)
		kept = append(kept, &Table{Catalog: ct, Names: names, columns: map[string]*Column{}, rels: map[string]*Relationship{}})
	}
	for _, t := range kept {
		ct := t.Catalog
		qn := ct.Schema + "." + ct.Name
		for _, cc := range ct.Columns {
			c := b.column(qn, cc)
			if c == nil {
				continue
			}
			t.Columns = append(t.Columns, c)
			t.columns[c.Name] = c
		}
		b.features(t)
		b.s.Tables = append(b.s.Tables, t)
		b.s.byCatalog[ct] = t
		b.byQN[catalog.QualifiedName{Schema: ct.Schema, Name: ct.Name}] = t
	}
	// Keep catalog order in the exported list.
	sort.SliceStable(b.s.Tables, func(i, j int) bool {
		a, c := b.s.Tables[i].Catalog, b.s.Tables[j].Catalog
		if a.Schema != c.Schema {
			return a.Schema < c.Schema
		}
		return a.Name < c.Name
	})
}

func tableNameList(n TableNames) []string {
	l := []string{n.Base, n.ByPK, n.Aggregate, n.Insert, n.InsertOne, n.Update, n.UpdateByPK, n.UpdateMany,
		n.Delete, n.DeleteByPK, n.AggregateFields, n.BoolExp, n.OrderBy, n.SelectColumn,
		n.PKColumnsInput, n.InsertInput, n.ArrRelInsertInput, n.ObjRelInsertInput, n.OnConflict, n.Constraint,
		n.UpdateColumn, n.SetInput, n.IncInput, n.Updates, n.AppendInput, n.PrependInput, n.DeleteKeyInput,
		n.DeleteElemInput, n.DeleteAtPathInput, n.MutationResponse, n.AggregateOrderBy, n.AggregateBoolExp,
		n.AggregateBoolExp + "_count", n.AggregateBoolExp + "_bool_and", n.AggregateBoolExp + "_bool_or",
		boolAggArgEnum(n, "bool_and"), boolAggArgEnum(n, "bool_or"),
		n.Stream, n.StreamCursorInput, n.StreamCursorValueInput,
		n.GroupByColumn, n.Group, n.GroupKeys, n.GroupKeysOrderBy, n.GroupOrderBy, n.AggregateHaving}
	for _, f := range aggregateFuncs {
		l = append(l, n.FuncFields[f], n.FuncOrderBy[f], n.FuncHaving[f])
	}
	return l
}

func boolAggArgEnum(n TableNames, fn string) string {
	return n.SelectColumn + "_" + n.AggregateBoolExp + "_" + fn + "_arguments_columns"
}

func (b *builder) firstClaimed(n TableNames) string {
	for _, name := range tableNameList(n) {
		if b.claimed[name] {
			return name
		}
	}
	return ""
}

func (b *builder) claim(n TableNames) {
	for _, name := range tableNameList(n) {
		b.claimed[name] = true
	}
}

func (b *builder) column(qn string, cc *catalog.Column) *Column {
	if !ValidName(cc.Name) {
		b.skip("column %s.%s: not a valid GraphQL name", qn, cc.Name)
		return nil
	}
	name, class, ok := ScalarFor(cc)
	if !ok {
		b.skip("column %s.%s: type %q has no valid GraphQL name", qn, cc.Name, cc.TypeName)
		return nil
	}
	sc := b.scalar(name, class, cc.TypeName)
	c := &Column{Name: cc.Name, Catalog: cc, Scalar: sc, IsArray: cc.IsArray, Cast: cc.Type}
	if c.IsArray {
		c.InputType = "[" + sc.Name + "!]"
		c.Comparison = sc.Name + "_array_comparison_exp"
		c.Comparable = true
	} else {
		c.InputType = sc.Name
		c.Comparison = sc.Name + "_comparison_exp"
		c.Numeric = class.numeric()
		c.Comparable = class.comparable()
	}
	c.Type = c.InputType
	if !cc.Nullable {
		c.Type += "!"
	}
	return c
}

// scalar returns the shared Scalar for a GraphQL scalar name. A scalar whose name is a
// table's type name is renamed "<name>_scalar", as Hasura does for row-type scalars.
func (b *builder) scalar(name string, class ScalarClass, pg string) *Scalar {
	if b.claimed[name] || b.claimed[name+"_comparison_exp"] {
		name += "_scalar"
	}
	if sc := b.s.scalars[name]; sc != nil {
		return sc
	}
	sc := &Scalar{Name: name, Class: class, PGType: pg}
	b.s.scalars[name] = sc
	return sc
}

func (b *builder) features(t *Table) {
	ct := t.Catalog
	if len(ct.PrimaryKey) > 0 {
		pk := make([]*Column, 0, len(ct.PrimaryKey))
		for _, n := range ct.PrimaryKey {
			if c := t.columns[n]; c != nil {
				pk = append(pk, c)
			}
		}
		if len(pk) == len(ct.PrimaryKey) {
			t.PrimaryKey = pk
		}
	}
	mutable := ct.Kind == catalog.KindTable || ct.Kind == catalog.KindPartitionedTable ||
		ct.Kind == catalog.KindView || ct.Kind == catalog.KindForeignTable || ct.Kind == ""
	var anyIns, anyUpd bool
	for _, c := range t.Columns {
		anyIns = anyIns || c.Catalog.Insertable
		anyUpd = anyUpd || c.Catalog.Updatable
	}
	t.Insertable = mutable && ct.Insertable && anyIns
	t.Updatable = mutable && ct.Updatable && anyUpd
	t.Deletable = mutable && ct.Deletable
	if t.PrimaryKey != nil && validEnumValue(ct.PrimaryKeyName) {
		t.Constraints = append(t.Constraints, &Constraint{Name: ct.PrimaryKeyName, Columns: ct.PrimaryKey, Primary: true})
	}
	for _, u := range ct.Uniques {
		if validEnumValue(u.Name) && u.Name != ct.PrimaryKeyName {
			t.Constraints = append(t.Constraints, &Constraint{Name: u.Name, Columns: u.Columns})
		}
	}
	t.HasOnConflict = t.Insertable && t.Updatable && len(t.Constraints) > 0
	if !t.HasOnConflict {
		t.Constraints = nil
	}
}

func (b *builder) collectRelationships() {
	for _, t := range b.s.Tables {
		qn := t.Catalog.Schema + "." + t.Catalog.Name
		for _, cr := range t.Catalog.Relationships {
			remote := b.byQN[catalog.QualifiedName{Schema: cr.RemoteSchema, Name: cr.RemoteTable}]
			if remote == nil {
				b.skip("relationship %s.%s: remote table %s.%s is not exposed", qn, cr.Name, cr.RemoteSchema, cr.RemoteTable)
				continue
			}
			if !ValidName(cr.Name) || t.columns[cr.Name] != nil || t.rels[cr.Name] != nil {
				b.skip("relationship %s.%s: invalid or clashing name", qn, cr.Name)
				continue
			}
			r := &Relationship{Name: cr.Name, Catalog: cr, Table: t, Remote: remote}
			if cr.Kind == catalog.ArrayRel {
				agg := cr.Name + "_aggregate"
				if t.columns[agg] == nil && t.rels[agg] == nil {
					r.AggregateName = agg
				}
				b.arrayTargets[remote] = true
			} else {
				r.NonNull = ownsFK(t.Catalog, cr)
				for _, n := range cr.Columns {
					if c := t.Catalog.Column(n); c == nil || c.Nullable {
						r.NonNull = false
					}
				}
			}
			t.Relationships = append(t.Relationships, r)
			t.rels[r.Name] = r
		}
	}
	// An "<rel>_aggregate" name must not shadow a later relationship either.
	for _, t := range b.s.Tables {
		for _, r := range t.Relationships {
			if r.AggregateName != "" && t.rels[r.AggregateName] != nil {
				r.AggregateName = ""
			}
		}
	}
}

func ownsFK(t *catalog.Table, r *catalog.Relationship) bool {
	for _, fk := range t.ForeignKeys {
		if fk.Name == r.Constraint {
			return true
		}
	}
	return false
}

func (b *builder) addType(td *typeDef) *typeDef {
	if td.info != nil {
		td.info.Name = td.name
	}
	b.types[td.name] = td
	return td
}

func (b *builder) register(td *typeDef) {
	if td.empty() {
		delete(b.types, td.name)
		return
	}
	if td.info != nil {
		b.s.types[td.name] = td.info
	}
}

func (b *builder) generate() {
	b.addType(b.query)
	b.addType(b.subscription)
	b.addType(b.mutation)
	b.orderByEnum()
	b.cursorOrderingEnum()
	for _, t := range b.s.Tables {
		b.tableTypes(t)
	}
	for _, t := range b.s.Tables {
		if b.arrayTargets[t] {
			b.aggregateBoolExp(t)
		}
		// Every table's groups are ordered by aggregates (groups.go), not only the
		// targets of array relationships.
		b.aggregateOrderBy(t)
		b.groupTypes(t)
		b.mutations(t)
	}
	for _, t := range b.s.Tables {
		b.rootQueries(t)
		b.streamTypes(t)
	}
	b.comparisons()
	if len(b.query.fields) == 0 {
		// An object type needs a field; Hasura answers the same way on an empty database.
		b.query.field(&fieldDef{name: "no_queries_available", typ: "String!"})
		b.subscription.field(&fieldDef{name: "no_queries_available", typ: "String!"})
	}
	if len(b.mutation.fields) == 0 {
		delete(b.types, "mutation_root")
	}
	for _, td := range b.types {
		b.register(td)
	}
}

func (b *builder) orderByEnum() {
	td := b.addType(&typeDef{kind: "enum", name: "order_by", desc: "column ordering options", info: &TypeInfo{Role: TypeOrderByEnum}})
	td.value(&valueDef{name: "asc", desc: "in ascending order, nulls last", val: &EnumValue{}})
	td.value(&valueDef{name: "asc_nulls_first", desc: "in ascending order, nulls first", val: &EnumValue{NullsFirst: true}})
	td.value(&valueDef{name: "asc_nulls_last", desc: "in ascending order, nulls last", val: &EnumValue{}})
	td.value(&valueDef{name: "desc", desc: "in descending order, nulls first", val: &EnumValue{Desc: true, NullsFirst: true}})
	td.value(&valueDef{name: "desc_nulls_first", desc: "in descending order, nulls first", val: &EnumValue{Desc: true, NullsFirst: true}})
	td.value(&valueDef{name: "desc_nulls_last", desc: "in descending order, nulls last", val: &EnumValue{Desc: true}})
}

// label is how Hasura quotes a table in descriptions.
func (b *builder) label(t *Table) string {
	if t.Catalog.Schema == b.s.DefaultSchema {
		return t.Catalog.Name
	}
	return t.Catalog.Schema + "." + t.Catalog.Name
}

func selectArgs(r *Table) []*argDef {
	n := r.Names
	return []*argDef{
		{name: "distinct_on", desc: "distinct select on columns", typ: "[" + n.SelectColumn + "!]"},
		{name: "limit", desc: "limit the number of rows returned", typ: "Int"},
		{name: "offset", desc: "skip the first n rows. Use only with order_by", typ: "Int"},
		{name: "order_by", desc: "sort the rows by one or more columns", typ: "[" + n.OrderBy + "!]"},
		{name: "where", desc: "filter the rows returned", typ: n.BoolExp},
	}
}

func pkArgs(t *Table) []*argDef {
	args := make([]*argDef, 0, len(t.PrimaryKey))
	for _, c := range t.PrimaryKey {
		args = append(args, &argDef{name: c.Name, typ: c.InputType + "!"})
	}
	return args
}

func (b *builder) tableTypes(t *Table) {
	n, label := t.Names, b.label(t)
	desc := t.Catalog.Comment
	if desc == "" {
		desc = fmt.Sprintf("columns and relationships of %q", label)
	}
	row := b.addType(&typeDef{kind: "type", name: n.Base, desc: desc, info: &TypeInfo{Role: TypeRow, Table: t}})
	boolExp := b.addType(&typeDef{kind: "input", name: n.BoolExp,
		desc: fmt.Sprintf("Boolean expression to filter rows from the table %q. All fields are combined with a logical 'AND'.", label),
		info: &TypeInfo{Role: TypeBoolExp, Table: t}})
	orderBy := b.addType(&typeDef{kind: "input", name: n.OrderBy,
		desc: fmt.Sprintf("Ordering options when selecting data from %q.", label), info: &TypeInfo{Role: TypeOrderBy, Table: t}})
	selCol := b.addType(&typeDef{kind: "enum", name: n.SelectColumn,
		desc: fmt.Sprintf("select columns of table %q", label), info: &TypeInfo{Role: TypeSelectColumn, Table: t}})

	boolExp.field(&fieldDef{name: "_and", typ: "[" + n.BoolExp + "!]", ref: &FieldRef{Kind: FieldAnd}})
	boolExp.field(&fieldDef{name: "_or", typ: "[" + n.BoolExp + "!]", ref: &FieldRef{Kind: FieldOr}})
	boolExp.field(&fieldDef{name: "_not", typ: n.BoolExp, ref: &FieldRef{Kind: FieldNot}})

	for _, c := range t.Columns {
		f := &fieldDef{name: c.Name, desc: c.Catalog.Comment, typ: c.Type, ref: &FieldRef{Kind: FieldColumn, Column: c}}
		if !c.IsArray && (c.Scalar.Class == ClassJSONB || c.Scalar.Class == ClassJSON) {
			f.args = []*argDef{{name: "path", desc: "JSON select path", typ: "String"}}
		}
		row.field(f)
		boolExp.field(&fieldDef{name: c.Name, typ: c.Comparison, ref: &FieldRef{Kind: FieldColumn, Column: c}})
		orderBy.field(&fieldDef{name: c.Name, typ: "order_by", ref: &FieldRef{Kind: FieldColumn, Column: c}})
		selCol.value(&valueDef{name: c.Name, desc: "column name", val: &EnumValue{Column: c}})
		b.needComparison(c)
	}
	for _, r := range t.Relationships {
		rn := r.Remote.Names
		if r.Catalog.Kind == catalog.ArrayRel {
			row.field(&fieldDef{name: r.Name, desc: "An array relationship", args: selectArgs(r.Remote),
				typ: "[" + rn.Base + "!]!", ref: &FieldRef{Kind: FieldArrayRel, Rel: r}})
			boolExp.field(&fieldDef{name: r.Name, typ: rn.BoolExp, ref: &FieldRef{Kind: FieldArrayRel, Rel: r}})
			if r.AggregateName != "" {
				row.field(&fieldDef{name: r.AggregateName, desc: "An aggregate relationship", args: selectArgs(r.Remote),
					typ: rn.AggregateType + "!", ref: &FieldRef{Kind: FieldArrayRelAggregate, Rel: r}})
				boolExp.field(&fieldDef{name: r.AggregateName, typ: rn.AggregateBoolExp, ref: &FieldRef{Kind: FieldArrayRelAggregate, Rel: r}})
				orderBy.field(&fieldDef{name: r.AggregateName, typ: rn.AggregateOrderBy, ref: &FieldRef{Kind: FieldArrayRelAggregate, Rel: r}})
			}
			continue
		}
		typ := rn.Base
		if r.NonNull {
			typ += "!"
		}
		row.field(&fieldDef{name: r.Name, desc: "An object relationship", typ: typ, ref: &FieldRef{Kind: FieldObjectRel, Rel: r}})
		boolExp.field(&fieldDef{name: r.Name, typ: rn.BoolExp, ref: &FieldRef{Kind: FieldObjectRel, Rel: r}})
		orderBy.field(&fieldDef{name: r.Name, typ: rn.OrderBy, ref: &FieldRef{Kind: FieldObjectRel, Rel: r}})
	}

	agg := b.addType(&typeDef{kind: "type", name: n.AggregateType, desc: fmt.Sprintf("aggregated selection of %q", label),
		info: &TypeInfo{Role: TypeAggregate, Table: t}})
	agg.field(&fieldDef{name: "aggregate", typ: n.AggregateFields, ref: &FieldRef{Kind: FieldAggregate}})
	agg.field(&fieldDef{name: "nodes", typ: "[" + n.Base + "!]!", ref: &FieldRef{Kind: FieldNodes}})

	aggF := b.addType(&typeDef{kind: "type", name: n.AggregateFields, desc: fmt.Sprintf("aggregate fields of %q", label),
		info: &TypeInfo{Role: TypeAggregateFields, Table: t}})
	aggF.field(&fieldDef{name: "count", typ: "Int!", ref: &FieldRef{Kind: FieldAggCount}, args: []*argDef{
		{name: "columns", typ: "[" + n.SelectColumn + "!]"}, {name: "distinct", typ: "Boolean"}}})
	for _, fn := range aggregateFuncs {
		ft := &typeDef{kind: "type", name: n.FuncFields[fn], desc: "aggregate " + fn + " on columns",
			info: &TypeInfo{Role: TypeAggregateFuncFields, Table: t, Func: fn}}
		for _, c := range aggColumns(t, fn) {
			ft.field(&fieldDef{name: c.Name, typ: aggType(c, fn), ref: &FieldRef{Kind: FieldColumn, Column: c, Func: fn}})
		}
		if ft.empty() {
			continue
		}
		b.addType(ft)
		aggF.field(&fieldDef{name: fn, typ: ft.name, ref: &FieldRef{Kind: FieldAggFunc, Func: fn}})
	}
}

// aggColumns are the columns an aggregate function applies to.
func aggColumns(t *Table, fn string) []*Column {
	var out []*Column
	for _, c := range t.Columns {
		if fn == "max" || fn == "min" {
			if c.Comparable {
				out = append(out, c)
			}
		} else if c.Numeric {
			out = append(out, c)
		}
	}
	return out
}

// aggType: sum/max/min keep the column's type; the statistics are Float.
func aggType(c *Column, fn string) string {
	switch fn {
	case "sum", "max", "min":
		return c.InputType
	}
	return "Float"
}

func (b *builder) aggregateOrderBy(t *Table) {
	n, label := t.Names, b.label(t)
	td := b.addType(&typeDef{kind: "input", name: n.AggregateOrderBy, desc: fmt.Sprintf("order by aggregate values of table %q", label),
		info: &TypeInfo{Role: TypeAggregateOrderBy, Table: t}})
	td.field(&fieldDef{name: "count", typ: "order_by", ref: &FieldRef{Kind: FieldAggCount}})
	for _, fn := range aggregateFuncs {
		cols := aggColumns(t, fn)
		if len(cols) == 0 {
			continue
		}
		ft := b.addType(&typeDef{kind: "input", name: n.FuncOrderBy[fn], desc: fmt.Sprintf("order by %s() on columns of table %q", fn, label),
			info: &TypeInfo{Role: TypeAggregateFuncOrderBy, Table: t, Func: fn}})
		for _, c := range cols {
			ft.field(&fieldDef{name: c.Name, typ: "order_by", ref: &FieldRef{Kind: FieldColumn, Column: c, Func: fn}})
		}
		td.field(&fieldDef{name: fn, typ: ft.name, ref: &FieldRef{Kind: FieldAggFunc, Func: fn}})
	}
}

func (b *builder) aggregateBoolExp(t *Table) {
	n, label := t.Names, b.label(t)
	td := b.addType(&typeDef{kind: "input", name: n.AggregateBoolExp, info: &TypeInfo{Role: TypeAggregateBoolExp, Table: t}})
	b.ensureComparison(b.scalar("Int", ClassNumeric, "int4"), false)
	cnt := b.addType(&typeDef{kind: "input", name: n.AggregateBoolExp + "_count", info: &TypeInfo{Role: TypeAggregateBoolExpFunc, Table: t, Func: "count"}})
	cnt.field(&fieldDef{name: "arguments", typ: "[" + n.SelectColumn + "!]", ref: &FieldRef{Kind: FieldAggArguments}})
	cnt.field(&fieldDef{name: "distinct", typ: "Boolean", ref: &FieldRef{Kind: FieldAggDistinct}})
	cnt.field(&fieldDef{name: "filter", typ: n.BoolExp, ref: &FieldRef{Kind: FieldWhere}})
	cnt.field(&fieldDef{name: "predicate", typ: "Int_comparison_exp!", ref: &FieldRef{Kind: FieldAggPredicate}})
	td.field(&fieldDef{name: "count", typ: cnt.name, ref: &FieldRef{Kind: FieldAggCount}})

	var bools []*Column
	for _, c := range t.Columns {
		if !c.IsArray && c.Scalar.Class == ClassBoolean {
			bools = append(bools, c)
		}
	}
	if len(bools) == 0 {
		return
	}
	b.ensureComparison(bools[0].Scalar, false)
	for _, fn := range []string{"bool_and", "bool_or"} {
		en := boolAggArgEnum(n, fn)
		e := b.addType(&typeDef{kind: "enum", name: en,
			desc: fmt.Sprintf("select %q columns of table %q", n.AggregateBoolExp+"_"+fn+"_arguments_columns", label),
			info: &TypeInfo{Role: TypeSelectColumn, Table: t, Func: fn}})
		for _, c := range bools {
			e.value(&valueDef{name: c.Name, desc: "column name", val: &EnumValue{Column: c}})
		}
		ft := b.addType(&typeDef{kind: "input", name: n.AggregateBoolExp + "_" + fn, info: &TypeInfo{Role: TypeAggregateBoolExpFunc, Table: t, Func: fn}})
		ft.field(&fieldDef{name: "arguments", typ: en + "!", ref: &FieldRef{Kind: FieldAggArguments}})
		ft.field(&fieldDef{name: "distinct", typ: "Boolean", ref: &FieldRef{Kind: FieldAggDistinct}})
		ft.field(&fieldDef{name: "filter", typ: n.BoolExp, ref: &FieldRef{Kind: FieldWhere}})
		ft.field(&fieldDef{name: "predicate", typ: bools[0].Scalar.Name + "_comparison_exp!", ref: &FieldRef{Kind: FieldAggPredicate}})
		td.field(&fieldDef{name: fn, typ: ft.name, ref: &FieldRef{Kind: FieldAggFunc, Func: fn}})
	}
}

func (b *builder) cursorOrderingEnum() {
	td := b.addType(&typeDef{kind: "enum", name: "cursor_ordering", desc: "ordering argument of a cursor", info: &TypeInfo{Role: TypeCursorOrdering}})
	td.value(&valueDef{name: "ASC", desc: "ascending ordering of the cursor", val: &EnumValue{}})
	td.value(&valueDef{name: "DESC", desc: "descending ordering of the cursor", val: &EnumValue{Desc: true}})
}

// streamTypes generates "<t>_stream" of subscription_root and its cursor inputs.
func (b *builder) streamTypes(t *Table) {
	n, label := t.Names, b.label(t)
	val := b.addType(&typeDef{kind: "input", name: n.StreamCursorValueInput, desc: "Initial value of the column from where the streaming should start",
		info: &TypeInfo{Role: TypeStreamCursorValueInput, Table: t}})
	for _, c := range t.Columns {
		val.field(&fieldDef{name: c.Name, typ: c.InputType, ref: &FieldRef{Kind: FieldColumn, Column: c}})
	}
	cur := b.addType(&typeDef{kind: "input", name: n.StreamCursorInput, desc: fmt.Sprintf("Streaming cursor of the table %q", label),
		info: &TypeInfo{Role: TypeStreamCursorInput, Table: t}})
	cur.field(&fieldDef{name: "initial_value", desc: "Stream column input with initial value", typ: n.StreamCursorValueInput + "!", ref: &FieldRef{Kind: FieldInitialValue}})
	cur.field(&fieldDef{name: "ordering", desc: "cursor ordering", typ: "cursor_ordering", ref: &FieldRef{Kind: FieldOrdering}})
	b.subscription.field(&fieldDef{name: n.Stream, desc: fmt.Sprintf("fetch data from the table in a streaming manner: %q", label), typ: "[" + n.Base + "!]!",
		args: []*argDef{
			{name: "batch_size", desc: "maximum number of rows returned in a single batch", typ: "Int!"},
			{name: "cursor", desc: "cursor to stream the results returned by the query", typ: "[" + n.StreamCursorInput + "]!"},
			{name: "where", desc: "filter the rows returned", typ: n.BoolExp},
		}})
	b.s.stream[n.Stream] = &RootField{Name: n.Stream, Kind: RootSelectStream, Table: t}
}

func (b *builder) rootQueries(t *Table) {
	n, label := t.Names, b.label(t)
	for _, root := range []*typeDef{b.query, b.subscription} {
		root.field(&fieldDef{name: n.Base, desc: fmt.Sprintf("fetch data from the table: %q", label), args: selectArgs(t), typ: "[" + n.Base + "!]!"})
		root.field(&fieldDef{name: n.Aggregate, desc: fmt.Sprintf("fetch aggregated fields from the table: %q", label), args: selectArgs(t), typ: n.AggregateType + "!"})
		if t.PrimaryKey != nil {
			root.field(&fieldDef{name: n.ByPK, desc: fmt.Sprintf("fetch data from the table: %q using primary key columns", label), args: pkArgs(t), typ: n.Base})
		}
	}
	b.s.query[n.Base] = &RootField{Name: n.Base, Kind: RootSelect, Table: t}
	b.s.query[n.Aggregate] = &RootField{Name: n.Aggregate, Kind: RootSelectAggregate, Table: t}
	if t.PrimaryKey != nil {
		b.s.query[n.ByPK] = &RootField{Name: n.ByPK, Kind: RootSelectByPK, Table: t}
	}
}

func (b *builder) rootMutation(t *Table, name string, kind RootKind, f *fieldDef) {
	f.name = name
	if b.mutation.field(f) {
		b.s.mutation[name] = &RootField{Name: name, Kind: kind, Table: t}
	}
}

var jsonbOps = []struct{ arg, suffix, typ, desc string }{
	{"_append", "append", "jsonb", "append existing jsonb value of filtered columns with new jsonb value"},
	{"_delete_at_path", "delete_at_path", "[String!]", "delete the field or element with specified path (for JSON arrays, negative integers count from the end)"},
	{"_delete_elem", "delete_elem", "Int", "delete the array element with specified index (negative integers count from the end). throws an error if top level container is not an array"},
	{"_delete_key", "delete_key", "String", "delete key/value pair or string element. key/value pairs are matched based on their key value"},
	{"_prepend", "prepend", "jsonb", "prepend existing jsonb value of filtered columns with new jsonb value"},
}

func (b *builder) mutations(t *Table) {
	n, label := t.Names, b.label(t)
	if !t.Insertable && !t.Updatable && !t.Deletable {
		return
	}
	resp := b.addType(&typeDef{kind: "type", name: n.MutationResponse, desc: fmt.Sprintf("response of any mutation on the table %q", label),
		info: &TypeInfo{Role: TypeMutationResponse, Table: t}})
	resp.field(&fieldDef{name: "affected_rows", desc: "number of rows affected by the mutation", typ: "Int!", ref: &FieldRef{Kind: FieldAffectedRows}})
	resp.field(&fieldDef{name: "returning", desc: "data from the rows affected by the mutation", typ: "[" + n.Base + "!]!", ref: &FieldRef{Kind: FieldReturning}})

	if t.Insertable {
		b.insertTypes(t)
		objects := &argDef{name: "objects", desc: "the rows to be inserted", typ: "[" + n.InsertInput + "!]!"}
		object := &argDef{name: "object", desc: "the row to be inserted", typ: n.InsertInput + "!"}
		args, argsOne := []*argDef{objects}, []*argDef{object}
		if t.HasOnConflict {
			args = append(args, &argDef{name: "on_conflict", desc: "upsert condition", typ: n.OnConflict})
			argsOne = append(argsOne, &argDef{name: "on_conflict", desc: "upsert condition", typ: n.OnConflict})
		}
		b.rootMutation(t, n.Insert, RootInsert, &fieldDef{desc: fmt.Sprintf("insert data into the table: %q", label), args: args, typ: n.MutationResponse})
		b.rootMutation(t, n.InsertOne, RootInsertOne, &fieldDef{desc: fmt.Sprintf("insert a single row into the table: %q", label), args: argsOne, typ: n.Base})
	}
	if t.Updatable {
		ops := b.updateTypes(t)
		withWhere := append(append([]*argDef(nil), ops...), &argDef{name: "where", desc: "filter the rows which have to be updated", typ: n.BoolExp + "!"})
		b.rootMutation(t, n.Update, RootUpdate, &fieldDef{desc: fmt.Sprintf("update data of the table: %q", label), args: withWhere, typ: n.MutationResponse})
		if t.PrimaryKey != nil {
			pkIn := b.addType(&typeDef{kind: "input", name: n.PKColumnsInput, desc: "primary key columns input for table: " + label,
				info: &TypeInfo{Role: TypePKColumnsInput, Table: t}})
			for _, c := range t.PrimaryKey {
				pkIn.field(&fieldDef{name: c.Name, typ: c.InputType + "!", ref: &FieldRef{Kind: FieldColumn, Column: c}})
			}
			withPK := append(append([]*argDef(nil), ops...), &argDef{name: "pk_columns", typ: n.PKColumnsInput + "!"})
			b.rootMutation(t, n.UpdateByPK, RootUpdateByPK, &fieldDef{desc: fmt.Sprintf("update single row of the table: %q", label), args: withPK, typ: n.Base})
		}
		b.rootMutation(t, n.UpdateMany, RootUpdateMany, &fieldDef{desc: fmt.Sprintf("update multiples rows of table: %q", label),
			args: []*argDef{{name: "updates", desc: "updates to execute, in order", typ: "[" + n.Updates + "!]!"}}, typ: "[" + n.MutationResponse + "]"})
	}
	if t.Deletable {
		b.rootMutation(t, n.Delete, RootDelete, &fieldDef{desc: fmt.Sprintf("delete data from the table: %q", label),
			args: []*argDef{{name: "where", desc: "filter the rows which have to be deleted", typ: n.BoolExp + "!"}}, typ: n.MutationResponse})
		if t.PrimaryKey != nil {
			b.rootMutation(t, n.DeleteByPK, RootDeleteByPK, &fieldDef{desc: fmt.Sprintf("delete single row from the table: %q", label), args: pkArgs(t), typ: n.Base})
		}
	}
}

func (b *builder) insertTypes(t *Table) {
	n, label := t.Names, b.label(t)
	in := b.addType(&typeDef{kind: "input", name: n.InsertInput, desc: fmt.Sprintf("input type for inserting data into table %q", label),
		info: &TypeInfo{Role: TypeInsertInput, Table: t}})
	for _, c := range t.Columns {
		if c.Catalog.Insertable {
			in.field(&fieldDef{name: c.Name, typ: c.InputType, ref: &FieldRef{Kind: FieldColumn, Column: c}})
		}
	}
	for _, r := range t.Relationships {
		if !r.Remote.Insertable {
			continue
		}
		if r.Catalog.Kind == catalog.ArrayRel {
			in.field(&fieldDef{name: r.Name, typ: r.Remote.Names.ArrRelInsertInput, ref: &FieldRef{Kind: FieldArrayRel, Rel: r}})
			b.relInsertInput(r.Remote, true)
		} else {
			in.field(&fieldDef{name: r.Name, typ: r.Remote.Names.ObjRelInsertInput, ref: &FieldRef{Kind: FieldObjectRel, Rel: r}})
			b.relInsertInput(r.Remote, false)
		}
	}
	if t.HasOnConflict {
		oc := b.addType(&typeDef{kind: "input", name: n.OnConflict, desc: fmt.Sprintf("on_conflict condition type for table %q", label),
			info: &TypeInfo{Role: TypeOnConflict, Table: t}})
		oc.field(&fieldDef{name: "constraint", typ: n.Constraint + "!", ref: &FieldRef{Kind: FieldConstraint}})
		oc.field(&fieldDef{name: "update_columns", typ: "[" + n.UpdateColumn + "!]!", def: "[]", ref: &FieldRef{Kind: FieldUpdateColumns}})
		oc.field(&fieldDef{name: "where", typ: n.BoolExp, ref: &FieldRef{Kind: FieldWhere}})
		b.updateColumnEnum(t)
		ce := b.addType(&typeDef{kind: "enum", name: n.Constraint, desc: fmt.Sprintf("unique or primary key constraints on table %q", label),
			info: &TypeInfo{Role: TypeConstraint, Table: t}})
		for _, k := range t.Constraints {
			ce.value(&valueDef{name: k.Name, desc: "unique or primary key constraint on columns " + quoteList(k.Columns), val: &EnumValue{Constraint: k}})
		}
	}
}

func quoteList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = fmt.Sprintf("%q", c)
	}
	return strings.Join(q, ", ")
}

func (b *builder) relInsertInput(r *Table, array bool) {
	n, label := r.Names, b.label(r)
	name, role, data, what := n.ObjRelInsertInput, TypeObjRelInsertInput, n.InsertInput+"!", "object"
	if array {
		name, role, data, what = n.ArrRelInsertInput, TypeArrRelInsertInput, "["+n.InsertInput+"!]!", "array"
	}
	if b.types[name] != nil {
		return
	}
	td := b.addType(&typeDef{kind: "input", name: name, desc: fmt.Sprintf("input type for inserting %s relation for remote table %q", what, label),
		info: &TypeInfo{Role: role, Table: r}})
	td.field(&fieldDef{name: "data", typ: data, ref: &FieldRef{Kind: FieldInsertData}})
	if r.HasOnConflict {
		td.field(&fieldDef{name: "on_conflict", desc: "upsert condition", typ: n.OnConflict, ref: &FieldRef{Kind: FieldOnConflict}})
	}
}

func (b *builder) updateColumnEnum(t *Table) {
	n := t.Names
	if b.types[n.UpdateColumn] != nil {
		return
	}
	e := b.addType(&typeDef{kind: "enum", name: n.UpdateColumn, desc: fmt.Sprintf("update columns of table %q", b.label(t)),
		info: &TypeInfo{Role: TypeUpdateColumn, Table: t}})
	for _, c := range t.Columns {
		if c.Catalog.Updatable {
			e.value(&valueDef{name: c.Name, desc: "column name", val: &EnumValue{Column: c}})
		}
	}
}

// updateTypes generates the _set/_inc/jsonb inputs and t_updates; it returns the
// operator arguments shared by update_t, update_t_by_pk and t_updates.
func (b *builder) updateTypes(t *Table) []*argDef {
	n, label := t.Names, b.label(t)
	b.updateColumnEnum(t)
	set := b.addType(&typeDef{kind: "input", name: n.SetInput, desc: fmt.Sprintf("input type for updating data in table %q", label),
		info: &TypeInfo{Role: TypeSetInput, Table: t}})
	inc := &typeDef{kind: "input", name: n.IncInput, desc: fmt.Sprintf("input type for incrementing numeric columns in table %q", label),
		info: &TypeInfo{Role: TypeIncInput, Table: t}}
	var jsonbCols []*Column
	for _, c := range t.Columns {
		if !c.Catalog.Updatable {
			continue
		}
		set.field(&fieldDef{name: c.Name, typ: c.InputType, ref: &FieldRef{Kind: FieldColumn, Column: c}})
		if c.Numeric {
			inc.field(&fieldDef{name: c.Name, typ: c.InputType, ref: &FieldRef{Kind: FieldColumn, Column: c}})
		}
		if !c.IsArray && c.Scalar.Class == ClassJSONB {
			jsonbCols = append(jsonbCols, c)
		}
	}
	ops := []*argDef{{name: "_set", desc: "sets the columns of the filtered rows to the given values", typ: n.SetInput}}
	if !inc.empty() {
		b.addType(inc)
		ops = append(ops, &argDef{name: "_inc", desc: "increments the numeric columns with given value of the filtered values", typ: n.IncInput})
	}
	if len(jsonbCols) > 0 {
		for _, op := range jsonbOps {
			name := n.Base + "_" + op.suffix + "_input"
			td := b.addType(&typeDef{kind: "input", name: name, desc: op.desc, info: &TypeInfo{Role: TypeJSONBOpInput, Table: t, Func: op.arg}})
			for _, c := range jsonbCols {
				td.field(&fieldDef{name: c.Name, typ: op.typ, ref: &FieldRef{Kind: FieldColumn, Column: c, Op: op.arg}})
			}
			ops = append(ops, &argDef{name: op.arg, desc: op.desc, typ: name})
		}
	}
	up := b.addType(&typeDef{kind: "input", name: n.Updates, info: &TypeInfo{Role: TypeUpdates, Table: t}})
	for _, a := range ops {
		up.field(&fieldDef{name: a.name, desc: a.desc, typ: a.typ, ref: &FieldRef{Kind: FieldUpdateOp, Op: a.name}})
	}
	up.field(&fieldDef{name: "where", desc: "filter the rows which have to be updated", typ: n.BoolExp + "!", ref: &FieldRef{Kind: FieldWhere}})
	return ops
}
