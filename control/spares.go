package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Spare schemas keep schema tenants' creation off the template's DDL: for each template
// and upstream, tenancy.spare_schemas schemas made from the template's DDL wait, named
// kapok_spare_<template>_<random> and commented with spareMark. Creating a tenant renames
// one (a catalog update, not tables and indexes made under load) and runs the template's
// seed in it, so that its rows are as new as the tenant; a background fill makes its
// replacement. A spare of another mark (an older template) is never handed out; it is
// dropped by the first fill of each template version in a process, unless a claim holds it
// (the claim's lock), and not again: during a rolling change of a template, replicas of
// either version would otherwise drop each other's spares at every fill.
// Templates whose DDL reads current_schema() get no spares: what it wrote would still
// name the spare.
//
// A spare also comes with a role of its name, made by the tenant role script for the
// spare's schema alone: its grants on the schema, its tables, sequences and functions and
// its default privileges, which are most of a new tenant role's DDL (each GRANT runs the
// DDL event trigger). It can log in nowhere and has no members. The claim renames it to
// the tenant's role, whose script then finds those grants made and only adds what is the
// tenant's own (membership of the login role, API roles); a tenant that has no role of its
// own, or whose role already exists, drops the spare's instead. Where Kapok may not create
// roles, spares have none.

const sparePrefix = "kapok_spare_"

// sparePattern is the regular expression of the names of t's spares: exactly, so that
// those of a template named t's name and more ("default" and "default_eu") stay apart.
// Template names are [a-z0-9_], nothing a regular expression reads specially.
func sparePattern(t *template) string {
	return "^" + sparePrefix + t.name + "_[0-9a-f]{8}$"
}

// spareable reports whether t's spares can be renamed into tenants: nothing in the
// template's DDL captures its schema's name but functions' SET search_path FROM CURRENT,
// which the claim rewrites. (The seed runs after the rename.)
func (t *template) spareable() bool {
	return !strings.Contains(strings.ToLower(t.ddl), "current_schema")
}

// spareMark is the comment of t's current spares: its checksum, and that they hold no seed
// rows yet and come with their role (where Kapok may create one). Spares of an older mark
// are dropped and made again.
func (t *template) spareMark() string { return t.checksum + " unseeded, with role" }

type spareKey struct{ url, tmpl string }

// sweepKey is one version of a template on one upstream.
type sweepKey struct{ url, tmpl, checksum string }

// spares tracks the fills in progress, one per (upstream, template); again asks a fill for
// one more round (a spare was claimed while it ran). swept holds the template versions
// whose stale spares a fill dropped already.
type spares struct {
	mu      sync.Mutex
	filling map[spareKey]*spareFill
	swept   map[sweepKey]bool
	wg      sync.WaitGroup
}

type spareFill struct{ again bool }

