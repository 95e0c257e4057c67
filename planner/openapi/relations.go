package openapi

import (
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// relations describes every table and view of the described schema.
func (g *generator) relations() {
	var tables []*catalog.Table
	for _, t := range g.cat.Tables {
		if t.Schema == g.schema {
			tables = append(tables, t)
			g.tableKeys[t] = g.schemaKeys.claim(t.Name)
		}
	}
	for _, t := range tables {
		g.relation(t)
	}
}

func summaryAndRest(comment string) (string, string) {
	comment = strings.TrimSpace(comment)
	first, rest, _ := strings.Cut(comment, "\n")
	return strings.TrimSpace(first), strings.TrimSpace(rest)
}

func kindWord(t *catalog.Table) string {
	switch t.Kind {
	case catalog.KindView:
		return "view"
	case catalog.KindMaterializedView:
		return "materialized view"
	case catalog.KindForeignTable:
		return "foreign table"
	}
	return "table"
}

func (g *generator) relation(t *catalog.Table) {
	key := g.tableKeys[t]
	rowRef := ref("schemas", key)
	g.schemas[key] = g.rowSchema(t)

	tag := obj{"name": t.Name}
	if t.Comment != "" {
		tag["description"] = t.Comment
	}
	g.tags = append(g.tags, tag)

	// Column filters, as shared parameters referenced by every filtering operation.
	var filters []any
	for _, c := range t.Columns {
		if reservedParams[c.Name] {
			continue
		}
		pk := g.paramKeys.claim("rowFilter." + key + "." + c.Name)
		ct := columnType(c)
		ex := exampleFilter(ct)
		g.params[pk] = obj{
			"name": c.Name, "in": "query", "required": false,
			"description": "Filter on `" + c.Name + "` (" + c.Type + "): `" + c.Name + "=<operator>.<value>`, e.g. `" + c.Name + "=" + ex +
				"`; prefix the operator with `not.` to negate. Operators: " + operators(ct) + ".",
			"schema":  obj{"type": "string"},
			"example": ex,
		}
		filters = append(filters, ref("parameters", pk))
	}
	readProfile, writeProfile := []any{}, []any{}
	if g.multiSchema {
		readProfile = []any{ref("parameters", "acceptProfile")}
		writeProfile = []any{ref("parameters", "contentProfile")}
	}
	params := func(groups ...[]any) []any {
		var out []any
		for _, grp := range groups {
			out = append(out, grp...)
		}
		return out
	}
	shared := func(names ...string) []any {
		out := make([]any, len(names))
		for i, n := range names {
			out[i] = ref("parameters", n)
		}
		return out
	}
	errs := func(codes ...string) obj {
		r := obj{}
		names := map[string]string{"300": "MultipleChoices", "400": "BadRequest", "401": "Unauthorized", "403": "Forbidden",
			"404": "NotFound", "406": "NotAcceptable", "409": "Conflict", "416": "RangeNotSatisfiable"}
		for _, c := range codes {
			r[c] = ref("responses", names[c])
		}
		r["default"] = ref("responses", "ServerError")
		return r
	}
	// One response per relation carries its rows in every representation; every
	// operation that returns rows refers to it.
	rowsKey := "rows." + key
	g.responses[rowsKey] = obj{
		"description": "Rows of `" + t.Name + "`. `Accept: application/vnd.pgrst.object+json` asks for exactly one row as an object (406 otherwise); `text/csv` for CSV. Writes return rows only with `Prefer: return=representation`.",
		"headers":     obj{"Content-Range": ref("headers", "Content-Range"), "Preference-Applied": ref("headers", "Preference-Applied")},
		"content": obj{
			"application/json":                  obj{"schema": obj{"type": "array", "items": rowRef}},
			"application/vnd.pgrst.object+json": obj{"schema": rowRef},
			"text/csv":                          obj{"schema": obj{"type": "string"}},
		},
	}
	rows := ref("responses", rowsKey)
	createdKey := "created." + key
	if t.Insertable {
		created := obj{}
		for k, v := range g.responses[rowsKey].(obj) {
			created[k] = v
		}
		created["description"] = "Created. The body is empty unless `Prefer: return=representation` asked for the rows; `return=headers-only` sends `Location`."
		created["headers"] = obj{"Content-Range": ref("headers", "Content-Range"), "Location": ref("headers", "Location"), "Preference-Applied": ref("headers", "Preference-Applied")}
		g.responses[createdKey] = created
	}
	with := func(r obj, extra obj) obj {
		for k, v := range extra {
			r[k] = v
		}
		return r
	}

	summary, rest := summaryAndRest(t.Comment)
	item := obj{}
	if summary != "" {
		item["summary"] = summary
	}
	if rest != "" {
		item["description"] = rest
	}
	kind := kindWord(t)
	op := func(verb string) obj {
		return obj{"operationId": g.opIDs.claim(verb + "_" + key), "tags": []string{t.Name}}
	}

	get := op("get")
	get["summary"] = "Read rows of the " + kind + " `" + t.Name + "`"
	get["parameters"] = params(shared("select", "order", "limit", "offset", "or", "and", "range", "rangeUnit", "preferRead"), readProfile, filters)
	get["responses"] = with(errs("300", "400", "401", "403", "404", "406", "416"), obj{
		"200": rows,
		"206": rows,
	})
	item["get"] = get

	head := op("head")
	head["summary"] = "Count rows of the " + kind + " `" + t.Name + "` without reading them"
	head["parameters"] = params(shared("limit", "offset", "or", "and", "range", "rangeUnit", "preferRead"), readProfile, filters)
	head["responses"] = with(errs("400", "401", "403", "404", "416"), obj{
		"200": obj{"description": "Headers only.", "headers": obj{"Content-Range": ref("headers", "Content-Range")}},
		"206": obj{"description": "Headers only, partial range.", "headers": obj{"Content-Range": ref("headers", "Content-Range")}},
	})
	item["head"] = head

	written := obj{"200": rows, "204": ref("responses", "NoContent")}
	if t.Insertable {
		post := op("insert")
		post["summary"] = "Insert rows into `" + t.Name + "` (one object or an array; upsert with `Prefer: resolution=…`)"
		post["parameters"] = params(shared("select", "columns", "on_conflict", "preferInsert"), writeProfile)
		post["requestBody"] = obj{"required": true, "content": obj{
			"application/json": obj{"schema": obj{"oneOf": []any{rowRef, obj{"type": "array", "items": rowRef}}}},
			"text/csv":         obj{"schema": obj{"type": "string"}},
		}}
		post["responses"] = with(errs("400", "401", "403", "404", "409"), obj{
			"201": ref("responses", createdKey),
		})
		item["post"] = post
	}
	if t.Updatable {
		patch := op("update")
		patch["summary"] = "Update the rows of `" + t.Name + "` that match the filters"
		patch["parameters"] = params(shared("select", "order", "limit", "or", "and", "preferWrite"), writeProfile, filters)
		patch["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": g.patchSchema(t)}}}
		patch["responses"] = with(errs("400", "401", "403", "404", "409"), written)
		item["patch"] = patch
	}
	if t.Insertable && t.Updatable && len(t.PrimaryKey) > 0 {
		put := op("upsert")
		put["summary"] = "Insert or replace one row of `" + t.Name + "`, identified by `eq` filters on every primary key column (" + strings.Join(t.PrimaryKey, ", ") + ")"
		put["parameters"] = params(shared("select", "preferWrite"), writeProfile, filters)
		put["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": rowRef}}}
		put["responses"] = with(errs("400", "401", "403", "404", "409"), written)
		item["put"] = put
	}
	if t.Deletable {
		del := op("delete")
		del["summary"] = "Delete the rows of `" + t.Name + "` that match the filters"
		del["parameters"] = params(shared("select", "order", "limit", "or", "and", "preferWrite"), writeProfile, filters)
		del["responses"] = with(errs("400", "401", "403", "404", "409"), written)
		item["delete"] = del
	}
	g.paths[pathFor("/", t.Name)] = item
}

