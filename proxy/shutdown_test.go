package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_slow", `CREATE VIEW slow AS SELECT 'done'::text AS x FROM pg_sleep(0.6)`)
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{{Name: "slow", Schemas: []string{"proxy_t_slow"}}}})
	done := make(chan response, 1)
	go func() { done <- ts.gql("/t/slow/v1/graphql", "{ slow { x } }", nil) }()
	time.Sleep(200 * time.Millisecond) // the request is in Postgres now
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.status != 200 || !strings.Contains(r.body, `"done"`) {
		t.Fatalf("the in-flight request was cut: %d %s", r.status, r.body)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Fatalf("Shutdown returned after %s, before the request finished", waited)
	}
}
