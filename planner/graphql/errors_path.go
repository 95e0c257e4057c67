package graphql

import (
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
)

// pathAt returns Hasura's JSON path ("$.selectionSet.a.args.where.id") of the field,
// argument or input field at line:col, or "" when none starts there. Paths go through
// fragments as if they were written in place, as Hasura reports them.
func pathAt(doc *ast.QueryDocument, line, col int) string {
	at := func(p *ast.Position) bool { return p != nil && p.Line == line && p.Column == col }
	seen := map[string]bool{}
	var value func(v *ast.Value, path string) string
	value = func(v *ast.Value, path string) string {
		if v == nil {
			return ""
		}
		if at(v.Position) {
			return path
		}
		for i, ch := range v.Children {
			p := path + "." + ch.Name
			if v.Kind == ast.ListValue {
				p = path + "[" + strconv.Itoa(i) + "]"
			}
			if at(ch.Position) {
				return p
			}
			if r := value(ch.Value, p); r != "" {
				return r
			}
		}
		return ""
	}
	var set func(s ast.SelectionSet, path string) string
	set = func(s ast.SelectionSet, path string) string {
		for _, sel := range s {
			switch sel := sel.(type) {
			case *ast.Field:
				key := sel.Alias
				if key == "" {
					key = sel.Name
				}
				p := path + ".selectionSet." + key
				if at(sel.Position) {
					return p
				}
				for _, a := range sel.Arguments {
					ap := p + ".args." + a.Name
					if at(a.Position) {
						return ap
					}
					if r := value(a.Value, ap); r != "" {
						return r
					}
				}
				if r := set(sel.SelectionSet, p); r != "" {
					return r
				}
			case *ast.InlineFragment:
				if r := set(sel.SelectionSet, path); r != "" {
					return r
				}
			case *ast.FragmentSpread:
				if seen[sel.Name] {
					continue
				}
				seen[sel.Name] = true
				if def := doc.Fragments.ForName(sel.Name); def != nil {
					if r := set(def.SelectionSet, path); r != "" {
						return r
					}
				}
			}
		}
		return ""
	}
	for _, op := range doc.Operations {
		if r := set(op.SelectionSet, "$"); r != "" {
			return r
		}
	}
	return ""
}
