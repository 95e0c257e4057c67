package jsonx

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestTheScannerAcceptsWhatEncodingJSONAccepts(t *testing.T) {
	cases := []struct {
		name, in string
	}{
		{"an empty object", `{}`},
		{"an empty array with space inside", "[ \t\n\r]"},
		{"nested containers", `{"a":[1,{"b":[[],{}]}],"c":{"d":null}}`},
		{"space everywhere", " { \"a\" : [ 1 , 2 ] , \"b\" : true } "},
		{"literals", `[true,false,null]`},
		{"numbers", `[0,-0,1,-12,3.25,1e5,1E+5,1.5e-3,-0.0e0,123456789012345678901234567890]`},
		{"escapes", `"\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`},
		{"invalid UTF-8, which encoding/json lets through", "\"\xff\xfe\""},
		{"DEL is no control character", "\"\x7f\""},
		{"nothing", ``},
		{"only space", `  `},
		{"a leading zero", `01`},
		{"a lone minus", `-`},
		{"a plus sign", `+1`},
		{"a fraction without digits", `1.`},
		{"a fraction without an integer part", `.5`},
		{"an exponent without digits", `1e`},
		{"an exponent sign without digits", `1e+`},
		{"hex", `0x10`},
		{"a truncated literal", `tru`},
		{"a capitalised literal", `True`},
		{"a literal with more letters", `nulls`},
		{"an unterminated string", `"abc`},
		{"a control character in a string", "\"a\tb\""},
		{"an unknown escape", `"\q"`},
		{"a short unicode escape", `"\u12"`},
		{"a non-hex unicode escape", `"\u12g4"`},
		{"a backslash at the end", `"\`},
		{"a trailing comma in an array", `[1,]`},
		{"a trailing comma in an object", `{"a":1,}`},
		{"a missing comma", `[1 2]`},
		{"a missing colon", `{"a" 1}`},
		{"a missing value", `{"a":}`},
		{"an unquoted key", `{a:1}`},
		{"a number as key", `{1:1}`},
		{"mismatched brackets", `[1}`},
		{"an unclosed object", `{"a":1`},
		{"two values", `1 2`},
		{"a comma alone", `[,]`},
		{"a single quote", `'a'`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, want := Valid([]byte(c.in)), json.Valid([]byte(c.in)); got != want {
				t.Fatalf("Valid(%q) = %v, encoding/json says %v", c.in, got, want)
			}
		})
	}
}

func TestSkipValueStopsJustAfterTheValue(t *testing.T) {
	cases := []struct{ in, value string }{
		{`"a\"b" ,`, `"a\"b"`},
		{`{"a":[1,"]"]} x`, `{"a":[1,"]"]}`},
		{`-1.5e3,`, `-1.5e3`},
		{`0123`, `0`},
		{`true]`, `true`},
		{`[ ]}`, `[ ]`},
	}
	for _, c := range cases {
		end, err := SkipValue([]byte(c.in), 0)
		if err != nil || c.in[:end] != c.value {
			t.Errorf("SkipValue(%q) = %q, %v; want %q", c.in, c.in[:end], err, c.value)
		}
	}
}

func TestValuesNestedBeyondMaxDepthAreRefused(t *testing.T) {
	nest := func(n int, inner string) []byte {
		return []byte(strings.Repeat("[", n) + inner + strings.Repeat("]", n))
	}
	cases := []struct {
		name string
		in   []byte
		err  error
	}{
		{"a value inside MaxDepth arrays", nest(MaxDepth, "1"), nil},
		{"an empty array inside MaxDepth arrays", nest(MaxDepth+1, ""), nil},
		{"a value inside one array more", nest(MaxDepth+1, "1"), ErrDepth},
		{"objects count as arrays do", []byte(strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)), ErrDepth},
		{"a deep truncated value is too deep before it is broken", nest(MaxDepth+1, "1")[:MaxDepth+1], ErrDepth},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := SkipValue(c.in, 0); !errors.Is(err, c.err) {
				t.Fatalf("got %v, want %v", err, c.err)
			}
		})
	}
}

func TestScanStringTellsWhetherItHoldsEscapes(t *testing.T) {
	cases := []struct {
		in      string
		end     int
		escaped bool
		err     error
	}{
		{`"plain" `, 7, false, nil},
		{`"a\nb"`, 6, true, nil},
		{`"\u00e9"x`, 8, true, nil},
		{`"unterminated`, 13, false, ErrSyntax},
		{`x"`, 0, false, ErrSyntax},
	}
	for _, c := range cases {
		end, esc, err := ScanString([]byte(c.in), 0)
		if end != c.end || esc != c.escaped || err != c.err {
			t.Errorf("ScanString(%q) = %d, %v, %v; want %d, %v, %v", c.in, end, esc, err, c.end, c.escaped, c.err)
		}
	}
}

