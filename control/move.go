package control

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kapok-dev/kapok/internal/pgtool"
)

// A move takes a schema-mode tenant to a database of its own while it is served
// (MoveTenant):
//
//  1. the structure: CREATE DATABASE, then pg_dump --schema-only of the tenant's schemas and
//     Kapok Auth store, restored into it under the same names (the store takes the name
//     AuthSchema gives it in a database of its own, auth, at the switch);
//  2. the data: a publication of those schemas and a logical replication slot on the
//     source (the publication first: pgoutput looks the publication up as of each decoded
//     transaction, so a slot older than it fails on the first change after its creation),
//     and a subscription in the new database that copies every table and then follows;
//  3. the pause: the caller holds the tenant's new requests and waits for those in flight;
//     the tenant's tables are locked against writes in the source (other replicas, the wire
//     port), and a marker row written after the lock is waited for in the new database:
//     every write before it is applied there. Sequences are copied (replication does not);
//  4. the switch: the tenant's row says mode database and the new database, with a new
//     revision (other replicas follow on its NOTIFY), the registry serves the replacement,
//     the OnMove hooks release what was the old tenant's, and the caller resumes;
//  5. the clean-up: the subscription, then, in the transaction that holds the locks, the old
//     schemas, the publication and the marker; then the slot.
//
// Anything failing before the switch undoes what was done (the new database, subscription,
// slot, publication, replica identities) and resumes the tenant as it was.

// MoveRequest is the admin API's request to move a tenant.
type MoveRequest struct {
	// Mode is where the tenant goes: "database" (a database of its own) is the only move.
	Mode string `json:"mode"`
	// Database names the new database; default the name tenant creation would give it
	// (the tenant's name with '-' as '_').
	Database string `json:"database"`
}

// MoveHooks is what the caller does around the switch on this replica.
type MoveHooks struct {
	// Prepare runs on a connection to the new database before the tenant's structure is
	// restored into it (the proxy installs Kapok Auth's SQL helpers, which policies call).
	Prepare func(ctx context.Context, conn *pgx.Conn) error
	// Pause holds the tenant's new requests and returns once those in flight finished; on
	// an error it holds nothing. Without it (nil) nothing is held, and Resume is not called.
	Pause func(ctx context.Context, tenant string) error
	// Resume lets the held requests go on, to the tenant as it is then.
	Resume func(tenant string)
}

// Moved reports a move.
type Moved struct {
	Tenant   *Tenant
	Database string
	// Tables is how many tables were copied (the tenant's and its Kapok Auth store's).
	Tables int
	// Copy runs from the start until the new database held the structure and a copy of
	// every table; CatchUp is the final catch-up under the pause, until the new database
	// had applied the last write and the sequences; Pause is how long the tenant's requests
	// were held (writes paused); Cleanup is dropping what the move used and the old
	// schemas, after the requests resumed; Total is the whole call.
	Copy, CatchUp, Pause, Cleanup, Total time.Duration
	// Warnings name clean-up steps that failed after the switch: the tenant is served from
	// its new database, and what they name was left behind (see the log).
	Warnings []string
}

// Bounds of the steps under the pause: past them the move is undone and the tenant
// resumes as it was.
const (
	moveLockTimeout  = 3 * time.Second // locking the tenant's tables in the source
	moveCatchUpLimit = 5 * time.Second // the new database applying the last writes
)

// MoveTenant moves a control-table tenant from its schemas in a shared database to a
// database of its own, copying its structure and data while it is served, and switching
// it under a pause of its requests (hooks) that lasts the final catch-up. It returns once
// the tenant is served from the new database.
func (s *Store) MoveTenant(ctx context.Context, name string, req *MoveRequest, hooks MoveHooks) (*Moved, error) {
	start := time.Now()
	t := s.reg.Tenant(name)
	if t == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownTenant, name)
	}
	if !s.Managed(name) {
		return nil, fmt.Errorf("%w: tenant %q is defined in the config file: only tenants of the control tables (the admin API's) can be moved", ErrConflict, name)
	}
	if req.Mode != "database" {
		return nil, fmt.Errorf("%w: mode %q: a tenant moves to mode \"database\" (a database of its own)", ErrInvalid, req.Mode)
	}
	if t.Config.Mode == "database" {
		return nil, fmt.Errorf("%w: tenant %q already has a database of its own (%s)", ErrConflict, name, t.Config.Database)
	}
	dbName := req.Database
	if dbName == "" {
		dbName = strings.ReplaceAll(name, "-", "_")
	}
	if err := checkObjectName(dbName, "database"); err != nil {
		return nil, err
	}
	if err := s.reg.cfg.CheckManaged(t.Config, "moving a tenant"); err != nil {
		return nil, err
	}
	if !s.beginMove(name) {
		return nil, fmt.Errorf("%w: tenant %q is being moved already", ErrConflict, name)
	}
	defer s.endMove(name)
	tc := *t.Config
	tc.Mode, tc.Database, tc.Schemas = "database", dbName, append([]string(nil), t.Config.Schemas...)
	if err := s.reg.cfg.NormalizeTenant(&tc); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, err)
	}
	m := &move{s: s, log: s.log.With("tenant", name, "database", dbName), t: t, tc: &tc, hooks: hooks,
		id: moveName(name), srcURL: t.DirectURL, dstURL: s.reg.cfg.DirectURL(&tc),
		upURL: s.reg.cfg.Upstreams[t.Config.Upstream].URL}
	m.res.Database = dbName
	return m.run(ctx, start)
}

