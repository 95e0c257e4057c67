package rest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

type hdrs map[string][]string

func (h hdrs) PeekAll(name string) [][]byte {
	var out [][]byte
	for _, v := range h[name] {
		out = append(out, []byte(v))
	}
	return out
}

func mustParse(t *testing.T, method, path, q string, h hdrs) *ApiRequest {
	t.Helper()
	r, err := ParseRequest(method, path, []byte(q), h)
	if err != nil {
		t.Fatalf("ParseRequest(%s %s?%s): %v", method, path, q, err)
	}
	checkSlots(t, method, path, q, h, r)
	return r
}

// checkSlots asserts the Shaper's values bind every Value of the parsed request.
func checkSlots(t testing.TB, method, path, q string, h hdrs, r *ApiRequest) {
	t.Helper()
	var s Shaper
	var hg HeaderGetter
	if h != nil {
		hg = h
	}
	_, vals := s.Shape([]byte(method), []byte(path), []byte(q), hg, nil, nil)
	if len(vals) != r.NumValues {
		t.Fatalf("%s?%s: shaper found %d values, parser %d", path, q, len(vals), r.NumValues)
	}
	r.Values(func(v Value) {
		if v.Slot >= len(vals) || string(vals[v.Slot]) != v.Text {
			t.Fatalf("%s?%s: slot %d: parser %q, shaper %q", path, q, v.Slot, v.Text, vals)
		}
	})
}

func col(name string) SelectItem { return SelectItem{Kind: SelectColumn, Field: Field{Name: name}} }

var star = SelectItem{Kind: SelectColumn, Star: true, Field: Field{Name: "*"}}

func TestSelectGrammarFollowsPostgRESTExamples(t *testing.T) {
	cases := []struct {
		name, sel string
		want      []SelectItem
	}{
		{"plain columns", "id,name", []SelectItem{col("id"), col("name")}},
		{"star", "*", []SelectItem{star}},
		{"alias", "fullName:full_name,birthDate:birth_date", []SelectItem{
			{Kind: SelectColumn, Alias: "fullName", Field: Field{Name: "full_name"}},
			{Kind: SelectColumn, Alias: "birthDate", Field: Field{Name: "birth_date"}}}},
		{"cast", "full_name,salary::text", []SelectItem{col("full_name"), {Kind: SelectColumn, Field: Field{Name: "salary"}, Cast: "text"}}},
		{"json paths", "id,json_data->>blood_type,json_data->phones", []SelectItem{col("id"),
			{Kind: SelectColumn, Field: Field{Name: "json_data", JSON: []JSONOp{{Text: true, Key: "blood_type"}}}},
			{Kind: SelectColumn, Field: Field{Name: "json_data", JSON: []JSONOp{{Key: "phones"}}}}}},
		{"json index and alias", "id,primary:json_data->phones->0->>number", []SelectItem{col("id"),
			{Kind: SelectColumn, Alias: "primary", Field: Field{Name: "json_data", JSON: []JSONOp{{Key: "phones"}, {Key: "0", Index: true}, {Text: true, Key: "number"}}}}}},
		{"negative json index", "data->-1", []SelectItem{{Kind: SelectColumn, Field: Field{Name: "data", JSON: []JSONOp{{Key: "-1", Index: true}}}}}},
		{"embed", "title,directors(id,last_name)", []SelectItem{col("title"),
			{Kind: SelectEmbed, Relation: "directors", Children: []SelectItem{col("id"), col("last_name")}}}},
		{"aliased embed with hint", "central_addresses:addresses!billing_address_id(name)", []SelectItem{
			{Kind: SelectEmbed, Alias: "central_addresses", Relation: "addresses", Hint: "billing_address_id", Children: []SelectItem{col("name")}}}},
		{"inner join", "title,actors!inner(first_name)", []SelectItem{col("title"),
			{Kind: SelectEmbed, Relation: "actors", Join: JoinInner, Children: []SelectItem{col("first_name")}}}},
		{"hint and inner in either order", "a:rel!inner!fk(*),rel!fk!left(*)", []SelectItem{
			{Kind: SelectEmbed, Alias: "a", Relation: "rel", Hint: "fk", Join: JoinInner, Children: []SelectItem{star}},
			{Kind: SelectEmbed, Relation: "rel", Hint: "fk", Join: JoinLeft, Children: []SelectItem{star}}}},
		{"empty embeds", "title,actors!inner(),directors( ),...studios()", []SelectItem{col("title"),
			{Kind: SelectEmbed, Relation: "actors", Join: JoinInner},
			{Kind: SelectEmbed, Relation: "directors"},
			{Kind: SelectSpread, Relation: "studios"}}},
		{"nested embeds", "*,client(*,nested(*))", []SelectItem{star,
			{Kind: SelectEmbed, Relation: "client", Children: []SelectItem{star, {Kind: SelectEmbed, Relation: "nested", Children: []SelectItem{star}}}}}},
		{"spread", "title,...directors(director_last_name:last_name)", []SelectItem{col("title"),
			{Kind: SelectSpread, Relation: "directors", Children: []SelectItem{{Kind: SelectColumn, Alias: "director_last_name", Field: Field{Name: "last_name"}}}}}},
		{"aggregates", "amount.sum(),amount.avg(),order_date,count()", []SelectItem{
			{Kind: SelectColumn, Field: Field{Name: "amount"}, Agg: "sum"},
			{Kind: SelectColumn, Field: Field{Name: "amount"}, Agg: "avg"},
			col("order_date"), {Kind: SelectCount}}},
		{"aggregate casts and aliases", "total:amount::int.sum()::text,n:count()::int", []SelectItem{
			{Kind: SelectColumn, Alias: "total", Field: Field{Name: "amount"}, Cast: "int", Agg: "sum", AggCast: "text"},
			{Kind: SelectCount, Alias: "n", CountCast: "int"}}},
		{"quoted names", `"my col","a,b":x`, []SelectItem{col("my col"), {Kind: SelectColumn, Alias: "a,b", Field: Field{Name: "x"}}}},
		{"dashes and spaces", " first-name , last name ", []SelectItem{col("first-name"), col("last name")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseSelect(c.sel)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("select=%s\n got %+v\nwant %+v", c.sel, got, c.want)
			}
		})
	}
}

