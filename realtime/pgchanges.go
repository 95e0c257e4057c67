package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/control"
	"github.com/kapok-dev/kapok/internal/statement"
	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/poolmgr"
)

// ChangeSpec is one postgres_changes binding of a channel: Event "*", "INSERT", "UPDATE" or
// "DELETE"; Schema one of the tenant's schemas ("*" = every one of them); Table ("" or "*" =
// every table of the schema); Filter in PostgREST form "col=op.value" (eq neq lt lte gt gte
// in) or "".
type ChangeSpec struct{ Event, Schema, Table, Filter string }

// ChangesOptions configure a Changes.
type ChangesOptions struct {
	Config *control.Config // required
	// Registry loads a cold or hibernated tenant's catalog when it subscribes; nil: a tenant
	// without a loaded catalog cannot subscribe.
	Registry *control.Registry
	Pools    *poolmgr.Manager // required unless Pool is set
	// Pool returns the tenant's request pool, which runs the row-level security checks; nil
	// builds it from Config and Pools as the proxy does.
	Pool    func(*control.Tenant) (*poolmgr.Pool, error)
	Logger  *slog.Logger
	Metrics *ChangesMetrics
	// Grace keeps a database's replication connection this long after its last subscriber
	// left, so a client that reconnects finds it (default 30s).
	Grace time.Duration
	// CheckTimeout bounds one row-level security check (default 5s).
	CheckTimeout time.Duration
}

// Changes is the postgres_changes source: one logical replication stream per upstream
// database with subscribers (replication.go), each commit's rows checked against the
// subscribers' row-level security in one statement per table and group of subscribers
// sharing a role and claims, then delivered in commit order.
type Changes struct {
	opts ChangesOptions
	log  *slog.Logger
	m    *ChangesMetrics

	mu      sync.Mutex
	streams map[string]*stream // by direct URL
	closed  bool
}

// ErrChangesClosed refuses a subscription once Close has begun.
var ErrChangesClosed = errors.New("the server is shutting down")

// NewChanges builds the source; nothing connects until the first subscription.
func NewChanges(o ChangesOptions) *Changes {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewChangesMetrics()
	}
	if o.Grace <= 0 {
		o.Grace = 30 * time.Second
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 5 * time.Second
	}
	c := &Changes{opts: o, log: o.Logger, m: o.Metrics, streams: map[string]*stream{}}
	o.Metrics.attach(c)
	return c
}

// Close stops every stream; their temporary slots go with their connections.
func (c *Changes) Close() {
	c.mu.Lock()
	c.closed = true
	sts := c.streams
	c.streams = map[string]*stream{}
	c.mu.Unlock()
	for _, st := range sts {
		st.stop()
	}
}

// changeSub is a validated ChangeSpec.
type changeSub struct {
	event   string          // "*", "INSERT", "UPDATE", "DELETE"
	schemas map[string]bool // the schemas it listens to (all of the tenant's for "*")
	table   string          // "" = every table
	filter  *rowFilter
}

func (b *changeSub) wants(schema, table, event string) bool {
	return b.schemas[schema] && (b.table == "" || b.table == table) && (b.event == "*" || b.event == event)
}

// rowFilter is a PostgREST filter on one column.
type rowFilter struct {
	col     string
	op      string
	vals    []string
	numeric bool
	boolean bool
}

// Validate reports a spec the tenant cannot subscribe to (unknown schema, table or column,
// a bad filter) with a message the client can show. It names only the tenant's own objects.
func (c *Changes) Validate(t *control.Tenant, spec ChangeSpec) error {
	_, err := c.resolve(t, spec)
	return err
}

