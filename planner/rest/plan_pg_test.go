package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// TestPlanCasesRunOnPostgres runs every golden statement through PgBouncer with text
// parameters and no type OIDs, as the executor does, and checks a few results exactly.
func TestPlanCasesRunOnPostgres(t *testing.T) {
	testenv.FreshSchema(t, testSchema, testDDL)
	var cases []planCase
	for _, name := range []string{"plan_cases.json", "compile_cases.json"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var cs []planCase
		if err := json.Unmarshal(raw, &cs); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, cs...)
	}
	pool := testenv.Pool(t)
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	want := map[string]string{
		"many-to-many through the junction table":                            `[{"title":"Go rest","tags":[{"name":"go"},{"name":"web"}]},{"title":"SQL","tags":[{"name":"db"}]},{"title":"More Go","tags":[]}]`,
		"inner join filters parents by the embedded filter":                  `[{"name":"Ann","articles":[{"title":"Go rest"}]},{"name":"Bob","articles":[{"title":"More Go"}]}]`,
		"JSON path select and filter, full-text search with a configuration": `[{"id":1,"color":"red"}]`,
		"embedded resource null filter":                                      `[{"name":"Ann","profiles":{"bio":"writes"}}]`,
		// REST statements: the envelope the proxy splits.
		"count=exact adds the total over the same filters without limit":  `1,2,[{"title":"Go rest","authors":{"name":"Ann"}}]`,
		"a bulk insert reads the body as one json parameter":              `2,,[]`,
		"merge-duplicates upserts on the primary key":                     `1,0,[{"id":1,"name":"GO"}]`, // the total slot counts rows inserted: none
		"ignore-duplicates on an explicit conflict target":                `0,,[]`,
		"PATCH updates the filtered rows and embeds in the returned rows": `1,,[{"title":"new","authors":{"name":"Ann"}}]`,
		"a scalar function with body arguments":                           `1,,3`,
		"a set-returning function with select, filter and order":          `1,,[{"title":"SQL"}]`,
		"aggregates group by the plain columns":                           `1,,[{"author_id":1,"total":3,"count":2}]`,
		"a spread places a to-one relation's columns in the parent":       `1,,[{"title":"Go rest","author":"Ann"}]`,
		"DELETE with a logic tree":                                        `1,,[{"article_id":2,"tag_id":2}]`,
		// Embedded aggregates: one object per group within each parent, [{"count":0}] for none.
		"an embed's bare count is its row count per parent, zero included": `3,,[{"name":"Ann","articles":[{"count":2}]},{"name":"Bob","articles":[{"count":1}]},{"name":"Cy","articles":[{"count":0}]}]`,
		"count() of an embed, with the embed filtered":                     `3,,[{"name":"Ann","articles":[{"count":1}]},{"name":"Bob","articles":[{"count":1}]},{"name":"Cy","articles":[{"count":0}]}]`,
		"embedded sum, avg and min with a cast of the result":              `3,,[{"name":"Ann","articles":[{"sum":"3","avg":2,"min":1}]},{"name":"Bob","articles":[{"sum":"3","avg":3,"min":3}]},{"name":"Cy","articles":[{"sum":null,"avg":null,"min":null}]}]`,
		"embedded aggregates over a JSON path and a cast input":            `3,,[{"name":"Ann","articles":[{"kind":"post","total":null,"last":"2"}]},{"name":"Bob","articles":[{"kind":null,"total":null,"last":"3"}]},{"name":"Cy","articles":[{"kind":null,"total":null,"last":null}]}]`,
		"a to-one embed grouped by its column is one object":               `3,,[{"title":"Go rest","author":{"name":"Ann","count":1}},{"title":"SQL","author":{"name":"Ann","count":1}},{"title":"More Go","author":{"name":"Bob","count":1}}]`,
		"an inner embed with a count keeps parents with matching rows":     `2,,[{"name":"Ann","articles":[{"count":1}]},{"name":"Bob","articles":[{"count":1}]}]`,
		"PATCH returns rows with an embedded count":                        `1,,[{"title":"new","article_tags":[{"count":2}]}]`,
		"embedded aggregates under a key longer than a column name":        `1,,[{"name":"Bob","articles":[{"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk":1}]}]`,
		"a to-one embed's aggregate under a key longer than a column name": `1,,[{"title":"More Go","authors":{"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk":2}}]`,
		"a many-to-many embed's count goes through the junction table":     `3,,[{"title":"Go rest","tags":[{"count":2}]},{"title":"SQL","tags":[{"count":1}]},{"title":"More Go","tags":[{"count":0}]}]`,
		"aggregates in a nested embed":                                     `3,,[{"name":"Ann","articles":[{"title":"Go rest","article_tags":[{"count":2}]},{"title":"SQL","article_tags":[{"count":1}]}]},{"name":"Bob","articles":[{"title":"More Go","article_tags":[{"count":0}]}]},{"name":"Cy","articles":[]}]`,
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
			// Writes must not leak into other cases.
			if err := pg.Exec(context.Background(), "BEGIN").Close(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = pg.Exec(context.Background(), "ROLLBACK").Close() }()
			res := pg.ExecParams(context.Background(), c.SQL, params, nil, nil, nil).Read()
			if res.Err != nil {
				t.Fatalf("%v\n%s", res.Err, c.SQL)
			}
			var got string
			switch c.Result {
			case "count":
				if len(res.Rows) != 0 {
					t.Fatalf("a command returned %d rows", len(res.Rows))
				}
				got = fmt.Sprintf("%d,,[]", res.CommandTag.RowsAffected())
			case "rows":
				// As the executor gathers them (poolmgr.Statement.Rows).
				var items []string
				for _, r := range res.Rows {
					if len(r) != 1 {
						t.Fatalf("want rows of one column, got %d", len(r))
					}
					items = append(items, string(r[0]))
				}
				got = fmt.Sprintf("%d,,[%s]", len(items), strings.Join(items, ","))
			default:
				if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
					t.Fatalf("want one row of one column, got %d rows", len(res.Rows))
				}
				got = string(res.Rows[0][0])
			}
			if w, ok := want[c.Comment]; ok && got != w {
				t.Fatalf("got  %s\nwant %s", got, w)
			}
		})
	}
}