func TestMalformedSelectIsPGRST100(t *testing.T) {
	for _, sel := range []string{"id,,name", "id,clients(name[])", "name!hint", "*!hint", "name::", "rel(", "rel(id", "rel(,)", "rel()x", "id)", "data->>--34", "a.foo()", "a.sum(", `"unterminated`} {
		t.Run(sel, func(t *testing.T) {
			_, err := ParseRequest("GET", "/t", []byte("select="+sel), nil)
			var e *Error
			if !errors.As(err, &e) || e.Code != "PGRST100" || e.Status != 400 ||
				!strings.HasPrefix(e.Message, `"failed to parse select parameter (`+sel+`)" (line 1, column `) {
				t.Fatalf("got %#v", err)
			}
		})
	}
}

func TestFiltersCoverEveryOperator(t *testing.T) {
	cases := []struct {
		q    string
		path []string
		fld  Field
		want OpExpr
	}{
		{"age=gte.18", nil, Field{Name: "age"}, OpExpr{Op: "gte", Value: Value{Text: "18"}}},
		{"name=eq.a.b.c", nil, Field{Name: "name"}, OpExpr{Op: "eq", Value: Value{Text: "a.b.c"}}},
		{"a=neq.1", nil, Field{Name: "a"}, OpExpr{Op: "neq", Value: Value{Text: "1"}}},
		{"a=gt.1", nil, Field{Name: "a"}, OpExpr{Op: "gt", Value: Value{Text: "1"}}},
		{"a=lt.1", nil, Field{Name: "a"}, OpExpr{Op: "lt", Value: Value{Text: "1"}}},
		{"a=lte.1", nil, Field{Name: "a"}, OpExpr{Op: "lte", Value: Value{Text: "1"}}},
		{"last_name=like.O*", nil, Field{Name: "last_name"}, OpExpr{Op: "like", Value: Value{Text: "O%"}}},
		{"last_name=ilike.*o*", nil, Field{Name: "last_name"}, OpExpr{Op: "ilike", Value: Value{Text: "%o%"}}},
		{"n=match.^J.*n$", nil, Field{Name: "n"}, OpExpr{Op: "match", Value: Value{Text: "^J.*n$"}}},
		{"n=imatch.^j", nil, Field{Name: "n"}, OpExpr{Op: "imatch", Value: Value{Text: "^j"}}},
		{"id=in.(1,2,3)", nil, Field{Name: "id"}, OpExpr{Op: "in", List: []string{"1", "2", "3"}, Value: Value{Text: `{"1","2","3"}`}}},
		{`name=in.("Hi,there","yes\"no",x)`, nil, Field{Name: "name"}, OpExpr{Op: "in", List: []string{"Hi,there", `yes"no`, "x"}, Value: Value{Text: `{"Hi,there","yes\"no","x"}`}}},
		{"id=in.()", nil, Field{Name: "id"}, OpExpr{Op: "in", List: []string{}, Value: Value{Text: "{}"}}},
		{"id=not.in.(1,2)", nil, Field{Name: "id"}, OpExpr{Negate: true, Op: "in", List: []string{"1", "2"}, Value: Value{Text: `{"1","2"}`}}},
		{"a=is.null", nil, Field{Name: "a"}, OpExpr{Op: "is", Is: "null"}},
		{"a=is.TRUE", nil, Field{Name: "a"}, OpExpr{Op: "is", Is: "true"}},
		{"a=not.is.unknown", nil, Field{Name: "a"}, OpExpr{Negate: true, Op: "is", Is: "unknown"}},
		{"a=isdistinct.5", nil, Field{Name: "a"}, OpExpr{Op: "isdistinct", Value: Value{Text: "5"}}},
		{"my_tsv=fts(french).amusant", nil, Field{Name: "my_tsv"}, OpExpr{Op: "fts", Lang: "french", Value: Value{Text: "amusant"}}},
		{"my_tsv=plfts.The Fat Cats", nil, Field{Name: "my_tsv"}, OpExpr{Op: "plfts", Value: Value{Text: "The Fat Cats"}}},
		{"my_tsv=not.phfts(english).fat cats", nil, Field{Name: "my_tsv"}, OpExpr{Negate: true, Op: "phfts", Lang: "english", Value: Value{Text: "fat cats"}}},
		{"my_tsv=wfts.\"fat\" -rat", nil, Field{Name: "my_tsv"}, OpExpr{Op: "wfts", Value: Value{Text: "\"fat\" -rat"}}},
		{"tags=cs.{example,new}", nil, Field{Name: "tags"}, OpExpr{Op: "cs", Value: Value{Text: "{example,new}"}}},
		{"values=cd.{1,2,3}", nil, Field{Name: "values"}, OpExpr{Op: "cd", Value: Value{Text: "{1,2,3}"}}},
		{"period=ov.[2017-01-01,2017-06-30]", nil, Field{Name: "period"}, OpExpr{Op: "ov", Value: Value{Text: "[2017-01-01,2017-06-30]"}}},
		{"range=sl.(1,10)", nil, Field{Name: "range"}, OpExpr{Op: "sl", Value: Value{Text: "(1,10)"}}},
		{"range=sr.(1,10)", nil, Field{Name: "range"}, OpExpr{Op: "sr", Value: Value{Text: "(1,10)"}}},
		{"range=nxr.(1,10)", nil, Field{Name: "range"}, OpExpr{Op: "nxr", Value: Value{Text: "(1,10)"}}},
		{"range=nxl.(1,10)", nil, Field{Name: "range"}, OpExpr{Op: "nxl", Value: Value{Text: "(1,10)"}}},
		{"range=adj.(1,10)", nil, Field{Name: "range"}, OpExpr{Op: "adj", Value: Value{Text: "(1,10)"}}},
		{"last_name=like(any).{O*,P*}", nil, Field{Name: "last_name"}, OpExpr{Op: "like", Quant: QuantAny, Value: Value{Text: "{O%,P%}"}}},
		{"id=eq(all).{1,2}", nil, Field{Name: "id"}, OpExpr{Op: "eq", Quant: QuantAll, Value: Value{Text: "{1,2}"}}},
		{"json_data->>blood_type=eq.A-", nil, Field{Name: "json_data", JSON: []JSONOp{{Text: true, Key: "blood_type"}}}, OpExpr{Op: "eq", Value: Value{Text: "A-"}}},
		{"json_data->age=gt.20", nil, Field{Name: "json_data", JSON: []JSONOp{{Key: "age"}}}, OpExpr{Op: "gt", Value: Value{Text: "20"}}},
		{"select=*,roles(*)&roles.character=in.(Chico,Harpo)", []string{"roles"}, Field{Name: "character"}, OpExpr{Op: "in", List: []string{"Chico", "Harpo"}, Value: Value{Text: `{"Chico","Harpo"}`}}},
		{"a=eq.x%26y%3Dz+w", nil, Field{Name: "a"}, OpExpr{Op: "eq", Value: Value{Text: "x&y=z w"}}},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			r := mustParse(t, "GET", "/t", c.q, nil)
			if len(r.Filters) != 1 {
				t.Fatalf("filters: %+v", r.Filters)
			}
			f := r.Filters[0]
			f.Expr.Value.Slot = 0
			if !reflect.DeepEqual(f.Field, c.fld) || !reflect.DeepEqual(f.Expr, c.want) || len(f.Path) != len(c.path) {
				t.Fatalf("got %+v %+v, want %+v %+v", f.Field, f.Expr, c.fld, c.want)
			}
		})
	}
}

