package events

import (
	"context"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/control"
)

func TestTheSignatureHeaderVerifiesTheBody(t *testing.T) {
	e := newEnv(t, "sign", true)
	rcv := newReceiver(t, nil)
	s := e.service(func(o *Options) {
		o.Getenv = func(k string) string {
			return map[string]string{"HOOK_TOKEN": "tok-from-env", "HOOK_SECRET": "env-secret"}[k]
		}
	})
	ctx := context.Background()
	for _, def := range []*TriggerDef{
		{Name: "literal", Table: TableRef{Name: "items"}, Insert: &OpSpec{},
			Delivery: Delivery{Webhook: rcv.URL, Secret: "s3cr3t", Headers: []Header{{Name: "X-Static", Value: "v1"}, {Name: "Authorization", ValueFromEnv: "HOOK_TOKEN"}}}},
		{Name: "from_env", Table: TableRef{Name: "items"}, Delete: &OpSpec{},
			Delivery: Delivery{Webhook: rcv.URL, SecretFromEnv: "HOOK_SECRET"}},
	} {
		if _, err := s.CreateTrigger(ctx, e.tenant, def); err != nil {
			t.Fatal(err)
		}
	}
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (1, 'x')")
	e.exec("DELETE FROM " + e.table())
	got := rcv.waitFor(t, 2, 10*time.Second)
	for _, d := range got {
		m := d.payload(t)
		secret := "s3cr3t"
		if path(m, "trigger", "name") == "from_env" {
			secret = "env-secret"
		} else if d.header.Get("X-Static") != "v1" || d.header.Get("Authorization") != "tok-from-env" {
			t.Errorf("headers = %v", d.header)
		}
		if sig := d.header.Get(SignatureHeader); sig != Sign([]byte(secret), d.body) {
			t.Errorf("%v: signature %q does not verify with the trigger's secret", path(m, "trigger", "name"), sig)
		}
		if sig := d.header.Get(SignatureHeader); sig == Sign([]byte("other"), d.body) {
			t.Errorf("the signature verifies with another secret")
		}
	}
	t.Run("attempt records hide header values taken from the environment, and listings hide secrets", func(t *testing.T) {
		var id string
		eventually(t, 5*time.Second, "delivered events", func() bool {
			list, _ := s.Events(ctx, e.tenant, Filter{State: "delivered", Trigger: "literal"})
			if len(list) == 1 {
				id = list[0].ID
			}
			return id != ""
		})
		ev, err := s.Event(ctx, e.tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		req := string(ev.Attempts[0].Request)
		if strings.Contains(req, "tok-from-env") || !strings.Contains(req, `"X-Static":"v1"`) {
			t.Errorf("recorded request = %s", req)
		}
		tr, err := s.Trigger(ctx, e.tenant, "literal")
		if err != nil {
			t.Fatal(err)
		}
		if tr.Def.Secret != "********" {
			t.Errorf("listed secret = %q", tr.Def.Secret)
		}
	})
}

func TestWebhooksToNonPublicAddressesAreRefused(t *testing.T) {
	cases := []struct {
		addr    string
		allow   []string
		refused bool
	}{
		{"127.0.0.1", nil, true},
		{"::1", nil, true},
		{"::ffff:127.0.0.1", nil, true},
		{"169.254.169.254", nil, true},
		{"10.1.2.3", nil, true},
		{"172.16.0.1", nil, true},
		{"192.168.1.1", nil, true},
		{"100.64.0.1", nil, true},
		{"0.0.0.0", nil, true},
		{"fd00::1", nil, true},
		{"fe80::1", nil, true},
		{"fe80::1%eth0", nil, true},
		{"::ffff:169.254.169.254", nil, true},
		{"8.8.8.8", nil, false},
		{"2606:4700:4700::1111", nil, false},
		{"127.0.0.1", []string{"127.0.0.1"}, false},
		{"10.1.2.3", []string{"10.0.0.0/8"}, false},
		{"10.1.2.3", []string{"127.0.0.1"}, true},
	}
	for _, c := range cases {
		verb := "allowed"
		if c.refused {
			verb = "refused"
		}
		t.Run(c.addr+" is "+verb+" with allow list "+strings.Join(c.allow, ","), func(t *testing.T) {
			p := newDialPolicy(&control.TenantConfig{Events: &control.TenantEvents{WebhookAllowCIDRs: c.allow}})
			err := p.check(netip.MustParseAddr(c.addr))
			if (err != nil) != c.refused {
				t.Fatalf("check(%s) = %v", c.addr, err)
			}
		})
	}

	t.Run("a tenant without an allow list cannot reach a loopback receiver, by address or by name", func(t *testing.T) {
		e := newEnv(t, "ssrf", false)
		rcv := newReceiver(t, nil)
		s := e.service(nil)
		ctx := context.Background()
		byName := strings.Replace(rcv.URL, "127.0.0.1", "localhost", 1)
		for i, url := range []string{rcv.URL, byName} {
			if _, err := s.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: []string{"by_addr", "by_name"}[i], Table: TableRef{Name: "items"},
				Insert: &OpSpec{}, Delivery: Delivery{Webhook: url}}); err != nil {
				t.Fatal(err)
			}
		}
		e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (1, 'x')")
		eventually(t, 10*time.Second, "two dead events", func() bool {
			list, err := s.Events(ctx, e.tenant, Filter{State: "dead"})
			return err == nil && len(list) == 2
		})
		if n := len(rcv.deliveries()); n != 0 {
			t.Fatalf("the receiver got %d requests", n)
		}
		list, _ := s.Events(ctx, e.tenant, Filter{State: "dead"})
		for _, ev := range list {
			if ev.LastError == nil || !strings.Contains(*ev.LastError, "refused to connect to 127.0.0.1") {
				t.Errorf("%s: last error %v", ev.Trigger, ev.LastError)
			}
		}
	})
}

