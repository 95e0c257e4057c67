package control

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kapok-dev/kapok/control/catalogload"
)

// SchemaChannel is the NOTIFY channel the event trigger signals on; the payload is a
// comma-separated list of affected schemas ("" = unknown, reload everything).
const SchemaChannel = "kapok_schema"

// The kinds of this process's LISTEN sessions, the start of their application_name (the
// rest names the host and the pid: "kapok-listener@host:1234").
const (
	SchemaListener  = "kapok-listener"
	TenantsListener = "kapok-tenant-listener"
)

// pgrstChannel is PostgREST's channel; `NOTIFY pgrst, 'reload schema'` reloads everything.
const pgrstChannel = "pgrst"

// installTriggerSQL creates the DDL event trigger. It runs under an advisory lock so that
// replicas starting together do not race, and only creates what is missing or of an older
// version, since re-creating would itself fire DDL notifications.
//
// Policies, triggers and rules have no schema of their own: they notify their table's
// (found by OID when made or altered, and from the address of what was dropped). A DROP's
// objects are notified by sql_drop; its ddl_command_end lists nothing and notifies nothing.
// A command that still names no schema (GRANT … TO a role, ALTER DEFAULT PRIVILEGES)
// notifies the schemas in the transaction's kapok.ddl_schemas setting when it has one:
// Kapok's own role scripts set it to the tenant's schemas, so granting one tenant's role
// reloads that tenant, not every tenant of the database. Without it, the payload is empty:
// reload everything.
const installTriggerSQL = `
DO $install$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('kapok.install_event_trigger'));
  IF to_regproc('kapok.notify_ddl_v3') IS NULL
     OR NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'kapok_ddl_end' AND evtfoid = to_regproc('kapok.notify_ddl_v3'))
     OR NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'kapok_sql_drop' AND evtfoid = to_regproc('kapok.notify_ddl_v3')) THEN
    CREATE SCHEMA IF NOT EXISTS kapok;
    CREATE OR REPLACE FUNCTION kapok.notify_ddl_v3() RETURNS event_trigger
    LANGUAGE plpgsql AS $fn$
    DECLARE
      affected text;
      commands int;
    BEGIN
      IF tg_event = 'sql_drop' THEN
        SELECT string_agg(DISTINCT coalesce(schema_name, CASE WHEN object_type = 'schema' THEN object_identity END,
                 CASE WHEN object_type IN ('policy', 'trigger', 'rule') THEN address_names[1] END), ',')
          INTO affected FROM pg_event_trigger_dropped_objects();
      ELSE
        SELECT string_agg(DISTINCT coalesce(c.schema_name, CASE WHEN c.object_type = 'schema' THEN c.object_identity END,
                 (SELECT n.nspname FROM pg_catalog.pg_class r JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace
                  WHERE r.oid = CASE c.classid
                    WHEN 'pg_catalog.pg_policy'::regclass THEN (SELECT p.polrelid FROM pg_catalog.pg_policy p WHERE p.oid = c.objid)
                    WHEN 'pg_catalog.pg_trigger'::regclass THEN (SELECT t.tgrelid FROM pg_catalog.pg_trigger t WHERE t.oid = c.objid)
                    WHEN 'pg_catalog.pg_rewrite'::regclass THEN (SELECT w.ev_class FROM pg_catalog.pg_rewrite w WHERE w.oid = c.objid)
                  END)), ','), count(*)
          INTO affected, commands FROM pg_event_trigger_ddl_commands() c;
        IF commands = 0 AND tg_tag LIKE 'DROP %' AND tg_tag <> 'DROP OWNED' THEN
          RETURN;
        END IF;
      END IF;
      IF affected IS NULL THEN
        affected := nullif(current_setting('kapok.ddl_schemas', true), '');
      END IF;
      IF affected IS NULL OR length(affected) > 7000 THEN
        affected := '';
      END IF;
      PERFORM pg_notify('kapok_schema', affected);
    END
    $fn$;
    DROP EVENT TRIGGER IF EXISTS kapok_ddl_end;
    DROP EVENT TRIGGER IF EXISTS kapok_sql_drop;
    CREATE EVENT TRIGGER kapok_ddl_end ON ddl_command_end EXECUTE FUNCTION kapok.notify_ddl_v3();
    CREATE EVENT TRIGGER kapok_sql_drop ON sql_drop EXECUTE FUNCTION kapok.notify_ddl_v3();
    DROP FUNCTION IF EXISTS kapok.notify_ddl_v2();
    DROP FUNCTION IF EXISTS kapok.notify_ddl_v1();
  END IF;
END
$install$`

