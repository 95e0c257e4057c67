package difftest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // the oracle's zones, where the machine has no zoneinfo

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
	"github.com/kapok-dev/kapok/proxy"
)

// The seed of CI runs; KAPOK_DIFFTEST_SEED picks another one (or "random").
const defaultSeed = 20260601

const (
	defaultCases = 6000
	workers      = 8
	schemaName   = "difftest_fixture"
	tenantName   = "difftest"
)

// kapok is an in-process Kapok on an in-memory listener serving the fixture's tenant.
type kapok struct {
	c    *fasthttp.Client
	ln   *fasthttputil.InmemoryListener
	name string // the tenant's
	// bearer, when set, is the token every request carries (withBearer).
	bearer string
}

func (k *kapok) tenant() string { return k.name }

// authorize gives req k's bearer token, if it has one.
func (k *kapok) authorize(req *fasthttp.Request) {
	if k.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+k.bearer)
	}
}

// withBearer is k sending token with every request.
func (k *kapok) withBearer(token string) *kapok {
	c := *k
	c.bearer = token
	return &c
}

func startKapok(t *testing.T) *kapok { return startKapokPool(t, workers) }

// startKapokPool starts Kapok with a pool of conns connections: fewer than the requests in
// flight, and reads wait for a connection and share it (poolmgr's shared reads).
func startKapokPool(t *testing.T, conns int32) *kapok {
	return startKapokOn(t, tenantName, schemaName, conns)
}

// startKapokOn starts Kapok serving tenant over schema with a pool of conns connections.
func startKapokOn(t *testing.T, tenant, schema string, conns int32) *kapok {
	return startKapokFor(t, &control.TenantConfig{Name: tenant, Schemas: []string{schema}, Pool: control.PoolConfig{MaxConns: conns}})
}

// startKapokFor starts Kapok serving tc, whose reads may queue for a minute and cost
// anything.
func startKapokFor(t *testing.T, tc *control.TenantConfig) *kapok {
	t.Helper()
	tc.Pool.QueueTimeout = control.Duration(time.Minute)
	// Nested lists without limits are the point here, not the cost guard.
	tc.Limits = &control.Limits{MaxCost: math.MaxInt64 / 4}
	cfg := &control.Config{
		Upstreams: map[string]*control.Upstream{"dev": {URL: testenv.DirectURL(), Pooler: testenv.PoolerURL()}},
		Tenants:   []*control.TenantConfig{tc},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := control.NewRegistry(cfg, log)
	srv, err := proxy.New(proxy.Options{Config: cfg, Registry: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		reg.Close()
	})
	return &kapok{c: &fasthttp.Client{Dial: func(string) (net.Conn, error) { return ln.Dial() }, MaxConnsPerHost: 64}, ln: ln, name: tc.Name}
}

// get returns the body of a GET of path.
func (k *kapok) get(t *testing.T, path string) []byte {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://kapok.test" + path)
	if err := k.c.DoTimeout(req, resp, 30*time.Second); err != nil || resp.StatusCode() != 200 {
		t.Fatalf("GET %s: %v, status %d: %s", path, err, resp.StatusCode(), resp.Body())
	}
	return append([]byte(nil), resp.Body()...)
}

// ask sends req and returns Kapok's answer (GraphQL's data, REST's body), or an error that
// says what came back instead.
func (k *kapok) ask(req *Request) (any, error) {
	if !req.REST {
		return k.graphql(GraphQL(req))
	}
	_, path := REST(req)
	hreq, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(hreq)
	defer fasthttp.ReleaseResponse(resp)
	hreq.SetRequestURI("http://kapok.test/t/" + k.tenant() + "/rest/v1" + path)
	k.authorize(hreq)
	if rng := RangeHeader(req); rng != "" {
		hreq.Header.Set("Range", rng)
	}
	if p := PreferHeader(req); p != "" {
		hreq.Header.Set("Prefer", p)
	}
	if err := k.c.DoTimeout(hreq, resp, 30*time.Second); err != nil {
		return nil, err
	}
	if resp.StatusCode() != 200 {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
	}
	v, err := Decode(resp.Body())
	if err != nil {
		return nil, fmt.Errorf("not JSON (%v): %q", err, resp.Body())
	}
	return v, nil
}

// graphql posts a GraphQL request and returns its data, or an error that says what came
// back instead.
func (k *kapok) graphql(query string, vars map[string]any) (any, error) {
	hreq, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(hreq)
	defer fasthttp.ReleaseResponse(resp)
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	hreq.SetRequestURI("http://kapok.test/t/" + k.tenant() + "/v1/graphql")
	k.authorize(hreq)
	hreq.Header.SetMethod("POST")
	hreq.Header.SetContentType("application/json")
	hreq.SetBody(body)
	if err := k.c.DoTimeout(hreq, resp, 30*time.Second); err != nil {
		return nil, err
	}
	if resp.StatusCode() != 200 {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode(), resp.Body())
	}
	v, err := Decode(resp.Body())
	if err != nil {
		return nil, fmt.Errorf("not JSON (%v): %q", err, resp.Body())
	}
	m, _ := v.(map[string]any)
	if m == nil || m["errors"] != nil || m["data"] == nil {
		return nil, fmt.Errorf("no data: %s", resp.Body())
	}
	return m["data"], nil
}

