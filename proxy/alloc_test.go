package proxy

import (
	"context"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/poolmgr"
)

// cacheHitAllocBudget is the allocation budget of a GraphQL request whose plan is cached,
// from handler entry to response bytes with Postgres excluded (see the package doc).
const cacheHitAllocBudget = 2

var fakeEnds = make([]int, 1)

// fakeResult stands in for Postgres: it appends a fixed JSON value.
func fakeResult(_ *poolmgr.Pool, _ context.Context, req *poolmgr.Request, dst []byte) ([]byte, []int, error) {
	dst = append(dst, `{"id":1}`...) // the one root field's value: the proxy writes its key
	fakeEnds[0] = len(dst)
	return dst, fakeEnds, nil
}

func newCtx(path, body string, headers ...string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(path)
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetBodyString(body)
	for i := 0; i+1 < len(headers); i += 2 {
		ctx.Request.Header.Set(headers[i], headers[i+1])
	}
	return &ctx
}

func TestACacheHitStaysWithinItsAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector; make test runs this without it")
	}
	ts := twoTenants(t, nil)
	ts.srv.api.run = fakeResult
	body := `{"query":"query Q1($id: Int!) { customers_by_pk(id: $id) { id name } }","variables":{"id":1},"operationName":"Q1"}`
	ctx := newCtx("/t/one/v1/graphql", body)
	h := ts.srv.Handler()
	h(ctx) // compile and cache
	ts.srv.api.plans.c.Wait()
	h(ctx)
	if got := string(ctx.Response.Body()); got != `{"data":{"customers_by_pk":{"id":1}}}` {
		t.Fatalf("response %d %s", ctx.Response.StatusCode(), got)
	}
	allocs := testing.AllocsPerRun(200, func() {
		ctx.Response.Reset()
		h(ctx)
	})
	t.Logf("cache hit: %.1f allocations per request", allocs)
	if allocs > cacheHitAllocBudget {
		t.Fatalf("a cache hit allocates %.1f times, budget %d", allocs, cacheHitAllocBudget)
	}
}

// BenchmarkCacheHit measures Kapok's own work on a cached GraphQL plan (Postgres excluded).
func BenchmarkCacheHit(b *testing.B) {
	ts := twoTenants(b, nil)
	ts.srv.api.run = fakeResult
	body := `{"query":"query Q1($id: Int!) { customers_by_pk(id: $id) { id name } }","variables":{"id":1},"operationName":"Q1"}`
	ctx := newCtx("/t/one/v1/graphql", body)
	h := ts.srv.Handler()
	h(ctx)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx.Response.Reset()
		h(ctx)
	}
}
