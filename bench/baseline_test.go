package bench

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// The baseline reads the dev stack's demo dataset (schema demo, scale 0.01) as tenant bench,
// and writes to a scratch table of its own schema, as the tenant of that schema's name.
const (
	demoSchema    = "demo"
	demoScale     = 0.01
	scratchSchema = "bench_t_baseline"
)

// The workload's queries.sql, verbatim but for $1, to be run by psql on search_path.
var referenceSQL = map[string]string{
	"Q1": `SELECT row_to_json(c) FROM (
  SELECT id, name, email, country, created_at FROM customers WHERE id = $1
) c;`,
	"Q2": `SELECT coalesce(json_agg(o), '[]') FROM (
  SELECT id, status, total, created_at FROM orders
  WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20
) o;`,
	"Q3": `SELECT coalesce(json_agg(c), '[]') FROM (
  SELECT c.id, c.name,
    (SELECT coalesce(json_agg(o), '[]') FROM (
       SELECT o.id, o.total, o.created_at,
         (SELECT coalesce(json_agg(i), '[]') FROM (
            SELECT oi.quantity, oi.unit_price,
                   (SELECT json_build_object('name', p.name) FROM products p WHERE p.id = oi.product_id) AS product
            FROM order_items oi WHERE oi.order_id = o.id ORDER BY oi.id
          ) i) AS items
       FROM orders o WHERE o.customer_id = c.id ORDER BY o.created_at DESC LIMIT 5
     ) o) AS orders
  FROM customers c WHERE c.id >= $1 ORDER BY c.id LIMIT 10
) c;`,
	"Q4": `SELECT json_build_object('count', count(*), 'sum', sum(total)) FROM orders WHERE customer_id = $1;`,
}

