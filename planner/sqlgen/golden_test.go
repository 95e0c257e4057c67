package sqlgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner/ir"
)

var update = flag.Bool("update", false, "rewrite testdata/*.sql from the current output (review the diff)")

// golden is what a case's IR renders to, as testdata/<topic>.sql holds it: a block per
// case, `-- <name>`, then `-- slots:` and `-- result:` when there are some, then the SQL.
type golden struct {
	name   string
	slots  []int
	result statement.Result
	sql    string
}

var resultNames = map[statement.Result]string{
	statement.Value: "value", statement.Envelope: "envelope", statement.Array: "array",
	statement.One: "one", statement.Count: "count",
}

func (g golden) String() string {
	var b strings.Builder
	b.WriteString("-- " + g.name + "\n")
	if len(g.slots) > 0 {
		b.WriteString("-- slots:")
		for _, s := range g.slots {
			b.WriteString(" " + strconv.Itoa(s))
		}
		b.WriteString("\n")
	}
	if g.result != statement.Value {
		b.WriteString("-- result: " + resultNames[g.result] + "\n")
	}
	b.WriteString(g.sql + "\n")
	return b.String()
}

func readGolden(path string) (map[string]golden, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]golden{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]golden{}
	for _, block := range strings.Split(strings.TrimSpace(string(raw)), "\n\n") {
		var g golden
		for _, line := range strings.Split(block, "\n") {
			switch {
			case g.name == "" && strings.HasPrefix(line, "-- "):
				g.name = line[3:]
			case strings.HasPrefix(line, "-- slots:"):
				for _, f := range strings.Fields(line[len("-- slots:"):]) {
					n, err := strconv.Atoi(f)
					if err != nil {
						return nil, fmt.Errorf("%s: %s: %v", path, g.name, err)
					}
					g.slots = append(g.slots, n)
				}
			case strings.HasPrefix(line, "-- result: "):
				for r, n := range resultNames {
					if n == line[len("-- result: "):] {
						g.result = r
					}
				}
			default:
				g.sql += line
			}
		}
		out[g.name] = g
	}
	return out, nil
}

func buildCase(c sqlCase) (golden, error) {
	st, err := c.build()
	if err != nil {
		return golden{}, err
	}
	return golden{name: c.name, slots: st.Slots, result: st.Result, sql: st.SQL}, nil
}

// TestSQLCases renders every IR tree of sqlCases and compares it with testdata/<topic>.sql,
// so a change to the SQL sqlgen writes reads as a diff of those files.
func TestSQLCases(t *testing.T) {
	topics := map[string][]sqlCase{}
	for _, c := range sqlCases {
		topics[c.topic] = append(topics[c.topic], c)
	}
	names := make([]string, 0, len(topics))
	for n := range topics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, topic := range names {
		path := filepath.Join("testdata", topic+".sql")
		want, err := readGolden(path)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		changed := len(want) != len(topics[topic])
		for _, c := range topics[topic] {
			got, err := buildCase(c)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if out.Len() > 0 {
				out.WriteString("\n")
			}
			out.WriteString(got.String())
			if w, ok := want[c.name]; !ok || w.String() != got.String() {
				changed = true
				if !*update {
					t.Errorf("%s: %s\n got %s\nwant %s", path, c.name, got, w)
				}
			}
		}
		if changed && *update {
			if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if t.Failed() {
		t.Log("if the new SQL is right: go test ./planner/sqlgen -run TestSQLCases -update, then review `git diff planner/sqlgen/testdata`")
	}
}

// TestSQLCasesRunOnPostgres prepares every case's statement on testdata/fixture.sql and
// runs it with NULL parameters in a transaction that is rolled back, so no case can
// hold SQL that Postgres refuses; values it returns must be compact JSON.
func TestSQLCasesRunOnPostgres(t *testing.T) {
	ddl, err := os.ReadFile(filepath.Join("testdata", "fixture.sql"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.FreshSchema(t, casesSchema, string(ddl))
	conn := testenv.Conn(t)
	ctx := context.Background()
	for _, c := range sqlCases {
		t.Run(c.topic+": "+c.name, func(t *testing.T) {
			g, err := buildCase(c)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Prepare(ctx, "", g.sql); err != nil {
				t.Fatalf("prepare: %v\n%s", err, g.sql)
			}
			args := make([]any, len(g.slots))
			rows, err := tx.Query(ctx, g.sql, args...)
			if err != nil {
				t.Fatal(err)
			}
			var values []string
			for rows.Next() {
				var v *string
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				if v != nil {
					values = append(values, *v)
				}
			}
			rows.Close()
			var pe *pgconn.PgError
			if err := rows.Err(); err != nil {
				// NULL parameters may be refused as data (a NULL json body), break a
				// constraint or a singular write's count check; anything else is a fault
				// of the SQL.
				if errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23") || pe.Code == "42704" && strings.Contains(pe.Message, ir.SingularSetting)) {
					return
				}
				t.Fatalf("run: %v\n%s", err, g.sql)
			}
			for _, v := range values {
				if c.topic == "rest" && g.result == statement.Value {
					// The envelope `<rows>,<total>,<body>`; CSV bodies are not JSON.
					parts := strings.SplitN(v, ",", 3)
					if len(parts) != 3 || strings.HasPrefix(parts[2], "id,") {
						continue
					}
					v = parts[2]
				}
				var compact bytes.Buffer
				if err := json.Compact(&compact, []byte(v)); err != nil {
					t.Errorf("not JSON: %s", v)
				} else if compact.String() != v {
					t.Errorf("not compact JSON: %s", v)
				}
			}
		})
	}
}
