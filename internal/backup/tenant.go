package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/control"
)

// TenantOptions say which tenant to restore, to when, and where it lives.
type TenantOptions struct {
	To     time.Time
	Tenant *control.TenantConfig // normalized (control.Config.NormalizeTenant)
	// URL is a superuser's direct URL of the tenant's database in the live cluster.
	URL string
	// ControlURL is the control database's (kapok.migrations), when it is on the same
	// cluster as the tenant; "" otherwise.
	ControlURL string
	// DropOld drops what was live instead of keeping it aside as *_before_restore_<time>.
	DropOld bool
	// KeepScratch leaves the restored copy's directory in place (stopped), for a look.
	KeepScratch bool
	Out         io.Writer
}

// TenantResult says what RestoreTenant did.
type TenantResult struct {
	Tenant string
	// Restored are the schemas (or the database) brought back to the time.
	Restored []string
	// KeptAside are what was live before, under their new names; Dropped what DropOld dropped.
	KeptAside, Dropped []string
	// Steps time each stage: restore (pgBackRest into the scratch directory), recover
	// (start, replay the WAL to the time, promote), dump, load (into the live cluster).
	Steps []Step
	Total time.Duration
}

// Step is one timed stage of a restore.
type Step struct {
	Name     string
	Duration time.Duration
}

// tenantTables hold rows per tenant beside its schemas: they are put back as of the time
// too, so the migrations recorded match the restored schema and the event triggers match
// the table triggers the schema carries. A table is skipped where it does not exist.
var tenantTables = []string{"kapok.migrations", "kapok_events.triggers"}

// RestoreTenant brings one tenant back to o.To without touching the others: the cluster is
// restored to that time into a scratch directory and started there, and the tenant's
// schemas (its Kapok Auth store included) are copied back into the live database in one
// transaction, what was live renamed aside first; a database tenant's database is copied
// into a new database that then takes the live one's name. The live cluster keeps serving
// throughout; a database tenant's sessions are ended for the swap.
func (s *Stanza) RestoreTenant(ctx context.Context, o TenantOptions) (*TenantResult, error) {
	began := time.Now()
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	t := o.Tenant
	res := &TenantResult{Tenant: t.Name}
	step := func(name string, since time.Time) {
		res.Steps = append(res.Steps, Step{name, time.Since(since)})
		fmt.Fprintf(out, "%-8s %s\n", name, time.Since(since).Round(time.Millisecond))
	}
	if err := s.checkTarget(ctx, o.To); err != nil {
		return nil, err
	}
	if err := archiveNow(ctx, o.URL, time.Minute); err != nil {
		return nil, fmt.Errorf("archiving the current WAL: %w", err)
	}

	stamp := time.Now().UTC().Format("20060102T150405")
	root, err := os.MkdirTemp(s.Dir, "restore-"+stamp+"-")
	if err != nil {
		return nil, err
	}
	if err := s.user.own(root); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	if !o.KeepScratch {
		defer os.RemoveAll(root)
	}
	at := time.Now()
	if err := s.restoreInto(ctx, filepath.Join(root, "pg"), &o.To, false); err != nil {
		return nil, err
	}
	step("restore", at)
	at = time.Now()
	sc, err := s.startScratch(ctx, root)
	if err != nil {
		return nil, err
	}
	defer sc.stop()
	step("recover", at)

	db := databaseOf(o.URL)
	if t.Mode == "database" {
		err = s.restoreDatabase(ctx, o, sc, db, stamp, res, step)
	} else {
		err = s.restoreSchemas(ctx, o, sc, db, stamp, res, step)
	}
	if err != nil {
		return nil, err
	}
	if o.ControlURL != "" && databaseOf(o.ControlURL) != db {
		// The tenant's rows in the control database, in a transaction of their own.
		rows, err := tenantRowsSQL(ctx, sc.url(databaseOf(o.ControlURL)), o.ControlURL, t.Name)
		if err != nil {
			return nil, err
		}
		if err := sc.psql(ctx, o.ControlURL, "control.sql", rows); err != nil {
			return nil, fmt.Errorf("restoring the tenant's rows of the control tables: %w", err)
		}
	}
	if o.KeepScratch {
		fmt.Fprintf(out, "the restored copy stays in %s\n", sc.data)
	}
	res.Total = time.Since(began)
	return res, nil
}

