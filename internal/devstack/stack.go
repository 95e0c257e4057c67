package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// DefaultDir is where the stack lives unless told otherwise (relative to the working directory).
	DefaultDir = ".kapok"
	// DefaultPGPort and DefaultPoolerPort stay clear of a system PostgreSQL (5432) and PgBouncer (6432).
	DefaultPGPort     = 54320
	DefaultPoolerPort = 64320
	// Database holds the demo tenants: schema demo (workload at SmallScale), schema acme and
	// schema notes (Kapok Auth's users and their notes).
	Database = "kapok"
	// BenchDatabase holds schema demo at a larger scale, for benchmarks.
	BenchDatabase = "kapok_bench"
	// SmallScale is the demo's workload scale (1/100 of the benchmark: start-up takes seconds).
	SmallScale = 0.01
	// FullScale is the benchmark workload's size (about 400 MB; loading takes minutes).
	FullScale = 1.0

	superuser = "postgres"
)

// Options says where the stack lives and what to load.
type Options struct {
	Dir string // default DefaultDir
	// Scale of the workload dataset for benchmarks. 0 or SmallScale: only the demo data of
	// database kapok; any other scale is (also) loaded into schema demo of BenchDatabase.
	Scale float64
	Out   io.Writer // progress lines; nil discards them
	// Ports; 0 means the default. A second stack (say, for a test) needs its own.
	PGPort, PoolerPort int
}

// Stack is a running dev stack. The URLs connect as the superuser postgres (trust auth).
type Stack struct {
	Dir       string // absolute
	DirectURL string // database kapok, straight to PostgreSQL (LISTEN, DDL, introspection)
	PoolerURL string // database kapok through PgBouncer (transaction pooling)
	// Database kapok_bench, when Options.Scale asked for it.
	BenchDirectURL, BenchPoolerURL string
	// TLS is the local CA and the loopback server certificate of Kapok's wire port.
	TLS TLSFiles
}

// Up starts (or adopts) the stack in o.Dir and loads the datasets. It is idempotent: what runs
// is checked and reused, what is stopped is started, a loaded dataset is not reloaded.
func Up(ctx context.Context, o Options) (*Stack, error) {
	began := time.Now()
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.PGPort == 0 {
		o.PGPort = DefaultPGPort
	}
	if o.PoolerPort == 0 {
		o.PoolerPort = DefaultPoolerPort
	}
	if o.Scale == 0 {
		o.Scale = SmallScale
	}
	if err := checkScale(o.Scale); err != nil {
		return nil, err
	}
	b, err := requireBinaries(ctx, out) // first: installing postgresql creates the OS user postgres
	if err != nil {
		return nil, err
	}
	r, err := newRunner()
	if err != nil {
		return nil, err
	}
	l, err := prepareDir(r, o, out)
	if err != nil {
		return nil, err
	}
	if l, err = upPostgres(ctx, r, b, l, out); err != nil {
		return nil, err
	}
	if err := ensureDatabase(ctx, l.directURL("postgres"), Database); err != nil {
		return nil, err
	}
	if err := upPgBouncer(ctx, r, b, l, out); err != nil {
		return nil, err
	}
	st := &Stack{Dir: l.dir, DirectURL: l.directURL(Database), PoolerURL: l.poolerURL(Database)}
	if st.TLS, err = EnsureTLS(l.dir); err != nil {
		return nil, err
	}
	if err := loadReporting(ctx, out, st.DirectURL, Database, "demo", workload, SmallScale); err != nil {
		return nil, err
	}
	if err := loadReporting(ctx, out, st.DirectURL, Database, "acme", acme, 0); err != nil {
		return nil, err
	}
	if err := loadReporting(ctx, out, st.DirectURL, Database, "notes", notes, 0); err != nil {
		return nil, err
	}
	if o.Scale != SmallScale {
		if err := ensureDatabase(ctx, l.directURL("postgres"), BenchDatabase); err != nil {
			return nil, err
		}
		st.BenchDirectURL, st.BenchPoolerURL = l.directURL(BenchDatabase), l.poolerURL(BenchDatabase)
		if err := loadReporting(ctx, out, st.BenchDirectURL, BenchDatabase, "demo", workload, o.Scale); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(out, "dev stack up in %s (%s)\n", time.Since(began).Round(time.Millisecond), l.dir)
	return st, nil
}

func checkScale(s float64) error {
	if s < 0.0001 || s > 10 {
		return fmt.Errorf("scale %g out of range: use small (%g), full (1) or a fraction from 0.0001 to 10", s, SmallScale)
	}
	return nil
}

// prepareDir creates the stack directory, owned by the service user, and checks an existing
// cluster's port. As root, when the service user cannot reach the directory asked for (it
// sits under a private directory such as /root), the stack lives under /var/tmp instead and
// the asked-for path becomes a link to it.
func prepareDir(r runner, o Options, out io.Writer) (layout, error) {
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return layout{}, err
	}
	dir, err := filepath.EvalSymlinks(abs)
	switch {
	case errors.Is(err, os.ErrNotExist) && !r.canReach(abs):
		dir = fallbackDir(abs)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return layout{}, err
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			return layout{}, err
		}
		if err := os.Symlink(dir, abs); err != nil {
			return layout{}, err
		}
		fmt.Fprintf(out, "the OS user %s cannot reach %s, so the stack lives in %s and %s links to it\n", serviceUser, abs, dir, abs)
	case errors.Is(err, os.ErrNotExist):
		dir = abs
	case err != nil:
		return layout{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return layout{}, err
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return layout{}, err
	}
	if err := r.own(dir); err != nil {
		return layout{}, err
	}
	if !r.canReach(dir) {
		return layout{}, fmt.Errorf("the OS user %s cannot reach %s: use a --dir it can enter", serviceUser, dir)
	}
	l := layout{dir: dir, pgPort: o.PGPort, poolerPort: o.PoolerPort}
	if pgPort, _ := configuredPorts(dir); l.hasCluster() && pgPort != 0 && pgPort != l.pgPort {
		return layout{}, fmt.Errorf("the cluster in %s listens on port %d, not %d: use that port, another --dir, or `kapok dev clean --dir %s`", l.dataDir(), pgPort, l.pgPort, o.Dir)
	}
	return l, nil
}