func (c *Changes) resolve(t *control.Tenant, spec ChangeSpec) (*changeSub, error) {
	snap := t.Snapshot()
	if c.opts.Registry != nil {
		snap, _ = c.opts.Registry.Ensure(context.Background(), t)
	}
	if snap == nil || snap.Catalog == nil {
		return nil, errors.New("the database schema is not loaded yet; try again shortly")
	}
	cat := snap.Catalog
	b := &changeSub{event: strings.ToUpper(strings.TrimSpace(spec.Event)), schemas: map[string]bool{}}
	switch b.event {
	case "*", "INSERT", "UPDATE", "DELETE":
	default:
		return nil, fmt.Errorf("event %q is not one of *, INSERT, UPDATE, DELETE", spec.Event)
	}
	switch spec.Schema {
	case "":
		return nil, errors.New("postgres_changes needs a schema")
	case "*":
		for _, s := range cat.Schemas {
			b.schemas[s] = true
		}
	default:
		found := false
		for _, s := range cat.Schemas {
			if s == spec.Schema {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("that schema is not exposed; the exposed schemas are %s", strings.Join(cat.Schemas, ", "))
		}
		b.schemas[spec.Schema] = true
	}
	if spec.Table != "" && spec.Table != "*" {
		b.table = spec.Table
	}
	var tbl *catalog.Table
	if b.table != "" {
		for s := range b.schemas {
			if x := cat.Table(s, b.table); x != nil && (tbl == nil || x.Schema < tbl.Schema) {
				tbl = x
			}
		}
		if tbl == nil {
			return nil, fmt.Errorf("table %q does not exist in schema %s", b.table, spec.Schema)
		}
		if tbl.Kind != catalog.KindTable && tbl.Kind != catalog.KindPartitionedTable {
			return nil, fmt.Errorf("%s.%s is a %s: only tables have changes to stream", tbl.Schema, tbl.Name, strings.ReplaceAll(string(tbl.Kind), "_", " "))
		}
	}
	if spec.Filter == "" {
		return b, nil
	}
	if tbl == nil {
		return nil, errors.New("a filter needs a table")
	}
	f, err := parseFilter(spec.Filter, tbl)
	if err != nil {
		return nil, err
	}
	b.filter = f
	return b, nil
}

// parseFilter reads "col=op.value" against tbl's columns.
func parseFilter(s string, tbl *catalog.Table) (*rowFilter, error) {
	col, rest, ok := strings.Cut(s, "=")
	op, val, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || col == "" {
		return nil, fmt.Errorf("filter %q is not of the form column=operator.value", s)
	}
	cc := tbl.Column(col)
	if cc == nil {
		return nil, fmt.Errorf("column %q does not exist in %s.%s", col, tbl.Schema, tbl.Name)
	}
	f := &rowFilter{col: col, op: op, numeric: cc.Category == "N" && !cc.IsArray, boolean: cc.Category == "B" && !cc.IsArray}
	switch op {
	case "eq", "neq", "lt", "lte", "gt", "gte":
		f.vals = []string{val}
	case "in":
		if len(val) < 2 || val[0] != '(' || val[len(val)-1] != ')' {
			return nil, fmt.Errorf("filter %q: in takes a list in parentheses: in.(a,b)", s)
		}
		for _, v := range strings.Split(val[1:len(val)-1], ",") {
			v = strings.TrimSpace(v)
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			f.vals = append(f.vals, v)
		}
		if len(f.vals) > 100 {
			return nil, fmt.Errorf("filter %q: in takes at most 100 values", s)
		}
	default:
		return nil, fmt.Errorf("filter %q: operator %q is not one of eq, neq, lt, lte, gt, gte, in", s, op)
	}
	for _, v := range f.vals {
		if f.numeric {
			if _, ok := new(big.Rat).SetString(v); !ok {
				return nil, fmt.Errorf("filter %q: %q is not a number, and %s is numeric", s, v, col)
			}
		}
		if f.boolean {
			if _, ok := parseBool(v); !ok {
				return nil, fmt.Errorf("filter %q: %q is not a boolean", s, v)
			}
		}
	}
	return f, nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "t", "true", "yes", "on", "1", "y":
		return true, true
	case "f", "false", "no", "off", "0", "n":
		return false, true
	}
	return false, false
}

