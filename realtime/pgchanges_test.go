package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/planner"
	"github.com/kapok-dev/kapok/poolmgr"
)

// The postgres_changes tests need PostgreSQL with wal_level=logical: the dev stack's (after
// `kapok dev up`), or the one KAPOK_TEST_LOGICAL_URL names. They fail, never skip, without it.

func logicalURL() string {
	if u := os.Getenv("KAPOK_TEST_LOGICAL_URL"); u != "" {
		return u
	}
	return testenv.DirectURL()
}

// changesEnv is a tenant in a schema of its own on the logical PostgreSQL, and a Changes.
type changesEnv struct {
	t      *testing.T
	url    string
	schema string
	tenant *control.Tenant
	other  *control.Tenant // a second tenant with a schema of its own
	c      *Changes
	m      *ChangesMetrics
	conn   *pgx.Conn
}

// slot is the name of the replication slot of e's stream ("" while there is none).
func (e *changesEnv) slot() string {
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	for _, st := range e.c.streams {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.slot
	}
	return ""
}

func newChangesEnv(t *testing.T, base, ddl string) *changesEnv {
	t.Helper()
	ctx := context.Background()
	url := logicalURL()
	conn := testenv.ConnTo(t, url)
	var wal string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&wal); err != nil {
		t.Fatal(err)
	}
	if wal != "logical" {
		t.Fatalf("PostgreSQL at %s runs with wal_level=%s; postgres_changes need wal_level=logical: run `kapok dev up` (it reconfigures and restarts the dev stack), or point KAPOK_TEST_LOGICAL_URL at a PostgreSQL with wal_level=logical", url, wal)
	}
	schema := fmt.Sprintf("rt_%s_%d", base, os.Getpid())
	other := schema + "_other"
	for _, s := range []string{schema, other} {
		q := pgx.Identifier{s}.Sanitize()
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+q+" CASCADE; CREATE SCHEMA "+q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "SET search_path = "+pgx.Identifier{schema}.Sanitize()+"; "+ddl+"; CREATE TABLE "+
		pgx.Identifier{other}.Sanitize()+".secrets (id int PRIMARY KEY, v text); RESET search_path"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), url)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		for _, s := range []string{schema, other} {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE")
		}
	})
	name := strings.ReplaceAll(schema, "_", "-")
	cfg := &control.Config{
		Upstreams: map[string]*control.Upstream{"dev": {URL: url}},
		Tenants: []*control.TenantConfig{
			{Name: name, Schemas: []string{schema}, Isolation: control.IsolationNone},
			{Name: name + "-o", Schemas: []string{other}, Isolation: control.IsolationNone},
		},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.Default()
	}
	reg := control.NewRegistry(cfg, log)
	if err := reg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	tn := reg.Tenant(name)
	if tn.Snapshot() == nil {
		t.Fatalf("tenant not loaded: %v", tn.LoadError())
	}
	pools := poolmgr.New(poolmgr.Config{Logger: log})
	t.Cleanup(pools.Close)
	m := NewChangesMetrics()
	c := NewChanges(ChangesOptions{Config: cfg, Pools: pools, Logger: log, Metrics: m, Grace: 100 * time.Millisecond})
	t.Cleanup(c.Close)
	return &changesEnv{t: t, url: url, schema: schema, tenant: tn, other: reg.Tenant(name + "-o"), c: c, m: m, conn: conn}
}

func (e *changesEnv) exec(sql string) {
	e.t.Helper()
	if _, err := e.conn.Exec(context.Background(), "SET search_path = "+pgx.Identifier{e.schema}.Sanitize()+"; "+sql+"; RESET search_path"); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// inbox collects a subscriber's deliveries.
type inbox struct {
	mu  sync.Mutex
	got []map[string]any
	ch  chan struct{}
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1000)} }

func (in *inbox) deliver(data []byte) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		m = map[string]any{"invalid": string(data)}
	}
	in.mu.Lock()
	in.got = append(in.got, m)
	in.mu.Unlock()
	in.ch <- struct{}{}
}

// wait returns the first n deliveries, failing when they do not all come within d.
func (in *inbox) wait(t *testing.T, n int, d time.Duration) []map[string]any {
	t.Helper()
	deadline := time.After(d)
	for {
		in.mu.Lock()
		if len(in.got) >= n {
			out := append([]map[string]any(nil), in.got...)
			in.mu.Unlock()
			return out
		}
		have := len(in.got)
		in.mu.Unlock()
		select {
		case <-in.ch:
		case <-deadline:
			t.Fatalf("got %d deliveries within %s, want %d: %v", have, d, n, in.snapshot())
		}
	}
}

