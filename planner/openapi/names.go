package openapi

import (
	"net/url"
	"strconv"
	"strings"
)

// keys hands out component names and operation ids. OpenAPI restricts component names
// to [A-Za-z0-9._-]; Postgres names are free-form, so other characters become "_" and a
// name that is already taken gets a numeric suffix. Callers ask in catalog order, so the
// result is deterministic.
type keys struct{ taken map[string]bool }

func newKeys() *keys { return &keys{taken: map[string]bool{}} }

func (k *keys) claim(name string) string {
	base := sanitize(name)
	key := base
	for n := 2; k.taken[key]; n++ {
		key = base + "_" + strconv.Itoa(n)
	}
	k.taken[key] = true
	return key
}

func sanitize(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// pathFor is the path of a relation or function name, percent-encoded so that no name
// can read as a path template ("{") or add a segment ("/").
func pathFor(prefix, name string) string {
	return prefix + url.PathEscape(name)
}

// ref is a JSON Reference to a component.
func ref(kind, key string) obj { return obj{"$ref": "#/components/" + kind + "/" + key} }
