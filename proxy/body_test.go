package proxy

import (
	"encoding/json"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// zeros streams n bytes of a JSON-looking body without holding them: the test must not
// allocate what it checks the server does not allocate.
type zeros struct{ n int }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := min(len(p), z.n)
	for i := range p[:k] {
		p[i] = ' '
	}
	z.n -= k
	return k, nil
}

// postStream posts a body of size bytes streamed from a generator; chunked sends it
// without a Content-Length.
func (ts *testServer) postStream(path string, size int, chunked bool, headers ...string) (response, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://kapok.test" + path)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	n := size
	if chunked {
		n = -1
	}
	req.SetBodyStream(&zeros{n: size}, n)
	if err := ts.c.DoTimeout(req, resp, 60*time.Second); err != nil {
		return response{}, err
	}
	r := response{status: resp.StatusCode(), body: string(resp.Body()), header: map[string]string{}}
	for k, v := range resp.Header.All() {
		r.header[string(k)] = string(v)
	}
	return r, nil
}

func TestOversizedBodiesAreRefusedBeforeTheyAreRead(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_body_one", tenantDDL+`INSERT INTO customers VALUES (1,'one-a')`)
	testenv.FreshSchema(t, "proxy_t_body_two", tenantDDL+`INSERT INTO customers VALUES (1,'two-a')`)
	ts := startServer(t, &control.Config{AdminKey: "body-test-admin-key", Tenants: []*control.TenantConfig{
		{Name: "one", Schemas: []string{"proxy_t_body_one"}},
		{Name: "two", Schemas: []string{"proxy_t_body_two"}, Limits: &control.Limits{MaxBodyBytes: 2048}},
	}})

	isGraphQL413 := func(r response) bool {
		var b struct {
			Errors []struct {
				Message    string
				Extensions struct{ Code string }
			}
		}
		return r.status == 413 && json.Unmarshal([]byte(r.body), &b) == nil && len(b.Errors) == 1 &&
			b.Errors[0].Extensions.Code == "validation-failed" && strings.Contains(b.Errors[0].Message, "too large")
	}
	isREST413 := func(r response) bool {
		var b map[string]any
		if r.status != 413 || json.Unmarshal([]byte(r.body), &b) != nil {
			return false
		}
		_, d := b["details"]
		_, h := b["hint"]
		return b["code"] == "PGRST413" && b["message"] != nil && d && h
	}
	isAdmin413 := func(r response) bool {
		var b map[string]any
		return r.status == 413 && json.Unmarshal([]byte(r.body), &b) == nil && b["code"] == "payload-too-large" && b["error"] != nil
	}

	t.Run("16 concurrent unauthenticated 60 MB bodies get 413 in their API's format and cost far less memory than they weigh", func(t *testing.T) {
		const n, size = 16, 60 << 20
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path, ok, chunked := "/t/one/v1/graphql", isGraphQL413, i%4 == 3
				if i%2 == 1 {
					path, ok = "/t/one/rest/v1/customers", isREST413
				}
				r, err := ts.postStream(path, size, chunked)
				switch {
				case err != nil:
					errs <- path + ": " + err.Error()
				case !ok(r):
					errs <- path + ": " + r.body
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("%d × %d MB sent; allocated during the requests: %.1f MB; heap in use %.1f MB → %.1f MB",
			n, size>>20, float64(allocated)/(1<<20), float64(before.HeapInuse)/(1<<20), float64(after.HeapInuse)/(1<<20))
		if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 64<<20 {
			t.Errorf("the heap grew by %d MB for %d bodies of %d MB: bodies are being buffered", grown>>20, n, size>>20)
		}
		// The race detector makes sync.Pool drop buffers at random, so only runs without it
		// can count every allocation, which also catches bodies buffered and already freed.
		if !raceEnabled && allocated > 64<<20 {
			t.Errorf("the process allocated %d MB for %d bodies of %d MB: bodies are being buffered", allocated>>20, n, size>>20)
		}
	})

	cases := []struct {
		name, path string
		size       int
		chunked    bool
		headers    []string
		ok         func(response) bool
	}{
		{"a 100 MB GraphQL body is answered 413, not reset", "/t/one/v1/graphql", 100 << 20, false, nil, isGraphQL413},
		{"a 100 MB chunked REST body is answered 413, not reset", "/t/one/rest/v1/customers", 100 << 20, true, nil, isREST413},
		{"a tenant's own smaller limit applies before its body is read", "/t/two/rest/v1/customers", 4096, false, nil, isREST413},
		{"the tenant named by header has its limit applied", "/v1/graphql", 4096, false, []string{"X-Kapok-Tenant: two"}, isGraphQL413},
		{"the admin API without its key refuses a large body in its format", "/admin/v1/tenants", 1 << 20, false, nil, isAdmin413},
		{"the admin API with its key refuses a body over its limit", "/admin/v1/tenants", adminMaxBody + 1, false, []string{"X-Kapok-Admin-Key: body-test-admin-key"}, isAdmin413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ts.postStream(c.path, c.size, c.chunked, c.headers...)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if !c.ok(r) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			if r.header["Connection"] != "close" {
				t.Errorf("Connection: %q, want close after a refused body", r.header["Connection"])
			}
		})
	}

	t.Run("a body within the tenant's limit is still served", func(t *testing.T) {
		const admin = "X-Kapok-Admin-Key: body-test-admin-key"
		r := ts.gql("/t/two/v1/graphql", "{ customers { name } }", nil, admin)
		jsonEq(t, r.body, `{"data":{"customers":[{"name":"two-a"}]}}`)
		r = ts.do("POST", "/t/one/rest/v1/customers", `{"id":2,"name":"one-b"}`, admin)
		if r.status != 201 {
			t.Fatalf("insert within the limit: %d %s", r.status, r.body)
		}
	})
}
