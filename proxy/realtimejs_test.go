package proxy

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// The roles are cluster-wide: created idempotently, never dropped. rt_t_user is what a
// signed-in user's token names, as "authenticated" does on Supabase.
const realtimeJSRolesSQL = `
DO $$BEGIN CREATE ROLE rt_t_anon NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
DO $$BEGIN CREATE ROLE rt_t_user NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
`

// realtimeJSDDL is the tenant the realtime client cases subscribe to: items keeps whole old
// rows in the WAL (REPLICA IDENTITY FULL), plain only its key (the default), and owned is
// protected by row-level security on the token's sub. rt_batch changes items three times in
// one transaction.
const realtimeJSDDL = `
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, n int NOT NULL DEFAULT 0, done bool NOT NULL DEFAULT false, meta jsonb);
ALTER TABLE items REPLICA IDENTITY FULL;
CREATE TABLE plain (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE owned (id int PRIMARY KEY, user_id text NOT NULL, body text NOT NULL);
ALTER TABLE owned ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON owned USING (user_id = current_setting('request.jwt.claims', true)::json->>'sub');
CREATE FUNCTION rt_batch() RETURNS void LANGUAGE sql VOLATILE SET search_path FROM CURRENT AS $$
  UPDATE items SET n = n + 10 WHERE id = 5;
  DELETE FROM items WHERE id = 7;
  INSERT INTO items (id, name) VALUES (8, 'eight');
$$;
GRANT USAGE ON SCHEMA rt_t_js TO rt_t_anon, rt_t_user;
GRANT SELECT ON items, plain TO rt_t_anon, rt_t_user;
GRANT SELECT ON owned TO rt_t_user;
`

const realtimeJSSecret = "rt-js-secret-rt-js-secret-0123456789ab"

// TestRealtimeJS drives the real @supabase/supabase-js client's Realtime (pinned in
// testdata/supabase-js/package-lock.json) against two Kapok servers on TCP ports, serving
// the same tenant from the same database: postgres_changes with and without filters, their
// row-level security, broadcast and presence between clients of different servers (so through
// PostgreSQL), and refusals. The changes are committed through the servers' REST API with the
// service_role key. Node and npm are required: the test fails without them.
func TestRealtimeJS(t *testing.T) {
	dir := testenv.NodeDir(t, filepath.Join("testdata", "supabase-js"), filepath.Join("@supabase", "supabase-js"))

	const schema, tenant = "rt_t_js", "rtjs"
	testenv.Exec(t, realtimeJSRolesSQL)
	testenv.FreshSchema(t, schema, realtimeJSDDL)
	grantTenantRoles(t, tenant, "rt_t_user")
	auth := &control.AuthConfig{JWTSecret: realtimeJSSecret, AnonRole: "rt_t_anon"}
	var urls []string
	for range 2 {
		ts := startServer(t, &control.Config{DefaultTenant: tenant, Tenants: []*control.TenantConfig{
			{Name: tenant, Schemas: []string{schema}, Auth: auth},
		}})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = ts.srv.Serve(ln) }()
		urls = append(urls, "http://"+ln.Addr().String())
	}
	keys, err := control.KeysFor(tenant, auth)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(realtimeJSSecret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exp := time.Now().Add(time.Hour).Unix()
	user := func(sub string) string {
		return sign(jwt.MapClaims{"sub": sub, "role": "rt_t_user", "aud": "authenticated", "exp": exp})
	}
	expired := sign(jwt.MapClaims{"sub": "alice", "role": "rt_t_user", "exp": time.Now().Add(-time.Hour).Unix()})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Node 20 has a WebSocket only behind this flag; Node 22 accepts the flag and has it anyway.
	runNodeCases(t, ctx, "realtime-js", dir, []string{
		"KAPOK_URL_A=" + urls[0], "KAPOK_URL_B=" + urls[1], "KAPOK_SCHEMA=" + schema,
		"KAPOK_ANON_KEY=" + keys.Anon, "KAPOK_SERVICE_KEY=" + keys.ServiceRole,
		"KAPOK_JWT_ALICE=" + user("alice"), "KAPOK_JWT_BOB=" + user("bob"), "KAPOK_JWT_CAROL=" + user("carol"),
		"KAPOK_JWT_EXPIRED=" + expired,
	}, "--experimental-websocket", "realtime.mjs")
}
