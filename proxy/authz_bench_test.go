package proxy

import (
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/poolmgr"
)

// BenchmarkJWTvsAdmin compares a cache-hit GraphQL request authenticated by a JWT (role
// and claims set, row-level security applied) with the same request under the admin key,
// both through the real pool, PgBouncer and Postgres. Compare the two ns/op.
func BenchmarkJWTvsAdmin(b *testing.B) {
	ts := authTenants(b, nil)
	body := `{"query":"query Q($id: Int!) { notes_by_pk(id: $id) { id body } }","variables":{"id":1},"operationName":"Q"}`
	for _, c := range []struct {
		name    string
		headers []string
	}{
		{"admin", []string{"X-Kapok-Admin-Key", "auth-t-admin"}},
		{"jwt", []string{"Authorization", "Bearer " + userJWT(b, "alice", "auth_t_user")}},
	} {
		run := func(b *testing.B, want string) {
			ctx := newCtx("/t/auth-t-a/v1/graphql", body, c.headers...)
			h := ts.srv.Handler()
			h(ctx)
			ts.srv.api.plans.c.Wait()
			ctx.Response.Reset()
			h(ctx)
			if got := string(ctx.Response.Body()); !strings.Contains(got, want) {
				b.Fatalf("%d %s", ctx.Response.StatusCode(), got)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ctx.Response.Reset()
				h(ctx)
			}
		}
		b.Run(c.name, func(b *testing.B) { run(b, `"a1"`) })
		// Kapok's own work alone (Postgres replaced by a fixed answer): what the JWT adds.
		b.Run(c.name+"-kapok-only", func(b *testing.B) {
			ts.srv.api.run = fakeResult
			defer func() { ts.srv.api.run = (*poolmgr.Pool).Run }()
			run(b, `"id":1`)
		})
	}
}
