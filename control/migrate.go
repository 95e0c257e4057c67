package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/control/catalogload"
	"github.com/kapok-dev/kapok/planner/catalog"
)

// SQLError is a Postgres error raised by an admin's SQL (a migration, a rollback, ad-hoc
// SQL), with the position Postgres reported turned into a line and column of that SQL.
type SQLError struct {
	Message  string `json:"message"`
	Code     string `json:"sqlstate"`
	Detail   string `json:"detail,omitempty"`
	Hint     string `json:"hint,omitempty"`
	Position int    `json:"position,omitempty"` // 1-based character offset, 0 = none
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	// Migration names the migration whose script failed (rollbacks).
	Migration string `json:"migration,omitempty"`
}

func (e *SQLError) Error() string {
	s := e.Message
	if e.Line > 0 {
		s += fmt.Sprintf(" (line %d, column %d)", e.Line, e.Column)
	}
	if e.Migration != "" {
		s = "migration " + e.Migration + ": " + s
	}
	return s
}

// SyntaxOrSemantic reports whether the error is the SQL's fault (class 42, 22, 23...) rather
// than the server's; the admin API answers 400 for those.
func (e *SQLError) SyntaxOrSemantic() bool {
	if len(e.Code) < 2 {
		return false
	}
	switch e.Code[:2] {
	case "08", "53", "54", "57", "58", "XX":
		return false
	}
	return true
}

// sqlError converts a Postgres error raised by sql; other errors pass through.
func sqlError(err error, sql string) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	e := &SQLError{Message: pgErr.Message, Code: pgErr.Code, Detail: pgErr.Detail, Hint: pgErr.Hint, Position: int(pgErr.Position)}
	if e.Position > 0 {
		e.Line, e.Column = 1, 1
		n := 0
		for _, r := range sql {
			n++
			if n >= e.Position {
				break
			}
			if r == '\n' {
				e.Line, e.Column = e.Line+1, 1
			} else {
				e.Column++
			}
		}
	}
	return e
}