// match applies the filter to a column's text value (present: not NULL, known).
func (f *rowFilter) match(v string, present bool) bool {
	if !present {
		return false // NULL (or not in the WAL): as in SQL, no comparison holds
	}
	for _, want := range f.vals {
		c, ok := compare(v, want, f.numeric, f.boolean)
		if !ok {
			continue
		}
		switch f.op {
		case "eq", "in":
			if c == 0 {
				return true
			}
		case "neq":
			return c != 0
		case "lt":
			return c < 0
		case "lte":
			return c <= 0
		case "gt":
			return c > 0
		case "gte":
			return c >= 0
		}
	}
	return false
}

func compare(v, want string, numeric, boolean bool) (int, bool) {
	switch {
	case numeric:
		a, ok1 := new(big.Rat).SetString(v)
		b, ok2 := new(big.Rat).SetString(want)
		if !ok1 || !ok2 {
			return 0, false
		}
		return a.Cmp(b), true
	case boolean:
		a, ok1 := parseBool(v)
		b, ok2 := parseBool(want)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch {
		case a == b:
			return 0, true
		case !a:
			return -1, true
		}
		return 1, true
	}
	return strings.Compare(v, want), true
}

// subscription is one Subscribe.
type subscription struct {
	tenant  string
	b       *changeSub
	pool    *poolmgr.Pool
	sess    *poolmgr.Session // nil: the pool's own role
	group   string           // tenant \0 role \0 claims
	deliver func([]byte)
}

// Subscribe delivers, for every committed change matching spec that the session (role and
// claims) may SELECT, the JSON of the change's "data" object as Supabase Realtime sends it
// ({"schema","table","commit_timestamp","type","columns","record","old_record","errors"}), in
// commit order, once. A session without a Role runs as the pool's own role (the admin key).
// deliver runs on the stream's goroutine: it must not block. data is shared by the
// subscribers of the change and never changed afterwards: keep it, never modify it. cancel
// stops the subscription. Changes committed before Subscribe returns may or may not be
// delivered; those after it are, while the replication connection holds (a lost connection
// is reopened, and what committed in between is lost, as with Supabase).
func (c *Changes) Subscribe(t *control.Tenant, spec ChangeSpec, s poolmgr.Session, deliver func(data []byte)) (cancel func(), err error) {
	b, err := c.resolve(t, spec)
	if err != nil {
		return nil, err
	}
	u := c.opts.Config.Upstreams[t.Config.Upstream]
	if u == nil || !u.Managed() {
		return nil, fmt.Errorf("postgres_changes need a publication and a replication slot in upstream %q, which Kapok only reads; "+
			"serve it with `kapok serve --manage`, or set `manage: true` on the upstream", t.Config.Upstream)
	}
	pool, err := c.pool(t)
	if err != nil {
		return nil, err
	}
	sub := &subscription{tenant: t.Name, b: b, pool: pool, deliver: deliver,
		group: t.Name + "\x00" + s.Role + "\x00" + string(s.Claims)}
	if s.Role != "" {
		ss := s
		ss.Claims = append([]byte(nil), s.Claims...)
		sub.sess = &ss
	}
	var st *stream
	for try := 0; ; try++ {
		if st, err = c.stream(t.DirectURL); err != nil {
			return nil, err
		}
		err = st.add(sub)
		if err == nil {
			break
		}
		if !errors.Is(err, errChangesRestart) || try == 2 {
			return nil, err
		}
		c.forget(st)
	}
	c.m.subscribers.Inc()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.m.subscribers.Dec()
			st.remove(sub)
		})
	}, nil
}

// TableWatcher hears which tables each commit of a database changed (inserts, updates,
// deletes, truncates), whoever may read them: the GraphQL subscription hub's feed, which
// reruns its queries as each subscriber. Changed gets the tables' oids; Up(false) says the
// stream is down, Up(true) that it is back and the changes in between are unknown. Both run
// on the stream's goroutine and must not block. Watches, when set, says whether the watcher
// reruns anything for a table: a commit that changed one is reported only once other
// sessions see it (the WAL sender may decode a commit a moment before), or the rerun could
// miss the change it was told of.
type TableWatcher struct {
	Changed func(oids []uint32)
	Up      func(up bool)
	Watches func(oid uint32) bool
}

