package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
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

// privateBouncer is a PgBouncer of the test's own, in front of the dev stack's PostgreSQL,
// that the test may kill and restart (the shared one must never be touched).
type privateBouncer struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
	log  *strings.Builder
}

func startPrivateBouncer(t *testing.T) *privateBouncer {
	t.Helper()
	pg, err := url.Parse(testenv.DirectURL())
	if err != nil {
		t.Fatal(err)
	}
	// PgBouncer refuses to run as root: run it as postgres then, which must be able to read
	// its config, so the directory is not t.TempDir's private one.
	dir, err := os.MkdirTemp("", "kapok-fault-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
auth_user = postgres
auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename=$1
admin_users = postgres
pool_mode = transaction
max_client_conn = 200
default_pool_size = 8
ignore_startup_parameters = extra_float_digits,options
server_reset_query =
server_login_retry = 1
server_connect_timeout = 5
`, pg.Hostname(), pg.Port(), port, filepath.Join(dir, "userlist.txt"))
	for name, body := range map[string]string{"pgbouncer.ini": ini, "userlist.txt": `"postgres" ""` + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := &privateBouncer{t: t, dir: dir, port: port, log: &strings.Builder{}}
	b.start()
	t.Cleanup(func() { b.kill() })
	return b
}

// url is the PgBouncer's address for database db as user postgres.
func (b *privateBouncer) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.port, db)
}

func (b *privateBouncer) start() {
	b.t.Helper()
	cmd := exec.Command("pgbouncer", filepath.Join(b.dir, "pgbouncer.ini"))
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			b.t.Fatalf("PgBouncer cannot run as root and there is no user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("starting PgBouncer: %v", err)
	}
	b.cmd = cmd
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.port)); err == nil {
			_ = c.Close()
			return
		}
	}
	b.t.Fatalf("PgBouncer does not listen on %d:\n%s", b.port, b.log)
}

// kill ends PgBouncer at once, as a crash would: no client is told.
func (b *privateBouncer) kill() {
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	b.cmd = nil
}

// terminateServers ends, from PostgreSQL's side, every server connection of this PgBouncer
// (found by their backend pids in SHOW SERVERS): clients in a transaction get 57P01.
func (b *privateBouncer) terminateServers(ctx context.Context) (int, error) {
	admin, err := pgx.Connect(ctx, b.url("pgbouncer")+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		return 0, err
	}
	defer admin.Close(context.Background())
	rows, err := admin.Query(ctx, "SHOW SERVERS")
	if err != nil {
		return 0, err
	}
	var pids []int32
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return 0, err
		}
		for i, fd := range rows.FieldDescriptions() {
			if fd.Name == "remote_pid" {
				if n, err := strconv.Atoi(fmt.Sprint(vals[i])); err == nil && n > 0 {
					pids = append(pids, int32(n))
				}
			}
		}
	}
	rows.Close()
	if len(pids) == 0 {
		return 0, nil
	}
	direct := testenv.ConnTo(b.t, testenv.DirectURL())
	var n int
	err = direct.QueryRow(ctx, "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM unnest($1::int4[]) AS pid", pids).Scan(&n)
	return n, err
}

// answerKind sorts an answer under faults: exactly right, a well-formed retryable
// refusal, or anything else (a failure of the test).
func answerKind(api string, r response, want string) (string, bool) {
	if r.status == 200 {
		if r.body == want {
			return "ok", true
		}
		return "wrong 200", false
	}
	if r.status != 503 && r.status != 504 {
		return fmt.Sprintf("status %d", r.status), false
	}
	if r.header["Retry-After"] == "" {
		return fmt.Sprintf("%d without Retry-After", r.status), false
	}
	switch api {
	case "graphql":
		var b struct {
			Data   any
			Errors []struct {
				Message    string
				Extensions struct{ Code string }
			}
		}
		if json.Unmarshal([]byte(r.body), &b) != nil || b.Data != nil || len(b.Errors) != 1 ||
			b.Errors[0].Extensions.Code != gqlCodeUnavailable || b.Errors[0].Message == "" {
			return "malformed GraphQL refusal", false
		}
		msg, _, _ := strings.Cut(b.Errors[0].Message, ".")
		return fmt.Sprintf("refused %d %s", r.status, msg), true
	default:
		var b map[string]any
		if json.Unmarshal([]byte(r.body), &b) != nil || b["message"] == nil {
			return "malformed REST refusal", false
		}
		_, hasDetails := b["details"]
		_, hasHint := b["hint"]
		code, _ := b["code"].(string)
		want := map[string]int{"PGRST000": 503, "PGRST001": 503, "PGRST002": 503, "PGRST003": 504}
		if !hasDetails || !hasHint || want[code] != r.status {
			return "REST refusal with code " + code, false
		}
		return fmt.Sprintf("refused %d %s", r.status, code), true
	}
}

func TestAnswersUnderDatabaseFaultsAreRightOrRetryable(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_fault", tenantDDL+`INSERT INTO customers VALUES (1,'f-a'),(2,'f-b')`)
	bouncer := startPrivateBouncer(t)
	ts := startServer(t, &control.Config{
		Upstreams: map[string]*control.Upstream{"private": {URL: testenv.DirectURL(), Pooler: bouncer.url("kapok")}},
		Tenants: []*control.TenantConfig{{
			Name: "fault", Upstream: "private", Schemas: []string{"proxy_t_fault"},
			Pool:   control.PoolConfig{MaxConns: 4, QueueTimeout: control.Duration(time.Second)},
			Limits: &control.Limits{StatementTimeout: control.Duration(2 * time.Second)},
		}},
	})

	const (
		gqlQuery = `{ customers(order_by: {id: asc}) { id name } }`
		gqlWant  = `{"data":{"customers":[{"id":1,"name":"f-a"},{"id":2,"name":"f-b"}]}}`
		restPath = "/t/fault/rest/v1/customers?select=id,name&order=id"
		restWant = `[{"id":1,"name":"f-a"},{"id":2,"name":"f-b"}]`
	)
	gqlBody, _ := json.Marshal(map[string]string{"query": gqlQuery})
	ask := func(api string) response {
		if api == "graphql" {
			return ts.do("POST", "/t/fault/v1/graphql", string(gqlBody))
		}
		return ts.do("GET", restPath, "")
	}
	// The exact bytes of the right answers, checked once as JSON: under faults an answer
	// must be these bytes or a refusal.
	exact := map[string]string{}
	for api, want := range map[string]string{"graphql": gqlWant, "rest": restWant} {
		r := ask(api)
		if r.status != 200 {
			t.Fatalf("%s before any fault: %d %s", api, r.status, r.body)
		}
		jsonEq(t, r.body, want)
		exact[api] = r.body
	}

	type answer struct {
		at   time.Time
		api  string
		kind string
		ok   bool
		body string
	}
	var (
		mu      sync.Mutex
		answers []answer
		stop    atomic.Bool
		wg      sync.WaitGroup
	)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			api := "graphql"
			if i%2 == 1 {
				api = "rest"
			}
			want := exact[api]
			for !stop.Load() {
				r := ask(api)
				kind, ok := answerKind(api, r, want)
				mu.Lock()
				answers = append(answers, answer{at: time.Now(), api: api, kind: kind, ok: ok, body: r.body})
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	time.Sleep(700 * time.Millisecond)
	bouncer.kill() // a crash: every client connection drops, new ones are refused
	time.Sleep(700 * time.Millisecond)
	bouncer.start()
	time.Sleep(1500 * time.Millisecond)
	n, err := bouncer.terminateServers(ctx) // the server side ends: 57P01 to whoever is in a query
	if err != nil {
		t.Fatalf("terminating PgBouncer's server connections: %v", err)
	}
	lastFault := time.Now()
	time.Sleep(2500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	counts := map[string]int{}
	var bad []answer
	var recovered time.Time
	refused := 0
	for _, a := range answers {
		counts[a.api+" "+a.kind]++
		if strings.HasPrefix(a.kind, "refused") {
			refused++
		}
		if !a.ok {
			bad = append(bad, a)
		}
		if a.at.After(lastFault) && a.kind == "ok" && recovered.IsZero() {
			recovered = a.at
		}
	}
	t.Logf("%d answers, %d server connections terminated, first right answer %v after the last fault",
		len(answers), n, recovered.Sub(lastFault))
	for k, c := range counts {
		t.Logf("%6d × %s", c, k)
	}
	for i, a := range bad {
		if i == 10 {
			t.Errorf("… and %d more", len(bad)-10)
			break
		}
		t.Errorf("%s answered %s: %.300s", a.api, a.kind, a.body)
	}
	if refused == 0 {
		t.Error("no request was refused: the faults did not reach the requests")
	}
	if recovered.IsZero() || recovered.Sub(lastFault) > 2*time.Second {
		t.Errorf("no right answer within 2 s of the last fault (first at %v)", recovered.Sub(lastFault))
	}
	// Once recovered, every answer is right again.
	for _, a := range answers {
		if a.at.After(lastFault.Add(time.Second)) && a.kind != "ok" {
			t.Errorf("%s still answers %s %v after the last fault: %.200s", a.api, a.kind, a.at.Sub(lastFault), a.body)
			break
		}
	}
	if t.Failed() {
		t.Logf("PgBouncer's log:\n%s", bouncer.log)
	}
}

func TestAPoolWaitThatTimesOutIsAnsweredWithABody(t *testing.T) {
	testenv.FreshSchema(t, "proxy_t_poolwait", tenantDDL+`INSERT INTO customers VALUES (1,'w-a');
CREATE FUNCTION hold() RETURNS int LANGUAGE sql AS 'SELECT 1 FROM pg_sleep(1.5)';`)
	ts := startServer(t, &control.Config{Tenants: []*control.TenantConfig{{
		Name: "wait", Schemas: []string{"proxy_t_poolwait"},
		Pool: control.PoolConfig{MaxConns: 1, MaxInFlight: 10, QueueTimeout: control.Duration(200 * time.Millisecond)},
	}}})
	held := make(chan response, 1)
	go func() { held <- ts.do("POST", "/t/wait/rest/v1/rpc/hold", `{}`) }()
	time.Sleep(300 * time.Millisecond) // the one connection is now busy for over a second

	cases := []struct {
		name, api string
		do        func() response
	}{
		{"GraphQL answers 504 with an error body, not an empty 200", "graphql", func() response {
			return ts.gql("/t/wait/v1/graphql", "{ customers { name } }", nil)
		}},
		{"REST answers 504 PGRST003", "rest", func() response { return ts.do("GET", "/t/wait/rest/v1/customers", "") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.do()
			if kind, ok := answerKind(c.api, r, ""); !ok || r.status != 504 {
				t.Fatalf("got %s: %d %q", kind, r.status, r.body)
			}
		})
	}
	if r := <-held; r.status != 200 {
		t.Fatalf("the request holding the connection: %d %s", r.status, r.body)
	}
}
