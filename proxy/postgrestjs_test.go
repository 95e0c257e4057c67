package proxy

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// TestPostgrestJS drives the real @supabase/postgrest-js client (pinned in
// testdata/postgrest-js/package-lock.json) against a server on a TCP port; every client
// case is a subtest. Node and npm are required: the test fails without them.
func TestPostgrestJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is required for the postgrest-js suite: ", err)
	}
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
	cmd := exec.CommandContext(ctx, node, "e2e.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KAPOK_REST_URL=http://"+ln.Addr().String()+"/t/blog/rest/v1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ok "):
			n++
			t.Run(line[3:], func(t *testing.T) {})
		case strings.HasPrefix(line, "not ok "):
			n++
			name, reason, _ := strings.Cut(line[7:], ": ")
			t.Run(name, func(t *testing.T) { t.Error(reason) })
		}
	}
	if n == 0 || (runErr != nil && !t.Failed()) {
		t.Fatalf("postgrest-js suite: %v\n%s\n%s", runErr, out, stderr.String())
	}
}