// WatchTables attaches w to the replication stream of the database at url, starting it (a
// publication and a slot: only for a managed upstream) and waiting until it streams.
func (c *Changes) WatchTables(url string, w *TableWatcher) (cancel func(), err error) {
	var st *stream
	for try := 0; ; try++ {
		if st, err = c.stream(url); err != nil {
			return nil, err
		}
		err = st.addWatcher(w)
		if err == nil {
			break
		}
		if !errors.Is(err, errChangesRestart) || try == 2 {
			return nil, err
		}
		c.forget(st)
	}
	var once sync.Once
	return func() { once.Do(func() { st.removeWatcher(w) }) }, nil
}

func (c *Changes) pool(t *control.Tenant) (*poolmgr.Pool, error) {
	if c.opts.Pool != nil {
		return c.opts.Pool(t)
	}
	tc := t.Config
	return c.opts.Pools.Get(context.Background(), t.Name, poolmgr.PoolConfig{
		URL:              t.PoolerURL,
		SharedLogin:      tc.Isolation != control.IsolationLogin,
		MaxConns:         tc.Pool.MaxConns,
		MinIdleConns:     tc.Pool.MinIdleConns,
		MaxInFlight:      tc.Pool.MaxInFlight,
		Weight:           tc.Pool.Weight,
		QueueWait:        tc.Pool.QueueTimeout.D(),
		AcquireTimeout:   tc.Pool.QueueTimeout.D(),
		StatementTimeout: tc.Limits.StatementTimeout.D(),
		ExecMode:         poolmgr.ExecMode(t.ExecMode),
		ShareReads:       c.opts.Config.ShareReads(tc),
	})
}

// stream returns the running stream of the database at url, starting it and waiting for
// its slot when it is the first.
func (c *Changes) stream(url string) (*stream, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrChangesClosed
	}
	st := c.streams[url]
	if st == nil {
		st = newStream(c, url)
		c.streams[url] = st
	}
	c.mu.Unlock()
	select {
	case <-st.ready:
	case <-time.After(30 * time.Second):
		return nil, errors.New("the change stream did not start within 30s")
	}
	if st.readyErr != nil {
		c.forget(st)
		return nil, st.readyErr
	}
	return st, nil
}

// forget drops st from the streams when it is still the one for its database.
func (c *Changes) forget(st *stream) {
	c.mu.Lock()
	if c.streams[st.url] == st {
		delete(c.streams, st.url)
	}
	c.mu.Unlock()
}

// --- one commit: row-level security checks and delivery ---

// change is one decoded row change of a commit.
type change struct {
	rel  *relation
	kind string // INSERT, UPDATE, DELETE
	new  []colValue
	old  []colValue // nil when the WAL has no old tuple
	// oldFull: old is the whole old row (REPLICA IDENTITY FULL), not only the key.
	oldFull bool
	data    []byte // the JSON, built on first delivery
}

type colValue struct {
	set   bool // false: NULL (or toast)
	toast bool // an unchanged TOASTed value, which the WAL does not carry
	text  string
}

// value returns the named column's text, from the new row (the old one for a delete).
func (ch *change) value(col string) (string, bool) {
	i, ok := ch.rel.colIndex[col]
	if !ok {
		return "", false
	}
	row := ch.new
	if ch.kind == "DELETE" {
		row = ch.old
	}
	if i >= len(row) || !row[i].set {
		return "", false
	}
	return row[i].text, true
}

// unfilterable reports a delete whose old row in the WAL lacks col (only the key is there
// without REPLICA IDENTITY FULL): as with Supabase, the filter then lets it through, so
// a filtered subscriber still learns of deletes (of the key only).
func (ch *change) unfilterable(col string) bool {
	return ch.kind == "DELETE" && !ch.oldFull && !ch.rel.pkSet[col]
}

