package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/valyala/fasthttp"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// moveLeftovers counts what a move of tenant may leave behind in the shared database and
// the cluster: its replication slot, publication, subscription and marker table.
func moveLeftovers(t *testing.T, tenant string) int {
	t.Helper()
	id := "kapok_move_" + objectName(tenant)
	var n int
	err := testenv.Conn(t).QueryRow(context.Background(), `SELECT
  (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1) + (SELECT count(*) FROM pg_publication WHERE pubname = $1) +
  (SELECT count(*) FROM pg_subscription WHERE subname = $1) + (SELECT count(*) FROM pg_class WHERE relname = $1)`, id).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// cleanupMove drops what a move of tenant may have left (a failed test's): the
// subscription first, which keeps its database from being dropped.
func cleanupMove(tenant, database string) {
	ctx := context.Background()
	id := pgx.Identifier{"kapok_move_" + objectName(tenant)}.Sanitize()
	if c, err := pgx.Connect(ctx, databaseURL(database)); err == nil {
		for _, q := range []string{"ALTER SUBSCRIPTION " + id + " DISABLE", "ALTER SUBSCRIPTION " + id + " SET (slot_name = NONE)", "DROP SUBSCRIPTION " + id} {
			_, _ = c.Exec(ctx, q)
		}
		c.Close(ctx)
	}
	c, err := pgx.Connect(ctx, testenv.DirectURL())
	if err != nil {
		return
	}
	defer c.Close(ctx)
	_, _ = c.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", "kapok_move_"+objectName(tenant))
	_, _ = c.Exec(ctx, "DROP PUBLICATION IF EXISTS "+id)
	_, _ = c.Exec(ctx, "DROP TABLE IF EXISTS kapok."+id)
	_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{database}.Sanitize()+" WITH (FORCE)")
}

// databaseURL is the dev stack's direct URL to another database.
func databaseURL(db string) string {
	u, _ := url.Parse(testenv.DirectURL())
	u.Path = "/" + db
	return u.String()
}

// moveServer is adminServer with the store attached as `kapok serve` attaches it, so that
// the server releases a moved tenant's pool and sockets (Server.AttachStore).
func moveServer(t *testing.T, mutate func(*control.Config)) *testServer {
	t.Helper()
	ts := adminServer(t, mutate)
	ts.srv.AttachStore(ts.reg.Store())
	return ts
}

// moveTenant creates a schema tenant for a move test, cleaned up with its new database.
func moveTenant(t *testing.T, ts *testServer, base string) string {
	t.Helper()
	name := testTenantName(base)
	cleanupMove(name, objectName(name))
	createTenant(t, ts, name, "schema")
	t.Cleanup(func() { cleanupMove(name, objectName(name)) }) // before createTenant's, which drops the database
	return name
}

// post sends a request from any goroutine: an error is returned, not fatal.
func (ts *testServer) post(method, path, body string, headers ...string) (int, string, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://kapok.test" + path)
	req.Header.SetMethod(method)
	req.Header.SetContentType("application/json")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	req.SetBodyString(body)
	if err := ts.c.DoTimeout(req, resp, 60*time.Second); err != nil {
		return 0, "", err
	}
	return resp.StatusCode(), string(resp.Body()), nil
}

