package realtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/poolmgr"
)

// fakeChanges is a change source whose changes the test sends: the channel layer's side
// of the postgres_changes contract, without a database.
type fakeChanges struct {
	mu       sync.Mutex
	subs     map[int]*fakeSub
	next     int
	invalid  string // a table Validate refuses
	failSubs bool
	// gate, when set, holds Subscribe until it is closed; then early is delivered at once,
	// as a change committed right after the subscription began.
	gate  chan struct{}
	early []byte
}

type fakeSub struct {
	spec     ChangeSpec
	session  poolmgr.Session
	deliver  func([]byte)
	canceled bool
}

func (f *fakeChanges) Validate(_ *control.Tenant, spec ChangeSpec) error {
	if spec.Table == f.invalid {
		return fmt.Errorf("table %s.%s does not exist", spec.Schema, spec.Table)
	}
	return nil
}

func (f *fakeChanges) Subscribe(_ *control.Tenant, spec ChangeSpec, s poolmgr.Session, deliver func([]byte)) (func(), error) {
	if f.gate != nil {
		<-f.gate
		if f.early != nil {
			deliver(f.early)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failSubs {
		return nil, errors.New("replication is not available")
	}
	f.next++
	sub := &fakeSub{spec: spec, session: s, deliver: deliver}
	f.subs[f.next] = sub
	return func() { f.mu.Lock(); sub.canceled = true; f.mu.Unlock() }, nil
}

func (f *fakeChanges) live() []*fakeSub {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fakeSub
	for i := 1; i <= f.next; i++ {
		if s := f.subs[i]; s != nil && !s.canceled {
			out = append(out, s)
		}
	}
	return out
}

// frames collects what a Conn sends, decoded as 2.0.0 arrays.
type frames struct {
	ch chan []any
}

func (f *frames) send(binary bool, data []byte) {
	var a []any
	if binary || json.Unmarshal(data, &a) != nil {
		panic(fmt.Sprintf("bad frame %q", data))
	}
	f.ch <- a
}

func (f *frames) await(t *testing.T, event string) []any {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case a := <-f.ch:
			if a[3] == event {
				return a
			}
		case <-timeout:
			t.Fatalf("no %s", event)
		}
	}
}

func testConn(t *testing.T, src ChangeSource, auth func(string) (Principal, error)) (*Conn, *frames) {
	t.Helper()
	s := NewChannels(ChannelsOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Changes: src})
	t.Cleanup(s.Close)
	lim := control.DefaultLimits
	tenant := &control.Tenant{Name: "unit", Config: &control.TenantConfig{Name: "unit", Limits: &lim}}
	f := &frames{ch: make(chan []any, 100)}
	c := s.Connect(ConnOptions{Tenant: tenant, Vsn: Vsn2, Authenticate: auth, Send: f.send})
	t.Cleanup(c.Close)
	return c, f
}

func claimsAuth(token string) (Principal, error) {
	if token == "bad" {
		return Principal{}, &AuthError{Code: "InvalidJWTToken", Message: "JWT is malformed"}
	}
	return Principal{Session: poolmgr.Session{Role: "member", Claims: []byte(`{"sub":"` + token + `"}`)}}, nil
}

