package proxy

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner/typescript"
)

// supabaseJSGrants lets the anonymous role use the blog fixture as a Supabase project's
// anon role would, except the table secrets, which only the service_role key reads.
const supabaseJSGrants = `
CREATE TABLE secrets (id int PRIMARY KEY);
INSERT INTO secrets VALUES (1);
CREATE FUNCTION whoami() RETURNS text LANGUAGE sql STABLE AS $$ SELECT current_user::text $$;
GRANT USAGE ON SCHEMA rest_t_supajs TO rest_t_anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON authors, articles, tags, article_tags TO rest_t_anon;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA rest_t_supajs TO rest_t_anon;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rest_t_supajs TO rest_t_anon;
`

// TestSupabaseJS drives the real @supabase/supabase-js client (pinned in
// testdata/supabase-js/package-lock.json) with createClient(url, key) and no other option,
// against a server on a TCP port whose default tenant has a JWT secret; every client case
// is a subtest. Node and npm are required: the test fails without them.
func TestSupabaseJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is required for the supabase-js suite: ", err)
	}
	dir := testenv.NodeDir(t, filepath.Join("testdata", "supabase-js"), filepath.Join("@supabase", "supabase-js"))

	schema := "rest_t_supajs"
	testenv.Exec(t, restRolesSQL)
	testenv.FreshSchema(t, schema, restFixtureDDL+supabaseJSGrants)
	auth := &control.AuthConfig{JWTSecret: "supa-js-secret-supa-js-secret-0123456789", AnonRole: "rest_t_anon"}
	ts := startServer(t, &control.Config{DefaultTenant: "supajs", Tenants: []*control.TenantConfig{
		{Name: "supajs", Schemas: []string{schema}, Auth: auth},
	}})
	keys, err := control.KeysFor("supajs", auth)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ts.srv.Serve(ln) }()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Node 20 has a WebSocket only behind this flag, and supabase-js's realtime client
	// needs one to construct; Node 22 accepts the flag and has it anyway.
	runNodeCases(t, ctx, "supabase-js", dir, []string{"KAPOK_URL=http://" + ln.Addr().String(),
		"KAPOK_ANON_KEY=" + keys.Anon, "KAPOK_SERVICE_KEY=" + keys.ServiceRole}, "--experimental-websocket", "e2e.mjs")

	t.Run("createClient<Database> type-checks with the generated types", func(t *testing.T) {
		snap := ts.reg.Tenant("supajs").Snapshot()
		if snap == nil {
			t.Fatal("no catalog")
		}
		// What `kapok gen types --lang typescript` prints for the tenant.
		if err := os.WriteFile(filepath.Join(dir, "database.types.ts"), typescript.Generate(snap.Catalog), 0o644); err != nil {
			t.Fatal(err)
		}
		tsc := exec.CommandContext(ctx, node, filepath.Join("node_modules", "typescript", "bin", "tsc"),
			"--strict", "--noEmit", "--skipLibCheck", "--target", "es2022", "--module", "nodenext",
			"--moduleResolution", "nodenext", "--allowImportingTsExtensions", "typed.ts")
		tsc.Dir = dir
		if out, err := tsc.CombinedOutput(); err != nil {
			t.Fatalf("tsc: %v\n%s", err, out)
		}
	})
}