// Migration is a migration request.
type Migration struct {
	Name   string `json:"name"`
	Up     string `json:"up"`
	Down   string `json:"down,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
	// AppliedBy says who sent it (the admin API fills it in).
	AppliedBy string `json:"-"`
}

// MigrationRecord is one row of the migration log.
type MigrationRecord struct {
	ID           int64      `json:"id"`
	Tenant       string     `json:"tenant"`
	Name         string     `json:"name"`
	Checksum     string     `json:"checksum"`
	Up           string     `json:"up"`
	Down         *string    `json:"down"`
	AppliedBy    string     `json:"applied_by"`
	AppliedAt    time.Time  `json:"applied_at"`
	DurationMS   float64    `json:"duration_ms"`
	Outcome      string     `json:"outcome"`
	Error        *string    `json:"error,omitempty"`
	RolledBackAt *time.Time `json:"rolled_back_at"`
}

// MigrationResult is what a migration (or a dry run, or a rollback) did.
type MigrationResult struct {
	ID            int64      `json:"id,omitempty"`
	Name          string     `json:"name,omitempty"`
	Checksum      string     `json:"checksum,omitempty"`
	DryRun        bool       `json:"dry_run"`
	DurationMS    float64    `json:"duration_ms"`
	VersionBefore string     `json:"version_before"`
	VersionAfter  string     `json:"version_after"`
	Diff          SchemaDiff `json:"diff"`
	// RolledBack lists the migrations a rollback undid, newest first.
	RolledBack []int64 `json:"rolled_back,omitempty"`
}

// SchemaDiff is what changed between two catalogs of a tenant.
type SchemaDiff struct {
	TablesAdded      []string       `json:"tables_added"`
	TablesDropped    []string       `json:"tables_dropped"`
	TablesChanged    []string       `json:"tables_changed"` // keys, indexes, foreign keys or kind changed
	ColumnsAdded     []ColumnChange `json:"columns_added"`
	ColumnsDropped   []ColumnChange `json:"columns_dropped"`
	ColumnsChanged   []ColumnChange `json:"columns_changed"`
	FunctionsAdded   []string       `json:"functions_added"`
	FunctionsDropped []string       `json:"functions_dropped"`
}

// ColumnChange describes one column; Before is set for a changed column.
type ColumnChange struct {
	Table    string      `json:"table"`
	Column   string      `json:"column"`
	Type     string      `json:"type"`
	Nullable bool        `json:"nullable"`
	Default  string      `json:"default,omitempty"`
	Before   *ColumnSpec `json:"before,omitempty"`
}

// ColumnSpec is a column's definition before a change.
type ColumnSpec struct {
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
	Default  string `json:"default,omitempty"`
}

// Empty reports whether nothing changed.
func (d *SchemaDiff) Empty() bool {
	return len(d.TablesAdded)+len(d.TablesDropped)+len(d.TablesChanged)+len(d.ColumnsAdded)+len(d.ColumnsDropped)+
		len(d.ColumnsChanged)+len(d.FunctionsAdded)+len(d.FunctionsDropped) == 0
}

// Diff compares two catalogs of one tenant.
func Diff(before, after *catalog.Schema) SchemaDiff {
	d := SchemaDiff{TablesAdded: []string{}, TablesDropped: []string{}, TablesChanged: []string{},
		ColumnsAdded: []ColumnChange{}, ColumnsDropped: []ColumnChange{}, ColumnsChanged: []ColumnChange{},
		FunctionsAdded: []string{}, FunctionsDropped: []string{}}
	qn := func(t *catalog.Table) string { return t.Schema + "." + t.Name }
	colChange := func(t *catalog.Table, c *catalog.Column) ColumnChange {
		return ColumnChange{Table: qn(t), Column: c.Name, Type: c.Type, Nullable: c.Nullable, Default: c.Default}
	}
	old := map[string]*catalog.Table{}
	for _, t := range before.Tables {
		old[qn(t)] = t
	}
	cur := map[string]bool{}
	for _, t := range after.Tables {
		cur[qn(t)] = true
		o := old[qn(t)]
		if o == nil {
			d.TablesAdded = append(d.TablesAdded, qn(t))
			continue
		}
		for _, c := range t.Columns {
			oc := o.Column(c.Name)
			switch {
			case oc == nil:
				d.ColumnsAdded = append(d.ColumnsAdded, colChange(t, c))
			case oc.Type != c.Type || oc.Nullable != c.Nullable || oc.Default != c.Default:
				ch := colChange(t, c)
				ch.Before = &ColumnSpec{Type: oc.Type, Nullable: oc.Nullable, Default: oc.Default}
				d.ColumnsChanged = append(d.ColumnsChanged, ch)
			}
		}
		for _, oc := range o.Columns {
			if t.Column(oc.Name) == nil {
				d.ColumnsDropped = append(d.ColumnsDropped, colChange(o, oc))
			}
		}
		if o.Kind != t.Kind || !sameJSON(o.PrimaryKey, t.PrimaryKey) || !sameJSON(o.Uniques, t.Uniques) ||
			!sameJSON(o.ForeignKeys, t.ForeignKeys) || !sameJSON(o.Indexes, t.Indexes) {
			d.TablesChanged = append(d.TablesChanged, qn(t))
		}
	}
	for _, t := range before.Tables {
		if !cur[qn(t)] {
			d.TablesDropped = append(d.TablesDropped, qn(t))
		}
	}
	fn := func(f *catalog.Function) string {
		b, _ := json.Marshal(f)
		return string(b)
	}
	fname := func(f *catalog.Function) string { return f.Schema + "." + f.Name }
	oldFns, curFns := map[string]bool{}, map[string]bool{}
	for _, f := range before.Functions {
		oldFns[fn(f)] = true
	}
	for _, f := range after.Functions {
		curFns[fn(f)] = true
		if !oldFns[fn(f)] {
			d.FunctionsAdded = append(d.FunctionsAdded, fname(f))
		}
	}
	for _, f := range before.Functions {
		if !curFns[fn(f)] {
			d.FunctionsDropped = append(d.FunctionsDropped, fname(f))
		}
	}
	return d
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// tenantTx runs f in one transaction on a direct connection to the tenant's database, as
// the owner of its first schema, serialised with every other migration of the tenant.
func (s *Store) tenantTx(ctx context.Context, t *Tenant, opts pgx.TxOptions, f func(tx pgx.Tx) error) error {
	if err := s.reg.cfg.CheckManaged(t.Config, "migrating tenant "+t.Name); err != nil {
		return err
	}
	if err := s.notMoving(t.Name); err != nil {
		return err
	}
	pool, err := s.directPool(ctx, t.DirectURL)
	if err != nil {
		return err
	}
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := asOwner(ctx, tx, t); err != nil {
		return err
	}
	return f(tx)
}

// asOwner makes the transaction act as the owner of the tenant's first schema (the
// database's owner for a schema owned by pg_database_owner).
func asOwner(ctx context.Context, tx pgx.Tx, t *Tenant) error {
	var owner string
	var same bool
	err := tx.QueryRow(ctx, `SELECT r.rolname::text, r.rolname = current_user
FROM pg_namespace n JOIN pg_database d ON d.datname = current_database()
JOIN pg_roles r ON r.oid = CASE WHEN n.nspowner = 'pg_database_owner'::regrole THEN d.datdba ELSE n.nspowner END
WHERE n.nspname = $1`, t.Config.Schemas[0]).Scan(&owner, &same)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if !same {
		_, err = tx.Exec(ctx, "SELECT pg_catalog.set_config('role', $1, true)", owner)
	}
	return err
}

func setSearchPath(ctx context.Context, tx pgx.Tx, t *Tenant) error {
	_, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('search_path', $1, true)", pgx.Identifier{t.Config.Schemas[0]}.Sanitize())
	return err
}

// runScript executes an admin's SQL script in tx and makes sure it did not end tx itself.
func runScript(ctx context.Context, tx pgx.Tx, sql string) error {
	if _, err := tx.Exec(ctx, sql); err != nil {
		return sqlError(err, sql)
	}
	if st := tx.Conn().PgConn().TxStatus(); st != 'T' {
		return fmt.Errorf("%w: the script ended the transaction itself (COMMIT/ROLLBACK); migrations must not contain transaction control", ErrInvalid)
	}
	return nil
}

// beginChange prepares tx for a change to the tenant's schema: it takes the tenant's
// locks, loads the catalog as it is before the change (for the diff) and points
// search_path at the tenant's default schema.
func (s *Store) beginChange(ctx context.Context, tx pgx.Tx, t *Tenant) (*catalog.Schema, error) {
	if err := s.lockTenant(ctx, tx, t); err != nil {
		return nil, err
	}
	before, err := catalogload.Load(ctx, tx, t.Config.Schemas)
	if err != nil {
		return nil, err
	}
	return before, setSearchPath(ctx, tx, t)
}

// lockTenant serialises the tenant's migrations, and its role grants (EnsureTenantRole
// takes the same lock), which would otherwise race DDL on the same catalog rows.
func (s *Store) lockTenant(ctx context.Context, tx pgx.Tx, t *Tenant) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('kapok.migrate:' || $1::text))", t.Name)
	if err == nil && t.Config.UsesTenantRole() {
		_, err = tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('kapok tenant role ' || $1))", TenantRole(t.Name))
	}
	return err
}

// grantTenantRole gives the tenant's role its privileges on what tx created, inside tx, so
// the catalog a migration reports is the one served (privileges are part of its version).
func (s *Store) grantTenantRole(ctx context.Context, tx pgx.Tx, tc *TenantConfig) error {
	if !tc.UsesTenantRole() {
		return nil
	}
	member := ""
	if pc, err := pgconn.ParseConfig(s.reg.cfg.LoginURL(tc)); err == nil {
		member = pc.User
	}
	_, err := EnsureTenantRole(ctx, tx, tc, member)
	return err
}

// Migrate runs m.Up in one transaction and records it; a dry run rolls back instead. The
// registry serves the new catalog before Migrate returns.
func (s *Store) Migrate(ctx context.Context, t *Tenant, m *Migration) (*MigrationResult, error) {
	if strings.TrimSpace(m.Name) == "" {
		return nil, fmt.Errorf("%w: a migration needs a name", ErrInvalid)
	}
	if strings.TrimSpace(m.Up) == "" {
		return nil, fmt.Errorf("%w: a migration needs an up script", ErrInvalid)
	}
	res := &MigrationResult{Name: m.Name, Checksum: checksum(m.Up, m.Down), DryRun: m.DryRun}
	var runErr error
	err := s.tenantTx(ctx, t, pgx.TxOptions{}, func(tx pgx.Tx) error {
		before, err := s.beginChange(ctx, tx, t)
		if err != nil {
			return err
		}
		start := time.Now()
		runErr = runScript(ctx, tx, m.Up)
		res.DurationMS = ms(time.Since(start))
		if runErr != nil {
			return runErr
		}
		if err := s.grantTenantRole(ctx, tx, t.Config); err != nil {
			return err
		}
		after, err := catalogload.Load(ctx, tx, t.Config.Schemas)
		if err != nil {
			return err
		}
		res.VersionBefore, res.VersionAfter, res.Diff = before.Version, after.Version, Diff(before, after)
		if m.DryRun {
			return nil // the deferred rollback undoes it
		}
		return s.commitWithLog(ctx, tx, func(ctl pgx.Tx) error {
			var down *string
			if strings.TrimSpace(m.Down) != "" {
				down = &m.Down
			}
			return ctl.QueryRow(ctx, `INSERT INTO kapok.migrations (tenant, name, checksum, up, down, applied_by, duration_ms, outcome)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'applied') RETURNING id`, t.Name, m.Name, res.Checksum, m.Up, down, m.AppliedBy, res.DurationMS).Scan(&res.ID)
		})
	})
	if runErr != nil && !m.DryRun {
		s.logFailure(ctx, t, m, res, runErr)
	}
	if err != nil {
		return nil, err
	}
	if !m.DryRun {
		if err := s.reg.Reload(ctx, t.Name); err != nil {
			return nil, fmt.Errorf("migration applied, but reloading the schema failed: %w", err)
		}
	}
	return res, nil
}

// commitWithLog writes the log in a control-database transaction that commits right after
// the tenant's: the log never records a change that did not commit.
func (s *Store) commitWithLog(ctx context.Context, tx pgx.Tx, write func(ctl pgx.Tx) error) error {
	ctl, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = ctl.Rollback(context.WithoutCancel(ctx)) }()
	if err := write(ctl); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	return ctl.Commit(ctx)
}

func (s *Store) logFailure(ctx context.Context, t *Tenant, m *Migration, res *MigrationResult, runErr error) {
	var down *string
	if m.Down != "" {
		down = &m.Down
	}
	if _, err := s.db.Exec(context.WithoutCancel(ctx), `INSERT INTO kapok.migrations (tenant, name, checksum, up, down, applied_by, duration_ms, outcome, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, 'failed', $8)`, t.Name, m.Name, res.Checksum, m.Up, down, m.AppliedBy, res.DurationMS, runErr.Error()); err != nil {
		s.log.Error("cannot record a failed migration", "tenant", t.Name, "err", err)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Migrations lists the tenant's migration log, oldest first.
func (s *Store) Migrations(ctx context.Context, tenant string) ([]*MigrationRecord, error) {
	rows, err := s.db.Query(ctx, `SELECT id, tenant, name, checksum, up, down, applied_by, applied_at, duration_ms,
  outcome, error, rolled_back_at FROM kapok.migrations WHERE tenant = $1 ORDER BY id`, tenant)
	if err != nil {
		return nil, err
	}
	out := []*MigrationRecord{}
	for rows.Next() {
		r := &MigrationRecord{}
		if err := rows.Scan(&r.ID, &r.Tenant, &r.Name, &r.Checksum, &r.Up, &r.Down, &r.AppliedBy, &r.AppliedAt,
			&r.DurationMS, &r.Outcome, &r.Error, &r.RolledBackAt); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Rollback applies the recorded down scripts of the applied migrations after id to (nil: of
// the latest one), newest first, in one transaction.
func (s *Store) Rollback(ctx context.Context, t *Tenant, to *int64) (*MigrationResult, error) {
	log, err := s.Migrations(ctx, t.Name)
	if err != nil {
		return nil, err
	}
	var targets []*MigrationRecord
	found := to == nil || *to == 0
	for i := len(log) - 1; i >= 0; i-- {
		r := log[i]
		if r.Outcome != "applied" || r.RolledBackAt != nil {
			continue
		}
		if to != nil && r.ID == *to {
			found = true
		}
		if to == nil && len(targets) == 1 {
			break
		}
		if to == nil || r.ID > *to {
			targets = append(targets, r)
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: %d is not an applied migration of tenant %q", ErrInvalid, *to, t.Name)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: no applied migration to roll back", ErrConflict)
	}
	for _, r := range targets {
		if r.Down == nil || strings.TrimSpace(*r.Down) == "" {
			return nil, fmt.Errorf("%w: migration %d (%s) has no down script, so it cannot be rolled back", ErrConflict, r.ID, r.Name)
		}
	}
	res := &MigrationResult{}
	err = s.tenantTx(ctx, t, pgx.TxOptions{}, func(tx pgx.Tx) error {
		before, err := s.beginChange(ctx, tx, t)
		if err != nil {
			return err
		}
		start := time.Now()
		ids := make([]int64, 0, len(targets))
		for _, r := range targets {
			if err := runScript(ctx, tx, *r.Down); err != nil {
				var se *SQLError
				if errors.As(err, &se) {
					se.Migration = fmt.Sprintf("%d (%s) down", r.ID, r.Name)
				}
				return err
			}
			ids = append(ids, r.ID)
		}
		res.DurationMS = ms(time.Since(start))
		after, err := catalogload.Load(ctx, tx, t.Config.Schemas)
		if err != nil {
			return err
		}
		res.VersionBefore, res.VersionAfter, res.Diff, res.RolledBack = before.Version, after.Version, Diff(before, after), ids
		return s.commitWithLog(ctx, tx, func(ctl pgx.Tx) error {
			tag, err := ctl.Exec(ctx, "UPDATE kapok.migrations SET rolled_back_at = now() WHERE id = ANY($1) AND rolled_back_at IS NULL", ids)
			if err == nil && tag.RowsAffected() != int64(len(ids)) {
				err = fmt.Errorf("%w: a concurrent rollback changed the log; nothing was rolled back", ErrConflict)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if err := s.reg.Reload(ctx, t.Name); err != nil {
		return nil, fmt.Errorf("rolled back, but reloading the schema failed: %w", err)
	}
	return res, nil
}

// SQLRequest is ad-hoc SQL from the admin.
type SQLRequest struct {
	SQL      string            `json:"sql"`
	Params   []json.RawMessage `json:"params"`
	ReadOnly bool              `json:"read_only"`
}

// SQLResult holds the result of the last statement.
type SQLResult struct {
	Command    string            `json:"command"`
	RowsAffect int64             `json:"rows_affected"`
	Columns    []SQLColumn       `json:"columns"`
	Rows       []json.RawMessage `json:"rows"`
	Truncated  bool              `json:"truncated,omitempty"`
	DurationMS float64           `json:"duration_ms"`
}

// SQLColumn names a result column and its type OID.
type SQLColumn struct {
	Name string `json:"name"`
	Type uint32 `json:"type_oid"`
}

// maxSQLRows caps the rows an ad-hoc query returns.
const maxSQLRows = 10000

// RunSQL runs ad-hoc SQL as the tenant's owner with search_path set to its first schema
// and its statement timeout. Without params several statements may be sent (the last
// result is returned); with params, one.
func (s *Store) RunSQL(ctx context.Context, t *Tenant, req *SQLRequest) (*SQLResult, error) {
	if strings.TrimSpace(req.SQL) == "" {
		return nil, fmt.Errorf("%w: sql is empty", ErrInvalid)
	}
	args := make([][]byte, len(req.Params))
	for i, p := range req.Params {
		args[i] = paramText(p)
	}
	opts := pgx.TxOptions{}
	if req.ReadOnly {
		opts.AccessMode = pgx.ReadOnly
	}
	out := &SQLResult{Columns: []SQLColumn{}, Rows: []json.RawMessage{}}
	err := s.tenantTx(ctx, t, opts, func(tx pgx.Tx) error {
		if err := setSearchPath(ctx, tx, t); err != nil {
			return err
		}
		if d := t.Config.Limits.StatementTimeout.D(); d > 0 {
			if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('statement_timeout', $1, true)", strconv.FormatInt(d.Milliseconds(), 10)); err != nil {
				return err
			}
		}
		pg := tx.Conn().PgConn()
		start := time.Now()
		var res *pgconn.Result
		if len(args) > 0 {
			res = pg.ExecParams(ctx, req.SQL, args, nil, nil, nil).Read()
		} else {
			all, err := pg.Exec(ctx, req.SQL).ReadAll()
			if err != nil {
				return sqlError(err, req.SQL)
			}
			if len(all) > 0 {
				res = all[len(all)-1]
			}
		}
		out.DurationMS = ms(time.Since(start))
		if res == nil {
			return nil
		}
		if res.Err != nil {
			return sqlError(res.Err, req.SQL)
		}
		if st := pg.TxStatus(); st != 'T' {
			return fmt.Errorf("%w: the SQL ended the transaction itself (COMMIT/ROLLBACK)", ErrInvalid)
		}
		out.Command, out.RowsAffect = res.CommandTag.String(), res.CommandTag.RowsAffected()
		for _, f := range res.FieldDescriptions {
			out.Columns = append(out.Columns, SQLColumn{Name: f.Name, Type: f.DataTypeOID})
		}
		for i, row := range res.Rows {
			if i == maxSQLRows {
				out.Truncated = true
				break
			}
			out.Rows = append(out.Rows, rowJSON(res.FieldDescriptions, row))
		}
		if req.ReadOnly {
			return nil
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// paramText turns a JSON parameter into Postgres text format (nil = NULL); Postgres infers
// its type from the statement.
func paramText(p json.RawMessage) []byte {
	var v any
	if err := json.Unmarshal(p, &v); err != nil || v == nil {
		return nil
	}
	if s, ok := v.(string); ok {
		return []byte(s)
	}
	return []byte(strings.TrimSpace(string(p)))
}

// rowJSON renders one text-format row as a JSON object.
func rowJSON(fields []pgconn.FieldDescription, row [][]byte) json.RawMessage {
	b := []byte{'{'}
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		name, _ := json.Marshal(f.Name)
		b = append(b, name...)
		b = append(b, ':')
		b = appendValue(b, f.DataTypeOID, row[i])
	}
	return append(b, '}')
}

func appendValue(b []byte, oid uint32, v []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	switch oid {
	case 16: // bool
		if string(v) == "t" {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case 20, 21, 23, 26: // int8, int2, int4, oid
		return append(b, v...)
	case 700, 701, 1700: // float4, float8, numeric
		if json.Valid(v) {
			return append(b, v...)
		}
	case 114, 3802: // json, jsonb
		if json.Valid(v) {
			return append(b, v...)
		}
	}
	if !utf8.Valid(v) {
		v = []byte(strings.ToValidUTF8(string(v), "\uFFFD"))
	}
	s, _ := json.Marshal(string(v))
	return append(b, s...)
}

// TableStats is one table's activity (pg_stat_user_tables) and size.
type TableStats struct {
	Schema      string     `json:"schema"`
	Name        string     `json:"name"`
	Rows        int64      `json:"rows"` // n_live_tup, an estimate
	DeadRows    int64      `json:"dead_rows"`
	SizeBytes   int64      `json:"size_bytes"`
	SeqScans    int64      `json:"seq_scan"`
	IdxScans    int64      `json:"idx_scan"`
	Inserts     int64      `json:"n_tup_ins"`
	Updates     int64      `json:"n_tup_upd"`
	Deletes     int64      `json:"n_tup_del"`
	LastVacuum  *time.Time `json:"last_autovacuum,omitempty"`
	LastAnalyze *time.Time `json:"last_autoanalyze,omitempty"`
}

// DatabaseStats are a tenant's figures from Postgres.
type DatabaseStats struct {
	// SizeBytes is the database's size (database mode) or its schemas' relations' (schema mode).
	SizeBytes int64        `json:"size_bytes"`
	Rows      int64        `json:"rows"`
	Tables    []TableStats `json:"tables"`
	// RowsRead (rows fetched by sequential and index scans) and RowsWritten (inserted,
	// updated, deleted) add up the tenant's tables since the statistics were reset.
	RowsRead    int64 `json:"rows_read"`
	RowsWritten int64 `json:"rows_written"`
	// CacheHitRatio is the share of the tables' and indexes' block reads found in shared
	// buffers; nil before any read.
	CacheHitRatio *float64 `json:"cache_hit_ratio"`
}

// Stats reads the tenant's size and table activity.
func (s *Store) Stats(ctx context.Context, t *Tenant) (*DatabaseStats, error) {
	pool, err := s.directPool(ctx, t.DirectURL)
	if err != nil {
		return nil, err
	}
	st := &DatabaseStats{Tables: []TableStats{}}
	rows, err := pool.Query(ctx, `SELECT s.schemaname::text, s.relname::text, s.n_live_tup, s.n_dead_tup, pg_total_relation_size(s.relid),
  coalesce(s.seq_scan, 0), coalesce(s.idx_scan, 0), s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.last_autovacuum, s.last_autoanalyze,
  coalesce(s.seq_tup_read, 0) + coalesce(s.idx_tup_fetch, 0),
  coalesce(io.heap_blks_hit, 0) + coalesce(io.idx_blks_hit, 0), coalesce(io.heap_blks_read, 0) + coalesce(io.idx_blks_read, 0)