func TestMalformedFiltersArePGRST100(t *testing.T) {
	cases := map[string]string{
		"a.b=noop.0":                  `"failed to parse filter (noop.0)" (line 1, column 6)`,
		"a=in.1,2":                    `"failed to parse filter (in.1,2)"`,
		"a=in.(1,2":                   `"failed to parse filter (in.(1,2)"`,
		"a=is.maybe":                  `"failed to parse filter (is.maybe)"`,
		"a=fts(x.y":                   `"failed to parse filter (fts(x.y)"`,
		"rel.a=eq(some).1":            `"failed to parse filter (eq(some).1)"`,
		"rel.a=cs(any).{1}":           `"failed to parse filter (cs(any).{1})"`,
		"rel.a=eq":                    `"failed to parse filter (eq)"`,
		"or=(a.eq.1":                  `"failed to parse logic tree ((a.eq.1)"`,
		"or=()":                       `"failed to parse logic tree (())"`,
		"or=(id.in.1,2)":              `"failed to parse logic tree ((id.in.1,2))"`,
		"or=a.eq.1":                   `"failed to parse logic tree (a.eq.1)"`,
		"and=(a.zz.1)":                `"failed to parse logic tree ((a.zz.1))"`,
		"order=id.ac":                 `"failed to parse order (id.ac)"`,
		"order=id.descc":              `"failed to parse order (id.descc)"`,
		"order=id.asc.x":              `"failed to parse order (id.asc.x)"`,
		"columns=a,,b":                `"failed to parse columns parameter (a,,b)"`,
		"on_conflict=":                `"failed to parse on_conflict parameter ()"`,
		"a..b=eq.1":                   `"failed to parse tree path (a..b)"`,
		"or=(a.eq.1,not.xor(b.eq.2))": `"failed to parse logic tree`,
	}
	for q, msg := range cases {
		t.Run(q, func(t *testing.T) {
			_, err := ParseRequest("GET", "/t", []byte("select=*,rel(*),a(*)&"+q), nil)
			var e *Error
			if !errors.As(err, &e) || e.Code != "PGRST100" || e.Status != 400 || !strings.Contains(e.Message, msg) {
				t.Fatalf("got %v, want PGRST100 %s", err, msg)
			}
		})
	}
}

