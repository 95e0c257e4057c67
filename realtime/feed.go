package realtime

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kapok-dev/kapok/planner"
)

// ChangeChannel is the NOTIFY channel of the change triggers; the payload is the changed
// table's oid.
const ChangeChannel = "kapok_changes"

// TriggerName is the statement trigger Kapok installs on a table a subscription reads.
const TriggerName = "kapok_changes"

// installFunctionSQL creates the trigger function and the leases once per database. A
// statement trigger NOTIFYs only while a replica holds a lease on its table (a replica
// renews its leases while it has subscribers reading the table): NOTIFY serialises the
// commits of the transactions that send one, so a table nobody subscribes to must not
// pay for it, only for an index lookup. PostgreSQL folds the identical notifications of
// one transaction into one.
const installFunctionSQL = `DO $install$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('kapok.notify_change_v1'));
  CREATE SCHEMA IF NOT EXISTS kapok;
  CREATE TABLE IF NOT EXISTS kapok.watched (relid oid PRIMARY KEY, until timestamptz NOT NULL);
  REVOKE ALL ON kapok.watched FROM PUBLIC;
  CREATE OR REPLACE FUNCTION kapok.notify_change_v1() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
  BEGIN
    IF EXISTS (SELECT 1 FROM kapok.watched WHERE relid = TG_RELID AND until > now()) THEN
      PERFORM pg_notify('kapok_changes', TG_RELID::text);
    END IF;
    RETURN NULL;
  END
  $fn$;
  REVOKE ALL ON FUNCTION kapok.notify_change_v1() FROM PUBLIC;
END
$install$`

// leaseSQL takes or renews the leases of tables ($1, oids) for leaseTTL.
const leaseSQL = `INSERT INTO kapok.watched (relid, until) SELECT r, now() + $2::interval FROM unnest($1::oid[]) AS r
ON CONFLICT (relid) DO UPDATE SET until = greatest(kapok.watched.until, excluded.until)`

// Leases last leaseTTL and are renewed every leaseRenew while subscribers read a table.
const (
	leaseTTL   = 90 * time.Second
	leaseRenew = 30 * time.Second
)

// relID is a table of one database.
type relID struct {
	db  string
	oid uint32
}

// feed reports which tables changed: statement triggers NOTIFY ChangeChannel, and one
// LISTEN connection per database hears them. Its indexes are guarded by Hub.mu.
type feed struct {
	h *Hub

	mu  sync.Mutex
	dbs map[string]*feedDB

	byRel map[relID]map[*group]struct{}  // Hub.mu
	byDB  map[string]map[*group]struct{} // Hub.mu
}

// feedDB is one database: a small pool for lookups and installs, and its listener.
type feedDB struct {
	url       string
	pool      *pgxpool.Pool
	mu        sync.Mutex
	watched   map[string]watchedRel // schema \x00 name
	installed bool
	// replicated: the changes come from the postgres_changes stream, not from triggers.
	replicated bool
	up         atomic.Bool   // the listener is listening
	ready      chan struct{} // closed once the listener's first attempt ended
	readyOnce  sync.Once
	cancel     context.CancelFunc
	done       chan struct{}
}

type watchedRel struct {
	oid     uint32
	trigger bool
}

func newFeed(h *Hub) *feed {
	return &feed{h: h, dbs: map[string]*feedDB{}, byRel: map[relID]map[*group]struct{}{}, byDB: map[string]map[*group]struct{}{}}
}

func (f *feed) close() {
	f.mu.Lock()
	dbs := f.dbs
	f.dbs = map[string]*feedDB{}
	f.mu.Unlock()
	for _, db := range dbs {
		db.cancel()
		<-db.done
		db.pool.Close()
	}
}

