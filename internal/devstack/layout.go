package devstack

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// layout is a stack directory and the ports its services listen on.
type layout struct {
	dir                string // absolute, symlinks resolved
	pgPort, poolerPort int
}

func (l layout) dataDir() string    { return filepath.Join(l.dir, "pg") }
func (l layout) pgLog() string      { return filepath.Join(l.dir, "pg.log") }
func (l layout) iniPath() string    { return filepath.Join(l.dir, "pgbouncer.ini") }
func (l layout) userlist() string   { return filepath.Join(l.dir, "userlist.txt") }
func (l layout) poolerPID() string  { return filepath.Join(l.dir, "pgbouncer.pid") }
func (l layout) poolerLog() string  { return filepath.Join(l.dir, "pgbouncer.log") }
func (l layout) hasCluster() bool   { return fileExists(filepath.Join(l.dataDir(), "PG_VERSION")) }
func (l layout) pgAddr() string     { return fmt.Sprintf("127.0.0.1:%d", l.pgPort) }
func (l layout) poolerAddr() string { return fmt.Sprintf("127.0.0.1:%d", l.poolerPort) }

// directURL and poolerURL name database db as the superuser, straight to PostgreSQL or
// through PgBouncer.
func (l layout) directURL(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", superuser, l.pgAddr(), db)
}

func (l layout) poolerURL(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", superuser, l.poolerAddr(), db)
}

// ownedNames are the entries a stack directory may hold; Clean refuses to wipe anything else.
var ownedNames = map[string]bool{
	"pg": true, "pg.log": true, "pgbouncer.ini": true, "userlist.txt": true,
	"pgbouncer.pid": true, "pgbouncer.log": true, "tls": true, mailDir: true,
	"backup":     true, // kapok backup setup --dev: pgBackRest's configuration and repository
	adminKeyFile: true,
}

// postgresSettings go at the end of a new cluster's postgresql.conf: loopback only, no unix
// socket (so nothing collides with a system cluster's socket), and durability traded for
// speed, since the data can always be reloaded. wal_level = logical with room for slots
// and senders: Supabase Realtime's postgres_changes read the WAL (package realtime), and
// must also work where a test suite's Kapoks each hold a replication connection. With
// synchronous_commit off a commit reaches the WAL senders when the WAL writer flushes it:
// wal_writer_delay = 10ms (not 200ms) keeps changes reaching subscribers within tens of ms.
// pg_stat_statements gives the console's monitoring each tenant's statements.
func postgresSettings(port int) string {
	return fmt.Sprintf(`
# kapok dev stack
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = ''
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
wal_writer_delay = 10ms
shared_preload_libraries = 'pg_stat_statements'
`, port)
}

// pgbouncerINI is PgBouncer's config. auth_type trust with auth_user/auth_query lets roles
// created later (tenant roles) log in without editing userlist.txt. server_login_retry = 1
// (default 15) makes PgBouncer try the server again one second after a failed login, so a
// restarted PostgreSQL serves again within a second of accepting connections rather than
// fifteen; server_connect_timeout bounds a connect to a server that does not answer.
// A changed file is reloaded into a running PgBouncer by upPgBouncer.
func (l layout) pgbouncerINI() string {
	return fmt.Sprintf(`[databases]
* = host=127.0.0.1 port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
auth_user = %s
auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename=$1
pool_mode = transaction
max_client_conn = 4000
default_pool_size = 40
max_db_connections = 200
admin_users = %s
ignore_startup_parameters = extra_float_digits,options
pidfile = %s
logfile = %s
server_reset_query =
server_login_retry = 1
server_connect_timeout = 5
`, l.pgPort, l.poolerPort, l.userlist(), superuser, superuser, l.poolerPID(), l.poolerLog())
}

func userlistFile() string { return fmt.Sprintf("%q \"\"\n", superuser) }

// configuredPorts reads the ports an existing stack directory was set up with (0 when unknown):
// the last `port` of postgresql.conf (postgresql.auto.conf wins) and listen_port of pgbouncer.ini.
func configuredPorts(dir string) (pgPort, poolerPort int) {
	for _, f := range []string{filepath.Join(dir, "pg", "postgresql.conf"), filepath.Join(dir, "pg", "postgresql.auto.conf")} {
		if p := lastSetting(f, "port"); p > 0 {
			pgPort = p
		}
	}
	return pgPort, lastSetting(filepath.Join(dir, "pgbouncer.ini"), "listen_port")
}

// lastSetting returns the last integer value of `key = N` in a postgresql.conf-style file.
func lastSetting(path, key string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	v := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		k, val, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != key {
			continue
		}
		if n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), "'")); err == nil {
			v = n
		}
	}
	return v
}

// fallbackDir is where a stack lives when the service user cannot reach the directory asked
// for (say under /root): a directory of its own under /var/tmp, which the asked-for path
// then links to.
func fallbackDir(asked string) string {
	sum := sha256.Sum256([]byte(asked))
	return filepath.Join("/var/tmp", fmt.Sprintf("kapok-%x", sum[:6]))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// adminKeyFile holds the dev stack's admin key, made on first use: `kapok dev` serves the
// admin API and the console with it unless KAPOK_ADMIN_KEY or admin_key sets another.
const adminKeyFile = "admin-key"

// AdminKey returns the stack's admin key, creating it (0600) on first use.
func (s *Stack) AdminKey() (string, error) {
	path := filepath.Join(s.Dir, adminKeyFile)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	key := "dev-" + hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", err
	}
	return key, nil
}