// differs returns "" when ask answers req as the oracle does, else the first difference
// or what came back instead.
func differs(o *Oracle, ask func(*Request) (any, error), req *Request) string {
	got, err := ask(req)
	if err != nil {
		return err.Error()
	}
	return Diff(o.Answer(req), got)
}

func envInt(t *testing.T, name string, def uint64) uint64 {
	s := os.Getenv(name)
	switch s {
	case "":
		return def
	case "random":
		return rand.Uint64() % 1_000_000_000
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

// setup loads seed's fixture into its schema and starts Kapok on it.
func setup(t *testing.T, seed uint64) (*DB, *Oracle, *kapok) {
	t.Helper()
	testenv.FreshSchema(t, schemaName, FixtureDDL+";\n"+FixtureInserts(seed))
	db, err := Load(context.Background(), testenv.Conn(t), schemaName)
	if err != nil {
		t.Fatal(err)
	}
	return db, NewOracle(db), startKapok(t)
}

// caseRange is the cases to run: 0..cases-1, or the one KAPOK_DIFFTEST_CASE names.
func caseRange(t *testing.T, cases int) (first, last int) {
	s := os.Getenv("KAPOK_DIFFTEST_CASE")
	if s == "" {
		return 0, cases
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("KAPOK_DIFFTEST_CASE=%q: %v", s, err)
	}
	return n, n + 1
}

// openBugs lists the Kapok bugs the generator steers around until they are fixed; an
// empty Avoid{} is the goal. KAPOK_DIFFTEST_AVOID=none generates them anyway, to check a fix.
var openBugs = Avoid{}

func avoidedBugs() Avoid {
	if os.Getenv("KAPOK_DIFFTEST_AVOID") == "none" {
		return Avoid{}
	}
	return openBugs
}

// caseRequest draws case i of seed: even cases are GraphQL, odd ones REST.
func caseRequest(db *DB, seed uint64, i int, avoid Avoid) *Request {
	g := NewGenerator(db, rand.New(rand.NewPCG(seed, uint64(i))))
	g.Avoid = avoid
	if i%2 == 1 {
		return g.REST()
	}
	return g.GraphQL()
}

func describe(req *Request) string {
	if req.REST {
		readable, _ := REST(req)
		if rng := RangeHeader(req); rng != "" {
			readable += "\nRange: " + rng
		}
		if p := PreferHeader(req); p != "" {
			readable += "\nPrefer: " + p
		}
		return "GET /rest/v1" + readable
	}
	return describeDocument(GraphQL(req))
}

func describeDocument(q string, vars map[string]any) string {
	if vars != nil {
		b, _ := json.Marshal(vars)
		q += "\nvariables: " + string(b)
	}
	return q
}

// TestKapokAnswersAsTheOracle sends thousands of random GraphQL and REST reads to Kapok
// and checks each answer against the oracle's. KAPOK_DIFFTEST_SEED (a number or "random"),
// KAPOK_DIFFTEST_CASES and KAPOK_DIFFTEST_CASE (one case alone) reproduce a run.
func TestKapokAnswersAsTheOracle(t *testing.T) {
	seed := envInt(t, "KAPOK_DIFFTEST_SEED", defaultSeed)
	first, last := caseRange(t, int(envInt(t, "KAPOK_DIFFTEST_CASES", defaultCases)))
	avoid := avoidedBugs()
	t.Logf("seed %d, cases %d..%d (KAPOK_DIFFTEST_SEED=%d reproduces this run), steering around open bugs: %+v", seed, first, last-1, seed, avoid)
	db, oracle, k := setup(t, seed)

	var (
		mu       sync.Mutex
		failures []failure
		ran      atomic.Int64
		empty    atomic.Int64 // cases whose answer holds no row at all
		objects  atomic.Int64
		grouping atomic.Int64 // REST cases holding aggregates (at the root or in an embed)
	)
	start := time.Now()
	eachCase(first, last, workers, func(w, i int) {
		req := caseRequest(db, seed, i, avoid)
		ran.Add(1)
		if req.REST && hasAggregates(req.Roots[0]) {
			grouping.Add(1)
		}
		n := countObjects(oracle.Answer(req))
		objects.Add(int64(n))
		if n <= len(req.Roots) && !req.REST || n == 0 {
			empty.Add(1)
		}
		if msg := differs(oracle, k.ask, req); msg != "" {
			mu.Lock()
			failures = append(failures, failure{i, req, msg})
			mu.Unlock()
		}
	})
	t.Logf("%d cases in %v, %d failed; %d objects in the answers, %d answers without a row; %d REST cases with aggregates",
		ran.Load(), time.Since(start).Round(time.Millisecond), len(failures), objects.Load(), empty.Load(), grouping.Load())

	report(t, seed, failures, oracle, k.ask, describe)
}

// eachCase calls fn(w, i) for every case i in first..last-1 from n goroutines, w being
// the goroutine's index, and returns when all are done.
func eachCase(first, last, n int, fn func(w, i int)) {
	var next atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= last {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}

// failure is a case Kapok answers otherwise than the oracle.
type failure struct {
	i   int
	req *Request
	msg string
}

// report shrinks a few failures, and only one per kind of first difference, so that a
// single bug does not bury the others. ask is the path that failed: it returns Kapok's
// data for a request, or what came back instead; describe writes a request as sent.
func report(t *testing.T, seed uint64, failures []failure, oracle *Oracle, ask func(*Request) (any, error), describe func(*Request) string) {
	t.Helper()
	check := func(req *Request) string { return differs(oracle, ask, req) }
	const shown = 8
	seen := map[string]bool{}
	reported := 0
	for _, f := range failures {
		kind := failureKind(f.msg)
		if seen[kind] || reported == shown {
			continue
		}
		seen[kind] = true
		reported++
		small := Shrink(f.req, func(r *Request) bool { return check(r) != "" }, 400)
		got, err := ask(small)
		gotText := Show(got)
		if err != nil {
			gotText = err.Error()
		}
		t.Errorf("case %d of seed %d fails (KAPOK_DIFFTEST_SEED=%d KAPOK_DIFFTEST_CASE=%d):\n%s\nfirst difference: %s\n\nshrunk to:\n%s\nwant: %s\ngot:  %s\ndifference: %s",
			f.i, seed, seed, f.i, describe(f.req), f.msg, describe(small), Show(oracle.Answer(small)), gotText, check(small))
	}
	if len(failures) > reported {
		t.Errorf("%d more failing cases not shown", len(failures)-reported)
	}
}

// failureKind keeps the shape of a difference without its indexes and values.
func failureKind(msg string) string {
	var b strings.Builder
	skip := false
	for _, r := range msg {
		switch {
		case r == '[':
			skip = true
		case r == ']':
			skip = false
		case !skip && (r < '0' || r > '9'):
			b.WriteRune(r)
		}
	}
	s := b.String()
	if i := strings.Index(s, ": want"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

func countObjects(v any) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		n++
		for _, e := range x {
			n += countObjects(e)
		}
	case []any:
		for _, e := range x {
			n += countObjects(e)
		}
	case Unordered:
		n += countObjects([]any(x))
	}
	return n
}