// watch makes sure the tables a plan reads report their changes. polled: at least one
// of them cannot (a view, no trigger where Kapok may not install one, an error): the
// group is then rerun every poll interval.
func (f *feed) watch(ctx context.Context, url string, managed bool, reads []planner.Relation) (db *feedDB, rels []relID, polled bool) {
	if url == "" {
		return nil, nil, true
	}
	db, err := f.db(url, managed)
	if err != nil {
		f.h.log.Warn("subscriptions: no change feed; polling", "err", err)
		return nil, nil, true
	}
	for _, r := range reads {
		if !r.Table {
			polled = true
			continue
		}
		w, err := db.watch(ctx, r, managed)
		if err != nil {
			f.h.log.Warn("subscriptions: cannot watch a table; polling it", "table", r.Schema+"."+r.Name, "err", err)
			polled = true
			continue
		}
		if !w.trigger {
			polled = true
		}
		rels = append(rels, relID{db: url, oid: w.oid})
	}
	return db, rels, polled
}

// index adds or removes g from the indexes. Call with Hub.mu held.
func (f *feed) index(g *group, add bool) {
	for _, r := range g.rels {
		m := f.byRel[r]
		if add {
			if m == nil {
				m = map[*group]struct{}{}
				f.byRel[r] = m
			}
			m[g] = struct{}{}
		} else if m != nil {
			delete(m, g)
			if len(m) == 0 {
				delete(f.byRel, r)
			}
		}
	}
	if len(g.rels) == 0 {
		return
	}
	db := g.rels[0].db
	m := f.byDB[db]
	if add {
		if m == nil {
			m = map[*group]struct{}{}
			f.byDB[db] = m
		}
		m[g] = struct{}{}
	} else if m != nil {
		delete(m, g)
		if len(m) == 0 {
			delete(f.byDB, db)
		}
	}
}

