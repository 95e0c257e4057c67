package rest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// TestPlanCasesRunOnPostgres runs every golden statement through PgBouncer with text
// parameters and no type OIDs, as the executor does, and checks a few results exactly.
func TestPlanCasesRunOnPostgres(t *testing.T) {
	testenv.FreshSchema(t, testSchema, testDDL)
	raw, err := os.ReadFile(filepath.Join("testdata", "plan_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []planCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	pool := testenv.Pool(t)
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	want := map[string]string{
		"many-to-many through the junction table":                            `[{"title" : "Go rest", "tags" : [{"name" : "go"}, {"name" : "web"}]}, {"title" : "SQL", "tags" : [{"name" : "db"}]}, {"title" : "More Go", "tags" : []}]`,
		"inner join filters parents by the embedded filter":                  `[{"name" : "Ann", "articles" : [{"title" : "Go rest"}]}, {"name" : "Bob", "articles" : [{"title" : "More Go"}]}]`,
		"JSON path select and filter, full-text search with a configuration": `[{"id" : 1, "color" : "red"}]`,
		"embedded resource null filter":                                      `[{"name" : "Ann", "profiles" : {"bio" : "writes"}}]`,
	}
	for _, c := range cases {
		if c.SQL == "" {
			continue
		}
		t.Run(c.Comment, func(t *testing.T) {
			params := make([][]byte, len(c.Params))
			for i, p := range c.Params {
				params[i] = []byte(p)
			}
			res := pg.ExecParams(context.Background(), c.SQL, params, nil, nil, nil).Read()
			if res.Err != nil {
				t.Fatalf("%v\n%s", res.Err, c.SQL)
			}
			if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
				t.Fatalf("want one row of one column, got %d rows", len(res.Rows))
			}
			if w, ok := want[c.Comment]; ok && string(res.Rows[0][0]) != w {
				t.Fatalf("got  %s\nwant %s", res.Rows[0][0], w)
			}
		})
	}
}
