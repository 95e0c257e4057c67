package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// Options say where the API is served and what the document covers.
type Options struct {
	// BaseURL is the REST API's URL, absolute or relative to the host, e.g.
	// "/t/demo/rest/v1". It becomes the document's server. Default "/rest/v1".
	BaseURL string
	// Title is info.title. Default "Kapok REST API" (with AdminPaths and no catalog,
	// "Kapok admin API").
	Title string
	// Version is info.version. Default: the catalog's Version.
	Version string
	// Description is prepended to the generated info.description.
	Description string
	// Schema is the exposed Postgres schema to describe (a request picks another one
	// with Accept-Profile / Content-Profile). Default: the first exposed schema.
	Schema string
	// AnonRole, when set, marks every tenant operation as callable without credentials
	// (the request then runs as that role).
	AnonRole string
	// AdminPaths adds Kapok's admin API (tenants, migrations, SQL, schema, reload,
	// stats) under AdminBaseURL, guarded by the admin key. With a nil catalog the
	// document describes the admin API alone.
	AdminPaths bool
	// AdminBaseURL is where the admin API is served. Default "/admin/v1".
	AdminBaseURL string
}

// Build returns the OpenAPI 3.1 document (compact JSON) describing cat's REST API.
// cat may be nil only with AdminPaths.
func Build(cat *catalog.Schema, opts Options) ([]byte, error) {
	if cat == nil && !opts.AdminPaths {
		return nil, errors.New("openapi: nil catalog")
	}
	if opts.BaseURL == "" {
		opts.BaseURL = "/rest/v1"
	}
	if opts.AdminBaseURL == "" {
		opts.AdminBaseURL = "/admin/v1"
	}
	g := &generator{
		cat: cat, opts: opts,
		paths: obj{}, schemas: obj{}, params: obj{}, responses: obj{}, headers: obj{},
		schemaKeys: newKeys(), paramKeys: newKeys(), opIDs: newKeys(),
		tableKeys: map[*catalog.Table]string{},
	}
	// Relations take their own names as component names, except these.
	for _, n := range reservedSchemaNames {
		g.schemaKeys.claim(n)
	}
	if cat != nil {
		g.schema = opts.Schema
		if g.schema == "" && len(cat.Schemas) > 0 {
			g.schema = cat.Schemas[0]
		}
		if g.schema != "" && !contains(cat.Schemas, g.schema) {
			return nil, fmt.Errorf("openapi: schema %q is not exposed", g.schema)
		}
		g.shared()
		g.relations()
		g.functions()
	} else {
		g.errorComponents()
	}
	if opts.AdminPaths {
		g.admin()
	}
	doc := g.document()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return buf.Bytes(), nil
}

// reservedSchemaNames are the component schemas that are not relations.
var reservedSchemaNames = []string{"Error", "AdminError", "PoolSettings", "Limits", "AuthSettings", "Tenant", "TenantCreate",
	"TenantPatch", "MigrationRequest", "SchemaDiff", "Migration", "MigrationResult", "RollbackRequest", "RollbackResult",
	"SQLRequest", "SQLResult", "ReloadResult", "TenantStats"}

