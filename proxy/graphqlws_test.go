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

// gqlwsRoleSQL creates the role the users' tokens name; cluster-wide, created idempotently.
const gqlwsRoleSQL = `
DO $$BEGIN CREATE ROLE gqlws_t_user NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$;
`

// gqlwsDDL is the subscriptions fixture: items to watch, others to write without concern to
// items' subscribers, and notes that each user sees only its own of (the JWT's sub).
const gqlwsDDL = `
CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL);
INSERT INTO items (label) VALUES ('one'), ('two'), ('three'), ('four'), ('five');
CREATE TABLE others (id serial PRIMARY KEY, v int);
CREATE TABLE notes (id serial PRIMARY KEY, owner int NOT NULL, body text);
INSERT INTO notes (owner, body) VALUES (1, 'a1'), (2, 'b1'), (1, 'a2');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes USING (owner = (current_setting('request.jwt.claims', true)::json->>'sub')::int);
GRANT USAGE ON SCHEMA proxy_t_gqlws TO gqlws_t_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON items, others, notes TO gqlws_t_user;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA proxy_t_gqlws TO gqlws_t_user;
`

// TestGraphQLWS drives the real graphql-ws client (graphql-transport-ws) and the legacy
// subscriptions-transport-ws client (graphql-ws), pinned in
// testdata/graphql-ws/package-lock.json, against a server on a TCP port; every client case
// is a subtest. Node and npm are required: the test fails without them.
func TestGraphQLWS(t *testing.T) {
	dir := testenv.NodeDir(t, filepath.Join("testdata", "graphql-ws"), "graphql-ws")

	const schema, tenant, role = "proxy_t_gqlws", "gqlws", "gqlws_t_user"
	const secret, admin = "gqlws-t-secret-gqlws-t-secret-0123456789", "gqlws-t-admin"
	testenv.Exec(t, gqlwsRoleSQL)
	testenv.FreshSchema(t, schema, gqlwsDDL)
	grantTenantRoles(t, tenant, role)
	ts := startServer(t, &control.Config{AdminKey: admin, DefaultTenant: tenant, Tenants: []*control.TenantConfig{
		{Name: tenant, Schemas: []string{schema}, Auth: &control.AuthConfig{JWTSecret: secret, RoleClaim: "role"}},
	}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = ts.srv.Serve(ln) }()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addr := ln.Addr().String()
	runNodeCases(t, ctx, "graphql-ws", dir, []string{
		"KAPOK_WS_URL=ws://" + addr + "/v1/graphql",
		"KAPOK_TENANT_WS_URL=ws://" + addr + "/t/" + tenant + "/v1/graphql",
		"KAPOK_HTTP_URL=http://" + addr + "/v1/graphql",
		"KAPOK_JWT_SECRET=" + secret,
		"KAPOK_ADMIN_SECRET=" + admin,
		"KAPOK_ROLE=" + role,
	}, "e2e.mjs")
}
