package rest

// Values calls fn for every value of the request (grouped by kind, not in slot order:
// filters, logic leaves, ranges, RPC arguments, the Range header).
func (r *ApiRequest) Values(fn func(Value)) {
	for _, f := range r.Filters {
		if f.Expr.Op != "is" {
			fn(f.Expr.Value)
		}
	}
	var walk func(t *LogicTree)
	walk = func(t *LogicTree) {
		if t.Leaf != nil {
			if t.Leaf.Expr.Op != "is" {
				fn(t.Leaf.Expr.Value)
			}
			return
		}
		for i := range t.Children {
			walk(&t.Children[i])
		}
	}
	for i := range r.Logic {
		walk(&r.Logic[i].Tree)
	}
	for _, g := range r.Ranges {
		if g.Limit != nil {
			fn(*g.Limit)
		}
		if g.Offset != nil {
			fn(*g.Offset)
		}
	}
	for _, a := range r.RPCArgs {
		fn(a.Value)
	}
	if hr := r.HeaderRange; hr != nil {
		fn(hr.Offset)
		if hr.Limit != nil {
			fn(*hr.Limit)
		}
	}
}
