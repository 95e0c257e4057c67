package bench

import (
	"strconv"
	"strings"
	"testing"
)

func render(t *testing.T, yamlText string, n int) (paths, bodies []string) {
	t.Helper()
	c, err := compileScenario(mustScenario(t, yamlText))
	if err != nil {
		t.Fatal(err)
	}
	g := newRequestGen(c, 42)
	for range n {
		r := g.next()
		paths = append(paths, r.method+" "+string(g.path))
		bodies = append(bodies, string(g.body))
	}
	return paths, bodies
}

func TestRangeValuesStayInBoundsAndCoverThemUniformly(t *testing.T) {
	paths, _ := render(t, "name: r\nvars: {id: {range: [3, 12]}}\npath: /c/{{id}}", 50000)
	counts := map[int]int{}
	for _, p := range paths {
		id, err := strconv.Atoi(strings.TrimPrefix(p, "GET /c/"))
		if err != nil || id < 3 || id > 12 {
			t.Fatalf("rendered %q: id outside [3, 12]", p)
		}
		counts[id]++
	}
	if len(counts) != 10 {
		t.Fatalf("saw %d distinct ids, want all 10 of [3, 12]", len(counts))
	}
	for id, n := range counts {
		if n < 4500 || n > 5500 { // 5000 expected, sd ~67
			t.Errorf("id %d drawn %d times of 50000, want about 5000", id, n)
		}
	}
}

func TestListValuesAndFormattedRangesSubstituteEverywhere(t *testing.T) {
	paths, bodies := render(t, `
name: l
vars:
  tenant: {range: [0, 99], format: bench-t%03d}
  word: {list: [alpha, beta]}
method: POST
path: /t/{{tenant}}/x?w={{ word }}
body: '{"w":"{{word}}","again":"{{word}}"}'
`, 2000)
	seenT, seenW := map[string]bool{}, map[string]bool{}
	for i, p := range paths {
		var tenant, w string
		rest := strings.TrimPrefix(p, "POST /t/")
		tenant, w, _ = strings.Cut(rest, "/x?w=")
		if len(tenant) != 10 || !strings.HasPrefix(tenant, "bench-t") {
			t.Fatalf("tenant %q not formatted as bench-t%%03d", tenant)
		}
		seenT[tenant], seenW[w] = true, true
		if want := `{"w":"` + w + `","again":"` + w + `"}`; bodies[i] != want {
			t.Fatalf("body %s: every {{word}} of one request must get the value its path got (%s)", bodies[i], w)
		}
	}
	if len(seenT) != 100 || !seenT["bench-t000"] || !seenT["bench-t099"] || len(seenW) != 2 {
		t.Errorf("saw %d tenants, %d words", len(seenT), len(seenW))
	}
}

func TestWeightedMixPicksEveryRequestInProportion(t *testing.T) {
	paths, _ := render(t, `
name: mix
requests:
  - {path: /a, weight: 3}
  - {path: /b, method: patch}
`, 8000)
	n := map[string]int{}
	for _, p := range paths {
		n[p]++
	}
	if n["GET /a"] < 5700 || n["GET /a"] > 6300 || n["PATCH /b"] != 8000-n["GET /a"] {
		t.Errorf("mix counts %v, want about 6000 GET /a and 2000 PATCH /b", n)
	}
}

