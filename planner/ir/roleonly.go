package ir

import "strings"

// RoleOnly reports whether the read q can observe nothing of a request's session but its
// role: whatever the claims, method, path and headers (request.jwt.claims and the other
// settings PostgREST gives functions and policies), it returns the same rows. That holds
// when no code of the tenant's runs:
//
//   - every relation it reads is plain (tables.PlainTable reports it: a table without row
//     security; a view, a foreign table or a policy may read anything);
//   - every type it casts to is built in (a bare name, see TypeName): a domain's checks
//     may call functions, and a user type's input or operators are code;
//   - every function it calls is one of the built-ins the front ends write.
//
// Anything else, or anything this walk does not know, gives false: the executor then sets
// every setting, as always.
func RoleOnly(q *Query, tables PlainTables) bool {
	w := roleWalk{plain: func(r Relation) bool { return tables.PlainTable(r.Schema, r.Name) }}
	for _, r := range q.Roots {
		if !w.value(r.Value) {
			return false
		}
	}
	return true
}

// PlainTables says which relations are plain tables (catalog.Schema does).
type PlainTables interface {
	PlainTable(schema, name string) bool
}

type roleWalk struct {
	plain func(Relation) bool
}

// builtinFuncs are the functions front ends call in reads (Func.Name).
var builtinFuncs = map[string]bool{
	"least": true, "to_tsvector": true, "to_tsquery": true, "plainto_tsquery": true,
	"phraseto_tsquery": true, "websearch_to_tsquery": true,
}

// builtinType reports whether a type spelled by TypeName is one of pg_catalog's: a bare
// name, possibly an array of it.
func builtinType(t string) bool {
	return t == "" || isBareName(strings.TrimSuffix(t, "[]"))
}

func (w roleWalk) selects(s *Select) bool {
	if s == nil {
		return true
	}
	if !w.plain(s.From) || !w.link(s.Link) {
		return false
	}
	if s.Output != nil && !w.object(s.Output) {
		return false
	}
	for i := range s.OrderBy {
		if !w.order(&s.OrderBy[i]) {
			return false
		}
	}
	return w.expr(s.Where) && w.expr(s.Limit) && w.expr(s.Offset)
}

func (w roleWalk) link(l *Link) bool {
	return l == nil || l.Through == nil || w.plain(l.Through.Relation)
}

func (w roleWalk) object(o *Object) bool {
	if o == nil {
		return true
	}
	for _, f := range o.Fields {
		if !w.value(f.Value) {
			return false
		}
	}
	return true
}

func (w roleWalk) value(v Value) bool {
	switch v := v.(type) {
	case *Column:
		return w.column(v)
	case *Literal:
		return builtinType(v.Param.Type)
	case *Nested:
		return w.selects(v.Select)
	case *Spread:
		return w.selects(v.Select)
	case *Nest:
		return w.object(v.Object)
	case *Agg:
		return w.agg(v)
	case *Rows:
		return w.object(v.Object)
	case *Groups:
		if !w.object(v.Object) || !w.expr(v.Having) || !w.expr(v.Limit) || !w.expr(v.Offset) {
			return false
		}
		for _, g := range v.OrderBy {
			if g.Agg != nil && !w.agg(g.Agg) {
				return false
			}
		}
		return true
	}
	return false
}

func (w roleWalk) column(c *Column) bool {
	if c == nil {
		return true
	}
	for _, p := range c.Path {
		if p.Key != nil && !builtinType(p.Key.Type) {
			return false
		}
	}
	return builtinType(c.Cast)
}

func (w roleWalk) agg(a *Agg) bool {
	return a == nil || (w.column(a.Input) && builtinType(a.Cast))
}

func (w roleWalk) order(o *OrderItem) bool {
	if !w.column(o.Column) {
		return false
	}
	for v := o.Via; v != nil; v = v.Next {
		if !w.plain(v.Relation) || !w.link(v.Link) || !w.column(v.Column) || !w.agg(v.Agg) {
			return false
		}
	}
	return true
}

func (w roleWalk) exprs(es []Expr) bool {
	for _, e := range es {
		if !w.expr(e) {
			return false
		}
	}
	return true
}

func (w roleWalk) expr(e Expr) bool {
	switch e := e.(type) {
	case nil:
		return true
	case *And:
		return w.exprs(e.Exprs)
	case *Or:
		return w.exprs(e.Exprs)
	case *Not:
		return w.expr(e.Expr)
	case *Bool:
		return true
	case *Compare:
		return w.expr(e.Left) && w.expr(e.Right)
	case *IsNull:
		return w.expr(e.Expr)
	case *Exists:
		return w.plain(e.Relation) && w.link(e.Link) && w.expr(e.Where)
	case *Related:
		return w.plain(e.Relation) && w.link(e.Link) && w.expr(e.Where) && w.agg(e.Agg)
	case *Param:
		return builtinType(e.Type)
	case *Array:
		return builtinType(e.Type) && w.exprs(e.Items)
	case *Func:
		return builtinFuncs[e.Name] && w.exprs(e.Args)
	case *Cast:
		return builtinType(e.Type) && w.expr(e.Expr)
	case *Column:
		return w.column(e)
	case *Agg:
		return w.agg(e)
	}
	return false
}
