package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

const liveDDL = `
CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL);
INSERT INTO items (label) SELECT 'item ' || g FROM generate_series(1, 5) g;
CREATE TABLE others (id serial PRIMARY KEY, v int);
CREATE TABLE notes (id serial PRIMARY KEY, owner text NOT NULL, body text);
INSERT INTO notes (owner, body) VALUES ('alice', 'a1'), ('bob', 'b1');
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes ON notes USING (owner = (SELECT current_setting('request.jwt.claims', true)::json->>'sub'));
GRANT USAGE ON SCHEMA proxy_t_live TO rest_t_user;
GRANT SELECT ON items, others, notes TO rest_t_user;
`

const liveSecret = "live-t-secret-live-t-secret-0123456789"

// wsClient is a minimal client of both GraphQL WebSocket protocols.
type wsClient struct {
	t    *testing.T
	c    *websocket.Conn
	msgs chan map[string]any
}

func dialWS(t *testing.T, ts *testServer, path, proto string, initPayload any) *wsClient {
	t.Helper()
	d := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return ts.ln.Dial() }, Subprotocols: []string{proto}}
	c, _, err := d.Dial("ws://kapok"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subprotocol() != proto {
		t.Fatalf("subprotocol %q, want %q", c.Subprotocol(), proto)
	}
	w := &wsClient{t: t, c: c, msgs: make(chan map[string]any, 1000)}
	go func() {
		defer close(w.msgs)
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					w.msgs <- map[string]any{"type": "closed", "code": float64(ce.Code), "reason": ce.Text}
				}
				return
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Errorf("bad frame %s", data)
				return
			}
			if m["type"] == "ka" || m["type"] == "ping" {
				continue
			}
			w.msgs <- m
		}
	}()
	t.Cleanup(func() { _ = c.Close() })
	w.send(map[string]any{"type": "connection_init", "payload": initPayload})
	return w
}

func (w *wsClient) send(m map[string]any) {
	w.t.Helper()
	if err := w.c.WriteJSON(m); err != nil {
		w.t.Fatal(err)
	}
}

// next waits for the next message.
func (w *wsClient) next(within time.Duration) map[string]any {
	w.t.Helper()
	select {
	case m, ok := <-w.msgs:
		if !ok {
			w.t.Fatal("connection closed")
		}
		return m
	case <-time.After(within):
		w.t.Fatalf("no message within %v", within)
	}
	return nil
}

// quiet asserts that nothing arrives for d.
func (w *wsClient) quiet(d time.Duration) {
	w.t.Helper()
	select {
	case m := <-w.msgs:
		w.t.Fatalf("unexpected message %v", m)
	case <-time.After(d):
	}
}

func (w *wsClient) expect(typ string) map[string]any {
	w.t.Helper()
	m := w.next(5 * time.Second)
	if m["type"] != typ {
		w.t.Fatalf("got %v, want a %s message", m, typ)
	}
	return m
}

func payloadJSON(m map[string]any) string {
	b, _ := json.Marshal(m["payload"])
	return string(b)
}