// database watches one upstream database and reloads the tenants that live in it.
type database struct {
	r    *Registry
	url  string
	pool *pgxpool.Pool
	// managed: Kapok may install its DDL event trigger here. Otherwise it only listens
	// for PostgREST's NOTIFY and polls the catalog fingerprint.
	managed bool

	mu      sync.Mutex
	tenants map[string]*Tenant
	cancel  context.CancelFunc
	done    chan struct{}
	// listening is closed once the first LISTEN is active (or the watcher gave up on
	// listening): catalogs loaded after it cannot miss a notification.
	listening  chan struct{}
	listenOnce sync.Once
	// fingerprints of the poll fallback, by schema.
	prints map[string]string
}

func newDatabase(r *Registry, url string, pool *pgxpool.Pool, managed bool) *database {
	return &database{r: r, url: url, pool: pool, managed: managed, tenants: map[string]*Tenant{}, prints: map[string]string{},
		listening: make(chan struct{})}
}

func (db *database) add(t *Tenant) {
	db.mu.Lock()
	db.tenants[t.Name] = t
	db.mu.Unlock()
}

func (db *database) remove(t *Tenant) {
	db.mu.Lock()
	delete(db.tenants, t.Name)
	db.mu.Unlock()
}

func (db *database) list() []*Tenant {
	db.mu.Lock()
	defer db.mu.Unlock()
	out := make([]*Tenant, 0, len(db.tenants))
	for _, t := range db.tenants {
		out = append(out, t)
	}
	return out
}

// reload introspects one tenant and swaps its snapshot; from now on the watcher keeps it
// current.
func (db *database) reload(ctx context.Context, t *Tenant) error {
	t.loadMu.Lock()
	defer t.loadMu.Unlock()
	t.watched.Store(true)
	return db.load(ctx, t)
}

// ensure loads t unless a load finished since the caller found it without a catalog.
func (db *database) ensure(ctx context.Context, t *Tenant) error {
	t.loadMu.Lock()
	defer t.loadMu.Unlock()
	if t.snap.Load() != nil {
		return nil
	}
	t.watched.Store(true)
	return db.load(ctx, t)
}

// refresh reloads t for the watcher, unless it hibernated since the watcher listed it or
// a load that began after heard (when the watcher heard of the change; zero: unknown)
// already holds the change: a notification is sent at its transaction's commit, so a
// snapshot taken after it was heard sees that commit. A tenant created through the admin
// API is loaded right after its schema's DDL commits, before the debounced notification
// of that DDL comes round: this keeps it from being introspected twice.
func (db *database) refresh(ctx context.Context, t *Tenant, heard time.Time) {
	t.loadMu.Lock()
	defer t.loadMu.Unlock()
	if !t.watched.Load() || (!heard.IsZero() && t.loadedFrom.After(heard)) {
		return
	}
	_ = db.load(ctx, t)
}

// load introspects t and swaps its snapshot. t.loadMu is held.
func (db *database) load(ctx context.Context, t *Tenant) error {
	db.r.introspections.Add(1)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	began := time.Now()
	cat, err := catalogload.Load(ctx, db.pool, t.Config.Schemas)
	if err != nil {
		db.r.setErr(t, err)
		db.r.log.Error("schema load failed", "tenant", t.Name, "err", err)
		return err
	}
	t.loadedFrom = began
	if db.r.swap(t, cat) {
		db.r.log.Info("schema loaded", "tenant", t.Name, "version", shortVersion(cat.Version), "tables", len(cat.Tables))
		if len(cat.Tables) == 0 {
			db.r.log.Warn(noTablesWarning(t), "tenant", t.Name, "schemas_searched", strings.Join(t.Config.Schemas, ","))
		}
	}
	return nil
}

