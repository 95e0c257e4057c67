package rest

import (
	"strconv"
	"strings"
)

// ParseRequest parses one REST request. path is the resource path below the API root
// ("/items", "/rpc/fn", "/"); rawQuery is the undecoded query string. Every literal in
// the result carries the slot a Shaper gives the same value for the same request.
func ParseRequest(method, path string, rawQuery []byte, headers HeaderGetter) (*ApiRequest, error) {
	r, err := parseRequest(method, path, rawQuery, headers)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func parseRequest(method, path string, rawQuery []byte, h HeaderGetter) (*ApiRequest, *Error) {
	r := &ApiRequest{Method: method}
	target, rpc, perr := splitResourcePath(path)
	if perr != nil {
		return nil, perr
	}
	r.Target = target
	if err := r.setAction(rpc); err != nil {
		return nil, err
	}

	slots := 0
	next := func() int { slots++; return slots - 1 }
	var selectSeen, columnsSeen, conflictSeen bool
	var scratch []byte
	for i := 0; i < len(rawQuery); {
		rawName, rawValue, hasEq, nx := nextPair(rawQuery, i)
		i = nx
		if !hasEq {
			continue
		}
		scratch = appendUnescape(scratch[:0], rawName)
		name := string(scratch)
		scratch = appendUnescape(scratch[:0], rawValue)
		value := string(scratch)

		switch kind := paramKind(name, value); kind {
		case kindSelect:
			if selectSeen {
				continue
			}
			selectSeen = true
			if value == "" {
				r.Select = []SelectItem{}
				continue
			}
			sel, err := parseSelect(value)
			if err != nil {
				return nil, err
			}
			r.Select = sel
		case kindColumns:
			if columnsSeen {
				continue
			}
			columnsSeen = true
			cols, err := parseColumns("columns parameter", value)
			if err != nil {
				return nil, err
			}
			r.Columns, r.HasColumns = cols, true
		case kindOnConflict:
			if conflictSeen {
				continue
			}
			conflictSeen = true
			cols, err := parseColumns("on_conflict parameter", value)
			if err != nil {
				return nil, err
			}
			r.OnConflict = cols
		case kindOrder:
			terms, err := parseOrder(value)
			if err != nil {
				return nil, err
			}
			p := splitPath(name)
			replaced := false
			for k := range r.Order {
				if equalPath(r.Order[k].Path, p) {
					r.Order[k].Terms, replaced = terms, true
				}
			}
			if !replaced {
				r.Order = append(r.Order, Order{Path: p, Terms: terms})
			}
		case kindLimit, kindOffset:
			if !allDigits([]byte(value)) {
				if len(value) > 1 && value[0] == '-' && allDigits([]byte(value[1:])) && kind == kindLimit {
					return nil, rangeNotSatisfiable(detailNegativeLimit)
				}
				// PostgREST drops a limit or offset it cannot read and answers every row;
				// a client that asked for a page must learn that it did not get one.
				what := "limit"
				if kind == kindOffset {
					what = "offset"
				}
				return nil, parseError(what+" parameter", value, 0, what+" must be a non-negative integer")
			}
			v := &Value{Slot: next(), Text: value}
			rg := r.rangeAt(splitPath(name))
			if kind == kindLimit {
				rg.Limit = v
			} else {
				rg.Offset = v
			}
		case kindLogic:
			p, neg, op := logicPath(name)
			t, err := parseLogic(op, value, next)
			if err != nil {
				return nil, err
			}
			t.Negate = neg
			r.Logic = append(r.Logic, Logic{Path: p, Tree: t})
		case kindFilter:
			p, f, err := parseTreePath(name)
			if err != nil {
				return nil, err
			}
			e, err := parseFilterValue(value, next)
			if err != nil {
				return nil, err
			}
			r.Filters = append(r.Filters, Filter{Path: p, Field: f, Expr: e})
		case kindArg:
			r.RPCArgs = append(r.RPCArgs, RPCArg{Name: name, Value: Value{Slot: next(), Text: value}})
		}
	}
	if r.Select == nil {
		r.Select = []SelectItem{{Kind: SelectColumn, Star: true, Field: Field{Name: "*"}}}
	}

	if rangeApplies(method) {
		raw := firstHeader(h, HeaderRange)
		lo, up, ok := rangeHeader(raw)
		if !ok && rangeMalformed(raw) {
			return nil, parseError("Range header", string(raw), 0, "a Range header is lower-upper or lower-, with non-negative integers (items=0-9, 10-)")
		}
		if ok {
			if len(up) > 0 && atoi(lo) > atoi(up) {
				return nil, rangeNotSatisfiable("The lower boundary must be lower than or equal to the upper boundary in the Range header.")
			}
			hr := &RangeHeader{Offset: Value{Slot: next(), Text: string(lo)}}
			if len(up) > 0 {
				hr.Limit = &Value{Slot: next(), Text: strconv.FormatInt(atoi(up)-atoi(lo)+1, 10)}
			}
			r.HeaderRange = hr
			if err := r.intersectPage(); err != nil {
				return nil, err
			}
		}
	}
	r.NumValues = slots

	var err *Error
	if r.Prefer, err = parsePrefer(h); err != nil {
		return nil, err
	}
	if r.Accept, err = parseAccept(h, r.Action); err != nil {
		return nil, err
	}
	if hasBody(r) {
		if r.ContentType, err = parseContentType(h, r.Action); err != nil {
			return nil, err
		}
	}
	if isWrite(r) {
		r.Profile = string(firstHeader(h, HeaderContentProfile))
	} else {
		r.Profile = string(firstHeader(h, HeaderAcceptProfile))
	}
	if r.Action == ActionUpsert && len(r.Ranges) > 0 {
		return nil, &Error{Status: 400, Code: CodePutLimit,
			Message: "limit/offset querystring parameters are not allowed for PUT"}
	}
	if err := checkEmbedPaths(r); err != nil {
		return nil, err
	}
	return r, nil
}

// intersectPage sets the root's page to the intersection of the Range header and the
// root's offset and limit parameters, when both are given; limit=0 stays as it is.
func (r *ApiRequest) intersectPage() *Error {
	rg, hr := r.RootRange(), r.HeaderRange
	if rg == nil || hr == nil || (rg.Limit != nil && atoi([]byte(rg.Limit.Text)) == 0) {
		return nil
	}
	count, offset, limit := int64(-1), int64(-1), int64(-1)
	if hr.Limit != nil {
		count = atoi([]byte(hr.Limit.Text))
	}
	if rg.Offset != nil {
		offset = atoi([]byte(rg.Offset.Text))
	}
	if rg.Limit != nil {
		limit = atoi([]byte(rg.Limit.Text))
	}
	off, lim, ok := pageOf(atoi([]byte(hr.Offset.Text)), count, offset, limit)
	if !ok {
		// PostgREST's words for an empty intersection, as for a negative limit.
		return rangeNotSatisfiable(detailNegativeLimit)
	}
	ov, lv := r.Page()
	ov.Text = strconv.FormatInt(off, 10)
	if lim >= 0 {
		lv.Text = strconv.FormatInt(lim, 10)
	}
	return nil
}

func rangeApplies(method string) bool { return method == "GET" || method == "HEAD" }

func hasBody(r *ApiRequest) bool {
	switch r.Action {
	case ActionInsert, ActionUpdate, ActionUpsert:
		return true
	case ActionCall:
		return r.Method == "POST"
	}
	return false
}

func isWrite(r *ApiRequest) bool {
	switch r.Method {
	case "POST", "PATCH", "PUT", "DELETE":
		return true
	}
	return false
}

func (r *ApiRequest) setAction(rpc bool) *Error {
	m := r.Method
	switch {
	case r.Target == "" && !rpc:
		switch m {
		case "GET", "HEAD":
			r.Action = ActionSchema
		case "OPTIONS":
			r.Action = ActionInfo
		default:
			return unsupportedMethod(m)
		}
	case rpc:
		switch m {
		case "GET", "HEAD", "POST":
			r.Action = ActionCall
		case "OPTIONS":
			r.Action = ActionInfo
		case "PATCH", "PUT", "DELETE":
			return &Error{Status: 405, Code: CodeInvalidRPCMethod, Message: "Cannot use the " + m + " method on RPC"}
		default:
			return unsupportedMethod(m)
		}
	default:
		switch m {
		case "GET", "HEAD":
			r.Action = ActionRead
		case "POST":
			r.Action = ActionInsert
		case "PATCH":
			r.Action = ActionUpdate
		case "PUT":
			r.Action = ActionUpsert
		case "DELETE":
			r.Action = ActionDelete
		case "OPTIONS":
			r.Action = ActionInfo
		default:
			return unsupportedMethod(m)
		}
	}
	return nil
}

func unsupportedMethod(m string) *Error {
	return &Error{Status: 405, Code: CodeUnsupportedVerb, Message: "Unsupported HTTP method: " + m}
}

// splitResourcePath returns the table or function name of "/t", "/rpc/f" or "/".
func splitResourcePath(path string) (string, bool, *Error) {
	p := strings.Trim(path, "/")
	if p == "" {
		return "", false, nil
	}
	dec := string(appendUnescapePath(nil, []byte(p)))
	segs := strings.Split(p, "/")
	switch {
	case len(segs) == 1:
		return dec, false, nil
	case len(segs) == 2 && segs[0] == "rpc" && segs[1] != "":
		return string(appendUnescapePath(nil, []byte(segs[1]))), true, nil
	}
	return "", false, &Error{Status: 404, Code: CodeInvalidPath, Message: "Invalid path specified in request URL"}
}

func (r *ApiRequest) rangeAt(p []string) *Range {
	for i := range r.Ranges {
		if equalPath(r.Ranges[i].Path, p) {
			return &r.Ranges[i]
		}
	}
	r.Ranges = append(r.Ranges, Range{Path: p})
	return &r.Ranges[len(r.Ranges)-1]
}

func equalPath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// logicPath splits `a.not.or` into path [a], negation and operator.
func logicPath(key string) ([]string, bool, string) {
	segs := strings.Split(key, ".")
	op := segs[len(segs)-1]
	var path []string
	neg := false
	for _, s := range segs[:len(segs)-1] {
		if s == "not" {
			neg = true
			continue
		}
		path = append(path, s)
	}
	return path, neg, op
}

// checkEmbedPaths rejects filters, orders and ranges on resources the select does not embed.
func checkEmbedPaths(r *ApiRequest) *Error {
	check := func(p []string) *Error {
		items := r.Select
		for _, name := range p {
			found := false
			for i := range items {
				it := &items[i]
				if (it.Kind == SelectEmbed || it.Kind == SelectSpread) && (it.Alias == name || (it.Alias == "" && it.Relation == name)) {
					items, found = it.Children, true
					break
				}
			}
			if !found {
				return &Error{Status: 400, Code: CodeNotEmbedded,
					Message: "'" + name + "' is not an embedded resource in this request",
					Hint:    "Verify that '" + name + "' is included in the 'select' query parameter."}
			}
		}
		return nil
	}
	for _, f := range r.Filters {
		if err := check(f.Path); err != nil {
			return err
		}
	}
	for _, l := range r.Logic {
		if err := check(l.Path); err != nil {
			return err
		}
	}
	for _, o := range r.Order {
		if err := check(o.Path); err != nil {
			return err
		}
	}
	for _, g := range r.Ranges {
		if err := check(g.Path); err != nil {
			return err
		}
	}
	return nil
}

// ---- query string ----

type paramKindT uint8

const (
	kindSelect paramKindT = iota + 1
	kindColumns
	kindOnConflict
	kindOrder
	kindLimit
	kindOffset
	kindLogic
	kindFilter
	kindArg
)

// paramKind classifies a decoded parameter as PostgREST does.
func paramKind(name, value string) paramKindT {
	switch name {
	case "select":
		return kindSelect
	case "columns":
		return kindColumns
	case "on_conflict":
		return kindOnConflict
	}
	last := name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		last = name[i+1:]
	}
	switch last {
	case "order":
		return kindOrder
	case "limit":
		return kindLimit
	case "offset":
		return kindOffset
	case "and", "or":
		return kindLogic
	}
	if strings.IndexByte(name, '.') >= 0 || hasOperator(value) {
		return kindFilter
	}
	return kindArg
}

// nextPair splits the pair starting at i; '&' and ';' separate pairs.
func nextPair(q []byte, i int) (name, value []byte, hasEq bool, next int) {
	j := i
	for j < len(q) && q[j] != '&' && q[j] != ';' {
		j++
	}
	seg := q[i:j]
	next = j + 1
	for k, c := range seg {
		if c == '=' {
			return seg[:k], seg[k+1:], true, next
		}
	}
	return seg, nil, false, next
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// appendUnescape percent-decodes a query component ('+' is a space); malformed
// escapes stay as written.
func appendUnescape(dst, s []byte) []byte {
	return unescape(dst, s, true)
}

func appendUnescapePath(dst, s []byte) []byte {
	return unescape(dst, s, false)
}

func unescape(dst, s []byte, plus bool) []byte {
	clean := true
	for _, c := range s {
		if c == '%' || (c == '+' && plus) {
			clean = false
			break
		}
	}
	if clean {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+' && plus:
			dst = append(dst, ' ')
		case c == '%' && i+2 < len(s):
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				dst = append(dst, h<<4|l)
				i += 2
			} else {
				dst = append(dst, c)
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