func (in *inbox) snapshot() []map[string]any {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]map[string]any(nil), in.got...)
}

// quiet checks that nothing more than n came within d.
func (in *inbox) quiet(t *testing.T, n int, d time.Duration) {
	t.Helper()
	time.Sleep(d)
	if got := in.snapshot(); len(got) != n {
		t.Fatalf("got %d deliveries, want exactly %d: %v", len(got), n, got)
	}
}

func (e *changesEnv) subscribe(spec ChangeSpec, s poolmgr.Session) *inbox {
	e.t.Helper()
	in := newInbox()
	cancel, err := e.c.Subscribe(e.tenant, spec, s, in.deliver)
	if err != nil {
		e.t.Fatalf("Subscribe %+v: %v", spec, err)
	}
	e.t.Cleanup(cancel)
	return in
}

func counter(t *testing.T, c prometheus.Collector, label string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	total := 0.0
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		ok := label == ""
		for _, l := range d.Label {
			if l.GetValue() == label {
				ok = true
			}
		}
		if ok && d.Counter != nil {
			total += d.Counter.GetValue()
		}
	}
	return total
}

func TestChangesDeliverInsertUpdateDeleteOnceInCommitOrder(t *testing.T) {
	e := newChangesEnv(t, "order", `CREATE TABLE items (id int PRIMARY KEY, name text, price numeric, tags text[], meta jsonb, done bool, at timestamptz)`)
	in := e.subscribe(ChangeSpec{Event: "*", Schema: e.schema, Table: "items"}, poolmgr.Session{})
	began := time.Now()
	e.exec(`INSERT INTO items VALUES (1, 'a', 1.50, '{x,"y,z"}', '{"k": [1]}', true, '2024-05-01 10:00:00+00')`)
	e.exec(`UPDATE items SET name = 'b' WHERE id = 1`)
	e.exec(`DELETE FROM items WHERE id = 1`)
	got := in.wait(t, 3, time.Second)
	t.Logf("three commits delivered within %s", time.Since(began))
	in.quiet(t, 3, 300*time.Millisecond)
	for i, want := range []string{"INSERT", "UPDATE", "DELETE"} {
		if got[i]["type"] != want || got[i]["schema"] != e.schema || got[i]["table"] != "items" || got[i]["errors"] != nil {
			t.Errorf("delivery %d: %v, want a %s of %s.items", i, got[i], want, e.schema)
		}
		ts, _ := got[i]["commit_timestamp"].(string)
		if at, err := time.Parse(time.RFC3339Nano, ts); err != nil || time.Since(at) > time.Minute {
			t.Errorf("delivery %d: commit_timestamp %q is not a recent ISO time", i, ts)
		}
	}
	rec, _ := got[0]["record"].(map[string]any)
	want := map[string]any{"id": 1.0, "name": "a", "price": 1.5, "tags": []any{"x", "y,z"}, "meta": map[string]any{"k": []any{1.0}}, "done": true, "at": "2024-05-01T10:00:00+00:00"}
	if fmt.Sprint(rec) != fmt.Sprint(want) {
		t.Errorf("insert record %v, want %v", rec, want)
	}
	cols, _ := got[0]["columns"].([]any)
	if fmt.Sprint(cols) != "[map[name:id type:int4] map[name:name type:text] map[name:price type:numeric] map[name:tags type:_text] map[name:meta type:jsonb] map[name:done type:bool] map[name:at type:timestamptz]]" {
		t.Errorf("columns %v", cols)
	}
	if _, ok := got[0]["old_record"]; ok {
		t.Errorf("an insert has an old_record: %v", got[0])
	}
	if rec, _ := got[1]["record"].(map[string]any); rec["name"] != "b" {
		t.Errorf("update record %v", rec)
	}
	// Default replica identity: the old record is the primary key only.
	if old := fmt.Sprint(got[1]["old_record"]); old != "map[id:1]" {
		t.Errorf("update old_record %s, want map[id:1]", old)
	}
	if old := fmt.Sprint(got[2]["old_record"]); old != "map[id:1]" {
		t.Errorf("delete old_record %s, want map[id:1]", old)
	}
	if _, ok := got[2]["record"]; ok {
		t.Errorf("a delete has a record: %v", got[2])
	}

	t.Run("REPLICA IDENTITY FULL gives the whole old row", func(t *testing.T) {
		e.exec(`ALTER TABLE items REPLICA IDENTITY FULL`)
		e.exec(`INSERT INTO items (id, name, price) VALUES (2, 'c', 3)`)
		e.exec(`UPDATE items SET name = 'd' WHERE id = 2`)
		e.exec(`DELETE FROM items WHERE id = 2`)
		got := in.wait(t, 6, time.Second)
		if old := fmt.Sprint(got[4]["old_record"]); !strings.Contains(old, "name:c") || !strings.Contains(old, "price:3") {
			t.Errorf("update old_record %s, want the whole old row", old)
		}
		if old := fmt.Sprint(got[5]["old_record"]); !strings.Contains(old, "name:d") {
			t.Errorf("delete old_record %s, want the whole old row", old)
		}
	})

	t.Run("events and several rows of one transaction", func(t *testing.T) {
		ins := e.subscribe(ChangeSpec{Event: "INSERT", Schema: e.schema, Table: "items"}, poolmgr.Session{})
		all := e.subscribe(ChangeSpec{Event: "*", Schema: "*"}, poolmgr.Session{})
		e.exec(`BEGIN; INSERT INTO items (id) VALUES (10), (11); UPDATE items SET name = 'z' WHERE id = 10; DELETE FROM items WHERE id = 11; COMMIT`)
		got := all.wait(t, 4, time.Second)
		var seq []string
		for _, g := range got {
			seq = append(seq, fmt.Sprint(g["type"]))
		}
		if strings.Join(seq, ",") != "INSERT,INSERT,UPDATE,DELETE" {
			t.Errorf("the transaction's changes came as %v", seq)
		}
		ins.wait(t, 2, time.Second)
		ins.quiet(t, 2, 200*time.Millisecond)
	})
}