func shortVersion(v string) string {
	if len(v) > 12 {
		return v[:12]
	}
	return v
}

// reloadSchemas reloads the watched tenants exposing any of schemas, each mapped to when
// the watcher last heard of a change in it (zero: unknown); schemas nil means every
// tenant, the change heard of at everyone (zero: unknown). A cold or hibernated tenant is
// not watched: whatever changed, its next Ensure loads the catalog as it is then.
func (db *database) reloadSchemas(ctx context.Context, schemas map[string]time.Time, everyone time.Time) {
	for _, t := range db.list() {
		if !t.watched.Load() {
			continue
		}
		if schemas == nil {
			db.refresh(ctx, t, everyone)
		} else if heard, ok := lastHeard(t, schemas); ok {
			db.refresh(ctx, t, heard)
		}
	}
}

// lastHeard is when the watcher last heard of a change in one of t's schemas (zero when
// one of them was heard at an unknown time); false: none of them changed.
func lastHeard(t *Tenant, schemas map[string]time.Time) (time.Time, bool) {
	var last time.Time
	found := false
	for _, s := range t.Config.Schemas {
		at, ok := schemas[s]
		if !ok {
			continue
		}
		if at.IsZero() {
			return time.Time{}, true
		}
		if !found || at.After(last) {
			last = at
		}
		found = true
	}
	return last, found
}

func (db *database) markListening() { db.listenOnce.Do(func() { close(db.listening) }) }

// waitListening waits until the watcher listens, or at most limit.
func (db *database) waitListening(limit time.Duration) {
	select {
	case <-db.listening:
	case <-time.After(limit):
	}
}

// start launches the watcher once.
func (db *database) start() {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	db.cancel = cancel
	db.done = make(chan struct{})
	go db.run(ctx)
}

func (db *database) close() {
	db.mu.Lock()
	cancel, done := db.cancel, db.done
	db.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	db.pool.Close()
}

