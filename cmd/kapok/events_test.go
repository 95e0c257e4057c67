package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/events"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/proxy"
)

// eventsCLIServer serves one tenant with a table items, with the dispatcher running.
func eventsCLIServer(t *testing.T) (url, tenant, schema string) {
	t.Helper()
	tenant = fmt.Sprintf("evcli-%d", os.Getpid())
	schema = strings.ReplaceAll(tenant, "-", "_")
	testenv.FreshSchema(t, schema, "CREATE TABLE items (id int PRIMARY KEY, name text)")
	cfg := &control.Config{AdminKey: cliKey,
		Upstreams: map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}},
		Tenants: []*control.TenantConfig{{Name: tenant, Schemas: []string{schema}, Isolation: control.IsolationNone,
			Events: &control.TenantEvents{WebhookAllowCIDRs: []string{"127.0.0.1"}}}}}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := control.NewRegistry(cfg, log)
	ev := events.New(events.Options{Registry: reg, Logger: log, PollInterval: 50 * time.Millisecond})
	srv, err := proxy.New(proxy.Options{Config: cfg, Registry: reg, Logger: log, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev.Start(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		ev.Close()
		reg.Close()
		c := testenv.Conn(t)
		for _, tbl := range []string{"event_log", "attempts", "triggers", "cron_triggers"} {
			_, _ = c.Exec(context.Background(), "DELETE FROM kapok_events."+tbl+" WHERE tenant = $1", tenant)
		}
	})
	return "http://" + ln.Addr().String(), tenant, schema
}

func TestTheEventsCommandsDriveTheAdminAPI(t *testing.T) {
	url, tenant, schema := eventsCLIServer(t)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer rcv.Close()
	common := []string{"--url", url, "--admin-key", cliKey, "--tenant", tenant}
	// sub runs `kapok events SUB <common flags> args…`.
	sub := func(args ...string) (int, string, string) {
		return kapok(append([]string{"events", args[0]}, append(common, args[1:]...)...)...)
	}

	code, out, errs := sub("create-trigger", "--name", "items_ins", "--table", "items",
		"--on", "insert,update", "--columns", "name", "--webhook", rcv.URL, "--header", "X-A: 1", "--secret", "s", "--manual", "--ordered")
	if code != 0 || !strings.Contains(out, "created event trigger items_ins") {
		t.Fatalf("create-trigger: %d %q %q", code, out, errs)
	}
	code, out, _ = sub("triggers")
	if code != 0 || !strings.Contains(out, "items_ins") || !strings.Contains(out, "insert,update") {
		t.Fatalf("triggers: %d %q", code, out)
	}
	testenv.Exec(t, "INSERT INTO "+schema+".items VALUES (1, 'a')")
	var id string
	idRE := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f-]{27}`)
	deadline := time.Now().Add(10 * time.Second)
	for id == "" && time.Now().Before(deadline) {
		_, out, _ = sub("list", "--state", "delivered")
		id = idRE.FindString(out)
		time.Sleep(50 * time.Millisecond)
	}
	if id == "" {
		t.Fatalf("no delivered event listed: %q", out)
	}
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"show prints each attempt's request and response", []string{"events", "show", id}, 0, "try 1 by"},
		{"redeliver queues the event again", []string{"events", "redeliver", id}, 0, "redelivering " + id},
		{"invoke records a manual event", []string{"events", "invoke", "items_ins", "--pk", "id=1"}, 0, "invoked items_ins (event"},
		{"pause answers", []string{"events", "pause", "items_ins"}, 0, "paused items_ins"},
		{"a cron trigger is created", []string{"events", "create-cron", "--name", "nightly", "--schedule", "0 3 * * *", "--webhook", rcv.URL}, 0, "created cron trigger nightly"},
		{"cron lists it", []string{"events", "cron"}, 0, "0 3 * * *"},
		{"an event is scheduled", []string{"events", "schedule", "--at", "2099-01-01T00:00:00Z", "--webhook", rcv.URL, "--payload", `{"a":1}`}, 0, "scheduled an event"},
		{"delete-trigger removes it", []string{"events", "delete-trigger", "items_ins"}, 0, "deleted items_ins"},
		{"deleting it again fails", []string{"events", "delete-trigger", "items_ins"}, 1, ""},
		{"a bad --on is a usage error", []string{"events", "create-trigger", "--name", "x", "--table", "items", "--on", "truncate", "--webhook", rcv.URL}, 2, ""},
		{"an unknown subcommand is a usage error", []string{"events", "frobnicate"}, 2, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := sub(c.args[1:]...)
			if code != c.code || !strings.Contains(out, c.out) {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errs)
			}
		})
	}
	if code, _, _ := kapok("events", "list", "--url", url); code != exitUsage {
		t.Errorf("list without --tenant: exit %d", code)
	}
}
