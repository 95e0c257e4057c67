package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

const adminTestKey = "admin-t-secret-key"

// adminServer is a test server with an admin key and the control tables attached.
func adminServer(t *testing.T, mutate func(*control.Config)) *testServer {
	t.Helper()
	// Registered first, so it runs after the server stopped: a schema reload in flight at
	// a tenant's deletion may have re-created the tenant's role.
	t.Cleanup(func() {
		dropTestRoles(fmt.Sprintf("kapok_t_admin-t-%%-%d", os.Getpid()), control.TenantRole("admin-t-file"))
	})
	cfg := &control.Config{AdminKey: adminTestKey}
	if mutate != nil {
		mutate(cfg)
	}
	ts := startServer(t, cfg)
	st, err := control.OpenStore(context.Background(), ts.reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return ts
}

// admin sends an admin API call with the admin key.
func (ts *testServer) admin(method, path, body string, headers ...string) response {
	ts.t.Helper()
	return ts.do(method, "/admin/v1"+path, body, append([]string{"X-Kapok-Admin-Key: " + adminTestKey}, headers...)...)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decodeBody(t *testing.T, r response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// testTenantName makes base unique to this test process, so that two runs of the package
// at once (two terminals, or CI beside a developer) do not share tenants.
func testTenantName(base string) string { return fmt.Sprintf("%s-%d", base, os.Getpid()) }

// objectName is the schema or database a tenant gets by default.
func objectName(tenant string) string { return strings.ReplaceAll(tenant, "-", "_") }

// dropTestRoles drops the roles whose names are LIKE any of patterns.
func dropTestRoles(patterns ...string) {
	c, err := pgx.Connect(context.Background(), testenv.DirectURL())
	if err != nil {
		return
	}
	defer c.Close(context.Background())
	rows, err := c.Query(context.Background(), "SELECT rolname::text FROM pg_roles WHERE rolname LIKE ANY($1)", patterns)
	if err != nil {
		return
	}
	roles, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, r := range roles {
		q := pgx.Identifier{r}.Sanitize()
		_, _ = c.Exec(context.Background(), "DROP OWNED BY "+q+"; DROP ROLE "+q)
	}
}

// cleanupTenant removes whatever a test tenant may have left, before and after the test.
func cleanupTenant(t *testing.T, name string) {
	t.Helper()
	testenv.DropTenant(name, control.TenantRole(name))
	t.Cleanup(func() { testenv.DropTenant(name, control.TenantRole(name)) })
}

func createTenant(t *testing.T, ts *testServer, name, mode string) map[string]any {
	t.Helper()
	cleanupTenant(t, name)
	r := ts.admin("POST", "/tenants", mustJSON(t, map[string]any{"name": name, "mode": mode}))
	if r.status != 201 {
		t.Fatalf("create %s tenant %s: %d %s", mode, name, r.status, r.body)
	}
	return decodeBody(t, r)
}

func TestAdminCreatesTenantsServedWhenTheCallReturns(t *testing.T) {
	ts := adminServer(t, nil)
	for _, mode := range []string{"schema", "database"} {
		t.Run("in "+mode+" mode", func(t *testing.T) {
			name := testTenantName("admin-t-new-" + mode)
			ensures := ts.srv.api.roleEnsures.Load()
			created := createTenant(t, ts, name, mode)
			t.Logf("%s tenant: provision %.1f ms, total %.1f ms", mode, created["provision_ms"], created["total_ms"])
			// A schema tenant's role is made with its schema, in the provisioning
			// transaction; a database tenant's at its first load, in its database.
			if n := ts.srv.api.roleEnsures.Load() - ensures; (mode == "schema") != (n == 0) {
				t.Errorf("%s tenant: the first load's hooks ran the role script %d times", mode, n)
			}
			r := ts.gql("/t/"+name+"/v1/graphql", `{ todos(order_by: {id: asc}) { id title profile { email } } }`, nil,
				"X-Kapok-Admin-Key: "+adminTestKey)
			jsonEq(t, r.body, `{"data":{"todos":[
				{"id":1,"title":"Read the API documentation","profile":{"email":"owner@example.com"}},
				{"id":2,"title":"Add a table with a migration","profile":{"email":"owner@example.com"}}]}}`)
			r = ts.do("GET", "/t/"+name+"/rest/v1/todos?select=id,title&order=id.asc&limit=1", "", "X-Kapok-Admin-Key: "+adminTestKey)
			jsonEq(t, r.body, `[{"id":1,"title":"Read the API documentation"}]`)
			info := decodeBody(t, ts.admin("GET", "/tenants/"+name, ""))
			if info["source"] != "control" || info["mode"] != mode || info["ready"] != true {
				t.Fatalf("tenant info: %v", info)
			}
			list := ts.admin("GET", "/tenants", "")
			if !strings.Contains(list.body, `"name":"`+name+`"`) {
				t.Fatalf("tenant list lacks %s: %s", name, list.body)
			}
		})
	}
}

func TestAdminMigrationsApplyDryRunFailAndRollBack(t *testing.T) {
	ts := adminServer(t, nil)
	name := testTenantName("admin-t-migrate")
	schema := objectName(name)
	createTenant(t, ts, name, "schema")
	path := "/tenants/" + name
	gqlPath := "/t/" + name + "/v1/graphql"
	key := "X-Kapok-Admin-Key: " + adminTestKey
	version := func() string {
		t.Helper()
		return decodeBody(t, ts.admin("GET", path+"/schema", ""))["version"].(string)
	}
	v0 := version()
	addPriority := map[string]any{
		"name": "0001_todo_priority",
		"up":   "ALTER TABLE todos ADD COLUMN priority int NOT NULL DEFAULT 3;\nCREATE TABLE tags (id int PRIMARY KEY, label text);",
		"down": "DROP TABLE tags;\nALTER TABLE todos DROP COLUMN priority;",
	}

	t.Run("a dry run returns the diff and changes nothing", func(t *testing.T) {
		dry := map[string]any{"dry_run": true}
		for k, v := range addPriority {
			dry[k] = v
		}
		r := ts.admin("POST", path+"/migrations", mustJSON(t, dry))
		if r.status != 200 {
			t.Fatalf("dry run: %d %s", r.status, r.body)
		}
		res := decodeBody(t, r)
		diff := res["diff"].(map[string]any)
		if fmt.Sprint(diff["tables_added"]) != "["+schema+".tags]" ||
			!strings.Contains(mustJSON(t, diff["columns_added"]), `"column":"priority"`) {
			t.Fatalf("dry run diff: %s", r.body)
		}
		if res["version_after"] == res["version_before"] {
			t.Fatalf("dry run reports no version change: %s", r.body)
		}
		if v := version(); v != v0 {
			t.Fatalf("dry run changed the served version %s -> %s", v0, v)
		}
		var n int
		if err := testenv.Conn(t).QueryRow(context.Background(),
			"SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND column_name = 'priority'", schema).Scan(&n); err != nil || n != 0 {
			t.Fatalf("dry run left the column behind (%d, %v)", n, err)
		}
		if strings.Contains(ts.admin("GET", path+"/migrations", "").body, "0001_todo_priority") {
			t.Fatal("dry run was recorded in the migration log")
		}
	})

	t.Run("a failing migration leaves nothing and reports Postgres's error with its position", func(t *testing.T) {
		r := ts.admin("POST", path+"/migrations", mustJSON(t, map[string]any{
			"name": "0001_broken",
			"up":   "CREATE TABLE half_done (id int);\nALTER TABLE todos ADD COLUMN oops intt;",
		}))
		if r.status != 400 {
			t.Fatalf("failing migration: %d %s", r.status, r.body)
		}
		e := decodeBody(t, r)
		if e["code"] != "sql-error" || e["sqlstate"] != "42704" || e["line"] != float64(2) || e["position"] == nil ||
			!strings.Contains(e["error"].(string), `type "intt" does not exist`) {
			t.Fatalf("error body: %s", r.body)
		}
		if v := version(); v != v0 {
			t.Fatalf("failed migration changed the version")
		}
		var n int
		_ = testenv.Conn(t).QueryRow(context.Background(), "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'half_done'", schema).Scan(&n)
		if n != 0 {
			t.Fatal("the failing migration's first statement was kept")
		}
		r = ts.admin("POST", path+"/migrations", `{"name":"0001_syntax","up":"ALTER TABLE todos ADD COLUMN x int,,"}`)
		if e := decodeBody(t, r); r.status != 400 || e["sqlstate"] != "42601" || e["position"] == nil {
			t.Fatalf("syntax error: %d %s", r.status, r.body)
		}
	})

	t.Run("an applied migration is served at once and logged", func(t *testing.T) {
		r := ts.admin("POST", path+"/migrations", mustJSON(t, addPriority), "X-Kapok-Actor: admin-t-agent")
		if r.status != 201 {
			t.Fatalf("migrate: %d %s", r.status, r.body)
		}
		res := decodeBody(t, r)
		if v := version(); v == v0 || v != res["version_after"] {
			t.Fatalf("served version %s after migrating (response says %v)", v, res["version_after"])
		}
		q := ts.gql(gqlPath, `{ todos(order_by: {id: asc}, limit: 1) { id priority } tags { id } }`, nil, key)
		jsonEq(t, q.body, `{"data":{"todos":[{"id":1,"priority":3}],"tags":[]}}`)
		rest := ts.do("GET", "/t/"+name+"/rest/v1/todos?select=id,priority&order=id.asc&limit=1", "", key)
		jsonEq(t, rest.body, `[{"id":1,"priority":3}]`)
		if rest := ts.do("GET", "/t/"+name+"/rest/v1/tags", "", key); rest.status != 200 || rest.body != "[]" {
			t.Fatalf("new table over REST: %d %s", rest.status, rest.body)
		}
		log := ts.admin("GET", path+"/migrations", "")
		var l struct {
			Migrations []control.MigrationRecord `json:"migrations"`
		}
		if err := json.Unmarshal([]byte(log.body), &l); err != nil {
			t.Fatal(err)
		}
		var applied, failed int
		for _, m := range l.Migrations {
			switch m.Outcome {
			case "applied":
				applied++
				if m.Name != "0001_todo_priority" || m.AppliedBy != "admin-t-agent" || m.Checksum == "" || m.Down == nil {
					t.Fatalf("log entry: %+v", m)
				}
			case "failed":
				failed++
			}
		}
		if applied != 1 || failed != 2 {
			t.Fatalf("log holds %d applied and %d failed entries: %s", applied, failed, log.body)
		}
	})

	t.Run("a migration without down cannot be rolled back", func(t *testing.T) {
		r := ts.admin("POST", path+"/migrations", `{"name":"0002_note","up":"ALTER TABLE todos ADD COLUMN note text"}`)
		if r.status != 201 {
			t.Fatalf("migrate: %d %s", r.status, r.body)
		}
		r = ts.admin("POST", path+"/migrations/rollback", "")
		if r.status != 409 || !strings.Contains(r.body, "no down script") {
			t.Fatalf("rollback of a migration without down: %d %s", r.status, r.body)
		}
		// Undo it by hand, as a forward migration.
		if r := ts.admin("POST", path+"/migrations", `{"name":"0003_drop_note","up":"ALTER TABLE todos DROP COLUMN note","down":"ALTER TABLE todos ADD COLUMN note text"}`); r.status != 201 {
			t.Fatalf("migrate: %d %s", r.status, r.body)
		}
	})

	t.Run("rolling back to before the first migration restores the catalog version exactly", func(t *testing.T) {
		log := ts.admin("GET", path+"/migrations", "")
		var l struct {
			Migrations []control.MigrationRecord `json:"migrations"`
		}
		_ = json.Unmarshal([]byte(log.body), &l)
		// Roll back 0003 alone first, then everything after 0001's predecessor is refused
		// because 0002 has no down; so roll back 0003, then apply 0002's inverse state.
		r := ts.admin("POST", path+"/migrations/rollback", "{}")
		if r.status != 200 {
			t.Fatalf("rollback: %d %s", r.status, r.body)
		}
		if !strings.Contains(r.body, `"column":"note"`) {
			t.Fatalf("rollback diff lacks the restored column: %s", r.body)
		}
		r = ts.admin("POST", path+"/migrations/rollback", `{"to":0}`)
		if r.status != 409 || !strings.Contains(r.body, "0002_note") {
			t.Fatalf("rollback across a migration without down: %d %s", r.status, r.body)
		}
	})

	t.Run("rollback of a fresh tenant's only migration restores its version", func(t *testing.T) {
		other := testTenantName("admin-t-rollback")
		createTenant(t, ts, other, "schema")
		p := "/tenants/" + other
		before := decodeBody(t, ts.admin("GET", p+"/schema", ""))["version"]
		if r := ts.admin("POST", p+"/migrations", mustJSON(t, addPriority)); r.status != 201 {
			t.Fatalf("migrate: %d %s", r.status, r.body)
		}
		r := ts.admin("POST", p+"/migrations/rollback", "")
		if r.status != 200 {
			t.Fatalf("rollback: %d %s", r.status, r.body)
		}
		res := decodeBody(t, r)
		after := decodeBody(t, ts.admin("GET", p+"/schema", ""))["version"]
		if after != before || res["version_after"] != before {
			t.Fatalf("version before migrating %v, after rolling back %v (response %v)", before, after, res["version_after"])
		}
		q := ts.gql("/t/"+other+"/v1/graphql", `{ todos(limit: 1) { priority } }`, nil, key)
		if !strings.Contains(q.body, "errors") {
			t.Fatalf("rolled-back column still served: %s", q.body)
		}
		if r := ts.admin("POST", p+"/migrations/rollback", ""); r.status != 409 {
			t.Fatalf("rollback with nothing left: %d %s", r.status, r.body)
		}
	})
}

func TestAdminDeleteRemovesEverything(t *testing.T) {
	ts := adminServer(t, nil)
	for _, mode := range []string{"schema", "database"} {
		t.Run("in "+mode+" mode", func(t *testing.T) {
			name := testTenantName("admin-t-del-" + mode)
			obj := objectName(name)
			createTenant(t, ts, name, mode)
			key := "X-Kapok-Admin-Key: " + adminTestKey
			if r := ts.gql("/t/"+name+"/v1/graphql", `{ todos { id } }`, nil, key); r.status != 200 {
				t.Fatalf("query: %d %s", r.status, r.body)
			}
			if r := ts.admin("POST", "/tenants/"+name+"/migrations", `{"name":"0001","up":"CREATE TABLE x (id int)","down":"DROP TABLE x"}`); r.status != 201 {
				t.Fatalf("migrate: %d %s", r.status, r.body)
			}
			if r := ts.admin("DELETE", "/tenants/"+name, ""); r.status != 400 || !strings.Contains(r.body, "confirm="+name) {
				t.Fatalf("delete without confirmation: %d %s", r.status, r.body)
			}
			if r := ts.admin("DELETE", "/tenants/"+name+"?confirm=wrong", ""); r.status != 400 {
				t.Fatalf("delete with a wrong confirmation: %d %s", r.status, r.body)
			}
			if r := ts.admin("DELETE", "/tenants/"+name+"?confirm="+name, ""); r.status != 200 {
				t.Fatalf("delete: %d %s", r.status, r.body)
			}
			if r := ts.admin("GET", "/tenants/"+name, ""); r.status != 404 {
				t.Fatalf("deleted tenant still shown: %d %s", r.status, r.body)
			}
			if r := ts.gql("/t/"+name+"/v1/graphql", `{ todos { id } }`, nil, key); r.status != 404 {
				t.Fatalf("deleted tenant still served: %d %s", r.status, r.body)
			}
			if _, ok := ts.srv.api.pools.Stats(name); ok {
				t.Fatal("the deleted tenant's pool is still open")
			}
			if ts.srv.api.schemas.holds(name) {
				t.Fatal("the deleted tenant's GraphQL schemas are still cached")
			}
			ts.srv.api.guardMu.Lock()
			for tc := range ts.srv.api.guards {
				if tc.Name == name {
					t.Error("the deleted tenant's guard is still held")
				}
			}
			ts.srv.api.guardMu.Unlock()
			var left int
			err := testenv.Conn(t).QueryRow(context.Background(), `SELECT
  (SELECT count(*) FROM pg_namespace WHERE nspname = $1) + (SELECT count(*) FROM pg_database WHERE datname = $1) +
  (SELECT count(*) FROM kapok.tenants WHERE name = $2) + (SELECT count(*) FROM kapok.migrations WHERE tenant = $2) +
  (SELECT count(*) FROM pg_roles WHERE rolname LIKE $3)`, obj, name, control.TenantRole(name)+"%").Scan(&left)
			if err != nil || left != 0 {
				t.Fatalf("%d objects left behind (%v)", left, err)
			}
			if r := ts.admin("DELETE", "/tenants/"+name+"?confirm="+name, ""); r.status != 404 {
				t.Fatalf("second delete: %d %s", r.status, r.body)
			}
		})
	}
}

func TestTwoServersOnOneControlDatabaseAgreeWithinASecond(t *testing.T) {
	a := adminServer(t, nil)
	b := adminServer(t, nil)
	name := testTenantName("admin-t-shared")
	createTenant(t, a, name, "schema")
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("server b: %s not within a second", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("tenant served", func() bool { return b.reg.Tenant(name) != nil })
	r := b.gql("/t/"+name+"/v1/graphql", `{ profiles { email } }`, nil, "X-Kapok-Admin-Key: "+adminTestKey)
	jsonEq(t, r.body, `{"data":{"profiles":[{"email":"owner@example.com"}]}}`)

	if r := a.admin("PATCH", "/tenants/"+name, `{"pool":{"max_conns":3}}`); r.status != 200 || !strings.Contains(r.body, `"max_conns":3`) {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	waitFor("pool change applied", func() bool { return b.reg.Tenant(name).Config.Pool.MaxConns == 3 })

	if r := a.admin("POST", "/tenants/"+name+"/migrations", `{"name":"0001","up":"ALTER TABLE profiles ADD COLUMN plan text DEFAULT 'free'"}`); r.status != 201 {
		t.Fatalf("migrate: %d %s", r.status, r.body)
	}
	waitFor("schema change served", func() bool {
		s := b.reg.Tenant(name).Snapshot()
		return s != nil && s.Catalog.Table(objectName(name), "profiles").Column("plan") != nil
	})

	if r := a.admin("DELETE", "/tenants/"+name+"?confirm="+name, ""); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	waitFor("tenant removed", func() bool { return b.reg.Tenant(name) == nil })
}

func TestAdminSQLSchemaReloadAndStats(t *testing.T) {
	ts := adminServer(t, nil)
	name := testTenantName("admin-t-sql")
	createTenant(t, ts, name, "schema")
	p := "/tenants/" + name

	r := ts.admin("POST", p+"/sql", `{"sql":"SELECT id, title, done, created_at IS NOT NULL AS stamped FROM todos WHERE id = $1","params":[2]}`)
	if r.status != 200 {
		t.Fatalf("sql: %d %s", r.status, r.body)
	}
	var res control.SQLResult
	if err := json.Unmarshal([]byte(r.body), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Command != "SELECT 1" {
		t.Fatalf("sql result: %s", r.body)
	}
	jsonEq(t, string(res.Rows[0]), `{"id":2,"title":"Add a table with a migration","done":false,"stamped":true}`)

	r = ts.admin("POST", p+"/sql", `{"sql":"INSERT INTO todos (profile_id, title) VALUES (1, 'x')","read_only":true}`)
	if e := decodeBody(t, r); r.status != 400 || e["sqlstate"] != "25006" {
		t.Fatalf("write in a read-only call: %d %s", r.status, r.body)
	}
	r = ts.admin("POST", p+"/sql", `{"sql":"INSERT INTO todos (profile_id, title) VALUES (1, 'x') RETURNING id"}`)
	if r.status != 200 || !strings.Contains(r.body, `"command":"INSERT 0 1"`) || !strings.Contains(r.body, `{"id":3}`) {
		t.Fatalf("insert: %d %s", r.status, r.body)
	}
	r = ts.admin("POST", p+"/sql", `{"sql":"SELEC 1"}`)
	if e := decodeBody(t, r); r.status != 400 || e["position"] != float64(1) {
		t.Fatalf("syntax error: %d %s", r.status, r.body)
	}

	sch := decodeBody(t, ts.admin("GET", p+"/schema", ""))
	if len(sch["tables"].([]any)) != 2 {
		t.Fatalf("schema: %v", sch)
	}
	// DDL done behind Kapok's back is picked up by the watcher; reload forces it now.
	testenv.Exec(t, "CREATE TABLE "+objectName(name)+".extra (id int PRIMARY KEY)")
	r = ts.admin("POST", p+"/reload", "")
	if r.status != 200 || decodeBody(t, r)["tables"] != float64(3) {
		t.Fatalf("reload: %d %s", r.status, r.body)
	}

	ts.gql("/t/"+name+"/v1/graphql", `{ todos { id } }`, nil, "X-Kapok-Admin-Key: "+adminTestKey)
	r = ts.admin("GET", p+"/stats", "")
	st := decodeBody(t, r)
	db, _ := st["database"].(map[string]any)
	if r.status != 200 || st["pool"] == nil || st["plan_cache"] == nil || db == nil || db["size_bytes"].(float64) <= 0 ||
		len(db["tables"].([]any)) != 3 {
		t.Fatalf("stats: %d %s", r.status, r.body)
	}
}

func TestAdminBadInputGetsClearErrors(t *testing.T) {
	ts := adminServer(t, nil)
	name := testTenantName("admin-t-bad")
	createTenant(t, ts, name, "schema")
	big := `{"name":"x","up":"` + strings.Repeat("x", 9<<20) + `"}`
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code, says               string
	}{
		{"a call without a key is unauthorized", "GET", "/tenants", "", nil, 401, "access-denied", "X-Kapok-Admin-Key"},
		{"a wrong key is unauthorized", "GET", "/tenants", "", []string{"X-Kapok-Admin-Key: nope"}, 401, "access-denied", "invalid admin key"},
		{"an unknown tenant is not found", "GET", "/tenants/admin-t-nobody", "", nil, 404, "tenant-not-found", "admin-t-nobody"},
		{"migrating an unknown tenant is not found", "POST", "/tenants/admin-t-nobody/migrations", `{"name":"a","up":"SELECT 1"}`, nil, 404, "tenant-not-found", ""},
		{"a duplicate name conflicts", "POST", "/tenants", `{"name":"` + name + `"}`, nil, 409, "already-exists", name},
		{"a name that is not DNS-safe is refused", "POST", "/tenants", `{"name":"Admin_T_Bad"}`, nil, 400, "invalid-request", "DNS-safe"},
		{"an unknown mode is refused", "POST", "/tenants", `{"name":"admin-t-mode","mode":"cluster"}`, nil, 400, "invalid-request", "mode"},
		{"an unknown field is refused", "POST", "/tenants", `{"name":"admin-t-x","colour":"red"}`, nil, 400, "invalid-json", "colour"},
		{"malformed JSON is refused", "POST", "/tenants", `{"name":`, nil, 400, "invalid-json", ""},
		{"a pool setting of the wrong type is refused", "POST", "/tenants", `{"name":"admin-t-pool","pool":{"max_conns":"many"}}`, nil, 400, "invalid-request", "pool"},
		{"a migration needs up", "POST", "/tenants/" + name + "/migrations", `{"name":"a"}`, nil, 400, "invalid-request", "up script"},
		{"an SQL syntax error is a 400 with its position", "POST", "/tenants/" + name + "/sql", `{"sql":"SELECT FROM WHERE"}`, nil, 400, "sql-error", "syntax error"},
		{"an oversized body is refused", "POST", "/tenants/" + name + "/migrations", big, nil, 413, "payload-too-large", "limit"},
		{"an unknown route is not found", "GET", "/nothing", "", nil, 404, "not-found", ""},
		{"a wrong method is not allowed", "PUT", "/tenants", "{}", nil, 405, "method-not-allowed", "GET, POST"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r response
			if c.headers == nil && !strings.Contains(c.name, "without a key") {
				r = ts.admin(c.method, c.path, c.body)
			} else {
				r = ts.do(c.method, "/admin/v1"+c.path, c.body, c.headers...)
			}
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %.300s", r.status, c.status, r.body)
			}
			e := decodeBody(t, r)
			if e["code"] != c.code || !strings.Contains(fmt.Sprint(e["error"]), c.says) {
				t.Fatalf("body %.300s, want code %s saying %q", r.body, c.code, c.says)
			}
		})
	}
	t.Run("a bearer admin key is accepted", func(t *testing.T) {
		if r := ts.do("GET", "/admin/v1/tenants", "", "Authorization: Bearer "+adminTestKey); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestAdminFileTenantCannotBeDeleted(t *testing.T) {
	testenv.FreshSchema(t, "admin_t_file", "CREATE TABLE a (id int PRIMARY KEY)")
	ts := adminServer(t, func(c *control.Config) {
		c.Tenants = []*control.TenantConfig{{Name: "admin-t-file", Schemas: []string{"admin_t_file"}}}
	})
	r := ts.admin("DELETE", "/tenants/admin-t-file?confirm=admin-t-file", "")
	if r.status != 409 || !strings.Contains(r.body, "config file") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := ts.admin("GET", "/tenants/admin-t-file", ""); !strings.Contains(r.body, `"source":"config"`) {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestAdminAPIIsRefusedWithoutAKeyOrOutsideTheAllowList(t *testing.T) {
	t.Run("no admin key configured", func(t *testing.T) {
		ts := startServer(t, &control.Config{})
		r := ts.do("GET", "/admin/v1/tenants", "", "X-Kapok-Admin-Key: anything")
		if r.status != 403 || !strings.Contains(r.body, "KAPOK_ADMIN_KEY") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("client outside admin_allow_cidrs", func(t *testing.T) {
		ts := startServer(t, &control.Config{AdminKey: adminTestKey, AdminAllowCIDRs: []string{"10.9.8.0/24"}})
		r := ts.admin("GET", "/tenants", "")
		if r.status != 403 || !strings.Contains(r.body, "admin_allow_cidrs") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("without control tables, tenant creation says so", func(t *testing.T) {
		ts := startServer(t, &control.Config{AdminKey: adminTestKey})
		r := ts.admin("POST", "/tenants", `{"name":"admin-t-nostore"}`)
		if r.status != 503 || !strings.Contains(r.body, "control tables") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}
