package difftest

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// GraphQL renders req as a Hasura query document and its variables.
func GraphQL(req *Request) (string, map[string]any) { return operation(req, "") }

// Subscription renders req as a subscription of the same selection (a live query).
func Subscription(req *Request) (string, map[string]any) { return operation(req, "subscription") }

// operation renders req as an operation of type op; "" is a query, written in shorthand
// when it declares no variable.
func operation(req *Request, op string) (string, map[string]any) {
	g := &gqlWriter{vars: map[string]any{}}
	var body strings.Builder
	body.WriteString("{ ")
	for _, q := range req.Roots {
		g.query(&body, q, q.Alias, "")
		body.WriteString(" ")
	}
	body.WriteString("}")
	if len(g.decls) == 0 {
		if op == "" {
			return body.String(), nil
		}
		return op + " " + body.String(), nil
	}
	if op == "" {
		op = "query"
	}
	return op + " Q(" + strings.Join(g.decls, ", ") + ") " + body.String(), g.vars
}

type gqlWriter struct {
	decls []string
	vars  map[string]any
}

func (g *gqlWriter) variable(typ string, v any) string {
	name := fmt.Sprintf("v%d", len(g.decls))
	g.decls = append(g.decls, "$"+name+": "+typ)
	g.vars[name] = v
	return "$" + name
}

func (g *gqlWriter) query(b *strings.Builder, q *Query, alias, directive string) {
	if alias != "" {
		b.WriteString(alias + ": ")
	}
	b.WriteString(q.fieldName(false))
	var args []string
	if q.ByPK != nil {
		args = append(args, "id: "+fmt.Sprint(*q.ByPK))
	}
	if q.Where != nil {
		args = append(args, "where: "+g.where(q.Where, q.Table))
	}
	if len(q.DistinctOn) > 0 {
		args = append(args, "distinct_on: ["+strings.Join(q.DistinctOn, ", ")+"]")
	}
	if len(q.Order) > 0 {
		var keys []string
		for _, k := range q.Order {
			keys = append(keys, gqlOrderKey(k))
		}
		args = append(args, "order_by: ["+strings.Join(keys, ", ")+"]")
	}
	if q.Limit >= 0 {
		args = append(args, fmt.Sprintf("limit: %d", q.Limit))
	}
	if q.Offset > 0 {
		args = append(args, fmt.Sprintf("offset: %d", q.Offset))
	}
	if len(args) > 0 {
		b.WriteString("(" + strings.Join(args, ", ") + ")")
	}
	b.WriteString(directive)
	g.selection(b, q)
}

func (g *gqlWriter) selection(b *strings.Builder, q *Query) {
	if q.Agg != nil {
		b.WriteString(" {")
		a := q.Agg
		if a.Count || len(a.Funcs) > 0 {
			b.WriteString(" aggregate {")
			if a.Count {
				if a.CountCol != "" {
					b.WriteString(" count(columns: " + a.CountCol + ")")
				} else {
					b.WriteString(" count")
				}
			}
			for _, fn := range []string{"sum", "avg", "min", "max"} {
				if cols, ok := a.Funcs[fn]; ok {
					b.WriteString(" " + fn + " { " + strings.Join(cols, " ") + " }")
				}
			}
			b.WriteString(" }")
		}
		if gs := a.Groups; gs != nil {
			b.WriteString(" groups(group_by: [" + strings.Join(gs.Keys, ", ") + "]")
			if gs.HavingMin > 0 {
				b.WriteString(fmt.Sprintf(", having: {count: {_gte: %d}}", gs.HavingMin))
			}
			if gs.ByCount {
				dir := "asc"
				if gs.Desc {
					dir = "desc"
				}
				b.WriteString(", order_by: [{aggregate: {count: " + dir + "}}]")
			}
			if gs.Limit >= 0 {
				b.WriteString(fmt.Sprintf(", limit: %d", gs.Limit))
			}
			b.WriteString(") { keys { " + strings.Join(gs.Keys, " ") + " } aggregate { count")
			for _, fn := range []string{"sum", "avg", "min", "max"} {
				if cols, ok := gs.Funcs[fn]; ok {
					b.WriteString(" " + fn + " { " + strings.Join(cols, " ") + " }")
				}
			}
			b.WriteString(" } }")
		}
		if a.Nodes {
			b.WriteString(" nodes")
			g.fields(b, q)
		}
		b.WriteString(" }")
		return
	}
	g.fields(b, q)
}