func TestChangesFilters(t *testing.T) {
	e := newChangesEnv(t, "filter", `CREATE TABLE msgs (id int PRIMARY KEY, room text, n int)`)
	eq := e.subscribe(ChangeSpec{Event: "*", Schema: e.schema, Table: "msgs", Filter: "room=eq.red"}, poolmgr.Session{})
	in := e.subscribe(ChangeSpec{Event: "INSERT", Schema: e.schema, Table: "msgs", Filter: "n=in.(2,3)"}, poolmgr.Session{})
	gt := e.subscribe(ChangeSpec{Event: "INSERT", Schema: e.schema, Table: "msgs", Filter: "n=gte.10"}, poolmgr.Session{})
	e.exec(`INSERT INTO msgs VALUES (1, 'red', 1), (2, 'blue', 2), (3, 'red', 3), (4, 'green', 9), (5, 'x', 10)`)
	e.exec(`UPDATE msgs SET n = 100 WHERE id = 2`)
	e.exec(`UPDATE msgs SET n = 100 WHERE id = 3`)
	ids := func(got []map[string]any) string {
		var s []string
		for _, g := range got {
			r, _ := g["record"].(map[string]any)
			s = append(s, fmt.Sprintf("%v:%v", g["type"], r["id"]))
		}
		return strings.Join(s, " ")
	}
	if got := ids(eq.wait(t, 3, time.Second)); got != "INSERT:1 INSERT:3 UPDATE:3" {
		t.Errorf("room=eq.red got %s", got)
	}
	if got := ids(in.wait(t, 2, time.Second)); got != "INSERT:2 INSERT:3" {
		t.Errorf("n=in.(2,3) got %s", got)
	}
	if got := ids(gt.wait(t, 1, time.Second)); got != "INSERT:5" {
		t.Errorf("n=gte.10 got %s", got)
	}
	eq.quiet(t, 3, 200*time.Millisecond)
	in.quiet(t, 2, 0)
	gt.quiet(t, 1, 0)

	// Without REPLICA IDENTITY FULL a delete carries the key only: Supabase lets it through
	// a filter on another column, and applies a filter on the key.
	byID := e.subscribe(ChangeSpec{Event: "DELETE", Schema: e.schema, Table: "msgs", Filter: "id=eq.4"}, poolmgr.Session{})
	e.exec(`DELETE FROM msgs WHERE id IN (2, 4)`)
	got := eq.wait(t, 5, time.Second)
	if fmt.Sprint(got[3]["old_record"], got[4]["old_record"]) != "map[id:2] map[id:4]" {
		t.Errorf("room=eq.red got the deletes %v, %v", got[3], got[4])
	}
	if got := byID.wait(t, 1, time.Second); fmt.Sprint(got[0]["old_record"]) != "map[id:4]" {
		t.Errorf("id=eq.4 got %v", got[0])
	}
	byID.quiet(t, 1, 200*time.Millisecond)
	// With it, the filter sees the whole old row.
	e.exec(`ALTER TABLE msgs REPLICA IDENTITY FULL`)
	e.exec(`DELETE FROM msgs WHERE id IN (1, 5)`)
	got = eq.wait(t, 6, time.Second)
	eq.quiet(t, 6, 200*time.Millisecond)
	if old, _ := got[5]["old_record"].(map[string]any); old["id"] != 1.0 || old["room"] != "red" {
		t.Errorf("room=eq.red with REPLICA IDENTITY FULL got %v", got[5])
	}
}

