package proxy

import (
	"context"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/poolmgr"
)

func TestLoginIsolationRunsAsTheTenantRoleWithoutSettingIt(t *testing.T) {
	testenv.Exec(t, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'proxy_t_login_anon') THEN CREATE ROLE proxy_t_login_anon NOLOGIN; END IF;
	END $$`)
	testenv.FreshSchema(t, "proxy_t_login", `
		CREATE VIEW whoami AS SELECT current_user::text AS u;
		GRANT USAGE ON SCHEMA proxy_t_login TO proxy_t_login_anon;
		GRANT SELECT ON whoami TO proxy_t_login_anon;`)
	testenv.FreshSchema(t, "proxy_t_login_other", `CREATE TABLE secret (v text); INSERT INTO secret VALUES ('x')`)
	ts := startServer(t, &control.Config{AdminKey: "k", Tenants: []*control.TenantConfig{
		{Name: "plogin", Schemas: []string{"proxy_t_login"}, Isolation: control.IsolationLogin,
			Auth: &control.AuthConfig{AnonRole: "proxy_t_login_anon"}},
	}})
	var sessions []bool
	ts.srv.api.run = func(p *poolmgr.Pool, c context.Context, req *poolmgr.Request, dst []byte) ([]byte, []int, error) {
		sessions = append(sessions, req.Session != nil)
		return p.Run(c, req, dst)
	}
	r := ts.gql("/t/plogin/v1/graphql", "{ whoami { u } }", nil, "X-Kapok-Admin-Key: k")
	jsonEq(t, r.body, `{"data":{"whoami":[{"u":"`+control.TenantRole("plogin")+`"}]}}`)
	if len(sessions) != 1 || sessions[0] {
		t.Fatalf("admin request sent with a session: %v", sessions)
	}
	r = ts.gql("/t/plogin/v1/graphql", "{ whoami { u } }", nil)
	jsonEq(t, r.body, `{"data":{"whoami":[{"u":"proxy_t_login_anon"}]}}`)

	// The tenant's login role reaches nothing outside its schemas.
	c := testenv.Conn(t)
	var ok bool
	if err := c.QueryRow(context.Background(), `SELECT has_schema_privilege($1, 'proxy_t_login_other', 'USAGE')`,
		control.TenantRole("plogin")).Scan(&ok); err != nil || ok {
		t.Fatalf("the tenant role may use another schema (%v, %v)", ok, err)
	}
	if strings.Contains(r.body, "proxy_t_login_other") {
		t.Fatal("leak")
	}
}
