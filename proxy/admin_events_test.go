package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/events"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// eventsServer serves one tenant (schema with table items) with the events service and
// its dispatcher running.
func eventsServer(t *testing.T, withEvents bool) (*testServer, string) {
	t.Helper()
	name := fmt.Sprintf("evadmin-%d", os.Getpid())
	schema := strings.ReplaceAll(name, "-", "_")
	testenv.FreshSchema(t, schema, "CREATE TABLE items (id int PRIMARY KEY, name text)")
	cfg := &control.Config{AdminKey: adminTestKey,
		Upstreams: map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}},
		Tenants: []*control.TenantConfig{{Name: name, Schemas: []string{schema}, Isolation: control.IsolationNone,
			Events: &control.TenantEvents{WebhookAllowCIDRs: []string{"127.0.0.1"}}}}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := control.NewRegistry(cfg, log)
	var ev *events.Service
	if withEvents {
		ev = events.New(events.Options{Registry: reg, Logger: log, PollInterval: 50 * time.Millisecond})
		ev.Start(context.Background())
	}
	srv, err := New(Options{Config: cfg, Registry: reg, Logger: log, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = srv.Serve(ln) }()
	ts := &testServer{t: t, srv: srv, reg: reg, ln: ln}
	ts.c = &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if ev != nil {
			ev.Close()
		}
		reg.Close()
		c := testenv.Conn(t)
		for _, tbl := range []string{"event_log", "attempts", "triggers", "cron_triggers"} {
			_, _ = c.Exec(context.Background(), "DELETE FROM kapok_events."+tbl+" WHERE tenant = $1", name)
		}
	})
	return ts, name
}