// checkGroup is one (table, role and claims) of a commit: the changes its subscribers want.
type checkGroup struct {
	rel  *relation
	pool *poolmgr.Pool
	sess *poolmgr.Session
	rows []int        // indexes into the commit's changes (inserts and updates)
	seen map[int]bool // the rows it wants, then (once checked) the rows it may see
	ok   bool         // the check ran and allows SELECT: deletes may go
}

// dispatch delivers a commit's changes to subs, in order, each to the subscribers whose
// group may see it; awaitVisible runs before the commit's first row-level security check.
func (c *Changes) dispatch(ctx context.Context, commit time.Time, changes []*change, subs []*subscription, awaitVisible func()) {
	type pair struct {
		ch  int
		sub *subscription
		g   *checkGroup
	}
	var pairs []pair
	groups := map[string]*checkGroup{}
	var order []*checkGroup
	for i, ch := range changes {
		for _, s := range subs {
			if !s.b.wants(ch.rel.schema, ch.rel.name, ch.kind) {
				continue
			}
			if f := s.b.filter; f != nil && !ch.unfilterable(f.col) {
				if v, ok := ch.value(f.col); !f.match(v, ok) {
					continue
				}
			}
			k := fmt.Sprintf("%d\x00%s", ch.rel.id, s.group)
			g := groups[k]
			if g == nil {
				g = &checkGroup{rel: ch.rel, pool: s.pool, sess: s.sess, seen: map[int]bool{}}
				groups[k] = g
				order = append(order, g)
			}
			if ch.kind != "DELETE" && !g.seen[i] {
				g.seen[i] = true
				g.rows = append(g.rows, i)
			}
			pairs = append(pairs, pair{i, s, g})
		}
	}
	if len(pairs) == 0 {
		return
	}
	for _, g := range order {
		if g.rel.rls && len(g.rows) > 0 {
			awaitVisible()
			break
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, g := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.check(ctx, g, changes)
		}()
	}
	wg.Wait()
	ts := commit.UTC().Format("2006-01-02T15:04:05.000Z")
	for _, p := range pairs {
		ch := changes[p.ch]
		if !p.g.ok || (ch.kind != "DELETE" && !p.g.seen[p.ch]) {
			continue
		}
		if ch.data == nil {
			ch.data = changeJSON(ch, ts)
		}
		c.m.deliveries.Inc()
		p.sub.deliver(ch.data)
	}
}

// check runs g's one statement as its session and keeps in g.seen the rows it may see.
func (c *Changes) check(ctx context.Context, g *checkGroup, changes []*change) {
	rel := g.rel
	table := pgx.Identifier{rel.schema, rel.name}.Sanitize()
	var st statement.Statement
	privOnly := true
	switch {
	case !rel.rls || len(g.rows) == 0:
		// Without row-level security, SELECT on the table is all it takes; deletes too
		// need only that (the row is gone).
		st = statement.Statement{SQL: `SELECT to_json(has_table_privilege($1::text, 'SELECT'))::text`, Args: [][]byte{[]byte(table)}}
	case len(rel.pk) == 0:
		// Rows of a table without a primary key cannot be looked up: only deletes go.
		if !rel.warned.Swap(true) {
			c.log.Warn("postgres_changes: a table with row-level security but no primary key: its inserts and updates are not sent", "table", rel.schema+"."+rel.name)
		}
		clear(g.seen)
		st = statement.Statement{SQL: `SELECT to_json(has_table_privilege($1::text, 'SELECT'))::text`, Args: [][]byte{[]byte(table)}}
	default:
		st = rlsStatement(rel, g.rows, changes)
		privOnly = false
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CheckTimeout)
	defer cancel()
	out, _, err := g.pool.Run(ctx, &poolmgr.Request{Session: g.sess, Statements: []statement.Statement{st}}, nil)
	if err != nil && transient(err) && ctx.Err() == nil {
		// A busy pool (its queue full or its wait over) or a connection lost: once more,
		// within the same bound, before the subscribers miss the commit.
		c.m.checks.WithLabelValues("retried").Inc()
		select {
		case <-time.After(50 * time.Millisecond):
			out, _, err = g.pool.Run(ctx, &poolmgr.Request{Session: g.sess, Statements: []statement.Statement{st}}, nil)
		case <-ctx.Done():
		}
	}
	if err != nil {
		c.m.checks.WithLabelValues("error").Inc()
		c.log.Warn("postgres_changes: a row-level security check failed; its subscribers miss this commit's changes",
			"table", rel.schema+"."+rel.name, "role", roleOf(g.sess), "err", err)
		return
	}
	c.m.checks.WithLabelValues("ok").Inc()
	if privOnly {
		var allowed bool
		if json.Unmarshal(out, &allowed) != nil || !allowed {
			return
		}
		g.ok = true
		return
	}
	var visible []int
	if err := json.Unmarshal(out, &visible); err != nil {
		c.log.Warn("postgres_changes: unexpected row-level security result", "err", err)
		return
	}
	keep := map[int]bool{}
	for _, j := range visible {
		if j >= 1 && j <= len(g.rows) {
			keep[g.rows[j-1]] = true
		}
	}
	g.seen = keep
	g.ok = true
}