// restoreSchemas copies the tenant's schemas from the scratch copy into the live database.
func (s *Stanza) restoreSchemas(ctx context.Context, o TenantOptions, sc *scratch, db, stamp string,
	res *TenantResult, step func(string, time.Time)) error {
	t := o.Tenant
	wanted := append([]string(nil), t.Schemas...)
	if a := control.AuthSchema(t); !slices.Contains(wanted, a) {
		wanted = append(wanted, a)
	}
	then, err := existingSchemas(ctx, sc.url(db), wanted)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(t.Schemas, func(s string) bool { return slices.Contains(then, s) }) {
		return fmt.Errorf("tenant %s had no schema (%s) in database %s at %s: nothing to restore",
			t.Name, strings.Join(t.Schemas, ", "), db, o.To.Format(time.RFC3339))
	}
	live, err := existingSchemas(ctx, o.URL, wanted)
	if err != nil {
		return err
	}

	at := time.Now()
	dump := filepath.Join(sc.root, "tenant.sql")
	args := []string{"--format=plain", "--no-sync", "-f", dump, "-d", sc.url(db)}
	for _, name := range then {
		args = append(args, "-n", pgx.Identifier{name}.Sanitize())
	}
	if err := sc.tool(ctx, "pg_dump", "", args...); err != nil {
		return err
	}
	rows, err := tenantRowsSQL(ctx, sc.url(db), o.URL, t.Name)
	if err != nil {
		return err
	}
	step("dump", at)

	at = time.Now()
	var script strings.Builder
	for _, name := range live {
		if o.DropOld {
			fmt.Fprintf(&script, "DROP SCHEMA %s CASCADE;\n", pgx.Identifier{name}.Sanitize())
			res.Dropped = append(res.Dropped, name)
		} else {
			old := asideName(name, stamp)
			fmt.Fprintf(&script, "ALTER SCHEMA %s RENAME TO %s;\n", pgx.Identifier{name}.Sanitize(), pgx.Identifier{old}.Sanitize())
			res.KeptAside = append(res.KeptAside, old)
		}
	}
	fmt.Fprintf(&script, "\\i %s\n", quoteLiteral(dump))
	script.WriteString(rows)
	if err := sc.psql(ctx, o.URL, "restore.sql", script.String()); err != nil {
		return fmt.Errorf("loading the tenant's schemas (nothing changed: it ran in one transaction): %w", err)
	}
	res.Restored = then
	step("load", at)
	return nil
}

// restoreDatabase copies the tenant's database from the scratch copy into a new database
// of the live cluster, then swaps the names.
func (s *Stanza) restoreDatabase(ctx context.Context, o TenantOptions, sc *scratch, db, stamp string,
	res *TenantResult, step func(string, time.Time)) error {
	at := time.Now()
	var enc, collate, ctype, owner string
	c, err := pgx.Connect(ctx, sc.url("postgres"))
	if err != nil {
		return err
	}
	err = c.QueryRow(ctx, `SELECT pg_encoding_to_char(encoding), datcollate, datctype, pg_get_userbyid(datdba)
  FROM pg_database WHERE datname = $1`, db).Scan(&enc, &collate, &ctype, &owner)
	c.Close(context.Background())
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("database %s did not exist at %s: nothing to restore", db, o.To.Format(time.RFC3339))
	}
	if err != nil {
		return err
	}
	dump := filepath.Join(sc.root, "tenant.dump")
	if err := sc.tool(ctx, "pg_dump", "", "--format=custom", "--no-sync", "-f", dump, "-d", sc.url(db)); err != nil {
		return err
	}
	step("dump", at)

	at = time.Now()
	admin, err := pgx.Connect(ctx, withDatabase(o.URL, "postgres"))
	if err != nil {
		return err
	}
	defer admin.Close(context.Background())
	fresh := truncateIdent(db, "_restoring_"+strings.ToLower(stamp))
	qf := pgx.Identifier{fresh}.Sanitize()
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s TEMPLATE template0 ENCODING %s LC_COLLATE %s LC_CTYPE %s",
		qf, pgx.Identifier{owner}.Sanitize(), quoteLiteral(enc), quoteLiteral(collate), quoteLiteral(ctype))); err != nil {
		return err
	}
	if err := sc.tool(ctx, "pg_restore", withDatabase(o.URL, fresh), "--exit-on-error", "--single-transaction", dump); err != nil {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE "+qf)
		return fmt.Errorf("loading the tenant's database into %s (dropped again; the live one is untouched): %w", fresh, err)
	}
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return err
	}
	if exists {
		old := asideName(db, stamp)
		if err := swapOut(ctx, admin, db, old); err != nil {
			return err
		}
		if o.DropOld {
			if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{old}.Sanitize()+" WITH (FORCE)"); err != nil {
				return err
			}
			res.Dropped = append(res.Dropped, db)
		} else {
			res.KeptAside = append(res.KeptAside, old)
		}
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+qf+" RENAME TO "+pgx.Identifier{db}.Sanitize()); err != nil {
		return err
	}
	res.Restored = []string{db}
	step("load", at)
	return nil
}