// claimSpare renames a spare of t into schema, in tx: false when there is none. The
// spare's role becomes role, the tenant's (none: the spare's role is dropped).
func claimSpare(ctx context.Context, tx pgx.Tx, t *template, schema, role string) (bool, error) {
	// The first spare no other creation holds (replicas, and other Kapoks on the database,
	// take spares from the same schemas): its advisory lock is held until tx ends. The lock
	// is a volatile qual, so it stays above the ordered subquery and is taken row by row.
	var spare string
	err := tx.QueryRow(ctx, `SELECT nspname FROM (
  SELECT oid, nspname FROM pg_catalog.pg_namespace
  WHERE nspname ~ $1 AND pg_catalog.obj_description(oid, 'pg_namespace') = $2 ORDER BY oid) s
WHERE pg_catalog.pg_try_advisory_xact_lock($3::int8 | s.oid::int8) LIMIT 1`,
		sparePattern(t), t.spareMark(), spareLockSpace).Scan(&spare)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := tx.Exec(ctx, "ALTER SCHEMA "+pgx.Identifier{spare}.Sanitize()+" RENAME TO "+q+"; COMMENT ON SCHEMA "+q+" IS NULL"); err != nil {
		return false, err
	}
	if err := claimSpareRole(ctx, tx, spare, role, schema); err != nil {
		return false, err
	}
	// Functions made with SET search_path FROM CURRENT hold the spare's name as text.
	rows, err := tx.Query(ctx, `SELECT p.oid::regprocedure::text, substr(c, length('search_path=') + 1)
FROM pg_catalog.pg_proc p, unnest(p.proconfig) AS c
WHERE p.pronamespace = $1::regnamespace AND c LIKE 'search_path=%'`, q)
	if err != nil {
		return false, err
	}
	type fix struct{ Fn, Path string } // exported: pgx fills them by position
	fixes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[fix])
	if err != nil {
		return false, err
	}
	for _, f := range fixes {
		path := strings.ReplaceAll(f.Path, `"`+spare+`"`, q)
		path = renameWord(path, spare, q)
		if path == f.Path {
			continue
		}
		if _, err := tx.Exec(ctx, "ALTER FUNCTION "+f.Fn+" SET search_path TO "+path); err != nil {
			return false, fmt.Errorf("function %s after its schema's rename: %w", f.Fn, err)
		}
	}
	if strings.TrimSpace(t.seed) != "" {
		if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('search_path', "+quoteLiteral(q)+", true);\n"+t.seed); err != nil {
			return false, err
		}
	}
	return true, nil
}

// claimSpareRole renames the role of the spare named spare, if it has one, to role; when
// role is empty or already exists, it drops the spare's role and its grants instead. The
// DDL notifications of the rest of tx name schema, the spare's new name (kapok.ddl_schemas):
// DROP OWNED names no schema of its own, and would make every watched tenant of the
// database reload.
func claimSpareRole(ctx context.Context, tx pgx.Tx, spare, role, schema string) error {
	var has, taken bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1),
  EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $2), pg_catalog.set_config('kapok.ddl_schemas', $3::text, true)`,
		spare, role, schema).Scan(&has, &taken, nil); err != nil || !has {
		return err
	}
	sr := pgx.Identifier{spare}.Sanitize()
	if role == "" || taken {
		_, err := tx.Exec(ctx, "DROP OWNED BY "+sr+"; DROP ROLE "+sr)
		return err
	}
	_, err := tx.Exec(ctx, "ALTER ROLE "+sr+" RENAME TO "+pgx.Identifier{role}.Sanitize())
	return err
}

// renameWord replaces the unquoted list element old of a search_path value by repl.
func renameWord(path, old, repl string) string {
	parts := strings.Split(path, ",")
	for i, p := range parts {
		if strings.TrimSpace(p) == old {
			parts[i] = repl
		}
	}
	return strings.Join(parts, ",")
}

// fillSpares makes t's spares in the database at url up to tenancy.spare_schemas, and
// drops those of an older checksum, in the background. A fill already running for them
// goes round once more instead.
func (s *Store) fillSpares(url string, t *template) {
	want := s.reg.cfg.Tenancy.SpareSchemas
	if want <= 0 || !t.spareable() || s.bg == nil {
		return
	}
	key := spareKey{url, t.name}
	s.spares.mu.Lock()
	defer s.spares.mu.Unlock()
	if f := s.spares.filling[key]; f != nil {
		f.again = true
		return
	}
	if s.bg.Err() != nil {
		return
	}
	if s.spares.filling == nil {
		s.spares.filling = map[spareKey]*spareFill{}
	}
	f := &spareFill{again: true}
	s.spares.filling[key] = f
	s.spares.wg.Add(1)
	go func() {
		defer s.spares.wg.Done()
		for {
			s.spares.mu.Lock()
			if !f.again || s.bg.Err() != nil {
				delete(s.spares.filling, key)
				s.spares.mu.Unlock()
				return
			}
			f.again = false
			s.spares.mu.Unlock()
			sk := sweepKey{url, t.name, t.checksum}
			s.spares.mu.Lock()
			sweep := !s.spares.swept[sk]
			s.spares.mu.Unlock()
			if err := s.fillOnce(s.bg, url, t, want, sweep); err != nil {
				if s.bg.Err() == nil {
					s.log.Warn("spare tenant schemas not made", "template", t.name, "err", err)
				}
			} else if sweep {
				s.spares.mu.Lock()
				if s.spares.swept == nil {
					s.spares.swept = map[sweepKey]bool{}
				}
				s.spares.swept[sk] = true
				s.spares.mu.Unlock()
			}
		}
	}()
}

// fillOnce makes t's spares at url up to want; with sweep, it first drops the spares of
// other versions of t that no claim holds.
func (s *Store) fillOnce(ctx context.Context, url string, t *template, want int, sweep bool) error {
	pool, err := s.directPool(ctx, url)
	if err != nil {
		return err
	}
	rows, err := pool.Query(ctx, `SELECT nspname, coalesce(pg_catalog.obj_description(oid, 'pg_namespace'), '') = $2
