package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// serveArgsEnv carries `kapok serve`'s arguments to this test binary re-executed as Kapok:
// the drain is tested through the real signal path, in a process that receives SIGTERM.
const serveArgsEnv = "KAPOK_TEST_SERVE_ARGS"

const drainKey = "drain-t-admin-key"

// drainedProcess is a `kapok serve` process started by startServe.
type drainedProcess struct {
	cmd        *exec.Cmd
	stderr     *syncBuffer
	http, wire string
	done       chan error
}

// startServe runs `kapok serve` with extra flags on a config serving tenant drain-t, and
// waits until it answers /readyz.
func startServe(t *testing.T, extra ...string) *drainedProcess {
	t.Helper()
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	p := &drainedProcess{http: free(), wire: free(), stderr: &syncBuffer{}, done: make(chan error, 1)}
	config := filepath.Join(t.TempDir(), "kapok.yaml")
	writeFiles(t, filepath.Dir(config), map[string]string{"kapok.yaml": fmt.Sprintf(`listen: %s
wire_listen: %s
admin_key: %s
upstreams:
  dev: {url: '%s', pooler: '%s'}
events: {disabled: true}
tenants:
  - {name: drain-t, upstream: dev, schemas: [drain_t]}
`, p.http, p.wire, drainKey, testenv.DirectURL(), testenv.PoolerURL())})
	args := append([]string{"serve", "--config", config}, extra...)
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestServeDrainsOnSIGTERM$")
	p.cmd.Env = append(os.Environ(), serveArgsEnv+"="+strings.Join(args, "\x1f"))
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	waitFor(t, func() (bool, string) {
		code, body := get("http://" + p.http + "/readyz")
		return code == 200, body + p.stderr.String()
	})
	return p
}

// exit waits for the process to end and returns its exit code.
func (p *drainedProcess) exit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("kapok serve still runs %s after SIGTERM; stderr:\n%s", within, p.stderr)
		return -1
	}
}

// openTransaction connects to the wire port and leaves a transaction open.
func (p *drainedProcess) openTransaction(t *testing.T) *pgconn.PgConn {
	t.Helper()
	host, port, _ := net.SplitHostPort(p.wire)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, fmt.Sprintf("host=%s port=%s user=token.drain-t password=%s sslmode=disable", host, port, drainKey))
	if err != nil {
		t.Fatalf("connect to the wire port: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, "BEGIN; SELECT 1").ReadAll(); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestServeDrainsOnSIGTERM(t *testing.T) {
	if args := os.Getenv(serveArgsEnv); args != "" {
		os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
	}
	// The view sleeps, so a request for it is in flight for that long.
	testenv.FreshSchema(t, "drain_t", "CREATE TABLE t (id int); CREATE VIEW slow AS SELECT 'slept' AS what FROM pg_sleep(1.5)")

	t.Run("an in-flight request and an open wire transaction finish, new connections are refused, and kapok exits 0", func(t *testing.T) {
		p := startServe(t)
		conn := p.openTransaction(t)
		type answer struct {
			code int
			body string
		}
		slow := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequest("GET", "http://"+p.http+"/t/drain-t/rest/v1/slow?select=what", nil)
			req.Header.Set("apikey", drainKey)
			code, body := do(req)
			slow <- answer{code, body}
		}()
		waitFor(t, func() (bool, string) {
			// The request is in flight once PostgreSQL runs its statement.
			var n int
			err := testenv.Conn(t).QueryRow(context.Background(),
				`SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%drain_t%slow%' AND pid <> pg_backend_pid()`).Scan(&n)
			return err == nil && n > 0, fmt.Sprint(n, err)
		})
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() (bool, string) {
			c, err := net.DialTimeout("tcp", p.http, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil, "the HTTP port still accepts connections"
		})
		if _, err := net.DialTimeout("tcp", p.wire, time.Second); err == nil {
			t.Error("the wire port accepts connections while draining")
		}
		if a := <-slow; a.code != 200 || !strings.Contains(a.body, `"what":"slept"`) {
			t.Errorf("the request in flight at SIGTERM got %d %s", a.code, a.body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "SELECT 2; COMMIT").ReadAll(); err != nil {
			t.Errorf("the wire transaction open at SIGTERM could not finish: %v", err)
		}
		if code := p.exit(t, 15*time.Second); code != 0 {
			t.Errorf("exit code %d; stderr:\n%s", code, p.stderr)
		}
		if _, err := conn.Exec(ctx, "SELECT 3").ReadAll(); err == nil {
			t.Error("the wire session outlived its transaction and the process")
		}
		if !strings.Contains(p.stderr.String(), "shutting down: draining") {
			t.Errorf("no drain logged:\n%s", p.stderr)
		}
	})

	t.Run("--drain-timeout bounds the wait for a transaction that does not end", func(t *testing.T) {
		p := startServe(t, "--drain-timeout", "500ms")
		conn := p.openTransaction(t)
		start := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code := p.exit(t, 15*time.Second)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("kapok exited %s after SIGTERM with a 500ms drain", d)
		}
		if code != 1 || !strings.Contains(p.stderr.String(), "--drain-timeout") {
			t.Errorf("exit code %d, want 1 with the drain named; stderr:\n%s", code, p.stderr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "SELECT 2").ReadAll(); err == nil {
			t.Error("the wire session outlived the drain")
		}
	})
}

func do(req *http.Request) (int, string) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
