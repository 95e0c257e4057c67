package proxy

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestGraphQLOverHTTP(t *testing.T) {
	ts := twoTenants(t, func(c *control.Config) {
		c.Tenants[0].Limits = &control.Limits{MaxBodyBytes: 4096, MaxQueryLength: 2000}
	})
	const path = "/t/one/v1/graphql"
	t.Run("GET carries the query and variables in the URL", func(t *testing.T) {
		q := url.Values{"query": {"query($id: Int!) { customers_by_pk(id: $id) { name } }"}, "variables": {`{"id":2}`}}
		r := ts.do("GET", path+"?"+q.Encode(), "")
		jsonEq(t, r.body, `{"data":{"customers_by_pk":{"name":"one-b"}}}`)
	})
	t.Run("a batch answers an array in order", func(t *testing.T) {
		r := ts.do("POST", path, `[{"query":"{ customers_by_pk(id: 1) { name } }"},{"query":"{ nope }"},{"query":"{ orders { total } }"}]`)
		var out []map[string]any
		if err := json.Unmarshal([]byte(r.body), &out); err != nil || len(out) != 3 {
			t.Fatalf("batch answer: %s", r.body)
		}
		if out[0]["data"] == nil || out[1]["errors"] == nil || out[2]["data"] == nil {
			t.Fatalf("batch answer: %s", r.body)
		}
	})
	t.Run("operationName picks the operation", func(t *testing.T) {
		body := `{"query":"query A { customers_by_pk(id: 1) { name } } query B { customers_by_pk(id: 2) { name } }","operationName":"B"}`
		jsonEq(t, ts.do("POST", path, body).body, `{"data":{"customers_by_pk":{"name":"one-b"}}}`)
	})
	t.Run("aliases, fragments and several root fields come back in one answer", func(t *testing.T) {
		r := ts.gql(path, `query { a: customers(order_by: {id: asc}, limit: 1) { ...C } n: orders_aggregate { aggregate { count } } }
			fragment C on customers { id name orders { total } }`, nil)
		jsonEq(t, r.body, `{"data":{"a":[{"id":1,"name":"one-a","orders":[{"total":5.50}]}],"n":{"aggregate":{"count":1}}}}`)
	})

	errorCases := []struct {
		name, method, body string
		status             int
		code               string
	}{
		{"several operations without operationName", "POST", `{"query":"query A { customers { id } } query B { customers { id } }"}`, 200, "validation-failed"},
		{"an unknown field", "POST", `{"query":"{ customers { nope } }"}`, 200, "validation-failed"},
		{"a syntax error", "POST", `{"query":"{ customers { id }"}`, 200, "validation-failed"},
		{"a variable of the wrong type", "POST", `{"query":"query($id: Int!) { customers_by_pk(id: $id) { id } }","variables":{"id":"abc"}}`, 200, "validation-failed"},
		{"a missing required variable", "POST", `{"query":"query($id: Int!) { customers_by_pk(id: $id) { id } }"}`, 200, "validation-failed"},
		{"a value Postgres refuses", "POST", `{"query":"{ customers(where: {name: {_regex: \"(\"}}) { id } }"}`, 200, "data-exception"},
		{"a query over the length limit", "POST", `{"query":"{ customers { ` + strings.Repeat("id ", 700) + `} }"}`, 200, "validation-failed"},
		{"a body that is not JSON", "POST", `{"query":`, 400, "invalid-json"},
		{"a body that is not an operation", "POST", `[1,2]`, 400, "invalid-json"},
		{"an empty query", "POST", `{"query":""}`, 200, "validation-failed"},
		{"a body over the tenant's limit", "POST", `{"query":"{ customers { id } }","variables":{"pad":"` + strings.Repeat("x", 5000) + `"}}`, 413, "validation-failed"},
		{"a method other than GET and POST", "PUT", `{"query":"{ customers { id } }"}`, 405, "method-not-allowed"},
	}
	for _, c := range errorCases {
		t.Run(c.name+" is an error in Hasura's shape", func(t *testing.T) {
			r := ts.do(c.method, path, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			var out struct {
				Data   any `json:"data"`
				Errors []struct {
					Message    string `json:"message"`
					Extensions struct {
						Code string `json:"code"`
						Path string `json:"path"`
					} `json:"extensions"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(r.body), &out); err != nil {
				t.Fatalf("not JSON: %s", r.body)
			}
			if out.Data != nil || len(out.Errors) != 1 || out.Errors[0].Extensions.Code != c.code ||
				out.Errors[0].Message == "" || !strings.HasPrefix(out.Errors[0].Extensions.Path, "$") {
				t.Fatalf("got %s, want one error with code %s", r.body, c.code)
			}
			if strings.Contains(r.body, "proxy_t_") || strings.Contains(r.body, "SQLSTATE") {
				t.Fatalf("the error leaks internals: %s", r.body)
			}
		})
	}
}

// TestIntrospectionSatisfiesGraphQLJS runs the IntrospectionQuery GraphiQL and Apollo send
// against Kapok over HTTP and has the reference implementation build a client schema from
// the answer and validate Hasura-style operations against it.
func TestIntrospectionSatisfiesGraphQLJS(t *testing.T) {
	dir := graphqlJSDir(t)
	ts := twoTenants(t, nil)
	query := node(t, dir, nil, "query")
	var q string
	if err := json.Unmarshal(query, &q); err != nil {
		t.Fatal(err)
	}
	r := ts.gql("/t/one/v1/graphql", q, nil)
	if r.status != 200 || !strings.HasPrefix(r.body, `{"data":`) {
		t.Fatalf("status %d: %.300s", r.status, r.body)
	}
	in, _ := json.Marshal(map[string]any{
		"introspection": json.RawMessage(r.body),
		"operations": []string{
			`query($id: Int!) { customers_by_pk(id: $id) { id name orders(order_by: {id: desc}, limit: 2) { total } } }`,
			`query { customers(where: {_or: [{name: {_ilike: "%a"}}, {orders: {total: {_gt: 1}}}]}, distinct_on: [name], order_by: [{name: asc}]) { id } }`,
			`query { orders_aggregate(where: {customer: {name: {_eq: "x"}}}) { aggregate { count sum { total } avg { total } max { total } } nodes { id } } }`,
			`query { customers { orders_aggregate { groups(group_by: [customer_id], having: {count: {_gt: 1}, sum: {total: {_gte: "1"}}}, order_by: [{aggregate: {sum: {total: desc}}}, {keys: {customer_id: asc}}], limit: 3) { keys { customer_id } aggregate { count sum { total } avg { total } } } } } }`,
			`mutation { insert_customers_one(object: {id: 9, name: "n"}) { id } }`,
		},
	})
	node(t, dir, in, "check")
}

func graphqlJSDir(t *testing.T) string {
	return testenv.NodeDir(t, filepath.Join("testdata", "graphql-js"), "graphql")
}

func node(t *testing.T, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("node", append([]string{"client.js"}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node client.js %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}
