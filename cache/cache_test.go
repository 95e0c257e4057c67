package cache

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type plan struct {
	key []byte // what the caller compiled it for
	sql string
}

func newTestCache(t testing.TB, cfg Config) *Cache[*plan] {
	t.Helper()
	c, err := New[*plan](cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func compileFor(key []byte, calls *atomic.Int64) func() (*plan, int64, error) {
	k := bytes.Clone(key)
	return func() (*plan, int64, error) {
		if calls != nil {
			calls.Add(1)
		}
		return &plan{key: k, sql: "SELECT 1"}, 100, nil
	}
}

func TestGetOrCompile(t *testing.T) {
	c := newTestCache(t, Config{Metrics: true})
	var kb KeyBuilder
	var calls atomic.Int64

	t.Run("a miss compiles and stores, the next lookup hits", func(t *testing.T) {
		key := kb.Key("acme", "v1", "anon", "{ a }", "")
		p, hit, err := c.GetOrCompile(key, compileFor(key, &calls))
		if err != nil || hit || p == nil || calls.Load() != 1 {
			t.Fatalf("first: %v %v %v calls=%d", p, hit, err, calls.Load())
		}
		p2, hit, err := c.GetOrCompile(key, compileFor(key, &calls))
		if err != nil || !hit || p2 != p || calls.Load() != 1 {
			t.Fatalf("second: hit=%v same=%v err=%v calls=%d", hit, p2 == p, err, calls.Load())
		}
	})

	t.Run("errors are returned and not cached", func(t *testing.T) {
		key := kb.Key("acme", "v1", "anon", "{ broken }", "")
		boom := errors.New("validation failed")
		n := 0
		for range 3 {
			_, _, err := c.GetOrCompile(key, func() (*plan, int64, error) { n++; return nil, 0, boom })
			if !errors.Is(err, boom) {
				t.Fatalf("got %v", err)
			}
		}
		if n != 3 {
			t.Fatalf("compile ran %d times, want 3", n)
		}
	})

	t.Run("a panicking compile fails every waiter and is not cached", func(t *testing.T) {
		key := kb.Key("acme", "v1", "anon", "{ panics }", "")
		_, _, err := c.GetOrCompile(key, func() (*plan, int64, error) { panic("bug") })
		if !errors.Is(err, ErrPanicked) {
			t.Fatalf("got %v", err)
		}
		if _, ok := c.Get(key); ok {
			t.Fatal("a panicked compile was cached")
		}
	})

	t.Run("a schema version bump orphans the tenant's plans", func(t *testing.T) {
		old := bytes.Clone(kb.Key("acme", "v1", "anon", "{ a }", ""))
		if _, ok := c.Get(old); !ok {
			t.Fatal("setup: v1 plan missing")
		}
		before := calls.Load()
		key := kb.Key("acme", "v2", "anon", "{ a }", "")
		p, hit, err := c.GetOrCompile(key, compileFor(key, &calls))
		if err != nil || hit || calls.Load() != before+1 || !bytes.Equal(p.key, key) {
			t.Fatalf("v2 lookup reused the v1 plan: hit=%v err=%v", hit, err)
		}
	})

	t.Run("another tenant or role never shares a plan", func(t *testing.T) {
		for _, k := range [][]byte{
			kb.Key("other", "v1", "anon", "{ a }", ""),
			kb.Key("acme", "v1", "admin", "{ a }", ""),
			kb.Key("acme", "v1", "anon", "{ a }", "Op"),
		} {
			if _, ok := c.Get(k); ok {
				t.Fatalf("key %q hit", k)
			}
		}
	})

	s := c.Stats()
	if s.Hits == 0 || s.Misses == 0 || s.Compiles != 6 || s.CompileErrors != 4 {
		t.Fatalf("stats %+v", s)
	}
}

// TestHashCollisionIsAMiss forces every key onto the same ristretto hashes: the stored key
// must be compared, and a different key must miss rather than return the other plan.
func TestHashCollisionIsAMiss(t *testing.T) {
	c, err := newCache[*plan](Config{Metrics: true}, func([]byte) (uint64, uint64) { return 42, 42 })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var kb KeyBuilder
	a := bytes.Clone(kb.Key("tenant_a", "v1", "anon", "{ secrets }"))
	b := bytes.Clone(kb.Key("tenant_b", "v1", "anon", "{ secrets }"))
	c.Set(a, &plan{key: a}, 1)
	c.Wait()
	if p, ok := c.Get(a); !ok || !bytes.Equal(p.key, a) {
		t.Fatal("setup: tenant_a's plan missing")
	}
	if p, ok := c.Get(b); ok {
		t.Fatalf("tenant_b got tenant_a's plan %q", p.key)
	}
	p, hit, err := c.GetOrCompile(b, compileFor(b, nil))
	if err != nil || hit || !bytes.Equal(p.key, b) {
		t.Fatalf("GetOrCompile served the colliding plan: hit=%v %v", hit, err)
	}
	if s := c.Stats(); s.Collisions < 2 {
		t.Fatalf("collisions not counted: %+v", s)
	}
}

func TestOneCompilePerKeyUnderConcurrency(t *testing.T) {
	c := newTestCache(t, Config{})
	var kb KeyBuilder
	key := bytes.Clone(kb.Key("acme", "v1", "anon", "{ slow }"))
	var calls atomic.Int64
	compile := func() (*plan, int64, error) {
		calls.Add(1)
		time.Sleep(50 * time.Millisecond) // long enough for every goroutine to join the flight
		return &plan{key: key}, 10, nil
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	results := make([]*plan, 100)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := bytes.Clone(key) // each caller has its own buffer
			<-start
			p, _, err := c.GetOrCompile(k, compile)
			if err != nil {
				t.Error(err)
			}
			results[i] = p
		}()
	}
	close(start)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d compiles, want 1", n)
	}
	for _, p := range results {
		if p != results[0] {
			t.Fatal("callers got different plans")
		}
	}
}

