package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// BenchmarkDeliveryFiftyTenants writes b.N single-row transactions, paced at 1,000 per
// second, round-robin over 50 tenants (each its own schema and trigger), and waits until
// a local receiver got every event. It reports the latency from each transaction's
// commit (as the writer saw it return) to the webhook's receipt, and the process's CPU
// time per event of the dispatcher (a process of its own) and of the writer and receiver.
//
//	go test ./events/ -run '^$' -bench DeliveryFiftyTenants -benchtime 3000x
func BenchmarkDeliveryFiftyTenants(b *testing.B) {
	const tenants = 50
	const rate = 1000 // changes per second
	ctx := context.Background()
	var tcs []*control.TenantConfig
	for i := 0; i < tenants; i++ {
		name := fmt.Sprintf("evb%02d-%d", i, os.Getpid())
		schema := strings.ReplaceAll(name, "-", "_")
		testenv.FreshSchema(b, schema, itemsDDL)
		tcs = append(tcs, &control.TenantConfig{Name: name, Schemas: []string{schema}, Isolation: control.IsolationNone,
			Events: &control.TenantEvents{WebhookAllowCIDRs: []string{"127.0.0.1"}}})
	}
	cfg := &control.Config{Upstreams: map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}}, Tenants: tcs}
	if err := cfg.Normalize(); err != nil {
		b.Fatal(err)
	}
	reg := control.NewRegistry(cfg, quietLog())
	b.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), testenv.DirectURL())
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		for _, tc := range tcs {
			for _, tbl := range []string{"event_log", "attempts", "triggers"} {
				_, _ = c.Exec(context.Background(), "DELETE FROM kapok_events."+tbl+" WHERE tenant = $1", tc.Name)
			}
		}
	})

	var mu sync.Mutex
	// tenant/id → when the writer's commit returned, and when the receiver got the event
	// (which may come first: the dispatcher can beat the writer's bookkeeping).
	committed, received := map[string]time.Time{}, map[string]time.Time{}
	done := make(chan struct{}, 1)
	want := b.N
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		var p struct {
			Trigger struct{ Name string }
			Event   struct {
				Data struct {
					New struct{ ID int }
				}
			}
		}
		_ = json.Unmarshal(body, &p)
		w.WriteHeader(200)
		key := fmt.Sprintf("%s/%d", p.Trigger.Name, p.Event.Data.New.ID)
		mu.Lock()
		if _, dup := received[key]; !dup {
			received[key] = now
		}
		if len(received) == want {
			select {
			case done <- struct{}{}:
			default:
			}
		}
		mu.Unlock()
	}))
	defer rcv.Close()

	setup := New(Options{Registry: reg, Logger: quietLog()})
	for i, t := range reg.Tenants() {
		if _, err := setup.CreateTrigger(ctx, t, &TriggerDef{Name: fmt.Sprintf("t%02d", i), Table: TableRef{Name: "items"}, Insert: &OpSpec{},
			Delivery: Delivery{Webhook: rcv.URL}}); err != nil {
			b.Fatal(err)
		}
	}
	setup.Close()
	names := map[string]string{}
	for i, t := range reg.Tenants() {
		names[t.Name] = fmt.Sprintf("t%02d", i)
	}
	// The dispatcher runs in a process of its own, as Kapok does, so that its CPU time is
	// measured apart from the writer's and the receiver's.
	var pairs []string
	for _, tc := range tcs {
		pairs = append(pairs, tc.Name+"="+tc.Schemas[0])
	}
	helper := startHelper(b, pairs...)
	defer func() {
		if helper.ProcessState == nil {
			_ = helper.Process.Kill()
			_ = helper.Wait()
		}
	}()
	pool := testenv.Pool(b)
	list := reg.Tenants()

	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	const writers = 8
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < b.N; i += writers {
				due := start.Add(time.Duration(i) * time.Second / rate)
				time.Sleep(time.Until(due))
				t := list[i%tenants]
				if _, err := pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{t.Config.Schemas[0], "items"}.Sanitize()+" (id, name) VALUES ($1::int, 'x')", i); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				committed[fmt.Sprintf("%s/%d", names[t.Name], i)] = time.Now()
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	written := time.Since(start)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		mu.Lock()
		b.Fatalf("delivered %d of %d events", len(received), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	_ = helper.Process.Signal(syscall.SIGTERM)
	_ = helper.Wait()
	hu, _ := helper.ProcessState.SysUsage().(*syscall.Rusage)
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for k, at := range received {
		d := at.Sub(committed[k])
		if d < 0 {
			d = 0
		}
		lat = append(lat, d)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(b.N)/written.Seconds(), "writes/s")
	b.ReportMetric(float64(len(received))/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "writer+receiver-cpu-µs/event")
	if hu != nil {
		// The whole life of the dispatcher process, start-up included.
		d := time.Duration(hu.Utime.Nano() + hu.Stime.Nano())
		b.ReportMetric(float64(d.Microseconds())/float64(b.N), "dispatcher-cpu-µs/event")
	}
}
