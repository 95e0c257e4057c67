package devstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// --- PostgreSQL ---

// initCluster runs initdb and appends our settings to postgresql.conf.
func initCluster(ctx context.Context, r runner, b binaries, l layout) error {
	args := []string{"-D", l.dataDir(), "-U", superuser, "--auth=trust", "-E", "UTF8"}
	if _, err := r.run(ctx, b.initdb(), append(args, "--locale=C.UTF-8")...); err != nil {
		// C.UTF-8 is missing on some older systems; the C locale works everywhere.
		_ = os.RemoveAll(l.dataDir())
		if _, err := r.run(ctx, b.initdb(), append(args, "--no-locale")...); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(filepath.Join(l.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(postgresSettings(l.pgPort)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// postgresPID returns the postmaster's pid from postmaster.pid when that process is alive,
// else 0 (what pg_ctl status checks, without starting a process as the service user). A
// stale pidfile whose pid now belongs to another cluster's postmaster is told apart by the
// process's working directory (a postmaster works in its data directory), where we may read it.
func postgresPID(l layout) int {
	pid := livePID(filepath.Join(l.dataDir(), "postmaster.pid"), "postgres")
	if pid == 0 {
		return 0
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && cwd != l.dataDir() {
		return 0
	}
	return pid
}

// livePID reads the pid on the first line of pidfile and returns it when a process named
// comm runs with it, else 0.
func livePID(pidfile, comm string) int {
	data, err := os.ReadFile(pidfile)
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	name, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(name)) != comm {
		return 0
	}
	return pid
}

func startPostgres(ctx context.Context, r runner, b binaries, l layout) error {
	_, err := r.run(ctx, b.pgctl(), "start", "-D", l.dataDir(), "-l", l.pgLog(), "-w", "-t", "120")
	if err != nil {
		return fmt.Errorf("starting PostgreSQL (log: %s): %w%s", l.pgLog(), err, logTail(l.pgLog()))
	}
	return nil
}

func stopPostgres(ctx context.Context, r runner, b binaries, l layout) error {
	if postgresPID(l) == 0 {
		return nil
	}
	_, err := r.run(ctx, b.pgctl(), "stop", "-D", l.dataDir(), "-m", "fast", "-w", "-t", "60")
	return err
}

// pgAnswers connects to addr (the postgres database) and runs a query.
func pgAnswers(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, "SELECT 1").ReadAll()
	return err
}

// waitAnswers polls url until it answers or the time is up.
func waitAnswers(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := pgAnswers(ctx, url)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dataDirAt asks the PostgreSQL on port which data directory it serves ("" when none answers).
func dataDirAt(ctx context.Context, l layout) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, l.directURL("postgres"))
	if err != nil {
		return ""
	}
	defer c.Close(context.Background())
	res, err := c.Exec(ctx, "SHOW data_directory").ReadAll()
	if err != nil || len(res) == 0 || len(res[0].Rows) == 0 {
		return ""
	}
	return string(res[0].Rows[0][0])
}

// --- PgBouncer ---

// poolerPID returns PgBouncer's pid from its pidfile when that process is alive, else 0.
func poolerPID(l layout) int { return livePID(l.poolerPID(), "pgbouncer") }

func startPgBouncer(ctx context.Context, r runner, b binaries, l layout) error {
	_ = os.Remove(l.poolerPID()) // stale: poolerPID said it is not running
	// Raise the open-files limit to the hard limit: max_client_conn needs more than 1024.
	_, err := r.run(ctx, "sh", "-c", `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`, b.pgbouncer, "-d", l.iniPath())
	if err != nil {
		return fmt.Errorf("starting PgBouncer (log: %s): %w%s", l.poolerLog(), err, logTail(l.poolerLog()))
	}
	return nil
}

// stopPgBouncer asks for a safe shutdown (SIGINT: let transactions finish), then insists.
func stopPgBouncer(l layout) error {
	pid := poolerPID(l)
	if pid == 0 {
		return nil
	}
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, 10 * time.Second}, {syscall.SIGTERM, 5 * time.Second}, {syscall.SIGKILL, 2 * time.Second}} {
		if err := syscall.Kill(pid, step.sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return fmt.Errorf("stopping PgBouncer (pid %d): %w", pid, err)
		}
		for deadline := time.Now().Add(step.wait); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if poolerPID(l) == 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("PgBouncer (pid %d) did not stop", pid)
}

// reloadPgBouncer makes a running PgBouncer re-read its config through the admin console.
func reloadPgBouncer(ctx context.Context, l layout) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, l.poolerURL("pgbouncer"))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, "RELOAD").ReadAll()
	return err
}

// logTail returns the last lines of a log file, to explain a failed start.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\n--- " + path + " ---\n" + strings.Join(lines, "\n")
}