func (s *Store) beginMove(name string) bool {
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	if s.moving[name] {
		return false
	}
	s.moving[name] = true
	return true
}

func (s *Store) endMove(name string) {
	s.moveMu.Lock()
	delete(s.moving, name)
	s.moveMu.Unlock()
}

// notMoving refuses changes to a tenant this replica is moving: DDL would not be
// replicated, and a deleted or reconfigured tenant would come back as it was.
func (s *Store) notMoving(name string) error {
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	if s.moving[name] {
		return fmt.Errorf("%w: tenant %q is being moved to a database of its own; try again when the move is done", ErrConflict, name)
	}
	return nil
}

// OnMove registers fn to run when a tenant was moved to another database: on the replica
// that moved it under the pause, right after the switch; on the others when they follow
// the control tables. old is the tenant as it was: what was opened for it goes.
func (s *Store) OnMove(fn func(old, cur *Tenant)) {
	s.hooksMu.Lock()
	s.onMove = append(s.onMove, fn)
	s.hooksMu.Unlock()
}

func (s *Store) runMove(old, cur *Tenant) {
	s.hooksMu.Lock()
	hooks := append([]func(old, cur *Tenant){}, s.onMove...)
	s.hooksMu.Unlock()
	for _, fn := range hooks {
		fn(old, cur)
	}
}

// updateServed serves the changed row of a served tenant: in place, or, when its database
// changed (another replica moved it), as a replacement, after which the OnMove hooks run.
// syncMu is held.
func (s *Store) updateServed(ctx context.Context, tc *TenantConfig) (*Tenant, error) {
	old := s.reg.Tenant(tc.Name)
	if err := s.reg.cfg.NormalizeTenant(tc); err != nil {
		return nil, err
	}
	if old == nil || old.DirectURL == s.reg.cfg.DirectURL(tc) {
		return s.reg.UpdateTenant(tc)
	}
	t, err := s.reg.ReplaceTenant(ctx, tc)
	if err != nil {
		return nil, err
	}
	s.log.Info("tenant moved to another database; serving it from there", "tenant", tc.Name, "database", tc.Database)
	s.runMove(old, t)
	return t, nil
}

// moveName names a move's slot, publication, subscription and marker table after the
// tenant, within PostgreSQL's 63 bytes.
func moveName(tenant string) string {
	const prefix, maxIdent = "kapok_move_", 63
	name := strings.ReplaceAll(tenant, "-", "_")
	if len(prefix)+len(name) <= maxIdent {
		return prefix + name
	}
	h := sha256.Sum256([]byte(tenant))
	return prefix + name[:maxIdent-len(prefix)-13] + "_" + hex.EncodeToString(h[:6])
}

// move is one MoveTenant in progress, and what it made so far (for undo).
type move struct {
	s     *Store
	log   *slog.Logger
	t     *Tenant       // the tenant as served before the move
	tc    *TenantConfig // as served after it
	hooks MoveHooks
	// id names the slot, the publication, the subscription and the marker table.
	id                    string
	srcURL, dstURL, upURL string

	revision  int64    // of the tenant's row when the move began
	schemas   []string // what moves: the tenant's schemas and its Kapok Auth store's
	authStore string   // the store's schema in the source ("" without one)
	tables    []string // quoted names of the tables, to lock
	sequences []string // quoted names
	matviews  []string // quoted names of the materialized views populated in the source
	// identity holds the tables given REPLICA IDENTITY FULL for the move (no primary
	// key: updates and deletes need it), with the identity to give back on undo.
	identity     map[string]string
	skipTriggers map[uint32]bool // Realtime's change triggers, not restored
	signature    string          // of the structure when it was dumped

	src    *pgx.Conn // the migration lock, then the pause's table locks
	lockTx pgx.Tx

	createdDB, published, slotted, subscribed, paused, switched bool

	next *Tenant // attached, not yet served

	res Moved
}

