package proxy

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/realtime"
)

const rtDDL = `
CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL);
GRANT USAGE ON SCHEMA proxy_t_rt TO rest_t_user;
GRANT SELECT ON items TO rest_t_user;
`

const rtSecret = "rt-t-secret-rt-t-secret-0123456789abcdef"

func rtConfig(limits *control.Limits) *control.Config {
	return &control.Config{DefaultTenant: "rtlive", Tenants: []*control.TenantConfig{
		{Name: "rtlive", Schemas: []string{"proxy_t_rt"}, Auth: &control.AuthConfig{JWTSecret: rtSecret}, Limits: limits},
	}}
}

// startRT serves tenant rtlive; more servers of the same config are other Kapok processes.
func startRT(t *testing.T, limits *control.Limits) *testServer {
	testenv.Exec(t, restRolesSQL)
	testenv.FreshSchema(t, "proxy_t_rt", rtDDL)
	grantTenantRoles(t, "rtlive", "rest_t_user")
	ts := startServer(t, rtConfig(limits))
	settle(t, ts, "rtlive")
	return ts
}

func rtToken(t *testing.T, sub string, exp time.Duration) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "role": "rest_t_user", "exp": time.Now().Add(exp).Unix()}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(rtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// uniqueTopic keeps runs on a shared database (every process hears kapok_realtime) apart.
func uniqueTopic(name string) string {
	return fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
}

// rtMsg is a server message, decoded from either serializer.
type rtMsg struct {
	JoinRef, Ref *string
	Topic        string
	Event        string
	Payload      map[string]any
	Raw          string
	Binary       bool
}

func (m rtMsg) String() string { return fmt.Sprintf("%s %s %s", m.Topic, m.Event, m.Raw) }

// rtClient is a Phoenix/Supabase Realtime client speaking vsn 1.0.0 or 2.0.0.
type rtClient struct {
	t      *testing.T
	c      *websocket.Conn
	vsn    string
	msgs   chan rtMsg
	mu     sync.Mutex
	ref    int
	closed chan *websocket.CloseError
	// held are messages await passed over, for the next awaits.
	held []rtMsg
}

func dialRT(t *testing.T, ts *testServer, vsn, apikey string) *rtClient {
	t.Helper()
	c, err := tryDialRT(ts, vsn, apikey)
	if err != nil {
		t.Fatal(err)
	}
	r := &rtClient{t: t, c: c, vsn: vsn, msgs: make(chan rtMsg, 1000), closed: make(chan *websocket.CloseError, 1)}
	go r.read()
	t.Cleanup(func() { _ = c.Close() })
	return r
}

func tryDialRT(ts *testServer, vsn, apikey string) (*websocket.Conn, error) {
	d := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return ts.ln.Dial() }}
	c, resp, err := d.Dial("ws://kapok/t/rtlive/realtime/v1/websocket?apikey="+apikey+"&vsn="+vsn, nil)
	if err != nil && resp != nil {
		return nil, fmt.Errorf("%w: status %d", err, resp.StatusCode)
	}
	return c, err
}

func (r *rtClient) read() {
	defer close(r.msgs)
	for {
		typ, data, err := r.c.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				r.closed <- ce
			}
			return
		}
		var m rtMsg
		if typ == websocket.BinaryMessage {
			// kind 4: topic, event, metadata lengths, encoding, then the fields.
			if len(data) < 5 || data[0] != 4 {
				r.t.Errorf("bad binary frame %v", data)
				return
			}
			tl, el, ml := int(data[1]), int(data[2]), int(data[3])
			off := 5
			m.Topic = string(data[off : off+tl])
			off += tl
			m.Payload = map[string]any{"type": "broadcast", "event": string(data[off : off+el])}
			off += el + ml
			m.Event, m.Binary, m.Raw = "broadcast", true, string(data[off:])
			r.msgs <- m
			continue
		}
		m.Raw = string(data)
		if r.vsn == realtime.Vsn2 {
			var a []json.RawMessage
			if err := json.Unmarshal(data, &a); err != nil || len(a) != 5 {
				r.t.Errorf("not a 2.0.0 frame: %s", data)
				return
			}
			_ = json.Unmarshal(a[0], &m.JoinRef)
			_ = json.Unmarshal(a[1], &m.Ref)
			_ = json.Unmarshal(a[2], &m.Topic)
			_ = json.Unmarshal(a[3], &m.Event)
			_ = json.Unmarshal(a[4], &m.Payload)
		} else {
			var o struct {
				Topic, Event string
				Payload      map[string]any
				Ref          *string
				JoinRef      *string `json:"join_ref"`
			}
			if err := json.Unmarshal(data, &o); err != nil {
				r.t.Errorf("not a 1.0.0 frame: %s", data)
				return
			}
			m.Topic, m.Event, m.Payload, m.Ref, m.JoinRef = o.Topic, o.Event, o.Payload, o.Ref, o.JoinRef
		}
		r.msgs <- m
	}
}