func TestAdminMoveTenantToItsOwnDatabaseUnderWrites(t *testing.T) {
	ts := moveServer(t, nil)
	name := moveTenant(t, ts, "admin-t-move")
	obj := objectName(name)
	key := "X-Kapok-Admin-Key: " + adminTestKey
	// A table without a primary key moves too (it gets REPLICA IDENTITY FULL meanwhile).
	if r := ts.admin("POST", "/tenants/"+name+"/migrations", `{"name":"0001_notes","up":"CREATE TABLE notes (body text)"}`); r.status != 201 {
		t.Fatalf("migrate: %d %s", r.status, r.body)
	}
	// A trigger calling a function of schema kapok, as Realtime's change triggers do: it
	// stays behind (Realtime installs its own where subscriptions need it).
	t.Cleanup(func() { testenv.Exec(t, "DROP FUNCTION IF EXISTS kapok.admin_t_move_noop() CASCADE") })
	testenv.Exec(t, `CREATE OR REPLACE FUNCTION kapok.admin_t_move_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER kapok_changes AFTER INSERT ON `+pgx.Identifier{obj, "todos"}.Sanitize()+` FOR EACH STATEMENT EXECUTE FUNCTION kapok.admin_t_move_noop()`)

	var (
		stop     atomic.Bool
		mu       sync.Mutex
		acked    []int64
		failures []string
		notes    atomic.Int64
		wg       sync.WaitGroup
	)
	fail := func(s string) {
		mu.Lock()
		failures = append(failures, s)
		mu.Unlock()
	}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				status, body, err := ts.post("POST", "/t/"+name+"/rest/v1/todos", fmt.Sprintf(`{"profile_id":1,"title":"w%d-%d"}`, w, i),
					key, "Prefer: return=representation")
				if err != nil || status != 201 {
					fail(fmt.Sprintf("insert w%d-%d: %d %s %v", w, i, status, body, err))
					continue
				}
				var rows []struct {
					ID int64 `json:"id"`
				}
				if err := json.Unmarshal([]byte(body), &rows); err != nil || len(rows) != 1 {
					fail("insert answer: " + body)
					continue
				}
				mu.Lock()
				acked = append(acked, rows[0].ID)
				mu.Unlock()
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(1); !stop.Load(); i++ {
			status, body, err := ts.post("POST", "/t/"+name+"/rest/v1/notes", fmt.Sprintf(`{"body":"n%d"}`, i), key)
			if err != nil || status != 201 {
				fail(fmt.Sprintf("insert note n%d: %d %s %v", i, status, body, err))
				continue
			}
			notes.Add(1)
		}
	}()

	time.Sleep(300 * time.Millisecond) // writes before the move, then during it
	r := ts.admin("POST", "/tenants/"+name+"/move", `{"mode":"database"}`)
	time.Sleep(200 * time.Millisecond) // and after it, to the new database
	stop.Store(true)
	wg.Wait()
	if r.status != 200 {
		t.Fatalf("move: %d %s", r.status, r.body)
	}
	res := decodeBody(t, r)
	t.Logf("move: copy %.1f ms, catch-up %.1f ms, pause %.1f ms, cleanup %.1f ms, total %.1f ms; %d tables; %d rows written meanwhile",
		res["copy_ms"], res["catch_up_ms"], res["pause_ms"], res["cleanup_ms"], res["total_ms"], int(res["tables"].(float64)), len(acked))
	if len(failures) > 0 {
		t.Fatalf("%d writes failed, the first: %s", len(failures), failures[0])
	}
	if len(acked) < 20 {
		t.Fatalf("only %d writes: the test did not write during the move", len(acked))
	}
	if p := res["pause_ms"].(float64); p <= 0 || p >= 1000 {
		t.Errorf("requests were paused %.1f ms", p)
	}
	if w := res["warnings"].([]any); len(w) > 0 {
		t.Errorf("clean-up warnings: %v", w)
	}
	info := decodeBody(t, ts.admin("GET", "/tenants/"+name, ""))
	if info["mode"] != "database" || info["database"] != obj || info["ready"] != true {
		t.Fatalf("tenant after the move: %v", info)
	}

	// Every acknowledged row, through Kapok and in the new database itself.
	got := ts.do("GET", "/t/"+name+"/rest/v1/todos?select=id", "", key)
	var rows []struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(got.body), &rows); err != nil {
		t.Fatalf("%d %s", got.status, got.body)
	}
	served := map[int64]bool{}
	for _, row := range rows {
		served[row.ID] = true
	}
	ctx := context.Background()
	dc, err := pgx.Connect(ctx, databaseURL(obj))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close(ctx)
	idRows, err := dc.Query(ctx, "SELECT id FROM "+pgx.Identifier{obj, "todos"}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(idRows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int64]bool{}
	for _, id := range ids {
		stored[id] = true
	}
	for _, id := range acked {
		if !served[id] || !stored[id] {
			t.Fatalf("acknowledged row %d: served %v, in the new database %v", id, served[id], stored[id])
		}
	}
	var noteRows int64
	if err := dc.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{obj, "notes"}.Sanitize()).Scan(&noteRows); err != nil || noteRows != notes.Load() {
		t.Fatalf("%d notes in the new database (%v), %d acknowledged", noteRows, err, notes.Load())
	}
	// The sequences came along: a new row gets a new id.
	var maxID int64
	for _, id := range ids {
		maxID = max(maxID, id)
	}
	r = ts.do("POST", "/t/"+name+"/rest/v1/todos", `{"profile_id":1,"title":"after"}`, key, "Prefer: return=representation")
	if r.status != 201 || !strings.Contains(r.body, fmt.Sprintf(`"id":%d`, maxID+1)) {
		t.Fatalf("insert after the move (max id %d): %d %s", maxID, r.status, r.body)
	}
	jsonEq(t, ts.gql("/t/"+name+"/v1/graphql", `{ profiles { email } }`, nil, key).body, `{"data":{"profiles":[{"email":"owner@example.com"}]}}`)

	var left int
	if err := testenv.Conn(t).QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", obj).Scan(&left); err != nil || left != 0 {
		t.Fatalf("the old schema is still there (%d, %v)", left, err)
	}
	if n := moveLeftovers(t, name); n != 0 {
		t.Fatalf("%d replication objects left behind", n)
	}
	var marker, triggers int
	if err := dc.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname = $1", "kapok_move_"+obj).Scan(&marker); err != nil || marker != 0 {
		t.Fatalf("the marker table is left in the new database (%d, %v)", marker, err)
	}
	if err := dc.QueryRow(ctx, "SELECT count(*) FROM pg_trigger WHERE tgname = 'kapok_changes'").Scan(&triggers); err != nil || triggers != 0 {
		t.Fatalf("a change trigger came along (%d, %v)", triggers, err)
	}
}

