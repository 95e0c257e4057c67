package proxy

import (
	"context"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/poolmgr"
)

// restCacheHitAllocBudget is the allocation budget of a REST read whose plan is cached,
// from handler entry to response bytes with Postgres excluded.
const restCacheHitAllocBudget = 1

// restAllocsChecked is false under the race detector (see rest_race_test.go).
var restAllocsChecked = true

var restFakeEnds = make([]int, 1)

// restFakeResult stands in for Postgres: it appends a fixed envelope.
func restFakeResult(_ *poolmgr.Pool, _ context.Context, req *poolmgr.Request, dst []byte) ([]byte, []int, error) {
	dst = append(dst, `1,3,[{"id":1,"name":"Ada"}]`...)
	restFakeEnds[0] = len(dst)
	return dst, restFakeEnds, nil
}

func restReadCtx() *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/t/blog/rest/v1/authors?select=id,name&id=eq.1&order=name.desc&limit=10")
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.Header.Set("Prefer", "count=exact")
	return &ctx
}

func TestARESTCacheHitStaysWithinItsAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector; make test runs this without it")
	}
	ts := restServer(t, "alloc")
	ts.srv.api.run = restFakeResult
	ctx := restReadCtx()
	h := ts.srv.Handler()
	h(ctx) // compile and cache
	ts.srv.api.plans.c.Wait()
	h(ctx)
	if got := string(ctx.Response.Body()); ctx.Response.StatusCode() != 206 || got != `[{"id":1,"name":"Ada"}]` {
		t.Fatalf("response %d %s", ctx.Response.StatusCode(), got)
	}
	if cr := string(ctx.Response.Header.Peek("Content-Range")); cr != "0-0/3" {
		t.Fatalf("Content-Range %q", cr)
	}
	allocs := testing.AllocsPerRun(200, func() {
		ctx.Response.Reset()
		h(ctx)
	})
	t.Logf("REST cache hit: %.1f allocations per request", allocs)
	if restAllocsChecked && allocs > restCacheHitAllocBudget {
		t.Fatalf("a REST cache hit allocates %.1f times, budget %d", allocs, restCacheHitAllocBudget)
	}
}

// BenchmarkRESTCacheHit measures Kapok's own work on a cached REST plan (Postgres excluded).
func BenchmarkRESTCacheHit(b *testing.B) {
	ts := restServer(b, "bench")
	ts.srv.api.run = restFakeResult
	ctx := restReadCtx()
	h := ts.srv.Handler()
	h(ctx)
	ts.srv.api.plans.c.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx.Response.Reset()
		h(ctx)
	}
}