func (f *feed) db(url string, managed bool) (*feedDB, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if db := f.dbs[url]; db != nil {
		return db, nil
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns, cfg.MinConns = 2, 0
	cfg.MaxConnIdleTime = time.Minute
	cfg.ConnConfig.RuntimeParams["application_name"] = "kapok-realtime"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	db := &feedDB{url: url, pool: pool, watched: map[string]watchedRel{}, cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	if f.replicate(db, managed) {
		f.dbs[url] = db
		return db, nil
	}
	f.dbs[url] = db
	go f.listen(ctx, db)
	go f.renew(ctx, db)
	// The first groups of a database start once it listens, so their first results need
	// no catch-up refresh.
	select {
	case <-db.ready:
	case <-time.After(3 * time.Second):
	}
	return db, nil
}

// replicate makes the postgres_changes stream of a managed database db's feed, where Kapok
// has one (Options.Changes) and the database runs logical replication: no trigger, lease
// or LISTEN connection is needed then. It reports whether it did; otherwise the feed is
// the triggers' NOTIFY.
func (f *feed) replicate(db *feedDB, managed bool) bool {
	c := f.h.opts.Changes
	if c == nil || !managed {
		return false
	}
	w := &TableWatcher{
		Changed: func(oids []uint32) {
			var gs []*group
			for _, oid := range oids {
				gs = append(gs, f.groupsOfRel(relID{db: db.url, oid: oid})...)
			}
			if len(gs) > 0 {
				f.h.changed(gs)
			}
		},
		Watches: func(oid uint32) bool { return len(f.groupsOfRel(relID{db: db.url, oid: oid})) > 0 },
		Up: func(up bool) {
			db.up.Store(up)
			if gs := f.groupsOf(db.url); up && len(gs) > 0 {
				f.h.changed(gs) // missed while down
			} else if !up {
				f.h.signal() // its groups poll from now on
			}
		},
	}
	stop, err := c.WatchTables(db.url, w)
	if err != nil {
		f.h.log.Info("subscriptions: no logical replication; using change triggers", "err", err)
		return false
	}
	db.replicated = true
	db.up.Store(true)
	db.readyOnce.Do(func() { close(db.ready) })
	cancel := db.cancel
	db.cancel = func() { cancel(); stop() }
	close(db.done)
	return true
}

// watch finds r's oid and its trigger, installing it when Kapok may.
func (db *feedDB) watch(ctx context.Context, r planner.Relation, managed bool) (watchedRel, error) {
	k := r.Schema + "\x00" + r.Name
	db.mu.Lock()
	defer db.mu.Unlock()
	if w, ok := db.watched[k]; ok {
		return w, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var w watchedRel
	err := db.pool.QueryRow(ctx, `SELECT c.oid::int8, EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = $3)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
		r.Schema, r.Name, TriggerName).Scan(&w.oid, &w.trigger)
	if err != nil {
		return w, err
	}
	if db.replicated { // the WAL reports every table's changes
		w.trigger = true
		db.watched[k] = w
		return w, nil
	}
	if managed && !db.installed {
		// Also where the trigger exists: the function and leases of this version.
		if _, err := db.pool.Exec(ctx, installFunctionSQL); err != nil {
			return w, err
		}
		db.installed = true
	}
	if !w.trigger && managed {
		_, err := db.pool.Exec(ctx, "CREATE TRIGGER "+TriggerName+" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "+
			pgx.Identifier{r.Schema, r.Name}.Sanitize()+" FOR EACH STATEMENT EXECUTE FUNCTION kapok.notify_change_v1()")
		var pe *pgconn.PgError
		if err != nil && !(errors.As(err, &pe) && pe.Code == "42710") { // another replica was first
			return w, err
		}
		w.trigger = true
	}
	if w.trigger {
		// The lease before the first result: a change committed after it is reported.
		if err := db.lease(ctx, []uint32{w.oid}); err != nil {
			return w, err
		}
	}
	db.watched[k] = w
	return w, nil
}

// lease takes or renews the leases of oids.
func (db *feedDB) lease(ctx context.Context, oids []uint32) error {
	_, err := db.pool.Exec(ctx, leaseSQL, oids, leaseTTL.String())
	return err
}

// renew keeps the leases of the tables the database's groups read, while it runs.
func (f *feed) renew(ctx context.Context, db *feedDB) {
	t := time.NewTicker(leaseRenew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		seen := map[uint32]bool{}
		var oids []uint32
		for _, g := range f.groupsOf(db.url) {
			for _, r := range g.rels {
				if !seen[r.oid] {
					seen[r.oid] = true
					oids = append(oids, r.oid)
				}
			}
		}
		if len(oids) == 0 {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := db.lease(lctx, oids); err != nil {
			f.h.log.Warn("subscriptions: cannot renew change leases", "err", err)
		}
		cancel()
	}
}

// listen holds db's LISTEN connection, reconnecting after a loss. Whatever changed while
// it was not listening is unknown: every group of the database is refreshed on reconnect,
// and polled while it is down.
func (f *feed) listen(ctx context.Context, db *feedDB) {
	defer close(db.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := f.listenOnce(ctx, db)
		db.up.Store(false)
		f.h.signal() // its groups poll from now on
		db.readyOnce.Do(func() { close(db.ready) })
		if ctx.Err() != nil {
			return
		}
		f.h.log.Debug("subscriptions: change listener lost; polling meanwhile", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (f *feed) listenOnce(ctx context.Context, db *feedDB) error {
	cfg, err := pgx.ParseConfig(db.url)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = "kapok-realtime-listener"
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+ChangeChannel); err != nil {
		return err
	}
	db.up.Store(true)
	db.readyOnce.Do(func() { close(db.ready) })
	if gs := f.groupsOf(db.url); len(gs) > 0 {
		f.h.changed(gs) // missed while not listening
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		oid, err := strconv.ParseUint(n.Payload, 10, 32)
		if err != nil {
			continue
		}
		if gs := f.groupsOfRel(relID{db: db.url, oid: uint32(oid)}); len(gs) > 0 {
			f.h.changed(gs)
		}
	}
}

func (f *feed) groupsOf(db string) []*group {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	gs := make([]*group, 0, len(f.byDB[db]))
	for g := range f.byDB[db] {
		gs = append(gs, g)
	}
	return gs
}

func (f *feed) groupsOfRel(r relID) []*group {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	m := f.byRel[r]
	if len(m) == 0 {
		return nil
	}
	gs := make([]*group, 0, len(m))
	for g := range m {
		gs = append(gs, g)
	}
	return gs
}
