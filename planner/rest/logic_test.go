package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// TestLogicCases keeps the SQL of the boolean-filter cases (or=, and=, not.or= at the
// root and in embeds, !inner, writes) in testdata/logic_cases.json.
func TestLogicCases(t *testing.T) { runGolden(t, "logic_cases.json", runCompileCase) }

// TestLogicCasesReturnTheirOwnRows runs the boolean-filter cases on Postgres and checks
// the rows: an embedded or= must filter each parent's own rows, never add other
// parents' rows that match it.
func TestLogicCasesReturnTheirOwnRows(t *testing.T) {
	testenv.FreshSchema(t, testSchema, testDDL)
	raw, err := os.ReadFile(filepath.Join("testdata", "logic_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []planCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"an embedded or= stays under its own parent":                                          `3,,[{"name":"Ann","articles":[{"id":1}]},{"name":"Bob","articles":[{"id":3}]},{"name":"Cy","articles":[]}]`,
		"an !inner embed with or= keeps each parent's own rows and drops parents without one": `2,,[{"name":"Ann","articles":[{"id":1}]},{"name":"Bob","articles":[{"id":3}]}]`,
		"a to-one embed with or= is each row's own parent or null":                            `3,,[{"id":1,"authors":null},{"id":2,"authors":null},{"id":3,"authors":{"name":"Bob"}}]`,
		"an embedded not.or= and and= stay under their parent":                                `3,,[{"name":"Ann","articles":[{"id":2}]},{"name":"Bob","articles":[]},{"name":"Cy","articles":[]}]`,
		"an or= two embeds down, through a junction, stays under each parent": `3,,[{"name":"Ann","articles":[{"id":1,"tags":[{"name":"go"}]},{"id":2,"tags":[{"name":"db"}]}]},` +
			`{"name":"Bob","articles":[{"id":3,"tags":[]}]},{"name":"Cy","articles":[]}]`,
		"a quoted empty string in a logic tree is the empty string, not NULL":        `2,,[{"id":1},{"id":4}]`,
		"a root or= is ANDed whole with the other filters":                           `1,,[{"id":1}]`,
		"PATCH with or= and another filter updates only the rows matching both":      `1,,[{"id":3,"title":"x"}]`,
		"DELETE with not.or= and another filter deletes only the rows matching both": `1,,[{"article_id":1,"tag_id":3}]`,
	}
	pool := testenv.Pool(t)
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	for _, c := range cases {
		// Compiled afresh: the rows must come from what the planner makes today.
		c = runCompileCase(c)
		w, ok := want[c.Comment]
		if c.SQL == "" || !ok {
			if c.SQL != "" || c.Error == nil {
				t.Errorf("%s: no expected rows", c.Comment)
			}
			continue
		}
		t.Run(c.Comment, func(t *testing.T) {
			params := compileArgs(t, c)
			if err := pg.Exec(context.Background(), "BEGIN").Close(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = pg.Exec(context.Background(), "ROLLBACK").Close() }()
			// A tag named '' for the empty-string case; the other cases do not read tags
			// other than through article_tags.
			if err := pg.Exec(context.Background(), "INSERT INTO "+testSchema+".tags VALUES (4, '')").Close(); err != nil {
				t.Fatal(err)
			}
			res := pg.ExecParams(context.Background(), c.SQL, params, nil, nil, nil).Read()
			if res.Err != nil {
				t.Fatalf("%v\n%s", res.Err, c.SQL)
			}
			var got string
			switch c.Result {
			case "rows":
				items := make([]string, len(res.Rows))
				for i, r := range res.Rows {
					items[i] = compactJSON(t, r[0])
				}
				got = fmt.Sprintf("%d,,[%s]", len(items), strings.Join(items, ","))
			case "":
				// A write's envelope value: `<count>,<total>,<body>`.
				if len(res.Rows) != 1 {
					t.Fatalf("want one row, got %d", len(res.Rows))
				}
				n, body, _ := strings.Cut(string(res.Rows[0][0]), ",,")
				got = n + ",," + compactJSON(t, []byte(body))
			default:
				t.Fatalf("result %q", c.Result)
			}
			if got != w {
				t.Fatalf("got  %s\nwant %s", got, w)
			}
		})
	}
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return out.String()
}

// compileArgs binds c the way the proxy does; unlike planCase.Params it keeps a nil
// (NULL) argument apart from an empty one.
func compileArgs(t *testing.T, c planCase) [][]byte {
	t.Helper()
	h := caseHeaders(c)
	req, err := ParseRequest(c.Method, c.Path, []byte(c.Query), h)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Compile(testCatalog(), req, []byte(c.Body))
	if err != nil {
		t.Fatal(err)
	}
	var s Shaper
	_, vals := s.Shape([]byte(c.Method), []byte(c.Path), []byte(c.Query), h, nil, nil)
	return st.AppendArgs(nil, vals, []byte(c.Body))
}