func (m *move) run(ctx context.Context, start time.Time) (_ *Moved, err error) {
	defer func() {
		if err != nil && !m.switched {
			m.log.Warn("tenant move failed; undone", "err", err)
			m.undo(ctx)
		}
		if m.src != nil {
			m.src.Close(context.WithoutCancel(ctx))
		}
	}()
	m.log.Info("moving tenant to a database of its own", "schemas", strings.Join(m.t.Config.Schemas, ","))
	if err := m.inspect(ctx); err != nil {
		return nil, err
	}
	if err := m.copyStructure(ctx); err != nil {
		return nil, err
	}
	if err := m.replicate(ctx); err != nil {
		return nil, err
	}
	// Caught up with the writes of the copy before the pause: the pause then waits only
	// for the last few.
	if err := m.applied(ctx, time.Minute); err != nil {
		return nil, err
	}
	m.res.Copy = time.Since(start)
	// The new database's watcher listens (and has Kapok's DDL event trigger) before the
	// pause, so the switch does not wait for it; the catalog is loaded there too (its
	// role's grants made) unless a Kapok Auth store must be renamed first (below). DDL
	// after this fails the move (structureSQL).
	if m.next, err = m.s.reg.attach(ctx, m.tc); err != nil {
		return nil, err
	}
	if m.authStore == "" {
		if err := m.loadNext(ctx); err != nil {
			return nil, err
		}
	}
	if err := m.pauseAndSwitch(ctx); err != nil {
		return nil, err
	}
	cstart := time.Now()
	m.cleanup(ctx)
	m.res.Cleanup = time.Since(cstart)
	m.res.Total = time.Since(start)
	m.log.Info("tenant moved", "copy", m.res.Copy, "catch_up", m.res.CatchUp, "pause", m.res.Pause,
		"cleanup", m.res.Cleanup, "total", m.res.Total, "tables", m.res.Tables, "warnings", len(m.res.Warnings))
	return &m.res, nil
}

// structureSQL describes the relations and columns of the moving schemas: a change to it
// between the dump and the switch (DDL that did not wait for the move) fails the move.
const structureSQL = `SELECT coalesce(md5(string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || coalesce(a.cols, ''),
  ';' ORDER BY n.nspname, c.relname)), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum) AS cols
  FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) a ON true
WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')`

// inspect opens the session on the source, takes the tenant's migration lock and checks
// that what it holds can move.
func (m *move) inspect(ctx context.Context) error {
	if err := m.s.db.QueryRow(ctx, "SELECT revision FROM kapok.tenants WHERE name = $1", m.t.Name).Scan(&m.revision); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w %q", ErrUnknownTenant, m.t.Name)
		}
		return err
	}
	cfg, err := pgx.ParseConfig(m.srcURL)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = "kapok-move"
	if m.src, err = pgx.ConnectConfig(ctx, cfg); err != nil {
		return err
	}
	// Held until the end: migrations of the tenant wait for the move, on every replica.
	var locked bool
	if err := m.src.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtext('kapok.migrate:' || $1::text))", m.t.Name).Scan(&locked); err != nil {
		return err
	}
	if !locked {
		return fmt.Errorf("%w: a migration of tenant %q is running; try again when it is done", ErrConflict, m.t.Name)
	}
	for _, sc := range m.t.Config.Schemas {
		if sc == "auth" {
			return fmt.Errorf("%w: tenant %q exposes schema auth, which is Kapok Auth's in a database of its own", ErrConflict, m.t.Name)
		}
	}
	auth := AuthSchema(m.t.Config)
	rows, err := m.src.Query(ctx, "SELECT nspname::text FROM pg_namespace WHERE nspname = ANY($1)", append(append([]string(nil), m.t.Config.Schemas...), auth))
	if err != nil {
		return err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, sc := range m.t.Config.Schemas {
		if !slices.Contains(found, sc) {
			return fmt.Errorf("%w: tenant %q has no schema %s in its database: nothing to move", ErrConflict, m.t.Name, sc)
		}
	}
	m.schemas = append([]string(nil), m.t.Config.Schemas...)
	if slices.Contains(found, auth) {
		m.authStore = auth
		m.schemas = append(m.schemas, auth)
	}
	if err := m.checkEvents(ctx); err != nil {
		return err
	}
	if err := m.listRelations(ctx); err != nil {
		return err
	}
	if err := m.listTriggers(ctx); err != nil {
		return err
	}
	return m.src.QueryRow(ctx, structureSQL, m.schemas).Scan(&m.signature)
}