// push sends a message and returns its ref.
func (r *rtClient) push(joinRef *string, topic, event string, payload any) string {
	r.t.Helper()
	r.mu.Lock()
	r.ref++
	ref := fmt.Sprint(r.ref)
	r.mu.Unlock()
	var frame any
	if r.vsn == realtime.Vsn2 {
		frame = []any{joinRef, ref, topic, event, payload}
	} else {
		frame = map[string]any{"join_ref": joinRef, "ref": ref, "topic": topic, "event": event, "payload": payload}
	}
	if err := r.c.WriteJSON(frame); err != nil {
		r.t.Fatal(err)
	}
	return ref
}

// pushBinaryBroadcast sends a broadcast as realtime-js 2.x does: a kind 3 binary frame.
func (r *rtClient) pushBinaryBroadcast(joinRef, topic, event string, encoding byte, payload []byte) {
	r.t.Helper()
	b := []byte{3, byte(len(joinRef)), 0, byte(len(topic)), byte(len(event)), 0, encoding}
	b = append(b, joinRef...)
	b = append(b, topic...)
	b = append(b, event...)
	b = append(b, payload...)
	if err := r.c.WriteMessage(websocket.BinaryMessage, b); err != nil {
		r.t.Fatal(err)
	}
}

// await returns the next message matching topic and event ("" = any), skipping others.
func (r *rtClient) await(topic, event string) rtMsg {
	r.t.Helper()
	return r.awaitFunc(topic+" "+event, func(m rtMsg) bool {
		return (topic == "" || m.Topic == topic) && (event == "" || m.Event == event)
	})
}

// awaitFunc returns the first message (held ones first) for which match holds, keeping
// the others for later.
func (r *rtClient) awaitFunc(what string, match func(rtMsg) bool) rtMsg {
	r.t.Helper()
	for i, m := range r.held {
		if match(m) {
			r.held = append(r.held[:i:i], r.held[i+1:]...)
			return m
		}
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-r.msgs:
			if !ok {
				r.t.Fatalf("connection closed while waiting for %s", what)
			}
			if match(m) {
				return m
			}
			r.held = append(r.held, m)
		case <-deadline:
			r.t.Fatalf("no %s within 10s; got %v", what, r.held)
		}
	}
}

// awaitDiff waits for a presence_diff where key joins or leaves (side).
func (r *rtClient) awaitDiff(topic, side, key string) rtMsg {
	r.t.Helper()
	return r.awaitFunc("presence_diff "+side+" "+key, func(m rtMsg) bool {
		if m.Topic != topic || m.Event != "presence_diff" {
			return false
		}
		s, _ := m.Payload[side].(map[string]any)
		return s[key] != nil
	})
}

// reply waits for the phx_reply to ref.
func (r *rtClient) reply(topic, ref string) rtMsg {
	r.t.Helper()
	return r.awaitFunc("reply "+ref, func(m rtMsg) bool {
		return m.Topic == topic && m.Event == "phx_reply" && m.Ref != nil && *m.Ref == ref
	})
}

// quiet asserts that no message of topic arrives for d.
func (r *rtClient) quiet(topic string, d time.Duration) {
	r.t.Helper()
	for _, m := range r.held {
		if m.Topic == topic {
			r.t.Fatalf("unexpected %v", m)
		}
	}
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-r.msgs:
			if ok && m.Topic == topic {
				r.t.Fatalf("unexpected %v", m)
			}
		case <-deadline:
			return
		}
	}
}

