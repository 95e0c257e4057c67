package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Publication is the publication Kapok's replication streams read: every table of the
// database (a partition's rows as its partitioned table's), created on first use in a
// managed upstream. Subscribers only ever see the
// tables their changeSub names, which are checked against their tenant's catalog.
const Publication = "kapok_realtime"

// Timing of a stream.
const (
	statusInterval = 10 * time.Second // standby status updates, at least
	// A stream that sends a transaction's changes more than watcherLate after its commit
	// tells its table watchers it is down, so that the GraphQL subscriptions over it poll
	// meanwhile; it tells them it is up again once it sends within watcherOnTime. The WAL
	// of every table of the database flows through the stream, so another tenant's bulk
	// writes can hold it back for seconds.
	watcherLate   = 500 * time.Millisecond
	watcherOnTime = 100 * time.Millisecond
	lagInterval   = 3 * time.Second // slot lag samples
	maxTxChanges  = 100000          // changes of one transaction kept for delivery
)

// ErrNotLogical means the upstream does not run with wal_level=logical.
var ErrNotLogical = errors.New("postgres_changes need PostgreSQL with wal_level=logical (and free max_replication_slots, max_wal_senders); " +
	"with the dev stack, run `kapok dev up`, which sets it and restarts PostgreSQL")

// errChangesRestart: the stream was stopping when a subscriber came; Subscribe starts another.
var errChangesRestart = errors.New("the change stream stopped")

// relation is a table as the WAL describes it, with what the checks need from the catalog.
type relation struct {
	id           uint32
	schema, name string
	cols         []string
	colIndex     map[string]int
	typName      []string   // pg_type.typname per column (_int4 for int4[])
	typCat       []byte     // pg_type.typcategory
	colType      []string   // format_type, schema-qualified: the casts of the checks
	elem         []elemType // an array column's element type
	pk           []string   // primary key columns, in key order
	pkSet        map[string]bool
	rls          bool // row-level security enabled
	warned       atomic.Bool
}

// elemType is an array's element type (zero for a column that is not an array).
type elemType struct {
	name string
	cat  byte
}

// stream is the replication connection of one database and its subscribers.
type stream struct {
	c   *Changes
	url string

	ready    chan struct{} // closed once the first attempt streams or failed
	readyErr error

	mu       sync.Mutex
	subs     map[*subscription]struct{}
	watchers map[*TableWatcher]struct{}
	grace    *time.Timer
	// stopping: the grace period ended; add refuses, so nobody joins a stream being stopped.
	stopping bool
	lag      float64 // bytes, -1 before the first sample
	up       bool
	slot     string // the current temporary slot

	// behind: the stream delivers too late for the table watchers, which were told it is
	// down (noteDelay). Only the stream's goroutine reads and writes it, once per message:
	// no lock.
	behind bool

	cancel context.CancelFunc
	done   chan struct{}
}

func newStream(c *Changes, url string) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	st := &stream{c: c, url: url, ready: make(chan struct{}), subs: map[*subscription]struct{}{}, watchers: map[*TableWatcher]struct{}{}, lag: -1,
		cancel: cancel, done: make(chan struct{})}
	go st.run(ctx)
	return st
}

func (st *stream) stop() {
	st.cancel()
	<-st.done
}

func (st *stream) add(s *subscription) error {
	return st.join(func() { st.subs[s] = struct{}{} })
}

func (st *stream) addWatcher(w *TableWatcher) error {
	return st.join(func() { st.watchers[w] = struct{}{} })
}

// join runs add under the lock unless the stream is stopping.
func (st *stream) join(add func()) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopping {
		return errChangesRestart
	}
	select {
	case <-st.done:
		return errChangesRestart
	default:
	}
	if st.grace != nil {
		st.grace.Stop()
		st.grace = nil
	}
	add()
	return nil
}

// remove drops s; the last one out starts the grace period after which the stream stops.
func (st *stream) remove(s *subscription) {
	st.leave(func() { delete(st.subs, s) })
}

func (st *stream) removeWatcher(w *TableWatcher) {
	st.leave(func() { delete(st.watchers, w) })
}