func TestEachMemberWalksTheMembersInOrder(t *testing.T) {
	b := []byte(`x { "a" : 1 , "b\"c":{"d":[2]},"e":"}" } y`)
	var got []string
	end, err := EachMember(b, 2, func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	})
	if err != nil || strings.Join(got, " ") != `"a"=1 "b\"c"={"d":[2]} "e"="}"` || string(b[end:]) != " y" {
		t.Fatalf("got %q, rest %q, %v", got, b[end:], err)
	}
	stop := errors.New("stop")
	calls := 0
	if _, err := EachMember([]byte(`{"a":1,"b":2,"c":oops}`), 0, func(k, v []byte) error { calls++; return stop }); err != stop || calls != 1 {
		t.Fatalf("fn's error: got %v after %d calls", err, calls)
	}
	for _, bad := range []string{``, `[]`, `{`, `{"a"}`, `{"a":1,}`, `{"a":1 "b":2}`, `{,}`, `{"a":1]`, `{"a":tru}`} {
		if _, err := EachMember([]byte(bad), 0, func(k, v []byte) error { return nil }); err != ErrSyntax {
			t.Errorf("EachMember(%q) = %v, want ErrSyntax", bad, err)
		}
	}
}

func TestEachElementWalksTheElementsInOrder(t *testing.T) {
	b := []byte(`[ 1 , "]" ,{"a":[]}, null ]x`)
	var got []string
	end, err := EachElement(b, 0, func(n int, el []byte) error {
		got = append(got, string(rune('0'+n))+":"+string(el))
		return nil
	})
	if err != nil || strings.Join(got, " ") != `0:1 1:"]" 2:{"a":[]} 3:null` || string(b[end:]) != "x" {
		t.Fatalf("got %q, rest %q, %v", got, b[end:], err)
	}
	if end, err := EachElement([]byte(`[]`), 0, func(int, []byte) error { t.Fatal("called for an empty array"); return nil }); err != nil || end != 2 {
		t.Fatalf("empty array: %d, %v", end, err)
	}
	for _, bad := range []string{``, `{}`, `[`, `[1,]`, `[1 2]`, `[,]`, `[1}`} {
		if _, err := EachElement([]byte(bad), 0, func(int, []byte) error { return nil }); err != ErrSyntax {
			t.Errorf("EachElement(%q) = %v, want ErrSyntax", bad, err)
		}
	}
}