// checkEvents refuses a tenant with event triggers, cron triggers or undelivered events:
// they live in the source database's kapok_events, which does not move.
func (m *move) checkEvents(ctx context.Context) error {
	var has bool
	if err := m.src.QueryRow(ctx, "SELECT to_regclass('kapok_events.triggers') IS NOT NULL AND to_regclass('kapok_events.cron_triggers') IS NOT NULL").Scan(&has); err != nil || !has {
		return err
	}
	var busy bool
	err := m.src.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM kapok_events.triggers WHERE tenant = $1)
  OR EXISTS (SELECT 1 FROM kapok_events.cron_triggers WHERE tenant = $1)
  OR EXISTS (SELECT 1 FROM kapok_events.event_log WHERE tenant = $1 AND state = 'pending')`, m.t.Name).Scan(&busy)
	if err != nil {
		return err
	}
	if busy {
		return fmt.Errorf("%w: tenant %q has event triggers, cron triggers or pending events, which do not move with it: delete them, "+
			"move the tenant, then create them again", ErrConflict, m.t.Name)
	}
	return nil
}

// listRelations lists what the move locks, copies and sets: tables, sequences,
// materialized views, and the tables whose updates and deletes logical replication cannot
// identify without REPLICA IDENTITY FULL. Unlogged and foreign tables cannot move.
func (m *move) listRelations(ctx context.Context) error {
	rows, err := m.src.Query(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text,
  c.relpersistence::text, c.relreplident::text, c.relispopulated,
  EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'S', 'm', 'f') ORDER BY 1`, m.schemas)
	if err != nil {
		return err
	}
	defer rows.Close()
	m.identity = map[string]string{}
	for rows.Next() {
		var name, kind, persistence, ident string
		var populated, pk bool
		if err := rows.Scan(&name, &kind, &persistence, &ident, &populated, &pk); err != nil {
			return err
		}
		switch {
		case kind == "f":
			return fmt.Errorf("%w: %s is a foreign table, which cannot be copied to another database", ErrConflict, name)
		case persistence == "u" && kind != "S":
			return fmt.Errorf("%w: %s is an unlogged table, which logical replication does not copy: ALTER TABLE %s SET LOGGED first", ErrConflict, name, name)
		case kind == "S":
			m.sequences = append(m.sequences, name)
		case kind == "m":
			if populated {
				m.matviews = append(m.matviews, name)
			}
		case kind == "r" || kind == "p":
			m.tables = append(m.tables, name)
			if kind == "r" && (ident == "n" || ident == "d" && !pk) {
				m.identity[name] = ident
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	m.res.Tables = len(m.tables)
	return nil
}

// listTriggers finds the triggers of the moving tables that call functions outside the
// moving schemas: Realtime's change triggers (schema kapok) are left behind, since
// Realtime installs them where a subscription needs them; the event triggers' (schema
// kapok_events) were refused already.
func (m *move) listTriggers(ctx context.Context) error {
	rows, err := m.src.Query(ctx, `SELECT t.oid
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace tn ON tn.oid = c.relnamespace
JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE NOT t.tgisinternal AND tn.nspname = ANY($1) AND pn.nspname = 'kapok'`, m.schemas)
	if err != nil {
		return err
	}
	oids, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return err
	}
	m.skipTriggers = map[uint32]bool{}
	for _, oid := range oids {
		m.skipTriggers[oid] = true
	}
	return nil
}

// copyStructure creates the new database and restores the moving schemas' structure in it.
func (m *move) copyStructure(ctx context.Context) error {
	var major int
	if err := m.src.QueryRow(ctx, "SELECT current_setting('server_version_num')::int / 10000").Scan(&major); err != nil {
		return err
	}
	dump, restore, err := moveTools(m.s.reg.cfg.Tenancy.PgDump, major)
	if err != nil {
		return err
	}
	up, err := m.s.directPool(ctx, m.upURL)
	if err != nil {
		return err
	}
	if _, err := up.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{m.tc.Database}.Sanitize()); err != nil {
		return provisionErr(err, "database", m.tc.Database)
	}
	m.createdDB = true
	dir, err := os.MkdirTemp("", "kapok-move-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file, list := filepath.Join(dir, "schema.dump"), filepath.Join(dir, "schema.list")
	args := []string{"--schema-only", "--format=custom", "--no-sync", "-f", file}
	for _, sc := range m.schemas {
		args = append(args, "-n", pgx.Identifier{sc}.Sanitize())
	}
	if _, err := runTool(ctx, dump, m.srcURL, args...); err != nil {
		return err
	}
	toc, err := runTool(ctx, restore, "", "-l", file)
	if err != nil {
		return err
	}
	if err := os.WriteFile(list, []byte(filterTOC(string(toc), m.skipTriggers)), 0o600); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, m.dstURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if m.hooks.Prepare != nil {
		if err := m.hooks.Prepare(ctx, conn); err != nil {
			return fmt.Errorf("prepare database %s: %w", m.tc.Database, err)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS kapok; "+markerTableSQL(m.id)); err != nil {
		return err
	}
	_, err = runTool(ctx, restore, m.dstURL, "--exit-on-error", "--single-transaction", "-L", list, file)
	return err
}

func markerTableSQL(id string) string {
	return "CREATE TABLE kapok." + pgx.Identifier{id}.Sanitize() + " (id int PRIMARY KEY, token bigint NOT NULL)"
}

// replicate publishes the moving schemas, subscribes the new database to them and waits
// until every table is copied and followed.
func (m *move) replicate(ctx context.Context) error {
	src, err := m.s.directPool(ctx, m.srcURL)
	if err != nil {
		return err
	}
	id := pgx.Identifier{m.id}.Sanitize()
	quoted := make([]string, len(m.schemas))
	for i, sc := range m.schemas {
		quoted[i] = pgx.Identifier{sc}.Sanitize()
	}
	err = pgx.BeginFunc(ctx, src, func(tx pgx.Tx) error {
		// DDL on a publication names no schema: the event trigger notifies these instead
		// of "everything" (installTriggerSQL).
		if _, err := tx.Exec(ctx, "SELECT set_config('kapok.ddl_schemas', $1, true)", strings.Join(m.schemas, ",")); err != nil {
			return err
		}
		for table := range m.identity {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+table+" REPLICA IDENTITY FULL"); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS kapok; "+markerTableSQL(m.id)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "CREATE PUBLICATION "+id+" FOR TABLE kapok."+id+", TABLES IN SCHEMA "+strings.Join(quoted, ", "))
		return err
	})
	if err != nil {
		return fmt.Errorf("publish the tenant's schemas: %w", err)
	}
	m.published = true
	// Outside a transaction, and before the subscription: CREATE SUBSCRIPTION cannot create
	// a slot in a database of the same cluster (it would wait for its own transaction).
	if _, err := src.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", m.id); err != nil {
		return fmt.Errorf("create the replication slot: %w", err)
	}
	m.slotted = true
	dst, err := m.s.directPool(ctx, m.dstURL)
	if err != nil {
		return err
	}
	if _, err := dst.Exec(ctx, "CREATE SUBSCRIPTION "+id+" CONNECTION "+quoteLiteral(m.srcURL)+" PUBLICATION "+id+
		" WITH (create_slot = false, slot_name = "+quoteLiteral(m.id)+", copy_data = true)"); err != nil {
		return fmt.Errorf("subscribe the new database: %w", err)
	}
	m.subscribed = true
	if err := m.waitSynced(ctx, dst); err != nil {
		return err
	}
	for _, mv := range m.matviews {
		if _, err := dst.Exec(ctx, "REFRESH MATERIALIZED VIEW "+mv); err != nil {
			return fmt.Errorf("refresh %s: %w", mv, err)
		}
	}
	return nil
}

// waitSynced waits until the subscription copied every table and follows it.
func (m *move) waitSynced(ctx context.Context, dst *pgxpool.Pool) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var waiting, total, errs int64
		err := dst.QueryRow(ctx, `SELECT count(r.srrelid) FILTER (WHERE r.srsubstate <> 'r'), count(r.srrelid),
  coalesce((SELECT st.apply_error_count + st.sync_error_count FROM pg_stat_subscription_stats st WHERE st.subid = s.oid), 0)
FROM pg_subscription s LEFT JOIN pg_subscription_rel r ON r.srsubid = s.oid WHERE s.subname = $1 GROUP BY s.oid`, m.id).Scan(&waiting, &total, &errs)
		if err != nil {
			return err
		}
		if errs > 0 {
			return fmt.Errorf("copying the tenant's tables into database %s failed (logical replication reported %d errors; the PostgreSQL log says why)", m.tc.Database, errs)
		}
		if waiting == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("copying the tenant's tables (%d of %d not done): %w", waiting, total, ctx.Err())
		case <-tick.C:
		}
	}
}

