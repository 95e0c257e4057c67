package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/testenv"
)

// replicaAdminKey is the admin key of the three processes of TestThreeReplicas….
const replicaAdminKey = "replicas-t-admin-key"

// A change made through one replica must be served by the others within this long: the
// 95th percentile of a series of changes, and every single one within twice that, since
// `make test` runs this beside other packages, under the race detector, on two cores,
// where a replica may wait for the CPU for a few hundred milliseconds.
const propagationLimit = time.Second

// TestThreeReplicasServeEveryChangeWithinASecond runs three `kapok serve` processes, as
// three pods would run, on the dev stack's database. Each holds its own LISTEN sessions, so
// every change below crosses PostgreSQL's NOTIFY to reach the two replicas it was not made
// on. Replica B reaches PostgreSQL directly through a relay the test controls, so that its
// listeners can be cut and kept from reconnecting for as long as the test says.
func TestThreeReplicasServeEveryChangeWithinASecond(t *testing.T) {
	prefix := fmt.Sprintf("replicas-t-%d", os.Getpid())
	var names []string // every tenant the test may have left behind
	// Registered first, so it runs after the replicas stopped.
	t.Cleanup(func() { dropReplicaTenants(names) })
	bin := kapokBinary(t)
	// The config file must name a tenant; it serves a schema of its own.
	fileTenant := prefix + "-file"
	names = append(names, fileTenant)
	testenv.FreshSchema(t, schemaOf(fileTenant), "CREATE TABLE t (id int PRIMARY KEY)")

	relay := newRelay(t, hostPort(t, testenv.DirectURL()))
	a := startReplica(t, bin, "a", testenv.DirectURL(), fileTenant)
	b := startReplica(t, bin, "b", withHostPort(t, testenv.DirectURL(), relay.addr()), fileTenant)
	c := startReplica(t, bin, "c", testenv.DirectURL(), fileTenant)
	var wg sync.WaitGroup
	for _, r := range []*replica{a, b, c} {
		wg.Go(func() { r.waitReady(t) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	others := []*replica{b, c}

	t.Run("a tenant created or deleted through one replica is served or gone everywhere", func(t *testing.T) {
		var created, deleted []time.Duration
		for i := range 20 {
			name := fmt.Sprintf("%s-n%d", prefix, i)
			names = append(names, name)
			a.admin(t, "POST", "/tenants", `{"name":"`+name+`"}`, 201)
			created = append(created, propagation(t, others, "tenant created", func(r *replica) (bool, string) {
				code, body := r.rest("GET", name, "/rest/v1/todos?select=id&order=id", "")
				return code == 200 && body == `[{"id":1},{"id":2}]`, body
			}))
			a.admin(t, "DELETE", "/tenants/"+name+"?confirm="+name, "", 200)
			deleted = append(deleted, propagation(t, others, "tenant deleted", func(r *replica) (bool, string) {
				code, body := r.rest("GET", name, "/rest/v1/todos?select=id", "")
				return code == 404, body
			}))
		}
		logFigures(t, "tenant create", created)
		logFigures(t, "tenant delete", deleted)
	})

	shared := prefix + "-shared"
	names = append(names, shared)
	a.admin(t, "POST", "/tenants", `{"name":"`+shared+`","auth":{"jwt_secret":"`+secret(0)+`"}}`, 201)
	propagation(t, others, "tenant created", func(r *replica) (bool, string) {
		code, body := r.rest("GET", shared, "/rest/v1/todos?select=id&id=eq.1", "")
		return code == 200, body
	})

	t.Run("a migration applied through one replica is queryable on all", func(t *testing.T) {
		var d []time.Duration
		for i := range 20 {
			table := fmt.Sprintf("notes_%d", i)
			a.admin(t, "POST", "/tenants/"+shared+"/migrations", migration("create_"+table,
				"CREATE TABLE "+table+" (id int PRIMARY KEY, body text); INSERT INTO "+table+" VALUES (1, 'n')"), 201)
			d = append(d, propagation(t, others, "table "+table, func(r *replica) (bool, string) {
				code, body := r.rest("GET", shared, "/rest/v1/"+table+"?select=id,body", "")
				return code == 200 && body == `[{"id":1,"body":"n"}]`, body
			}))
		}
		logFigures(t, "migration (new table)", d)
	})

	t.Run("a key rotated through one replica is refused, and the new one taken, on all", func(t *testing.T) {
		old := a.serviceKey(t, shared)
		var d []time.Duration
		for i := 1; i <= 20; i++ {
			a.admin(t, "PATCH", "/tenants/"+shared, `{"auth":{"jwt_secret":"`+secret(i)+`"}}`, 200)
			key := a.serviceKey(t, shared)
			if key == old {
				t.Fatal("the service_role key did not change with the tenant's secret")
			}
			d = append(d, propagation(t, others, "key rotation", func(r *replica) (bool, string) {
				oldCode, oldBody := r.rest("GET", shared, "/rest/v1/todos?select=id&id=eq.1", old)
				newCode, newBody := r.rest("GET", shared, "/rest/v1/todos?select=id&id=eq.1", key)
				return oldCode == 401 && newCode == 200, fmt.Sprintf("old key: %d %s; new key: %d %s", oldCode, oldBody, newCode, newBody)
			}))
			old = key
		}
		logFigures(t, "key rotation", d)
	})

	t.Run("a plan cached before a migration returns the new shape after it", func(t *testing.T) {
		const path = "/rest/v1/todos?select=*&id=eq.1"
		before := b.planCache(t, shared)
		var first string
		for range 2 {
			code, body := b.rest("GET", shared, path, "")
			if code != 200 || !strings.Contains(body, `"title":"Read the API documentation"`) || strings.Contains(body, "priority") {
				t.Fatalf("before the migration: %d %s", code, body)
			}
			first = body
		}
		if after := b.planCache(t, shared); after.Hits <= before.Hits {
			t.Fatalf("the second request was not served from the plan cache: %+v then %+v", before, after)
		}
		a.admin(t, "POST", "/tenants/"+shared+"/migrations", migration("todos_priority", "ALTER TABLE todos ADD COLUMN priority int NOT NULL DEFAULT 3"), 201)
		d := propagation(t, []*replica{b}, "new shape", func(r *replica) (bool, string) {
			code, body := r.rest("GET", shared, path, "")
			return code == 200 && strings.Contains(body, `"priority":3`) && strings.Contains(body, `"title":"Read the API documentation"`), body
		})
		t.Logf("B answered the cached request %s with the new column %s after the migration", first, d.Round(time.Millisecond))
	})

	t.Run("a replica whose listeners were cut serves what changed meanwhile once they reconnect", func(t *testing.T) {
		// New sessions from B fail from now on, as across a partition; the ones open stay.
		relay.refuse(true)
		defer relay.refuse(false)
		cut := b.terminateListeners(t)
		if !slices.Contains(cut, control.SchemaListener) || !slices.Contains(cut, control.TenantsListener) {
			t.Fatalf("terminated %v, want B's schema and tenant listeners", cut)
		}
		late := prefix + "-late"
		names = append(names, late)
		a.admin(t, "POST", "/tenants/"+shared+"/migrations", migration("todos_cut", "ALTER TABLE todos ADD COLUMN cut int NOT NULL DEFAULT 7"), 201)
		a.admin(t, "POST", "/tenants", `{"name":"`+late+`"}`, 201)
		newColumn := func(r *replica) (bool, string) {
			code, body := r.rest("GET", shared, "/rest/v1/todos?select=id,cut&id=eq.1", "")
			return code == 200 && body == `[{"id":1,"cut":7}]`, body
		}
		newTenant := func(r *replica) (bool, string) {
			code, body := r.rest("GET", late, "/rest/v1/todos?select=id&id=eq.1", "")
			return code == 200 && body == `[{"id":1}]`, body
		}
		propagation(t, []*replica{c}, "a column added while B is cut off", newColumn)
		propagation(t, []*replica{c}, "a tenant created while B is cut off", newTenant)
		// The notifications are gone for B: it must still serve the old schema, or the cut
		// proved nothing.
		time.Sleep(300 * time.Millisecond)
		if ok, body := newColumn(b); ok {
			t.Fatalf("B serves the new column while its listeners are down: %s", body)
		}
		if ok, body := newTenant(b); ok {
			t.Fatalf("B serves the new tenant while its listeners are down: %s", body)
		}
		relay.refuse(false)
		resumed := time.Now()
		// Each within the reconnection backoff (up to 1.6s after a second of failures) and
		// a load.
		checks := []struct {
			what, listener string
			ok             func(*replica) (bool, string)
			took           time.Duration
		}{{"the new column", control.SchemaListener, newColumn, 0}, {"the new tenant", control.TenantsListener, newTenant, 0}}
		var wg sync.WaitGroup
		for i := range checks {
			wg.Go(func() { checks[i].took = waitServed(b, checks[i].ok, 5*time.Second) })
		}
		wg.Wait()
		// From a listener's new session to serving: what the reconnect itself costs, a
		// reload of the database's tenants (or the first load of a new one) behind the
		// loads already queued for that database; twice the propagation limit, as the
		// replica has more to catch up with than one change.
		back := b.listenersStarted(t)
		for _, check := range checks {
			if check.took < 0 {
				_, body := check.ok(b)
				t.Fatalf("B does not serve %s 5s after its listeners could reconnect: %s\n%s", check.what, body, b.logTail())
			}
			at, ok := back[check.listener]
			if !ok {
				t.Fatalf("B's %s is not back: %v", check.listener, back)
			}
			lag := resumed.Add(check.took).Sub(at)
			if lag > 2*propagationLimit {
				t.Errorf("B served %s %s after its %s reconnected (limit %s)", check.what, lag, check.listener, 2*propagationLimit)
			}
			t.Logf("B served %s, changed while it was cut off, %s after it could reconnect and %s after its %s did",
				check.what, check.took.Round(time.Millisecond), lag.Round(time.Millisecond), check.listener)
		}
	})

	for _, r := range []*replica{a, b, c} {
		r.stop(t)
	}
}

// replica is one `kapok serve` process.
type replica struct {
	name, base string
	cmd        *exec.Cmd
	log        *lockedBuffer
	exited     chan error
	client     *http.Client
}

// startReplica starts `kapok serve` with a config of its own on a free port. direct is
// its upstream's direct URL; requests go through the dev stack's PgBouncer.
func startReplica(t *testing.T, bin, name, direct, fileTenant string) *replica {
	t.Helper()
	dir := t.TempDir()
	listen := freePort(t)
	config := fmt.Sprintf(`listen: %s
admin_key: %s
log_level: info
upstreams:
  dev:
    url: %s
    pooler: %s
    exec_mode: cache_describe
wire:
  disabled: true
events:
  disabled: true
tenants:
  - name: %s
    upstream: dev
    schemas: [%s]
`, listen, replicaAdminKey, direct, testenv.PoolerURL(), fileTenant, schemaOf(fileTenant))
	path := filepath.Join(dir, "kapok.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, base: "http://" + listen, log: &lockedBuffer{}, exited: make(chan error, 1),
		client: &http.Client{Timeout: 5 * time.Second}}
	r.cmd = exec.Command(bin, "serve", "--config", path)
	r.cmd.Dir = dir
	// The file decides everything: no KAPOK_* variable of the caller's may override it.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAPOK_") {
			r.cmd.Env = append(r.cmd.Env, kv)
		}
	}
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exited <- r.cmd.Wait() }()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			<-r.exited
		}
		if t.Failed() {
			t.Logf("replica %s's log:\n%s", r.name, r.logTail())
		}
	})
	return r
}