func (st *stream) leave(del func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	del()
	if len(st.subs)+len(st.watchers) > 0 || st.grace != nil {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(st.c.opts.Grace, func() {
		st.mu.Lock()
		if st.grace != t || len(st.subs)+len(st.watchers) > 0 {
			st.mu.Unlock()
			return
		}
		st.grace = nil
		st.stopping = true
		st.mu.Unlock()
		st.c.forget(st)
		st.stop()
	})
	st.grace = t
}

func (st *stream) subscribers() []*subscription {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*subscription, 0, len(st.subs))
	for s := range st.subs {
		out = append(out, s)
	}
	return out
}

func (st *stream) tableWatchers() []*TableWatcher {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*TableWatcher, 0, len(st.watchers))
	for w := range st.watchers {
		out = append(out, w)
	}
	return out
}

// walProbe reads the server's WAL position every watcherLate on a connection of its own,
// off the stream's goroutine: a slow or failed read neither holds the stream back nor
// breaks the side connection it needs (a query that times out closes its connection).
type walProbe struct {
	mu  sync.Mutex
	lsn pglogrepl.LSN // 0: none read yet, or the last read failed
	at  time.Time
}

// run reads until ctx ends.
func (p *walProbe) run(ctx context.Context, cfg *pgx.ConnConfig) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(watcherLate)
	defer tick.Stop()
	for {
		var lsn pglogrepl.LSN
		at := time.Now()
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if conn == nil {
			conn, _ = pgx.ConnectConfig(qctx, cfg)
		}
		if conn != nil {
			var s string
			if err := conn.QueryRow(qctx, `SELECT pg_current_wal_lsn()::text`).Scan(&s); err != nil {
				conn.Close(context.Background())
				conn = nil
			} else {
				lsn, _ = pglogrepl.ParseLSN(s)
			}
		}
		cancel()
		p.mu.Lock()
		p.lsn, p.at = lsn, at
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// last is the last position read and when its read began.
func (p *walProbe) last() (pglogrepl.LSN, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lsn, p.at
}

// noteDelay takes how long after its commit a change was sent: past watcherLate the table
// watchers hear that the stream is down, back within watcherOnTime that it is up.
func (st *stream) noteDelay(d time.Duration) {
	switch {
	case !st.behind && d > watcherLate:
		st.behind = true
		st.c.log.Info("postgres_changes: the stream is behind; GraphQL subscriptions over it poll until it catches up",
			"database", dbName(st.url), "delay", d.Round(time.Millisecond))
	case st.behind && d < watcherOnTime:
		st.behind = false
	default:
		return
	}
	st.watchersUp(!st.behind)
}

// watchersUp tells the table watchers the stream went down or came back.
func (st *stream) watchersUp(up bool) {
	for _, w := range st.tableWatchers() {
		if w.Up != nil {
			w.Up(up)
		}
	}
}

// wanted reports whether a subscriber binds rel's table at all.
func (st *stream) wanted(rel *relation) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	for s := range st.subs {
		if s.b.schemas[rel.schema] && (s.b.table == "" || s.b.table == rel.name) {
			return true
		}
	}
	return false
}