// upPostgres makes sure PostgreSQL answers on l's port. When our cluster is stopped but the
// port is served by the dev stack of another directory (another checkout's .kapok), that
// stack is adopted and its layout returned.
func upPostgres(ctx context.Context, r runner, b binaries, l layout, out io.Writer) (layout, error) {
	if pid := postgresPID(l); pid != 0 {
		fmt.Fprintf(out, "PostgreSQL  running (pid %d) on %s\n", pid, l.pgAddr())
	} else if other := dataDirAt(ctx, l); other == l.dataDir() {
		fmt.Fprintf(out, "PostgreSQL  running on %s\n", l.pgAddr())
	} else if other != "" {
		stackDir := filepath.Dir(other)
		if filepath.Base(other) != "pg" || !fileExists(filepath.Join(stackDir, "pgbouncer.ini")) {
			return l, fmt.Errorf("port %d is taken by another PostgreSQL (data directory %s): stop it, or choose other ports with --pg-port and --pooler-port", l.pgPort, other)
		}
		fmt.Fprintf(out, "PostgreSQL  port %d is served by the dev stack in %s: using that stack\n", l.pgPort, stackDir)
		l.dir = stackDir
		if _, poolerPort := configuredPorts(stackDir); poolerPort != 0 {
			l.poolerPort = poolerPort
		}
	} else {
		if !l.hasCluster() {
			t := time.Now()
			if err := initCluster(ctx, r, b, l); err != nil {
				return l, err
			}
			fmt.Fprintf(out, "PostgreSQL  initdb %s in %s\n", l.dataDir(), time.Since(t).Round(time.Millisecond))
		}
		t := time.Now()
		if err := startPostgres(ctx, r, b, l); err != nil {
			return l, err
		}
		fmt.Fprintf(out, "PostgreSQL  started (%s) on %s in %s\n", b.pgBin, l.pgAddr(), time.Since(t).Round(time.Millisecond))
	}
	if err := waitAnswers(ctx, l.directURL("postgres"), 30*time.Second); err != nil {
		return l, fmt.Errorf("PostgreSQL does not answer on %s: %w%s", l.pgAddr(), err, logTail(l.pgLog()))
	}
	if err := ensureLogical(ctx, r, b, l, out); err != nil {
		return l, err
	}
	return l, nil
}

// logicalSettings are what logical replication needs (see postgresSettings): a cluster made
// before they were part of it gets them with ALTER SYSTEM and a restart.
var logicalSettings = []struct{ name, value string }{
	{"wal_level", "logical"}, {"max_replication_slots", "20"}, {"max_wal_senders", "20"},
}