func liveToken(t *testing.T, sub string, exp time.Duration) string {
	claims := jwt.MapClaims{"sub": sub, "role": "rest_t_user"}
	if exp != 0 {
		claims["exp"] = time.Now().Add(exp).Unix()
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(liveSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func startLive(t *testing.T) *testServer {
	testenv.Exec(t, restRolesSQL)
	testenv.FreshSchema(t, "proxy_t_live", liveDDL)
	grantTenantRoles(t, "live", "rest_t_user")
	ts := startServer(t, &control.Config{DefaultTenant: "live", Tenants: []*control.TenantConfig{
		{Name: "live", Schemas: []string{"proxy_t_live"}, Auth: &control.AuthConfig{JWTSecret: liveSecret}},
	}})
	settle(t, ts, "live")
	return ts
}

// settle waits until the tenant's catalog version stops changing: the grants made to the
// tenant's role on its first load are DDL, which reloads it once more. Subscriptions of
// two versions are two groups, which the statement counts below would see.
func settle(t *testing.T, ts *testServer, tenant string) {
	t.Helper()
	version := func() string {
		if s := ts.reg.Tenant(tenant).Snapshot(); s != nil {
			return s.Version
		}
		return ""
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		v := version()
		time.Sleep(300 * time.Millisecond)
		if v != "" && v == version() {
			return
		}
	}
}

var refreshMetric = regexp.MustCompile(`(?m)^kapok_subscription_refresh_statements_total (\S+)$`)

func refreshStatements(t *testing.T, ts *testServer) int {
	t.Helper()
	r := ts.do("GET", "/metrics", "")
	m := refreshMetric.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no kapok_subscription_refresh_statements_total in /metrics")
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	return int(f)
}

// stableStatements waits until no refresh runs for a while and returns the count.
func stableStatements(t *testing.T, ts *testServer) int {
	t.Helper()
	n := refreshStatements(t, ts)
	for range 20 {
		time.Sleep(250 * time.Millisecond)
		m := refreshStatements(t, ts)
		if m == n {
			return n
		}
		n = m
	}
	t.Fatal("subscription refreshes never stop")
	return 0
}

func TestLiveQueriesFollowCommittedChangesPerSubscriber(t *testing.T) {
	ts := startLive(t)
	auth := func(sub string) map[string]any {
		return map[string]any{"headers": map[string]any{"Authorization": "Bearer " + liveToken(t, sub, 0)}}
	}
	alice := dialWS(t, ts, "/v1/graphql", protoTransportWS, auth("alice"))
	alice.expect("connection_ack")
	bob := dialWS(t, ts, "/t/live/v1/graphql", protoLegacy, auth("bob"))
	bob.expect("connection_ack")

	q := `subscription { notes(order_by: {id: asc}) { body } }`
	alice.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": q}})
	bob.send(map[string]any{"id": "1", "type": "start", "payload": map[string]any{"query": q}})
	if got := payloadJSON(alice.expect("next")); got != `{"data":{"notes":[{"body":"a1"}]}}` {
		t.Fatalf("alice: %s", got)
	}
	if got := payloadJSON(bob.expect("data")); got != `{"data":{"notes":[{"body":"b1"}]}}` {
		t.Fatalf("bob: %s", got)
	}

	t.Run("a committed insert reaches its owner within a second, and only its owner", func(t *testing.T) {
		start := time.Now()
		testenv.Exec(t, `INSERT INTO proxy_t_live.notes (owner, body) VALUES ('alice', 'a2')`)
		if got := payloadJSON(alice.next(time.Second)); got != `{"data":{"notes":[{"body":"a1"},{"body":"a2"}]}}` {
			t.Fatalf("alice: %s", got)
		}
		t.Logf("pushed %v after the commit", time.Since(start))
		bob.quiet(300 * time.Millisecond)
	})
	t.Run("updates and deletes are pushed", func(t *testing.T) {
		testenv.Exec(t, `UPDATE proxy_t_live.notes SET body = 'b1*' WHERE owner = 'bob'`)
		if got := payloadJSON(bob.next(time.Second)); got != `{"data":{"notes":[{"body":"b1*"}]}}` {
			t.Fatalf("bob: %s", got)
		}
		testenv.Exec(t, `DELETE FROM proxy_t_live.notes WHERE body = 'a2'`)
		if got := payloadJSON(alice.next(time.Second)); got != `{"data":{"notes":[{"body":"a1"}]}}` {
			t.Fatalf("alice: %s", got)
		}
	})
	t.Run("an unrelated table runs nothing and pushes nothing", func(t *testing.T) {
		before := stableStatements(t, ts) // refreshes the last changes still owed have run
		testenv.Exec(t, `INSERT INTO proxy_t_live.others (v) VALUES (1)`)
		alice.quiet(500 * time.Millisecond)
		bob.quiet(10 * time.Millisecond)
		if after := refreshStatements(t, ts); after != before {
			t.Fatalf("%d refresh statements for a table no subscription reads", after-before)
		}
	})
	t.Run("complete and stop end the subscription", func(t *testing.T) {
		alice.send(map[string]any{"id": "1", "type": "complete"})
		bob.send(map[string]any{"id": "1", "type": "stop"})
		bob.expect("complete")
		testenv.Exec(t, `INSERT INTO proxy_t_live.notes (owner, body) VALUES ('alice', 'a3'), ('bob', 'b3')`)
		alice.quiet(400 * time.Millisecond)
		bob.quiet(10 * time.Millisecond)
	})
}

func TestSubscribersOfOneShapeShareOneStatement(t *testing.T) {
	ts := startLive(t)
	init := map[string]any{"headers": map[string]any{"Authorization": "Bearer " + liveToken(t, "alice", 0)}}
	c := dialWS(t, ts, "/v1/graphql", protoTransportWS, init)
	c.expect("connection_ack")
	const n = 40
	q := `subscription($id: Int!) { items_by_pk(id: $id) { id label } }`
	for i := range n {
		c.send(map[string]any{"id": strconv.Itoa(i), "type": "subscribe",
			"payload": map[string]any{"query": q, "variables": map[string]any{"id": i%5 + 1}}})
	}
	for range n {
		m := c.expect("next")
		id, _ := strconv.Atoi(m["id"].(string))
		want := fmt.Sprintf(`{"data":{"items_by_pk":{"id":%d,"label":"item %d"}}}`, id%5+1, id%5+1)
		if got := payloadJSON(m); got != want {
			t.Fatalf("subscriber %d: %s, want %s", id, got, want)
		}
	}
	before := stableStatements(t, ts)
	testenv.Exec(t, `UPDATE proxy_t_live.items SET label = 'changed' WHERE id = 3`)
	got := map[string]bool{}
	for len(got) < n/5 {
		m := c.next(time.Second)
		if payloadJSON(m) != `{"data":{"items_by_pk":{"id":3,"label":"changed"}}}` {
			t.Fatalf("unexpected push %v", m)
		}
		got[m["id"].(string)] = true
	}
	c.quiet(300 * time.Millisecond) // the other 32 results did not change
	if d := refreshStatements(t, ts) - before; d != 1 {
		t.Fatalf("%d statements refreshed %d subscribers of one shape, want 1", d, n)
	}
}

func TestStreamingSubscriptionsSendBatchesAfterTheCursor(t *testing.T) {
	ts := startLive(t)
	init := map[string]any{"Authorization": "Bearer " + liveToken(t, "alice", 0)} // flat payload
	c := dialWS(t, ts, "/v1/graphql", protoTransportWS, init)
	c.expect("connection_ack")
	c.send(map[string]any{"id": "s", "type": "subscribe", "payload": map[string]any{
		"query": `subscription { items_stream(batch_size: 2, cursor: {initial_value: {id: 0}, ordering: ASC}) { label } }`}})
	var labels []string
	for len(labels) < 5 {
		var p struct {
			Data struct {
				Items []struct{ Label string } `json:"items_stream"`
			}
		}
		m := c.expect("next")
		if err := json.Unmarshal([]byte(payloadJSON(m)), &p); err != nil {
			t.Fatal(err)
		}
		if n := len(p.Data.Items); n == 0 || n > 2 {
			t.Fatalf("a batch of %d rows: %s", n, payloadJSON(m))
		}
		for _, it := range p.Data.Items {
			labels = append(labels, it.Label)
		}
	}
	if got := strings.Join(labels, ","); got != "item 1,item 2,item 3,item 4,item 5" {
		t.Fatalf("rows %s", got)
	}
	c.quiet(300 * time.Millisecond) // no empty batches
	testenv.Exec(t, `INSERT INTO proxy_t_live.items (label) VALUES ('item 6')`)
	if got := payloadJSON(c.next(time.Second)); got != `{"data":{"items_stream":[{"label":"item 6"}]}}` {
		t.Fatalf("new row: %s", got)
	}
}

func TestSocketProtocolErrors(t *testing.T) {
	ts := startLive(t)
	tok := liveToken(t, "alice", 0)
	init := map[string]any{"headers": map[string]any{"Authorization": "Bearer " + tok}}

	t.Run("a bad token closes with 4403", func(t *testing.T) {
		c := dialWS(t, ts, "/v1/graphql", protoTransportWS, map[string]any{"headers": map[string]any{"Authorization": "Bearer x.y.z"}})
		if m := c.expect("closed"); m["code"] != float64(closeForbidden) {
			t.Fatalf("%v", m)
		}
	})
	t.Run("reserved roles and another tenant's secret close with 4403", func(t *testing.T) {
		for _, role := range []string{"none", "postgres", "pg_read_all_data", "kapok_t_other"} {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": role}).SignedString([]byte(liveSecret))
			if err != nil {
				t.Fatal(err)
			}
			c := dialWS(t, ts, "/v1/graphql", protoTransportWS, map[string]any{"headers": map[string]any{"Authorization": "Bearer " + tok}})
			if m := c.expect("closed"); m["code"] != float64(closeForbidden) {
				t.Fatalf("role %s: %v", role, m)
			}
		}
		other, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "role": "rest_t_user"}).SignedString([]byte("another-tenant-secret-0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		c := dialWS(t, ts, "/v1/graphql", protoTransportWS, map[string]any{"headers": map[string]any{"Authorization": "Bearer " + other}})
		if m := c.expect("closed"); m["code"] != float64(closeForbidden) {
			t.Fatalf("another tenant's token: %v", m)
		}
	})
	t.Run("the legacy protocol answers a bad token with connection_error", func(t *testing.T) {
		c := dialWS(t, ts, "/v1/graphql", protoLegacy, map[string]any{"headers": map[string]any{"Authorization": "Bearer x.y.z"}})
		c.expect("connection_error")
	})
	t.Run("an expired JWT closes the socket with 4403", func(t *testing.T) {
		c := dialWS(t, ts, "/v1/graphql", protoTransportWS, map[string]any{"headers": map[string]any{"Authorization": "Bearer " + liveToken(t, "alice", 2*time.Second)}})
		c.expect("connection_ack")
		if m := c.next(5 * time.Second); m["type"] != "closed" || m["code"] != float64(closeForbidden) {
			t.Fatalf("%v", m)
		}
	})
	t.Run("errors are per operation", func(t *testing.T) {
		c := dialWS(t, ts, "/v1/graphql", protoTransportWS, init)
		c.expect("connection_ack")
		c.send(map[string]any{"id": "bad", "type": "subscribe", "payload": map[string]any{"query": `subscription { nope { id } }`}})
		if m := c.expect("error"); m["id"] != "bad" || !strings.Contains(payloadJSON(m), "validation-failed") {
			t.Fatalf("%v", m)
		}
		c.send(map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{"query": `{ items_aggregate { aggregate { count } } }`}})
		if got := payloadJSON(c.expect("next")); got != `{"data":{"items_aggregate":{"aggregate":{"count":5}}}}` {
			t.Fatalf("query: %s", got)
		}
		c.expect("complete")
		c.send(map[string]any{"id": "q2", "type": "subscribe", "payload": map[string]any{"query": `{ items_by_pk(id: 1) { label } }`}})
		c.send(map[string]any{"id": "q2", "type": "subscribe", "payload": map[string]any{"query": `{ items_by_pk(id: 1) { label } }`}})
		for {
			m := c.next(5 * time.Second)
			if m["type"] == "closed" {
				if m["code"] != float64(closeDuplicateID) {
					t.Fatalf("%v", m)
				}
				break
			}
		}
	})
	t.Run("subscribe before connection_ack closes with 4401", func(t *testing.T) {
		d := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return ts.ln.Dial() }, Subprotocols: []string{protoTransportWS}}
		c, _, err := d.Dial("ws://kapok/v1/graphql", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ items { id } }"}})
		_, _, err = c.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != closeUnauthorized {
			t.Fatalf("%v", err)
		}
	})
}