// run keeps the stream replicating until it is stopped. A lost connection is reopened with
// a new temporary slot: what committed in between is not delivered.
func (st *stream) run(ctx context.Context) {
	defer close(st.done)
	first := true
	backoff := 200 * time.Millisecond
	for {
		began := time.Now()
		err := st.replicate(ctx, func() {
			if first {
				first = false
				close(st.ready)
				return
			}
			st.watchersUp(true)
		})
		st.mu.Lock()
		was := st.up
		st.up, st.lag = false, -1
		st.mu.Unlock()
		if was {
			st.watchersUp(false)
		}
		if first {
			st.readyErr = err
			close(st.ready)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			backoff = 200 * time.Millisecond
		}
		st.c.m.reconnects.Inc()
		st.c.log.Warn("postgres_changes: replication connection lost; changes committed until it is back are not delivered",
			"database", dbName(st.url), "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func dbName(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return strings.TrimPrefix(u.Path, "/")
	}
	return ""
}

// replicate runs one replication connection: publication, temporary slot, the stream.
func (st *stream) replicate(ctx context.Context, started func()) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// The side connection: checks, publication, relation lookups, lag samples.
	acfg, err := pgx.ParseConfig(st.url)
	if err != nil {
		return err
	}
	acfg.RuntimeParams["application_name"] = "kapok-realtime-changes"
	acfg.RuntimeParams["search_path"] = "pg_catalog"
	aux, err := pgx.ConnectConfig(cctx, acfg)
	if err != nil {
		return err
	}
	defer aux.Close(context.Background())
	var wal string
	if err := aux.QueryRow(cctx, "SELECT current_setting('wal_level')").Scan(&wal); err != nil {
		return err
	}
	if wal != "logical" {
		return fmt.Errorf("%w (it is %s)", ErrNotLogical, wal)
	}
	if _, err := aux.Exec(cctx, `DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = '`+Publication+`') THEN
    CREATE PUBLICATION `+Publication+` FOR ALL TABLES WITH (publish_via_partition_root = true);
  ELSIF NOT (SELECT pubviaroot FROM pg_catalog.pg_publication WHERE pubname = '`+Publication+`') THEN
    ALTER PUBLICATION `+Publication+` SET (publish_via_partition_root = true);
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- another replica was first
END $$`); err != nil {
		return fmt.Errorf("creating publication %s: %w", Publication, err)
	}

	rcfg, err := pgconn.ParseConfig(st.url)
	if err != nil {
		return err
	}
	rcfg.RuntimeParams["replication"] = "database"
	rcfg.RuntimeParams["application_name"] = "kapok-realtime-changes"
	conn, err := pgconn.ConnectConfig(cctx, rcfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	slot := "kapok_rt_" + hex.EncodeToString(rnd[:])
	res, err := pglogrepl.CreateReplicationSlot(cctx, conn, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Temporary: true, SnapshotAction: "NOEXPORT_SNAPSHOT", Mode: pglogrepl.LogicalReplication})
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "55000" {
			return fmt.Errorf("%w: %s", ErrNotLogical, pe.Message)
		}
		return fmt.Errorf("creating a replication slot: %w", err)
	}
	start, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return err
	}
	if err := pglogrepl.StartReplication(cctx, conn, slot, start, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + Publication + "'"}}); err != nil {
		return fmt.Errorf("starting replication: %w", err)
	}
	cancel()
	st.mu.Lock()
	st.up, st.slot = true, slot
	st.mu.Unlock()
	st.behind = false
	started()
	st.c.log.Debug("postgres_changes: streaming", "database", dbName(st.url), "slot", slot, "from", start)

	d := decoder{st: st, aux: aux, rels: map[uint32]*relation{}, touched: map[uint32]bool{}}
	acked := start
	ack := func(lsn pglogrepl.LSN) error {
		if lsn > acked {
			acked = lsn
		}
		return pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: acked})
	}
	nextStatus := time.Now().Add(statusInterval)
	nextLag := time.Now()
	// Every watcherLate, the server's WAL position: WAL written at the previous look and
	// not delivered yet means the stream is that late, even while the sender is still
	// decoding a large transaction and sends nothing to tell by.
	var probe walProbe
	pctx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	go probe.run(pctx, acfg.Copy())
	var walThen pglogrepl.LSN
	var walAt time.Time
	nextLook := time.Now().Add(watcherLate)
	for {
		now := time.Now()
		if !now.Before(nextStatus) {
			if err := ack(acked); err != nil {
				return err
			}
			nextStatus = now.Add(statusInterval)
		}
		if !now.Before(nextLag) && !d.inTx {
			st.sampleLag(ctx, aux, slot)
			nextLag = now.Add(lagInterval)
		}
		if !now.Before(nextLook) {
			if walThen != 0 && acked < walThen {
				st.noteDelay(now.Sub(walAt))
			}
			walThen, walAt = probe.last()
			nextLook = now.Add(watcherLate)
		}
		wake := nextStatus
		if nextLag.Before(wake) {
			wake = nextLag
		}
		if nextLook.Before(wake) {
			wake = nextLook
		}
		rctx, rcancel := context.WithDeadline(ctx, wake)
		msg, err := conn.ReceiveMessage(rctx)
		rcancel()
		if err != nil {
			if ctx.Err() == nil && pgconn.Timeout(err) {
				continue
			}
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			return pgconn.ErrorResponseToPgError(m)
		case *pgproto3.CopyData:
			if len(m.Data) == 0 {
				continue
			}
			switch m.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					return err
				}
				// Between transactions everything up to the server's end has been
				// delivered (what is not published is not sent).
				if !d.inTx && ka.ServerWALEnd > acked {
					acked = ka.ServerWALEnd
				}
				if ka.ReplyRequested {
					if err := ack(acked); err != nil {
						return err
					}
					nextStatus = time.Now().Add(statusInterval)
				} else if !d.inTx {
					st.noteDelay(0) // the sender waits for WAL: nothing is held back
				}
			case pglogrepl.XLogDataByteID:
				x, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					return err
				}
				end, err := d.handle(ctx, x.WALData)
				if err != nil {
					return err
				}
				if !d.commitTS.IsZero() && !x.ServerTime.IsZero() {
					// Both times are the server's clock: how long after its commit the
					// transaction's change was sent.
					st.noteDelay(x.ServerTime.Sub(d.commitTS))
				}
				if end != 0 { // a commit was delivered
					if err := ack(end); err != nil {
						return err
					}
					nextStatus = time.Now().Add(statusInterval)
				}
			}
		}
	}
}