func handle(t *testing.T, c *Conn, frame string) {
	t.Helper()
	if err := c.Handle(false, []byte(frame)); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresChangesReachTheirBindingsWithTheChannelsClaims(t *testing.T) {
	src := &fakeChanges{subs: map[int]*fakeSub{}}
	c, f := testConn(t, src, claimsAuth)
	handle(t, c, `["1","1","realtime:db","phx_join",{"config":{"postgres_changes":[
		{"event":"INSERT","schema":"public","table":"todos"},
		{"event":"*","schema":"public","table":"todos","filter":"id=eq.1"}]},"access_token":"alice"}]`)
	r := f.await(t, "phx_reply")
	p := r[4].(map[string]any)
	if p["status"] != "ok" {
		t.Fatalf("%v", r)
	}
	bindings := p["response"].(map[string]any)["postgres_changes"].([]any)
	id0, id1 := bindings[0].(map[string]any)["id"], bindings[1].(map[string]any)["id"]
	if sys := f.await(t, "system")[4].(map[string]any); sys["status"] != "ok" || sys["message"] != "Subscribed to PostgreSQL" {
		t.Fatalf("%v", sys)
	}
	subs := src.live()
	if len(subs) != 2 || string(subs[0].session.Claims) != `{"sub":"alice"}` || subs[1].spec.Filter != "id=eq.1" || subs[0].spec.Event != "INSERT" {
		t.Fatalf("%+v", subs)
	}

	t.Run("a change is pushed with the ids of the binding it matched", func(t *testing.T) {
		subs[1].deliver([]byte(`{"schema":"public","table":"todos","type":"UPDATE","record":{"id":1}}`))
		m := f.await(t, "postgres_changes")
		pl := m[4].(map[string]any)
		if m[2] != "realtime:db" || fmt.Sprint(pl["ids"]) != fmt.Sprint([]any{id1}) || pl["data"].(map[string]any)["type"] != "UPDATE" {
			t.Fatalf("%v (ids %v %v)", m, id0, id1)
		}
	})
	t.Run("an access_token event subscribes the bindings again with the new claims", func(t *testing.T) {
		handle(t, c, `["1","2","realtime:db","access_token",{"access_token":"bob"}]`)
		f.await(t, "system")
		subs := src.live()
		if len(subs) != 2 || string(subs[0].session.Claims) != `{"sub":"bob"}` {
			t.Fatalf("%+v", subs)
		}
	})
	t.Run("an invalid token closes the channel: system error, then phx_close", func(t *testing.T) {
		handle(t, c, `["1","3","realtime:db","access_token",{"access_token":"bad"}]`)
		if sys := f.await(t, "system")[4].(map[string]any); sys["status"] != "error" || sys["extension"] != "system" {
			t.Fatalf("%v", sys)
		}
		if cl := f.await(t, "phx_close"); cl[0] != "1" {
			t.Fatalf("%v", cl)
		}
		if n := len(src.live()); n != 0 {
			t.Fatalf("%d subscriptions left", n)
		}
	})
}

func TestTheJoinReplyFollowsTheSubscription(t *testing.T) {
	src := &fakeChanges{subs: map[int]*fakeSub{}, gate: make(chan struct{}), early: []byte(`{"type":"INSERT","record":{"id":1}}`)}
	c, f := testConn(t, src, claimsAuth)
	handle(t, c, `["1","1","realtime:db","phx_join",{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"todos"}]}}]`)
	select {
	case a := <-f.ch:
		t.Fatalf("%v sent before the subscription was in place", a)
	case <-time.After(100 * time.Millisecond):
	}
	close(src.gate)
	var events []any
	for range 3 {
		select {
		case a := <-f.ch:
			events = append(events, a[3])
		case <-time.After(5 * time.Second):
			t.Fatalf("only %v", events)
		}
	}
	if fmt.Sprint(events) != "[phx_reply postgres_changes system]" {
		t.Fatalf("sent %v: a change must follow the join reply", events)
	}
}

func TestPostgresChangesErrorsStayWithTheirChannel(t *testing.T) {
	src := &fakeChanges{subs: map[int]*fakeSub{}, invalid: "nope"}
	c, f := testConn(t, src, claimsAuth)
	t.Run("a binding the source refuses gets a system error; the channel stays joined", func(t *testing.T) {
		handle(t, c, `["1","1","realtime:a","phx_join",{"config":{"broadcast":{"self":true},"postgres_changes":[{"event":"*","schema":"public","table":"nope"}]}}]`)
		if r := f.await(t, "phx_reply")[4].(map[string]any); r["status"] != "ok" {
			t.Fatalf("%v", r)
		}
		if sys := f.await(t, "system")[4].(map[string]any); sys["status"] != "error" || sys["extension"] != "postgres_changes" {
			t.Fatalf("%v", sys)
		}
		handle(t, c, `["1","2","realtime:a","broadcast",{"type":"broadcast","event":"e","payload":{}}]`)
		f.await(t, "broadcast")
	})
	t.Run("with wait, the join itself is refused", func(t *testing.T) {
		handle(t, c, `["3","3","realtime:b","phx_join",{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"nope"}],"postgres_changes_options":{"wait":true}}}]`)
		r := f.await(t, "phx_reply")[4].(map[string]any)
		if r["status"] != "error" || r["response"].(map[string]any)["reason"] != "RealtimeDisabledForConfiguration: table public.nope does not exist" {
			t.Fatalf("%v", r)
		}
	})
	t.Run("an unknown event is refused at the join", func(t *testing.T) {
		handle(t, c, `["4","4","realtime:c","phx_join",{"config":{"postgres_changes":[{"event":"TRUNCATE","schema":"public"}]}}]`)
		if r := f.await(t, "phx_reply")[4].(map[string]any); r["status"] != "error" {
			t.Fatalf("%v", r)
		}
	})
	t.Run("a refused credential is answered with its code", func(t *testing.T) {
		handle(t, c, `["5","5","realtime:d","phx_join",{"config":{},"access_token":"bad"}]`)
		r := f.await(t, "phx_reply")[4].(map[string]any)
		if r["response"].(map[string]any)["reason"] != "InvalidJWTToken: JWT is malformed" {
			t.Fatalf("%v", r)
		}
	})
	t.Run("without a change source, postgres_changes are refused", func(t *testing.T) {
		c, f := testConn(t, nil, claimsAuth)
		handle(t, c, `["1","1","realtime:e","phx_join",{"config":{"postgres_changes":[{"event":"*","schema":"public"}]}}]`)
		if r := f.await(t, "phx_reply")[4].(map[string]any); r["status"] != "error" {
			t.Fatalf("%v", r)
		}
	})
}

func TestBindingIdsFollowTheirParameters(t *testing.T) {
	raw := []json.RawMessage{[]byte(`{"event":"*","schema":"public","table":"a"}`), []byte(`null`), []byte(`{"table":"a","schema":"public","event":"*"}`)}
	b, err := parseBindings(raw)
	if err != nil || len(b) != 2 {
		t.Fatal(err, b)
	}
	if b[0].id == b[1].id {
		t.Fatal("two bindings of one channel share an id")
	}
	again, _ := parseBindings(raw[:1])
	if again[0].id != b[0].id {
		t.Fatal("the same parameters gave another id")
	}
}