func TestAdminMoveRefusalsAndFailuresLeaveTheTenantAsItWas(t *testing.T) {
	testenv.FreshSchema(t, "admin_t_file", "CREATE TABLE a (id int PRIMARY KEY)")
	ts := moveServer(t, func(c *control.Config) {
		c.Tenants = []*control.TenantConfig{{Name: "admin-t-file", Schemas: []string{"admin_t_file"}}}
	})
	key := "X-Kapok-Admin-Key: " + adminTestKey
	adminError := func(t *testing.T, r response, status int, code, says string) {
		t.Helper()
		if r.status != status {
			t.Fatalf("%d %s", r.status, r.body)
		}
		body := decodeBody(t, r)
		if body["code"] != code || !strings.Contains(fmt.Sprint(body["error"]), says) {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}

	t.Run("a tenant of the config file cannot be moved", func(t *testing.T) {
		adminError(t, ts.admin("POST", "/tenants/admin-t-file/move", `{"mode":"database"}`), 409, "conflict", "config file")
	})
	t.Run("a tenant in database mode is not moved again", func(t *testing.T) {
		name := testTenantName("admin-t-move-db")
		createTenant(t, ts, name, "database")
		adminError(t, ts.admin("POST", "/tenants/"+name+"/move", `{"mode":"database"}`), 409, "conflict", "already has a database")
	})

	name := moveTenant(t, ts, "admin-t-move-no")
	obj := objectName(name)
	servedAsBefore := func(t *testing.T) {
		t.Helper()
		info := decodeBody(t, ts.admin("GET", "/tenants/"+name, ""))
		if info["mode"] != "schema" || info["ready"] != true {
			t.Fatalf("tenant: %v", info)
		}
		if r := ts.do("POST", "/t/"+name+"/rest/v1/todos", `{"profile_id":1,"title":"still here"}`, key); r.status != 201 {
			t.Fatalf("write: %d %s", r.status, r.body)
		}
		if n := moveLeftovers(t, name); n != 0 {
			t.Fatalf("%d replication objects left behind", n)
		}
		var dbs int
		if err := testenv.Conn(t).QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", obj).Scan(&dbs); err != nil || dbs != 0 {
			t.Fatalf("database %s left behind (%d, %v)", obj, dbs, err)
		}
	}
	t.Run("a move needs mode database", func(t *testing.T) {
		adminError(t, ts.admin("POST", "/tenants/"+name+"/move", `{"mode":"schema"}`), 400, "invalid-request", "mode")
		adminError(t, ts.admin("POST", "/tenants/"+name+"/move", `{"mode":"database","database":"pg_x"}`), 400, "invalid-request", "pg_x")
	})
	t.Run("a database name that is taken fails the move", func(t *testing.T) {
		taken := fmt.Sprintf("admin_t_taken_%d", os.Getpid())
		c := testenv.Conn(t)
		ctx := context.Background()
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+taken)
		if _, err := c.Exec(ctx, "CREATE DATABASE "+taken); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+taken+" WITH (FORCE)") })
		adminError(t, ts.admin("POST", "/tenants/"+name+"/move", mustJSON(t, map[string]string{"mode": "database", "database": taken})),
			409, "already-exists", taken)
		var still int
		if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", taken).Scan(&still); err != nil || still != 1 {
			t.Fatalf("the database that was there is gone (%d, %v)", still, err)
		}
		servedAsBefore(t)
	})
	t.Run("requests still running past the drain limit fail the move, undone", func(t *testing.T) {
		// The request waits for a lock this test holds until the move gave up.
		lock := fmt.Sprint(os.Getpid())
		if r := ts.admin("POST", "/tenants/"+name+"/migrations", mustJSON(t, map[string]string{"name": "0001_slow",
			"up": "CREATE FUNCTION slow() RETURNS int LANGUAGE sql AS 'SELECT 1 FROM (SELECT pg_advisory_xact_lock(" + lock + ")) l'; CREATE TABLE notes (body text)"})); r.status != 201 {
			t.Fatalf("migrate: %d %s", r.status, r.body)
		}
		holder := testenv.Conn(t)
		if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_lock("+lock+")"); err != nil {
			t.Fatal(err)
		}
		ts.srv.api.gates.drain = 300 * time.Millisecond
		t.Cleanup(func() { ts.srv.api.gates.drain = 0 })
		slow := make(chan string, 1)
		go func() {
			status, body, err := ts.post("POST", "/t/"+name+"/rest/v1/rpc/slow", `{}`, key)
			slow <- fmt.Sprintf("%d %s %v", status, body, err)
		}()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			var waiting bool
			if err := holder.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = "+lock+" AND NOT granted)").Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the slow request did not start")
			}
		}
		r := ts.admin("POST", "/tenants/"+name+"/move", `{"mode":"database"}`)
		if _, err := holder.Exec(context.Background(), "SELECT pg_advisory_unlock("+lock+")"); err != nil {
			t.Fatal(err)
		}
		got := <-slow
		adminError(t, r, 409, "conflict", "still running")
		if !strings.HasPrefix(got, "200 1") {
			t.Fatalf("the request in flight: %s", got)
		}
		servedAsBefore(t)
		var ident string
		if err := testenv.Conn(t).QueryRow(context.Background(), "SELECT relreplident::text FROM pg_class WHERE oid = $1::regclass",
			pgx.Identifier{obj, "notes"}.Sanitize()).Scan(&ident); err != nil || ident != "d" {
			t.Fatalf("the replica identity of a table without a primary key is %q after the failed move (%v)", ident, err)
		}
	})
}

