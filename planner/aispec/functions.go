package aispec

import (
	"fmt"
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
)

func (w *writer) functions() {
	if len(w.cat.Functions) == 0 {
		return
	}
	w.p("## Functions (REST `/rpc/<name>`)")
	w.p("")
	w.p("POST takes a JSON object of named arguments; GET takes them as query parameters (read-only transaction: use POST for functions that write). Set-returning functions accept `select`, filters, `order` and `limit` like tables.")
	w.p("")
	for _, f := range w.cat.Functions {
		w.function(f)
	}
}

func (w *writer) function(f *catalog.Function) {
	var args []string
	for _, a := range f.Args {
		s := strings.TrimSpace(a.Name + " " + w.typeName(a.Type))
		if a.HasDefault {
			s += " = " + w.typeName(a.Default)
		}
		if a.Mode == "v" {
			s = "VARIADIC " + s
		}
		args = append(args, s)
	}
	name := f.Name
	if f.Schema != w.defaultSchema() {
		name = f.Schema + "." + f.Name
	}
	vol := map[string]string{"i": "immutable", "s": "stable", "v": "volatile"}[f.Volatility]
	line := "- `" + name + "(" + strings.Join(args, ", ") + ") → " + w.returns(f) + "` (" + vol + ")"
	if f.Comment != "" {
		line += ": " + oneLine(f.Comment)
	}
	w.p("%s", line)
	profile := ""
	if f.Schema != w.defaultSchema() {
		profile = ` -H "Content-Profile: ` + f.Schema + `"`
	}
	var body, query []string
	named := true
	for _, a := range f.Args {
		if a.Name == "" {
			named = false
			continue
		}
		if a.HasDefault {
			continue
		}
		v := sampleArg(w.cat, a)
		body = append(body, jsonString(a.Name)+": "+v.json)
		query = append(query, urlPart(a.Name)+"="+urlPart(v.rest))
	}
	if !named {
		w.p("  (unnamed arguments: callable over REST only when it is a single json/jsonb/text/bytea argument sent as the raw body)")
		w.p("")
		return
	}
	w.p("")
	w.p("  ```sh")
	w.p(`  curl -X POST "$REST/rpc%s"%s%s -H "Content-Type: application/json" -d '%s'`,
		pathPart(f.Name), w.authHeader(), profile, shellQuote("{"+strings.Join(body, ", ")+"}"))
	if f.Volatility != "v" {
		qs := ""
		if len(query) > 0 {
			qs = "?" + strings.Join(query, "&")
		}
		getProfile := strings.Replace(profile, "Content-Profile", "Accept-Profile", 1)
		w.p(`  curl "$REST/rpc%s%s"%s%s`, pathPart(f.Name), qs, w.authHeader(), getProfile)
	}
	w.p("  ```")
	w.p("")
}

func (w *writer) returns(f *catalog.Function) string {
	if f.ReturnsTable {
		var cols []string
		for _, c := range f.OutColumns {
			cols = append(cols, c.Name+" "+w.typeName(c.Type))
		}
		if f.ReturnsSet {
			return "TABLE(" + strings.Join(cols, ", ") + ")"
		}
		return "record(" + strings.Join(cols, ", ") + ")"
	}
	t := w.typeName(f.ReturnType)
	if f.ReturnsSet {
		return "SETOF " + t
	}
	return t
}

func (w *writer) admin() {
	t := w.opts.Tenant
	base := w.opts.URL + "/admin/v1/tenants/" + t
	w.p("## Changing the schema (admin API)")
	w.p("")
	if w.opts.AdminDisabled {
		w.p("The admin API is disabled on this instance (no admin key is set). Change the schema with SQL in the database: Kapok picks up DDL by itself (event trigger, or `NOTIFY pgrst, 'reload schema'`), and the GraphQL and REST APIs (and this document) follow.")
		w.p("")
		return
	}
	w.p("Requires `X-Kapok-Admin-Key`. A migration runs `up` in one transaction, is logged, and returns the schema diff; `dry_run: true` runs it and rolls back. The GraphQL and REST APIs (and this document) follow the new schema right after.")
	w.p("")
	w.p("```sh")
	w.p(`curl -X POST "%s/migrations" -H "X-Kapok-Admin-Key: $ADMIN_KEY" -H "Content-Type: application/json" \`, base)
	table := "my_table"
	for _, tb := range w.cat.Tables {
		if tb.Kind == catalog.KindTable {
			table = quoteIdent(tb.Schema) + "." + quoteIdent(tb.Name)
			break
		}
	}
	body := fmt.Sprintf(`{"name": "add_notes", "up": %s, "down": %s, "dry_run": true}`,
		jsonString("ALTER TABLE "+table+" ADD COLUMN notes text"), jsonString("ALTER TABLE "+table+" DROP COLUMN notes"))
	w.p(`  -d '%s'`, shellQuote(body))
	w.p(`curl "%s/migrations" -H "X-Kapok-Admin-Key: $ADMIN_KEY"                # the log`, base)
	w.p(`curl -X POST "%s/migrations/rollback" -H "X-Kapok-Admin-Key: $ADMIN_KEY" -d '{}'   # undo the last one`, base)
	w.p(`curl -X POST "%s/reload" -H "X-Kapok-Admin-Key: $ADMIN_KEY"                # reload the schema now`, base)
	w.p(`curl "%s/schema" -H "X-Kapok-Admin-Key: $ADMIN_KEY"                    # the catalog as JSON`, base)
	w.p("```")
	w.p("")
	w.p("DDL run directly in the database is picked up too (event trigger, or `NOTIFY pgrst, 'reload schema'`). The admin API's OpenAPI document is at `%s/admin/v1/openapi.json`.", w.opts.URL)
}

// quoteIdent quotes an SQL identifier when it needs it.
func quoteIdent(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		}
	}
	return s
}
