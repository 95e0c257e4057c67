package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/internal/pgtool"
)

// ParseTime reads a restore target: RFC 3339 ("2025-03-01T14:05:00Z"), or PostgreSQL's
// timestamptz text ("2025-03-01 14:05:00.123456+01"), or either without a zone, in local
// time.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: use RFC 3339 (2025-03-01T14:05:00Z) or 2025-03-01 14:05:00+00", s)
}

// pgTime writes t as recovery_target_time reads it, to the microsecond.
func pgTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999") + "+00" }

// checkTarget refuses a time the repository cannot restore.
func (s *Stanza) checkTarget(ctx context.Context, to time.Time) error {
	if to.After(time.Now()) {
		return fmt.Errorf("%s is in the future", to.Format(time.RFC3339))
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	if len(info.Backups) == 0 {
		return errors.New("the repository holds no backup: run `kapok backup run` first")
	}
	if to.Before(info.Earliest) {
		return fmt.Errorf("%s is before the earliest restorable time, %s (the second after the oldest backup ended)",
			to.Format(time.RFC3339), info.Earliest.Format(time.RFC3339))
	}
	return nil
}

// restoreInto runs pgbackrest restore into dataDir, to time to (nil: the end of the
// archived WAL), then promotes. The caller checked dataDir.
func (s *Stanza) restoreInto(ctx context.Context, dataDir string, to *time.Time, inPlace bool) error {
	args := []string{"--pg1-path=" + dataDir}
	if to != nil {
		args = append(args, "--type=time", "--target="+pgTime(*to), "--target-action=promote")
	}
	if inPlace {
		args = append(args, "--delta")
	} else {
		// A copy must neither archive into this stanza as if it were the cluster, nor
		// restore tablespaces over the live cluster's (their links point there).
		args = append(args, "--archive-mode=off", "--tablespace-map-all="+dataDir+"-tablespaces")
	}
	_, err := s.pgBackRest(ctx, "restore", args...)
	return err
}

// ClusterOptions say where a whole-cluster restore goes.
type ClusterOptions struct {
	// To is the time to restore to; nil restores to the end of the archived WAL.
	To *time.Time
	// TargetDir is the data directory to restore into: a new or empty one, or "" for the
	// stanza's own, where PostgreSQL must be stopped.
	TargetDir string
	// Port is written to a new directory's postgresql.auto.conf, so the copy can run next
	// to the live cluster (0: the live cluster's).
	Port int
}

// ClusterResult says what RestoreCluster did.
type ClusterResult struct {
	DataDir string
	InPlace bool
	// Start is the command that starts the restored cluster, as the OS user that owns it.
	Start    string
	Duration time.Duration
}

// RestoreCluster restores the whole cluster to a point in time. Into the stanza's own data
// directory it replaces the cluster, which must be stopped (and stays so: start it to
// recover); into another directory it makes a copy with archiving off.
func (s *Stanza) RestoreCluster(ctx context.Context, o ClusterOptions) (*ClusterResult, error) {
	began := time.Now()
	target := o.TargetDir
	if target == "" {
		target = s.PGPath
	}
	target, err := filepath.Abs(target)
	if err != nil {
		return nil, err
	}
	inPlace := filepath.Clean(target) == filepath.Clean(s.PGPath)
	if pid := postmasterPID(target); pid != 0 {
		return nil, fmt.Errorf("refusing to restore over %s: PostgreSQL runs there (pid %d); stop it first", target, pid)
	}
	if inPlace {
		if o.Port != 0 {
			return nil, errors.New("--port is for a copy in another directory: the restored cluster keeps its own port")
		}
		if answers(ctx, s.connURL("postgres")) == nil {
			return nil, fmt.Errorf("refusing to restore over %s: the cluster answers on port %d; stop it first", target, s.PGPort)
		}
	} else if entries, err := os.ReadDir(target); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("refusing to restore into %s: it is not empty", target)
	}
	if o.To != nil {
		if err := s.checkTarget(ctx, *o.To); err != nil {
			return nil, err
		}
		if !inPlace && answers(ctx, s.connURL("postgres")) == nil {
			if err := archiveNow(ctx, s.connURL("postgres"), time.Minute); err != nil {
				return nil, err
			}
		}
	}
	// In place, the directory may have been lost with the cluster.
	if err := s.user.mkdir(target, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(target, 0o700); err != nil {
		return nil, err
	}
	if err := s.restoreInto(ctx, target, o.To, inPlace); err != nil {
		return nil, err
	}
	if !inPlace && o.Port != 0 {
		if err := appendSettings(s.user, target, fmt.Sprintf("port = %d\n", o.Port)); err != nil {
			return nil, err
		}
	}
	res := &ClusterResult{DataDir: target, InPlace: inPlace, Duration: time.Since(began)}
	bin, err := dataDirBin(target)
	if err != nil {
		bin = ""
	}
	res.Start = fmt.Sprintf("%s start -D %s -l %s", filepath.Join(bin, "pg_ctl"), target, target+".log")
	if s.user.name != "" {
		res.Start = "runuser -u " + s.user.name + " -- " + res.Start
	}
	return res, nil
}

// appendSettings adds lines to a data directory's postgresql.auto.conf, where they win
// over postgresql.conf and over what pgBackRest wrote before them.
func appendSettings(u osUser, dataDir, lines string) error {
	path := filepath.Join(dataDir, "postgresql.auto.conf")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, "# added by kapok backup\n"+lines); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return u.own(path)
}

