package control

import (
	"context"
	"time"
)

// Storage is what a tenant holds in its database, as PostgreSQL's statistics count it.
type Storage struct {
	// DatabaseBytes is the size of its schemas' tables with their indexes and TOAST, or of
	// its whole database in database mode.
	DatabaseBytes int64 `json:"database_bytes"`
	// RowsRead counts rows its tables gave to scans (sequential and index fetches) and
	// RowsWritten rows inserted, updated and deleted, since the statistics were reset;
	// the wire port's and other clients' statements included.
	RowsRead    int64     `json:"rows_read"`
	RowsWritten int64     `json:"rows_written"`
	MeasuredAt  time.Time `json:"measured_at"`
}

// storageSQL sums, per schema, the size of its tables and what scans and writes touched.
// One statement for every tenant of a database, however many schemas they have.
const storageSQL = `SELECT n.nspname,
  coalesce(sum(pg_catalog.pg_total_relation_size(c.oid)), 0)::int8,
  coalesce(sum(s.seq_tup_read + coalesce(s.idx_tup_fetch, 0)), 0)::int8,
  coalesce(sum(s.n_tup_ins + s.n_tup_upd + s.n_tup_del), 0)::int8
FROM pg_catalog.pg_namespace n
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'm')
LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid
WHERE n.nspname = ANY($1::text[])
GROUP BY n.nspname`

// MeasureStorage measures every tenant's storage, one statement per upstream database
// (and its size, for the tenants that own theirs). Cold and hibernated tenants are
// measured too: measuring loads no catalog. A database that cannot be measured leaves its
// tenants out; the first such error is returned with what could be measured.
func (r *Registry) MeasureStorage(ctx context.Context) (map[string]Storage, error) {
	r.mu.Lock()
	dbs := make([]*database, 0, len(r.dbs))
	for _, db := range r.dbs {
		dbs = append(dbs, db)
	}
	r.mu.Unlock()
	out := map[string]Storage{}
	var firstErr error
	for _, db := range dbs {
		if err := db.measure(ctx, out); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

func (db *database) measure(ctx context.Context, out map[string]Storage) error {
	tenants := db.list()
	if len(tenants) == 0 {
		return nil
	}
	var schemas []string
	owns := false
	for _, t := range tenants {
		schemas = append(schemas, tenantSchemas(t.Config)...)
		owns = owns || t.Config.Mode == "database"
	}
	now := time.Now()
	rows, err := db.pool.Query(ctx, storageSQL, schemas)
	if err != nil {
		return err
	}
	bySchema := map[string]Storage{}
	for rows.Next() {
		var name string
		var s Storage
		if err := rows.Scan(&name, &s.DatabaseBytes, &s.RowsRead, &s.RowsWritten); err != nil {
			rows.Close()
			return err
		}
		bySchema[name] = s
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var dbBytes int64
	if owns {
		if err := db.pool.QueryRow(ctx, "SELECT pg_catalog.pg_database_size(pg_catalog.current_database())").Scan(&dbBytes); err != nil {
			return err
		}
	}
	for _, t := range tenants {
		s := Storage{MeasuredAt: now}
		for _, name := range tenantSchemas(t.Config) {
			x := bySchema[name]
			s.DatabaseBytes += x.DatabaseBytes
			s.RowsRead += x.RowsRead
			s.RowsWritten += x.RowsWritten
		}
		if t.Config.Mode == "database" {
			s.DatabaseBytes = dbBytes
		}
		out[t.Name] = s
	}
	return nil
}

// tenantSchemas are the schemas holding a tenant's data: the ones it exposes and its Kapok
// Auth store's.
func tenantSchemas(tc *TenantConfig) []string {
	out := append([]string(nil), tc.Schemas...)
	if tc.Auth != nil && tc.Auth.Users != nil {
		out = append(out, AuthSchema(tc))
	}
	return out
}
