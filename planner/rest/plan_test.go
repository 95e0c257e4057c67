package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/sqlgen"
)

var update = flag.Bool("update", false, "rewrite testdata/plan_cases.json from the current output")

// testSchema is both the catalog's schema and the one TestPlanCasesRunOnPostgres creates.
const testSchema = "rest_t_plan"

const testDDL = `
CREATE TABLE authors (id int4 PRIMARY KEY, name text);
CREATE TABLE articles (id int4 PRIMARY KEY, title text, author_id int4 REFERENCES authors, editor_id int4 REFERENCES authors,
  data jsonb, tsv tsvector, tags text[]);
CREATE TABLE tags (id int4 PRIMARY KEY, name text);
CREATE TABLE article_tags (article_id int4 REFERENCES articles, tag_id int4 REFERENCES tags, PRIMARY KEY (article_id, tag_id));
CREATE TABLE profiles (author_id int4 PRIMARY KEY REFERENCES authors, bio text);
INSERT INTO authors VALUES (1, 'Ann'), (2, 'Bob'), (3, 'Cy');
INSERT INTO articles VALUES
  (1, 'Go rest', 1, 2, '{"kind":"post","attrs":{"color":"red"}}', to_tsvector('english', 'the cat sat'), '{a,b,c}'),
  (2, 'SQL', 1, NULL, '{"kind":"page"}', to_tsvector('english', 'dogs'), '{a}'),
  (3, 'More Go', 2, 1, NULL, NULL, NULL);
INSERT INTO tags VALUES (1, 'go'), (2, 'db'), (3, 'web');
INSERT INTO article_tags VALUES (1, 1), (1, 3), (2, 2);
INSERT INTO profiles VALUES (1, 'writes');
CREATE FUNCTION add(a int4, b int4) RETURNS int4 LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
CREATE FUNCTION by_author(author int4) RETURNS SETOF articles LANGUAGE sql STABLE
  AS 'SELECT * FROM rest_t_plan.articles WHERE author_id = author';
`

func testCatalog() *catalog.Schema {
	c := func(name, typ string) *catalog.Column {
		return &catalog.Column{Name: name, TypeName: typ, TypeSchema: "pg_catalog", Insertable: true, Updatable: true}
	}
	tbl := func(name string, pk []string, cols ...*catalog.Column) *catalog.Table {
		return &catalog.Table{Schema: testSchema, Name: name, Kind: catalog.KindTable, Columns: cols, PrimaryKey: pk}
	}
	fk := func(name string, cols []string, ref string, refCols []string) *catalog.ForeignKey {
		return &catalog.ForeignKey{Name: name, Columns: cols, RefSchema: testSchema, RefTable: ref, RefColumns: refCols}
	}
	authors := tbl("authors", []string{"id"}, c("id", "int4"), c("name", "text"))
	articles := tbl("articles", []string{"id"}, c("id", "int4"), c("title", "text"), c("author_id", "int4"),
		c("editor_id", "int4"), c("data", "jsonb"), c("tsv", "tsvector"), c("tags", "text"))
	articles.Columns[6].IsArray = true
	articles.ForeignKeys = []*catalog.ForeignKey{
		fk("articles_author_id_fkey", []string{"author_id"}, "authors", []string{"id"}),
		fk("articles_editor_id_fkey", []string{"editor_id"}, "authors", []string{"id"}),
	}
	tags := tbl("tags", []string{"id"}, c("id", "int4"), c("name", "text"))
	at := tbl("article_tags", []string{"article_id", "tag_id"}, c("article_id", "int4"), c("tag_id", "int4"))
	at.ForeignKeys = []*catalog.ForeignKey{
		fk("article_tags_article_id_fkey", []string{"article_id"}, "articles", []string{"id"}),
		fk("article_tags_tag_id_fkey", []string{"tag_id"}, "tags", []string{"id"}),
	}
	profiles := tbl("profiles", []string{"author_id"}, c("author_id", "int4"), c("bio", "text"))
	profiles.ForeignKeys = []*catalog.ForeignKey{fk("profiles_author_id_fkey", []string{"author_id"}, "authors", []string{"id"})}
	arg := func(name string) *catalog.FunctionArg {
		return &catalog.FunctionArg{Name: name, Type: "integer", TypeName: "int4", TypeSchema: "pg_catalog", Mode: "i"}
	}
	funcs := []*catalog.Function{
		{Schema: testSchema, Name: "add", Args: []*catalog.FunctionArg{arg("a"), arg("b")}, ReturnType: "integer",
			ReturnTypeName: "int4", ReturnTypeSchema: "pg_catalog", Volatility: "i"},
		{Schema: testSchema, Name: "by_author", Args: []*catalog.FunctionArg{arg("author")}, ReturnTypeName: "articles",
			ReturnTypeSchema: testSchema, ReturnsSet: true, ReturnsRelation: &catalog.QualifiedName{Schema: testSchema, Name: "articles"}, Volatility: "s"},
	}
	s := &catalog.Schema{Schemas: []string{testSchema}, Tables: []*catalog.Table{at, articles, authors, profiles, tags}, Functions: funcs}
	s.Index()
	return s
}