type generator struct {
	cat    *catalog.Schema
	opts   Options
	schema string // the described Postgres schema

	paths, schemas, params, responses, headers obj
	tags                                       []obj

	schemaKeys, paramKeys, opIDs *keys
	tableKeys                    map[*catalog.Table]string
	multiSchema                  bool
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (g *generator) document() obj {
	title := g.opts.Title
	if title == "" {
		title = "Kapok REST API"
		if g.cat == nil {
			title = "Kapok admin API"
		}
	}
	version := g.opts.Version
	if version == "" && g.cat != nil {
		version = g.cat.Version
	}
	if version == "" {
		version = "1"
	}
	var desc []string
	if g.opts.Description != "" {
		desc = append(desc, g.opts.Description)
	}
	if g.cat != nil {
		desc = append(desc, "PostgREST-compatible REST API over the Postgres schema `"+g.schema+"`. "+
			"Every table and view is a path; functions are under `/rpc/`. "+
			"Filter rows with `<column>=<operator>.<value>` query parameters, pick columns and embed related rows with `select`, "+
			"sort with `order`, page with `limit`/`offset` or the `Range` header.")
	}
	if g.opts.AdminPaths {
		desc = append(desc, "The admin API (tenants, migrations, ad-hoc SQL, schema reload, stats) is served under `"+g.opts.AdminBaseURL+"` and requires the admin key.")
	}
	sort.Slice(g.tags, func(i, j int) bool { return g.tags[i]["name"].(string) < g.tags[j]["name"].(string) })
	components := obj{
		"schemas":         g.schemas,
		"responses":       g.responses,
		"securitySchemes": g.securitySchemes(),
	}
	if len(g.params) > 0 {
		components["parameters"] = g.params
	}
	if len(g.headers) > 0 {
		components["headers"] = g.headers
	}
	doc := obj{
		"openapi":    "3.1.0",
		"info":       obj{"title": title, "version": version, "description": strings.Join(desc, "\n\n")},
		"paths":      g.paths,
		"components": components,
		"tags":       g.tags,
	}
	if g.cat != nil {
		doc["servers"] = []obj{{"url": g.opts.BaseURL}}
		sec := []obj{{"apikey": []string{}}, {"bearer": []string{}}, {"adminKey": []string{}}}
		if g.opts.AnonRole != "" {
			sec = append(sec, obj{})
		}
		doc["security"] = sec
	} else {
		doc["servers"] = []obj{{"url": g.opts.AdminBaseURL}}
		doc["security"] = []obj{{"adminKey": []string{}}}
	}
	return doc
}

func (g *generator) securitySchemes() obj {
	s := obj{
		"adminKey": obj{"type": "apiKey", "in": "header", "name": "X-Kapok-Admin-Key",
			"description": "Kapok's admin key: full access to every tenant and to the admin API."},
	}
	if g.cat != nil {
		anon := ""
		if g.opts.AnonRole != "" {
			anon = " Requests without credentials run as the role `" + g.opts.AnonRole + "`."
		}
		s["apikey"] = obj{"type": "apiKey", "in": "header", "name": "apikey",
			"description": "A tenant API key (or a JWT); the key maps to a database role." + anon}
		s["bearer"] = obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
			"description": "A JWT signed with the tenant's secret or JWKS; its role claim names the database role the request runs as, and its claims are visible to SQL as `request.jwt.claims`." + anon}
	}
	return s
}

// errorComponents declares PostgREST's error body and the error responses built on it.
func (g *generator) errorComponents() {
	g.schemas["Error"] = obj{
		"type":        "object",
		"description": "PostgREST's error body: a Postgres SQLSTATE or a `PGRST…` code, with the message, details and hint.",
		"required":    []string{"code", "message"},
		"properties": obj{
			"code":    obj{"type": "string", "description": "SQLSTATE (e.g. `23505`) or PostgREST code (e.g. `PGRST116`).", "examples": []string{"23505", "PGRST116"}},
			"message": obj{"type": "string"},
			"details": obj{"description": "Details: a string, null, or structured data (e.g. the candidates of an ambiguous embedding)."},
			"hint":    obj{"type": []string{"string", "null"}},
		},
	}
	errResp := func(desc string) obj {
		return obj{"description": desc, "content": obj{"application/json": obj{"schema": ref("schemas", "Error")}}}
	}
	g.responses["BadRequest"] = errResp("Malformed request: unknown column, bad operator or value, missing relationship (PGRST1xx, 22xxx, 42703, P0001).")
	g.responses["Unauthorized"] = errResp("Missing or invalid credentials (PGRST301, 42501 for the anonymous role).")
	g.responses["Forbidden"] = errResp("The role lacks the privilege (42501) or a row-level security policy refused the row.")
	g.responses["NotFound"] = errResp("Unknown table, view or function (42P01, PGRST202, PGRST205).")
	g.responses["NotAcceptable"] = errResp("The Accept header asks for a representation that cannot be given, e.g. a single object when the result is not exactly one row (PGRST116).")
	g.responses["Conflict"] = errResp("Unique or foreign key violation (23505, 23503).")
	g.responses["RangeNotSatisfiable"] = errResp("The requested range starts beyond the last row (PGRST103).")
	g.responses["MultipleChoices"] = errResp("Ambiguous embedding: more than one relationship matches; `details` lists them and `hint` says how to disambiguate (PGRST201).")
	g.responses["ServerError"] = errResp("Unexpected error.")
	if g.cat != nil {
		g.responses["NoContent"] = obj{"description": "Done, with `Prefer: return=minimal` (the default for PATCH, PUT and DELETE).",
			"headers": obj{"Content-Range": ref("headers", "Content-Range")}}
	}
}
