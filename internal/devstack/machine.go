package devstack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serviceUser is the OS user PostgreSQL and PgBouncer run as when we are root.
const serviceUser = "postgres"

// installCommand is what a non-root user is told to run when the binaries are missing.
const installCommand = "sudo apt-get update && sudo apt-get install -y postgresql pgbouncer"

// binaries are the machine's PostgreSQL server tools and PgBouncer.
type binaries struct {
	pgBin     string // holds initdb, pg_ctl, postgres
	pgbouncer string
}

func (b binaries) pgctl() string  { return filepath.Join(b.pgBin, "pg_ctl") }
func (b binaries) initdb() string { return filepath.Join(b.pgBin, "initdb") }

// findBinaries looks for the server binaries: pg_config --bindir when it names a directory
// with pg_ctl (Debian's pg_config may come from libpq-dev without a server), else the highest
// version under /usr/lib/postgresql.
func findBinaries() (b binaries, missing []string) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); isExecutable(filepath.Join(dir, "pg_ctl")) && isExecutable(filepath.Join(dir, "initdb")) {
			b.pgBin = dir
		}
	}
	if b.pgBin == "" {
		b.pgBin = highestDebianBin()
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		b.pgbouncer = p
	} else {
		for _, p := range []string{"/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer"} {
			if isExecutable(p) {
				b.pgbouncer = p
				break
			}
		}
	}
	if b.pgBin == "" {
		missing = append(missing, "postgresql")
	}
	if b.pgbouncer == "" {
		missing = append(missing, "pgbouncer")
	}
	return b, missing
}

func highestDebianBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var versions []float64
	byVersion := map[float64]string{}
	for _, d := range dirs {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		if err != nil || !isExecutable(filepath.Join(d, "pg_ctl")) || !isExecutable(filepath.Join(d, "initdb")) {
			continue
		}
		versions = append(versions, v)
		byVersion[v] = d
	}
	if len(versions) == 0 {
		return ""
	}
	sort.Float64s(versions)
	return byVersion[versions[len(versions)-1]]
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// requireBinaries finds the binaries, installing the missing packages with apt-get as root.
func requireBinaries(ctx context.Context, out io.Writer) (binaries, error) {
	b, missing := findBinaries()
	if len(missing) == 0 {
		return b, nil
	}
	if os.Geteuid() != 0 {
		return b, fmt.Errorf("%s not found; install with:\n  %s", strings.Join(missing, " and "), installCommand)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return b, fmt.Errorf("%s not found and there is no apt-get: install the PostgreSQL server and PgBouncer with the system's package manager", strings.Join(missing, " and "))
	}
	fmt.Fprintf(out, "installing %s with apt-get\n", strings.Join(missing, " "))
	script := "apt-get update && apt-get install -y " + strings.Join(missing, " ")
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return b, fmt.Errorf("%s: %w", script, err)
	}
	if b, missing = findBinaries(); len(missing) > 0 {
		return b, fmt.Errorf("%s still not found after apt-get install", strings.Join(missing, " and "))
	}
	return b, nil
}

// runner runs the services' commands, as the OS user postgres when we are root.
type runner struct {
	asUser   string // "" = ourselves
	uid, gid int    // owner to give the stack's files; -1 = leave as is
}

func newRunner() (runner, error) {
	if os.Geteuid() != 0 {
		return runner{uid: -1, gid: -1}, nil
	}
	u, err := user.Lookup(serviceUser)
	if err != nil {
		return runner{}, fmt.Errorf("running as root, PostgreSQL and PgBouncer must run as the OS user %q, which does not exist (apt-get install postgresql creates it): %w", serviceUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return runner{asUser: serviceUser, uid: uid, gid: gid}, nil
}

// command builds a command in its own session, so a Ctrl-C on the terminal reaches only us:
// we stop the services ourselves, in order.
func (r runner) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if r.asUser != "" {
		args = append([]string{"-u", r.asUser, "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Daemons may keep our pipes open; don't wait for them.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// run runs a command and returns its combined output; a failure's error includes the output.
func (r runner) run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := r.command(ctx, name, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	out := strings.TrimSpace(buf.String())
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out, nil
}

// own gives path to the service user (no-op when not root).
func (r runner) own(path string) error {
	if r.uid < 0 {
		return nil
	}
	return os.Lchown(path, r.uid, r.gid)
}

// canReach reports whether the service user can reach dir: every existing ancestor must be
// searchable by it. (Always true when we do not run as root.)
func (r runner) canReach(dir string) bool {
	if r.uid < 0 {
		return true
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if errors.Is(err, os.ErrNotExist) { // to be created with mode 0755
			continue
		}
		if err != nil {
			return false
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		switch {
		case ok && int(sys.Uid) == r.uid:
			if st.Mode()&0o100 == 0 {
				return false
			}
		case ok && int(sys.Gid) == r.gid:
			if st.Mode()&0o010 == 0 {
				return false
			}
		case st.Mode()&0o001 == 0:
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// writeFile writes path when its content differs, owned by the service user, and reports
// whether it wrote.
func (r runner) writeFile(path, content string, perm os.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && string(old) == content {
		return false, nil
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		return false, err
	}
	return true, r.own(path)
}