// ensureLogical reconfigures and restarts a running cluster whose settings fall short of
// logicalSettings (wal_level takes effect only at a restart). Open sessions are ended, and
// PgBouncer reconnects by itself.
func ensureLogical(ctx context.Context, r runner, b binaries, l layout, out io.Writer) error {
	c, err := pgx.Connect(ctx, l.directURL("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var wal string
	var slots, senders, writerDelay int
	if err := c.QueryRow(ctx, `SELECT current_setting('wal_level'), current_setting('max_replication_slots')::int,
current_setting('max_wal_senders')::int, (SELECT setting::int FROM pg_settings WHERE name = 'wal_writer_delay')`).Scan(&wal, &slots, &senders, &writerDelay); err != nil {
		return err
	}
	if writerDelay > 10 { // takes effect on reload
		if _, err := c.Exec(ctx, "ALTER SYSTEM SET wal_writer_delay = '10ms'"); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			return err
		}
	}
	if wal == "logical" && slots >= 20 && senders >= 20 {
		return nil
	}
	for _, s := range logicalSettings {
		if _, err := c.Exec(ctx, "ALTER SYSTEM SET "+s.name+" = '"+s.value+"'"); err != nil {
			return fmt.Errorf("enabling logical replication: %w", err)
		}
	}
	c.Close(context.Background())
	t := time.Now()
	if err := restartPostgres(ctx, r, b, l); err != nil {
		return fmt.Errorf("with wal_level=logical: %w", err)
	}
	fmt.Fprintf(out, "PostgreSQL  restarted with wal_level=logical (was %s) in %s\n", wal, time.Since(t).Round(time.Millisecond))
	return nil
}

// restartPostgres restarts a running cluster (fast shutdown: open sessions end, and
// PgBouncer reconnects by itself) and waits until it answers.
func restartPostgres(ctx context.Context, r runner, b binaries, l layout) error {
	if _, err := r.run(ctx, b.pgctl(), "restart", "-D", l.dataDir(), "-l", l.pgLog(), "-m", "fast", "-w", "-t", "120"); err != nil {
		return fmt.Errorf("restarting PostgreSQL (log: %s): %w%s", l.pgLog(), err, logTail(l.pgLog()))
	}
	if err := waitAnswers(ctx, l.directURL("postgres"), 30*time.Second); err != nil {
		return fmt.Errorf("PostgreSQL does not answer on %s after its restart: %w%s", l.pgAddr(), err, logTail(l.pgLog()))
	}
	return nil
}

// Cluster is the stack's PostgreSQL, for tools that work beside it (kapok backup --dev).
type Cluster struct {
	Dir string // the stack directory, links resolved
	URL string // database postgres, as the superuser, straight to PostgreSQL
}

// OpenCluster finds the stack's cluster in dir (default DefaultDir), which must run.
func OpenCluster(ctx context.Context, dir string) (Cluster, error) {
	l, err := openLayout(dir)
	if err != nil {
		return Cluster{}, err
	}
	if !l.hasCluster() {
		return Cluster{}, fmt.Errorf("no dev stack in %s: start it with `kapok dev up`", l.dir)
	}
	if err := pgAnswers(ctx, l.directURL("postgres")); err != nil {
		return Cluster{}, fmt.Errorf("the dev stack's PostgreSQL does not answer on %s (start it with `kapok dev up`): %w", l.pgAddr(), err)
	}
	return Cluster{Dir: l.dir, URL: l.directURL("postgres")}, nil
}

// RestartPostgres restarts the stack's PostgreSQL in dir, for settings that take effect
// only at a restart (archive_mode, for kapok backup).
func RestartPostgres(ctx context.Context, dir string) error {
	l, err := openLayout(dir)
	if err != nil {
		return err
	}
	if postgresPID(l) == 0 {
		return fmt.Errorf("the dev stack's PostgreSQL in %s does not run: start it with `kapok dev up`", l.dataDir())
	}
	r, err := newRunner()
	if err != nil {
		return err
	}
	b, missing := findBinaries()
	if b.pgBin == "" {
		return fmt.Errorf("cannot restart PostgreSQL in %s: %s not found", l.dataDir(), strings.Join(missing, ", "))
	}
	return restartPostgres(ctx, r, b, l)
}

// upPgBouncer writes PgBouncer's files, reloads a running PgBouncer whose config changed or
// starts a stopped one, and checks that it answers.
func upPgBouncer(ctx context.Context, r runner, b binaries, l layout, out io.Writer) error {
	if _, err := r.writeFile(l.userlist(), userlistFile(), 0o644); err != nil {
		return err
	}
	changed, err := r.writeFile(l.iniPath(), l.pgbouncerINI(), 0o644)
	if err != nil {
		return err
	}
	if pid := poolerPID(l); pid != 0 {
		if changed {
			if err := reloadPgBouncer(ctx, l); err != nil {
				return fmt.Errorf("reloading PgBouncer's new config: %w", err)
			}
			fmt.Fprintf(out, "PgBouncer   running (pid %d) on %s, config reloaded\n", pid, l.poolerAddr())
		} else {
			fmt.Fprintf(out, "PgBouncer   running (pid %d) on %s\n", pid, l.poolerAddr())
		}
	} else {
		t := time.Now()
		if err := startPgBouncer(ctx, r, b, l); err != nil {
			return err
		}
		fmt.Fprintf(out, "PgBouncer   started (%s) on %s in %s\n", b.pgbouncer, l.poolerAddr(), time.Since(t).Round(time.Millisecond))
	}
	if err := waitAnswers(ctx, l.poolerURL(Database), 15*time.Second); err != nil {
		return fmt.Errorf("PgBouncer does not answer on %s (after a port change, restart it: kapok dev down, then up): %w%s", l.poolerAddr(), err, logTail(l.poolerLog()))
	}
	return nil
}

// ensureDatabase creates database name when it does not exist.
func ensureDatabase(ctx context.Context, url, name string) error {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	var exists bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile by a concurrent Up
		return nil
	}
	return err
}

