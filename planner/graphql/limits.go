package graphql

import (
	"math"
	"strconv"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/ir"
)

// unboundedRows is the row estimate of a list without a limit when no MaxLimit caps it.
const unboundedRows = 10000

// checkSize bounds what a document expands to before anything expands it. Fragment
// spreads multiply: ten spreads per fragment over seven fragments is a 600-byte query
// of ten million fields, and both validators and the compiler walk the expansion (the
// overlapping-fields rule is quadratic in the copies of one response key). So the
// expanded size of every fragment is counted once, by memoised counting over the
// fragment graph, and the document is refused when an operation or a fragment expands
// past MaxFields, or a selection set holds one response key more than MaxRepeats times.
func checkSize(doc *ast.QueryDocument, lim Limits) error {
	sc := &sizeCounter{doc: doc, lim: lim, frags: map[string]*fragSize{}}
	total := 0
	for _, op := range doc.Operations {
		n, _, err := sc.set(op.SelectionSet, true)
		if err != nil {
			return err
		}
		total = satAdd(total, n)
		if total > lim.MaxFields {
			return sc.tooBig()
		}
	}
	// Unused fragments are refused later, but the validators walk them first.
	for _, f := range doc.Fragments {
		fs, err := sc.fragment(f.Name)
		if err != nil {
			return err
		}
		if err := sc.repeats(fs.keys); err != nil {
			return err
		}
	}
	return nil
}

type sizeCounter struct {
	doc   *ast.QueryDocument
	lim   Limits
	frags map[string]*fragSize
}

// fragSize is a fragment's expanded field count and the response keys it puts in the
// selection set it is spread into, with their multiplicity.
type fragSize struct {
	size     int
	keys     map[string]int
	counting bool
}

func (sc *sizeCounter) tooBig() error {
	return validationf("$", "the query selects more than %d fields once fragments are expanded, which is the limit", sc.lim.MaxFields)
}

// fragment returns the memoised size of the named fragment. An unknown fragment or a
// cycle counts as empty: the validator that runs next reports them.
func (sc *sizeCounter) fragment(name string) (*fragSize, error) {
	if fs := sc.frags[name]; fs != nil {
		if fs.counting {
			return &fragSize{}, nil
		}
		return fs, nil
	}
	def := sc.doc.Fragments.ForName(name)
	if def == nil {
		return &fragSize{}, nil
	}
	fs := &fragSize{counting: true}
	sc.frags[name] = fs
	n, keys, err := sc.set(def.SelectionSet, false)
	if err != nil {
		return nil, err
	}
	fs.size, fs.keys, fs.counting = n, keys, false
	return fs, nil
}

// set counts the fields under one selection set, fragments expanded, and checks the
// multiplicity of its response keys. check is false for a fragment's own set, whose
// keys are checked in each set it is spread into.
func (sc *sizeCounter) set(set ast.SelectionSet, check bool) (int, map[string]int, error) {
	n := 0
	keys := map[string]int{}
	var level func(ast.SelectionSet) error
	level = func(set ast.SelectionSet) error {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				sub, _, err := sc.set(s.SelectionSet, true)
				if err != nil {
					return err
				}
				n = satAdd(n, satAdd(1, sub))
				key := s.Alias
				if key == "" {
					key = s.Name
				}
				keys[key]++
			case *ast.InlineFragment:
				if err := level(s.SelectionSet); err != nil {
					return err
				}
			case *ast.FragmentSpread:
				fs, err := sc.fragment(s.Name)
				if err != nil {
					return err
				}
				n = satAdd(n, fs.size)
				if n > sc.lim.MaxFields {
					return sc.tooBig()
				}
				// Merging costs at most the fragment's size, which n now includes.
				for k, c := range fs.keys {
					keys[k] = satAdd(keys[k], c)
				}
			}
			if n > sc.lim.MaxFields {
				return sc.tooBig()
			}
		}
		return nil
	}
	if err := level(set); err != nil {
		return 0, nil, err
	}
	if check {
		if err := sc.repeats(keys); err != nil {
			return 0, nil, err
		}
	}
	return n, keys, nil
}

func (sc *sizeCounter) repeats(keys map[string]int) error {
	for k, c := range keys {
		if c > sc.lim.MaxRepeats {
			return validationf("$", "the field %q is selected %d times in one selection set once fragments are expanded, the limit is %d",
				k, c, sc.lim.MaxRepeats)
		}
	}
	return nil
}

// satAdd adds non-negative counts, saturating instead of overflowing.
func satAdd(a, b int) int {
	if a > math.MaxInt/2-b {
		return math.MaxInt / 2
	}
	return a + b
}

// checkCost refuses a query whose estimated cost exceeds MaxCost. The cost is the
// number of row objects the statement may build: every list multiplies its parent's
// rows by its own estimate (its constant `limit`, else MaxLimit, else unboundedRows);
// objects (by_pk, object relationships) and aggregates count one row each.
func (c *compiler) checkCost(q *ir.Query) error {
	if c.lim.MaxCost <= 0 {
		return nil
	}
	var cost int64
	for _, r := range q.Roots {
		if n, ok := r.Value.(*ir.Nested); ok {
			cost = satAdd64(cost, ir.Cost(n.Select, 1, c.rowEstimate))
		}
	}
	if cost > c.lim.MaxCost {
		return validationf("$", "the query is too expensive: its estimated cost is %s rows, the limit is %d; add limits to its lists",
			costText(cost), c.lim.MaxCost)
	}
	return nil
}

func costText(n int64) string {
	if n >= math.MaxInt64/2 {
		return "more than " + strconv.FormatInt(math.MaxInt64/2, 10)
	}
	return strconv.FormatInt(n, 10)
}

func satAdd64(a, b int64) int64 {
	if a > math.MaxInt64/2-b {
		return math.MaxInt64 / 2
	}
	return a + b
}

// rowEstimate reads a list's limit: a constant from the document, the smaller of
// least()'s arguments, or, for a variable, the cap every value is held to.
func (c *compiler) rowEstimate(limit ir.Expr) int64 {
	def := int64(unboundedRows)
	if c.lim.MaxLimit > 0 {
		def = int64(c.lim.MaxLimit)
	}
	var read func(ir.Expr) int64
	read = func(e ir.Expr) int64 {
		switch x := e.(type) {
		case *ir.Param:
			if x.Slot >= 0 && x.Slot < len(c.params) && c.params[x.Slot].Var < 0 {
				if v, err := strconv.ParseInt(string(c.params[x.Slot].Const), 10, 64); err == nil && v >= 0 {
					return v
				}
			}
		case *ir.Func:
			if x.Name == "least" {
				m := def
				for _, a := range x.Args {
					m = min(m, read(a))
				}
				return m
			}
		}
		return def
	}
	if limit == nil {
		return def
	}
	return read(limit)
}

// tick checks the compile deadline. It is called once per selection set compiled, so a
// pathological document stops at the deadline instead of running on.
func (c *compiler) tick() error {
	if c.lim.Deadline.IsZero() {
		return nil
	}
	c.ticks++
	if c.ticks&63 != 0 {
		return nil
	}
	if time.Now().After(c.lim.Deadline) {
		return errCompileTimeout
	}
	return nil
}

// expired checks the deadline between the stages of a compilation.
func expired(lim Limits) error {
	if !lim.Deadline.IsZero() && time.Now().After(lim.Deadline) {
		return errCompileTimeout
	}
	return nil
}

var errCompileTimeout = planner.Errorf(planner.CodeUnexpected, "$", "request timed out while compiling the query")