// render prints a logic tree in PostgREST's own syntax, values as $slot.
func render(t LogicTree) string {
	if t.Leaf != nil {
		e := t.Leaf.Expr
		s := t.Leaf.Field.Name + "."
		if e.Negate {
			s += "not."
		}
		if e.Op == "is" {
			return s + "is." + e.Is
		}
		return s + string(e.Op) + "." + e.Value.Text
	}
	s := "and"
	if t.Or {
		s = "or"
	}
	if t.Negate {
		s = "not." + s
	}
	parts := make([]string, len(t.Children))
	for i, c := range t.Children {
		parts[i] = render(c)
	}
	return s + "(" + strings.Join(parts, ",") + ")"
}

func TestLogicTrees(t *testing.T) {
	cases := []struct{ q, want string }{
		{"or=(age.lt.18,age.gt.21)", "or(age.lt.18,age.gt.21)"},
		{"and=(grade.gte.90,student.is.true,or(age.eq.14,not.and(age.gte.11,age.lte.17)))", "and(grade.gte.90,student.is.true,or(age.eq.14,not.and(age.gte.11,age.lte.17)))"},
		{"not.or=(a.eq.1,b.eq.2)", "not.or(a.eq.1,b.eq.2)"},
		{`or=(name.eq."a,b)c",name.eq."x\"y")`, `or(name.eq.a,b)c,name.eq.x"y)`},
		{"or=(tags.cs.{a,b},id.in.(1,2),name.like.*x*)", `or(tags.cs.{a,b},id.in.{"1","2"},name.like.%x%)`},
		{"or=( a.eq.1 , b.not.eq.2 )", "or(a.eq.1 ,b.not.eq.2 )"},
		{"or=(data->>k.eq.v,t.fts(english).cat)", "or(data.eq.v,t.fts.cat)"},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			r := mustParse(t, "GET", "/t", c.q, nil)
			if len(r.Logic) != 1 {
				t.Fatalf("logic: %+v", r.Logic)
			}
			if got := render(r.Logic[0].Tree); got != c.want {
				t.Fatalf("got %s want %s", got, c.want)
			}
		})
	}
	r := mustParse(t, "GET", "/t", "select=*,actors(*)&actors.or=(a.eq.1,b.eq.2)&actors.not.and=(c.eq.3)", nil)
	if len(r.Logic) != 2 || !equalPath(r.Logic[0].Path, []string{"actors"}) || !r.Logic[1].Tree.Negate || r.Logic[1].Tree.Or {
		t.Fatalf("embedded logic: %+v", r.Logic)
	}
}