// openLayout finds the stack in dir and the ports it was set up with.
func openLayout(dir string) (layout, error) {
	if dir == "" {
		dir = DefaultDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return layout{}, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	} else if !errors.Is(err, os.ErrNotExist) {
		return layout{}, err
	}
	l := layout{dir: abs, pgPort: DefaultPGPort, poolerPort: DefaultPoolerPort}
	pgPort, poolerPort := configuredPorts(abs)
	if pgPort != 0 {
		l.pgPort = pgPort
	}
	if poolerPort != 0 {
		l.poolerPort = poolerPort
	}
	return l, nil
}

// Down stops PgBouncer, then PostgreSQL (fast shutdown: open sessions are ended). The data stays.
func Down(dir string) error {
	l, err := openLayout(dir)
	if err != nil {
		return err
	}
	if err := stopPgBouncer(l); err != nil {
		return err
	}
	if !l.hasCluster() {
		return nil
	}
	r, err := newRunner()
	if err != nil {
		return err
	}
	b, missing := findBinaries()
	if b.pgBin == "" {
		return fmt.Errorf("cannot stop PostgreSQL in %s: %s not found", l.dataDir(), strings.Join(missing, ", "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return stopPostgres(ctx, r, b, l)
}

// Clean stops the stack and deletes its directory. It refuses when the directory holds
// anything a stack does not, so a mistyped --dir cannot wipe someone's files.
func Clean(dir string) error {
	if err := Down(dir); err != nil {
		return err
	}
	if dir == "" {
		dir = DefaultDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	l, err := openLayout(dir)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(l.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !ownedNames[e.Name()] {
			return fmt.Errorf("not wiping %s: it holds %q, which is not part of a dev stack", l.dir, e.Name())
		}
	}
	if err := os.RemoveAll(l.dir); err != nil {
		return err
	}
	if abs != l.dir { // the link to a stack under /var/tmp
		return os.Remove(abs)
	}
	return nil
}

// Report is what Status finds.
type Report struct {
	Dir       string
	Postgres  Service
	PgBouncer Service
	// Datasets: "database.schema: what its comment says was loaded".
	Datasets []string
}

// Service is one of the stack's processes.
type Service struct {
	PID     int // 0: not running
	Addr    string
	Answers bool
}

// Up reports whether both services answer.
func (r Report) Up() bool { return r.Postgres.Answers && r.PgBouncer.Answers }

func (r Report) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "dev stack in %s\n", r.Dir)
	for _, s := range []struct {
		name string
		Service
	}{{"PostgreSQL", r.Postgres}, {"PgBouncer", r.PgBouncer}} {
		state := "stopped"
		switch {
		case s.PID != 0 && s.Answers:
			state = fmt.Sprintf("running (pid %d), answers", s.PID)
		case s.PID != 0:
			state = fmt.Sprintf("running (pid %d), does NOT answer", s.PID)
		}
		fmt.Fprintf(&sb, "  %-11s %s  %s\n", s.name, s.Addr, state)
	}
	for _, d := range r.Datasets {
		fmt.Fprintf(&sb, "  %s\n", d)
	}
	return sb.String()
}

// Status reports whether the stack in dir runs and answers, and which datasets it holds.
func Status(ctx context.Context, dir string) (Report, error) {
	l, err := openLayout(dir)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Dir: l.dir, Postgres: Service{Addr: l.pgAddr()}, PgBouncer: Service{Addr: l.poolerAddr()}}
	rep.Postgres.PID = postgresPID(l)
	rep.PgBouncer.PID = poolerPID(l)
	if rep.Postgres.PID != 0 {
		rep.Postgres.Answers = pgAnswers(ctx, l.directURL("postgres")) == nil
	}
	if rep.PgBouncer.PID != 0 {
		rep.PgBouncer.Answers = pgAnswers(ctx, l.poolerURL(Database)) == nil
	}
	if rep.Postgres.Answers {
		for _, db := range []string{Database, BenchDatabase} {
			found, _ := datasetsIn(ctx, l.directURL(db))
			for _, f := range found {
				rep.Datasets = append(rep.Datasets, db+"."+f)
			}
		}
		sort.Strings(rep.Datasets)
	}
	return rep, nil
}
