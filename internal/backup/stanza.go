package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultStanza names the stanza Kapok configures.
const DefaultStanza = "kapok"

// ConfigName is the stanza's pgBackRest configuration file in the backup directory.
const ConfigName = "pgbackrest.conf"

// Settings are what a stanza's pgbackrest.conf says.
type Settings struct {
	Stanza string
	// Repo is the repository directory (repo/ of the backup directory).
	Repo string
	// Compress is pgBackRest's compress-type: zst, lz4, gz, bz2 or none.
	Compress string
	// RetentionFull is how many full backups are kept (older ones expire with their WAL).
	RetentionFull int
	// The cluster: its data directory, port, the Unix socket directory pgBackRest connects
	// through ("" when the server has none: then through TCP, see Stanza.env) and the
	// superuser pgBackRest logs in as.
	PGPath, SocketPath, PGUser string
	PGPort                     int
}

// render writes the settings as pgbackrest.conf for a backup directory.
func (s Settings) render(dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `kapok backup setup`; `kapok backup` reads it back.\n")
	fmt.Fprintf(&b, "[global]\n")
	fmt.Fprintf(&b, "repo1-path=%s\n", s.Repo)
	fmt.Fprintf(&b, "repo1-retention-full=%d\n", s.RetentionFull)
	fmt.Fprintf(&b, "compress-type=%s\n", s.Compress)
	fmt.Fprintf(&b, "log-path=%s\n", filepath.Join(dir, "log"))
	fmt.Fprintf(&b, "lock-path=%s\n", filepath.Join(dir, "lock"))
	fmt.Fprintf(&b, "log-level-console=warn\n")
	fmt.Fprintf(&b, "log-level-file=info\n")
	// A backup starts with an immediate checkpoint rather than waiting for the next one.
	fmt.Fprintf(&b, "start-fast=y\n")
	fmt.Fprintf(&b, "process-max=2\n")
	fmt.Fprintf(&b, "\n[%s]\n", s.Stanza)
	fmt.Fprintf(&b, "pg1-path=%s\n", s.PGPath)
	fmt.Fprintf(&b, "pg1-port=%d\n", s.PGPort)
	if s.SocketPath != "" {
		fmt.Fprintf(&b, "pg1-socket-path=%s\n", s.SocketPath)
	}
	fmt.Fprintf(&b, "pg1-user=%s\n", s.PGUser)
	return b.String()
}

// parseSettings reads back what render wrote.
func parseSettings(data, stanza string) (Settings, error) {
	s := Settings{Stanza: stanza}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || (section != "global" && section != stanza) {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "repo1-path":
			s.Repo = v
		case "compress-type":
			s.Compress = v
		case "repo1-retention-full":
			s.RetentionFull, _ = strconv.Atoi(v)
		case "pg1-path":
			s.PGPath = v
		case "pg1-port":
			s.PGPort, _ = strconv.Atoi(v)
		case "pg1-socket-path":
			s.SocketPath = v
		case "pg1-user":
			s.PGUser = v
		}
	}
	if s.PGPath == "" {
		return s, fmt.Errorf("stanza %q has no pg1-path", stanza)
	}
	if s.PGPort == 0 {
		s.PGPort = 5432
	}
	if s.PGUser == "" {
		s.PGUser = "postgres"
	}
	return s, sc.Err()
}

// Stanza is a configured stanza: its backup directory and settings, and how to reach the
// live cluster.
type Stanza struct {
	Dir string // the backup directory (absolute)
	Settings
	// URL is a superuser's direct URL of the live cluster ("" when unknown: then Kapok
	// connects as pgBackRest does). Its host and password also reach pgBackRest when the
	// server has no Unix socket.
	URL string

	pgbackrest string
	user       osUser
}

// ErrNotSetUp: the backup directory has no pgbackrest.conf.
var ErrNotSetUp = errors.New("no backup is set up here: run `kapok backup setup` first")

// Open reads the stanza configured in dir. liveURL, when known, is a superuser's direct URL
// of the cluster.
func Open(dir, stanza, liveURL string) (*Stanza, error) {
	if stanza == "" {
		stanza = DefaultStanza
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(abs, ConfigName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", abs, ErrNotSetUp)
	}
	if err != nil {
		return nil, err
	}
	set, err := parseSettings(string(data), stanza)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(abs, ConfigName), err)
	}
	st := &Stanza{Dir: abs, Settings: set, URL: liveURL}
	if st.pgbackrest = findPgBackRest(); st.pgbackrest == "" {
		return nil, fmt.Errorf("pgbackrest not found; install it with:\n  sudo apt-get install -y --no-install-recommends %s", pgBackRestPackage)
	}
	if st.user, err = ownerOf(set.PGPath); errors.Is(err, os.ErrNotExist) {
		// A restore in place of a lost data directory: the repository's owner is the server's.
		st.user, err = ownerOf(set.Repo)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (s *Stanza) configPath() string { return filepath.Join(s.Dir, ConfigName) }

// env is what pgBackRest needs beyond its configuration: without a socket directory it
// connects through libpq's defaults, which PGHOST (and PGPASSWORD) point at the URL's host.
func (s *Stanza) env() []string {
	if s.SocketPath != "" {
		return nil
	}
	host, password := "127.0.0.1", ""
	if u, err := url.Parse(s.URL); err == nil && s.URL != "" {
		if h := u.Hostname(); h != "" {
			host = h
		}
		password, _ = u.User.Password()
	}
	env := []string{"PGHOST=" + host}
	if password != "" {
		env = append(env, "PGPASSWORD="+password)
	}
	return env
}

// pgBackRest runs a pgbackrest command on the stanza as the cluster's owner.
func (s *Stanza) pgBackRest(ctx context.Context, command string, args ...string) (string, error) {
	all := append([]string{"--config=" + s.configPath(), "--stanza=" + s.Stanza, command}, args...)
	return s.user.run(ctx, s.env(), s.pgbackrest, all...)
}

// archiveCommand is the archive_command that pushes the server's WAL into the repository.
func archiveCommand(pgbackrest, config, stanza string) string {
	return fmt.Sprintf("%s --config=%s --stanza=%s archive-push %%p", pgbackrest, config, stanza)
}

// connURL is the URL Kapok connects to the live cluster with: the one it was given, else
// the socket or loopback pgBackRest uses, as pg1-user.
func (s *Stanza) connURL(db string) string {
	if s.URL != "" {
		return withDatabase(s.URL, db)
	}
	host := "127.0.0.1"
	if s.SocketPath != "" {
		host = s.SocketPath
	}
	return socketURL(host, s.PGPort, s.PGUser, db)
}

// socketURL is a URL to host (a directory for a Unix socket) and port.
func socketURL(host string, port int, user, db string) string {
	q := url.Values{"host": {host}, "port": {strconv.Itoa(port)}, "user": {user}, "sslmode": {"disable"}}
	return "postgres:///" + url.PathEscape(db) + "?" + q.Encode()
}

// withDatabase returns raw with its database replaced by db.
func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil || db == "" {
		return raw
	}
	u.Path = "/" + db
	u.RawPath = ""
	return u.String()
}
