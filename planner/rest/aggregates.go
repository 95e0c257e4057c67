package rest

import (
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/ir"
)

// nonNumeric are common input types Postgres has no sum() or avg() for; other types
// (domains, user types) are left to Postgres to judge.
var nonNumeric = map[string]bool{
	"text": true, "varchar": true, "bpchar": true, "char": true, "name": true, "citext": true,
	"bool": true, "json": true, "jsonb": true, "uuid": true, "bytea": true,
	"date": true, "time": true, "timetz": true, "timestamp": true, "timestamptz": true,
}

// aggregate lowers col.fn() (with its JSON path, input cast and result cast) to an output
// field, at the root or in an embed: PostgREST names it after the function unless
// aliased.
func (l *lowering) aggregate(t *catalog.Table, it *SelectItem) (ir.Field, error) {
	inCast, err := l.castType(it.Cast)
	if err != nil {
		return ir.Field{}, err
	}
	col, typ, err := l.column(t, it.Field, inCast)
	if err != nil {
		return ir.Field{}, err
	}
	if (it.Agg == "sum" || it.Agg == "avg") && (nonNumeric[typ] || strings.HasSuffix(typ, "[]")) {
		// Postgres' own answer, which PostgREST passes on: the statement is never sent.
		return ir.Field{}, &Error{Status: 404, Code: "42883",
			Message: "function " + it.Agg + "(" + typ + ") does not exist",
			Hint:    "No function matches the given name and argument types. You might need to add explicit type casts."}
	}
	cast, err := l.castType(it.AggCast)
	if err != nil {
		return ir.Field{}, err
	}
	agg := &ir.Agg{Func: ir.AggFunc(it.Agg), Cast: cast}
	if len(col.Path) > 0 || col.Cast != "" {
		agg.Input = col
	} else {
		agg.Columns = []string{col.Name}
	}
	name := it.Alias
	if name == "" {
		name = it.Agg
	}
	return ir.Field{Name: name, Value: agg}, nil
}

// checkGroupedEmbed refuses an embed that aggregates and also holds what its groups
// cannot carry: embeds of its own, or an order or page (groups have no rows to
// order).
func checkGroupedEmbed(child *ir.Select) error {
	if !hasAgg(child.Output) {
		return nil
	}
	if err := checkGrouped(child.Output); err != nil {
		return err
	}
	if child.OrderBy != nil || child.Limit != nil || child.Offset != nil {
		return notLowered("order, limit or offset on an embed with aggregates")
	}
	return nil
}