func TestKindOfReadsTheFirstByte(t *testing.T) {
	for in, want := range map[string]Kind{`"x"`: String, `{}`: Object, `[]`: Array, `true`: Bool, `false`: Bool,
		`null`: Null, `-1`: Number, `0`: Number, ``: Invalid, ` 1`: Invalid, `x`: Invalid} {
		if got := KindOf([]byte(in)); got != want {
			t.Errorf("KindOf(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNumbersAndIntegersFollowTheJSONGrammar(t *testing.T) {
	cases := []struct {
		in              string
		number, integer bool
	}{
		{"0", true, true}, {"-0", true, true}, {"12", true, true}, {"-2147483648", true, true},
		{"1.5", true, false}, {"1e3", true, false}, {"-0.5E-2", true, false},
		{"", false, false}, {"-", false, false}, {"01", false, false}, {"1.", false, false},
		{"+1", false, false}, {"1 ", false, false}, {"1x", false, false}, {`"1"`, false, false},
	}
	for _, c := range cases {
		if IsNumber([]byte(c.in)) != c.number || IsInteger([]byte(c.in)) != c.integer {
			t.Errorf("%q: IsNumber %v IsInteger %v, want %v %v", c.in, IsNumber([]byte(c.in)), IsInteger([]byte(c.in)), c.number, c.integer)
		}
	}
}

func TestUnquoteReadsStringsAsEncodingJSONDoes(t *testing.T) {
	cases := []struct {
		name, in, want string
		err            error
	}{
		{"plain text", `abc`, "abc", nil},
		{"simple escapes", `\"\\\/\b\f\n\r\t`, "\"\\/\b\f\n\r\t", nil},
		{"a unicode escape", `caf\u00e9`, "café", nil},
		{"a surrogate pair", `\ud83d\ude00`, "😀", nil},
		{"a lone high surrogate", `\ud800x`, "\uFFFDx", nil},
		{"a high surrogate before another escape", `\ud800\u0041`, "\uFFFDA", nil},
		{"a lone low surrogate", `\udc00`, "\uFFFD", nil},
		{"an escaped NUL", `\u0000`, "\x00", nil},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb", nil},
		{"an encoded surrogate", "\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD", nil},
		{"multi-byte text", "日本", "日本", nil},
		{"an unknown escape", `\x`, "", ErrSyntax},
		{"a short unicode escape", `\u00`, "", ErrSyntax},
		{"a trailing backslash", `a\`, "", ErrSyntax},
		{"an unescaped quote", `a"b`, "", ErrSyntax},
		{"a control character", "a\nb", "", ErrSyntax},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Unquote([]byte(">"), []byte(c.in))
			if err != c.err || (err == nil && string(got) != ">"+c.want) {
				t.Fatalf("got %q, %v; want %q, %v", got, err, ">"+c.want, c.err)
			}
			var std string
			if stdErr := json.Unmarshal([]byte(`"`+c.in+`"`), &std); (stdErr == nil) != (c.err == nil) || (stdErr == nil && std != c.want) {
				t.Fatalf("encoding/json reads %q, %v", std, stdErr)
			}
		})
	}
}

func TestScanningAllocatesNothing(t *testing.T) {
	body := []byte(`{"query":"query Q($a: Int) { t(a: $a) { id } }","variables":{"a":[1,{"b":"c\n"},-2.5e3,true,null]}}`)
	buf := make([]byte, 0, 64)
	n := testing.AllocsPerRun(100, func() {
		_, _ = EachMember(body, 0, func(k, v []byte) error {
			if KindOf(v) == Object {
				_, _ = EachMember(v, 0, func(k, v []byte) error {
					_, err := EachElement(v, 0, func(int, []byte) error { return nil })
					return err
				})
			}
			if KindOf(v) == String {
				buf, _ = Unquote(buf[:0], v[1:len(v)-1])
			}
			return nil
		})
		_ = Valid(body)
	})
	if n != 0 {
		t.Fatalf("%v allocations per scan", n)
	}
}

func BenchmarkSkipValue(b *testing.B) {
	body := []byte(`{"operationName":"Q3","query":"query Q3($start: Int!) { authors(where: {id: {_gte: $start}}, limit: 10) { id name articles { id views } } }","variables":{"start":12345,"name":"Ada \"L\"","tags":["a","b",{"c":[1.5e3,-2,true,null]}]}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SkipValue(body, 0); err != nil {
			b.Fatal(err)
		}
	}
}