func TestChangesValidateNamesOnlyTheTenantsObjects(t *testing.T) {
	e := newChangesEnv(t, "valid", `CREATE TABLE notes (id int PRIMARY KEY, body text); CREATE VIEW notes_v AS SELECT * FROM notes`)
	otherSchema := e.other.Config.Schemas[0]
	for _, c := range []struct {
		spec ChangeSpec
		want string
	}{
		{ChangeSpec{Event: "*", Schema: otherSchema, Table: "secrets"}, "not exposed"},
		{ChangeSpec{Event: "*", Schema: "pg_catalog", Table: "pg_authid"}, "not exposed"},
		{ChangeSpec{Event: "*", Schema: e.schema + `" OR true --`, Table: "notes"}, "not exposed"},
		{ChangeSpec{Event: "*", Schema: e.schema, Table: "secrets"}, "does not exist"},
		{ChangeSpec{Event: "*", Schema: e.schema, Table: "notes_v"}, "view"},
		{ChangeSpec{Event: "TRUNCATE", Schema: e.schema, Table: "notes"}, "event"},
		{ChangeSpec{Event: "*", Schema: "", Table: "notes"}, "schema"},
		{ChangeSpec{Event: "*", Schema: e.schema, Table: "notes", Filter: "nope=eq.1"}, `column "nope" does not exist`},
		{ChangeSpec{Event: "*", Schema: e.schema, Table: "notes", Filter: "id=like.1"}, "operator"},
		{ChangeSpec{Event: "*", Schema: e.schema, Table: "notes", Filter: "id=eq.abc"}, "not a number"},
		{ChangeSpec{Event: "*", Schema: e.schema, Table: "notes", Filter: "id=in.1,2"}, "parentheses"},
		{ChangeSpec{Event: "*", Schema: e.schema, Filter: "id=eq.1"}, "needs a table"},
	} {
		err := e.c.Validate(e.tenant, c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want an error saying %q", c.spec, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), otherSchema) {
			t.Errorf("Validate(%+v) names the other tenant's schema: %v", c.spec, err)
		}
		if _, serr := e.c.Subscribe(e.tenant, c.spec, poolmgr.Session{}, func([]byte) {}); serr == nil {
			t.Errorf("Subscribe(%+v) accepted a spec Validate refuses", c.spec)
		}
	}
	for _, ok := range []ChangeSpec{
		{Event: "*", Schema: e.schema, Table: "notes"},
		{Event: "insert", Schema: e.schema, Table: "*"},
		{Event: "DELETE", Schema: "*"},
		{Event: "*", Schema: e.schema, Table: "notes", Filter: "body=neq.x"},
	} {
		if err := e.c.Validate(e.tenant, ok); err != nil {
			t.Errorf("Validate(%+v): %v", ok, err)
		}
	}

	t.Run("a wildcard subscription never sees another tenant's tables", func(t *testing.T) {
		all := e.subscribe(ChangeSpec{Event: "*", Schema: "*"}, poolmgr.Session{})
		if _, err := e.conn.Exec(context.Background(), "INSERT INTO "+pgx.Identifier{otherSchema, "secrets"}.Sanitize()+" VALUES (1, 's')"); err != nil {
			t.Fatal(err)
		}
		e.exec(`INSERT INTO notes VALUES (1, 'mine')`)
		got := all.wait(t, 1, time.Second)
		all.quiet(t, 1, 300*time.Millisecond)
		if got[0]["table"] != "notes" {
			t.Errorf("got %v", got[0])
		}
	})
}

