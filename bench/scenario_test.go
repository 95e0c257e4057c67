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
	if len(names) != 11 || names[0] != "q1-graphql" || names[len(names)-1] != "write-rest" {
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

func BenchmarkRenderGraphQLRequest(b *testing.B) {
	s, _ := LoadScenario("q3-graphql")
	c, _ := compileScenario(s)
	g := newRequestGen(c, 1)
	b.ReportAllocs()
	for b.Loop() {
		g.next()
	}
}