func TestTheAdminAPIManagesEventTriggers(t *testing.T) {
	ts, tenant := eventsServer(t, true)
	var hits atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(200)
	}))
	defer rcv.Close()
	base := "/tenants/" + tenant + "/events"
	def := `{"name":"items_ins","table":{"name":"items"},"insert":{"columns":"*"},"enable_manual":true,
	  "webhook":"` + rcv.URL + `","retry_conf":{"num_retries":1,"interval_sec":0.01},"secret":"s3cr3t"}`

	t.Run("creating a trigger answers 201 with its definition, secret masked", func(t *testing.T) {
		r := ts.admin("POST", base+"/triggers", def)
		if r.status != 201 || !strings.Contains(r.body, `"secret":"********"`) || strings.Contains(r.body, "s3cr3t") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"a second trigger of the same name is a conflict", "POST", base + "/triggers", def, 409, "already-exists"},
		{"an unknown field is refused", "POST", base + "/triggers", `{"name":"x","tabel":{}}`, 400, "invalid-json"},
		{"a missing table is refused", "POST", base + "/triggers", `{"name":"x","table":{"name":"nope"},"insert":{"columns":"*"},"webhook":"http://h/"}`, 400, "invalid-request"},
		{"an unknown trigger is not found", "GET", base + "/triggers/nope", "", 404, "not-found"},
		{"pausing an unknown trigger is not found", "POST", base + "/triggers/nope/pause", "", 404, "not-found"},
		{"an unknown event is not found", "GET", base + "/00000000-0000-0000-0000-000000000000", "", 404, "not-found"},
		{"a malformed event id is not found", "GET", base + "/not-a-uuid", "", 404, "not-found"},
		{"a bad state filter is refused", "GET", base + "?state=lost", "", 400, "invalid-request"},
		{"a bad limit is refused", "GET", base + "?limit=-1", "", 400, "invalid-request"},
		{"a wrong method is refused", "PUT", base + "/triggers", "", 405, "method-not-allowed"},
		{"an unknown tenant is not found", "GET", "/tenants/nope-nope/events", "", 404, "tenant-not-found"},
		{"a bad cron schedule is refused", "POST", base + "/cron", `{"name":"c","schedule":"every day","webhook":"http://h/"}`, 400, "invalid-request"},
		{"a scheduled event without a time is refused", "POST", base + "/scheduled", `{"webhook":"http://h/"}`, 400, "invalid-request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.admin(c.method, c.path, c.body)
			if r.status != c.status || decodeBody(t, r)["code"] != c.code || decodeBody(t, r)["error"] == "" {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, c.status, c.code)
			}
		})
	}
	t.Run("an insert through the REST API is delivered and listed with its attempt", func(t *testing.T) {
		if r := ts.do("POST", "/t/"+tenant+"/rest/v1/items", `{"id":1,"name":"a"}`, "X-Kapok-Admin-Key: "+adminTestKey); r.status != 201 {
			t.Fatalf("REST insert: %d %s", r.status, r.body)
		}
		var id string
		deadline := time.Now().Add(10 * time.Second)
		for id == "" && time.Now().Before(deadline) {
			r := ts.admin("GET", base+"?state=delivered", "")
			m := decodeBody(t, r)
			if list, _ := m["events"].([]any); len(list) == 1 {
				id = list[0].(map[string]any)["id"].(string)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if id == "" {
			t.Fatal("the event was not delivered")
		}
		r := ts.admin("GET", base+"/"+id, "")
		if r.status != 200 || !strings.Contains(r.body, `"attempts":[{"try":1`) || !strings.Contains(r.body, `"status":200`) {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if r := ts.admin("POST", base+"/"+id+"/redeliver", ""); r.status != 202 {
			t.Fatalf("redeliver: %d %s", r.status, r.body)
		}
		for hits.Load() < 2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if hits.Load() != 2 {
			t.Fatalf("receiver hits = %d after a redelivery", hits.Load())
		}
	})
	t.Run("a manual invocation, pause and resume answer", func(t *testing.T) {
		if r := ts.admin("POST", base+"/triggers/items_ins/invoke", `{"pk":{"id":1}}`); r.status != 201 || !strings.Contains(r.body, "event_id") {
			t.Fatalf("invoke: %d %s", r.status, r.body)
		}
		for _, a := range []string{"pause", "resume"} {
			if r := ts.admin("POST", base+"/triggers/items_ins/"+a, ""); r.status != 200 {
				t.Fatalf("%s: %d %s", a, r.status, r.body)
			}
		}
	})
	t.Run("cron triggers and scheduled events are created, listed and deleted", func(t *testing.T) {
		if r := ts.admin("POST", base+"/cron", `{"name":"nightly","schedule":"0 3 * * *","webhook":"`+rcv.URL+`","payload":{"k":1}}`); r.status != 201 {
			t.Fatalf("create cron: %d %s", r.status, r.body)
		}
		if r := ts.admin("GET", base+"/cron", ""); r.status != 200 || !strings.Contains(r.body, `"nightly"`) {
			t.Fatalf("list cron: %d %s", r.status, r.body)
		}
		if r := ts.admin("DELETE", base+"/cron/nightly", ""); r.status != 200 {
			t.Fatalf("delete cron: %d %s", r.status, r.body)
		}
		at := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if r := ts.admin("POST", base+"/scheduled", `{"schedule_at":"`+at+`","webhook":"`+rcv.URL+`"}`); r.status != 201 {
			t.Fatalf("create scheduled: %d %s", r.status, r.body)
		}
		if r := ts.admin("GET", base+"/scheduled?state=pending", ""); r.status != 200 || !strings.Contains(r.body, `"kind":"scheduled"`) {
			t.Fatalf("list scheduled: %d %s", r.status, r.body)
		}
	})
	t.Run("metrics count the tenant's deliveries", func(t *testing.T) {
		r := ts.do("GET", "/metrics", "")
		for _, want := range []string{`kapok_events_delivered_total{tenant="` + tenant + `"}`, "kapok_events_delivery_latency_seconds_bucket", `kapok_events_pending{tenant="` + tenant + `"}`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
	t.Run("deleting the trigger answers 200, then it is gone", func(t *testing.T) {
		if r := ts.admin("DELETE", base+"/triggers/items_ins", ""); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if r := ts.admin("GET", base+"/triggers/items_ins", ""); r.status != 404 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestTheEventRoutesAnswer503WithoutTheEventsService(t *testing.T) {
	ts, tenant := eventsServer(t, false)
	r := ts.admin("GET", "/tenants/"+tenant+"/events/triggers", "")
	if r.status != 503 || decodeBody(t, r)["code"] != "events-unavailable" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