func TestChangesRowLevelSecurityOneStatementPerGroup(t *testing.T) {
	e := newChangesEnv(t, "rls", `CREATE TABLE todos (id int PRIMARY KEY, owner text NOT NULL, title text);
ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON todos FOR SELECT USING (owner = current_setting('request.jwt.claims', true)::json->>'sub');
CREATE TABLE boom (id int PRIMARY KEY, v int);
ALTER TABLE boom ENABLE ROW LEVEL SECURITY;
CREATE POLICY explode ON boom FOR SELECT USING (v / (CASE WHEN current_setting('request.jwt.claims', true)::json->>'sub' = 'bob' THEN 0 ELSE 1 END) >= 0)`)
	role := e.role()
	ctx := context.Background()
	alice := poolmgr.Session{Role: role, Claims: []byte(`{"sub":"alice"}`)}
	bob := poolmgr.Session{Role: role, Claims: []byte(`{"sub":"bob"}`)}
	spec := ChangeSpec{Event: "*", Schema: e.schema, Table: "todos"}
	a1, a2 := e.subscribe(spec, alice), e.subscribe(spec, alice)
	b1 := e.subscribe(spec, bob)

	before := counter(t, e.m.checks, "")
	e.exec(`INSERT INTO todos VALUES (1, 'alice', 'a1'), (2, 'bob', 'b1'), (3, 'alice', 'a2')`)
	owners := func(got []map[string]any) string {
		var s []string
		for _, g := range got {
			r, _ := g["record"].(map[string]any)
			s = append(s, fmt.Sprint(r["owner"], r["id"]))
		}
		return strings.Join(s, " ")
	}
	for _, in := range []*inbox{a1, a2} {
		if got := owners(in.wait(t, 2, time.Second)); got != "alice1 alice3" {
			t.Errorf("alice got %s", got)
		}
	}
	if got := owners(b1.wait(t, 1, time.Second)); got != "bob2" {
		t.Errorf("bob got %s", got)
	}
	a1.quiet(t, 2, 200*time.Millisecond)
	b1.quiet(t, 1, 0)
	if n := counter(t, e.m.checks, "") - before; n != 2 {
		t.Errorf("one commit on one table for two groups (alice twice, bob) ran %v check statements, want 2", n)
	}

	// A delete of a table with row-level security carries only the key and goes to every
	// subscriber who may SELECT the table (the row is gone).
	e.exec(`DELETE FROM todos WHERE id = 2`)
	got := a1.wait(t, 3, time.Second)
	if got[2]["type"] != "DELETE" || fmt.Sprint(got[2]["old_record"]) != "map[id:2]" {
		t.Errorf("alice's delete: %v", got[2])
	}
	b1.wait(t, 2, time.Second)

	t.Run("a group whose policy fails does not stop the others", func(t *testing.T) {
		spec := ChangeSpec{Event: "INSERT", Schema: e.schema, Table: "boom"}
		ab, bb := e.subscribe(spec, alice), e.subscribe(spec, bob)
		errsBefore := counter(t, e.m.checks, "error")
		e.exec(`INSERT INTO boom VALUES (1, 1)`)
		ab.wait(t, 1, time.Second)
		bb.quiet(t, 0, 300*time.Millisecond)
		if n := counter(t, e.m.checks, "error") - errsBefore; n != 1 {
			t.Errorf("failed checks: %v, want 1 (bob's)", n)
		}
	})

	t.Run("a role without SELECT gets nothing", func(t *testing.T) {
		if _, err := e.conn.Exec(ctx, "REVOKE SELECT ON "+pgx.Identifier{e.schema, "todos"}.Sanitize()+" FROM "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		n := len(a1.snapshot())
		e.exec(`INSERT INTO todos VALUES (4, 'alice', 'a4'); DELETE FROM todos WHERE id = 1`)
		a1.quiet(t, n, 400*time.Millisecond)
	})
}

func TestChangesSlotGoesWithTheLastSubscriber(t *testing.T) {
	e := newChangesEnv(t, "slot", `CREATE TABLE t (id int PRIMARY KEY)`)
	slotExists := func(name string) bool {
		var n int
		if err := e.conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND temporary`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	countOurs := func() int {
		e.c.mu.Lock()
		defer e.c.mu.Unlock()
		return len(e.c.streams)
	}
	in := newInbox()
	cancel, err := e.c.Subscribe(e.tenant, ChangeSpec{Event: "*", Schema: e.schema, Table: "t"}, poolmgr.Session{}, in.deliver)
	if err != nil {
		t.Fatal(err)
	}
	slot := e.slot()
	if countOurs() != 1 || slot == "" || !slotExists(slot) {
		t.Fatalf("after Subscribe: %d streams, slot %q exists: %v", countOurs(), slot, slot != "" && slotExists(slot))
	}
	e.exec(`INSERT INTO t VALUES (1)`)
	in.wait(t, 1, time.Second)
	// The lag is sampled while the slot exists.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ch := make(chan prometheus.Metric, 10)
		e.m.Collect(ch)
		close(ch)
		found := false
		for m := range ch {
			if strings.Contains(m.Desc().String(), "kapok_realtime_slot_lag_bytes") {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no kapok_realtime_slot_lag_bytes sample within 5s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	deadline = time.Now().Add(5 * time.Second)
	for countOurs() != 0 || slotExists(slot) {
		if time.Now().After(deadline) {
			t.Fatalf("after the last subscriber left and the grace period: %d streams, slot %s exists: %v", countOurs(), slot, slotExists(slot))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A new subscriber gets a new stream.
	in2 := e.subscribe(ChangeSpec{Event: "*", Schema: e.schema, Table: "t"}, poolmgr.Session{})
	e.exec(`INSERT INTO t VALUES (2)`)
	in2.wait(t, 1, time.Second)
	slot2 := e.slot()
	if slot2 == slot || !slotExists(slot2) {
		t.Fatalf("the new stream's slot %q (the old one %q)", slot2, slot)
	}
	e.c.Close()
	// PostgreSQL drops a temporary slot as the WAL sender exits, a moment after Close.
	deadline = time.Now().Add(5 * time.Second)
	for slotExists(slot2) {
		if time.Now().After(deadline) {
			t.Fatalf("5s after Close slot %s still exists", slot2)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestChangesRefuseAnUpstreamKapokDoesNotManage(t *testing.T) {
	e := newChangesEnv(t, "unmanaged", `CREATE TABLE t (id int PRIMARY KEY)`)
	no := false
	e.c.opts.Config.Upstreams["dev"].Manage = &no
	defer func() { e.c.opts.Config.Upstreams["dev"].Manage = nil }()
	_, err := e.c.Subscribe(e.tenant, ChangeSpec{Event: "*", Schema: e.schema, Table: "t"}, poolmgr.Session{}, func([]byte) {})
	if err == nil || !strings.Contains(err.Error(), "only reads") {
		t.Fatalf("Subscribe on an unmanaged upstream: %v", err)
	}
}

func TestChangesStreamReconnectsAfterALoss(t *testing.T) {
	e := newChangesEnv(t, "reconnect", `CREATE TABLE t (id int PRIMARY KEY)`)
	in := e.subscribe(ChangeSpec{Event: "INSERT", Schema: e.schema, Table: "t"}, poolmgr.Session{})
	first := e.slot()
	var killed bool
	if err := e.conn.QueryRow(context.Background(), `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1`, first).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminating the WAL sender of %s: %v, %v", first, killed, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.slot() == first || e.slot() == "" {
		if time.Now().After(deadline) {
			t.Fatal("no new slot within 5s of the loss")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Wait until the new slot streams, then a change is delivered again.
	for {
		e.c.mu.Lock()
		var up bool
		for _, st := range e.c.streams {
			st.mu.Lock()
			up = st.up
			st.mu.Unlock()
		}
		e.c.mu.Unlock()
		if up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new stream did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.exec(`INSERT INTO t VALUES (1)`)
	in.wait(t, 1, time.Second)
	if n := counter(t, e.m.reconnects, ""); n < 1 {
		t.Errorf("reconnects counted: %v", n)
	}
}

func TestChangesOfAPartitionComeAsItsPartitionedTables(t *testing.T) {
	e := newChangesEnv(t, "parts", `CREATE TABLE ev (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`)
	in := e.subscribe(ChangeSpec{Event: "*", Schema: e.schema, Table: "ev"}, poolmgr.Session{})
	e.exec(`INSERT INTO ev VALUES (1, '2024-03-01')`)
	got := in.wait(t, 1, time.Second)
	if got[0]["table"] != "ev" || fmt.Sprint(got[0]["record"]) != "map[at:2024-03-01 id:1]" {
		t.Errorf("got %v", got[0])
	}
}

// role creates a role that may read the env's schema, dropped (after the schema) at the end.
func (e *changesEnv) role() string {
	t := e.t
	t.Helper()
	ctx := context.Background()
	role := e.schema + "_user"
	_, _ = e.conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
	for _, q := range []string{
		"CREATE ROLE " + pgx.Identifier{role}.Sanitize() + " NOLOGIN",
		"GRANT USAGE ON SCHEMA " + pgx.Identifier{e.schema}.Sanitize() + " TO " + pgx.Identifier{role}.Sanitize(),
		"GRANT SELECT ON ALL TABLES IN SCHEMA " + pgx.Identifier{e.schema}.Sanitize() + " TO " + pgx.Identifier{role}.Sanitize(),
	} {
		if _, err := e.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), e.url)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{e.schema}.Sanitize()+" CASCADE")
		_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{role}.Sanitize())
	})
	return role
}

func TestChangesRowLevelSecurityWithACompositeKey(t *testing.T) {
	e := newChangesEnv(t, "rlskey", `CREATE TABLE seats (room text, n int, who text, PRIMARY KEY (room, n));
ALTER TABLE seats ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON seats FOR SELECT USING (who = current_setting('request.jwt.claims', true)::json->>'sub')`)
	role := e.role()
	in := e.subscribe(ChangeSpec{Event: "*", Schema: e.schema, Table: "seats"}, poolmgr.Session{Role: role, Claims: []byte(`{"sub":"ann"}`)})
	e.exec(`INSERT INTO seats VALUES ('a"b', 1, 'ann'), ('a"b', 2, 'bo'), ('c', 1, 'ann')`)
	got := in.wait(t, 2, time.Second)
	in.quiet(t, 2, 200*time.Millisecond)
	var keys []string
	for _, g := range got {
		r, _ := g["record"].(map[string]any)
		keys = append(keys, fmt.Sprint(r["room"], r["n"]))
	}
	if strings.Join(keys, " ") != `a"b1 c1` {
		t.Errorf("ann got %v", keys)
	}
}

func TestTheSubscriptionHubTakesTableChangesFromTheStream(t *testing.T) {
	e := newChangesEnv(t, "hubfeed", `CREATE TABLE t (id int PRIMARY KEY)`)
	h := New(Options{Logger: e.c.log, Changes: e.c})
	defer h.Close()
	fdb, rels, polled := h.feed.watch(context.Background(), e.url, true, []planner.Relation{{Schema: e.schema, Name: "t", Table: true}})
	if fdb == nil || !fdb.replicated || polled || len(rels) != 1 {
		t.Fatalf("watch: db %v (replicated %v), rels %v, polled %v", fdb != nil, fdb != nil && fdb.replicated, rels, polled)
	}
	var triggers int
	if err := e.conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_trigger WHERE tgrelid = $1`, rels[0].oid).Scan(&triggers); err != nil || triggers != 0 {
		t.Fatalf("the table has %d triggers (%v): the stream needs none", triggers, err)
	}
	g := &group{rels: rels, fdb: fdb}
	h.mu.Lock()
	h.feed.index(g, true)
	h.mu.Unlock()
	dirty := func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		d := g.dirty
		g.dirty = false
		return d
	}
	for _, sql := range []string{`INSERT INTO t VALUES (1)`, `UPDATE t SET id = 2`, `TRUNCATE t`} {
		e.exec(sql)
		deadline := time.Now().Add(time.Second)
		for !dirty() {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not mark the group changed within 1s", sql)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if g.polledNow() {
		t.Errorf("a group fed by the stream is polled")
	}
	h.mu.Lock()
	h.feed.index(g, false)
	h.mu.Unlock()
}

func TestARowSecurityCheckIsRetriedOnlyWhenItsFailureMayPass(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "42501"}, false}, // permission denied: it would fail again
		{&pgconn.PgError{Code: "22P02"}, false},
		{&pgconn.PgError{Code: "P0001"}, false}, // a policy's function raised
		{&pgconn.PgError{Code: "57014"}, true},  // canceled (statement timeout)
		{&pgconn.PgError{Code: "08006"}, true},  // connection failure
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "53300"}, true}, // too many connections
		{fmt.Errorf("pool: %w", errors.New("too many transactions waiting for a server connection")), true},
		{context.DeadlineExceeded, true},
		{context.Canceled, false}, // the stream is stopping
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