func TestTwoDispatchersNeverDeliverOneEventAtOnce(t *testing.T) {
	e := newEnv(t, "two", true)
	var mu sync.Mutex
	inFlight, seen, overlaps := map[string]int{}, map[string]int{}, 0
	rcv := newReceiver(t, nil)
	rcv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Kapok-Event-Id")
		mu.Lock()
		inFlight[id]++
		seen[id]++
		if inFlight[id] > 1 {
			overlaps++
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		inFlight[id]--
		mu.Unlock()
		w.WriteHeader(200)
	})
	a := e.service(func(o *Options) { o.Worker = "worker-a"; o.Concurrency = 4 })
	e.service(func(o *Options) { o.Worker = "worker-b"; o.Concurrency = 4 })
	ctx := context.Background()
	if _, err := a.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: "ins", Table: TableRef{Name: "items"}, Insert: &OpSpec{},
		Delivery: Delivery{Webhook: rcv.URL}}); err != nil {
		t.Fatal(err)
	}
	const n = 60
	e.exec("INSERT INTO " + e.table() + " (id, name) SELECT g, 'x' || g FROM generate_series(1, 60) g")
	eventually(t, 20*time.Second, "every event delivered", func() bool {
		list, err := a.Events(ctx, e.tenant, Filter{State: "delivered", Limit: 1000})
		return err == nil && len(list) == n
	})
	mu.Lock()
	defer mu.Unlock()
	if overlaps != 0 {
		t.Errorf("%d deliveries overlapped another delivery of the same event", overlaps)
	}
	if len(seen) != n {
		t.Errorf("receiver saw %d distinct events, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("event %s delivered %d times", id, c)
		}
	}
	workers := map[string]bool{}
	list, _ := a.Events(ctx, e.tenant, Filter{State: "delivered", Limit: 1000})
	for _, ev := range list[:10] {
		full, _ := a.Event(ctx, e.tenant, ev.ID)
		workers[full.Attempts[0].Worker] = true
	}
	t.Logf("workers seen among 10 events: %v", workers)
}

