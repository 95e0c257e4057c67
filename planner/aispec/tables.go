package aispec

import (
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/gqlschema"
)

func (w *writer) tables() {
	if len(w.cat.Tables) == 0 {
		return
	}
	w.p("## Tables and views")
	w.p("")
	tables := w.tableOrder()
	if w.compact {
		w.p("%d relations: sections are short. The examples of the first one show the pattern for all.", len(tables))
		w.p("")
		w.examples(tables[0])
	}
	for _, t := range tables {
		if w.compact {
			w.compactTable(t)
		} else {
			w.table(t)
		}
	}
}

// tableOrder lists the default schema's relations first, then the other exposed schemas'
// in configured order; catalog order within a schema.
func (w *writer) tableOrder() []*catalog.Table {
	out := make([]*catalog.Table, 0, len(w.cat.Tables))
	seen := map[string]bool{}
	for _, sc := range w.cat.Schemas {
		if seen[sc] {
			continue
		}
		seen[sc] = true
		for _, t := range w.cat.Tables {
			if t.Schema == sc {
				out = append(out, t)
			}
		}
	}
	return out
}

func kind(t *catalog.Table) string {
	switch t.Kind {
	case catalog.KindView:
		return "view"
	case catalog.KindMaterializedView:
		return "materialized view, read-only"
	case catalog.KindForeignTable:
		return "foreign table"
	}
	return "table"
}

// restPath is the REST path of t; tables outside the default schema need a profile header.
func (w *writer) restPath(t *catalog.Table) string { return "/" + t.Name }

func (w *writer) title(t *catalog.Table) string {
	name := t.Name
	if t.Schema != w.defaultSchema() {
		name = t.Schema + "." + t.Name
	}
	return "### `" + name + "` (" + kind(t) + ")"
}

func (w *writer) table(t *catalog.Table) {
	w.p("%s", w.title(t))
	w.p("")
	if t.Comment != "" {
		w.p("%s", strings.TrimSpace(t.Comment))
		w.p("")
	}
	w.p("%s", w.apiNames(t))
	w.p("")
	w.p("| column | type | flags | comment |")
	w.p("|---|---|---|---|")
	for _, c := range t.Columns {
		w.p("| `%s` | %s | %s | %s |", cell(c.Name), cell(w.columnType(c)), cell(strings.Join(w.flags(t, c), ", ")), cell(c.Comment))
	}
	w.p("")
	if multi := multiUniques(t); multi != "" {
		w.p("Unique together: %s.", multi)
		w.p("")
	}
	if rels := w.relationships(t); len(rels) > 0 {
		w.p("Relationships:")
		w.p("")
		for _, r := range rels {
			w.p("- %s", r)
		}
		w.p("")
	}
	w.examples(t)
}

func (w *writer) compactTable(t *catalog.Table) {
	w.p("%s", w.title(t))
	if c := firstLine(t.Comment); c != "" {
		w.p("%s", c)
	}
	var cols []string
	for _, c := range t.Columns {
		s := "`" + c.Name + "` " + w.columnType(c)
		if f := w.flags(t, c); len(f) > 0 {
			s += " " + strings.Join(f, " ")
		}
		cols = append(cols, s)
	}
	w.p("- columns: %s", strings.Join(cols, "; "))
	if multi := multiUniques(t); multi != "" {
		w.p("- unique together: %s", multi)
	}
	if rels := w.relationships(t); len(rels) > 0 {
		w.p("- relationships: %s", strings.Join(rels, "; "))
	}
	w.p("- %s", w.shortAPINames(t))
	w.p("")
}

// shortAPINames names the list root field and says which of the others exist.
func (w *writer) shortAPINames(t *catalog.Table) string {
	rest := "REST `" + w.restPath(t) + "`"
	if t.Schema != w.defaultSchema() {
		rest += " (profile `" + t.Schema + "`)"
	}
	gt := w.gql.Table(t)
	if gt == nil {
		return "not in GraphQL; " + rest
	}
	n := gt.Names
	var has []string
	for _, f := range []struct{ name, label string }{{n.ByPK, "_by_pk"}, {n.Aggregate, "_aggregate"}} {
		if w.gql.QueryField(f.name) != nil {
			has = append(has, f.label)
		}
	}
	for _, f := range []struct{ name, label string }{{n.Insert, "insert"}, {n.Update, "update"}, {n.Delete, "delete"}} {
		if w.gql.MutationField(f.name) != nil {
			has = append(has, f.label)
		}
	}
	s := "GraphQL `" + n.Base + "`"
	if len(has) > 0 {
		s += " (" + strings.Join(has, ", ") + ")"
	}
	return s + "; " + rest
}