func TestBadScenariosAreRejectedWithTheReason(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"an undefined variable", "name: x\npath: /{{nope}}", "not among its vars"},
		{"an empty range", "name: x\nvars: {a: {range: [5, 1]}}\npath: /{{a}}", "empty"},
		{"a variable with both range and list", "name: x\nvars: {a: {range: [1, 2], list: [x]}}\npath: /{{a}}", "either range"},
		{"an unknown key", "name: x\npath: /\nmethd: GET", "methd"},
		{"no request at all", "name: x", "no path"},
		{"both inline and a mix", "name: x\npath: /\nrequests: [{path: /}]", "not both"},
		{"an unclosed brace", "name: x\npath: /{{a", "unclosed"},
		{"a warm-up that is not a duration", "name: x\npath: /\nwarmup: 3", "not a duration"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseScenario([]byte(c.yaml))
			if err == nil {
				_, err = compileScenario(s)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestBuiltinScenariosCompileAndScale(t *testing.T) {
	names := BuiltinNames()
	if len(names) != 13 || names[0] != "q1-graphql" || names[len(names)-1] != "write-rest" {
		t.Fatalf("built-ins %v", names)
	}
	for _, n := range names {
		s, err := LoadScenario(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := compileScenario(s); err != nil {
			t.Error(err)
		}
	}
	s, _ := LoadScenario("q3-rest")
	s.ScaleRanges(0.01)
	if r := s.Vars["start"].Range; r[0] != 1 || r[1] != 1000 {
		t.Errorf("q3 start range at scale 0.01 = %v, want [1 1000]", r)
	}
	s.Override("tenant", "acme")
	c, _ := compileScenario(s)
	g := newRequestGen(c, 1)
	g.next()
	if !strings.HasPrefix(string(g.path), "/t/acme/rest/v1/customers?select=id,name,orders(") {
		t.Errorf("path %s", g.path)
	}
}

func TestTheGateLeavesOutTheScenariosMarkedGateFalse(t *testing.T) {
	want := "q1-graphql,q1-rest,q2-graphql,q2-rest,q3-graphql,q3-rest,q4-graphql,q4-rest,multitenant,write-graphql,write-rest"
	if got := strings.Join(GateNames(), ","); got != want {
		t.Errorf("gate scenarios %s\nwant %s", got, want)
	}
	for _, n := range []string{"q1-hot", "q1-zipf"} {
		if s, err := LoadScenario(n); err != nil || s.Gated() {
			t.Errorf("%s: gated %v, err %v", n, err == nil && s.Gated(), err)
		}
	}
}

func TestZipfValuesStayInBoundsWithTheFirstHottest(t *testing.T) {
	const n = 100000
	paths, _ := render(t, "name: z\nvars: {id: {zipf: [5, 1004], s: 1.1}}\npath: /c/{{id}}", n)
	counts := map[int]int{}
	for _, p := range paths {
		id, err := strconv.Atoi(strings.TrimPrefix(p, "GET /c/"))
		if err != nil || id < 5 || id > 1004 {
			t.Fatalf("rendered %q: id outside [5, 1004]", p)
		}
		counts[id]++
	}
	// P(5+k) = (k+1)^-1.1 / H, H = sum over k < 1000 of (k+1)^-1.1 ≈ 5.57: id 5 17.9%, id 6
	// 8.4%, id 14 1.4% (bounds: 5 standard deviations); ids far down the tail are still drawn.
	for _, c := range []struct {
		id       int
		min, max float64
	}{{5, 0.173, 0.186}, {6, 0.079, 0.088}, {14, 0.0123, 0.0162}} {
		if f := float64(counts[c.id]) / n; f < c.min || f > c.max {
			t.Errorf("id %d drawn %.4f of the time, want within [%g, %g]", c.id, f, c.min, c.max)
		}
	}
	if len(counts) < 500 {
		t.Errorf("saw %d distinct ids of 1000: the tail is missing", len(counts))
	}
	again, _ := render(t, "name: z\nvars: {id: {zipf: [5, 1004], s: 1.1}}\npath: /c/{{id}}", n)
	if strings.Join(again, "") != strings.Join(paths, "") {
		t.Error("the same seed drew other values")
	}
}

func TestZipfRangesScaleAndNeedAnExponent(t *testing.T) {
	s, _ := LoadScenario("q1-zipf")
	s.ScaleRanges(0.01)
	if v := s.Vars["id"]; v.Zipf[0] != 1 || v.Zipf[1] != 1000 || v.S != 1.1 {
		t.Errorf("q1-zipf id at scale 0.01 = %+v, want zipf [1 1000] s 1.1", v)
	}
	for _, c := range []struct{ yaml, want string }{
		{"name: z\nvars: {id: {zipf: [1, 10]}}\npath: /c/{{id}}", "s > 1"},
		{"name: z\nvars: {id: {zipf: [1, 10], s: 1}}\npath: /c/{{id}}", "s > 1"},
		{"name: z\nvars: {id: {zipf: [10, 1], s: 2}}\npath: /c/{{id}}", "is empty"},
		{"name: z\nvars: {id: {range: [1, 10], s: 2}}\npath: /c/{{id}}", "exponent of a zipf"},
		{"name: z\nvars: {id: {range: [1, 10], zipf: [1, 10], s: 2}}\npath: /c/{{id}}", "either range"},
	} {
		s, err := ParseScenario([]byte(c.yaml))
		if err == nil {
			_, err = compileScenario(s)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.yaml, err, c.want)
		}
	}
}

func BenchmarkRenderGraphQLRequest(b *testing.B) {
	s, _ := LoadScenario("q3-graphql")
	c, _ := compileScenario(s)
	g := newRequestGen(c, 1)
	b.ReportAllocs()
	for b.Loop() {
		g.next()
	}
}