func TestOrderLimitOffsetAndColumns(t *testing.T) {
	r := mustParse(t, "GET", "/t", "select=*,clients(*)&order=age.desc,height.asc.nullslast,clients(name).desc.nullsfirst,data->a&clients.order=name&clients.limit=2&limit=10&offset=5", nil)
	want := []OrderTerm{
		{Field: Field{Name: "age"}, Dir: true, Desc: true},
		{Field: Field{Name: "height"}, Dir: true, Nulls: true},
		{Relation: "clients", Field: Field{Name: "name"}, Dir: true, Desc: true, Nulls: true, NullsFirst: true},
		{Field: Field{Name: "data", JSON: []JSONOp{{Key: "a"}}}},
	}
	if !reflect.DeepEqual(r.Order[0].Terms, want) || len(r.Order) != 2 || r.Order[1].Path[0] != "clients" {
		t.Fatalf("order %+v", r.Order)
	}
	root := r.RootRange()
	if root == nil || root.Limit.Text != "10" || root.Offset.Text != "5" {
		t.Fatalf("root range %+v", root)
	}
	if len(r.Ranges) != 2 || r.Ranges[0].Limit.Text != "2" {
		t.Fatalf("ranges %+v", r.Ranges)
	}
	r = mustParse(t, "POST", "/t", "columns=source,publication_date,figure&on_conflict=id,name", nil)
	if !r.HasColumns || !reflect.DeepEqual(r.Columns, []string{"source", "publication_date", "figure"}) || !reflect.DeepEqual(r.OnConflict, []string{"id", "name"}) {
		t.Fatalf("columns %+v on_conflict %+v", r.Columns, r.OnConflict)
	}
	for _, q := range []string{"limit=abc", "offset=x", "offset=-1", "limit=1.5", "orders.limit=", "limit=99999999999999999999"} {
		_, err := ParseRequest("GET", "/t", []byte(q), nil)
		if e, ok := err.(*Error); !ok || e.Code != "PGRST100" || e.Status != 400 {
			t.Fatalf("%s must be refused with PGRST100, got %v", q, err)
		}
	}
	_, err := ParseRequest("GET", "/t", []byte("limit=-1"), nil)
	if e, ok := err.(*Error); !ok || e.Code != "PGRST103" || e.Status != 416 {
		t.Fatalf("negative limit: %v", err)
	}
	_, err = ParseRequest("PUT", "/t", []byte("id=eq.1&limit=1"), nil)
	if e, ok := err.(*Error); !ok || e.Code != "PGRST114" {
		t.Fatalf("PUT limit: %v", err)
	}
}

