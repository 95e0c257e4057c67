package proxy

import (
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// A role granted some columns only can query those columns: statements read the columns
// they use, never the whole row.
func TestARoleWithColumnGrantsQueriesItsColumns(t *testing.T) {
	const secret = "column-secret-column-secret-column!!"
	testenv.Exec(t, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'proxy_t_col_reader') THEN CREATE ROLE proxy_t_col_reader NOLOGIN; END IF;
	END $$`)
	testenv.FreshSchema(t, "proxy_t_cols", `
		CREATE TABLE people (id int PRIMARY KEY, name text, salary int);
		INSERT INTO people VALUES (1, 'ada', 100), (2, 'bob', 200);
		GRANT USAGE ON SCHEMA proxy_t_cols TO proxy_t_col_reader;
		GRANT SELECT (id, name) ON people TO proxy_t_col_reader;`)
	grantTenantRoles(t, "cols", "proxy_t_col_reader")
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{
		{Name: "cols", Schemas: []string{"proxy_t_cols"}, Auth: &control.AuthConfig{JWTSecret: secret}},
	}})
	auth := "Authorization: Bearer " + hs256(t, secret, jwt.MapClaims{"role": "proxy_t_col_reader"})
	r := ts.gql("/t/cols/v1/graphql", "{ people(order_by: {id: asc}) { id name } }", nil, auth)
	jsonEq(t, r.body, `{"data":{"people":[{"id":1,"name":"ada"},{"id":2,"name":"bob"}]}}`)
	r = ts.do("GET", "/t/cols/rest/v1/people?select=name&id=eq.2", "", auth)
	jsonEq(t, r.body, `[{"name":"bob"}]`)
	r = ts.gql("/t/cols/v1/graphql", "{ people { salary } }", nil, auth)
	if !strings.Contains(r.body, "validation-failed") {
		t.Fatalf("a column the role may not read is in its schema: %s", r.body)
	}
}