func (g *gqlWriter) fields(b *strings.Builder, q *Query) {
	b.WriteString(" {")
	for _, f := range q.Sel {
		b.WriteString(" ")
		directive := ""
		if f.Dir != "" {
			// @include(if: c) keeps the field when c; @skip(if: c) drops it when c.
			cond := f.Skipped == (f.Dir == "skip")
			lit := fmt.Sprint(cond)
			if f.DirVar {
				lit = g.variable("Boolean!", cond)
			}
			directive = " @" + f.Dir + "(if: " + lit + ")"
		}
		if f.Sub != nil {
			g.query(b, f.Sub, f.Alias, directive)
			continue
		}
		if f.Alias != "" {
			b.WriteString(f.Alias + ": ")
		}
		b.WriteString(f.Col + directive)
	}
	b.WriteString(" }")
}

func gqlOrderKey(k OrderKey) string {
	dir := "asc"
	if k.Desc {
		dir = "desc"
	}
	switch k.Nulls {
	case 1:
		dir += "_nulls_first"
	case 2:
		dir += "_nulls_last"
	}
	switch {
	case k.Rel == nil:
		return "{" + k.Col + ": " + dir + "}"
	case k.Rel.Many:
		return "{" + k.Rel.Name + "_aggregate: {count: " + dir + "}}"
	}
	return "{" + k.Rel.Name + ": {" + k.Col + ": " + dir + "}}"
}

var gqlOps = map[string]string{"eq": "_eq", "neq": "_neq", "gt": "_gt", "gte": "_gte", "lt": "_lt", "lte": "_lte",
	"like": "_like", "nlike": "_nlike", "ilike": "_ilike", "nilike": "_nilike", "in": "_in", "nin": "_nin"}

func (g *gqlWriter) where(e Expr, table string) string {
	switch e := e.(type) {
	case And:
		if e.Implicit {
			var parts []string
			for _, a := range e.Args {
				s := g.where(a, table)
				parts = append(parts, s[1:len(s)-1])
			}
			return "{" + strings.Join(parts, ", ") + "}"
		}
		return "{_and: [" + g.list(e.Args, table) + "]}"
	case Or:
		return "{_or: [" + g.list(e.Args, table) + "]}"
	case Not:
		return "{_not: " + g.where(e.Arg, table) + "}"
	case Exists:
		w := "{}"
		if e.Where != nil {
			w = g.where(e.Where, e.Rel.Target)
		}
		return "{" + e.Rel.Name + ": " + w + "}"
	case Cmp:
		switch e.Op {
		case "isnull", "notnull":
			return fmt.Sprintf("{%s: {_is_null: %v}}", e.Col, e.Op == "isnull")
		case "in", "nin":
			if e.Var {
				vals := make([]any, len(e.Vals))
				for i, v := range e.Vals {
					vals[i] = jsonValue(v)
				}
				return fmt.Sprintf("{%s: {%s: %s}}", e.Col, gqlOps[e.Op], g.variable("["+gqlType(e.Vals[0])+"!]", vals))
			}
			var lits []string
			for _, v := range e.Vals {
				lits = append(lits, gqlLiteral(v))
			}
			return fmt.Sprintf("{%s: {%s: [%s]}}", e.Col, gqlOps[e.Op], strings.Join(lits, ", "))
		}
		lit := gqlLiteral(e.Val)
		if e.Var {
			lit = g.variable(gqlType(e.Val)+"!", jsonValue(e.Val))
		}
		return fmt.Sprintf("{%s: {%s: %s}}", e.Col, gqlOps[e.Op], lit)
	}
	panic("difftest: unknown expression")
}

func (g *gqlWriter) list(es []Expr, table string) string {
	var parts []string
	for _, a := range es {
		parts = append(parts, g.where(a, table))
	}
	return strings.Join(parts, ", ")
}

func gqlType(v any) string {
	switch v.(type) {
	case int64:
		return "Int"
	case *big.Rat:
		return "numeric"
	case string:
		return "String"
	case bool:
		return "Boolean"
	case Date:
		return "date"
	case time.Time:
		return "timestamptz"
	}
	panic("difftest: no GraphQL type")
}

// jsonValue is v as a variable's JSON value.
func jsonValue(v any) any {
	switch x := v.(type) {
	case *big.Rat:
		return json.Number(x.FloatString(2))
	case Date:
		return string(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return v
}

func gqlLiteral(v any) string {
	switch x := jsonValue(v).(type) {
	case json.Number:
		return string(x)
	case string:
		b, _ := json.Marshal(x)
		return string(b)
	default:
		return fmt.Sprint(x)
	}
}
