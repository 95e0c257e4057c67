package devstack

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/auth"
	"github.com/kapok-dev/kapok/configs/demo"
)

// dataset is a script of configs/demo and what it creates.
type dataset struct {
	name   string
	about  string // the human half of the schema comment
	sql    string
	tables []string
	// before runs ahead of the script, in its transaction (the helpers a script names).
	before func(ctx context.Context, db auth.Execer) error
}

var (
	workload = dataset{
		name:   "workload",
		about:  "Demo shop: customers, products, orders and their items.",
		sql:    demo.Workload,
		tables: []string{"customers", "products", "orders", "order_items"},
	}
	acme = dataset{
		name:   "acme",
		about:  "Acme help desk: customers, their projects and tickets.",
		sql:    demo.Acme,
		tables: []string{"customers", "projects", "tickets"},
	}
	notes = dataset{
		name:   "notes",
		about:  "Notes app: each user's notes, behind row-level security on auth.uid().",
		sql:    demo.Notes,
		tables: []string{"notes"},
		before: auth.InstallHelpers,
	}
)

// stamp is the schema comment recording what was loaded: the dataset, the revision of its
// script and the scale (0: the dataset has none).
func (d dataset) stamp(scale float64) string {
	sum := sha256.Sum256([]byte(d.sql))
	s := fmt.Sprintf("%s [kapok-dataset %s rev=%x", d.about, d.name, sum[:6])
	if scale > 0 {
		s += " scale=" + strconv.FormatFloat(scale, 'g', -1, 64)
	}
	return s + "]"
}

var stampRe = regexp.MustCompile(`\[kapok-dataset (\S+) rev=[0-9a-f]+(?: scale=([0-9.e+-]+))?\]$`)

// EnsureDataset loads the benchmark workload at scale into schema (created if missing) of the
// database at directURL, unless the schema's comment says this scale of this revision of the
// script is already there. The load is one transaction, serialized with concurrent loaders
// of the same schema, so readers see the old tables or the new ones. It reports whether it
// loaded.
func EnsureDataset(ctx context.Context, directURL, schema string, scale float64) (bool, error) {
	if err := checkScale(scale); err != nil {
		return false, err
	}
	return ensure(ctx, directURL, schema, workload, scale)
}

func ensure(ctx context.Context, directURL, schema string, d dataset, scale float64) (bool, error) {
	c, err := pgx.Connect(ctx, directURL)
	if err != nil {
		return false, err
	}
	defer c.Close(context.Background())
	want := d.stamp(scale)
	if got, err := schemaComment(ctx, c, schema); err != nil || got == want {
		return false, err
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "kapok-dataset:"+schema); err != nil {
		return false, err
	}
	if got, err := schemaComment(ctx, tx, schema); err != nil || got == want { // loaded while we waited
		return false, err
	}
	if d.before != nil {
		if err := d.before(ctx, tx); err != nil {
			return false, fmt.Errorf("before dataset %s: %w", d.name, err)
		}
	}
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+q); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true), set_config('kapok.scale', $2, true)",
		q, strconv.FormatFloat(scale, 'f', -1, 64)); err != nil {
		return false, err
	}
	if _, err := tx.Conn().PgConn().Exec(ctx, d.sql).ReadAll(); err != nil {
		return false, fmt.Errorf("loading dataset %s into schema %s: %w", d.name, schema, err)
	}
	if _, err := tx.Exec(ctx, "COMMENT ON SCHEMA "+q+" IS "+quoteLiteral(want)); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	// Fresh statistics for the planner and a visibility map for index-only scans.
	names := make([]string, len(d.tables))
	for i, t := range d.tables {
		names[i] = pgx.Identifier{schema, t}.Sanitize()
	}
	if _, err := c.Exec(ctx, "VACUUM (ANALYZE) "+strings.Join(names, ", ")); err != nil {
		return true, err
	}
	return true, nil
}

type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// schemaComment returns the comment of schema ("" when it or the comment does not exist).
func schemaComment(ctx context.Context, q queryer, schema string) (string, error) {
	var comment *string
	err := q.QueryRow(ctx, "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1", schema).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && comment == nil) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return *comment, nil
}

// LoadedScale returns the scale of the workload dataset in schema of the database at
// directURL, as recorded by EnsureDataset; ok is false when the schema holds no workload.
// Benchmarks use it to draw parameters from the ids that exist.
func LoadedScale(ctx context.Context, directURL, schema string) (scale float64, ok bool, err error) {
	c, err := pgx.Connect(ctx, directURL)
	if err != nil {
		return 0, false, err
	}
	defer c.Close(context.Background())
	comment, err := schemaComment(ctx, c, schema)
	if err != nil {
		return 0, false, err
	}
	m := stampRe.FindStringSubmatch(comment)
	if m == nil || m[1] != workload.name || m[2] == "" {
		return 0, false, nil
	}
	scale, err = strconv.ParseFloat(m[2], 64)
	return scale, err == nil, err
}

// datasetsIn lists the schemas of the database at url that hold a dataset, with what was loaded.
func datasetsIn(ctx context.Context, url string) ([]string, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.Background())
	rows, err := c.Query(ctx, `SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace
		WHERE obj_description(oid, 'pg_namespace') LIKE '%[kapok-dataset %' ORDER BY nspname`)
	if err != nil {
		return nil, err
	}
	var found []string
	for rows.Next() {
		var schema, comment string
		if err := rows.Scan(&schema, &comment); err != nil {
			return nil, err
		}
		if m := stampRe.FindStringSubmatch(comment); m != nil {
			s := schema + ": " + m[1]
			if m[2] != "" {
				s += " at scale " + m[2]
			}
			found = append(found, s)
		}
	}
	return found, rows.Err()
}

// loadReporting ensures a dataset in db.schema (url names db) and says what it did.
func loadReporting(ctx context.Context, out io.Writer, url, db, schema string, d dataset, scale float64) error {
	t := time.Now()
	what := d.name
	if scale > 0 {
		what += fmt.Sprintf(" at scale %g", scale)
	}
	if scale >= 0.1 {
		fmt.Fprintf(out, "dataset     %s.%s: checking %s (a load takes a minute or more at this scale)\n", db, schema, what)
	}
	loaded, err := ensure(ctx, url, schema, d, scale)
	switch {
	case err != nil:
		return err
	case loaded:
		fmt.Fprintf(out, "dataset     %s.%s: %s loaded in %s\n", db, schema, what, time.Since(t).Round(time.Millisecond))
	default:
		fmt.Fprintf(out, "dataset     %s.%s: %s already loaded\n", db, schema, what)
	}
	return nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