// columnType is the column's type with "?" when nullable and "= default".
func (w *writer) columnType(c *catalog.Column) string {
	s := w.typeName(c.Type)
	if c.Nullable {
		s += "?"
	}
	switch {
	case c.IsGenerated:
		s += " = generated (" + c.GenerationExpr + ")"
	case c.IsIdentity && c.IdentityKind == "a":
		s += " = identity (always, read-only)"
	case c.IsIdentity:
		s += " = identity"
	case c.Default != "":
		s += " = " + w.typeName(c.Default)
	}
	return s
}

func (w *writer) flags(t *catalog.Table, c *catalog.Column) []string {
	var out []string
	for _, pk := range t.PrimaryKey {
		if pk == c.Name {
			out = append(out, "PK")
		}
	}
	for _, u := range t.Uniques {
		if len(u.Columns) == 1 && u.Columns[0] == c.Name {
			out = append(out, "UQ")
		}
	}
	for _, fk := range t.ForeignKeys {
		for i, col := range fk.Columns {
			if col == c.Name {
				out = append(out, "FK→"+w.qualified(fk.RefSchema, fk.RefTable)+"."+fk.RefColumns[i])
			}
		}
	}
	return out
}

func (w *writer) qualified(schema, name string) string {
	if schema == w.defaultSchema() {
		return name
	}
	return schema + "." + name
}

func multiUniques(t *catalog.Table) string {
	var out []string
	for _, u := range t.Uniques {
		if len(u.Columns) > 1 {
			out = append(out, "("+strings.Join(u.Columns, ", ")+")")
		}
	}
	return strings.Join(out, ", ")
}

// apiNames lists the GraphQL root fields the table has and its REST path.
func (w *writer) apiNames(t *catalog.Table) string {
	rest := "REST `" + w.restPath(t) + "`"
	if t.Schema != w.defaultSchema() {
		rest += " (profile `" + t.Schema + "`)"
	}
	gt := w.gql.Table(t)
	if gt == nil {
		return "Not in GraphQL (its name is not a valid GraphQL name or clashes). " + rest + "."
	}
	n := gt.Names
	var q, m []string
	for _, f := range []string{n.Base, n.ByPK, n.Aggregate} {
		if w.gql.QueryField(f) != nil {
			q = append(q, "`"+f+"`")
		}
	}
	for _, f := range []string{n.Insert, n.InsertOne, n.Update, n.UpdateByPK, n.Delete, n.DeleteByPK} {
		if w.gql.MutationField(f) != nil {
			m = append(m, "`"+f+"`")
		}
	}
	s := "GraphQL " + strings.Join(q, ", ")
	if len(m) > 0 {
		s += "; mutations " + strings.Join(m, ", ")
	}
	return s + ". " + rest + "."
}

// embedName is how REST's select embeds the relationship: the related table's name, with
// the constraint as a hint when this table has several relationships to that table.
func embedName(t *catalog.Table, r *catalog.Relationship) string {
	n := 0
	for _, o := range t.Relationships {
		if o.RemoteSchema == r.RemoteSchema && o.RemoteTable == r.RemoteTable {
			n++
		}
	}
	if n > 1 {
		return r.RemoteTable + "!" + r.Constraint
	}
	return r.RemoteTable
}

func (w *writer) relationships(t *catalog.Table) []string {
	gt := w.gql.Table(t)
	var out []string
	for _, r := range t.Relationships {
		card := "one"
		if r.Kind == catalog.ArrayRel {
			card = "many"
		}
		gqlName := "not in GraphQL"
		if gt != nil && gt.Relationship(r.Name) != nil {
			gqlName = "`" + r.Name + "`"
			if gr := gt.Relationship(r.Name); gr.AggregateName != "" {
				gqlName += " (+ `" + gr.AggregateName + "`)"
			}
		}
		on := make([]string, len(r.Columns))
		for i := range r.Columns {
			on[i] = r.Columns[i] + " = " + r.RemoteTable + "." + r.RemoteColumns[i]
		}
		out = append(out, gqlName+" → "+card+" `"+w.qualified(r.RemoteSchema, r.RemoteTable)+"` on "+strings.Join(on, ", ")+
			"; REST embed `"+embedName(t, r)+"(…)`")
	}
	return out
}

