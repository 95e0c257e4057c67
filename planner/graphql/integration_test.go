package graphql_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner"
)

// TestFixtureCatalogSnapshotIsCurrent keeps testdata/fixture_catalog.json (what the
// database-free golden test compiles against) equal to what catalogload.Load returns.
func TestFixtureCatalogSnapshotIsCurrent(t *testing.T) {
	cat := fixtureDB(t)
	got, err := json.MarshalIndent(cat, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(catalogSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(got, want) {
		t.Fatalf("%s is stale: run `go test ./planner/graphql -update` and review the diff", catalogSnapshot)
	}
}

// TestGoldenAgainstPostgres runs every golden case's statement through PgBouncer the
// way the executor does (pgconn ExecParams, text parameters, no OIDs) and checks the
// exact JSON. With -update it rewrites the golden files.
func TestGoldenAgainstPostgres(t *testing.T) {
	fixtureDB(t)
	pool := testenv.Pool(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	for _, gf := range loadGolden(t) {
		for i, c := range gf.cases {
			t.Run(caseName(gf, i, c), func(t *testing.T) {
				runCase(t, ctx, pg, c)
			})
		}
		if *update {
			writeGolden(t, gf)
		}
	}
}

// runCase compiles, binds and executes one case, checking (or, with -update,
// recording) SQL, parameters, errors and data. Mutations run in a transaction that is
// rolled back, so every case sees the fixture as loaded.
func runCase(t *testing.T, ctx context.Context, pg *pgconn.PgConn, c *goldenCase) {
	p, params, perr := compileCase(t, c)
	if *update {
		c.Error, c.SQL, c.Params, c.Statements, c.KeyVars, c.Shapes, c.Data, c.PGError, c.CheckData = perr, "", nil, nil, nil, nil, nil, "", nil
		if perr != nil {
			return
		}
		c.KeyVars, c.Shapes = p.KeyVars, p.Shapes
		switch {
		case len(p.Statements) == 0:
			c.Data = p.Data
			return
		case p.Kind == planner.KindMutation:
			c.Statements = goldenStatements(p, params)
		default:
			c.SQL, c.Params = p.Statements[0].SQL, textParams(params[0])
		}
	}
	if perr != nil {
		if !*update && (c.Error == nil || *perr != *c.Error) {
			t.Fatalf("error\n got %+v\nwant %+v", perr, c.Error)
		}
		return
	}
	if len(p.Statements) == 0 {
		return
	}
	var data json.RawMessage
	var pgErr string
	if p.Kind == planner.KindMutation {
		if _, e := run(ctx, pg, "BEGIN", nil, false); e != "" {
			t.Fatal(e)
		}
		defer run(ctx, pg, "ROLLBACK", nil, false)
		var b bytes.Buffer
		b.WriteByte('{')
		for i, st := range p.Statements {
			v, e := runValue(ctx, pg, &p.Statements[i], params[i])
			if e != "" {
				pgErr = e
				break
			}
			// The composition the proxy does: Part/Parts statements make one array.
			if i > 0 {
				b.WriteByte(',')
			}
			if st.Part <= 1 {
				k, _ := json.Marshal(st.ResponseKey)
				b.Write(k)
				b.WriteByte(':')
			}
			if st.Part == 1 {
				b.WriteByte('[')
			}
			b.Write(v)
			if st.Parts > 0 && st.Part == st.Parts {
				b.WriteByte(']')
			}
		}
		b.WriteByte('}')
		data = b.Bytes()
	} else {
		data, pgErr = runQuery(ctx, pg, &p.Statements[0], params[0])
	}
	if pgErr == "" && !json.Valid(data) {
		t.Fatalf("statement returned invalid JSON: %q", data)
	}
	if pgErr == "" && !compactStructure(data) {
		t.Fatalf("statement returned JSON with the spacing of json_build_object or json_agg: %s", data)
	}
	var checkData json.RawMessage
	if c.Check != "" && pgErr == "" {
		cp, cparams, cerr := compileCase(t, &goldenCase{Query: c.Check})
		if cerr != nil {
			t.Fatalf("check query: %v", cerr)
		}
		var e string
		if checkData, e = runQuery(ctx, pg, &cp.Statements[0], cparams[0]); e != "" {
			t.Fatalf("check query: %s", e)
		}
	}
	if *update {
		if pgErr != "" {
			c.PGError = pgErr
		} else {
			c.Data, c.CheckData = data, checkData
		}
		return
	}
	if pgErr != c.PGError {
		t.Fatalf("postgres error got %q want %q", pgErr, c.PGError)
	}
	if pgErr == "" && !jsonEqual(data, c.Data) {
		t.Fatalf("data\n got %s\nwant %s", data, c.Data)
	}
	if c.Check != "" && !jsonEqual(checkData, c.CheckData) {
		t.Fatalf("check data\n got %s\nwant %s", checkData, c.CheckData)
	}
}

// runQuery executes a query's statement and returns the data object the proxy writes:
// the statement's value, or its rows gathered as st.Result says, under st.ResponseKey.
func runQuery(ctx context.Context, pg *pgconn.PgConn, st *planner.Statement, params [][]byte) (json.RawMessage, string) {
	v, e := runValue(ctx, pg, st, params)
	if e != "" || st.ResponseKey == "" {
		return v, e
	}
	k, _ := json.Marshal(st.ResponseKey)
	return json.RawMessage(`{` + string(k) + `:` + string(v) + `}`), ""
}

// runValue executes a statement and returns its value: the statement's one row, or its
// rows gathered as st.Result says.
func runValue(ctx context.Context, pg *pgconn.PgConn, st *planner.Statement, params [][]byte) (json.RawMessage, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rr := pg.ExecParams(ctx, st.SQL, params, nil, nil, nil)
	var rows [][]byte
	for rr.NextRow() {
		rows = append(rows, append([]byte{}, rr.Values()[0]...))
	}
	if _, err := rr.Close(); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return nil, pe.Code + " " + pe.Message
		}
		return nil, "error " + err.Error()
	}
	var v []byte
	switch st.Result {
	case statement.Value:
		if len(rows) != 1 {
			return nil, fmt.Sprintf("rows %d", len(rows))
		}
		v = rows[0]
	case statement.Array:
		v = append(append([]byte("["), bytes.Join(rows, []byte(","))...), ']')
	case statement.One:
		switch len(rows) {
		case 0:
			v = []byte("null")
		case 1:
			v = rows[0]
		default:
			return nil, fmt.Sprintf("rows %d", len(rows))
		}
	default:
		return nil, fmt.Sprintf("result kind %d", st.Result)
	}
	return v, ""
}

// run executes one statement and returns its single JSON value, or the SQLSTATE.
func run(ctx context.Context, pg *pgconn.PgConn, sql string, params [][]byte, oneRow bool) (json.RawMessage, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rr := pg.ExecParams(ctx, sql, params, nil, nil, nil)
	var out []byte
	rows := 0
	for rr.NextRow() {
		out = append([]byte{}, rr.Values()[0]...)
		rows++
	}
	_, err := rr.Close()
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			return nil, pe.Code + " " + pe.Message
		}
		return nil, "error " + err.Error()
	}
	if oneRow && rows != 1 {
		return nil, "rows " + string(rune('0'+rows))
	}
	return out, ""
}