// waitReady waits until the replica answers /readyz with 200. It may run on a goroutine
// of its own: it only reports errors.
func (r *replica) waitReady(t *testing.T) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-r.exited:
			r.exited <- err
			t.Errorf("replica %s exited before it was ready: %v\n%s", r.name, err, r.logTail())
			return
		default:
		}
		resp, err := r.client.Get(r.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("replica %s not ready after 60s\n%s", r.name, r.logTail())
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the process as Kubernetes would (SIGTERM) and expects a clean exit.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.exited:
		if err != nil {
			t.Errorf("replica %s: %v after SIGTERM\n%s", r.name, err, r.logTail())
		}
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		t.Errorf("replica %s did not stop within 30s of SIGTERM", r.name)
	}
}

func (r *replica) logTail() string {
	s := r.log.String()
	if len(s) > 6000 {
		s = "…" + s[len(s)-6000:]
	}
	return s
}

// send makes one HTTP request; a transport error is status 0 with the error as body.
func (r *replica) send(method, path, body string, header map[string]string) (int, string) {
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rest sends a request to tenant, with bearer as its key, or else the admin key.
func (r *replica) rest(method, tenant, path, bearer string) (int, string) {
	h := map[string]string{"X-Kapok-Tenant": tenant}
	if bearer != "" {
		h["Authorization"] = "Bearer " + bearer
	} else {
		h["X-Kapok-Admin-Key"] = replicaAdminKey
	}
	return r.send(method, path, "", h)
}

// admin calls the admin API and fails the test unless it answers want.
func (r *replica) admin(t *testing.T, method, path, body string, want int) string {
	t.Helper()
	code, out := r.send(method, "/admin/v1"+path, body, map[string]string{"X-Kapok-Admin-Key": replicaAdminKey})
	if code != want {
		t.Fatalf("%s %s on replica %s: %d %s (want %d)", method, path, r.name, code, out, want)
	}
	return out
}

func (r *replica) serviceKey(t *testing.T, tenant string) string {
	t.Helper()
	var k control.TenantKeys
	if err := json.Unmarshal([]byte(r.admin(t, "GET", "/tenants/"+tenant+"/keys", "", 200)), &k); err != nil || k.ServiceRole == "" {
		t.Fatalf("keys of %s: %v %+v", tenant, err, k)
	}
	return k.ServiceRole
}

type planCacheStats struct{ Hits, Misses, Compiles uint64 }

func (r *replica) planCache(t *testing.T, tenant string) planCacheStats {
	t.Helper()
	var s struct {
		PlanCache planCacheStats `json:"plan_cache"`
	}
	if err := json.Unmarshal([]byte(r.admin(t, "GET", "/tenants/"+tenant+"/stats", "", 200)), &s); err != nil {
		t.Fatal(err)
	}
	return s.PlanCache
}

// listenerPattern matches the application_name of the replica's LISTEN sessions
// (kind@host:pid).
func (r *replica) listenerPattern() string {
	return fmt.Sprintf("^(%s|%s)@.*:%d$", regexp.QuoteMeta(control.SchemaListener), regexp.QuoteMeta(control.TenantsListener), r.cmd.Process.Pid)
}

// terminateListeners ends the replica's LISTEN sessions and returns their kinds.
func (r *replica) terminateListeners(t *testing.T) []string {
	t.Helper()
	// The select list runs only on the rows the WHERE kept: no other session is touched.
	rows, err := testenv.Conn(t).Query(context.Background(), `SELECT kind FROM (
  SELECT split_part(application_name, '@', 1) AS kind, pg_terminate_backend(pid, 5000) AS ended
  FROM pg_stat_activity WHERE application_name ~ $1) s WHERE ended`, r.listenerPattern())
	if err != nil {
		t.Fatal(err)
	}
	kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return kinds
}

// listenersStarted returns when each of the replica's LISTEN sessions started, by kind.
func (r *replica) listenersStarted(t *testing.T) map[string]time.Time {
	t.Helper()
	rows, err := testenv.Conn(t).Query(context.Background(), `SELECT split_part(application_name, '@', 1), backend_start
  FROM pg_stat_activity WHERE application_name ~ $1`, r.listenerPattern())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for rows.Next() {
		var kind string
		var at time.Time
		if err := rows.Scan(&kind, &at); err != nil {
			t.Fatal(err)
		}
		out[kind] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// propagation waits until every replica serves a change (ok holds), polling every 10 ms,
// and returns the time until the last one did. It fails the test beyond twice propagationLimit.
func propagation(t *testing.T, replicas []*replica, what string, ok func(*replica) (bool, string)) time.Duration {
	t.Helper()
	took := make([]time.Duration, len(replicas))
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Go(func() { took[i] = waitServed(r, ok, 5*time.Second) })
	}
	wg.Wait()
	var worst time.Duration
	for i, d := range took {
		r := replicas[i]
		if d < 0 {
			_, last := ok(r)
			t.Fatalf("%s: replica %s does not serve it 5s later; last answer: %s\n%s", what, r.name, last, r.logTail())
		}
		if d > 2*propagationLimit {
			t.Errorf("%s: replica %s served it after %s (limit %s)", what, r.name, d, 2*propagationLimit)
		}
		worst = max(worst, d)
	}
	return worst
}

// waitServed polls r every 10 ms until ok holds and returns how long that took, or -1
// after limit.
func waitServed(r *replica, ok func(*replica) (bool, string), limit time.Duration) time.Duration {
	start := time.Now()
	for {
		if done, _ := ok(r); done {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			return -1
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logFigures reports the p50, p95 and p99 of a change's propagation (nearest rank) and
// fails the test when the p95 is over propagationLimit.
func logFigures(t *testing.T, kind string, d []time.Duration) {
	t.Helper()
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		return s[int(math.Ceil(p/100*float64(len(s))))-1]
	}
	t.Logf("propagation of %s to the two other replicas over %d changes: p50 %s, p95 %s, p99 %s, max %s",
		kind, len(s), rank(50).Round(time.Millisecond), rank(95).Round(time.Millisecond), rank(99).Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
	if p95 := rank(95); p95 > propagationLimit {
		t.Errorf("%s: p95 of its propagation is %s (limit %s)", kind, p95, propagationLimit)
	}
}

func migration(name, up string) string {
	b, _ := json.Marshal(control.Migration{Name: name, Up: up})
	return string(b)
}

func secret(i int) string {
	return fmt.Sprintf("replicas-t-secret-%02d-%s", i, strings.Repeat("s", 24))
}

func schemaOf(tenant string) string { return strings.ReplaceAll(tenant, "-", "_") }

// dropReplicaTenants removes what the test's tenants may have left: rows, schemas, roles.
func dropReplicaTenants(names []string) {
	for _, name := range names {
		testenv.DropTenant(name, control.TenantRole(name))
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func withHostPort(t *testing.T, raw, hostport string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = hostport
	return u.String()
}

// relay forwards TCP connections to target. While refusing, it closes new connections at
// once, as a network partition between a replica and its database would fail them, and
// leaves the open ones alone.
type relay struct {
	ln       net.Listener
	target   string
	refusing atomic.Bool
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &relay{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go rl.serve()
	t.Cleanup(rl.close)
	return rl
}

func (rl *relay) addr() string   { return rl.ln.Addr().String() }
func (rl *relay) refuse(on bool) { rl.refusing.Store(on) }

func (rl *relay) serve() {
	for {
		in, err := rl.ln.Accept()
		if err != nil {
			return
		}
		if rl.refusing.Load() {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", rl.target)
		if err != nil {
			in.Close()
			continue
		}
		rl.track(in, out)
		go rl.pipe(in, out)
		go rl.pipe(out, in)
	}
}

func (rl *relay) track(cs ...net.Conn) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for _, c := range cs {
		rl.conns[c] = true
	}
}

func (rl *relay) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
	rl.mu.Lock()
	delete(rl.conns, dst)
	delete(rl.conns, src)
	rl.mu.Unlock()
}

func (rl *relay) close() {
	rl.ln.Close()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for c := range rl.conns {
		c.Close()
	}
}

// lockedBuffer collects a process's output for the test's log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
