package graphql

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	_ "github.com/vektah/gqlparser/v2/validator/rules" // registers the specified rules

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/planner/ir"
	"github.com/kapok-dev/kapok/planner/sqlgen"
)

// Limits bound what one operation may ask for. Zero fields take DefaultLimits' values,
// except MaxLimit, where zero means no cap.
type Limits struct {
	MaxQueryBytes int // length of the query text
	MaxTokens     int // lexer tokens (parser.ParseQueryWithTokenLimit)
	MaxDepth      int // nesting of selection sets below a root field
	MaxRootFields int // root fields after fragments and directives are applied
	// MaxLimit caps every list's row count: `limit: n` becomes least(n, MaxLimit) and a
	// list without limit gets LIMIT MaxLimit. Zero: no cap (Hasura's behaviour).
	MaxLimit int
	// MaxFields caps the fields of the document once fragments are expanded, and
	// MaxRepeats the copies of one response key in one selection set; both are counted
	// before the document is validated (see checkSize).
	MaxFields  int `json:",omitempty"`
	MaxRepeats int `json:",omitempty"`
	// MaxCost caps a query's estimated row objects (see checkCost). Zero: no cap.
	MaxCost int64 `json:",omitempty"`
	// Deadline, when set, stops a compilation still running at that time.
	Deadline time.Time `json:"-"`
	// StreamCursor compiles a streaming subscription for a server that advances its
	// cursor: the cursor's values get placeholders of their own and every row carries
	// its cursor under planner.CursorKey (see planner.Plan.Stream). Such an operation
	// must have exactly one root field.
	StreamCursor bool `json:"-"`
}

// DefaultLimits are the limits used for zero fields.
func DefaultLimits() Limits {
	return Limits{MaxQueryBytes: 256 << 10, MaxTokens: 20000, MaxDepth: 16, MaxRootFields: 32, MaxFields: 10000, MaxRepeats: 100}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxQueryBytes <= 0 {
		l.MaxQueryBytes = d.MaxQueryBytes
	}
	if l.MaxTokens <= 0 {
		l.MaxTokens = d.MaxTokens
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxRootFields <= 0 {
		l.MaxRootFields = d.MaxRootFields
	}
	if l.MaxFields <= 0 {
		l.MaxFields = d.MaxFields
	}
	if l.MaxRepeats <= 0 {
		l.MaxRepeats = d.MaxRepeats
	}
	return l
}

// Compile parses, validates and compiles one GraphQL operation. variables is the raw
// JSON object of the request's variables (nil or "null" when none); it is read only for
// the variables that shape the SQL (see Plan.KeyVars) and to check the request is
// well-formed — per-request values are bound later by Plan.Bind. Errors are
// *planner.Error.
func Compile(s *gqlschema.Schema, query, operationName string, variables []byte, lim Limits) (p *planner.Plan, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, planner.Errorf(planner.CodeUnexpected, "$", "internal error compiling the query")
		}
	}()
	lim = lim.withDefaults()
	if len(query) > lim.MaxQueryBytes {
		return nil, validationf("$.query", "query is too long: %d bytes, the limit is %d", len(query), lim.MaxQueryBytes)
	}
	doc, perr := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, lim.MaxTokens)
	if perr != nil {
		msg := "not a valid graphql query"
		if ge, ok := perr.(*gqlerror.Error); ok && strings.Contains(ge.Message, "token limit") {
			msg = "query has too many tokens: the limit is " + strconv.Itoa(lim.MaxTokens)
		}
		return nil, validationf("$.query", "%s", msg)
	}
	if err := checkSize(doc, lim); err != nil {
		return nil, err
	}
	if errs := validator.ValidateWithRules(s.AST, doc, nil); len(errs) > 0 {
		e := fromGQLError(errs[0])
		if locs := errs[0].Locations; len(locs) > 0 {
			if p := pathAt(doc, locs[0].Line, locs[0].Column); p != "" {
				e.Path = p
			}
		}
		return nil, e
	}
	if err := expired(lim); err != nil {
		return nil, err
	}
	op, oerr := pickOperation(doc, operationName)
	if oerr != nil {
		return nil, oerr
	}
	c := &compiler{
		s: s, lim: lim, doc: doc, op: op,
		plan:      &planner.Plan{},
		varIdx:    map[string]int{},
		constSlot: map[string]int{},
		varSlot:   map[string]int{},
		keyVars:   map[string]bool{},
		rowsVars:  map[string]bool{},
		noShape:   map[string]bool{},
		inlined:   map[string]bool{},
	}
	if err := c.readVariables(variables); err != nil {
		return nil, err
	}
	// graphql-go is the schema of record: a request it refuses is refused here too,
	// even when gqlparser accepted it (checked after our own variable checks, whose
	// messages are Hasura's).
	// Its meta-schema predates __Schema.description and __Directive.isRepeatable, which the
	// IntrospectionQuery of current GraphiQL and Apollo asks for: documents that introspect
	// are validated by gqlparser alone, whose prelude is current.
	if s.Record != nil && !introspects(doc) {
		if errs := s.Record.ValidateWithVariables(query, c.anyVars); len(errs) > 0 {
			return nil, validationf("$", "%s", errs[0].Message)
		}
	}
	if err := expired(lim); err != nil {
		return nil, err
	}
	if err := c.operation(); err != nil {
		return nil, err
	}
	return c.plan, nil
}

