package control

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// StatementStats is one normalized statement of pg_stat_statements.
type StatementStats struct {
	Query   string  `json:"query"`
	Calls   int64   `json:"calls"`
	TotalMS float64 `json:"total_ms"`
	MeanMS  float64 `json:"mean_ms"`
	Rows    int64   `json:"rows"`
}

// Statements is a tenant's share of pg_stat_statements: Available is false, with the
// reason, where the module is not loaded.
type Statements struct {
	Available bool             `json:"available"`
	Reason    string           `json:"reason,omitempty"`
	Rows      []StatementStats `json:"rows"`
}

// statsSchema holds pg_stat_statements' view where Kapok creates the extension itself: a
// schema of its own that no tenant's API exposes and PUBLIC may not use.
const statsSchema = "kapok_stats"

// Statements reads the tenant's most expensive statements (by total execution time) from
// pg_stat_statements: all of its database's for a database tenant, those naming one of its
// schemas for a schema tenant. Where the module is loaded (shared_preload_libraries) but
// the extension is missing from the tenant's database, it is created in schema kapok_stats.
func (s *Store) Statements(ctx context.Context, t *Tenant, limit int) (*Statements, error) {
	pool, err := s.directPool(ctx, t.DirectURL)
	if err != nil {
		return nil, err
	}
	out := &Statements{Rows: []StatementStats{}}
	var nsp *string
	var loaded bool
	if err := pool.QueryRow(ctx, `SELECT (SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
  WHERE e.extname = 'pg_stat_statements'),
  'pg_stat_statements' = ANY(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))`).Scan(&nsp, &loaded); err != nil {
		return nil, err
	}
	if !loaded {
		out.Reason = "pg_stat_statements is not loaded: add it to shared_preload_libraries in postgresql.conf and restart PostgreSQL (the dev stack does this for new clusters)"
		return out, nil
	}
	if nsp == nil {
		_, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+statsSchema+`;
REVOKE ALL ON SCHEMA `+statsSchema+` FROM PUBLIC;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements SCHEMA `+statsSchema)
		if err != nil {
			out.Reason = "pg_stat_statements is loaded but its extension could not be created in the tenant's database: " + err.Error()
			return out, nil
		}
		name := statsSchema
		nsp = &name
	}
	var patterns []string
	if t.Config.Mode != "database" {
		for _, sc := range t.Config.Schemas {
			// The schema as an identifier qualifying a name: schema. or "schema".
			patterns = append(patterns, `(^|[^A-Za-z0-9_$"])"?`+regexp.QuoteMeta(sc)+`"?\.`)
		}
	}
	rows, err := pool.Query(ctx, `SELECT query, calls, total_exec_time, mean_exec_time, rows
FROM `+pgx.Identifier{*nsp, "pg_stat_statements"}.Sanitize()+`
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ($1::text[] IS NULL OR query ~ ANY($1))
  AND query NOT LIKE '%pg_stat_statements%'
ORDER BY total_exec_time DESC LIMIT $2`, patterns, limit)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			out.Reason = "pg_stat_statements could not be read: " + pe.Message
			return out, nil
		}
		return nil, err
	}
	out.Rows, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementStats, error) {
		var st StatementStats
		err := r.Scan(&st.Query, &st.Calls, &st.TotalMS, &st.MeanMS, &st.Rows)
		st.Query = strings.TrimSpace(st.Query)
		return st, err
	})
	if err != nil {
		return nil, err
	}
	out.Available = true
	return out, nil
}