// TestDispatcherHelperProcess is not a test: other tests and the benchmark run the test
// binary again with it, as another Kapok process (to kill, or to measure alone). Its
// tenants are KAPOK_EVENTS_HELPER_TENANTS: name=schema pairs, comma-separated. SIGTERM
// stops it cleanly.
func TestDispatcherHelperProcess(t *testing.T) {
	list := os.Getenv("KAPOK_EVENTS_HELPER_TENANTS")
	if list == "" {
		t.Skip("helper process only")
	}
	cfg := &control.Config{Upstreams: map[string]*control.Upstream{"dev": {URL: testDirectURL(), Pooler: testPoolerURL()}}}
	for _, pair := range strings.Split(list, ",") {
		name, schema, _ := strings.Cut(pair, "=")
		cfg.Tenants = append(cfg.Tenants, helperConfig(name, schema).Tenants[0])
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	s := New(Options{Registry: control.NewRegistry(cfg, quietLog()), PollInterval: 50 * time.Millisecond,
		LeaseMargin: 500 * time.Millisecond, Worker: "helper"})
	if path := os.Getenv("KAPOK_EVENTS_HELPER_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		_ = pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	s.Start(context.Background())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	<-stop
	s.Close()
	pprof.StopCPUProfile()
	os.Exit(0)
}

// startHelper runs TestDispatcherHelperProcess for the given name=schema pairs.
func startHelper(t testing.TB, pairs ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDispatcherHelperProcess$", "-test.count=1", "-test.bench=^$")
	cmd.Env = append(os.Environ(), "KAPOK_EVENTS_HELPER_TENANTS="+strings.Join(pairs, ","))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestAKilledDispatchersEventGoesToAnother(t *testing.T) {
	e := newEnv(t, "kill", true)
	rcv := newReceiver(t, nil)
	rcv.hold = func(n int) bool { return n == 0 } // the delivering process dies while this request is open
	setup := New(Options{Registry: e.reg, Logger: quietLog()})
	defer setup.Close()
	ctx := context.Background()
	if _, err := setup.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: "ins", Table: TableRef{Name: "items"}, Insert: &OpSpec{},
		Delivery: Delivery{Webhook: rcv.URL, RetryConf: RetryConf{NumRetries: 3, IntervalSec: 0.01, TimeoutSec: 1}}}); err != nil {
		t.Fatal(err)
	}
	cmd := startHelper(t, e.tenant.Name+"="+e.schema)
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (1, 'x')")
	rcv.waitFor(t, 1, 20*time.Second)
	// A second Kapok runs while the first dies mid-delivery.
	s := e.service(func(o *Options) { o.Worker = "survivor" })
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	got := rcv.waitFor(t, 2, 15*time.Second)
	id := got[0].payload(t)["id"]
	if got[1].payload(t)["id"] != id {
		t.Fatalf("the second delivery is another event: %v vs %v", got[1].payload(t)["id"], id)
	}
	if path(got[1].payload(t), "delivery_info", "current_retry") != float64(1) {
		t.Errorf("second attempt: delivery_info %v", got[1].payload(t)["delivery_info"])
	}
	eventually(t, 5*time.Second, "the event delivered by the survivor", func() bool {
		ev, err := s.Event(ctx, e.tenant, id.(string))
		return err == nil && ev.State == "delivered" && len(ev.Attempts) == 1 && ev.Attempts[0].Worker == "survivor"
	})
}

// helperConfig is the env's tenant as another process configures it.
func helperConfig(name, schema string) *control.Config {
	return &control.Config{
		Upstreams: map[string]*control.Upstream{"dev": {URL: testDirectURL(), Pooler: testPoolerURL()}},
		Tenants: []*control.TenantConfig{{Name: name, Schemas: []string{schema}, Isolation: control.IsolationNone,
			Events: &control.TenantEvents{WebhookAllowCIDRs: []string{"127.0.0.1"}}}},
	}
}