func TestRPCArgumentsAndPaths(t *testing.T) {
	r := mustParse(t, "GET", "/rpc/add_them", "a=1&b=2&select=x&x=gt.1", nil)
	if r.Action != ActionCall || r.Target != "add_them" || len(r.RPCArgs) != 2 || r.RPCArgs[1].Value.Text != "2" || len(r.Filters) != 1 {
		t.Fatalf("%+v", r)
	}
	r = mustParse(t, "GET", "/items", "apikey=abc&id=eq.1", nil)
	if len(r.Filters) != 1 || r.RPCArgs[0].Name != "apikey" {
		t.Fatalf("%+v", r)
	}
	for _, c := range []struct {
		method, path, code string
		status             int
	}{
		{"PATCH", "/rpc/f", "PGRST101", 405},
		{"TRACE", "/t", "PGRST117", 405},
		{"GET", "/a/b", "PGRST125", 404},
		{"DELETE", "/", "PGRST117", 405},
	} {
		_, err := ParseRequest(c.method, c.path, nil, nil)
		if e, ok := err.(*Error); !ok || e.Code != c.code || e.Status != c.status {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
	}
	if r := mustParse(t, "GET", "/", "", nil); r.Action != ActionSchema || r.Accept != MediaOpenAPI {
		t.Fatalf("root %+v", r)
	}
	if r := mustParse(t, "GET", "/my%20table", "", nil); r.Target != "my table" {
		t.Fatalf("decoded target %q", r.Target)
	}
	_, perr := ParseRequest("GET", "/t", []byte("select=id&rel.id=eq.1"), nil)
	if e, ok := perr.(*Error); !ok || e.Code != "PGRST108" || e.Message != "'rel' is not an embedded resource in this request" {
		t.Fatalf("filter on non-embedded: %v", perr)
	}
}

func TestHeaders(t *testing.T) {
	r := mustParse(t, "POST", "/t", "", hdrs{
		"Prefer":          {"return=representation, count=exact", "resolution=merge-duplicates,missing=default", "count=planned"},
		"Accept":          {"application/vnd.pgrst.object+json"},
		"Content-Profile": {"acme"},
		"Content-Type":    {"application/json; charset=utf-8"},
	})
	want := Preferences{Return: "representation", Count: "exact", Resolution: "merge-duplicates", Missing: "default"}
	if !reflect.DeepEqual(r.Prefer, want) || r.Accept != MediaObject || r.Profile != "acme" || r.ContentType != MediaJSON {
		t.Fatalf("%+v", r)
	}
	if s, err := r.ResolveSchema([]string{"demo", "acme"}); err != nil || s != "acme" {
		t.Fatalf("schema %q %v", s, err)
	}
	if _, err := r.ResolveSchema([]string{"demo", "public"}); err == nil || err.(*Error).Code != "PGRST106" ||
		err.(*Error).Message != "The schema must be one of the following: demo, public" || err.(*Error).Status != 406 {
		t.Fatalf("PGRST106: %v", err)
	}
	r = mustParse(t, "GET", "/t", "", hdrs{"Accept": {"text/csv"}, "Accept-Profile": {"demo"}, "Range": {"0-24"}, "Range-Unit": {"items"}, "Prefer": {"foo=bar"}})
	if r.Accept != MediaCSV || r.Profile != "demo" || r.HeaderRange == nil || r.HeaderRange.Limit.Text != "25" || r.Prefer.Invalid[0] != "foo=bar" {
		t.Fatalf("%+v", r)
	}
	if r := mustParse(t, "GET", "/t", "", hdrs{"Range": {"5-"}}); r.HeaderRange.Offset.Text != "5" || r.HeaderRange.Limit != nil {
		t.Fatalf("open range %+v", r.HeaderRange)
	}
	if r := mustParse(t, "POST", "/t", "", hdrs{"Range": {"abc"}}); r.HeaderRange != nil {
		t.Fatalf("a Range header on a write must be ignored")
	}
	if r := mustParse(t, "GET", "/t", "", hdrs{"Accept": {"application/geo+json;q=1, application/json;q=0.5"}}); r.Accept != MediaJSON {
		t.Fatalf("quality fallback %v", r.Accept)
	}
	errCases := []struct {
		method string
		h      hdrs
		code   string
		status int
		msg    string
	}{
		{"GET", hdrs{"Range": {"10-5"}}, "PGRST103", 416, "Requested range not satisfiable"},
		{"GET", hdrs{"Range": {"abc"}}, "PGRST100", 400, `"failed to parse Range header (abc)" (line 1, column 1)`},
		{"GET", hdrs{"Range": {"-3"}}, "PGRST100", 400, `"failed to parse Range header (-3)" (line 1, column 1)`},
		{"HEAD", hdrs{"Range": {"items=1-x"}}, "PGRST100", 400, `"failed to parse Range header (items=1-x)" (line 1, column 1)`},
		{"GET", hdrs{"Accept": {"application/geo+json"}}, "PGRST107", 406, "None of these media types are available: application/geo+json"},
		{"POST", hdrs{"Content-Type": {"application/xml"}}, "PGRST107", 415, "Content-Type not acceptable: application/xml"},
		{"GET", hdrs{"Prefer": {"handling=strict, foo=bar"}}, "PGRST122", 400, "Invalid preferences given with handling=strict"},
	}
	for _, c := range errCases {
		_, err := ParseRequest(c.method, "/t", nil, c.h)
		e, ok := err.(*Error)
		if !ok || e.Code != c.code || e.Status != c.status || e.Message != c.msg {
			t.Fatalf("%v: got %v", c.h, err)
		}
	}
}

func TestErrorBodyIsPostgRESTs(t *testing.T) {
	e := parseError("filter", "noop.0", 0, "unknown single value operator noop")
	b, _ := e.MarshalJSON()
	want := `{"code":"PGRST100","details":"unknown single value operator noop","hint":null,"message":"\"failed to parse filter (noop.0)\" (line 1, column 1)"}`
	if string(b) != want {
		t.Fatalf("got %s", b)
	}
}

func TestRangeHeaderMeetsLimitAndOffset(t *testing.T) {
	for _, c := range []struct {
		lower, count, offset, limit int64
		off, lim                    int64
		ok                          bool
	}{
		{1, 3, -1, 2, 1, 1, true},    // 1-3 and limit=2: item 1
		{0, 4, 2, -1, 2, 2, true},    // 0-3 and offset=2: items 2-3
		{1, -1, 1, 2, 1, 2, true},    // 1- with limit=2&offset=1: items 1-2
		{5, -1, 2, -1, 5, -1, true},  // 5- and offset=2: from 5 on
		{0, -1, 7, -1, 7, -1, true},  // 0- and offset=7: from 7 on
		{2, 1, 0, 10, 2, 1, true},    // 2-2 inside limit=10: item 2
		{3, 1, -1, 2, 0, 0, false},   // 3-3 and limit=2 (items 0-1): nothing in common
		{0, 2, 5, 3, 0, 0, false},    // 0-1 and offset=5: nothing in common
		{4, 3, 5, 1, 5, 1, true},     // 4-6 and limit=1&offset=5: item 5
		{0, 10, 9, 5, 9, 1, true},    // 0-9 and items 9-13: item 9
		{10, 10, 0, 11, 10, 1, true}, // 10-19 and items 0-10: item 10
	} {
		off, lim, ok := pageOf(c.lower, c.count, c.offset, c.limit)
		if off != c.off || lim != c.lim || ok != c.ok {
			t.Errorf("pageOf(%d, %d, %d, %d) = %d, %d, %v; want %d, %d, %v", c.lower, c.count, c.offset, c.limit, off, lim, ok, c.off, c.lim, c.ok)
		}
	}
	r := mustParse(t, "GET", "/t", "select=id,a(id)&limit=2&offset=1&a.limit=5", hdrs{"Range": {"2-9"}})
	if off, lim := r.Page(); off == nil || lim == nil || off.Text != "2" || lim.Text != "1" {
		t.Fatalf("page %+v %+v", off, lim)
	}
	if g := r.Ranges[1]; g.Limit.Text != "5" { // an embed's page is its own
		t.Fatalf("embed limit %q", g.Limit.Text)
	}
	if _, err := ParseRequest("GET", "/t", []byte("offset=4"), hdrs{"Range": {"0-3"}}); err == nil || err.(*Error).Status != 416 {
		t.Fatalf("empty intersection: %v", err)
	}
}
