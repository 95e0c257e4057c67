package openapi

import (
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// functions describes every function of the described schema as /rpc/<name>; the
// overloads of one name share the path.
func (g *generator) functions() {
	var names []string
	byName := map[string][]*catalog.Function{}
	for _, f := range g.cat.Functions {
		if f.Schema != g.schema {
			continue
		}
		if byName[f.Name] == nil {
			names = append(names, f.Name)
		}
		byName[f.Name] = append(byName[f.Name], f)
	}
	if len(names) > 0 {
		g.tags = append(g.tags, obj{"name": "rpc", "description": "Functions, called with POST (JSON object of named arguments) or GET (arguments as query parameters)."})
	}
	for _, n := range names {
		g.function(n, byName[n])
	}
}

func (g *generator) function(name string, overloads []*catalog.Function) {
	key := sanitize(name)
	var bodies, results []any
	var sigs, comments []string
	params := []any{}
	seenParam := map[string]bool{}
	setReturning, volatile, void := false, false, true
	for _, f := range overloads {
		bodies = append(bodies, g.argsSchema(f))
		results = append(results, g.resultSchema(f))
		sigs = append(sigs, "`"+f.Name+"("+f.IdentityArgs+")` → `"+returnsText(f)+"`")
		if f.Comment != "" {
			comments = append(comments, f.Comment)
		}
		setReturning = setReturning || f.ReturnsSet
		volatile = volatile || f.Volatility == "v"
		void = void && f.ReturnTypeName == "void"
		for _, a := range f.Args {
			if a.Name == "" || seenParam[a.Name] {
				continue
			}
			seenParam[a.Name] = true
			s := valueSchema(g.cat, argType(a), true)
			s["x-pg-type"] = a.Type
			p := obj{"name": a.Name, "in": "query", "schema": s,
				"required": !a.HasDefault && len(overloads) == 1 && a.Mode != "v"}
			if a.HasDefault {
				p["description"] = "Optional (default `" + a.Default + "`)."
			}
			params = append(params, p)
		}
	}
	if g.multiSchema {
		params = append(params, ref("parameters", "acceptProfile"))
	}
	if setReturning {
		for _, n := range []string{"select", "order", "limit", "offset", "range", "preferCall"} {
			params = append(params, ref("parameters", n))
		}
	}
	body := oneOrAny(bodies)
	result := oneOrAny(results)

	summary, rest := summaryAndRest(strings.Join(comments, "\n"))
	desc := []string{"Signature: " + strings.Join(sigs, "; ") + "."}
	if rest != "" {
		desc = append([]string{rest}, desc...)
	}
	if setReturning {
		desc = append(desc, "The result is a set: `select`, `order`, `limit`/`offset`, `Range` and `<column>=<operator>.<value>` filters on its columns apply.")
	}
	if len(overloads) > 1 {
		desc = append(desc, "Overloaded: the argument names pick the overload.")
	}
	ok := obj{"description": "The function's result.", "content": obj{
		"application/json": obj{"schema": result},
	}}
	if setReturning {
		ok["headers"] = obj{"Content-Range": ref("headers", "Content-Range")}
		ok["content"].(obj)["text/csv"] = obj{"schema": obj{"type": "string"}}
	}
	if void {
		ok["description"] = "The function returns void: the body is `null`."
	}
	responses := func() obj {
		return obj{
			"200":     ok,
			"400":     ref("responses", "BadRequest"),
			"401":     ref("responses", "Unauthorized"),
			"403":     ref("responses", "Forbidden"),
			"404":     ref("responses", "NotFound"),
			"default": ref("responses", "ServerError"),
		}
	}
	item := obj{"description": strings.Join(desc, "\n\n")}
	if summary != "" {
		item["summary"] = summary
	}
	post := obj{
		"operationId": g.opIDs.claim("rpc_" + key),
		"tags":        []string{"rpc"},
		"summary":     "Call `" + name + "` with a JSON object of named arguments",
		"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": body}}},
		"responses":   responses(),
	}
	if setReturning {
		post["parameters"] = []any{ref("parameters", "select"), ref("parameters", "order"), ref("parameters", "limit"),
			ref("parameters", "offset"), ref("parameters", "range"), ref("parameters", "preferCall")}
	}
	if g.multiSchema {
		ps, _ := post["parameters"].([]any)
		post["parameters"] = append(ps, ref("parameters", "contentProfile"))
	}
	get := obj{
		"operationId": g.opIDs.claim("rpc_get_" + key),
		"tags":        []string{"rpc"},
		"summary":     "Call `" + name + "` with arguments in the query string",
		"parameters":  params,
		"responses":   responses(),
	}
	if volatile {
		get["description"] = "GET runs in a read-only transaction: a function that writes must be called with POST."
	}
	item["post"] = post
	item["get"] = get
	g.paths[pathFor("/rpc/", name)] = item
}

func oneOrAny(list []any) any {
	if len(list) == 1 {
		return list[0]
	}
	return obj{"anyOf": list}
}

func returnsText(f *catalog.Function) string {
	if f.ReturnsTable {
		var cols []string
		for _, c := range f.OutColumns {
			cols = append(cols, c.Name+" "+c.Type)
		}
		s := "TABLE(" + strings.Join(cols, ", ") + ")"
		if !f.ReturnsSet {
			s = "record(" + strings.Join(cols, ", ") + ")"
		}
		return s
	}
	if f.ReturnsSet {
		return "SETOF " + f.ReturnType
	}
	return f.ReturnType
}

// argsSchema is the JSON body of a call: an object of the named arguments.
func (g *generator) argsSchema(f *catalog.Function) obj {
	props := obj{}
	var required []string
	for _, a := range f.Args {
		if a.Name == "" {
			continue
		}
		s := valueSchema(g.cat, argType(a), true)
		s["x-pg-type"] = a.Type
		if a.HasDefault {
			s["description"] = "Optional (default `" + a.Default + "`)."
		} else {
			required = append(required, a.Name)
		}
		props[a.Name] = s
	}
	s := obj{"type": "object", "properties": props, "description": "Arguments of `" + f.Name + "(" + f.IdentityArgs + ")`."}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// resultSchema is what a call returns: a scalar, an array of scalars, a row, an array of
// rows of a relation or of the RETURNS TABLE columns, or null for void.
func (g *generator) resultSchema(f *catalog.Function) obj {
	var one obj
	switch {
	case f.ReturnTypeName == "void":
		return obj{"type": "null"}
	case f.ReturnsTable:
		props := obj{}
		for _, c := range f.OutColumns {
			s := valueSchema(g.cat, argType(c), true)
			s["x-pg-type"] = c.Type
			props[c.Name] = s
		}
		one = obj{"type": "object", "properties": props}
	case f.ReturnsRelation != nil:
		if t := g.cat.Table(f.ReturnsRelation.Schema, f.ReturnsRelation.Name); t != nil && g.tableKeys[t] != "" {
			one = ref("schemas", g.tableKeys[t])
		} else {
			one = obj{"type": "object"}
		}
	default:
		one = valueSchema(g.cat, pgType{name: f.ReturnTypeName, schema: f.ReturnTypeSchema, full: f.ReturnType,
			isArray: f.ReturnIsArray, category: f.ReturnCategory}, !f.ReturnsSet)
		one["x-pg-type"] = f.ReturnType
	}
	if f.ReturnsSet {
		return obj{"type": "array", "items": one}
	}
	if _, isRef := one["$ref"]; isRef {
		return obj{"anyOf": []any{one, obj{"type": "null"}}}
	}
	if f.ReturnsTable {
		one["type"] = []string{"object", "null"}
	}
	return one
}
