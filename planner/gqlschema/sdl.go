package gqlschema

import (
	"sort"
	"strings"
	"unicode/utf8"
)

// typeDef is one type of the SDL being generated, with its lookup info.
type typeDef struct {
	kind   string // "type", "input", "enum", "scalar"
	name   string
	desc   string
	fields []*fieldDef
	values []*valueDef
	info   *TypeInfo
	names  map[string]bool
}

type fieldDef struct {
	name string
	desc string
	args []*argDef
	typ  string
	def  string // default value of an input field
	ref  *FieldRef
}

type argDef struct {
	name, desc, typ, def string
}

type valueDef struct {
	name, desc string
	val        *EnumValue
}

// field adds a field unless one with the same name exists; it reports whether it did.
func (t *typeDef) field(f *fieldDef) bool {
	if t.names == nil {
		t.names = map[string]bool{}
	}
	if t.names[f.name] || !ValidName(f.name) {
		return false
	}
	t.names[f.name] = true
	if f.ref != nil {
		f.ref.Type = f.typ
		if t.info != nil {
			if t.info.Fields == nil {
				t.info.Fields = map[string]*FieldRef{}
			}
			t.info.Fields[f.name] = f.ref
		}
	}
	t.fields = append(t.fields, f)
	return true
}

func (t *typeDef) value(v *valueDef) bool {
	if t.names == nil {
		t.names = map[string]bool{}
	}
	if t.names[v.name] || !validEnumValue(v.name) {
		return false
	}
	t.names[v.name] = true
	if t.info != nil && v.val != nil {
		if t.info.Values == nil {
			t.info.Values = map[string]*EnumValue{}
		}
		t.info.Values[v.name] = v.val
	}
	t.values = append(t.values, v)
	return true
}

// empty reports whether the type cannot be emitted (GraphQL forbids empty objects,
// inputs and enums).
func (t *typeDef) empty() bool {
	switch t.kind {
	case "enum":
		return len(t.values) == 0
	case "scalar":
		return false
	}
	return len(t.fields) == 0
}

// render writes the SDL document: schema, directives, then types sorted by name with
// fields, arguments and values sorted by name (as Hasura prints its schema).
func render(hasMutation bool, types map[string]*typeDef) string {
	var b strings.Builder
	b.WriteString("schema {\n  query: query_root\n")
	if hasMutation {
		b.WriteString("  mutation: mutation_root\n")
	}
	b.WriteString("  subscription: subscription_root\n}\n\n")
	b.WriteString(`"whether this query should be cached (Hasura Cloud only)"` + "\n")
	b.WriteString(`directive @cached(` + "\n")
	b.WriteString(`  "measured in seconds"` + "\n  ttl: Int! = 60\n")
	b.WriteString(`  "refresh the cache entry"` + "\n  refresh: Boolean! = false\n) on QUERY\n")

	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := types[n]
		b.WriteByte('\n')
		writeDesc(&b, "", t.desc)
		b.WriteString(t.kind)
		b.WriteByte(' ')
		b.WriteString(t.name)
		switch t.kind {
		case "scalar":
			b.WriteByte('\n')
			continue
		case "enum":
			sort.Slice(t.values, func(i, j int) bool { return t.values[i].name < t.values[j].name })
			b.WriteString(" {\n")
			for _, v := range t.values {
				writeDesc(&b, "  ", v.desc)
				b.WriteString("  ")
				b.WriteString(v.name)
				b.WriteByte('\n')
			}
			b.WriteString("}\n")
			continue
		}
		sort.Slice(t.fields, func(i, j int) bool { return t.fields[i].name < t.fields[j].name })
		b.WriteString(" {\n")
		for _, f := range t.fields {
			writeDesc(&b, "  ", f.desc)
			b.WriteString("  ")
			b.WriteString(f.name)
			if len(f.args) > 0 {
				sort.Slice(f.args, func(i, j int) bool { return f.args[i].name < f.args[j].name })
				b.WriteString("(\n")
				for _, a := range f.args {
					writeDesc(&b, "    ", a.desc)
					b.WriteString("    ")
					writeArg(&b, a)
					b.WriteByte('\n')
				}
				b.WriteString("  )")
			}
			b.WriteString(": ")
			b.WriteString(f.typ)
			if f.def != "" {
				b.WriteString(" = ")
				b.WriteString(f.def)
			}
			b.WriteByte('\n')
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func writeArg(b *strings.Builder, a *argDef) {
	b.WriteString(a.name)
	b.WriteString(": ")
	b.WriteString(a.typ)
	if a.def != "" {
		b.WriteString(" = ")
		b.WriteString(a.def)
	}
}

// writeDesc writes a description as a single-line GraphQL string, so that comments
// with newlines, quotes or leading blanks keep their exact text (block strings are
// dedented and trimmed by parsers).
func writeDesc(b *strings.Builder, indent, desc string) {
	if desc == "" {
		return
	}
	b.WriteString(indent)
	b.WriteString(quoteGraphQL(desc))
	b.WriteByte('\n')
}

// quoteGraphQL returns s as a GraphQL string literal. Invalid UTF-8 becomes U+FFFD.
func quoteGraphQL(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
