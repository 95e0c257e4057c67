package difftest

import (
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
)

// REST renders req (one root) as a PostgREST path with its query string, readable (not
// escaped) and escaped for the wire.
func REST(req *Request) (readable, escaped string) {
	q := req.Roots[0]
	var params [][2]string
	params = append(params, [2]string{"select", restSelect(q)})
	restParams(q, "", &params)
	var r, e []string
	for _, p := range params {
		r = append(r, p[0]+"="+p[1])
		e = append(e, url.QueryEscape(p[0])+"="+strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	return "/" + q.Table + "?" + strings.Join(r, "&"), "/" + q.Table + "?" + strings.Join(e, "&")
}

// PreferHeader is the value of req's Prefer header, "" when it has none.
func PreferHeader(req *Request) string {
	if req.Timezone == "" {
		return ""
	}
	return "timezone=" + req.Timezone
}

// RangeHeader is the value of req's Range header, "" when it has none.
func RangeHeader(req *Request) string {
	rng := req.Roots[0].Range
	switch {
	case rng == nil:
		return ""
	case rng[1] < 0:
		return fmt.Sprintf("%d-", rng[0])
	}
	return fmt.Sprintf("%d-%d", rng[0], rng[1])
}

func restSelect(q *Query) string {
	var parts []string
	if q.Star {
		parts = append(parts, "*")
	}
	for _, f := range q.Sel {
		switch {
		case f.Agg != "":
			parts = append(parts, restAggregate(f))
		case f.Sub != nil:
			name := f.Sub.Rel.REST
			if f.Sub.Inner {
				name += "!inner"
			}
			parts = append(parts, name+"("+restSelect(f.Sub)+")")
		case f.Alias != "":
			parts = append(parts, f.Alias+":"+f.Col)
		default:
			parts = append(parts, f.Col)
		}
	}
	return strings.Join(parts, ",")
}

// restParams adds q's filters, order and page, prefixed with its embed path, then its embeds'.
func restParams(q *Query, prefix string, params *[][2]string) {
	if q.Where != nil {
		*params = append(*params, restWhere(q.Where, prefix)...)
	}
	if len(q.Order) > 0 {
		var keys []string
		for _, k := range q.Order {
			s := k.Col
			if k.Desc {
				s += ".desc"
			} else {
				s += ".asc"
			}
			switch k.Nulls {
			case 1:
				s += ".nullsfirst"
			case 2:
				s += ".nullslast"
			}
			keys = append(keys, s)
		}
		*params = append(*params, [2]string{prefix + "order", strings.Join(keys, ",")})
	}
	if q.Limit >= 0 {
		*params = append(*params, [2]string{prefix + "limit", fmt.Sprint(q.Limit)})
	}
	if q.Offset > 0 {
		*params = append(*params, [2]string{prefix + "offset", fmt.Sprint(q.Offset)})
	}
	for _, f := range q.Sel {
		if f.Sub == nil {
			continue
		}
		switch f.Sub.NullFilter {
		case 1:
			*params = append(*params, [2]string{prefix + f.Sub.Rel.RESTKey, "is.null"})
		case 2:
			*params = append(*params, [2]string{prefix + f.Sub.Rel.RESTKey, "not.is.null"})
		}
		restParams(f.Sub, prefix+f.Sub.Rel.RESTKey+".", params)
	}
}

// restWhere writes a top-level condition as query parameters: one per conjunct when their
// keys differ, else one and=(…).
func restWhere(e Expr, prefix string) [][2]string {
	args := []Expr{e}
	if a, ok := e.(And); ok {
		args = a.Args
	}
	var out [][2]string
	seen := map[string]bool{}
	for _, a := range args {
		k, v := restTop(a)
		if seen[k] {
			k, v = restTop(And{Args: []Expr{e}})
			return [][2]string{{prefix + k, v}}
		}
		seen[k] = true
		out = append(out, [2]string{prefix + k, v})
	}
	return out
}

func restTop(e Expr) (key, val string) {
	switch e := e.(type) {
	case Cmp:
		return e.Col, restOp(e, false)
	case And:
		return "and", "(" + restTree(e.Args) + ")"
	case Or:
		return "or", "(" + restTree(e.Args) + ")"
	case EmbedNull:
		return "and", "(" + restNode(e) + ")"
	case Not:
		switch a := e.Arg.(type) {
		case Cmp:
			if !negatedOp(a.Op) {
				return a.Col, "not." + restOp(a, false)
			}
		case And:
			return "not.and", "(" + restTree(a.Args) + ")"
		case Or:
			return "not.or", "(" + restTree(a.Args) + ")"
		}
		return "not.and", "(" + restTree([]Expr{e.Arg}) + ")"
	}
	panic("difftest: no REST form")
}

func restTree(es []Expr) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, restNode(e))
	}
	return strings.Join(parts, ",")
}

func restNode(e Expr) string {
	switch e := e.(type) {
	case Cmp:
		return e.Col + "." + restOp(e, true)
	case And:
		return "and(" + restTree(e.Args) + ")"
	case Or:
		return "or(" + restTree(e.Args) + ")"
	case EmbedNull:
		if e.Has {
			return e.Sub.Rel.RESTKey + ".not.is.null"
		}
		return e.Sub.Rel.RESTKey + ".is.null"
	case Not:
		switch a := e.Arg.(type) {
		case Cmp:
			if !negatedOp(a.Op) {
				return a.Col + ".not." + restOp(a, true)
			}
		case And:
			return "not.and(" + restTree(a.Args) + ")"
		case Or:
			return "not.or(" + restTree(a.Args) + ")"
		}
		return "not.and(" + restNode(e.Arg) + ")"
	}
	panic("difftest: no REST form")
}

func negatedOp(op string) bool {
	switch op {
	case "nlike", "nilike", "nin", "notnull":
		return true
	}
	return false
}

// restOp writes op.value; inTree quotes text-like values, as a logic tree needs.
func restOp(c Cmp, inTree bool) string {
	switch c.Op {
	case "isnull":
		return "is.null"
	case "notnull":
		return "not.is.null"
	case "istrue":
		return "is.true"
	case "isfalse":
		return "is.false"
	case "like", "ilike":
		return c.Op + "." + restValue(restPattern(c.Val), inTree)
	case "nlike":
		return "not.like." + restValue(restPattern(c.Val), inTree)
	case "nilike":
		return "not.ilike." + restValue(restPattern(c.Val), inTree)
	case "in", "nin":
		var vals []string
		for _, v := range c.Vals {
			vals = append(vals, restValue(v, true))
		}
		s := "in.(" + strings.Join(vals, ",") + ")"
		if c.Op == "nin" {
			s = "not." + s
		}
		return s
	}
	return c.Op + "." + restValue(c.Val, inTree)
}

func restValue(v any, quote bool) string {
	var s string
	switch x := v.(type) {
	case int64:
		return fmt.Sprint(x)
	case *big.Rat:
		return x.FloatString(2)
	case bool:
		return fmt.Sprint(x)
	case string:
		s = x
	case Date:
		s = string(x)
	case time.Time:
		s = x.UTC().Format(time.RFC3339)
	}
	if quote {
		return `"` + s + `"`
	}
	return s
}

// restPattern writes LIKE's % as PostgREST's *; generated patterns hold no literal %.
func restPattern(v any) string { return strings.ReplaceAll(v.(string), "%", "*") }