// join joins topic with config and returns the join ref and the reply.
func (r *rtClient) join(topic string, config map[string]any, token string) (string, rtMsg) {
	r.t.Helper()
	payload := map[string]any{"config": config}
	if token != "" {
		payload["access_token"] = token
	}
	r.mu.Lock()
	next := fmt.Sprint(r.ref + 1)
	r.mu.Unlock()
	ref := r.push(&next, topic, "phx_join", payload)
	return ref, r.reply(topic, ref)
}

func status(m rtMsg) string { s, _ := m.Payload["status"].(string); return s }

func rtResponse(m rtMsg) map[string]any { r, _ := m.Payload["response"].(map[string]any); return r }

func publicConfig(self, ack, presence bool, key string) map[string]any {
	return map[string]any{"broadcast": map[string]any{"self": self, "ack": ack},
		"presence": map[string]any{"key": key, "enabled": presence}, "postgres_changes": []any{}, "private": false}
}

func TestRealtimeJoinHeartbeatAndBroadcast(t *testing.T) {
	ts := startRT(t, nil)
	key := rtToken(t, "anon", time.Hour)
	topic := "realtime:" + uniqueTopic("room")

	a := dialRT(t, ts, realtime.Vsn2, key)
	t.Run("a heartbeat on topic phoenix is answered ok with its ref", func(t *testing.T) {
		ref := a.push(nil, "phoenix", "heartbeat", map[string]any{})
		m := a.reply("phoenix", ref)
		if status(m) != "ok" || m.JoinRef != nil {
			t.Fatalf("%v", m)
		}
	})

	cfg := publicConfig(true, true, false, "")
	cfg["postgres_changes"] = []any{
		map[string]any{"event": "INSERT", "schema": "proxy_t_rt", "table": "items"},
		map[string]any{"event": "*", "schema": "proxy_t_rt", "table": "items", "filter": "id=eq.1"},
	}
	aRef, m := a.join(topic, cfg, rtToken(t, "alice", time.Hour))
	t.Run("the join reply lists the bindings with ids, in the client's order", func(t *testing.T) {
		if status(m) != "ok" || *m.JoinRef != aRef {
			t.Fatalf("%v", m)
		}
		pcs, _ := rtResponse(m)["postgres_changes"].([]any)
		if len(pcs) != 2 {
			t.Fatalf("%v", m)
		}
		first, second := pcs[0].(map[string]any), pcs[1].(map[string]any)
		if first["event"] != "INSERT" || first["table"] != "items" || first["filter"] != nil || second["filter"] != "id=eq.1" {
			t.Fatalf("%v", m)
		}
		if _, ok := first["id"].(float64); !ok || first["id"] == second["id"] {
			t.Fatalf("ids: %v", m)
		}
	})
	t.Run("a system message says the bindings are subscribed", func(t *testing.T) {
		s := a.await(topic, "system")
		want := map[string]any{"extension": "postgres_changes", "status": "ok", "message": "Subscribed to PostgreSQL", "channel": strings.TrimPrefix(topic, "realtime:")}
		if fmt.Sprint(s.Payload) != fmt.Sprint(want) {
			t.Fatalf("%v", s)
		}
	})

	b := dialRT(t, ts, realtime.Vsn2, key)
	bRef, m := b.join(topic, publicConfig(false, false, false, ""), "")
	if status(m) != "ok" {
		t.Fatalf("%v", m)
	}
	t.Run("a broadcast reaches the other channels, the sender with self, and is acknowledged with ack", func(t *testing.T) {
		ref := a.push(&aRef, topic, "broadcast", map[string]any{"type": "broadcast", "event": "cursor", "payload": map[string]any{"x": 1}})
		if r := a.reply(topic, ref); status(r) != "ok" {
			t.Fatalf("%v", r)
		}
		for _, c := range []*rtClient{a, b} {
			got := c.await(topic, "broadcast")
			if got.Payload["event"] != "cursor" || fmt.Sprint(got.Payload["payload"]) != "map[x:1]" || got.Payload["type"] != "broadcast" {
				t.Fatalf("%v", got)
			}
		}
	})
	t.Run("without self the sender does not get its own broadcast, nor an ack without ack", func(t *testing.T) {
		b.pushBinaryBroadcast(bRef, topic, "typing", 1, []byte(`{"who":"b"}`))
		got := a.await(topic, "broadcast")
		if got.Payload["event"] != "typing" || fmt.Sprint(got.Payload["payload"]) != "map[who:b]" {
			t.Fatalf("%v", got)
		}
		b.quiet(topic, 300*time.Millisecond)
	})
	t.Run("a binary payload is delivered as a binary frame", func(t *testing.T) {
		b.pushBinaryBroadcast(bRef, topic, "blob", 0, []byte{1, 2, 3})
		got := a.await(topic, "broadcast")
		if !got.Binary || got.Payload["event"] != "blob" || got.Raw != "\x01\x02\x03" {
			t.Fatalf("%v", got)
		}
	})
	t.Run("a binding on a missing table gets the error system message, the channel stays", func(t *testing.T) {
		other := "realtime:" + uniqueTopic("bad")
		cfg := publicConfig(false, false, false, "")
		cfg["postgres_changes"] = []any{map[string]any{"event": "*", "schema": "proxy_t_rt", "table": "nope"}}
		_, m := b.join(other, cfg, "")
		if status(m) != "ok" {
			t.Fatalf("%v", m)
		}
		s := b.await(other, "system")
		if s.Payload["status"] != "error" || s.Payload["extension"] != "postgres_changes" {
			t.Fatalf("%v", s)
		}
	})
	t.Run("a message to a topic not joined is answered unmatched topic", func(t *testing.T) {
		ref := b.push(nil, "realtime:elsewhere", "broadcast", map[string]any{"event": "x"})
		if r := b.reply("realtime:elsewhere", ref); status(r) != "error" || rtResponse(r)["reason"] != "unmatched topic" {
			t.Fatalf("%v", r)
		}
	})
	t.Run("phx_leave is answered ok and the channel hears no more", func(t *testing.T) {
		ref := b.push(&bRef, topic, "phx_leave", map[string]any{})
		if r := b.reply(topic, ref); status(r) != "ok" {
			t.Fatalf("%v", r)
		}
		a.push(&aRef, topic, "broadcast", map[string]any{"type": "broadcast", "event": "after", "payload": map[string]any{}})
		a.await(topic, "broadcast")
		b.quiet(topic, 300*time.Millisecond)
	})
	t.Run("the REST broadcast endpoint reaches joined channels", func(t *testing.T) {
		body := fmt.Sprintf(`{"messages":[{"topic":%q,"event":"rest","payload":{"n":2}}]}`, strings.TrimPrefix(topic, "realtime:"))
		r := ts.do("POST", "/t/rtlive/realtime/v1/api/broadcast", body, "apikey: "+key)
		if r.status != 202 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		got := a.await(topic, "broadcast")
		if got.Payload["event"] != "rest" || fmt.Sprint(got.Payload["payload"]) != "map[n:2]" {
			t.Fatalf("%v", got)
		}
		r = ts.do("POST", "/t/rtlive/realtime/v1/api/broadcast/"+strings.TrimPrefix(topic, "realtime:")+"/events/one", `{"n":3}`, "apikey: "+key)
		if r.status != 202 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if got := a.await(topic, "broadcast"); got.Payload["event"] != "one" {
			t.Fatalf("%v", got)
		}
		if r := ts.do("POST", "/t/rtlive/realtime/v1/api/broadcast", body, "apikey: nope"); r.status != 401 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestRealtimeVersion1SpeaksObjects(t *testing.T) {
	ts := startRT(t, nil)
	c := dialRT(t, ts, realtime.Vsn1, rtToken(t, "anon", time.Hour))
	topic := "realtime:" + uniqueTopic("v1")
	ref, m := c.join(topic, publicConfig(true, false, false, ""), "")
	if status(m) != "ok" || !strings.HasPrefix(m.Raw, "{") {
		t.Fatalf("%v", m)
	}
	c.push(&ref, topic, "broadcast", map[string]any{"type": "broadcast", "event": "e", "payload": map[string]any{"v": 1}})
	if got := c.await(topic, "broadcast"); got.Payload["event"] != "e" {
		t.Fatalf("%v", got)
	}
}

func TestRealtimePresence(t *testing.T) {
	ts := startRT(t, nil)
	key := rtToken(t, "anon", time.Hour)
	topic := "realtime:" + uniqueTopic("lobby")

	a := dialRT(t, ts, realtime.Vsn2, key)
	aRef, m := a.join(topic, publicConfig(false, false, true, "alice"), "")
	if status(m) != "ok" {
		t.Fatalf("%v", m)
	}
	if s := a.await(topic, "presence_state"); len(s.Payload) != 0 || *s.JoinRef != aRef {
		t.Fatalf("%v", s)
	}
	ref := a.push(&aRef, topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{"name": "A"}})
	if r := a.reply(topic, ref); status(r) != "ok" {
		t.Fatalf("%v", r)
	}
	var aliceRef string
	t.Run("a track sends a presence_diff with the meta and its phx_ref", func(t *testing.T) {
		d := a.await(topic, "presence_diff")
		metas := d.Payload["joins"].(map[string]any)["alice"].(map[string]any)["metas"].([]any)
		meta := metas[0].(map[string]any)
		aliceRef, _ = meta["phx_ref"].(string)
		if meta["name"] != "A" || aliceRef == "" || len(d.Payload["leaves"].(map[string]any)) != 0 {
			t.Fatalf("%v", d)
		}
	})

	b := dialRT(t, ts, realtime.Vsn2, key)
	bRef, _ := b.join(topic, publicConfig(false, false, true, "bob"), "")
	t.Run("a joining channel gets the presence_state", func(t *testing.T) {
		s := b.await(topic, "presence_state")
		metas := s.Payload["alice"].(map[string]any)["metas"].([]any)
		if len(metas) != 1 || metas[0].(map[string]any)["phx_ref"] != aliceRef {
			t.Fatalf("%v", s)
		}
	})
	t.Run("a track of the same payload changes nothing; another payload replaces the meta", func(t *testing.T) {
		ref := b.push(&bRef, topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{"name": "B"}})
		b.reply(topic, ref)
		if d := a.await(topic, "presence_diff"); d.Payload["joins"].(map[string]any)["bob"] == nil {
			t.Fatalf("%v", d)
		}
		ref = b.push(&bRef, topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{"name": "B2"}})
		b.reply(topic, ref)
		d := a.await(topic, "presence_diff")
		join := d.Payload["joins"].(map[string]any)["bob"].(map[string]any)["metas"].([]any)[0].(map[string]any)
		leave := d.Payload["leaves"].(map[string]any)["bob"].(map[string]any)["metas"].([]any)[0].(map[string]any)
		if join["name"] != "B2" || join["phx_ref_prev"] != leave["phx_ref"] {
			t.Fatalf("%v", d)
		}
	})
	t.Run("untrack sends the leave", func(t *testing.T) {
		ref := b.push(&bRef, topic, "presence", map[string]any{"type": "presence", "event": "untrack"})
		b.reply(topic, ref)
		d := a.await(topic, "presence_diff")
		if d.Payload["leaves"].(map[string]any)["bob"] == nil {
			t.Fatalf("%v", d)
		}
	})
	t.Run("a closed socket's presences leave", func(t *testing.T) {
		_ = a.c.Close()
		b.awaitDiff(topic, "leaves", "alice")
	})
}

