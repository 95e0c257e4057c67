package openapi

import "strings"

// Reserved query parameters: a column of the same name cannot be filtered on.
var reservedParams = map[string]bool{
	"select": true, "order": true, "limit": true, "offset": true,
	"columns": true, "on_conflict": true, "or": true, "and": true,
}

// shared declares the parameters, headers and responses every relation refers to.
func (g *generator) shared() {
	g.errorComponents()
	g.multiSchema = len(g.cat.Schemas) > 1
	q := func(name, desc string, schema obj, examples ...string) obj {
		p := obj{"name": name, "in": "query", "required": false, "description": desc, "schema": schema}
		if len(examples) > 0 {
			p["examples"] = examplesObj(examples)
		}
		return p
	}
	h := func(desc string, schema obj, name string) obj {
		return obj{"name": name, "in": "header", "required": false, "description": desc, "schema": schema}
	}
	str := func() obj { return obj{"type": "string"} }

	g.params["select"] = q("select",
		"Columns to return, comma-separated: `*`, `col`, `alias:col`, `col::type`, JSON paths `data->a->>b`, "+
			"embedded resources through foreign keys `rel(col,...)` with `rel!fk_or_column` hints and `rel!inner` joins, "+
			"spreads `...rel(col)`, empty embeds `rel!inner()` that filter the rows and are left out of them "+
			"(with `rel=not.is.null` / `rel=is.null`, also inside `or=`: parents with / without matching rows).", str(), "*", "id,name", "id,orders(id,total)")
	g.params["order"] = q("order",
		"Sort order: `col.asc`, `col.desc`, with `.nullsfirst` / `.nullslast`, comma-separated; "+
			"`rel(col).desc` sorts by a to-one embedded column.", str(), "id.desc", "created_at.desc.nullslast,id")
	g.params["limit"] = q("limit", "Return at most this many rows.", obj{"type": "integer", "minimum": 0})
	g.params["offset"] = q("offset", "Skip this many rows.", obj{"type": "integer", "minimum": 0})
	g.params["or"] = q("or",
		"Rows matching any of the conditions: `or=(col.op.value,col.op.value)`; nests with `and(...)` / `or(...)` and `not.`.",
		str(), "(status.eq.paid,total.gt.100)")
	g.params["and"] = q("and",
		"Rows matching all of the conditions: `and=(col.op.value,or(col.op.value,col.op.value))`.",
		str(), "(total.gte.10,total.lt.100)")
	g.params["columns"] = q("columns",
		"Comma-separated columns to take from the body; other keys are ignored and absent ones get their default (or NULL).",
		str(), "name,email")
	g.params["on_conflict"] = q("on_conflict",
		"Comma-separated columns of a unique constraint for an upsert (with `Prefer: resolution=…`); the primary key by default.",
		str(), "email")
	g.params["range"] = h("Rows to return, zero-based and inclusive, e.g. `0-24`; with `limit`/`offset`, the rows in both (none in common: 416); the response carries `Content-Range`.",
		obj{"type": "string", "pattern": "^[0-9]+-[0-9]*$"}, "Range")
	g.params["rangeUnit"] = h("Unit of `Range`; only `items` is supported.", obj{"type": "string", "default": "items"}, "Range-Unit")
	g.params["preferRead"] = h("Comma-separated preferences: `count=exact|planned|estimated` (the total row count in `Content-Range`), "+
		"`timezone=<IANA zone>` (timestamps rendered, and zone-less literals read, in that zone; an unknown zone is a 400).",
		obj{"type": "string", "examples": []string{"count=exact", "count=planned", "timezone=America/New_York", "count=exact,timezone=Europe/Paris"}}, "Prefer")
	g.params["preferInsert"] = h("Comma-separated preferences: `return=minimal|headers-only|representation`, "+
		"`resolution=merge-duplicates|ignore-duplicates` (upsert on the primary key or `on_conflict`), "+
		"`missing=default` (absent columns take their default), `count=exact`, `timezone=<IANA zone>`.",
		obj{"type": "string", "examples": []string{"return=representation", "return=minimal", "resolution=merge-duplicates,return=representation", "missing=default,return=headers-only"}}, "Prefer")
	g.params["preferWrite"] = h("Comma-separated preferences: `return=minimal|headers-only|representation`, `count=exact`, `timezone=<IANA zone>`, "+
		"`handling=strict, max-affected=n` (PATCH, DELETE: a write over n rows is refused, 400 PGRST124, and undone).",
		obj{"type": "string", "examples": []string{"return=representation", "return=minimal,count=exact", "handling=strict,max-affected=1"}}, "Prefer")
	g.params["preferCall"] = h("Comma-separated preferences: `count=exact|planned|estimated` for set-returning functions, `timezone=<IANA zone>`.",
		obj{"type": "string", "examples": []string{"count=exact", "timezone=America/New_York"}}, "Prefer")
	if g.multiSchema {
		en := obj{"type": "string", "enum": g.cat.Schemas, "default": g.cat.Schemas[0]}
		g.params["acceptProfile"] = h("Exposed schema to read from (GET, HEAD).", en, "Accept-Profile")
		g.params["contentProfile"] = h("Exposed schema to write to (POST, PATCH, PUT, DELETE).", en, "Content-Profile")
	}

	g.headers["Content-Range"] = obj{"description": "Range of the returned rows and the total when a count was asked for: `0-24/3573`, `0-24/*`, `*/0`.",
		"schema": obj{"type": "string"}, "example": "0-24/3573"}
	g.headers["Location"] = obj{"description": "URL of the inserted row (filter on its primary key), with `Prefer: return=headers-only`.",
		"schema": obj{"type": "string"}}
	g.headers["Preference-Applied"] = obj{"description": "The preferences that were honoured.", "schema": obj{"type": "string"}}
}

func examplesObj(values []string) obj {
	out := obj{}
	for i, v := range values {
		out["e"+string(rune('1'+i))] = obj{"value": v}
	}
	return out
}

// operators lists the filter operators that make sense for a column type.
func operators(t pgType) string {
	ops := []string{"eq", "neq", "gt", "gte", "lt", "lte", "in", "is", "isdistinct"}
	switch {
	case t.isArray:
		ops = append(ops, "cs", "cd", "ov")
	case t.name == "jsonb":
		ops = append(ops, "cs", "cd")
	case t.name == "tsvector":
		ops = append(ops, "fts", "plfts", "phfts", "wfts")
	case t.category == "R":
		ops = append(ops, "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj")
	case t.category == "S" || t.name == "citext":
		ops = append(ops, "like", "ilike", "match", "imatch", "fts", "plfts", "phfts", "wfts")
	}
	return strings.Join(ops, ", ")
}