// swapOut renames database db to old: new connections are refused, the open ones ended,
// and the rename retried while a connection slips in. The renamed database accepts
// connections again, for a look at what was replaced.
func swapOut(ctx context.Context, admin *pgx.Conn, db, old string) error {
	q, qo := pgx.Identifier{db}.Sanitize(), pgx.Identifier{old}.Sanitize()
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+q+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	var err error
	for try := 0; try < 50; try++ {
		if _, err = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db); err != nil {
			break
		}
		if _, err = admin.Exec(ctx, "ALTER DATABASE "+q+" RENAME TO "+qo); err == nil {
			_, err = admin.Exec(ctx, "ALTER DATABASE "+qo+" WITH ALLOW_CONNECTIONS true")
			return err
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "55006" { // object_in_use
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, _ = admin.Exec(context.Background(), "ALTER DATABASE "+q+" WITH ALLOW_CONNECTIONS true")
	return fmt.Errorf("renaming database %s aside: %w", db, err)
}

// existingSchemas returns those of names that exist in the database at url, in order.
func existingSchemas(ctx context.Context, url string, names []string) ([]string, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, "SELECT n FROM unnest($1::text[]) WITH ORDINALITY AS u(n, i) WHERE EXISTS (SELECT FROM pg_namespace WHERE nspname = n) ORDER BY i", names)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// tenantRowsSQL is a psql script that replaces the tenant's rows of tenantTables in the
// live database at liveURL by those of the scratch copy's database at scratchURL: a DELETE
// and a COPY with its data inline, per table both sides have.
func tenantRowsSQL(ctx context.Context, scratchURL, liveURL, tenant string) (string, error) {
	from, err := pgx.Connect(ctx, scratchURL)
	if err != nil {
		return "", err
	}
	defer from.Close(context.Background())
	to, err := pgx.Connect(ctx, liveURL)
	if err != nil {
		return "", err
	}
	defer to.Close(context.Background())
	var b strings.Builder
	for _, table := range tenantTables {
		liveCols, err := columnsOf(ctx, to, table)
		if err != nil {
			return "", err
		}
		if len(liveCols) == 0 {
			continue
		}
		fmt.Fprintf(&b, "DELETE FROM %s WHERE tenant = %s;\n", table, quoteLiteral(tenant))
		thenCols, err := columnsOf(ctx, from, table)
		if err != nil {
			return "", err
		}
		var cols []string
		for _, c := range liveCols {
			if slices.Contains(thenCols, c) {
				cols = append(cols, pgx.Identifier{c}.Sanitize())
			}
		}
		if len(cols) == 0 { // the table came later: the tenant had no rows in it then
			continue
		}
		var data bytes.Buffer
		list := strings.Join(cols, ", ")
		if _, err := from.PgConn().CopyTo(ctx, &data, fmt.Sprintf("COPY (SELECT %s FROM %s WHERE tenant = %s) TO STDOUT", list, table, quoteLiteral(tenant))); err != nil {
			return "", fmt.Errorf("reading %s as of the time: %w", table, err)
		}
		if data.Len() == 0 {
			continue
		}
		fmt.Fprintf(&b, "COPY %s (%s) FROM stdin;\n%s\\.\n", table, list, data.String())
	}
	return b.String(), nil
}

// columnsOf lists a table's columns in order; none when it does not exist.
func columnsOf(ctx context.Context, c *pgx.Conn, table string) ([]string, error) {
	rows, err := c.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, table)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// asideName is name with _before_restore_<stamp>, cut to fit PostgreSQL's 63 bytes.
func asideName(name, stamp string) string {
	return truncateIdent(name, "_before_restore_"+strings.ToLower(stamp))
}

// truncateIdent appends suffix to name, shortening name so the result fits in 63 bytes.
func truncateIdent(name, suffix string) string {
	const maxIdent = 63
	if len(name)+len(suffix) > maxIdent {
		name = name[:maxIdent-len(suffix)]
	}
	return name + suffix
}

// databaseOf is the database a URL names.
func databaseOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}