func TestAdminMoveTakesTheKapokAuthStoreAlong(t *testing.T) {
	testenv.Exec(t, `DO $$BEGIN CREATE ROLE admin_t_move_user NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$`)
	ts := moveServer(t, nil)
	name := testTenantName("admin-t-move-auth")
	obj := objectName(name)
	cleanupMove(name, obj)
	cleanupTenant(t, name)
	t.Cleanup(func() { cleanupMove(name, obj) })
	auth := map[string]any{"jwt_secret": "admin-t-move-secret-0123456789abcdef0123", "authenticated_role": "admin_t_move_user",
		"users": map[string]any{"autoconfirm": true}}
	if r := ts.admin("POST", "/tenants", mustJSON(t, map[string]any{"name": name, "auth": auth})); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	store := control.AuthSchema(&control.TenantConfig{Name: name})
	t.Cleanup(func() { _, _ = testenv.Conn(t).Exec(context.Background(), "DROP SCHEMA IF EXISTS "+store+" CASCADE") })
	// A policy that calls auth.uid(): the restore needs Kapok Auth's helpers in the new database.
	if r := ts.admin("POST", "/tenants/"+name+"/migrations", mustJSON(t, map[string]string{"name": "0001_mine",
		"up": "CREATE TABLE mine (owner uuid DEFAULT auth.uid(), body text); ALTER TABLE mine ENABLE ROW LEVEL SECURITY; " +
			"CREATE POLICY own ON mine USING (owner = auth.uid())"})); r.status != 201 {
		t.Fatalf("migrate: %d %s", r.status, r.body)
	}
	keys, err := control.KeysFor(name, &control.AuthConfig{JWTSecret: auth["jwt_secret"].(string)})
	if err != nil {
		t.Fatal(err)
	}
	anon := []string{"apikey: " + keys.Anon, "Authorization: Bearer " + keys.Anon}
	if r := ts.do("POST", "/t/"+name+"/auth/v1/signup", `{"email":"mover@example.com","password":"s3cret-pass"}`, anon...); r.status != 200 {
		t.Fatalf("sign up: %d %s", r.status, r.body)
	}

	r := ts.admin("POST", "/tenants/"+name+"/move", `{"mode":"database"}`)
	if r.status != 200 {
		t.Fatalf("move: %d %s", r.status, r.body)
	}
	res := decodeBody(t, r)
	t.Logf("move with a Kapok Auth store: copy %.1f ms, catch-up %.1f ms, pause %.1f ms, total %.1f ms",
		res["copy_ms"], res["catch_up_ms"], res["pause_ms"], res["total_ms"])
	if p := res["pause_ms"].(float64); p >= 1000 {
		t.Errorf("requests were paused %.1f ms", p)
	}
	if r := ts.do("POST", "/t/"+name+"/auth/v1/token?grant_type=password", `{"email":"mover@example.com","password":"s3cret-pass"}`, anon...); r.status != 200 {
		t.Fatalf("sign in after the move: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	dc, err := pgx.Connect(ctx, databaseURL(obj))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close(ctx)
	var users int
	if err := dc.QueryRow(ctx, "SELECT count(*) FROM auth.users WHERE email = 'mover@example.com'").Scan(&users); err != nil || users != 1 {
		t.Fatalf("%d users in the new database's auth.users (%v)", users, err)
	}
	var left int
	if err := testenv.Conn(t).QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname IN ($1, $2)", obj, store).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d old schemas left (%v)", left, err)
	}
	if err := dc.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", store).Scan(&left); err != nil || left != 0 {
		t.Fatalf("the store's old schema is in the new database (%d, %v)", left, err)
	}
}