// examples writes a GraphQL query and REST calls for t.
func (w *writer) examples(t *catalog.Table) {
	gt := w.gql.Table(t)
	cols := exampleColumns(t)
	filter := filterColumn(t)
	orderCol := orderColumn(t)
	if gt != nil && len(gt.Columns) > 0 {
		w.p("```graphql")
		w.p("query {")
		var args []string
		if filter != nil && gt.Column(filter.Name) != nil {
			args = append(args, "where: {"+filter.Name+": {_eq: "+sample(w.cat, filter).gql+"}}")
		}
		if orderCol != nil && gt.Column(orderCol.Name) != nil {
			args = append(args, "order_by: {"+orderCol.Name+": desc}")
		}
		args = append(args, "limit: 10")
		w.p("  %s(%s) {", gt.Names.Base, strings.Join(args, ", "))
		for _, c := range cols {
			if gt.Column(c.Name) != nil {
				w.p("    %s", c.Name)
			}
		}
		if r := nestedRel(gt); r != nil {
			var sub []string
			for _, c := range r.Remote.Columns {
				if len(sub) == 3 {
					break
				}
				sub = append(sub, c.Name)
			}
			lim := ""
			if r.Catalog.Kind == catalog.ArrayRel {
				lim = "(limit: 5)"
			}
			w.p("    %s%s { %s }", r.Name, lim, strings.Join(sub, " "))
		}
		w.p("  }")
		if w.gql.QueryField(gt.Names.ByPK) != nil {
			var pk []string
			for _, c := range gt.PrimaryKey {
				pk = append(pk, c.Name+": "+sample(w.cat, c.Catalog).gql)
			}
			var sel []string
			for _, c := range cols {
				if gt.Column(c.Name) != nil && len(sel) < 4 {
					sel = append(sel, c.Name)
				}
			}
			w.p("  %s(%s) { %s }", gt.Names.ByPK, strings.Join(pk, ", "), strings.Join(sel, " "))
		}
		w.p("}")
		w.p("```")
		w.p("")
	}

	auth := w.authHeader()
	readProfile, writeProfile := "", ""
	if t.Schema != w.defaultSchema() {
		readProfile = ` -H "Accept-Profile: ` + t.Schema + `"`
		writeProfile = ` -H "Content-Profile: ` + t.Schema + `"`
	}
	var sel []string
	for _, c := range cols {
		sel = append(sel, urlPart(c.Name))
	}
	if r := nestedCatalogRel(t); r != nil {
		var sub []string
		if remote := w.cat.Table(r.RemoteSchema, r.RemoteTable); remote != nil {
			for _, c := range remote.Columns {
				if len(sub) == 3 {
					break
				}
				sub = append(sub, urlPart(c.Name))
			}
		}
		sel = append(sel, urlPart(embedName(t, r))+"("+strings.Join(sub, ",")+")")
	}
	q := []string{"select=" + strings.Join(sel, ",")}
	if filter != nil {
		q = append(q, urlPart(filter.Name)+"=eq."+urlPart(sample(w.cat, filter).rest))
	}
	if orderCol != nil {
		q = append(q, "order="+urlPart(orderCol.Name)+".desc")
	}
	q = append(q, "limit=10")
	w.p("```sh")
	w.p(`curl "$REST%s?%s"%s%s`, pathPart(t.Name), strings.Join(q, "&"), auth, readProfile)
	if t.Insertable {
		w.p(`curl -X POST "$REST%s"%s%s -H "Content-Type: application/json" -H "Prefer: return=representation" -d '%s'`,
			pathPart(t.Name), auth, writeProfile, insertBody(w.cat, t))
	}
	w.p("```")
	w.p("")
}

// exampleColumns are the first six columns.
func exampleColumns(t *catalog.Table) []*catalog.Column {
	if len(t.Columns) > 6 {
		return t.Columns[:6]
	}
	return t.Columns
}

