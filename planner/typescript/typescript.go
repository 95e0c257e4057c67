package typescript

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// Generate returns the TypeScript module describing cat.
func Generate(cat *catalog.Schema) []byte {
	g := &gen{cat: cat, keys: map[string]string{}}
	for i, s := range cat.Schemas {
		if i == 0 {
			g.keys[s] = "public"
		} else if s != "public" {
			g.keys[s] = s
		}
	}
	g.write()
	return []byte(g.b.String())
}

type gen struct {
	cat  *catalog.Schema
	keys map[string]string // exposed schema -> its key in Database
	b    strings.Builder
}

func (g *gen) line(indent int, s string) {
	g.b.WriteString(strings.Repeat("  ", indent))
	g.b.WriteString(s)
	g.b.WriteByte('\n')
}

var identRE = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// prop quotes a property name unless it is an identifier.
func prop(name string) string {
	if identRE.MatchString(name) {
		return name
	}
	return str(name)
}

func str(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

const jsonType = `export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]
`

func (g *gen) write() {
	g.b.WriteString(jsonType)
	g.b.WriteString("\nexport type Database = {\n")
	// Which PostgREST features supabase-js's types may assume.
	g.line(1, "__InternalSupabase: {")
	g.line(2, `PostgrestVersion: "12"`)
	g.line(1, "}")
	for _, s := range g.cat.Schemas {
		key, ok := g.keys[s]
		if !ok {
			continue
		}
		g.line(1, prop(key)+": {")
		g.tables(s, false)
		g.tables(s, true)
		g.functions(s)
		g.enums(s)
		g.line(2, "CompositeTypes: {")
		g.line(3, "[_ in never]: never")
		g.line(2, "}")
		g.line(1, "}")
	}
	g.b.WriteString("}\n")
	g.b.WriteString(helpers)
	g.constants()
}

func isView(t *catalog.Table) bool {
	return t.Kind == catalog.KindView || t.Kind == catalog.KindMaterializedView
}

func (g *gen) tables(schema string, views bool) {
	section := "Tables"
	if views {
		section = "Views"
	}
	g.line(2, section+": {")
	n := 0
	for _, t := range g.cat.Tables {
		if t.Schema != schema || isView(t) != views {
			continue
		}
		n++
		g.line(3, prop(t.Name)+": {")
		g.line(4, "Row: {")
		for _, c := range t.Columns {
			g.line(5, prop(c.Name)+": "+g.columnType(c, c.Nullable || views))
		}
		g.line(4, "}")
		if t.Insertable {
			g.line(4, "Insert: {")
			for _, c := range t.Columns {
				if !c.Insertable {
					g.line(5, prop(c.Name)+"?: never")
					continue
				}
				opt := ""
				if c.Nullable || c.HasDefault || c.IsIdentity || views {
					opt = "?"
				}
				g.line(5, prop(c.Name)+opt+": "+g.columnType(c, c.Nullable || views))
			}
			g.line(4, "}")
		}
		if t.Updatable {
			g.line(4, "Update: {")
			for _, c := range t.Columns {
				if !c.Updatable {
					g.line(5, prop(c.Name)+"?: never")
					continue
				}
				g.line(5, prop(c.Name)+"?: "+g.columnType(c, c.Nullable || views))
			}
			g.line(4, "}")
		}
		g.relationships(t)
		g.line(3, "}")
	}
	if n == 0 {
		g.line(3, "[_ in never]: never")
	}
	g.line(2, "}")
}

// relationships lists the table's own foreign keys to exposed relations, as supabase-js's
// types resolve embeds from both ends of each.
func (g *gen) relationships(t *catalog.Table) {
	var rels []*catalog.ForeignKey
	for _, fk := range t.ForeignKeys {
		if _, ok := g.keys[fk.RefSchema]; ok {
			rels = append(rels, fk)
		}
	}
	if len(rels) == 0 {
		g.line(4, "Relationships: []")
		return
	}
	g.line(4, "Relationships: [")
	for _, fk := range rels {
		one := "false"
		for _, r := range t.Relationships {
			if r.Constraint == fk.Name && r.Outgoing && r.OneToOne {
				one = "true"
			}
		}
		g.line(5, "{")
		g.line(6, "foreignKeyName: "+str(fk.Name))
		g.line(6, "columns: "+strList(fk.Columns))
		g.line(6, "isOneToOne: "+one)
		g.line(6, "referencedRelation: "+str(fk.RefTable))
		g.line(6, "referencedColumns: "+strList(fk.RefColumns))
		g.line(5, "},")
	}
	g.line(4, "]")
}

func strList(l []string) string {
	parts := make([]string, len(l))
	for i, s := range l {
		parts[i] = str(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (g *gen) functions(schema string) {
	g.line(2, "Functions: {")
	n := 0
	fns := g.cat.Functions
	for i := 0; i < len(fns); {
		f := fns[i]
		j := i
		for j < len(fns) && fns[j].Schema == f.Schema && fns[j].Name == f.Name {
			j++
		}
		group := fns[i:j]
		i = j
		if f.Schema != schema {
			continue
		}
		n++
		if len(group) == 1 {
			g.line(3, prop(f.Name)+": {")
			g.function(4, f)
			g.line(3, "}")
			continue
		}
		// Overloads: one signature each, as a union.
		g.line(3, prop(f.Name)+":")
		for _, o := range group {
			g.line(4, "| {")
			g.function(5, o)
			g.line(6, "}")
		}
	}
	if n == 0 {
		g.line(3, "[_ in never]: never")
	}
	g.line(2, "}")
}

func (g *gen) function(indent int, f *catalog.Function) {
	var named []*catalog.FunctionArg
	for _, a := range f.Args {
		if a.Name != "" {
			named = append(named, a)
		}
	}
	if len(named) == 0 {
		g.line(indent, "Args: never")
	} else {
		g.line(indent, "Args: {")
		for _, a := range named {
			opt := ""
			if a.HasDefault {
				opt = "?"
			}
			g.line(indent+1, prop(a.Name)+opt+": "+g.scalar(a.TypeSchema, a.TypeName, a.Category, a.IsArray))
		}
		g.line(indent, "}")
	}
	g.line(indent, "Returns: "+g.returns(f))
}

func (g *gen) returns(f *catalog.Function) string {
	var t string
	switch {
	case f.ReturnsTable:
		parts := make([]string, 0, len(f.OutColumns))
		for _, c := range f.OutColumns {
			parts = append(parts, prop(c.Name)+": "+g.scalar(c.TypeSchema, c.TypeName, c.Category, c.IsArray)+" | null")
		}
		t = "{ " + strings.Join(parts, "; ") + " }"
	case f.ReturnsRelation != nil:
		key, ok := g.keys[f.ReturnsRelation.Schema]
		rel := g.cat.Table(f.ReturnsRelation.Schema, f.ReturnsRelation.Name)
		if !ok || rel == nil {
			t = "Json"
			break
		}
		section := "Tables"
		if isView(rel) {
			section = "Views"
		}
		t = "Database[" + str(key) + "][" + str(section) + "][" + str(rel.Name) + `]["Row"]`
	case f.ReturnTypeName == "void":
		return "undefined"
	default:
		t = g.scalar(f.ReturnTypeSchema, f.ReturnTypeName, f.ReturnCategory, f.ReturnIsArray)
	}
	if f.ReturnsSet {
		return t + "[]"
	}
	return t
}

func (g *gen) columnType(c *catalog.Column, nullable bool) string {
	t := g.scalar(c.TypeSchema, c.TypeName, c.Category, c.IsArray)
	if nullable {
		t += " | null"
	}
	return t
}

// scalar maps a Postgres type to the TypeScript type of its JSON value in PostgREST's
// responses.
func (g *gen) scalar(schema, name, category string, array bool) string {
	t := "unknown"
	switch name {
	case "int2", "int4", "int8", "float4", "float8", "numeric", "oid":
		t = "number"
	case "bool":
		t = "boolean"
	case "json", "jsonb":
		t = "Json"
	case "text", "varchar", "bpchar", "char", "name", "citext", "uuid", "date", "time", "timetz",
		"timestamp", "timestamptz", "interval", "bytea", "inet", "cidr", "macaddr", "money", "bit", "varbit", "xml":
		t = "string"
	default:
		if category == "E" {
			if key, ok := g.keys[schema]; ok && g.cat.Enum(schema, name) != nil {
				t = "Database[" + str(key) + `]["Enums"][` + str(name) + "]"
			} else {
				t = "string"
			}
		} else if category == "S" {
			t = "string"
		} else if category == "N" {
			t = "number"
		}
	}
	if array {
		if strings.Contains(t, " ") {
			t = "(" + t + ")"
		}
		t += "[]"
	}
	return t
}

func (g *gen) enums(schema string) {
	g.line(2, "Enums: {")
	n := 0
	for _, e := range g.cat.Enums {
		if e.Schema != schema {
			continue
		}
		n++
		vals := make([]string, len(e.Values))
		for i, v := range e.Values {
			vals[i] = str(v)
		}
		if len(vals) == 0 {
			vals = []string{"never"}
		}
		g.line(3, prop(e.Name)+": "+strings.Join(vals, " | "))
	}
	if n == 0 {
		g.line(3, "[_ in never]: never")
	}
	g.line(2, "}")
}

// constants writes the enums' values for code that needs them at run time.
func (g *gen) constants() {
	g.b.WriteString("\nexport const Constants = {\n")
	for _, s := range g.cat.Schemas {
		key, ok := g.keys[s]
		if !ok {
			continue
		}
		g.line(1, prop(key)+": {")
		g.line(2, "Enums: {")
		for _, e := range g.cat.Enums {
			if e.Schema == s {
				g.line(3, prop(e.Name)+": "+strList(e.Values)+",")
			}
		}
		g.line(2, "},")
		g.line(1, "},")
	}
	g.b.WriteString("} as const\n")
}

// helpers pick a relation's or type's shape by name; the first argument is a name in
// the default schema (public), or { schema: "name" } followed by a name in that schema.
const helpers = `
type DatabaseSchemas = Omit<Database, "__InternalSupabase">
type DefaultSchema = DatabaseSchemas["public"]
type Relations<S> = S extends { Tables: infer T; Views: infer V } ? T & V : never

export type Tables<
  NameOrSchema extends keyof Relations<DefaultSchema> | { schema: keyof DatabaseSchemas },
  Name extends NameOrSchema extends { schema: keyof DatabaseSchemas }
    ? keyof Relations<DatabaseSchemas[NameOrSchema["schema"]]>
    : never = never,
> = NameOrSchema extends { schema: keyof DatabaseSchemas }
  ? Relations<DatabaseSchemas[NameOrSchema["schema"]]>[Name] extends { Row: infer R } ? R : never
  : NameOrSchema extends keyof Relations<DefaultSchema>
    ? Relations<DefaultSchema>[NameOrSchema] extends { Row: infer R } ? R : never
    : never

export type TablesInsert<
  NameOrSchema extends keyof DefaultSchema["Tables"] | { schema: keyof DatabaseSchemas },
  Name extends NameOrSchema extends { schema: keyof DatabaseSchemas }
    ? keyof DatabaseSchemas[NameOrSchema["schema"]]["Tables"]
    : never = never,
> = NameOrSchema extends { schema: keyof DatabaseSchemas }
  ? DatabaseSchemas[NameOrSchema["schema"]]["Tables"][Name] extends { Insert: infer I } ? I : never
  : NameOrSchema extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][NameOrSchema] extends { Insert: infer I } ? I : never
    : never

export type TablesUpdate<
  NameOrSchema extends keyof DefaultSchema["Tables"] | { schema: keyof DatabaseSchemas },
  Name extends NameOrSchema extends { schema: keyof DatabaseSchemas }
    ? keyof DatabaseSchemas[NameOrSchema["schema"]]["Tables"]
    : never = never,
> = NameOrSchema extends { schema: keyof DatabaseSchemas }
  ? DatabaseSchemas[NameOrSchema["schema"]]["Tables"][Name] extends { Update: infer U } ? U : never
  : NameOrSchema extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][NameOrSchema] extends { Update: infer U } ? U : never
    : never

export type Enums<
  NameOrSchema extends keyof DefaultSchema["Enums"] | { schema: keyof DatabaseSchemas },
  Name extends NameOrSchema extends { schema: keyof DatabaseSchemas }
    ? keyof DatabaseSchemas[NameOrSchema["schema"]]["Enums"]
    : never = never,
> = NameOrSchema extends { schema: keyof DatabaseSchemas }
  ? DatabaseSchemas[NameOrSchema["schema"]]["Enums"][Name]
  : NameOrSchema extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][NameOrSchema]
    : never

export type CompositeTypes<
  NameOrSchema extends keyof DefaultSchema["CompositeTypes"] | { schema: keyof DatabaseSchemas },
  Name extends NameOrSchema extends { schema: keyof DatabaseSchemas }
    ? keyof DatabaseSchemas[NameOrSchema["schema"]]["CompositeTypes"]
    : never = never,
> = NameOrSchema extends { schema: keyof DatabaseSchemas }
  ? DatabaseSchemas[NameOrSchema["schema"]]["CompositeTypes"][Name]
  : NameOrSchema extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][NameOrSchema]
    : never
`