FROM pg_catalog.pg_namespace WHERE nspname ~ $1`, sparePattern(t), t.spareMark())
	if err != nil {
		return err
	}
	type spare struct { // exported: pgx fills them by position
		Name    string
		Current bool
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[spare])
	if err != nil {
		return err
	}
	have := 0
	for _, sp := range found {
		if sp.Current {
			have++
			continue
		}
		if !sweep {
			continue
		}
		// Under the claims' lock: a spare a creation is renaming is left to it.
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var locked bool
			err := tx.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_xact_lock($1::int8 | oid::int8)
FROM pg_catalog.pg_namespace WHERE nspname = $2`, spareLockSpace, sp.Name).Scan(&locked)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && !locked) {
				return nil
			}
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{sp.Name}.Sanitize()+" CASCADE")
			return err
		})
		if err != nil {
			return err
		}
	}
	if sweep {
		dropOrphanSpareRoles(ctx, pool, t)
	}
	for ; have < want; have++ {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		name := sparePrefix + t.name + "_" + hex.EncodeToString(b[:])
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := applyTemplate(ctx, tx, name, t, false); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "COMMENT ON SCHEMA "+pgx.Identifier{name}.Sanitize()+" IS "+quoteLiteral(t.spareMark())); err != nil {
				return err
			}
			return makeSpareRole(ctx, tx, name)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// makeSpareRole makes the role of the spare named name, in a savepoint of tx: where Kapok
// may not create roles, the spare has none.
func makeSpareRole(ctx context.Context, tx pgx.Tx, name string) error {
	script, err := tenantRoleScript(name, "", false, nil, []string{name})
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		_, err := sp.Exec(ctx, script)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		return nil
	}
	return err
}

// dropOrphanSpareRoles drops the roles of t's spares whose schema is gone (dropped as
// stale, or by hand). Roles are the cluster's: a role still granted something, in this
// database or another (a spare of the same template on another upstream of the same
// cluster), is not dropped, and that refusal is no error.
func dropOrphanSpareRoles(ctx context.Context, pool interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}, t *template) {
	rows, err := pool.Query(ctx, `SELECT r.rolname FROM pg_catalog.pg_roles r
WHERE r.rolname ~ $1 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = r.rolname)`, sparePattern(t))
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		_, _ = pool.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{n}.Sanitize())
	}
}

// spareLockSpace keeps the advisory locks of spares (their OIDs, below 2^32) apart from
// the int4 keys of Kapok's other advisory locks.
const spareLockSpace int64 = 0x4b53 << 40

// isSpareRace reports whether err is another creation having renamed the same spare first
// (gone by the time the rename ran, or renamed concurrently).
func isSpareRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3F000" || ConcurrentCatalogUpdate(err)
}