// sampleLag records how far the slot's confirmed position trails the server's WAL.
func (st *stream) sampleLag(ctx context.Context, aux *pgx.Conn, slot string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var lag float64
	err := aux.QueryRow(ctx, `SELECT coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::float8
FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&lag)
	if err != nil {
		st.c.log.Debug("postgres_changes: cannot sample the slot's lag", "err", err)
		return
	}
	st.mu.Lock()
	st.lag = lag
	st.mu.Unlock()
}

// decoder turns pgoutput messages into commits.
type decoder struct {
	st   *stream
	aux  *pgx.Conn
	rels map[uint32]*relation

	inTx     bool
	xid      uint32
	commitTS time.Time
	visible  bool // awaitVisible saw the transaction visible
	changes  []*change
	dropped  int
	touched  map[uint32]bool // the tables the transaction changed, for the table watchers
}

// handle decodes one message; at a commit it delivers the transaction and returns its end.
// pglogrepl trusts the server's lengths; a malformed message is an error, never a panic.
func (d *decoder) handle(ctx context.Context, data []byte) (end pglogrepl.LSN, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed replication message: %v", r)
		}
	}()
	if len(data) == 0 {
		return 0, nil
	}
	msg, err := pglogrepl.Parse(data)
	if err != nil {
		return 0, nil // a message type this version does not know: not ours to deliver
	}
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		rel, err := d.relation(ctx, m)
		if err != nil {
			return 0, err
		}
		d.rels[m.RelationID] = rel
	case *pglogrepl.BeginMessage:
		d.inTx, d.xid, d.commitTS, d.changes, d.dropped, d.visible = true, m.Xid, m.CommitTime, d.changes[:0], 0, false
		clear(d.touched)
	case *pglogrepl.InsertMessage:
		d.add(m.RelationID, "INSERT", m.Tuple, nil, 0)
	case *pglogrepl.UpdateMessage:
		d.add(m.RelationID, "UPDATE", m.NewTuple, m.OldTuple, m.OldTupleType)
	case *pglogrepl.DeleteMessage:
		d.add(m.RelationID, "DELETE", nil, m.OldTuple, m.OldTupleType)
	case *pglogrepl.TruncateMessage:
		// Truncates are not sent to subscribers (Supabase's postgres_changes do not carry
		// them either), but the tables did change.
		for _, id := range m.RelationIDs {
			d.touched[id] = true
		}
	case *pglogrepl.CommitMessage:
		if len(d.touched) > 0 {
			if ws := d.st.tableWatchers(); len(ws) > 0 {
				oids := make([]uint32, 0, len(d.touched))
				for id := range d.touched {
					oids = append(oids, id)
				}
				if watched(ws, oids) {
					d.awaitVisible(ctx)
				}
				for _, w := range ws {
					w.Changed(oids)
				}
			}
			clear(d.touched)
		}
		if d.dropped > 0 {
			d.st.c.log.Warn("postgres_changes: a transaction changed more rows than are delivered", "kept", maxTxChanges, "dropped", d.dropped)
		}
		if len(d.changes) > 0 {
			if subs := d.st.subscribers(); len(subs) > 0 {
				d.st.c.dispatch(ctx, d.commitTS, d.changes, subs, func() { d.awaitVisible(ctx) })
			}
		}
		clear(d.changes)
		d.changes = d.changes[:0]
		d.inTx = false
		return m.TransactionEndLSN, nil
	}
	return 0, nil
}

// watched reports whether a watcher reruns something for one of oids.
func watched(ws []*TableWatcher, oids []uint32) bool {
	for _, w := range ws {
		if w.Watches == nil {
			return true
		}
		for _, oid := range oids {
			if w.Watches(oid) {
				return true
			}
		}
	}
	return false
}

// awaitVisible waits (up to a second) until the transaction being delivered is visible to
// other sessions. The WAL sender may decode a commit a moment before its backend leaves
// the list of running transactions; a row-level security check run in that moment would
// not see the rows. Where the login may not see other sessions' transactions in
// pg_stat_activity, there is nothing to wait on.
func (d *decoder) awaitVisible(ctx context.Context) {
	if d.visible {
		return
	}
	d.visible = true
	deadline := time.Now().Add(time.Second)
	for {
		var running bool
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		err := d.aux.QueryRow(qctx, `SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_xid = $1::text::xid)`,
			fmt.Sprint(d.xid)).Scan(&running)
		cancel()
		if err != nil || !running || time.Now().After(deadline) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (d *decoder) add(relID uint32, kind string, tuple, old *pglogrepl.TupleData, oldType uint8) {
	d.touched[relID] = true
	rel := d.rels[relID]
	if rel == nil || !d.st.wanted(rel) {
		return
	}
	if len(d.changes) >= maxTxChanges {
		d.dropped++
		return
	}
	ch := &change{rel: rel, kind: kind, new: values(tuple), old: values(old), oldFull: oldType == 'O'}
	d.changes = append(d.changes, ch)
}

func values(t *pglogrepl.TupleData) []colValue {
	if t == nil {
		return nil
	}
	out := make([]colValue, len(t.Columns))
	for i, c := range t.Columns {
		switch c.DataType {
		case pglogrepl.TupleDataTypeText:
			out[i] = colValue{set: true, text: string(c.Data)}
		case pglogrepl.TupleDataTypeToast:
			out[i] = colValue{toast: true}
		}
	}
	return out
}

// relation completes a Relation message with the column types, the primary key and
// whether row-level security is on (an ALTER TABLE sends the relation anew).
func (d *decoder) relation(ctx context.Context, m *pglogrepl.RelationMessage) (*relation, error) {
	rel := &relation{id: m.RelationID, schema: m.Namespace, name: m.RelationName, colIndex: map[string]int{}, pkSet: map[string]bool{}}
	oids := make([]uint32, len(m.Columns))
	for i, c := range m.Columns {
		rel.cols = append(rel.cols, c.Name)
		rel.colIndex[c.Name] = i
		oids[i] = c.DataType
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var info string
	err := d.aux.QueryRow(ctx, `SELECT json_build_object(
  'rls', coalesce((SELECT c.relrowsecurity FROM pg_class c WHERE c.oid = $1), false),
  'pk', coalesce((SELECT json_agg(a.attname ORDER BY k.n) FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE i.indrelid = $1 AND i.indisprimary), '[]'),
  'types', (SELECT json_agg(json_build_array(coalesce(t.typname, 'unknown'), coalesce(t.typcategory, 'X'), format_type(o.oid, NULL),
            coalesce(e.typname, ''), coalesce(e.typcategory, '')) ORDER BY o.n)
          FROM unnest($2::oid[]) WITH ORDINALITY o(oid, n) LEFT JOIN pg_type t ON t.oid = o.oid
          LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'))::text`,
		m.RelationID, oids).Scan(&info)
	if err != nil {
		return nil, fmt.Errorf("looking up relation %s.%s: %w", m.Namespace, m.RelationName, err)
	}
	var x struct {
		RLS   bool        `json:"rls"`
		PK    []string    `json:"pk"`
		Types [][5]string `json:"types"`
	}
	if err := json.Unmarshal([]byte(info), &x); err != nil {
		return nil, err
	}
	rel.rls, rel.pk = x.RLS, x.PK
	for _, k := range x.PK {
		rel.pkSet[k] = true
	}
	for i := range rel.cols {
		name, cat, typ := "unknown", byte('X'), "text"
		if i < len(x.Types) {
			name, typ = x.Types[i][0], x.Types[i][2]
			if x.Types[i][1] != "" {
				cat = x.Types[i][1][0]
			}
		}
		elem := elemType{}
		if i < len(x.Types) && x.Types[i][3] != "" && x.Types[i][4] != "" {
			elem = elemType{name: x.Types[i][3], cat: x.Types[i][4][0]}
		}
		rel.typName = append(rel.typName, name)
		rel.typCat = append(rel.typCat, cat)
		rel.colType = append(rel.colType, typ)
		rel.elem = append(rel.elem, elem)
	}
	return rel, nil
}