// TestOneInsertPlanServesEveryValueWithTheSameKeys compiles an insert of a whole
// objects variable once, then binds and runs it with other values and other numbers of
// objects: the plan's cache key (Plan.AppendKeyVars) is the same for all of them, and a
// value with other keys gets another key and is refused by the plan.
func TestOneInsertPlanServesEveryValueWithTheSameKeys(t *testing.T) {
	fixtureDB(t)
	pool := testenv.Pool(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	const q = `mutation ($objs: [tags_insert_input!]!) { insert_tags(objects: $objs) { returning { id name } } }`
	first := []byte(`{"objs": [{"name": "p1", "id": 101}]}`)
	p, _, perr := compileCase(t, &goldenCase{Query: q, Variables: first})
	if perr != nil {
		t.Fatal(perr)
	}
	key := string(p.AppendKeyVars(nil, first))
	for _, c := range []struct{ vars, want string }{
		{`{"objs": [{"id": 102, "name": "p2"}, {"name": "p3", "id": 103}]}`, `{"returning":[{"id":102,"name":"p2"},{"id":103,"name":"p3"}]}`},
		{`{"objs": {"id": 104, "name": "p4 \"q\""}}`, `{"returning":[{"id":104,"name":"p4 \"q\""}]}`},
	} {
		if k := string(p.AppendKeyVars(nil, []byte(c.vars))); k != key {
			t.Fatalf("%s: cache key %q, want %q", c.vars, k, key)
		}
		params, err := p.BindStatement(0, []byte(c.vars), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, e := run(ctx, pg, "BEGIN", nil, false); e != "" {
			t.Fatal(e)
		}
		got, e := run(ctx, pg, p.Statements[0].SQL, params, true)
		run(ctx, pg, "ROLLBACK", nil, false)
		if e != "" || string(got) != c.want {
			t.Fatalf("%s: got %s %s, want %s", c.vars, got, e, c.want)
		}
	}
	other := []byte(`{"objs": [{"name": "p5"}]}`)
	if string(p.AppendKeyVars(nil, other)) == key {
		t.Fatal("other keys must make another cache key")
	}
	if _, err := p.BindStatement(0, other, nil); err == nil {
		t.Fatal("a plan compiled for other keys bound the value")
	}
}

// compactStructure tells whether data is free of the spacing json_build_object
// (`"k" : v`) and json_agg (", \n ") write between keys and elements outside strings.
// The text of a stored json or jsonb value (`{"a": 1}`) is Postgres' own and allowed.
func compactStructure(data []byte) bool {
	inString := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
			if !inString && bytes.HasPrefix(data[i+1:], []byte(" : ")) {
				return false
			}
		case !inString && c == ',' && bytes.HasPrefix(data[i+1:], []byte(" \n ")):
			return false
		}
	}
	return true
}

func TestCompactStructureSpotsBuilderSpacing(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":[{"b":1},{"c":"x : y"}],"j":{"k": [1, 2]}}`: true,
		`{"count" : 13}`:            false,
		"[{\"a\":1}, \n {\"a\":2}]": false,
		`{"s":"\", \n "}`:           true,
	} {
		if got := compactStructure([]byte(in)); got != want {
			t.Errorf("compactStructure(%s) = %v, want %v", in, got, want)
		}
	}
}