func plainScalar(c *catalog.Column) bool {
	if c.IsArray || c.TypeName == "json" || c.TypeName == "jsonb" {
		return false
	}
	switch c.Category {
	case "N", "S", "D", "B", "E":
		return true
	}
	return c.TypeName == "uuid" || c.IsEnum
}

// filterColumn: a single-column FK, else the first text or enum column that is not a
// key, else the first plain non-key column, else the key.
func filterColumn(t *catalog.Table) *catalog.Column {
	for _, fk := range t.ForeignKeys {
		if len(fk.Columns) == 1 {
			if c := t.Column(fk.Columns[0]); c != nil && plainScalar(c) {
				return c
			}
		}
	}
	for _, c := range t.Columns {
		if plainScalar(c) && !isPK(t, c.Name) && (c.Category == "S" || c.IsEnum) {
			return c
		}
	}
	for _, c := range t.Columns {
		if plainScalar(c) && !isPK(t, c.Name) {
			return c
		}
	}
	for _, c := range t.Columns {
		if plainScalar(c) {
			return c
		}
	}
	return nil
}

func orderColumn(t *catalog.Table) *catalog.Column {
	if len(t.PrimaryKey) > 0 {
		return t.Column(t.PrimaryKey[0])
	}
	for _, c := range t.Columns {
		if plainScalar(c) && c.Category != "B" {
			return c
		}
	}
	return nil
}

func isPK(t *catalog.Table, name string) bool {
	for _, pk := range t.PrimaryKey {
		if pk == name {
			return true
		}
	}
	return false
}

// nestedRel is the relationship shown in the GraphQL example: the first object
// relationship, else the first array relationship.
func nestedRel(gt *gqlschema.Table) *gqlschema.Relationship {
	for _, r := range gt.Relationships {
		if r.Catalog.Kind == catalog.ObjectRel && len(r.Remote.Columns) > 0 {
			return r
		}
	}
	for _, r := range gt.Relationships {
		if len(r.Remote.Columns) > 0 {
			return r
		}
	}
	return nil
}

func nestedCatalogRel(t *catalog.Table) *catalog.Relationship {
	for _, r := range t.Relationships {
		if r.Kind == catalog.ObjectRel {
			return r
		}
	}
	if len(t.Relationships) > 0 {
		return t.Relationships[0]
	}
	return nil
}

// insertBody is a JSON object with the columns an insert must set (or the first
// writable one when none must be set).
func insertBody(cat *catalog.Schema, t *catalog.Table) string {
	var fields []string
	for _, c := range t.Columns {
		if c.Insertable && !c.Nullable && !c.HasDefault && !c.IsGenerated {
			fields = append(fields, jsonString(c.Name)+": "+insertSample(cat, t, c))
		}
	}
	if len(fields) == 0 {
		for _, c := range t.Columns {
			if c.Insertable && !c.IsGenerated && !c.IsIdentity {
				fields = append(fields, jsonString(c.Name)+": "+insertSample(cat, t, c))
				break
			}
		}
	}
	return strings.ReplaceAll(shellQuote("{"+strings.Join(fields, ", ")+"}"), uniqueMark, `'"$UNIQUE"'`)
}

// uniqueMark stands for the shell's $UNIQUE in an insert body until it is quoted.
const uniqueMark = "\x00UNIQUE\x00"

// insertSample is sample, except that a key the row must not share with existing rows
// (primary key or single-column unique) takes the fresh $UNIQUE: the example can run
// twice on a table that already holds rows.
func insertSample(cat *catalog.Schema, t *catalog.Table, c *catalog.Column) string {
	v := sample(cat, c)
	if !isPK(t, c.Name) && !isUnique(t, c.Name) || c.IsArray || c.IsEnum {
		return v.json
	}
	switch {
	case c.Category == "N" && !strings.Contains(v.json, "."):
		return uniqueMark
	case c.Category == "S" && (typeLength(c.Type) == 0 || typeLength(c.Type) >= len("example-")+10):
		return `"example-` + uniqueMark + `"`
	}
	return v.json
}

func isUnique(t *catalog.Table, name string) bool {
	for _, u := range t.Uniques {
		if len(u.Columns) == 1 && u.Columns[0] == name {
			return true
		}
	}
	return false
}