func TestViewsArePolledAndLimitsApply(t *testing.T) {
	testenv.Exec(t, restRolesSQL)
	testenv.FreshSchema(t, "proxy_t_live", liveDDL+`
CREATE VIEW item_labels AS SELECT id, upper(label) AS label FROM items;
GRANT SELECT ON item_labels TO rest_t_user;
`)
	grantTenantRoles(t, "live", "rest_t_user")
	ts := startServer(t, &control.Config{DefaultTenant: "live", Tenants: []*control.TenantConfig{
		{Name: "live", Schemas: []string{"proxy_t_live"}, Auth: &control.AuthConfig{JWTSecret: liveSecret},
			Limits: &control.Limits{SubscriptionPoll: control.Duration(300 * time.Millisecond), MaxSubscriptionsPerConnection: 2, MaxSubscriptions: 3}},
	}})
	init := map[string]any{"headers": map[string]any{"Authorization": "Bearer " + liveToken(t, "alice", 0)}}
	c := dialWS(t, ts, "/v1/graphql", protoTransportWS, init)
	c.expect("connection_ack")

	t.Run("a view has no trigger: it is polled", func(t *testing.T) {
		c.send(map[string]any{"id": "v", "type": "subscribe", "payload": map[string]any{"query": `subscription { item_labels(where: {id: {_eq: 1}}) { label } }`}})
		if got := payloadJSON(c.expect("next")); got != `{"data":{"item_labels":[{"label":"ITEM 1"}]}}` {
			t.Fatal(got)
		}
		testenv.Exec(t, `UPDATE proxy_t_live.items SET label = 'polled' WHERE id = 1`)
		if got := payloadJSON(c.next(2 * time.Second)); got != `{"data":{"item_labels":[{"label":"POLLED"}]}}` {
			t.Fatal(got)
		}
	})
	t.Run("per connection", func(t *testing.T) {
		c.send(map[string]any{"id": "a", "type": "subscribe", "payload": map[string]any{"query": `subscription { items_by_pk(id: 2) { label } }`}})
		c.expect("next")
		c.send(map[string]any{"id": "b", "type": "subscribe", "payload": map[string]any{"query": `subscription { items_by_pk(id: 3) { label } }`}})
		if m := c.expect("error"); m["id"] != "b" || !strings.Contains(payloadJSON(m), "too many operations on this connection") {
			t.Fatalf("%v", m)
		}
	})
	t.Run("per tenant", func(t *testing.T) {
		d := dialWS(t, ts, "/v1/graphql", protoTransportWS, init)
		d.expect("connection_ack")
		d.send(map[string]any{"id": "c", "type": "subscribe", "payload": map[string]any{"query": `subscription { items_by_pk(id: 4) { label } }`}})
		d.expect("next")
		d.send(map[string]any{"id": "d", "type": "subscribe", "payload": map[string]any{"query": `subscription { items_by_pk(id: 5) { label } }`}})
		if m := d.expect("error"); m["id"] != "d" || !strings.Contains(payloadJSON(m), "too many subscriptions for this tenant") {
			t.Fatalf("%v", m)
		}
	})
	t.Run("shutdown closes sockets with 1012", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- ts.srv.Shutdown(ctx) }()
		for {
			m := c.next(5 * time.Second)
			if m["type"] == "closed" {
				if m["code"] != float64(websocket.CloseServiceRestart) {
					t.Fatalf("%v", m)
				}
				break
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// byID reads messages until want holds of those received so far, by operation id.
func (w *wsClient) byID(within time.Duration, want func(map[string][]map[string]any) bool) map[string][]map[string]any {
	w.t.Helper()
	got := map[string][]map[string]any{}
	deadline := time.Now().Add(within)
	for !want(got) {
		left := time.Until(deadline)
		if left <= 0 {
			w.t.Fatalf("messages so far %v", got)
		}
		m := w.next(left)
		id, _ := m["id"].(string)
		got[id] = append(got[id], m)
	}
	return got
}

// opVersions are the catalog versions of the socket subscriptions' plans.
func opVersions(ts *testServer) []string {
	s := &ts.srv.api.sockets
	s.mu.Lock()
	var ws []*wsConn
	for so := range s.open {
		if w, ok := so.(*wsConn); ok {
			ws = append(ws, w)
		}
	}
	s.mu.Unlock()
	var vs []string
	for _, w := range ws {
		w.mu.Lock()
		for _, op := range w.ops {
			if op != nil {
				vs = append(vs, op.version)
			}
		}
		w.mu.Unlock()
	}
	return vs
}

func TestLiveQueriesFollowSchemaChanges(t *testing.T) {
	ts := startLive(t)
	c := dialWS(t, ts, "/v1/graphql", protoTransportWS, map[string]any{"Authorization": "Bearer " + liveToken(t, "alice", 0)})
	c.expect("connection_ack")
	subscribe := func(id, q string) {
		c.send(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": q}})
	}
	subscribe("list", `subscription { items(order_by: {id: asc}, where: {id: {_lte: 2}}) { id label } }`)
	subscribe("count", `subscription { items_aggregate { aggregate { count } } }`)
	subscribe("stream", `subscription { items_stream(batch_size: 10, cursor: {initial_value: {id: 0}}) { id } }`)
	each := func(n int) func(map[string][]map[string]any) bool {
		return func(got map[string][]map[string]any) bool {
			return len(got["list"]) >= n && len(got["count"]) >= n && len(got["stream"]) >= n
		}
	}
	got := c.byID(5*time.Second, each(1))
	if p := payloadJSON(got["list"][0]); p != `{"data":{"items":[{"id":1,"label":"item 1"},{"id":2,"label":"item 2"}]}}` {
		t.Fatalf("list: %s", p)
	}
	if p := payloadJSON(got["stream"][0]); p != `{"data":{"items_stream":[{"id":1},{"id":2},{"id":3},{"id":4},{"id":5}]}}` {
		t.Fatalf("stream: %s", p)
	}
	reload := func(ddl string) string {
		t.Helper()
		testenv.Exec(t, ddl)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.reg.Reload(ctx, "live"); err != nil {
			t.Fatal(err)
		}
		return ts.reg.Tenant("live").Snapshot().Version
	}
	replanned := func(version string, n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			vs := opVersions(ts)
			ok := len(vs) == n
			for _, v := range vs {
				ok = ok && v == version
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("subscriptions on versions %v, want %d on %s", vs, n, version)
			}
		}
	}

	// A change every subscription survives: each goes on under a plan of the new
	// catalog, sends nothing while its result is the same, and the stream goes on after
	// the rows it already sent.
	replanned(reload(`ALTER TABLE proxy_t_live.items ADD COLUMN extra int`), 3)
	c.quiet(500 * time.Millisecond)
	// inserted adds a row and checks that count and stream both followed.
	inserted := func(sql string, n int) map[string][]map[string]any {
		t.Helper()
		testenv.Exec(t, sql)
		got := c.byID(5*time.Second, func(got map[string][]map[string]any) bool {
			return len(got["count"]) >= 1 && len(got["stream"]) >= 1
		})
		if p, want := payloadJSON(got["count"][0]), fmt.Sprintf(`{"data":{"items_aggregate":{"aggregate":{"count":%d}}}}`, n); p != want {
			t.Fatalf("count: %s, want %s", p, want)
		}
		if p, want := payloadJSON(got["stream"][0]), fmt.Sprintf(`{"data":{"items_stream":[{"id":%d}]}}`, n); p != want {
			t.Fatalf("stream: %s, want %s", p, want)
		}
		return got
	}
	got = inserted(`INSERT INTO proxy_t_live.items (label) VALUES ('item 6')`, 6)
	if len(got["list"]) != 0 {
		t.Fatalf("list sent its unchanged result again: %v", got["list"])
	}

	// A change that invalidates one subscription ends it at once with the errors a new
	// subscription would get; the others go on.
	v := reload(`ALTER TABLE proxy_t_live.items RENAME COLUMN label TO title`)
	m := c.expect("error")
	if m["id"] != "list" || !strings.Contains(payloadJSON(m), "field 'label' not found") || !strings.Contains(payloadJSON(m), "validation-failed") {
		t.Fatalf("list after its field was renamed: %v", m)
	}
	replanned(v, 2)
	inserted(`INSERT INTO proxy_t_live.items (title) VALUES ('item 7')`, 7)
	c.quiet(300 * time.Millisecond) // nothing more for list
	// The id is free again: the corrected query runs under it.
	subscribe("list", `subscription { items(order_by: {id: asc}, where: {id: {_lte: 2}}) { id title } }`)
	if p := payloadJSON(c.expect("next")); p != `{"data":{"items":[{"id":1,"title":"item 1"},{"id":2,"title":"item 2"}]}}` {
		t.Fatalf("list renewed: %s", p)
	}
}