// pauseAndSwitch holds the tenant's requests, catches the new database up with the last
// writes and serves the tenant from it.
func (m *move) pauseAndSwitch(ctx context.Context) error {
	// Requests are held from here: the wait for those in flight counts.
	pauseStart := time.Now()
	if m.hooks.Pause != nil {
		if err := m.hooks.Pause(ctx, m.t.Name); err != nil {
			return fmt.Errorf("%w: pausing tenant %q: %s; nothing was changed, try again", ErrConflict, m.t.Name, err)
		}
		m.paused = true
	}
	catchUpStart := time.Now()
	if err := m.catchUp(ctx); err != nil {
		return err
	}
	m.res.CatchUp = time.Since(catchUpStart)
	dst, err := m.s.directPool(ctx, m.dstURL)
	if err != nil {
		return err
	}
	// Nothing more to apply; the worker must not look for the store's tables once they
	// are renamed below.
	if _, err := dst.Exec(ctx, "ALTER SUBSCRIPTION "+pgx.Identifier{m.id}.Sanitize()+" DISABLE"); err != nil {
		return err
	}
	if err := m.relocateAuthStore(ctx, dst); err != nil {
		return fmt.Errorf("kapok auth store: %w", err)
	}
	if m.authStore != "" {
		// Its first load installs the tenant's Kapok Auth store where it is missing: not
		// before the moved one is in place.
		if err := m.loadNext(ctx); err != nil {
			return err
		}
	}
	if err := m.switchRoute(ctx); err != nil {
		return err
	}
	if m.paused {
		m.hooks.Resume(m.t.Name)
		m.paused = false
	}
	m.res.Pause = time.Since(pauseStart)
	return nil
}

