package rest

// Action is what a request does to its target.
type Action uint8

const (
	ActionRead   Action = iota + 1 // GET / HEAD on a table or view
	ActionInsert                   // POST on a table or view
	ActionUpdate                   // PATCH
	ActionUpsert                   // PUT (single-row upsert by primary key)
	ActionDelete                   // DELETE
	ActionCall                     // GET / HEAD / POST on rpc/<function>
	ActionInfo                     // OPTIONS
	ActionSchema                   // GET / HEAD on the root: the API document
)

// Value is one literal of the request. Slot is its index in the values a Shaper
// extracts from the same request; a compiled plan binds values[Slot] on a cache hit.
// Text is the bind-ready text (an in-list is already a Postgres array literal, a
// like pattern already has * turned into %).
type Value struct {
	Slot int
	Text string
}

// JSONOp is one step of a JSON path: -> (Text false) or ->> (Text true), by key or index.
type JSONOp struct {
	Text  bool
	Key   string
	Index bool // Key is a (possibly negative) integer index
}

// Field is a column with an optional JSON path (`data->a->>b`).
type Field struct {
	Name string
	JSON []JSONOp
}

// JoinType is the join an embed asks for.
type JoinType uint8

const (
	JoinDefault JoinType = iota // left, unless the embed is filtered with !inner
	JoinLeft
	JoinInner
)

// SelectKind distinguishes select items.
type SelectKind uint8

const (
	SelectColumn SelectKind = iota + 1 // a column, `*`, a JSON path, an aggregate over a column
	SelectCount                        // the bare count() aggregate
	SelectEmbed                        // rel(...)
	SelectSpread                       // ...rel(...)
)

// SelectItem is one node of the select tree.
type SelectItem struct {
	Kind  SelectKind
	Alias string
	// Column items.
	Field     Field
	Star      bool
	Cast      string // ::cast on the column (input of an aggregate)
	Agg       string // sum, avg, max, min, count; "" when none
	AggCast   string // ::cast on the aggregate result
	CountCast string
	// Embeds and spreads.
	Relation string
	Hint     string
	Join     JoinType
	Children []SelectItem
}

// Operator names a filter operator as it appears in the URL.
type Operator string

// Quantifier is the any/all modifier of eq(any), like(all), ...
type Quantifier uint8

const (
	QuantNone Quantifier = iota
	QuantAny
	QuantAll
)

// OpExpr is the right side of a filter: [not.]op[(any|all)|(lang)].value.
type OpExpr struct {
	Negate bool
	Op     Operator // eq neq gt gte lt lte like ilike match imatch in is isdistinct fts plfts phfts wfts cs cd ov sl sr nxr nxl adj
	Quant  Quantifier
	// Lang is the text search configuration of fts operators, "" when absent.
	Lang string
	// Is holds the operand of `is`: null, true, false or unknown (lower case).
	Is string
	// Value is the operand of every operator but `is`. For `in` it is an array literal
	// and List holds the elements.
	Value Value
	List  []string
}

// Filter is `path.col=opexpr`.
type Filter struct {
	Path  []string // embed path; empty for the root
	Field Field
	Expr  OpExpr
}

// LogicTree is an and/or tree (Filter set for a leaf).
type LogicTree struct {
	Negate   bool
	Or       bool
	Children []LogicTree
	Leaf     *Filter
}

// Logic is an `or=`/`and=` parameter at an embed path.
type Logic struct {
	Path []string
	Tree LogicTree
}

// OrderTerm is one term of `order=`; Relation is set for `rel(col)` terms.
type OrderTerm struct {
	Relation   string
	Field      Field
	Desc       bool
	Dir        bool // a direction was given
	NullsFirst bool
	Nulls      bool // a nulls order was given
}

// Order is an `order=` parameter at an embed path.
type Order struct {
	Path  []string
	Terms []OrderTerm
}

// Range is `limit`/`offset` at an embed path (Path empty for the root).
type Range struct {
	Path   []string
	Limit  *Value
	Offset *Value
}

