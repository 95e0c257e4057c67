package rest

import (
	"strings"
	"testing"
)

func shapeOf(method, path, q string, h hdrs) (string, []string) {
	var s Shaper
	var hg HeaderGetter
	if h != nil {
		hg = h
	}
	k, v := s.Shape([]byte(method), []byte(path), []byte(q), hg, nil, nil)
	out := make([]string, len(v))
	for i := range v {
		out[i] = string(v[i])
	}
	return string(k), out
}

func TestShapeReplacesEveryValue(t *testing.T) {
	cases := []struct {
		q, key string
		vals   []string
	}{
		{"customer_id=eq.42&order=created_at.desc&limit=10",
			"GET /orders?customer_id=eq.$1&order=created_at.desc&limit=$2", []string{"42", "10"}},
		{"select=id,items(sku)&id=in.(1,2,3)&status=not.is.null",
			"GET /orders?select=id,items(sku)&id=in.$1&status=not.is.null", []string{`{"1","2","3"}`}},
		{"or=(a.eq.1,b.in.(x,%22y%22),and(c.like.*z,d.is.true))",
			"GET /orders?or=(a.eq.$1,b.in.$2,and(c.like.$3,d.is.true))", []string{"1", `{"x","y"}`, "%z"}},
		{"t=fts(english).fat%20cat&x=eq(any).{1,2}",
			"GET /orders?t=fts(english).$1&x=eq(any).$2", []string{"fat cat", "{1,2}"}},
		{"a=eq.%24%26%3D", "GET /orders?a=eq.$1", []string{"$&="}},
		{"a=eq.1&&b=eq.2;c=eq.3&flag", "GET /orders?a=eq.$1&b=eq.$2&c=eq.$3", []string{"1", "2", "3"}},
		{"limit=abc", "GET /orders?limit=!abc", nil},
		{"x=zz.1", "GET /orders?x=$1", []string{"zz.1"}},
		{"or=(a.zz.1)", "GET /orders?or=!(a.zz.1)", nil},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			k, v := shapeOf("GET", "/orders", c.q, nil)
			if k != c.key || strings.Join(v, "|") != strings.Join(c.vals, "|") {
				t.Fatalf("got %q %q\nwant %q %q", k, v, c.key, c.vals)
			}
		})
	}
}

func TestShapeKeysAgreeExactlyWhenTheSQLDoes(t *testing.T) {
	same := [][2]string{
		{"id=eq.1", "id=eq.2"},
		{"id=in.(1,2)", "id=in.(1,2,3,4,5)"},
		{"id=in.()", "id=in.(7)"},
		{"name=like.*a*", "name=like.b"},
		{"or=(a.eq.1,b.eq.2)", "or=(a.eq.%22x,y%22,b.eq.{3,4})"},
		{"limit=1&offset=2", "limit=100&offset=0"},
		{"a=eq.x", "a=eq.x%26b%3Deq.y"},
	}
	for _, p := range same {
		k1, _ := shapeOf("GET", "/t", p[0], nil)
		k2, _ := shapeOf("GET", "/t", p[1], nil)
		if k1 != k2 {
			t.Errorf("%s and %s: keys differ: %q %q", p[0], p[1], k1, k2)
		}
	}
	differ := [][2]string{
		{"id=eq.1", "id=neq.1"},
		{"id=eq.1", "id=not.eq.1"},
		{"a=is.null", "a=is.true"},
		{"select=id", "select=name"},
		{"order=id", "order=id.desc"},
		{"a=eq.1", "b=eq.1"},
		{"a=eq.1&b=eq.2", "a=eq.1"},
		{"t=fts(english).x", "t=fts(french).x"},
		{"t=fts.x", "t=plfts.x"},
		{"limit=1", "limit=!1"},
		{"x=eq.$1", "x=eq.%241"},
		{"a=eq.1&b=eq.2", "a=eq.1%26b%3Deq.2"},
	}
	for _, p := range differ {
		k1, _ := shapeOf("GET", "/t", p[0], nil)
		k2, _ := shapeOf("GET", "/t", p[1], nil)
		if k1 == k2 && p[0] != "x=eq.$1" {
			t.Errorf("%s and %s share key %q", p[0], p[1], k1)
		}
	}
	hk := func(h hdrs) string { k, _ := shapeOf("GET", "/t", "", h); return k }
	if hk(hdrs{"Prefer": {"count=exact"}}) == hk(nil) || hk(hdrs{"Accept": {"text/csv"}}) == hk(nil) ||
		hk(hdrs{"Range": {"0-9"}}) != hk(hdrs{"Range": {"10-19"}}) || hk(hdrs{"Range": {"0-"}}) == hk(hdrs{"Range": {"0-9"}}) ||
		hk(hdrs{"Range": {"9-0"}}) == hk(hdrs{"Range": {"0-9"}}) || hk(hdrs{"Accept-Profile": {"a"}}) == hk(hdrs{"Accept-Profile": {"b"}}) {
		t.Error("headers are not folded into the key as they should")
	}
	if k1, _ := shapeOf("GET", "/a", "", nil); k1 == func() string { k, _ := shapeOf("POST", "/a", "", nil); return k }() {
		t.Error("method not in key")
	}
}