FROM pg_stat_user_tables s LEFT JOIN pg_statio_user_tables io ON io.relid = s.relid
WHERE s.schemaname = ANY($1) ORDER BY 1, 2`, t.Config.Schemas)
	if err != nil {
		return nil, err
	}
	var hit, read int64
	for rows.Next() {
		var ts TableStats
		var rowsRead, blksHit, blksRead int64
		if err := rows.Scan(&ts.Schema, &ts.Name, &ts.Rows, &ts.DeadRows, &ts.SizeBytes, &ts.SeqScans, &ts.IdxScans,
			&ts.Inserts, &ts.Updates, &ts.Deletes, &ts.LastVacuum, &ts.LastAnalyze, &rowsRead, &blksHit, &blksRead); err != nil {
			rows.Close()
			return nil, err
		}
		st.RowsRead += rowsRead
		st.RowsWritten += ts.Inserts + ts.Updates + ts.Deletes
		hit += blksHit
		read += blksRead
		st.Rows += ts.Rows
		st.SizeBytes += ts.SizeBytes
		st.Tables = append(st.Tables, ts)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if hit+read > 0 {
		r := float64(hit) / float64(hit+read)
		st.CacheHitRatio = &r
	}
	if t.Config.Mode == "database" {
		if err := pool.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&st.SizeBytes); err != nil {
			return nil, err
		}
	}
	return st, nil
}
