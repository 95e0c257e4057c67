package proxy

import (
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestOpenAPIFollowsTheCallersPrivileges(t *testing.T) {
	const secret = "docs-secret-docs-secret-docs-secret!"
	testenv.Exec(t, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'proxy_t_docs_reader') THEN CREATE ROLE proxy_t_docs_reader NOLOGIN; END IF;
	END $$`)
	testenv.FreshSchema(t, "proxy_t_docs", `
		CREATE TABLE visible (id int PRIMARY KEY);
		CREATE TABLE hidden (id int PRIMARY KEY);
		GRANT USAGE ON SCHEMA proxy_t_docs TO proxy_t_docs_reader;
		GRANT SELECT ON visible TO proxy_t_docs_reader;`)
	grantTenantRoles(t, "docs", "proxy_t_docs_reader")
	ts := startServer(t, &control.Config{AdminKey: "k", Tenants: []*control.TenantConfig{
		{Name: "docs", Schemas: []string{"proxy_t_docs"}, Auth: &control.AuthConfig{JWTSecret: secret}},
	}})
	tok := hs256(t, secret, jwt.MapClaims{"role": "proxy_t_docs_reader"})
	for _, path := range []string{"/t/docs/rest/v1/", "/t/docs/swagger.json", "/t/docs/ai-spec.md"} {
		reader := ts.do("GET", path, "", "Authorization: Bearer "+tok)
		admin := ts.do("GET", path, "", "X-Kapok-Admin-Key: k")
		if reader.status != 200 || admin.status != 200 {
			t.Fatalf("%s: %d / %d", path, reader.status, admin.status)
		}
		if !strings.Contains(reader.body, "visible") || strings.Contains(reader.body, "hidden") {
			t.Errorf("%s for the reader role should describe visible only", path)
		}
		if !strings.Contains(admin.body, "hidden") {
			t.Errorf("%s for the admin should describe every table", path)
		}
	}
}
