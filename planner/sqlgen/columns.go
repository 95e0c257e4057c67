package sqlgen

import (
	"strings"

	"github.com/kapok-dev/kapok/planner/ir"
)

// rowSet is the rows sub-select of a Select, kept in parts until its select list is
// chosen: `SELECT [DISTINCT ON (…)] <list>[, <computed>] FROM rel AS tN WHERE … ORDER BY
// … LIMIT …`. The list is the columns the statement reads through tN from outside the
// sub-select (columns), the output itself when the sub-select builds it (see
// rowsObject), or nothing when the rows are only counted.
type rowSet struct {
	alias    string
	distinct string   // "DISTINCT ON (…) " or ""
	columns  []string // qualified, quoted columns of the relation
	computed []string // `<expr> AS "__order_N"` keys of the ORDER BY
	from     string   // " FROM …" to the end
}

// sql is the sub-select with its own column list.
func (r *rowSet) sql() string { return r.with(strings.Join(r.columns, ", ")) }

// with is the sub-select with list as its select list, followed by its computed columns.
func (r *rowSet) with(list string) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(r.distinct)
	b.WriteString(list)
	for i, c := range r.computed {
		if i > 0 || list != "" {
			b.WriteString(", ")
		}
		b.WriteString(c)
	}
	b.WriteString(r.from)
	return b.String()
}

// readColumns lists, once each and in reading order, the columns of sel's relation that
// the statement reads from outside the rows sub-select: the output's columns, aggregate
// arguments and the parent columns of nested links, then the plain ORDER BY and DISTINCT
// ON keys that the array's ORDER BY repeats over the sub-select. Filters and computed
// order keys are evaluated inside the sub-select and need no column of it. Only what is
// read is listed, so a role with column grants can run the statement and rows stay
// narrow.
func readColumns(sel *ir.Select, alias string) []string {
	c := columnSet{alias: alias}
	if sel.Output != nil {
		c.object(sel.Output)
	}
	for _, d := range sel.DistinctOn {
		c.add(d)
	}
	for _, o := range sel.OrderBy {
		if plainColumn(o.Column) {
			c.add(o.Column.Name)
		}
	}
	return c.list
}

type columnSet struct {
	alias string
	seen  map[string]bool
	list  []string
}

func (c *columnSet) add(name string) {
	if c.seen[name] {
		return
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	c.seen[name] = true
	c.list = append(c.list, c.alias+"."+ir.QuoteIdent(name))
}

func (c *columnSet) object(o *ir.Object) {
	for _, f := range o.Fields {
		switch v := f.Value.(type) {
		case *ir.Column:
			c.add(v.Name)
		case *ir.Agg:
			if v.Input != nil {
				c.add(v.Input.Name)
			}
			for _, n := range v.Columns {
				c.add(n)
			}
		case *ir.Nest:
			c.object(v.Object)
		case *ir.Rows:
			c.object(v.Object)
		case *ir.Groups:
			c.groups(v)
		case *ir.Nested:
			c.link(v.Select.Link)
		case *ir.Spread:
			c.link(v.Select.Link)
		}
	}
}

func (c *columnSet) link(l *ir.Link) {
	if l == nil {
		return
	}
	for _, n := range l.Columns {
		c.add(n)
	}
}

// plainColumn tells whether an order key is a bare column, which the rows sub-select
// lists, rather than a computed key it outputs as "__order_N".
func plainColumn(c *ir.Column) bool { return c != nil && c.Cast == "" && len(c.Path) == 0 }
