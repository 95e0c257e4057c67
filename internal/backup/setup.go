package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// SetupOptions say where a stanza's files go and which cluster it backs up.
type SetupOptions struct {
	Dir    string // the backup directory
	Stanza string // default DefaultStanza
	// URL is a superuser's direct URL of the cluster, which must run on this machine.
	URL string
	// Compress is pgBackRest's compress-type (default zst).
	Compress string
	// RetentionFull is how many full backups to keep (default 2).
	RetentionFull int
	// ArchiveTimeout bounds how long a quiet server keeps a WAL segment before archiving it,
	// hence how far behind the latest restorable time may lag (default 60s; set only where
	// the server has none).
	ArchiveTimeout time.Duration
	// Restart restarts the cluster when archive_mode (or wal_level) waits for a restart.
	// Without it, Setup stops there with ErrRestartNeeded.
	Restart func(ctx context.Context) error
	Out     io.Writer
}

// ErrRestartNeeded: archiving is configured but takes effect only when PostgreSQL restarts;
// run setup again after the restart to create the stanza.
var ErrRestartNeeded = errors.New("archive_mode takes effect at PostgreSQL's next restart: restart it, then run `kapok backup setup` again to create the stanza")

// Compressions are the compress-type values Setup accepts.
var Compressions = []string{"zst", "lz4", "gz", "bz2", "none"}

// Setup writes the stanza's pgbackrest.conf, turns WAL archiving on (ALTER SYSTEM:
// archive_mode, archive_command, and archive_timeout where unset), restarts the cluster
// when that needs it and o.Restart is given, then creates the stanza and checks that
// archiving works. Run again, it rewrites the configuration and checks again.
func Setup(ctx context.Context, o SetupOptions) (*Stanza, error) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	if o.Stanza == "" {
		o.Stanza = DefaultStanza
	}
	if o.Compress == "" {
		o.Compress = "zst"
	}
	if !slices.Contains(Compressions, o.Compress) {
		return nil, fmt.Errorf("compression %q is not one of %s", o.Compress, strings.Join(Compressions, ", "))
	}
	if o.RetentionFull == 0 {
		o.RetentionFull = 2
	}
	if o.ArchiveTimeout == 0 {
		o.ArchiveTimeout = time.Minute
	}
	pgbackrest, err := requirePgBackRest(ctx, out)
	if err != nil {
		return nil, err
	}
	c, err := pgx.Connect(ctx, o.URL)
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster to back up: %w", err)
	}
	defer c.Close(context.Background())
	srv, err := readServer(ctx, c)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(srv.dataDir, "PG_VERSION")); err != nil {
		return nil, fmt.Errorf("the cluster's data directory %s is not on this machine (%w): run `kapok backup setup` where PostgreSQL runs", srv.dataDir, err)
	}
	user, err := ownerOf(srv.dataDir)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{dir, filepath.Join(dir, "repo"), filepath.Join(dir, "log"), filepath.Join(dir, "lock")} {
		if err := user.mkdir(d, 0o750); err != nil {
			return nil, err
		}
	}
	if err := user.canWrite(ctx, dir); err != nil {
		return nil, err
	}
	st := &Stanza{Dir: dir, URL: o.URL, pgbackrest: pgbackrest, user: user, Settings: Settings{
		Stanza: o.Stanza, Repo: filepath.Join(dir, "repo"), Compress: o.Compress, RetentionFull: o.RetentionFull,
		PGPath: srv.dataDir, PGPort: srv.port, SocketPath: srv.socketDir, PGUser: srv.user,
	}}
	if err := user.writeFile(st.configPath(), []byte(st.render(dir)), 0o640); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "wrote %s (stanza %s, repository %s, %s compression, %d full backups kept)\n",
		st.configPath(), st.Stanza, st.Repo, st.Compress, st.RetentionFull)

	settings := map[string]string{
		"archive_mode":    "on",
		"archive_command": archiveCommand(pgbackrest, st.configPath(), st.Stanza),
	}
	if srv.walLevel == "minimal" {
		settings["wal_level"] = "replica"
	}
	if srv.archiveTimeout == 0 {
		settings["archive_timeout"] = fmt.Sprintf("%ds", int(o.ArchiveTimeout.Seconds()))
	}
	for _, name := range []string{"wal_level", "archive_mode", "archive_command", "archive_timeout"} {
		if v, ok := settings[name]; ok {
			if _, err := c.Exec(ctx, "ALTER SYSTEM SET "+name+" = "+quoteLiteral(v)); err != nil {
				return nil, fmt.Errorf("ALTER SYSTEM SET %s: %w", name, err)
			}
		}
	}
	if _, err := c.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return nil, err
	}
	if srv.archiveMode == "off" || srv.walLevel == "minimal" {
		if o.Restart == nil {
			return st, ErrRestartNeeded
		}
		c.Close(ctx)
		fmt.Fprintln(out, "restarting PostgreSQL: archive_mode takes effect at a restart")
		if err := o.Restart(ctx); err != nil {
			return st, fmt.Errorf("restarting PostgreSQL: %w", err)
		}
		if err := waitAnswers(ctx, o.URL, time.Minute); err != nil {
			return st, fmt.Errorf("PostgreSQL does not answer after its restart: %w", err)
		}
	} else {
		// The reload is asynchronous: give the postmaster a moment to pass the new
		// archive_command to the archiver before check pushes a segment through it.
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := st.pgBackRest(ctx, "stanza-create"); err != nil {
		return st, err
	}
	if _, err := st.pgBackRest(ctx, "check"); err != nil {
		return st, err
	}
	fmt.Fprintf(out, "stanza %s created; WAL archiving checked\n", st.Stanza)
	return st, nil
}

// server is what Setup reads from the running cluster.
type server struct {
	dataDir, socketDir, user, walLevel, archiveMode string
	port                                            int
	archiveTimeout                                  int // seconds
}

func readServer(ctx context.Context, c *pgx.Conn) (server, error) {
	var s server
	var super bool
	var sockets string
	err := c.QueryRow(ctx, `SELECT current_setting('data_directory'), current_setting('port')::int,
  current_setting('unix_socket_directories'), current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
  current_setting('wal_level'), current_setting('archive_mode'),
  (SELECT setting::int FROM pg_settings WHERE name = 'archive_timeout')`).
		Scan(&s.dataDir, &s.port, &sockets, &s.user, &super, &s.walLevel, &s.archiveMode, &s.archiveTimeout)
	if err != nil {
		return s, fmt.Errorf("reading the cluster's settings (this needs a superuser): %w", err)
	}
	if !super {
		return s, fmt.Errorf("role %s is not a superuser: backups need one (pg_start_backup, ALTER SYSTEM)", s.user)
	}
	for _, d := range strings.Split(sockets, ",") {
		d = strings.TrimSpace(d)
		if strings.HasPrefix(d, "/") && isDir(d) {
			s.socketDir = d
			break
		}
	}
	return s, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings is on).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// waitAnswers polls url until a query succeeds or the time is up.
func waitAnswers(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		err := answers(ctx, url)
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

func answers(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, "SELECT 1")
	return err
}