// loadNext loads the moved tenant's catalog in the new database.
func (m *move) loadNext(ctx context.Context) error {
	if err := m.s.reg.loadAttached(ctx, m.next); err != nil {
		return fmt.Errorf("load the tenant's catalog in database %s: %w", m.tc.Database, err)
	}
	return nil
}

// catchUp locks the tenant's tables against writes in the source, waits until the new
// database applied a marker written after the lock, and copies the sequences.
func (m *move) catchUp(ctx context.Context) error {
	var err error
	if m.lockTx, err = m.src.Begin(ctx); err != nil {
		return err
	}
	if _, err := m.lockTx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", moveLockTimeout.Milliseconds())); err != nil {
		return err
	}
	if len(m.tables) > 0 {
		// EXCLUSIVE lets reads go on; writes from anywhere (other replicas, the wire port)
		// wait for the end of this transaction, which drops the old schemas: they fail then,
		// rather than land in a schema the new database no longer follows.
		if _, err := m.lockTx.Exec(ctx, "LOCK TABLE "+strings.Join(m.tables, ", ")+" IN EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("%w: locking the tenant's tables for the switch: %s; nothing was changed, try again", ErrConflict, err)
		}
	}
	var sig string
	if err := m.lockTx.QueryRow(ctx, structureSQL, m.schemas).Scan(&sig); err != nil {
		return err
	}
	if sig != m.signature {
		return fmt.Errorf("%w: the tenant's tables changed (DDL) during the move; nothing was changed, try again", ErrConflict)
	}
	values, err := m.readSequences(ctx)
	if err != nil {
		return err
	}
	if err := m.applied(ctx, moveCatchUpLimit); err != nil {
		return err
	}
	dst, err := m.s.directPool(ctx, m.dstURL)
	if err != nil {
		return err
	}
	if len(values.names) > 0 {
		if _, err := dst.Exec(ctx, "SELECT pg_catalog.setval(n::regclass, v, c) FROM unnest($1::text[], $2::int8[], $3::bool[]) AS u(n, v, c)",
			values.names, values.last, values.called); err != nil {
			return fmt.Errorf("copy the sequences: %w", err)
		}
	}
	return nil
}

// applied writes a marker row in the source and waits until the new database applied it,
// at most limit: logical replication applies transactions in commit order, so every write
// committed before the marker is there too.
func (m *move) applied(ctx context.Context, limit time.Duration) error {
	src, err := m.s.directPool(ctx, m.srcURL)
	if err != nil {
		return err
	}
	dst, err := m.s.directPool(ctx, m.dstURL)
	if err != nil {
		return err
	}
	token := time.Now().UnixNano()
	marker := "kapok." + pgx.Identifier{m.id}.Sanitize()
	if _, err := src.Exec(ctx, "INSERT INTO "+marker+" (id, token) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET token = excluded.token", token); err != nil {
		return err
	}
	deadline := time.Now().Add(limit)
	for {
		var got int64
		err := dst.QueryRow(ctx, "SELECT token FROM "+marker+" WHERE id = 1").Scan(&got)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if got == token {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: database %s did not catch up with the tenant's writes within %s; nothing was changed, try again", ErrConflict, m.tc.Database, limit)
		}
		time.Sleep(time.Millisecond)
	}
}

type sequenceValues struct {
	names  []string
	last   []int64
	called []bool
}

// readSequences reads every moving sequence's position, under the table locks.
func (m *move) readSequences(ctx context.Context) (sequenceValues, error) {
	var v sequenceValues
	if len(m.sequences) == 0 {
		return v, nil
	}
	parts := make([]string, len(m.sequences))
	for i, seq := range m.sequences {
		parts[i] = fmt.Sprintf("SELECT %d AS i, last_value, is_called FROM %s", i, seq)
	}
	rows, err := m.lockTx.Query(ctx, strings.Join(parts, " UNION ALL ")+" ORDER BY i")
	if err != nil {
		return v, err
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var last int64
		var called bool
		if err := rows.Scan(&i, &last, &called); err != nil {
			return v, err
		}
		v.names, v.last, v.called = append(v.names, m.sequences[i]), append(v.last, last), append(v.called, called)
	}
	return v, rows.Err()
}

// relocateAuthStore gives the tenant's Kapok Auth store the schema a database-mode tenant
// has it in (AuthSchema: auth), beside Kapok Auth's SQL helpers when they are there.
func (m *move) relocateAuthStore(ctx context.Context, dst interface {
	Begin(context.Context) (pgx.Tx, error)
}) error {
	if m.authStore == "" || m.authStore == AuthSchema(m.tc) {
		return nil
	}
	from, to := pgx.Identifier{m.authStore}.Sanitize(), pgx.Identifier{AuthSchema(m.tc)}.Sanitize()
	return pgx.BeginFunc(ctx, dst, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", AuthSchema(m.tc)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			_, err := tx.Exec(ctx, "ALTER SCHEMA "+from+" RENAME TO "+to)
			return err
		}
		rows, err := tx.Query(ctx, `SELECT quote_ident(relname) FROM pg_class
WHERE relnamespace = $1::regnamespace AND relkind IN ('r', 'p') AND NOT relispartition`, m.authStore)
		if err != nil {
			return err
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, table := range tables {
			// Their indexes, constraints and owned sequences go with them.
			if _, err := tx.Exec(ctx, "ALTER TABLE "+from+"."+table+" SET SCHEMA "+to); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, "DROP SCHEMA "+from)
		return err
	})
}

