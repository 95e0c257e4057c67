package graphql_test

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/graphql"
)

// fanOut is a query whose fragments each spread the next one ten times, levels deep: a
// few hundred bytes that expand to 10^levels fields.
func fanOut(levels int) string {
	var b strings.Builder
	b.WriteString("{ authors { ...F0 } }\n")
	for i := 0; i < levels; i++ {
		fmt.Fprintf(&b, "fragment F%d on authors {", i)
		if i == levels-1 {
			b.WriteString(" id")
		} else {
			for j := 0; j < 10; j++ {
				fmt.Fprintf(&b, " ...F%d", i+1)
			}
		}
		b.WriteString(" }\n")
	}
	return b.String()
}

// allocated runs f and returns the bytes the process allocated meanwhile.
func allocated(f func()) uint64 {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	f()
	runtime.ReadMemStats(&m1)
	return m1.TotalAlloc - m0.TotalAlloc
}

func compileErr(t *testing.T, q string, lim graphql.Limits) (*planner.Error, uint64) {
	t.Helper()
	s := fixtureGraphQL(t)
	var err error
	n := allocated(func() { _, err = graphql.Compile(s, q, "", nil, lim) })
	var pe *planner.Error
	if !errors.As(err, &pe) {
		t.Fatalf("want a planner error, got %v", err)
	}
	return pe, n
}

func TestDocumentsThatExpandTooFarAreRefusedBeforeExpanding(t *testing.T) {
	repeated := "{ authors { " + strings.Repeat("id ", 2000) + "} }"
	nested := "{ authors { " + strings.Repeat("articles { id } ", 2000) + "} }"
	var spread strings.Builder
	spread.WriteString("{ authors { ")
	for i := range 500 {
		fmt.Fprintf(&spread, "...F%d ", i)
	}
	spread.WriteString("} }\n")
	for i := range 500 {
		fmt.Fprintf(&spread, "fragment F%d on authors { id }\n", i)
	}
	unused := "{ authors { id } }\nfragment U on authors { " + strings.Repeat("id ", 2000) + "}"
	for _, c := range []struct{ name, query, msg string }{
		{"fragments spread ten times over 7 levels", fanOut(7), "the query selects more than 10000 fields once fragments are expanded, which is the limit"},
		{"fragments spread ten times over 9 levels", fanOut(9), "the query selects more than 10000 fields once fragments are expanded, which is the limit"},
		{"fragments spread ten times over 30 levels", fanOut(30), "the query selects more than 10000 fields once fragments are expanded, which is the limit"},
		{"fragments spread ten times over 4 levels", fanOut(4), `the field "id" is selected 1000 times in one selection set once fragments are expanded, the limit is 100`},
		{"one field written 2000 times", repeated, `the field "id" is selected 2000 times in one selection set once fragments are expanded, the limit is 100`},
		{"one relationship written 2000 times", nested, `the field "articles" is selected 2000 times in one selection set once fragments are expanded, the limit is 100`},
		{"500 fragments selecting the same field", spread.String(), `the field "id" is selected 500 times in one selection set once fragments are expanded, the limit is 100`},
		{"an unused fragment repeating a field", unused, `the field "id" is selected 2000 times in one selection set once fragments are expanded, the limit is 100`},
	} {
		t.Run(c.name+" is refused, allocating under 4 MB", func(t *testing.T) {
			e, n := compileErr(t, c.query, graphql.Limits{})
			if e.Code != planner.CodeValidationFailed || e.Message != c.msg || e.Path != "$" {
				t.Fatalf("got %v", e)
			}
			if n > 4<<20 {
				t.Fatalf("refusing allocated %d bytes", n)
			}
		})
	}
}

