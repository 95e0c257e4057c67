package bench

import "testing"

func TestJSONMemberFindsTopLevelMembersOnly(t *testing.T) {
	doc := []byte(` { "data" : {"errors":[1,"}"]}, "s":"a\"b,}", "n": -1.5e3 ,"errors":[{"message":"x"}] }`)
	for _, c := range []struct{ key, want string }{
		{"data", `{"errors":[1,"}"]}`},
		{"s", `"a\"b,}"`},
		{"n", `-1.5e3`},
		{"errors", `[{"message":"x"}]`},
	} {
		got, ok := jsonMember(doc, c.key)
		if !ok || string(got) != c.want {
			t.Errorf("member %s = %q, %v; want %q", c.key, got, ok, c.want)
		}
	}
	if _, ok := jsonMember(doc, "missing"); ok {
		t.Error("found a member that is not there")
	}
	for _, bad := range []string{``, `[]`, `{"a"`, `{"a":}`, `{"a":"x}`, `{"a":[1,2`} {
		if _, ok := jsonMember([]byte(bad), "a"); ok {
			t.Errorf("malformed %q gave a member", bad)
		}
	}
}

func TestGraphQLFailedSeesErrorsButNotDataThatMentionsThem(t *testing.T) {
	for body, want := range map[string]bool{
		`{"data":{"customers_by_pk":{"name":"\"errors\":"}}}`:        false,
		`{"data":{"errors":[{"message":"a column named errors"}]}}`:  false,
		`{"errors":[{"message":"field not found","extensions":{}}]}`: true,
		`{"data":null,"errors":[{"message":"x"}]}`:                   true,
		`{"data":{"a":1},"errors":null}`:                             false,
	} {
		if got := graphQLFailed([]byte(body)); got != want {
			t.Errorf("graphQLFailed(%s) = %v, want %v", body, got, want)
		}
	}
}

func FuzzJSONMember(f *testing.F) {
	f.Add([]byte(`{"errors":[{"message":"x"}],"data":null}`), "errors")
	f.Add([]byte(`{"a":"\\","b":{"c":[1,{"d":"}"}]}}`), "b")
	f.Fuzz(func(t *testing.T, doc []byte, key string) {
		if v, ok := jsonMember(doc, key); ok && len(v) == 0 {
			t.Fatal("member found with an empty value")
		}
	})
}

func BenchmarkGraphQLFailed(b *testing.B) {
	body := []byte(`{"data":{"authors":[{"id":1,"name":"Ada \"L\"","articles":[{"id":2,"views":1.5e3,"tags":["a","b"]}]}]},"errors":null}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = graphQLFailed(body)
	}
}