func psql(t *testing.T, schema, sql string) string {
	t.Helper()
	bin, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql is needed to compute the expected answers: ", err)
	}
	out, err := exec.Command(bin, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", testenv.DirectURL(),
		"-c", "SET search_path TO "+schema, "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// serveTestBaseline serves the baseline on the dev stack's PgBouncer: tenant bench = schema
// demo, tenant bench_t_baseline = a fresh schema holding only the scratch table.
func serveTestBaseline(t *testing.T) string {
	t.Helper()
	testenv.FreshSchema(t, scratchSchema, ScratchSQL)
	b, err := NewBaseline(context.Background(), BaselineConfig{DSN: testenv.PoolerURL(), DefaultTenant: "bench", DefaultSchema: demoSchema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go serveUntilDone(ctx, newServer(b.Handler), ln) //nolint:errcheck // ends with cancel
	t.Cleanup(cancel)
	return "http://" + ln.Addr().String()
}

func do(t *testing.T, method, url, body string, headers ...string) (int, string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(url)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	req.SetBodyString(body)
	if err := fasthttp.Do(req, resp); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode(), string(resp.Body())
}

// render builds one request of a built-in scenario with its variable fixed.
func builtinRequest(t *testing.T, name, tenant, v string) (method, path, body string, headers []string) {
	t.Helper()
	s, err := LoadScenario(name)
	if err != nil {
		t.Fatal(err)
	}
	s.Override("tenant", tenant)
	for k := range s.Vars {
		if k != "tenant" {
			s.Override(k, v)
		}
	}
	c, err := compileScenario(s)
	if err != nil {
		t.Fatal(err)
	}
	g := newRequestGen(c, 1)
	r := g.next()
	for _, h := range r.headers {
		headers = append(headers, h.name, string(h.value.append(nil, g.vals)))
	}
	return r.method, string(g.path), string(g.body), headers
}

func TestBaselineAnswersTheWorkloadAsPsqlComputesIt(t *testing.T) {
	url := serveTestBaseline(t)
	roots := map[string]string{"Q1": "customers_by_pk", "Q2": "orders", "Q3": "customers", "Q4": "orders_aggregate"}
	for _, id := range []string{"1", "10", "57", "990"} {
		for q, sql := range referenceSQL {
			want := psql(t, demoSchema, strings.ReplaceAll(sql, "$1", id))
			if want == "" {
				t.Fatalf("%s(%s): psql returned no row", q, id)
			}
			n := strings.ToLower(q)
			t.Run(fmt.Sprintf("%s GraphQL with %s", q, id), func(t *testing.T) {
				m, p, body, h := builtinRequest(t, n+"-graphql", "bench", id)
				code, got := do(t, m, url+p, body, h...)
				if exp := `{"data":{"` + roots[q] + `":` + want + `}}`; code != 200 || got != exp {
					t.Errorf("%d %s\nwant %s", code, got, exp)
				}
			})
			t.Run(fmt.Sprintf("%s REST with %s", q, id), func(t *testing.T) {
				m, p, body, h := builtinRequest(t, n+"-rest", "bench", id)
				code, got := do(t, m, url+p, body, h...)
				exp := want
				if q == "Q4" { // PostgREST answers aggregates as a one-row array
					exp = "[" + want + "]"
				}
				if code != 200 || got != exp {
					t.Errorf("%d %s\nwant %s", code, got, exp)
				}
			})
		}
	}
	t.Run("an id with no row is null in GraphQL and 406 for a REST object", func(t *testing.T) {
		m, p, body, h := builtinRequest(t, "q1-graphql", "bench", "999999")
		if code, got := do(t, m, url+p, body, h...); code != 200 || got != `{"data":{"customers_by_pk":null}}` {
			t.Errorf("%d %s", code, got)
		}
		m, p, body, h = builtinRequest(t, "q1-rest", "bench", "999999")
		if code, _ := do(t, m, url+p, body, h...); code != 406 {
			t.Errorf("status %d, want 406", code)
		}
	})
	t.Run("an unknown operation is an error", func(t *testing.T) {
		if code, _ := do(t, "POST", url+"/t/bench/v1/graphql", `{"operationName":"Nope","query":"{x}"}`); code != 500 {
			t.Errorf("status %d", code)
		}
	})
}

func TestBaselineWritesToTheSchemaNamedAfterTheTenant(t *testing.T) {
	url := serveTestBaseline(t)
	m, p, body, h := builtinRequest(t, "write-graphql", scratchSchema, "77") // id 77, n 77; the mix picks insert or update
	code, got := do(t, m, url+p, body, h...)
	if code != 200 || !(strings.HasPrefix(got, `{"data":{"insert_bench_scratch_one":{"id" : 10001}`) || got == `{"data":{"update_bench_scratch_by_pk":{"id" : 77, "n" : 77}}}`) {
		t.Errorf("write-graphql: %d %s", code, got)
	}
	code, _ = do(t, "PATCH", url+"/t/"+scratchSchema+"/rest/v1/bench_scratch?id=eq.5", `{"n":4242}`, "Content-Type", "application/json")
	if n := psql(t, scratchSchema, "SELECT n FROM bench_scratch WHERE id = 5"); code != 204 || n != "4242" {
		t.Errorf("PATCH: status %d, row 5 n = %s", code, n)
	}
	code, _ = do(t, "POST", url+"/t/"+scratchSchema+"/rest/v1/bench_scratch", `{"note":"hello","n":9}`, "Content-Type", "application/json")
	if code != 201 || psql(t, scratchSchema, "SELECT count(*) FROM bench_scratch WHERE note = 'hello' AND n = 9") != "1" {
		t.Errorf("POST: status %d", code)
	}
}

func TestEveryBuiltinScenarioRunsCleanAgainstTheBaseline(t *testing.T) {
	url := serveTestBaseline(t)
	for _, name := range BuiltinNames() {
		if name == "multitenant" { // its tenants are bench-t000…, which this test does not create
			continue
		}
		t.Run(name, func(t *testing.T) {
			s, _ := LoadScenario(name)
			s.ScaleRanges(demoScale)
			if strings.HasPrefix(name, "write") {
				s.Override("tenant", scratchSchema)
			}
			res, err := Run(context.Background(), LoadConfig{Target: url, Connections: 4, Requests: 200, Seed: 7}, s)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != 200 {
				t.Errorf("%d of 200 ok, errors %v, status %v", res.OK, res.Errors, res.StatusCodes)
			}
		})
	}
}

func TestDatasetSQLMatchesTheDemoDatasetAtItsScale(t *testing.T) {
	const copySchema = "bench_t_dataset"
	testenv.FreshSchema(t, copySchema, DatasetSQL(demoScale))
	counts := "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products), (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items)"
	if a, b := psql(t, demoSchema, counts), psql(t, copySchema, counts); a != b {
		t.Fatalf("row counts: demo %s, copy %s", a, b)
	}
	for _, id := range []string{"1", "10", "500", "990"} {
		for q, sql := range referenceSQL {
			sql = strings.ReplaceAll(sql, "$1", id)
			if a, b := psql(t, demoSchema, sql), psql(t, copySchema, sql); a != b {
				t.Errorf("%s(%s) differs:\ndemo %s\ncopy %s", q, id, a, b)
			}
		}
	}
}