func TestRealtimeAcrossProcesses(t *testing.T) {
	ts1 := startRT(t, nil)
	ts2 := startServer(t, rtConfig(nil))
	settle(t, ts2, "rtlive")
	key := rtToken(t, "anon", time.Hour)
	topic := "realtime:" + uniqueTopic("shared")

	a := dialRT(t, ts1, realtime.Vsn2, key)
	aRef, _ := a.join(topic, publicConfig(false, false, true, "alice"), "")
	a.await(topic, "presence_state")
	b := dialRT(t, ts2, realtime.Vsn2, key)
	bRef, _ := b.join(topic, publicConfig(false, false, true, "bob"), "")
	b.await(topic, "presence_state")

	t.Run("a presence tracked on one process reaches the other", func(t *testing.T) {
		ref := a.push(&aRef, topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{"at": "one"}})
		a.reply(topic, ref)
		b.awaitDiff(topic, "joins", "alice")
	})
	t.Run("a broadcast reaches the channels of the other process", func(t *testing.T) {
		// A join is answered once its process hears the others: no retry is needed.
		a.push(&aRef, topic, "broadcast", map[string]any{"type": "broadcast", "event": "hello", "payload": map[string]any{"from": 1}})
		if got := b.await(topic, "broadcast"); got.Payload["event"] != "hello" {
			t.Fatalf("%s", got.Raw)
		}
		big := strings.Repeat("x", 20000)
		b.push(&bRef, topic, "broadcast", map[string]any{"type": "broadcast", "event": "big", "payload": map[string]any{"s": big}})
		got := a.await(topic, "broadcast")
		if got.Payload["event"] != "big" || got.Payload["payload"].(map[string]any)["s"] != big {
			t.Fatalf("large message: %.200s", got.Raw)
		}
	})
	t.Run("a socket closed on one process: its presence leaves on the other", func(t *testing.T) {
		_ = a.c.Close()
		b.awaitDiff(topic, "leaves", "alice")
	})
}