// dataDirBin finds the server tools of a data directory's version.
func dataDirBin(dataDir string) (string, error) {
	major, err := dataDirMajor(dataDir)
	if err != nil {
		return "", err
	}
	return ServerBinDir(major)
}

// postmasterPID returns the pid in dataDir's postmaster.pid when a postgres process runs
// with it, else 0.
func postmasterPID(dataDir string) int {
	data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(comm)) != "postgres" {
		return 0
	}
	return pid
}

// scratch is a restored copy of the cluster, started on a Unix socket in a private
// directory and nowhere else, for copying one tenant out of it.
type scratch struct {
	root, data, socket, bin, log string
	port                         int
	user                         osUser
	pgUser                       string
}

// startScratch starts the cluster restored in root/pg and waits until its recovery has
// reached the target and it was promoted.
func (s *Stanza) startScratch(ctx context.Context, root string) (*scratch, error) {
	sc := &scratch{root: root, data: filepath.Join(root, "pg"), log: filepath.Join(root, "postgres.log"), user: s.user, pgUser: s.PGUser}
	var err error
	if sc.bin, err = dataDirBin(sc.data); err != nil {
		return nil, err
	}
	// A short path: a socket's path must fit in 107 bytes.
	if sc.socket, err = os.MkdirTemp("", "kapok-pitr-"); err != nil {
		return nil, err
	}
	if err := s.user.own(sc.socket); err != nil {
		return nil, err
	}
	if sc.port, err = freePort(); err != nil {
		return nil, err
	}
	// Clusters whose configuration lives outside the data directory (Debian's, under
	// /etc/postgresql) restore without one; the scratch copy runs on defaults.
	for _, f := range []string{"postgresql.conf", "pg_ident.conf"} {
		p := filepath.Join(sc.data, f)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			if err := s.user.writeFile(p, nil, 0o600); err != nil {
				return nil, err
			}
		}
	}
	hba := filepath.Join(root, "pg_hba.conf")
	if err := s.user.writeFile(hba, []byte("local all all trust\n"), 0o600); err != nil {
		return nil, err
	}
	opts := strings.Join([]string{
		"-c listen_addresses=''", "-c unix_socket_directories=" + sc.socket, "-c port=" + strconv.Itoa(sc.port),
		"-c hba_file=" + hba, "-c archive_mode=off", "-c ssl=off", "-c logging_collector=off",
		"-c shared_buffers=128MB", "-c shared_preload_libraries=''",
		// No connections before the copy is promoted: pg_ctl -w then waits for that, and
		// settings below the live cluster's cannot pause a hot standby's replay.
		"-c hot_standby=off",
	}, " ")
	if _, err := s.user.run(ctx, nil, filepath.Join(sc.bin, "pg_ctl"), "start", "-D", sc.data, "-l", sc.log, "-w", "-t", "3600", "-o", opts); err != nil {
		sc.stop()
		return nil, fmt.Errorf("starting the restored copy: %w%s", err, logTail(sc.log))
	}
	for {
		c, err := pgx.Connect(ctx, sc.url("postgres"))
		if err == nil {
			var recovering bool
			err = c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering)
			c.Close(context.Background())
			if err == nil && !recovering {
				return sc, nil
			}
		}
		if postmasterPID(sc.data) == 0 {
			sc.stop()
			return nil, fmt.Errorf("the restored copy stopped during recovery: %v%s", err, logTail(sc.log))
		}
		select {
		case <-ctx.Done():
			sc.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// url connects to the scratch copy's database db as the stanza's superuser.
func (sc *scratch) url(db string) string { return socketURL(sc.socket, sc.port, sc.pgUser, db) }

// stop stops the copy at once (its data is thrown away) and removes its socket directory.
func (sc *scratch) stop() {
	if postmasterPID(sc.data) != 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, _ = sc.user.run(ctx, nil, filepath.Join(sc.bin, "pg_ctl"), "stop", "-D", sc.data, "-m", "immediate", "-w", "-t", "60")
		cancel()
	}
	_ = os.RemoveAll(sc.socket)
}

// tool runs one of the client tools of the copy's version (pg_dump, pg_restore, psql) as
// ourselves, connected to dbURL when given. The URL's password travels in PGPASSWORD, so
// that no error message shows it.
func (sc *scratch) tool(ctx context.Context, name, dbURL string, args ...string) error {
	var env []string
	if dbURL != "" {
		args, env = pgtool.Connect(dbURL, args)
	}
	_, err := self.run(ctx, env, filepath.Join(sc.bin, name), args...)
	return err
}

// psql runs script (saved as name in the scratch directory) on dbURL in one transaction,
// stopping at the first error.
func (sc *scratch) psql(ctx context.Context, dbURL, name, script string) error {
	if script == "" {
		return nil
	}
	path := filepath.Join(sc.root, name)
	if err := os.WriteFile(path, []byte("\\set ON_ERROR_STOP on\n"+script), 0o600); err != nil {
		return err
	}
	return sc.tool(ctx, "psql", dbURL, "-X", "-q", "--single-transaction", "-f", path)
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
