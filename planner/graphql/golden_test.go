package graphql_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/planner/gqlschema"
	"github.com/kapok-dev/kapok/planner/graphql"
)

// goldenCase is one Vitess-style case of testdata/graphql_*.json.
type goldenCase struct {
	Comment       string          `json:"comment"`
	Query         string          `json:"query"`
	OperationName string          `json:"operationName,omitempty"`
	Variables     json.RawMessage `json:"variables,omitempty"`
	// Limits overrides graphql.DefaultLimits for the case.
	Limits *graphql.Limits `json:"limits,omitempty"`
	// SQL is the statement (empty for introspection-only plans and errors).
	SQL string `json:"sql,omitempty"`
	// Params are the bound parameters as text (null: SQL NULL).
	Params []*string `json:"params,omitempty"`
	// Statements replace SQL/Params for mutations: one per root field, in order.
	Statements []goldenStatement `json:"statements,omitempty"`
	// Check is a query run after a mutation in the same transaction (then rolled
	// back), and CheckData its expected data: the database state the mutation left.
	Check     string          `json:"check,omitempty"`
	CheckData json.RawMessage `json:"checkData,omitempty"`
	// KeyVars are the variables that must be part of the cache key.
	KeyVars []string `json:"keyVars,omitempty"`
	// Shapes are the key variables a cache may key by shape (Plan.Shapes).
	Shapes []planner.VarShape `json:"shapes,omitempty"`
	// Data is the data object the statement returns on the fixture (checked by the
	// integration test), or the precomputed data of an introspection-only plan.
	Data json.RawMessage `json:"data,omitempty"`
	// Error is a compile or bind error; PGError a SQLSTATE raised by Postgres.
	Error   *planner.Error `json:"error,omitempty"`
	PGError string         `json:"pgError,omitempty"`
}

type goldenStatement struct {
	Key string `json:"key"`
	// Part/Parts: one element of an array-valued root field (Statement.Part/Parts).
	Part   int       `json:"part,omitempty"`
	Parts  int       `json:"parts,omitempty"`
	SQL    string    `json:"sql"`
	Params []*string `json:"params"`
}

type goldenFile struct {
	path  string
	cases []*goldenCase
}

func loadGolden(t *testing.T) []*goldenFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(testdataDir, "graphql_*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files in %s: %v", testdataDir, err)
	}
	sort.Strings(paths)
	var out []*goldenFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		gf := &goldenFile{path: p}
		if err := json.Unmarshal(b, &gf.cases); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, gf)
	}
	return out
}

func writeGolden(t *testing.T, gf *goldenFile) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(gf.cases); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gf.path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// compileCase compiles and binds a case the way the proxy does on a cache miss; it
// returns the parameters of every statement.
func compileCase(t testing.TB, c *goldenCase) (*planner.Plan, [][][]byte, *planner.Error) {
	lim := graphql.Limits{}
	if c.Limits != nil {
		lim = *c.Limits
	}
	p, err := graphql.Compile(fixtureGraphQL(t), c.Query, c.OperationName, c.Variables, lim)
	if err == nil && len(p.Statements) > 0 {
		var all [][][]byte
		for i := range p.Statements {
			var params [][]byte
			if params, err = p.BindStatement(i, c.Variables, nil); err != nil {
				break
			}
			all = append(all, params)
		}
		if err == nil {
			return p, all, nil
		}
	}
	if err != nil {
		var pe *planner.Error
		if !errors.As(err, &pe) {
			t.Fatalf("untyped error: %v", err)
		}
		return nil, nil, pe
	}
	return p, nil, nil
}

func textParams(ps [][]byte) []*string {
	out := make([]*string, len(ps))
	for i, p := range ps {
		if p != nil {
			s := string(p)
			out[i] = &s
		}
	}
	return out
}

func caseName(gf *goldenFile, i int, c *goldenCase) string {
	return strings.TrimSuffix(filepath.Base(gf.path), ".json") + "/" + c.Comment
}

// TestGoldenSQL checks every case's SQL, parameters and errors against the golden files
// (no database). `go test ./planner/graphql -update` rewrites them from the fixture
// database; review the diff before keeping it.
func TestGoldenSQL(t *testing.T) {
	if *update {
		t.Skip("-update: TestGoldenAgainstPostgres rewrites the golden files")
	}
	for _, gf := range loadGolden(t) {
		for i, c := range gf.cases {
			t.Run(caseName(gf, i, c), func(t *testing.T) {
				p, params, perr := compileCase(t, c)
				if perr != nil || c.Error != nil {
					if perr == nil {
						t.Fatalf("want error %+v, compiled:\n%s", c.Error, p.Statements[0].SQL)
					}
					if c.Error == nil || *perr != *c.Error {
						t.Fatalf("error\n got %+v\nwant %+v", perr, c.Error)
					}
					return
				}
				if p.Kind == planner.KindMutation {
					if g, w := jsonString(goldenStatements(p, params)), jsonString(c.Statements); g != w {
						t.Errorf("statements\n got %s\nwant %s", g, w)
					}
					for _, st := range p.Statements {
						assertNoLiterals(t, c, st.SQL)
					}
					if g, w := jsonString(p.Shapes), jsonString(c.Shapes); g != w {
						t.Errorf("shapes got %s want %s", g, w)
					}
					return
				}
				sql := ""
				var ps [][]byte
				if len(p.Statements) > 0 {
					sql, ps = p.Statements[0].SQL, params[0]
				} else if !jsonEqual(p.Data, c.Data) {
					t.Errorf("data\n got %s\nwant %s", p.Data, c.Data)
				}
				if sql != c.SQL {
					t.Errorf("sql\n got %s\nwant %s", sql, c.SQL)
				}
				if g, w := jsonString(textParams(ps)), jsonString(c.Params); g != w && !(len(ps) == 0 && len(c.Params) == 0) {
					t.Errorf("params\n got %s\nwant %s", g, w)
				}
				if g, w := strings.Join(p.KeyVars, ","), strings.Join(c.KeyVars, ","); g != w {
					t.Errorf("keyVars got %q want %q", g, w)
				}
				assertNoLiterals(t, c, sql)
			})
		}
	}
	if t.Failed() {
		t.Log("if the new output is right: go test ./planner/graphql -update, then review `git diff planner/graphql/testdata`")
	}
}

func goldenStatements(p *planner.Plan, params [][][]byte) []goldenStatement {
	out := make([]goldenStatement, len(p.Statements))
	for i, st := range p.Statements {
		out[i] = goldenStatement{Key: st.ResponseKey, Part: st.Part, Parts: st.Parts, SQL: st.SQL, Params: textParams(params[i])}
	}
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// jsonEqual compares JSON texts exactly up to insignificant whitespace (key order and
// number spelling count).
func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

// assertNoLiterals checks that no string literal of the query text reached the SQL.
// Literals spelled like names are skipped: names (tables, aliases) belong in the SQL.
func assertNoLiterals(t *testing.T, c *goldenCase, sql string) {
	t.Helper()
	for _, lit := range stringLiterals(c.Query) {
		if len(lit) >= 3 && !gqlschema.ValidName(lit) && strings.Contains(sql, lit) {
			t.Errorf("literal %q of the query appears in the SQL", lit)
		}
	}
}

// stringLiterals returns the contents of "..." literals in a GraphQL text.
func stringLiterals(q string) []string {
	var out []string
	for {
		i := strings.IndexByte(q, '"')
		if i < 0 {
			return out
		}
		q = q[i+1:]
		j := strings.IndexByte(q, '"')
		if j < 0 {
			return out
		}
		out = append(out, q[:j])
		q = q[j+1:]
	}
}
