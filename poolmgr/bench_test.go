package poolmgr

import (
	"context"
	"testing"

	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// BenchmarkRun measures one trivial statement through PgBouncer, alone and with a session
// (prelude + statement in one batch); both are one round trip.
func BenchmarkRun(b *testing.B) {
	for _, target := range []struct{ name, url string }{{"pgbouncer", testenv.PoolerURL()}, {"direct", testenv.DirectURL()}} {
		m := newManager(b, Config{})
		p, err := m.Get(context.Background(), "poolmgr_t_bench_"+target.name, PoolConfig{URL: target.url, MaxConns: 4})
		if err != nil {
			b.Fatal(err)
		}
		one := statement.Statement{SQL: `SELECT json_build_object('id', $1::int4)`, Args: [][]byte{[]byte("42")}}
		for _, tc := range []struct {
			name string
			req  Request
		}{
			{"no session", Request{Statements: []statement.Statement{one}}},
			{"session", Request{Session: &Session{Role: "postgres", Claims: []byte(`{"sub":"u1","role":"postgres"}`), Method: "POST", Path: "/v1/graphql"}, Statements: []statement.Statement{one}}},
		} {
			b.Run(target.name+"/"+tc.name, func(b *testing.B) {
				ctx := context.Background()
				buf := make([]byte, 0, 256)
				b.ReportAllocs()
				for b.Loop() {
					var err error
					buf, _, err = p.Run(ctx, &tc.req, buf[:0])
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