// transient reports whether a check's failure may not recur: anything but an error
// PostgreSQL raised for the statement itself (a privilege, a type, a policy's own error).
func transient(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08 (connection), 40 (rollback: serialization, deadlock), 53 (resources),
		// 57 (operator intervention: canceled, shutting down) may pass.
		switch pe.Code[:2] {
		case "08", "40", "53", "57":
			return true
		}
		return false
	}
	return !errors.Is(err, context.Canceled)
}

func roleOf(s *poolmgr.Session) string {
	if s == nil {
		return ""
	}
	return s.Role
}

// rlsStatement asks which of rows (inserts and updates of rel) the session may SELECT now:
// their primary keys go as one text array per key column, cast to the column's type so the
// lookup uses the key's index, and the answer is the JSON array of the visible ordinals.
func rlsStatement(rel *relation, rows []int, changes []*change) statement.Statement {
	var sb strings.Builder
	sb.WriteString(`SELECT coalesce(json_agg("_u"."i"), '[]')::text FROM unnest(`)
	args := make([][]byte, len(rel.pk))
	for j, col := range rel.pk {
		if j > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "$%d::text[]", j+1)
		vals := make([]string, len(rows))
		for r, i := range rows {
			ci := rel.colIndex[col]
			if row := changes[i].new; ci < len(row) {
				vals[r] = row[ci].text
			}
		}
		args[j] = textArray(vals)
	}
	sb.WriteString(`) WITH ORDINALITY AS "_u"(`)
	for j := range rel.pk {
		fmt.Fprintf(&sb, `"k%d", `, j)
	}
	sb.WriteString(`"i") WHERE EXISTS (SELECT 1 FROM `)
	sb.WriteString(pgx.Identifier{rel.schema, rel.name}.Sanitize())
	sb.WriteString(` AS "_t" WHERE `)
	for j, col := range rel.pk {
		if j > 0 {
			sb.WriteString(" AND ")
		}
		fmt.Fprintf(&sb, `"_t".%s = "_u"."k%d"::%s`, pgx.Identifier{col}.Sanitize(), j, rel.colType[rel.colIndex[col]])
	}
	sb.WriteString(")")
	return statement.Statement{SQL: sb.String(), Args: args}
}

// textArray is vals as a text[] literal.
func textArray(vals []string) []byte {
	b := []byte{'{'}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		for j := 0; j < len(v); j++ {
			if v[j] == '"' || v[j] == '\\' {
				b = append(b, '\\')
			}
			b = append(b, v[j])
		}
		b = append(b, '"')
	}
	return append(b, '}')
}