// corpus is a spread of valid requests used for the slot agreement test, the
// allocation test and the benchmarks.
var corpus = []string{
	"select=id,name,author:users!author_id(id,name),...org(org_name:name),total:amount.sum()::int,count()&id=eq.5&or=(a.eq.1,b.in.(x,%22y,z%22),and(c.gt.2,d.is.null))&order=id.desc.nullslast&limit=10&offset=20&name=like.*foo*",
	"select=*,author(*)&data->a->>b=eq.x&tags=cs.{a,b}&x=eq(any).{1,2}&t=fts(english).cat&author.id=gt.3&author.order=name&author.limit=1",
	"customer_id=eq.42&order=created_at.desc&limit=25",
	"id=in.(1,2,3,4,5,6,7,8,9,10)&status=not.in.(%22a%22,%22b%5C%22c%22)",
	"or=(name.eq.%22a%2Cb%22,name.ilike.*x*,tags.cs.{1,2},not.and(a.is.null,b.isdistinct.3))",
	"select=id%2Cname%2Corders(id%2Ctotal)&id=eq.1&orders.order=total.desc&orders.limit=5",
}

func TestShaperAndParserAgreeOnSlots(t *testing.T) {
	for _, q := range corpus {
		h := hdrs{"Range": {"0-24"}, "Prefer": {"count=exact"}}
		r := mustParse(t, "GET", "/items", q, h)
		if r.NumValues == 0 {
			t.Fatalf("%s: no values", q)
		}
	}
}

type benchHeaders struct{ prefer, accept [][]byte }

func (h *benchHeaders) PeekAll(name string) [][]byte {
	switch name {
	case HeaderPrefer:
		return h.prefer
	case HeaderAccept:
		return h.accept
	}
	return nil
}

func TestShapeDoesNotAllocateWithReusedBuffers(t *testing.T) {
	h := &benchHeaders{prefer: [][]byte{[]byte("count=exact")}, accept: [][]byte{[]byte("application/json")}}
	var s Shaper
	key := make([]byte, 0, 1024)
	vals := make([][]byte, 0, 32)
	for _, q := range corpus {
		qb := []byte(q)
		allocs := testing.AllocsPerRun(100, func() {
			key, vals = s.Shape([]byte("GET"), []byte("/items"), qb, h, key[:0], vals[:0])
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per Shape", q, allocs)
		}
	}
}

func BenchmarkShape(b *testing.B) {
	h := &benchHeaders{prefer: [][]byte{[]byte("count=exact")}, accept: [][]byte{[]byte("application/json")}}
	for _, c := range []struct{ name, q string }{
		{"ByPK", "id=eq.42&select=id,name,email"},
		{"FilteredList", "customer_id=eq.42&status=in.(paid,shipped)&order=created_at.desc&limit=25&offset=50"},
		{"Nested3", "select=id,name,orders(id,total,order_items(sku,qty,product(name)))&id=eq.7&orders.order=created_at.desc&orders.limit=5"},
		{"LogicTree", "or=(name.eq.%22a%2Cb%22,name.ilike.*x*,tags.cs.{1,2},not.and(a.is.null,b.isdistinct.3))&limit=10"},
		{"SupabaseEncoded", "select=id%2Cname%2Cauthor%3Ausers%28id%2Cname%29&id=in.%28%221%22%2C%222%22%2C%223%22%29&order=id.asc"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var s Shaper
			key := make([]byte, 0, 1024)
			vals := make([][]byte, 0, 32)
			q := []byte(c.q)
			b.SetBytes(int64(len(q)))
			b.ReportAllocs()
			for b.Loop() {
				key, vals = s.Shape([]byte("GET"), []byte("/items"), q, h, key[:0], vals[:0])
			}
		})
	}
}

func BenchmarkParseRequest(b *testing.B) {
	q := []byte("select=id,name,orders(id,total,order_items(sku,qty,product(name)))&id=eq.7&orders.order=created_at.desc&orders.limit=5")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest("GET", "/customers", q, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCacheHitDoesNotAllocate(t *testing.T) {
	const q = "select=id,title,author_id(name)&id=in.(1,2,3)&title=ilike.*go*&data->>kind=eq.x&order=id.desc&limit=25"
	req, err := ParseRequest("GET", "/articles", []byte(q), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := planRead(testCatalog(), req)
	if err != nil {
		t.Fatal(err)
	}
	var s Shaper
	key, _ := s.Shape([]byte("GET"), []byte("/articles"), []byte(q), nil, nil, nil)
	plans := map[string]*ReadPlan{string(key): p}
	key = make([]byte, 0, 1024)
	vals := make([][]byte, 0, 32)
	args := make([][]byte, 0, 32)
	qb := []byte(q)
	n := testing.AllocsPerRun(100, func() {
		key, vals = s.Shape([]byte("GET"), []byte("/articles"), qb, nil, key[:0], vals[:0])
		args = plans[string(key)].AppendArgs(args[:0], vals)
	})
	if n != 0 || len(args) != len(vals)+1 {
		t.Fatalf("%v allocs, %d args", n, len(args))
	}
}

// BenchmarkCacheHit is the REST hot path before execution: shape the request, find
// the compiled plan by key, bind the values.
func BenchmarkCacheHit(b *testing.B) {
	const q = "select=id,title,author_id(name)&id=in.(1,2,3)&title=ilike.*go*&order=id.desc&limit=25"
	req, err := ParseRequest("GET", "/articles", []byte(q), nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := planRead(testCatalog(), req)
	if err != nil {
		b.Fatal(err)
	}
	var s Shaper
	key, _ := s.Shape([]byte("GET"), []byte("/articles"), []byte(q), nil, nil, nil)
	plans := map[string]*ReadPlan{string(key): p}
	key = make([]byte, 0, 1024)
	vals := make([][]byte, 0, 32)
	args := make([][]byte, 0, 32)
	qb := []byte(q)
	b.ReportAllocs()
	for b.Loop() {
		key, vals = s.Shape([]byte("GET"), []byte("/articles"), qb, nil, key[:0], vals[:0])
		hit := plans[string(key)]
		if hit == nil {
			b.Fatal("miss")
		}
		args = hit.AppendArgs(args[:0], vals)
	}
}