type planCase struct {
	Comment string            `json:"comment"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   string            `json:"query"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	SQL     string            `json:"sql,omitempty"`
	// Result says how the executor turns the statement's rows into the envelope:
	// "rows" (one object per row), "count" (a command: its row count), "" (the value).
	Result string     `json:"result,omitempty"`
	Params []string   `json:"params,omitempty"`
	Error  *planError `json:"error,omitempty"`
}

type planError struct {
	Status  int             `json:"status"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details,omitempty"`
	Hint    string          `json:"hint,omitempty"`
}

func caseHeaders(c planCase) hdrs {
	h := hdrs{}
	for k, v := range c.Headers {
		h[k] = []string{v}
	}
	return h
}

// failedCase records err as the case's expected error.
func failedCase(out planCase, err error) planCase {
	out.SQL, out.Params = "", nil
	var e *Error
	if !errors.As(err, &e) {
		out.Error = &planError{Code: "untyped", Message: err.Error()}
		return out
	}
	out.Error = &planError{Status: e.Status, Code: e.Code, Message: e.Message, Hint: e.Hint}
	switch {
	case len(e.DetailsJSON) > 0:
		out.Error.Details = e.DetailsJSON
	case e.Details != "":
		out.Error.Details, _ = json.Marshal(e.Details)
	}
	return out
}

func runPlanCase(c planCase) planCase {
	out := c
	out.SQL, out.Result, out.Params, out.Error = "", "", nil, nil
	h := caseHeaders(c)
	fail := func(err error) planCase { return failedCase(out, err) }
	req, err := ParseRequest(c.Method, c.Path, []byte(c.Query), h)
	if err != nil {
		return fail(err)
	}
	p, err := planRead(testCatalog(), req)
	if err != nil {
		return fail(err)
	}
	st, err := sqlgen.Build(p.Query)
	if err != nil {
		return fail(err)
	}
	var s Shaper
	_, vals := s.Shape([]byte(c.Method), []byte(c.Path), []byte(c.Query), h, nil, nil)
	args := p.AppendArgs(nil, vals)
	out.SQL = st.SQL
	for _, slot := range st.Slots {
		out.Params = append(out.Params, string(args[slot]))
	}
	return out
}

// runCompileCase compiles a case to the statement the proxy runs (envelope, writes,
// calls); the body binds as the json parameter.
func runCompileCase(c planCase) planCase {
	out := c
	out.SQL, out.Result, out.Params, out.Error = "", "", nil, nil
	h := caseHeaders(c)
	req, err := ParseRequest(c.Method, c.Path, []byte(c.Query), h)
	if err != nil {
		return failedCase(out, err)
	}
	st, err := Compile(testCatalog(), req, []byte(c.Body))
	if err != nil {
		return failedCase(out, err)
	}
	var s Shaper
	_, vals := s.Shape([]byte(c.Method), []byte(c.Path), []byte(c.Query), h, nil, nil)
	out.SQL, out.Result = st.SQL, map[statement.Result]string{statement.Envelope: "rows", statement.Count: "count"}[st.Result]
	for _, a := range st.AppendArgs(nil, vals, []byte(c.Body)) {
		out.Params = append(out.Params, string(a))
	}
	return out
}

func TestPlanCases(t *testing.T) { runGolden(t, "plan_cases.json", runPlanCase) }

func TestCompileCases(t *testing.T) { runGolden(t, "compile_cases.json", runCompileCase) }

func runGolden(t *testing.T, name string, run func(planCase) planCase) {
	file := filepath.Join("testdata", name)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var cases []planCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	var got []planCase
	changed := false
	for _, c := range cases {
		g := run(c)
		got = append(got, g)
		a, _ := json.Marshal(c)
		b, _ := json.Marshal(g)
		if string(a) != string(b) {
			changed = true
			if !*update {
				t.Errorf("%s:\n got %s\nwant %s", c.Comment, b, a)
			}
		}
	}
	if changed {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(got); err != nil {
			t.Fatal(err)
		}
		b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		target := file + ".new"
		if *update {
			target = file
		}
		if err := os.WriteFile(target, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		if !*update {
			t.Logf("wrote %s; review it, then accept with: go test ./planner/rest -run %s -update", target, t.Name())
		}
	}
}

// planRead plans a read request; any other action is an error.
func planRead(cat *catalog.Schema, req *ApiRequest) (*ReadPlan, error) {
	ap, err := Plan(cat, req, nil)
	if err != nil {
		return nil, err
	}
	p, ok := ap.(*ReadPlan)
	if !ok {
		return nil, fmt.Errorf("%w: %s %s is not a read", ErrNotLowered, req.Method, req.Target)
	}
	return p, nil
}