// RPCArg is a query parameter of GET rpc/<fn> that is not a filter.
type RPCArg struct {
	Name  string
	Value Value
}

// ApiRequest is a parsed REST request, before it is resolved against a catalog.
type ApiRequest struct {
	Method string
	Action Action
	// Target is the table, view or function name ("" for the root document).
	Target string
	// Profile is the schema asked for by Accept-Profile (reads) or Content-Profile
	// (writes); "" means the tenant's default schema. See ResolveSchema.
	Profile string

	Select     []SelectItem
	Filters    []Filter
	Logic      []Logic
	Order      []Order
	Ranges     []Range
	Columns    []string
	HasColumns bool
	OnConflict []string
	RPCArgs    []RPCArg
	// HeaderRange is the Range header, when valid; its bounds are values.
	HeaderRange *RangeHeader

	Prefer      Preferences
	Accept      MediaType
	ContentType MediaType
	// NumValues is how many values the request binds (the Shaper's len(values)).
	NumValues int
}

// RangeHeader is `Range: lower-upper` as bind-ready values: Offset is lower and Limit
// is upper-lower+1 (nil when the range is open-ended).
type RangeHeader struct {
	Offset Value
	Limit  *Value
}

// Page returns the values of the root's offset and limit, nil where there is none: the
// root's offset and limit parameters where given, else the Range header's bounds. With
// both, parse has set them to the intersection of the two (pageOf), and the Shaper the
// values it binds.
func (r *ApiRequest) Page() (offset, limit *Value) {
	if hr := r.HeaderRange; hr != nil {
		offset, limit = &hr.Offset, hr.Limit
	}
	if rg := r.RootRange(); rg != nil {
		if rg.Offset != nil {
			offset = rg.Offset
		}
		if rg.Limit != nil {
			limit = rg.Limit
		}
	}
	return offset, limit
}

// pageOf is the page a Range header (its lower bound and item count, count -1 when it is
// open-ended) and the root's offset and limit parameters (-1 when absent; limit > 0)
// ask for together: PostgREST serves the intersection of the two ranges. It returns its
// offset and limit (-1: unbounded), ok false when it is empty, which PostgREST answers
// with 416.
func pageOf(lower, count, offset, limit int64) (off, lim int64, ok bool) {
	off, lim = max(lower, offset, 0), -1
	end, bounded := int64(0), false // the last item
	if count >= 0 {
		end, bounded = lower+count-1, true
	}
	if limit >= 0 {
		if e := max(offset, 0) + limit - 1; !bounded || e < end {
			end, bounded = e, true
		}
	}
	if !bounded {
		return off, -1, true
	}
	if end < off {
		return 0, 0, false
	}
	return off, end - off + 1, true
}

// RootRange returns the limit/offset parameters of the root level, or nil.
func (r *ApiRequest) RootRange() *Range {
	for i := range r.Ranges {
		if len(r.Ranges[i].Path) == 0 {
			return &r.Ranges[i]
		}
	}
	return nil
}

// ResolveSchema returns the schema the request targets given the tenant's exposed
// schemas (the first is the default, also named by the profile public when no exposed
// schema is called public); PGRST106 when the profile is not exposed.
func (r *ApiRequest) ResolveSchema(exposed []string) (string, error) {
	if r.Profile == "" {
		if len(exposed) == 0 {
			return "", nil
		}
		return exposed[0], nil
	}
	for _, s := range exposed {
		if s == r.Profile {
			return s, nil
		}
	}
	if r.Profile == "public" && len(exposed) > 0 {
		// supabase-js sends the profile public unless told otherwise: it names the
		// tenant's default schema, whatever that schema is called.
		return exposed[0], nil
	}
	msg := "The schema must be one of the following: "
	for i, s := range exposed {
		if i > 0 {
			msg += ", "
		}
		msg += s
	}
	return "", &Error{Status: 406, Code: CodeSchema, Message: msg}
}
