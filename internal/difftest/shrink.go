package difftest

// Shrink makes req as small as it can while fails(req) still holds, one step at a time:
// dropping root fields, selected fields, conditions and arguments. It stops after budget
// checks.
func Shrink(req *Request, fails func(*Request) bool, budget int) *Request {
	for budget > 0 {
		progressed := false
		for _, c := range requestVariants(req) {
			if budget == 0 {
				break
			}
			if !valid(c) {
				continue
			}
			budget--
			if fails(c) {
				req, progressed = c, true
				break
			}
		}
		if !progressed {
			break
		}
	}
	return req
}

func requestVariants(req *Request) []*Request {
	var out []*Request
	if req.Timezone != "" {
		c := *req
		c.Timezone = ""
		out = append(out, &c)
	}
	if len(req.Roots) > 1 {
		for i := range req.Roots {
			c := *req
			c.Roots = without(req.Roots, i)
			out = append(out, &c)
		}
	}
	for i, q := range req.Roots {
		for _, v := range queryVariants(q) {
			c := *req
			c.Roots = replaced(req.Roots, i, v)
			out = append(out, &c)
		}
	}
	return out
}

func queryVariants(q *Query) []*Query {
	var out []*Query
	with := func(f func(c *Query)) {
		c := *q
		f(&c)
		out = append(out, &c)
	}
	for i := range q.Sel {
		with(func(c *Query) { c.Sel = without(q.Sel, i) })
	}
	if q.Where != nil {
		with(func(c *Query) { c.Where = nil })
		for _, e := range exprVariants(q.Where) {
			with(func(c *Query) { c.Where = e })
		}
	}
	if len(q.DistinctOn) > 0 {
		with(func(c *Query) { c.DistinctOn = nil })
	}
	for i := 0; i < len(q.Order)-1; i++ {
		with(func(c *Query) { c.Order = without(q.Order, i) })
	}
	if q.Limit >= 0 {
		with(func(c *Query) { c.Limit = -1 })
	}
	if q.Offset > 0 {
		with(func(c *Query) { c.Offset = 0 })
	}
	if q.Range != nil {
		with(func(c *Query) { c.Range = nil })
	}
	if q.Inner {
		with(func(c *Query) { c.Inner = false })
	}
	if q.NullFilter != 0 {
		with(func(c *Query) { c.NullFilter = 0 })
	}
	if q.Star && len(q.Sel) > 0 {
		with(func(c *Query) { c.Star = false })
	}
	if a := q.Agg; a != nil {
		if a.Nodes {
			with(func(c *Query) { b := *a; b.Nodes = false; c.Agg = &b; c.Sel = nil })
		}
		if a.Count {
			with(func(c *Query) { b := *a; b.Count = false; c.Agg = &b })
		}
		for fn := range a.Funcs {
			with(func(c *Query) {
				b := *a
				b.Funcs = map[string][]string{}
				for k, v := range a.Funcs {
					if k != fn {
						b.Funcs[k] = v
					}
				}
				c.Agg = &b
			})
		}
	}
	for i, f := range q.Sel {
		if f.Dir != "" {
			with(func(c *Query) { g := *f; g.Dir, g.DirVar, g.Skipped = "", false, false; c.Sel = replaced(q.Sel, i, &g) })
		}
		if f.Sub == nil {
			continue
		}
		for _, v := range queryVariants(f.Sub) {
			with(func(c *Query) { g := *f; g.Sub = v; c.Sel = replaced(q.Sel, i, &g) })
		}
	}
	return out
}

func exprVariants(e Expr) []Expr {
	var out []Expr
	switch e := e.(type) {
	case And:
		for i, a := range e.Args {
			out = append(out, a, And{Args: without(e.Args, i), Implicit: e.Implicit})
			for _, v := range exprVariants(a) {
				out = append(out, And{Args: replaced(e.Args, i, v), Implicit: e.Implicit && distinctKeys(replaced(e.Args, i, v))})
			}
		}
	case Or:
		for i, a := range e.Args {
			out = append(out, a, Or{Args: without(e.Args, i)})
			for _, v := range exprVariants(a) {
				out = append(out, Or{Args: replaced(e.Args, i, v)})
			}
		}
	case Not:
		out = append(out, e.Arg)
		for _, v := range exprVariants(e.Arg) {
			out = append(out, Not{Arg: v})
		}
	case Exists:
		if e.Where != nil {
			out = append(out, Exists{Rel: e.Rel})
			for _, v := range exprVariants(e.Where) {
				out = append(out, Exists{Rel: e.Rel, Where: v})
			}
		}
	case Cmp:
		if e.Var {
			e.Var = false
			out = append(out, e)
		}
		if len(e.Vals) > 1 {
			e.Vals = e.Vals[:1]
			out = append(out, e)
		}
	}
	return out
}

// valid tells whether a shrunk request is still one both dialects accept.
func valid(req *Request) bool {
	if len(req.Roots) == 0 {
		return false
	}
	for _, q := range req.Roots {
		if !validQuery(q, req.REST) {
			return false
		}
	}
	return true
}

func validQuery(q *Query, rest bool) bool {
	if q.Agg != nil {
		if !q.Agg.Count && len(q.Agg.Funcs) == 0 && !q.Agg.Nodes {
			return false
		}
		if q.Agg.Nodes && len(q.Sel) == 0 {
			return false
		}
	} else if len(q.Sel) == 0 && !q.Star && !q.Empty {
		return false
	}
	if rest && !groupedOK(q) {
		return false
	}
	for i, c := range q.DistinctOn {
		if i >= len(q.Order) || q.Order[i].Col != c || q.Order[i].Rel != nil {
			return false
		}
	}
	if rest && q.Where != nil && !validREST(q.Where, q) {
		return false
	}
	if q.Range != nil && !pageMeets(q, *q.Range) {
		return false
	}
	for _, f := range q.Sel {
		if f.Sub != nil && !validQuery(f.Sub, rest) {
			return false
		}
	}
	return true
}

// validREST: PostgREST has no empty and=()/or=(), and a null filter on an embed inside
// them names an embed q still selects, without aggregates.
func validREST(e Expr, q *Query) bool {
	switch e := e.(type) {
	case And:
		if len(e.Args) == 0 {
			return false
		}
		for _, a := range e.Args {
			if !validREST(a, q) {
				return false
			}
		}
	case Or:
		if len(e.Args) == 0 {
			return false
		}
		for _, a := range e.Args {
			if !validREST(a, q) {
				return false
			}
		}
	case Not:
		return validREST(e.Arg, q)
	case EmbedNull:
		for _, f := range q.Sel {
			if f.Sub == e.Sub {
				return !grouped(f.Sub)
			}
		}
		return false
	}
	return true
}

func without[T any](s []T, i int) []T {
	out := make([]T, 0, len(s)-1)
	out = append(out, s[:i]...)
	return append(out, s[i+1:]...)
}

func replaced[T any](s []T, i int, v T) []T {
	out := append([]T(nil), s...)
	out[i] = v
	return out
}
