package proxy

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// TestPostgrestJS drives the real @supabase/postgrest-js client (pinned in
// testdata/postgrest-js/package-lock.json) against a server on a TCP port; every client
// case is a subtest. Node and npm are required: the test fails without them.
func TestPostgrestJS(t *testing.T) {
	dir := testenv.NodeDir(t, filepath.Join("testdata", "postgrest-js"), filepath.Join("@supabase", "postgrest-js"))

	schema := "rest_t_js"
	testenv.FreshSchema(t, schema, restFixtureDDL)
	ts := startServer(t, &control.Config{DefaultTenant: "blog", Tenants: []*control.TenantConfig{
		{Name: "blog", Schemas: []string{schema}},
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ts.srv.Serve(ln) }()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runNodeCases(t, ctx, "postgrest-js", dir, []string{"KAPOK_REST_URL=http://" + ln.Addr().String() + "/t/blog/rest/v1"}, "e2e.mjs")
}