// run keeps a listener alive; after a lost connection it reconnects with backoff and
// reloads every watched tenant, since notifications sent meanwhile are lost.
func (db *database) run(ctx context.Context) {
	defer close(db.done)
	if !db.managed {
		// No event trigger here: PostgREST's NOTIFY is heard at once, other DDL within
		// one poll interval.
		polled := make(chan struct{})
		go func() { defer close(polled); db.poll(ctx) }()
		defer func() { <-polled }()
	}
	var backoff listenBackoff
	first := true
	for ctx.Err() == nil {
		listened, err := db.listen(ctx, !first)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errNoTrigger) {
			db.markListening()
			db.r.log.Warn("cannot install the DDL event trigger; polling the catalog fingerprint instead", "err", err)
			db.poll(ctx)
			return
		}
		first = false
		db.markListening() // a failing listener must not hold up start-up
		wait := backoff.next(listened)
		db.r.log.Warn("schema listener lost; reconnecting", "err", err, "backoff", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// listenBackoff spaces a listener's reconnection attempts: 100ms after a session that was
// listening, then doubling up to 5s while attempts keep failing. Starting over after every
// good session matters: a replica is stale for as long as it waits, and a listener cut now
// and then over weeks must not wait longer each time.
type listenBackoff struct{ d time.Duration }

func (b *listenBackoff) next(listened bool) time.Duration {
	if listened || b.d == 0 {
		b.d = 100 * time.Millisecond
	} else if b.d *= 2; b.d > 5*time.Second {
		b.d = 5 * time.Second
	}
	return b.d
}

// listenerName is the application_name of one of this process's LISTEN sessions: the
// listener's kind, then the host name and the pid, so that pg_stat_activity tells the
// replicas' listeners apart (a Kubernetes pod's host name is the pod's name) and an
// operator can end one replica's listener without touching the others'.
func listenerName(kind string) string {
	host, _ := os.Hostname()
	return processName(kind, host, os.Getpid())
}

// processName is kind@host:pid, the host name shortened to fit the 63 bytes PostgreSQL
// keeps of an application_name: the pid at the end must survive.
func processName(kind, host string, pid int) string {
	suffix := ":" + strconv.Itoa(pid)
	if room := 63 - len(kind) - 1 - len(suffix); len(host) > room {
		host = host[:max(room, 0)]
	}
	return kind + "@" + host + suffix
}

var errNoTrigger = errors.New("no event trigger")

// listen holds one LISTEN connection until it fails or ctx ends; listened reports whether
// it got as far as listening. After a reconnect (reloadFirst) it reloads every watched
// tenant of the database once listening: notifications sent while no session listened are
// lost, and the DDL they announced would otherwise stay unseen until the next change.
func (db *database) listen(ctx context.Context, reloadFirst bool) (listened bool, err error) {
	cfg, err := pgx.ParseConfig(db.url)
	if err != nil {
		return false, err
	}
	cfg.RuntimeParams["application_name"] = listenerName(SchemaListener)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	if db.managed {
		if _, err := conn.Exec(ctx, installTriggerSQL); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && (pgErr.Code == "42501" || pgErr.Code == "2F003") {
				return false, errors.Join(errNoTrigger, err)
			}
			return false, err
		}
	}
	if _, err := conn.Exec(ctx, "LISTEN "+SchemaChannel+"; LISTEN "+pgrstChannel); err != nil {
		return false, err
	}
	db.markListening()
	if reloadFirst {
		db.reloadSchemas(ctx, nil, time.Time{})
	}
	// A reader goroutine turns notifications into events; this goroutine debounces them,
	// so the connection is never interrupted by a timer.
	events := make(chan *pgconn.Notification, 64)
	errc := make(chan error, 1)
	go func() {
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				errc <- err
				return
			}
			events <- n
		}
	}()
	debounce := db.r.cfg.ReloadDebounce.D()
	// pending: the schemas named since the last reload, each with when it was last heard
	// of; heard: the batch's last notification, for a reload of everything.
	var pending map[string]time.Time
	all := false
	var timer <-chan time.Time
	var heard time.Time
	for {
		select {
		case err := <-errc:
			return true, err
		case n := <-events:
			heard = time.Now()
			if timer == nil {
				timer = time.After(debounce)
				pending = map[string]time.Time{}
			}
			switch {
			case n.Channel == pgrstChannel:
				if n.Payload == "" || strings.Contains(n.Payload, "schema") {
					all = true
				}
			case n.Payload == "":
				all = true
			default:
				for _, s := range strings.Split(n.Payload, ",") {
					pending[s] = heard
				}
			}
		case <-timer:
			if all {
				pending = nil // every tenant, heard of at the batch's last notification
			}
			db.reloadSchemas(ctx, pending, heard)
			timer, pending, all = nil, nil, false
		}
	}
}

// poll is the fallback without an event trigger: one cheap fingerprint query per interval
// for every schema of the database's tenants, and a full load only of the watched tenants
// whose schemas changed. Cold tenants' schemas are fingerprinted too: a tenant loaded later
// then has a baseline, and a change right after its load is seen.
func (db *database) poll(ctx context.Context) {
	tick := time.NewTicker(db.r.cfg.SchemaPoll.D())
	defer tick.Stop()
	for first := true; ; first = false {
		tenants := db.list()
		var schemas []string
		for _, t := range tenants {
			schemas = append(schemas, t.Config.Schemas...)
		}
		prints, err := catalogload.Fingerprints(ctx, db.pool, schemas)
		if err == nil {
			changed := map[string]time.Time{} // heard at an unknown time: reload regardless
			db.mu.Lock()
			for _, s := range schemas {
				if prev, seen := db.prints[s]; seen && prev != prints[s] {
					changed[s] = time.Time{}
				}
				db.prints[s] = prints[s]
			}
			db.mu.Unlock()
			switch {
			case first:
				// A change between the initial load and this first fingerprint would go
				// unseen: load once more now that the baseline is taken.
				db.reloadSchemas(ctx, nil, time.Time{})
			case len(changed) > 0:
				db.reloadSchemas(ctx, changed, time.Time{})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// noTablesWarning says what a tenant without tables or views usually means.
func noTablesWarning(t *Tenant) string {
	return fmt.Sprintf("tenant %s exposes no tables or views: searched schemas %s; check --schemas (schemas in the config) "+
		"and that the login role has USAGE on them and privileges on their tables", t.Name, strings.Join(t.Config.Schemas, ", "))
}