func TestAdminMoveIsFollowedByAnotherServer(t *testing.T) {
	a := moveServer(t, nil)
	b := moveServer(t, nil)
	name := moveTenant(t, a, "admin-t-move-two")
	key := "X-Kapok-Admin-Key: " + adminTestKey
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("server b: %s not within 2 s", what)
			}
		}
	}
	waitFor("tenant served", func() bool { return b.reg.Tenant(name) != nil })
	if r := b.do("POST", "/t/"+name+"/rest/v1/todos", `{"profile_id":1,"title":"through b"}`, key); r.status != 201 {
		t.Fatalf("write through b: %d %s", r.status, r.body)
	}
	// A GraphQL subscription on each server: both sockets close at the switch.
	init := map[string]any{"headers": map[string]any{"X-Kapok-Admin-Key": adminTestKey}}
	sockets := []*wsClient{dialWS(t, a, "/t/"+name+"/v1/graphql", protoTransportWS, init), dialWS(t, b, "/t/"+name+"/v1/graphql", protoTransportWS, init)}
	for _, c := range sockets {
		c.expect("connection_ack")
		c.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { profiles { email } }"}})
		c.expect("next")
	}
	if r := a.admin("POST", "/tenants/"+name+"/move", `{"mode":"database"}`); r.status != 200 {
		t.Fatalf("move: %d %s", r.status, r.body)
	}
	for i, c := range sockets {
		m := c.next(2 * time.Second)
		if m["type"] != "closed" || m["code"] != float64(1012) || !strings.Contains(fmt.Sprint(m["reason"]), "moved") {
			t.Fatalf("socket on server %c: %v", 'a'+i, m)
		}
	}
	waitFor("the move followed", func() bool {
		cur := b.reg.Tenant(name)
		return cur != nil && cur.Config.Mode == "database" && cur.Config.Database == objectName(name)
	})
	if r := b.do("POST", "/t/"+name+"/rest/v1/todos", `{"profile_id":1,"title":"through b, moved"}`, key); r.status != 201 {
		t.Fatalf("write through b after the move: %d %s", r.status, r.body)
	}
	r := a.do("GET", "/t/"+name+"/rest/v1/todos?select=title&title=like.through*&order=id", "", key)
	jsonEq(t, r.body, `[{"title":"through b"},{"title":"through b, moved"}]`)
}
