package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// env is one test tenant in its own schema, with a table "items".
type env struct {
	t      testing.TB
	tenant *control.Tenant
	reg    *control.Registry
	schema string
}

const itemsDDL = `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric NOT NULL DEFAULT 0, note text)`

// newEnv creates a tenant named after base (unique to this process); allowLoopback lets
// its webhooks reach 127.0.0.1.
func newEnv(t testing.TB, base string, allowLoopback bool) *env {
	t.Helper()
	name := fmt.Sprintf("ev-%s-%d", base, os.Getpid())
	schema := strings.ReplaceAll(name, "-", "_")
	testenv.FreshSchema(t, schema, itemsDDL)
	cfg := helperConfig(name, schema)
	if !allowLoopback {
		cfg.Tenants[0].Events = nil
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	reg := control.NewRegistry(cfg, quietLog())
	e := &env{t: t, tenant: reg.Tenant(name), reg: reg, schema: schema}
	cleanup := func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		for _, tbl := range []string{"event_log", "attempts", "triggers", "cron_triggers"} {
			_, _ = c.Exec(context.Background(), "DO $$ BEGIN IF to_regclass('kapok_events."+tbl+"') IS NOT NULL THEN DELETE FROM kapok_events."+tbl+" WHERE tenant = '"+name+"'; END IF; END $$")
		}
	}
	cleanup()
	t.Cleanup(cleanup)
	return e
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// service starts a dispatcher for the env's tenant; it stops when the test ends.
func (e *env) service(mut func(*Options)) *Service {
	o := Options{Registry: e.reg, Logger: quietLog(), PollInterval: 50 * time.Millisecond, LeaseMargin: time.Second}
	if mut != nil {
		mut(&o)
	}
	s := New(o)
	s.Start(context.Background())
	e.t.Cleanup(s.Close)
	return s
}

// exec runs SQL through PgBouncer, in one transaction.
func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	p := testenv.Pool(e.t)
	if _, err := p.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func (e *env) table() string { return pgx.Identifier{e.schema, "items"}.Sanitize() }

// delivery is one request a receiver got.
type delivery struct {
	header http.Header
	body   []byte
	at     time.Time
}

func (d delivery) payload(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(d.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, d.body)
	}
	return m
}

// receiver is a local webhook; status decides each answer (nil: 200).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []delivery
	status func(n int, d delivery) int
	notify chan struct{}
	// hold, when it returns true for the n-th request, keeps that request open until the
	// client goes away (after recording it).
	hold func(n int) bool
}

func newReceiver(t testing.TB, status func(n int, d delivery) int) *receiver {
	r := &receiver{status: status, notify: make(chan struct{}, 1000)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		d := delivery{header: req.Header.Clone(), body: b, at: time.Now()}
		r.mu.Lock()
		n := len(r.got)
		r.got = append(r.got, d)
		r.mu.Unlock()
		r.mu.Lock()
		hold := r.hold != nil && r.hold(n)
		r.mu.Unlock()
		if hold {
			r.notify <- struct{}{}
			// The body was read, so the server notices the client's disconnection.
			<-req.Context().Done()
			return
		}
		code := 200
		if r.status != nil {
			code = r.status(n, d)
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"answer":%d}`, code)
		r.notify <- struct{}{}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// waitFor waits until the receiver got n requests.
func (r *receiver) waitFor(t *testing.T, n int, within time.Duration) []delivery {
	t.Helper()
	deadline := time.After(within)
	for {
		if got := r.deliveries(); len(got) >= n {
			return got
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d", len(r.deliveries()), n)
		}
	}
}

// eventually polls cond until it holds.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func path(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func testDirectURL() string { return testenv.DirectURL() }
func testPoolerURL() string { return testenv.PoolerURL() }