// switchRoute records the tenant's new database, with a new revision that other replicas
// follow, and serves the tenant from it here.
func (m *move) switchRoute(ctx context.Context) error {
	s := m.s
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	var rev int64
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE kapok.tenants SET mode = $2, database = $3, revision = revision + 1, updated_at = now()
  WHERE name = $1 AND revision = $4 RETURNING revision`, m.t.Name, m.tc.Mode, m.tc.Database, m.revision).Scan(&rev)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: tenant %q was changed or deleted during the move; nothing was changed", ErrConflict, m.t.Name)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", TenantsChannel, m.t.Name)
		return err
	})
	if err != nil {
		return err
	}
	// From here the move is done, whatever fails: the row says so.
	m.switched = true
	cur := m.next
	m.next = nil
	s.managed[m.t.Name] = rev
	m.res.Tenant = cur
	old, err := s.reg.replace(cur)
	if err != nil {
		// Not while this replica moves it: its changes and deletion wait, and another
		// replica's would have failed the update above.
		m.log.Error("tenant move: the registry lost the tenant at the switch", "err", err)
		return nil
	}
	s.runMove(old, cur)
	return nil
}

// cleanup drops what the move used, and the old schemas. A failure is reported, not
// fatal: the tenant is served from its new database.
func (m *move) cleanup(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	warn := func(what string, err error) {
		if err != nil {
			m.res.Warnings = append(m.res.Warnings, what+": "+err.Error())
			m.log.Warn("tenant move: clean-up step failed", "step", what, "err", err)
		}
	}
	warn("drop subscription "+m.id+" in database "+m.tc.Database, m.dropSubscription(ctx))
	err := func() error {
		tx := m.lockTx
		m.lockTx = nil
		if _, err := tx.Exec(ctx, "SELECT set_config('kapok.ddl_schemas', $1, true)", strings.Join(m.schemas, ",")); err != nil {
			return err
		}
		quoted := make([]string, len(m.schemas))
		for i, sc := range m.schemas {
			quoted[i] = pgx.Identifier{sc}.Sanitize()
		}
		id := pgx.Identifier{m.id}.Sanitize()
		if _, err := tx.Exec(ctx, "DROP SCHEMA "+strings.Join(quoted, ", ")+" CASCADE; DROP PUBLICATION IF EXISTS "+id+
			"; DROP TABLE IF EXISTS kapok."+id); err != nil {
			_ = tx.Rollback(ctx)
			return err
		}
		return tx.Commit(ctx)
	}()
	warn("drop the old schemas "+strings.Join(m.schemas, ", ")+" and publication "+m.id, err)
	warn("drop replication slot "+m.id, m.dropSlot(ctx))
}

// dropSubscription drops the subscription and the marker table of the new database.
func (m *move) dropSubscription(ctx context.Context) error {
	dst, err := m.s.directPool(ctx, m.dstURL)
	if err != nil {
		return err
	}
	id := pgx.Identifier{m.id}.Sanitize()
	if m.subscribed {
		// Without its slot, the subscription is dropped without reaching the source; the
		// slot is the source's to drop.
		for _, q := range []string{"ALTER SUBSCRIPTION " + id + " DISABLE", "ALTER SUBSCRIPTION " + id + " SET (slot_name = NONE)", "DROP SUBSCRIPTION " + id} {
			if _, err := dst.Exec(ctx, q); err != nil {
				return err
			}
		}
		m.subscribed = false
	}
	_, err = dst.Exec(ctx, "DROP TABLE IF EXISTS kapok."+id)
	return err
}

// dropSlot drops the replication slot once the subscription's walsender has let it go.
func (m *move) dropSlot(ctx context.Context) error {
	if !m.slotted {
		return nil
	}
	src, err := m.s.directPool(ctx, m.srcURL)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := src.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", m.id)
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55006" || time.Now().After(deadline) {
			if err == nil {
				m.slotted = false
			}
			return err
		}
		time.Sleep(50 * time.Millisecond) // still active: the walsender is stopping
	}
}

// undo drops whatever the move made before its switch, and resumes the tenant as it was.
func (m *move) undo(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	fail := func(what string, err error) {
		if err != nil {
			m.log.Error("tenant move: undo step failed", "step", what, "err", err)
		}
	}
	if m.lockTx != nil {
		fail("unlock the tables", m.lockTx.Rollback(ctx))
		m.lockTx = nil
	}
	if m.paused {
		m.hooks.Resume(m.t.Name)
		m.paused = false
	}
	if m.next != nil {
		m.s.reg.detach(m.next)
		m.next = nil
	}
	if m.createdDB {
		fail("drop the subscription", m.dropSubscription(ctx))
	}
	fail("drop the replication slot", m.dropSlot(ctx))
	if m.published {
		fail("drop the publication", m.undoSource(ctx))
	}
	if m.createdDB {
		m.s.dropPool(m.dstURL)
		up, err := m.s.directPool(ctx, m.upURL)
		if err == nil {
			for try := 0; ; try++ {
				// The watcher closing in the background may connect once more.
				_, err = up.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{m.tc.Database}.Sanitize()+" WITH (FORCE)")
				if err == nil || try == 4 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		fail("drop database "+m.tc.Database, err)
	}
}

// undoSource drops the publication and the marker, and gives the tables their replica
// identity back.
func (m *move) undoSource(ctx context.Context) error {
	src, err := m.s.directPool(ctx, m.srcURL)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, src, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('kapok.ddl_schemas', $1, true)", strings.Join(m.schemas, ",")); err != nil {
			return err
		}
		id := pgx.Identifier{m.id}.Sanitize()
		if _, err := tx.Exec(ctx, "DROP PUBLICATION IF EXISTS "+id+"; DROP TABLE IF EXISTS kapok."+id); err != nil {
			return err
		}
		for table, ident := range m.identity {
			to := "DEFAULT"
			if ident == "n" {
				to = "NOTHING"
			}
			if _, err := tx.Exec(ctx, "ALTER TABLE "+table+" REPLICA IDENTITY "+to); err != nil {
				return err
			}
		}
		return nil
	})
}

// filterTOC comments out, in a pg_restore list, the triggers (by OID) not to restore.
func filterTOC(list string, skip map[uint32]bool) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(list, "\n") {
		// "3380; 2620 16720 TRIGGER schema table name owner": pg_trigger is catalog 2620.
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[0], ";") && f[1] == "2620" {
			if oid, err := strconv.ParseUint(f[2], 10, 32); err == nil && skip[uint32(oid)] {
				b.WriteString(";")
			}
		}
		b.WriteString(line)
	}
	return b.String()
}

var toolVersionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// moveTools finds pg_dump, and pg_restore beside it, for a server of major version major:
// the configured pg_dump (tenancy.pg_dump), else pg_dump on PATH when it is at least that
// version, else the server binaries' directory (pg_config --bindir, Debian's
// /usr/lib/postgresql/N/bin, RHEL's /usr/pgsql-N/bin).
func moveTools(configured string, major int) (dump, restore string, err error) {
	candidates := []string{configured}
	if configured == "" {
		candidates = nil
		if p, err := exec.LookPath("pg_dump"); err == nil {
			candidates = append(candidates, p)
		}
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			candidates = append(candidates, filepath.Join(strings.TrimSpace(string(out)), "pg_dump"))
		}
		candidates = append(candidates, fmt.Sprintf("/usr/lib/postgresql/%d/bin/pg_dump", major), fmt.Sprintf("/usr/pgsql-%d/bin/pg_dump", major))
	}
	var seen []string
	for _, c := range candidates {
		out, err := exec.Command(c, "--version").Output()
		if err != nil {
			continue
		}
		seen = append(seen, strings.TrimSpace(string(out))+" at "+c)
		v := 0
		if m := toolVersionRE.FindSubmatch(out); m != nil {
			v, _ = strconv.Atoi(string(m[1]))
		}
		restore := filepath.Join(filepath.Dir(c), "pg_restore")
		if v < major {
			continue
		}
		if _, err := exec.Command(restore, "--version").Output(); err != nil {
			seen = append(seen, "no pg_restore beside it")
			continue
		}
		return c, restore, nil
	}
	what := "none found"
	if len(seen) > 0 {
		what = "found " + strings.Join(seen, "; ")
	}
	if configured != "" {
		return "", "", fmt.Errorf("tenancy.pg_dump %s cannot copy a PostgreSQL %d database (%s): it must be pg_dump %d or newer, with pg_restore beside it", configured, major, what, major)
	}
	return "", "", fmt.Errorf("moving a tenant needs pg_dump and pg_restore %d or newer (%s): install the PostgreSQL %d client tools, or set tenancy.pg_dump", major, what, major)
}

// runTool runs a client tool, connected to dbURL when given (its password in PGPASSWORD,
// so that no error message shows it), and returns its standard output.
func runTool(ctx context.Context, tool, dbURL string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, tool)
	env := os.Environ()
	if dbURL != "" {
		var pw []string
		args, pw = pgtool.Connect(dbURL, args)
		env = append(env, pw...)
	}
	cmd.Args = append(cmd.Args, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%s: %s", filepath.Base(tool), msg)
	}
	return stdout.Bytes(), nil
}