// introspects reports whether any selection of the document, fragments included, is
// __schema or __type.
func introspects(doc *ast.QueryDocument) bool {
	var walk func(ast.SelectionSet) bool
	walk = func(set ast.SelectionSet) bool {
		for _, sel := range set {
			switch x := sel.(type) {
			case *ast.Field:
				if x.Name == "__schema" || x.Name == "__type" || walk(x.SelectionSet) {
					return true
				}
			case *ast.InlineFragment:
				if walk(x.SelectionSet) {
					return true
				}
			}
		}
		return false
	}
	for _, op := range doc.Operations {
		if walk(op.SelectionSet) {
			return true
		}
	}
	for _, f := range doc.Fragments {
		if walk(f.SelectionSet) {
			return true
		}
	}
	return false
}

func pickOperation(doc *ast.QueryDocument, name string) (*ast.OperationDefinition, error) {
	if name == "" {
		if len(doc.Operations) != 1 {
			return nil, validationf("$", "exactly one operation has to be present in the document when operationName is not specified")
		}
		return doc.Operations[0], nil
	}
	op := doc.Operations.ForName(name)
	if op == nil {
		return nil, validationf("$", "no such operation found in the document: %q", name)
	}
	return op, nil
}

type compiler struct {
	s       *gqlschema.Schema
	lim     Limits
	doc     *ast.QueryDocument
	op      *ast.OperationDefinition
	rawVars map[string]json.RawMessage
	coerced map[string]any
	anyVars map[string]any
	plan    *planner.Plan
	varIdx  map[string]int
	params  []planner.Param
	// constSlot / varSlot deduplicate parameters: same constant text and type, or same
	// variable and type, share one placeholder.
	constSlot map[string]int
	varSlot   map[string]int
	keyVars   map[string]bool
	// nullChecked: variables used as comparison operands, with their GraphQL type.
	nullChecked map[string]string
	// shapes: whole insert-input variables (see rowsInput); rowsVars those bound as one
	// json parameter, noShape those whose plan their shape does not determine, and
	// inlined every variable compiled from its value.
	shapes   []planner.VarShape
	rowsVars map[string]bool
	noShape  map[string]bool
	inlined  map[string]bool
	ticks    int
	// cursorSlots and cursorCols: a stream's cursor placeholders and columns (StreamCursor).
	cursorSlots []int
	cursorCols  []string
	slotsOf     [][]int // each statement's placeholder slots
}