func TestDocumentsWithinTheSizeLimitsCompile(t *testing.T) {
	s := fixtureGraphQL(t)
	var many strings.Builder
	many.WriteString("{ authors { ")
	for i := range 40 {
		fmt.Fprintf(&many, "...F%d ", i)
	}
	many.WriteString("} }\n")
	for i := range 40 {
		fmt.Fprintf(&many, "fragment F%d on authors { id name }\n", i)
	}
	for _, c := range []struct{ name, query string }{
		{"forty fragments selecting the same fields", many.String()},
		{"fragments spread ten times over 3 levels", fanOut(3)},
		{"a field written twice", "{ authors { id id name } }"},
	} {
		t.Run(c.name+" compiles", func(t *testing.T) {
			if _, err := graphql.Compile(s, c.query, "", nil, graphql.Limits{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestQueriesOverTheCostLimitAreRefused(t *testing.T) {
	s := fixtureGraphQL(t)
	lim := graphql.Limits{MaxLimit: 10000, MaxCost: 1_000_000_000}
	for _, c := range []struct{ name, query, vars, msg string }{
		{"three nested lists without limits", "{ authors { articles { comments { id } } } }", "",
			"the query is too expensive: its estimated cost is 1000100010000 rows, the limit is 1000000000; add limits to its lists"},
		{"a nested list whose limit is a variable counts the cap", "query ($n: Int) { authors(limit: 100) { articles { comments(limit: $n) { id } } } }", `{"n": 1}`,
			"the query is too expensive: its estimated cost is 10001000100 rows, the limit is 1000000000; add limits to its lists"},
		{"a limit above the cap counts the cap", "{ authors { articles(limit: 99999999) { comments { id } } } }", "",
			"the query is too expensive: its estimated cost is 1000100010000 rows, the limit is 1000000000; add limits to its lists"},
		{"aggregate nodes count their rows", "{ authors { articles_aggregate { nodes { comments { id } } } } }", "",
			"the query is too expensive: its estimated cost is 1000100020000 rows, the limit is 1000000000; add limits to its lists"},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			_, err := graphql.Compile(s, c.query, "", []byte(c.vars), lim)
			var pe *planner.Error
			if !errors.As(err, &pe) || pe.Code != planner.CodeValidationFailed || pe.Message != c.msg {
				t.Fatalf("got %v", err)
			}
		})
	}
	for _, c := range []struct{ name, query string }{
		{"nested lists with limits", "{ authors(limit: 10) { articles(limit: 5) { comments { id } } } }"},
		{"two nested lists without limits", "{ authors { articles { id } } }"},
		{"objects under a list", "{ articles { author { articles(limit: 10) { id } } } }"},
		{"an aggregate without nodes", "{ authors { articles_aggregate { aggregate { count } } } }"},
	} {
		t.Run(c.name+" compiles", func(t *testing.T) {
			if _, err := graphql.Compile(s, c.query, "", nil, lim); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCompilationStopsAtTheDeadline(t *testing.T) {
	e, _ := compileErr(t, "{ authors { id } }", graphql.Limits{Deadline: time.Now().Add(-time.Second)})
	if e.Code != planner.CodeUnexpected || e.Message != "request timed out while compiling the query" {
		t.Fatalf("got %v", e)
	}
}

// BenchmarkFanOut compiles the fan-out query: "refused" with the default limits,
// "unbounded" with the size limits lifted, which is how every compilation ran before
// they existed.
func BenchmarkFanOut(b *testing.B) {
	s := fixtureGraphQL(b)
	for _, levels := range []int{5, 6, 7, 9} {
		for _, mode := range []string{"refused", "unbounded"} {
			if mode == "unbounded" && levels > 7 {
				continue
			}
			lim := graphql.Limits{}
			if mode == "unbounded" {
				lim = graphql.Limits{MaxFields: math.MaxInt32, MaxRepeats: math.MaxInt32}
			}
			q := fanOut(levels)
			b.Run(fmt.Sprintf("levels=%d/%s", levels, mode), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_, _ = graphql.Compile(s, q, "", nil, lim)
				}
			})
		}
	}
}