func TestKeyBuilder(t *testing.T) {
	var kb KeyBuilder
	distinct := map[string]string{}
	for _, tc := range []struct {
		name                  string
		tenant, version, role string
		shape                 []string
	}{
		{"base", "t", "v", "r", []string{"ab", "c"}},
		{"parts split differently", "t", "v", "r", []string{"a", "bc"}},
		{"parts joined", "t", "v", "r", []string{"abc"}},
		{"tenant and version shifted", "t\x00v", "", "r", []string{"ab", "c"}},
		{"other role", "t", "v", "r2", []string{"ab", "c"}},
		{"other version", "t", "v2", "r", []string{"ab", "c"}},
	} {
		k := string(kb.Key(tc.tenant, tc.version, tc.role, tc.shape...))
		if other, dup := distinct[k]; dup {
			t.Fatalf("%s and %s build the same key", tc.name, other)
		}
		distinct[k] = tc.name
	}
	if !bytes.Equal(kb.Key("t", "v", "r", "q", "op"), kb.KeyBytes("t", "v", "r", []byte("q"), []byte("op"))) {
		t.Fatal("Key and KeyBytes disagree")
	}
	if !bytes.Equal(kb.Key("t", "v", "r", "q", "op"), AppendKey(nil, "t", "v", "r", ShapeHash("q", "op"))) {
		t.Fatal("Key and AppendKey(ShapeHash) disagree")
	}
}

func TestHitPathDoesNotAllocate(t *testing.T) {
	c := newTestCache(t, Config{Metrics: true})
	var kb KeyBuilder
	query := "query Q { customers(limit: 10) { id name orders { id total } } }"
	key := kb.Key("acme", "8f3a9c", "authenticated", query, "Q")
	if _, _, err := c.GetOrCompile(key, compileFor(key, nil)); err != nil {
		t.Fatal(err)
	}
	compile := compileFor(key, nil)
	allocs := testing.AllocsPerRun(1000, func() {
		k := kb.Key("acme", "8f3a9c", "authenticated", query, "Q")
		if _, hit, _ := c.GetOrCompile(k, compile); !hit {
			panic("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per key build + hit, want 0", allocs)
	}
}

func TestMetricsCollector(t *testing.T) {
	c := newTestCache(t, Config{Metrics: true})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	var kb KeyBuilder
	key := kb.Key("acme", "v1", "anon", "{ a }")
	_, _, _ = c.GetOrCompile(key, compileFor(key, nil))
	_, _, _ = c.GetOrCompile(key, compileFor(key, nil))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got[f.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	for name, want := range map[string]float64{
		"kapok_plan_cache_hits_total":      1,
		"kapok_plan_cache_compiles_total":  1,
		"kapok_plan_cache_compile_seconds": 1,
		"kapok_plan_cache_evictions_total": 0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	// Two misses: the first lookup, and the re-check inside the flight.
	if got["kapok_plan_cache_misses_total"] < 1 {
		t.Errorf("misses %v", got["kapok_plan_cache_misses_total"])
	}
}

func TestEvictionUnderCostBound(t *testing.T) {
	c := newTestCache(t, Config{MaxCost: 64 << 10, NumCounters: 10_000, Metrics: true})
	var kb KeyBuilder
	for i := range 2000 {
		key := kb.Key("acme", "v1", "anon", fmt.Sprint("{ q", i, " }"))
		if _, _, err := c.GetOrCompile(key, compileFor(key, nil)); err != nil {
			t.Fatal(err)
		}
	}
	c.Wait()
	if s := c.Stats(); s.Evictions == 0 && s.SetsRejected == 0 || s.CostBytes > 64<<10 {
		t.Fatalf("cost bound not enforced: %+v", s)
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := newTestCache(b, Config{Metrics: true})
	var kb KeyBuilder
	query := "query Q { customers(limit: 10) { id name orders { id total } } }"
	key := kb.Key("acme", "8f3a9c", "authenticated", query, "Q")
	_, _, _ = c.GetOrCompile(key, compileFor(key, nil))
	b.Run("key+get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.Get(kb.Key("acme", "8f3a9c", "authenticated", query, "Q")); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.Get(key); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("parallel key+get", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var kb KeyBuilder
			for pb.Next() {
				if _, ok := c.Get(kb.Key("acme", "8f3a9c", "authenticated", query, "Q")); !ok {
					b.Fatal("miss")
				}
			}
		})
	})
}

func TestClosingWhilePlansAreDroppedAndStored(t *testing.T) {
	// A catalog reload drops a tenant's plans while the server shuts down: neither may
	// send on the channels Close closes (go test -race).
	for range 20 {
		c, err := New[string](Config{MaxCost: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 200 {
					key := []byte{byte(i), byte(j)}
					c.Set(key, "plan", 1)
					c.Del(key)
					c.Wait()
				}
			}()
		}
		c.Close()
		wg.Wait()
		if _, ok := c.Get([]byte{0, 0}); ok {
			t.Fatal("a closed cache answered")
		}
	}
}