// readVariables declares the operation's variables in the plan and keeps the raw JSON of
// the request's values for inlining.
func (c *compiler) readVariables(raw []byte) error {
	c.rawVars = map[string]json.RawMessage{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if err := json.Unmarshal(t, &c.rawVars); err != nil {
			return planner.Errorf(planner.CodeParseFailed, "$", "variables must be a JSON object")
		}
	}
	for _, vd := range c.op.VariableDefinitions {
		v := planner.Var{Name: vd.Variable, NonNull: vd.Type.NonNull}
		t := vd.Type
		for t.Elem != nil {
			v.ListDepth++
			t = t.Elem
		}
		v.TypeName = t.NamedType
		v.ElemNonNull = t.NonNull
		v.Kind = c.scalarKind(t.NamedType)
		if vd.DefaultValue != nil {
			d, err := c.valueJSON(vd.DefaultValue)
			if err != nil {
				return err
			}
			v.Default = d
		}
		c.varIdx[v.Name] = len(c.plan.Vars)
		c.plan.Vars = append(c.plan.Vars, v)
	}
	var extra []string
	for k := range c.rawVars {
		if _, ok := c.varIdx[k]; !ok {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return validationf("$", "unexpected variables in variableValues: %s", strings.Join(extra, ", "))
	}
	// Shape-only checks of every value (types of nested input fields, enums): the same
	// values are checked again, cheaply, by Plan.Bind on every request.
	anyVars := map[string]any{}
	for k, r := range c.rawVars {
		d := json.NewDecoder(bytes.NewReader(r))
		d.UseNumber()
		var x any
		if err := d.Decode(&x); err != nil {
			return planner.Errorf(planner.CodeParseFailed, "$", "variables must be a JSON object")
		}
		anyVars[k] = x
	}
	for _, vd := range c.op.VariableDefinitions {
		x, ok := anyVars[vd.Variable]
		switch {
		case !ok && vd.Type.NonNull && vd.DefaultValue == nil:
			return validationf("$", "expecting a value for non-nullable variable: %q", vd.Variable)
		case ok && x == nil && vd.Type.NonNull:
			return validationf("$", "null value found for non-nullable type: %q", vd.Type.String())
		}
	}
	c.anyVars = anyVars
	coerced, err := validator.VariableValues(c.s.AST, c.op, anyVars)
	c.coerced = coerced
	if err != nil {
		if ge, ok := err.(*gqlerror.Error); ok {
			e := fromGQLError(ge)
			e.Path = "$"
			return e
		}
		return validationf("$", "%s", err.Error())
	}
	return nil
}

func (c *compiler) scalarKind(name string) planner.ScalarKind {
	switch name {
	case "Int":
		return planner.ScalarInt
	case "Float":
		return planner.ScalarFloat
	case "String":
		return planner.ScalarString
	case "Boolean":
		return planner.ScalarBool
	case "ID":
		return planner.ScalarID
	}
	if def := c.s.AST.Types[name]; def != nil {
		switch def.Kind {
		case ast.Enum:
			return planner.ScalarEnum
		case ast.InputObject:
			return planner.ScalarOther
		}
	}
	if sc := c.s.Scalar(name); sc != nil {
		switch sc.Class {
		case gqlschema.ClassNumeric:
			return planner.ScalarNumeric
		case gqlschema.ClassJSON, gqlschema.ClassJSONB:
			return planner.ScalarJSON
		}
	}
	return planner.ScalarString
}

// operation compiles the picked operation into the plan.
func (c *compiler) operation() error {
	rootType := "query_root"
	switch c.op.Operation {
	case ast.Mutation:
		c.plan.Kind = planner.KindMutation
		return c.mutation()
	case ast.Subscription:
		rootType = "subscription_root"
		c.plan.Subscription = true
	}
	fields, err := c.collect(c.op.SelectionSet)
	if err != nil {
		return err
	}
	if len(fields) > c.lim.MaxRootFields {
		return validationf("$.selectionSet", "too many root fields: %d, the limit is %d", len(fields), c.lim.MaxRootFields)
	}
	q := &ir.Query{}
	sqlNeeded := false
	for _, of := range fields {
		f := of.fields[0]
		path := "$.selectionSet." + of.key
		var v ir.Value
		switch f.Name {
		case "__typename":
			v = &ir.Literal{Param: *c.constParam("text", []byte(rootType), false)}
		case "__schema", "__type":
			data, err := c.introspect(of)
			if err != nil {
				return err
			}
			v = &ir.Literal{Param: *c.constParam("json", data, false)}
		default:
			rf := c.s.QueryField(f.Name)
			if rf == nil && c.op.Operation == ast.Subscription {
				rf = c.s.SubscriptionField(f.Name)
			}
			if rf == nil {
				return validationf(path, "field '%s' not found in type: '%s'", f.Name, rootType)
			}
			sel, err := c.rootSelect(rf, of, path)
			if err != nil {
				return err
			}
			v = &ir.Nested{Select: sel}
			sqlNeeded = true
		}
		q.Roots = append(q.Roots, ir.Root{Name: of.key, Value: v})
	}
	c.finishKeyVars()
	if err := c.checkCost(q); err != nil {
		return err
	}
	if !sqlNeeded {
		c.plan.Data = c.staticData(q)
		return nil
	}
	c.plan.RoleOnly = ir.RoleOnly(q, c.s.Catalog)
	if len(c.cursorSlots) > 0 && len(q.Roots) != 1 {
		return validationf("$", "a streaming subscription must have exactly one root field")
	}
	if len(q.Roots) == 1 {
		// One root field: the statement returns its value (or rows), and the front door
		// writes {"data":{"<key>": …}} around it.
		q.Bare, q.Rows = true, true
		if err := c.addStatement(q, q.Roots[0].Name); err != nil {
			return err
		}
		c.streamPlaceholders()
		return nil
	}
	return c.addStatement(q, "")
}

// staticData renders a query made only of literals (introspection, __typename) as JSON.
func (c *compiler) staticData(q *ir.Query) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, r := range q.Roots {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(r.Name)
		b.Write(k)
		b.WriteByte(':')
		p := c.params[r.Value.(*ir.Literal).Param.Slot]
		if p.Const == nil {
			b.WriteString("null")
		} else if r.Value.(*ir.Literal).Param.Type == "json" {
			b.Write(p.Const)
		} else {
			s, _ := json.Marshal(string(p.Const))
			b.Write(s)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

func (c *compiler) finishKeyVars() {
	c.plan.KeyVars = c.plan.KeyVars[:0]
	for k := range c.keyVars {
		c.plan.KeyVars = append(c.plan.KeyVars, k)
	}
	sort.Strings(c.plan.KeyVars)
	if len(c.plan.KeyVars) == 0 {
		c.plan.KeyVars = nil
	}
	// A variable's shape keys the plan only when that is all the plan took from it:
	// not when it was also compiled from its value as rows, nor used twice.
	c.plan.Shapes = nil
	uses := map[string]int{}
	for _, s := range c.shapes {
		uses[s.Var]++
	}
	for _, s := range c.shapes {
		if uses[s.Var] == 1 && c.keyVars[s.Var] && !c.noShape[s.Var] && !(c.rowsVars[s.Var] && c.inlined[s.Var]) {
			c.plan.Shapes = append(c.plan.Shapes, s)
		}
	}
}

func (c *compiler) addStatement(q *ir.Query, key string) error {
	st, err := sqlgen.Build(q)
	if err != nil {
		return planner.Errorf(planner.CodeUnexpected, "$", "%v", err)
	}
	c.plan.Statements = append(c.plan.Statements, planner.Statement{SQL: st.SQL, ResponseKey: key, Params: c.paramsOf(st.Slots), Result: st.Result})
	c.slotsOf = append(c.slotsOf, st.Slots)
	return nil
}

// streamPlaceholders records where a stream's cursor values went (Plan.Stream).
func (c *compiler) streamPlaceholders() {
	if len(c.cursorSlots) == 0 {
		return
	}
	st := &planner.Stream{Columns: c.cursorCols}
	for _, slot := range c.cursorSlots {
		for i, s := range c.slotsOf[0] {
			if s == slot {
				st.Placeholders = append(st.Placeholders, i)
				break
			}
		}
	}
	if len(st.Placeholders) == len(st.Columns) {
		c.plan.Stream = st
	}
}

// paramsOf lists the parameter sources of a statement's placeholders.
func (c *compiler) paramsOf(slots []int) []planner.Param {
	ps := make([]planner.Param, len(slots))
	for i, s := range slots {
		ps[i] = c.params[s]
		if p := &ps[i]; p.Var >= 0 {
			if typ, ok := c.nullChecked[c.plan.Vars[p.Var].Name]; ok {
				p.RejectNull, p.NullType = true, typ
			}
		}
	}
	return ps
}

// constParam is a parameter holding text from the query document (or the schema).
func (c *compiler) constParam(typ string, text []byte, null bool) *ir.Param {
	k := typ + "\x00"
	if null {
		k += "\x01"
	} else {
		k += "\x02" + string(text)
	}
	if s, ok := c.constSlot[k]; ok {
		return &ir.Param{Slot: s, Type: typ}
	}
	s := len(c.params)
	p := planner.Param{Var: -1, Type: typ}
	if !null {
		p.Const = append([]byte{}, text...)
		if p.Const == nil {
			p.Const = []byte{}
		}
	}
	c.params = append(c.params, p)
	c.constSlot[k] = s
	return &ir.Param{Slot: s, Type: typ}
}

// varParam is a parameter bound from variable name on every request.
func (c *compiler) varParam(name, typ string) (*ir.Param, error) {
	i, ok := c.varIdx[name]
	if !ok {
		return nil, validationf("$", "unbound variable %q", name)
	}
	k := typ + "\x00" + name
	if s, ok := c.varSlot[k]; ok {
		return &ir.Param{Slot: s, Type: typ}, nil
	}
	s := len(c.params)
	c.params = append(c.params, planner.Param{Var: i, Type: typ})
	c.varSlot[k] = s
	return &ir.Param{Slot: s, Type: typ}, nil
}
