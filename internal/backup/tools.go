package backup

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
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pgBackRestPackage is Debian's package of pgBackRest, installed when the tool is missing.
const pgBackRestPackage = "pgbackrest"

// findPgBackRest returns the pgbackrest executable's absolute path: archive_command and
// restore_command run it from the server, whose PATH is not ours.
func findPgBackRest() string {
	if p, err := exec.LookPath("pgbackrest"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	for _, p := range []string{"/usr/bin/pgbackrest", "/usr/local/bin/pgbackrest"} {
		if isExecutable(p) {
			return p
		}
	}
	return ""
}

// requirePgBackRest finds pgbackrest, installing Debian's package with apt-get as root, as
// the dev stack does for PostgreSQL; anyone else is told the command to run.
func requirePgBackRest(ctx context.Context, out io.Writer) (string, error) {
	if p := findPgBackRest(); p != "" {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Errorf("pgbackrest not found; install it with:\n  sudo apt-get install -y --no-install-recommends %s", pgBackRestPackage)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("pgbackrest not found and there is no apt-get: install pgBackRest with the system's package manager")
	}
	fmt.Fprintf(out, "installing %s with apt-get\n", pgBackRestPackage)
	script := "apt-get install -y --no-install-recommends " + pgBackRestPackage + " || (apt-get update && apt-get install -y --no-install-recommends " + pgBackRestPackage + ")"
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", script, err, buf.String())
	}
	if p := findPgBackRest(); p != "" {
		return p, nil
	}
	return "", errors.New("pgbackrest still not found after apt-get install")
}

// ServerBinDir finds the directory of PostgreSQL's server tools (pg_ctl, initdb, pg_dump,
// psql) of major version major, or of the highest version found when major is 0: a
// scratch cluster must be started by the binaries of its data directory's version, and
// pg_dump must be at least the server's. It looks where the dev stack does (pg_config
// --bindir, Debian's /usr/lib/postgresql/N/bin) and in RHEL's /usr/pgsql-N/bin.
func ServerBinDir(major int) (string, error) {
	var candidates []string
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	if major > 0 {
		candidates = append(candidates, fmt.Sprintf("/usr/lib/postgresql/%d/bin", major), fmt.Sprintf("/usr/pgsql-%d/bin", major))
	} else {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(dirs, func(i, j int) bool { return dirVersion(dirs[i]) > dirVersion(dirs[j]) })
		candidates = append(candidates, dirs...)
	}
	for _, d := range candidates {
		if !isExecutable(filepath.Join(d, "pg_ctl")) || !isExecutable(filepath.Join(d, "pg_dump")) {
			continue
		}
		if major == 0 || toolMajor(filepath.Join(d, "pg_ctl")) == major {
			return d, nil
		}
	}
	if major == 0 {
		return "", errors.New("the PostgreSQL server tools (pg_ctl, pg_dump) were not found: install postgresql")
	}
	return "", fmt.Errorf("the PostgreSQL %d server tools (pg_ctl, pg_dump) were not found: install postgresql-%d", major, major)
}

func dirVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// toolMajor runs tool --version ("pg_ctl (PostgreSQL) 15.4") and returns the major version.
func toolMajor(tool string) int {
	out, err := exec.Command(tool, "--version").Output()
	if err != nil {
		return 0
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// dataDirMajor reads the major version a data directory was made by.
func dataDirMajor(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// osUser is who runs the cluster's tools: the owner of its data directory. PostgreSQL
// refuses to run as root, and what pgBackRest writes (the repository, a restored data
// directory) must stay the server's, which archives into the repository by itself.
type osUser struct {
	name     string // "" = ourselves
	uid, gid int    // owner to give new files; -1 = leave as is
}

var self = osUser{uid: -1, gid: -1}

// ownerOf returns the OS user to run tools as for a data directory: its owner when we are
// root, else ourselves.
func ownerOf(dataDir string) (osUser, error) {
	if os.Geteuid() != 0 {
		return self, nil
	}
	st, err := os.Stat(dataDir)
	if err != nil {
		return osUser{}, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || sys.Uid == 0 {
		return self, nil
	}
	u, err := user.LookupId(strconv.Itoa(int(sys.Uid)))
	if err != nil {
		return osUser{}, fmt.Errorf("the owner (uid %d) of %s: %w", sys.Uid, dataDir, err)
	}
	return lookupUser(u.Username)
}

// lookupUser returns the OS user name.
func lookupUser(name string) (osUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return osUser{}, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return osUser{name: u.Username, uid: uid, gid: gid}, nil
}

// command builds name args run as u with env added to ours. It runs in a session of its
// own, so a Ctrl-C on the terminal does not reach a server it starts.
func (u osUser) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	if u.name != "" {
		// runuser would reset some of the environment: env(1) sets ours explicitly.
		args = append(append(append([]string{"-u", u.name, "--", "env"}, env...), name), args...)
		name, env = "runuser", nil
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// A server started by pg_ctl may keep our pipes open; do not wait for it.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// run runs a command as u and returns its combined output; a failure's error includes it.
func (u osUser) run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := u.command(ctx, env, name, args...)
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

// own gives path to u (nothing to do when we run as ourselves).
func (u osUser) own(path string) error {
	if u.uid < 0 {
		return nil
	}
	return os.Lchown(path, u.uid, u.gid)
}

// mkdir creates dir with perm, owned by u, and its missing parents with mode 0755, so
// that u can reach it.
func (u osUser) mkdir(dir string, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, perm); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return u.own(dir)
}

// canWrite checks that u can write in dir: every directory above it must let u through.
func (u osUser) canWrite(ctx context.Context, dir string) error {
	if u.name == "" {
		return nil
	}
	if _, err := u.run(ctx, nil, "test", "-w", dir, "-a", "-x", dir); err != nil {
		return fmt.Errorf("the OS user %s, who runs pgBackRest for the cluster, cannot write in %s: choose a --dir it can reach", u.name, dir)
	}
	return nil
}

// writeFile writes path owned by u.
func (u osUser) writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return err
	}
	return u.own(path)
}