func TestRealtimeRemotePresencesExpire(t *testing.T) {
	ts := startRT(t, nil)
	// Announce every 300ms, forget after 900ms; the channel layer is unused yet.
	ts.srv.api.channels.Close()
	ts.srv.api.channels = realtime.NewChannels(realtime.ChannelsOptions{Changes: ts.srv.api.changes,
		PresenceAnnounce: 300 * time.Millisecond, PresenceTimeout: 900 * time.Millisecond})
	key := rtToken(t, "anon", time.Hour)
	topic := "realtime:" + uniqueTopic("ghosts")
	c := dialRT(t, ts, realtime.Vsn2, key)
	ref, _ := c.join(topic, publicConfig(false, false, true, "me"), "")
	c.await(topic, "presence_state")
	// Track once so the relay is surely listening (its own join comes back through it? no:
	// a process ignores its own messages), then announce a presence of a process that dies.
	r := c.push(&ref, topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{}})
	c.reply(topic, r)
	c.await(topic, "presence_diff")
	ghost := fmt.Sprintf(`{"r":"ghost","k":"pj","t":"rtlive","c":%q,"key":"ghost","ref":"g1","m":{"dead":true}}`, topic)
	deadline := time.Now().Add(10 * time.Second)
	for {
		testenv.Exec(t, fmt.Sprintf(`SELECT pg_notify('kapok_realtime', %s)`, quoteLiteral(ghost)))
		select {
		case m := <-c.msgs:
			if m.Event == "presence_diff" && m.Payload["joins"].(map[string]any)["ghost"] != nil {
				goto joined
			}
		case <-time.After(300 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the ghost never joined")
		}
	}
joined:
	start := time.Now()
	d := c.await(topic, "presence_diff")
	if d.Payload["leaves"].(map[string]any)["ghost"] == nil {
		t.Fatalf("%v", d)
	}
	if e := time.Since(start); e < 500*time.Millisecond {
		t.Fatalf("the ghost left after %v, before its timeout", e)
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestRealtimeCredentials(t *testing.T) {
	ts := startRT(t, nil)
	t.Run("a socket with an invalid apikey is refused", func(t *testing.T) {
		if _, err := tryDialRT(ts, realtime.Vsn2, "not-a-key"); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("an unsupported serializer version is refused", func(t *testing.T) {
		if _, err := tryDialRT(ts, "3.0.0", rtToken(t, "anon", time.Hour)); err == nil || !strings.Contains(err.Error(), "400") {
			t.Fatalf("%v", err)
		}
	})
	c := dialRT(t, ts, realtime.Vsn2, rtToken(t, "anon", time.Hour))
	t.Run("a join with an invalid access token is refused with a reason", func(t *testing.T) {
		_, m := c.join("realtime:"+uniqueTopic("x"), publicConfig(false, false, false, ""), "a.b.c")
		if status(m) != "error" || fmt.Sprint(rtResponse(m)["reason"]) != "InvalidJWTToken: JWT is malformed" {
			t.Fatalf("%v", m)
		}
	})
	t.Run("a join with an expired access token is refused as Supabase does", func(t *testing.T) {
		_, m := c.join("realtime:"+uniqueTopic("x"), publicConfig(false, false, false, ""), rtToken(t, "u", -time.Minute))
		if status(m) != "error" || fmt.Sprint(rtResponse(m)["reason"]) != "InvalidJWTToken: Token has expired" {
			t.Fatalf("%v", m)
		}
	})
	t.Run("a private channel is refused", func(t *testing.T) {
		cfg := publicConfig(false, false, false, "")
		cfg["private"] = true
		_, m := c.join("realtime:"+uniqueTopic("p"), cfg, "")
		if status(m) != "error" {
			t.Fatalf("%v", m)
		}
	})
	t.Run("an expiring token closes its channel only", func(t *testing.T) {
		short := "realtime:" + uniqueTopic("short")
		long := "realtime:" + uniqueTopic("long")
		sRef, m := c.join(short, publicConfig(true, false, false, ""), rtToken(t, "u", 2*time.Second))
		if status(m) != "ok" {
			t.Fatalf("%v", m)
		}
		lRef, _ := c.join(long, publicConfig(true, false, false, ""), rtToken(t, "u", time.Hour))
		s := c.await(short, "system")
		if s.Payload["status"] != "error" || s.Payload["extension"] != "system" {
			t.Fatalf("%v", s)
		}
		if cl := c.await(short, "phx_close"); *cl.JoinRef != sRef {
			t.Fatalf("%v", cl)
		}
		c.push(&lRef, long, "broadcast", map[string]any{"type": "broadcast", "event": "still", "payload": map[string]any{}})
		c.await(long, "broadcast")
	})
	t.Run("an access_token event with an invalid token closes the channel", func(t *testing.T) {
		topic := "realtime:" + uniqueTopic("refresh")
		ref, _ := c.join(topic, publicConfig(false, false, false, ""), rtToken(t, "u", time.Hour))
		c.push(&ref, topic, "access_token", map[string]any{"access_token": rtToken(t, "u", 2*time.Hour)})
		c.quiet(topic, 300*time.Millisecond)
		c.push(&ref, topic, "access_token", map[string]any{"access_token": "x.y.z"})
		if s := c.await(topic, "system"); s.Payload["status"] != "error" {
			t.Fatalf("%v", s)
		}
		c.await(topic, "phx_close")
	})
}

func TestRealtimeLimits(t *testing.T) {
	ts := startRT(t, &control.Limits{RealtimeMaxChannels: 2, RealtimeMaxMessagesPerSecond: 3})
	c := dialRT(t, ts, realtime.Vsn2, rtToken(t, "anon", time.Hour))
	ref, _ := c.join("realtime:"+uniqueTopic("one"), publicConfig(false, true, false, ""), "")
	topic2 := "realtime:" + uniqueTopic("two")
	c.join(topic2, publicConfig(false, true, false, ""), "")
	t.Run("a join past the channels of a connection is refused", func(t *testing.T) {
		_, m := c.join("realtime:"+uniqueTopic("three"), publicConfig(false, false, false, ""), "")
		if status(m) != "error" || rtResponse(m)["reason"] != "ChannelRateLimitReached: Too many channels" {
			t.Fatalf("%v", m)
		}
	})
	t.Run("messages past the tenant's rate get an error reply", func(t *testing.T) {
		var refused int
		for range 6 {
			r := c.push(&ref, topic2, "broadcast", map[string]any{"type": "broadcast", "event": "e", "payload": map[string]any{}})
			if status(c.reply(topic2, r)) == "error" {
				refused++
			}
		}
		if refused < 2 {
			t.Fatalf("%d of 6 refused", refused)
		}
	})
}

func TestRealtimeIdleSocketsClose(t *testing.T) {
	ts := startRT(t, nil)
	ts.srv.api.rtIdle = 300 * time.Millisecond // before any socket reads it
	d := dialRT(t, ts, realtime.Vsn2, rtToken(t, "anon", time.Hour))
	select {
	case ce := <-d.closed:
		if !strings.Contains(ce.Text, "heartbeat") {
			t.Fatalf("%v", ce)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not closed")
	}
}