// rowSchema is the JSON Schema of a row of t; it also types insert and upsert bodies
// (readOnly columns are not sent, required ones must be).
func (g *generator) rowSchema(t *catalog.Table) obj {
	props := obj{}
	var required []string
	for _, c := range t.Columns {
		props[c.Name] = g.columnSchema(t, c)
		if !c.Nullable && !c.HasDefault && !c.IsGenerated && c.Insertable {
			required = append(required, c.Name)
		}
	}
	s := obj{"type": "object", "properties": props}
	if t.Comment != "" {
		s["description"] = t.Comment
	}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// patchSchema types a PATCH body: any subset of the updatable columns.
func (g *generator) patchSchema(t *catalog.Table) obj {
	props := obj{}
	for _, c := range t.Columns {
		if c.Updatable {
			props[c.Name] = g.columnSchema(t, c)
		}
	}
	return obj{"type": "object", "properties": props, "description": "New values for some columns of `" + t.Name + "`."}
}

func (g *generator) columnSchema(t *catalog.Table, c *catalog.Column) obj {
	s := valueSchema(g.cat, columnType(c), c.Nullable)
	s["x-pg-type"] = c.Type
	var notes []string
	if c.Comment != "" {
		notes = append(notes, c.Comment)
	}
	for _, pk := range t.PrimaryKey {
		if pk == c.Name {
			notes = append(notes, "Note: This is a Primary Key.<pk/>")
		}
	}
	for _, fk := range t.ForeignKeys {
		for i, col := range fk.Columns {
			if col != c.Name {
				continue
			}
			target := fk.RefTable
			if fk.RefSchema != t.Schema {
				target = fk.RefSchema + "." + fk.RefTable
			}
			notes = append(notes, "Note: This is a Foreign Key to `"+target+"."+fk.RefColumns[i]+"`.<fk table='"+target+"' column='"+fk.RefColumns[i]+"'/>")
		}
	}
	switch {
	case c.IsGenerated:
		s["readOnly"] = true
		notes = append(notes, "Generated: `"+c.GenerationExpr+"`.")
	case c.IsIdentity && c.IdentityKind == "a":
		s["readOnly"] = true
		notes = append(notes, "Generated always as identity.")
	case c.IsIdentity:
		notes = append(notes, "Generated by default as identity.")
	case !c.Insertable && !c.Updatable:
		s["readOnly"] = true
	}
	if c.Default != "" {
		if v, ok := defaultValue(c, s); ok {
			s["default"] = v
		} else {
			notes = append(notes, "Default: `"+c.Default+"`.")
		}
	}
	if len(notes) > 0 {
		s["description"] = strings.Join(notes, "\n\n")
	}
	return s
}

// exampleFilter is a plausible filter value for a column type.
func exampleFilter(t pgType) string {
	if t.isArray {
		elem := strings.TrimPrefix(exampleFilter(pgType{name: t.name, category: t.category}), "eq.")
		if strings.Contains(elem, ".") {
			elem = "1"
		}
		return "cs.{" + elem + "}"
	}
	switch t.category {
	case "N":
		return "eq.1"
	case "B":
		return "is.true"
	case "S":
		return "eq.text"
	case "D":
		return "gte.2024-01-01"
	}
	switch t.name {
	case "uuid":
		return "eq.00000000-0000-0000-0000-000000000000"
	case "jsonb":
		return "cs.{}"
	}
	return "not.is.null"
}
