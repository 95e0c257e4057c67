package catalogload

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// Querier runs a query. *pgx.Conn, *pgxpool.Conn, *pgxpool.Pool and pgx.Tx satisfy it.
//
// When q can also begin a transaction (all of the above can), Load reads inside one: a read-only REPEATABLE READ transaction for a connection or pool (one
// consistent snapshot, which PgBouncer in transaction mode keeps on one server
// connection), a savepoint for a pgx.Tx (so a migration can introspect its own
// uncommitted DDL). Either way search_path is set to pg_catalog for the duration, so
// that type names and expressions print the same whatever the session's search_path,
// and jit and custom plans are turned off; all are put back afterwards. A connection inside a transaction
// begun with a plain SQL BEGIN must not be passed (Load would end that transaction): pass
// the pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// LoadError wraps a failure of one introspection query.
type LoadError struct {
	Step string // which query: "relations", "columns", ...
	Err  error
}

func (e *LoadError) Error() string { return "catalog: load " + e.Step + ": " + e.Err.Error() }
func (e *LoadError) Unwrap() error { return e.Err }

// Load introspects the given schemas into an immutable catalog.Schema, finished (see
// catalog.Schema.Finish): sorted, with its relationships, lookup maps and Version. Objects
// outside schemas are invisible, except as the types of columns and arguments; foreign
// keys to relations outside them are dropped.
func Load(ctx context.Context, q Querier, schemas []string) (*catalog.Schema, error) {
	if schemas == nil {
		schemas = []string{}
	}
	var s *catalog.Schema
	err := inSnapshot(ctx, q, func(q Querier, settings string) error {
		var err error
		s, err = load(ctx, q, schemas, settings)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.Finish()
	return s, nil
}

type txOptionsBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// snapshotSettingsSQL sets search_path to pg_catalog, turns JIT off (compiling these
// small catalog queries costs far more than running them) and makes the queries' plans
// generic: planned once per connection (their prepared statements stay in the
// connection's statement cache) instead of at every load for its schemas and OIDs, which
// cost more than running most of them. Local to the transaction.
const snapshotSettingsSQL = "SELECT pg_catalog.set_config('search_path', 'pg_catalog', true), " +
	"pg_catalog.set_config('jit', 'off', true), pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true)"

// inSnapshot runs f inside a read-only transaction (or a savepoint) with search_path set
// to pg_catalog, and always rolls it back: nothing is written. Where the transaction can
// batch, f gets snapshotSettingsSQL to send first in its first batch (a round trip less);
// else the settings are made before f runs, and f gets "".
func inSnapshot(ctx context.Context, q Querier, f func(q Querier, settings string) error) error {
	var tx pgx.Tx
	var err error
	switch b := q.(type) {
	case txOptionsBeginner:
		tx, err = b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	case beginner:
		tx, err = b.Begin(ctx)
	default:
		return f(q, "")
	}
	if err != nil {
		return &LoadError{Step: "begin", Err: err}
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, batches := batchesOn(tx); batches {
		return f(tx, snapshotSettingsSQL)
	}
	if _, err := tx.Exec(ctx, snapshotSettingsSQL); err != nil {
		return &LoadError{Step: "search_path", Err: err}
	}
	return f(tx, "")
}

// The queries below take the schemas' names as $1 (those after relations take the
// relations' OIDs, = ANY($1::oid[])). They return rows in no particular order:
// catalog.Schema.Finish sorts in Go (byte order), so the result does not depend on the
// database's collation.
//
// pg_class, pg_type and pg_proc have no index on their namespace: a filter on it scans
// the whole catalog, every schema's rows, so in a database of thousands of tenant
// schemas each tenant's load would cost as much as the largest. Every object made in a
// schema that initdb did not make has a pg_depend row ('n') naming it, found through
// pg_depend's index on what is referenced: inSchemas lists a schema's objects from
// there, and scans only for the schemas initdb made (public among them, OID below
// FirstNormalObjectId), whose objects may have no such row.

// firstNormalObjectID is PostgreSQL's FirstNormalObjectId: OIDs from it on are the
// database's own, never initdb's.
const firstNormalObjectID = 16384

// scanNamespaces makes inSchemas scan the catalog for every schema: a test compares the
// two ways of finding a schema's objects.
var scanNamespaces = false

// inSchemas prefixes query with two CTEs: ns, the schemas named in $1 (oid, nspname), and
// member, the OIDs of the objects of catalog table class (pg_class, pg_type, pg_proc)
// whose namespace column nsCol names one of them. The scan branch is gated by a
// one-time filter: with no initdb schema among $1 it never runs. Queries take each
// member's row by its OID in an OFFSET 0 subquery, which keeps that a lookup in the
// catalog's OID index: as a join, member's row estimate (the scan branch's, however
// gated) can make it a scan of the whole catalog.
func inSchemas(class, nsCol, query string) string {
	scan := "SELECT x.oid FROM " + class + " x WHERE x." + nsCol + " IN (SELECT oid FROM ns)"
	if !scanNamespaces {
		scan = `SELECT d.objid FROM ns JOIN pg_depend d ON d.refclassid = 'pg_namespace'::regclass AND d.refobjid = ns.oid AND d.refobjsubid = 0
  WHERE ns.oid >= ` + strconv.Itoa(firstNormalObjectID) + ` AND d.classid = '` + class + `'::regclass AND d.deptype = 'n'
  UNION ALL
  SELECT x.oid FROM ` + class + ` x
  WHERE (SELECT bool_or(oid < ` + strconv.Itoa(firstNormalObjectID) + `) FROM ns)
    AND x.` + nsCol + ` IN (SELECT oid FROM ns WHERE oid < ` + strconv.Itoa(firstNormalObjectID) + `)`
	}
	return `WITH ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname = ANY($1)),
member(oid) AS (
  ` + scan + `
)` + query
}

const relationsSQL = `
SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text,
       coalesce(d.description, ''),
       CASE WHEN c.relkind IN ('v', 'f') THEN pg_relation_is_updatable(c.oid, true)
            WHEN c.relkind IN ('r', 'p') THEN 28 /* insert, update, delete */ ELSE 0 END,
       coalesce(pn.nspname::text, ''), coalesce(pc.relname::text, ''), c.relrowsecurity
FROM member m
CROSS JOIN LATERAL (SELECT * FROM pg_class c WHERE c.oid = m.oid OFFSET 0) c
JOIN ns n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
LEFT JOIN pg_inherits i ON c.relispartition AND i.inhrelid = c.oid
LEFT JOIN pg_class pc ON pc.oid = i.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p')`

// pg_relation_is_updatable and pg_column_is_updatable open the relation (and lock it until
// the transaction ends), so they are called for views and foreign tables only: a
// thousand-table schema must not fill the lock table.
const columnsSQL = `
SELECT a.attrelid, a.attnum::int, a.attname::text, format_type(a.atttypid, a.atttypmod), a.atttypid,
       a.attnotnull, a.attidentity::text, a.attgenerated::text,
       coalesce(pg_get_expr(ad.adbin, ad.adrelid), ''),
       coalesce(d.description, ''),
       CASE WHEN c.relkind IN ('v', 'f') THEN pg_column_is_updatable(c.oid, a.attnum, true)
            ELSE c.relkind IN ('r', 'p') END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_description d ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped`

// Constraints cloned onto the referencing table for each partition of a referenced
// partitioned table (same conrelid as their parent constraint) are skipped: they
// duplicate the parent's FK. Constraints a partition inherits are its own and stay.
const constraintsSQL = `
SELECT con.conrelid, con.conname::text, con.contype::text, con.conkey, con.confrelid,
       coalesce(con.confkey, '{}'), con.confdeltype::text, con.confupdtype::text
FROM pg_constraint con
WHERE con.conrelid = ANY($1::oid[]) AND con.contype IN ('p', 'u', 'f')
  AND (con.conparentid = 0 OR NOT EXISTS (SELECT 1 FROM pg_constraint pcon
                  WHERE pcon.oid = con.conparentid AND pcon.conrelid = con.conrelid))`

// Key columns come back as attnums, named in Go from the columns already loaded;
// pg_get_indexdef prints the expressions (attnum 0) only.
const indexesSQL = `
SELECT i.indrelid, ic.relname::text, i.indisunique, i.indisprimary, am.amname::text,
       coalesce(pg_get_expr(i.indpred, i.indrelid, true), ''), i.indnkeyatts::int, i.indkey::int2[],
       CASE WHEN 0 = ANY (i.indkey::int2[]) THEN
         ARRAY(SELECT pg_get_indexdef(i.indexrelid, k.ord::int, true)
               FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(num, ord) WHERE k.num = 0 ORDER BY k.ord)
       ELSE '{}' END
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE i.indrelid = ANY($1::oid[])`

const enumsSQL = `
SELECT n.nspname::text, t.typname::text,
       coalesce(array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FILTER (WHERE e.enumlabel IS NOT NULL), '{}'),
       coalesce(d.description, '')
FROM member m
CROSS JOIN LATERAL (SELECT * FROM pg_type t WHERE t.oid = m.oid OFFSET 0) t
JOIN ns n ON n.oid = t.typnamespace
LEFT JOIN pg_enum e ON e.enumtypid = t.oid
LEFT JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_type'::regclass AND d.objsubid = 0
WHERE t.typtype = 'e'
GROUP BY n.nspname, t.typname, d.description`

const domainsSQL = `
SELECT n.nspname::text, t.typname::text, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
       coalesce(t.typdefault, ''),
       coalesce((SELECT array_agg(pg_get_constraintdef(con.oid, true) ORDER BY con.conname COLLATE "C")
                 FROM pg_constraint con WHERE con.contypid = t.oid AND con.contype = 'c'), '{}'),
       coalesce(d.description, '')
FROM member m
CROSS JOIN LATERAL (SELECT * FROM pg_type t WHERE t.oid = m.oid OFFSET 0) t
JOIN ns n ON n.oid = t.typnamespace
LEFT JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_type'::regclass AND d.objsubid = 0
WHERE t.typtype = 'd'`

// pg_get_function_arg_default counts positions over all arguments (IN and OUT), like
// proallargtypes and proargmodes.
const functionsSQL = `
SELECT p.oid, n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid),
       coalesce(p.proallargtypes, p.proargtypes::oid[]),
       coalesce(p.proargmodes::text[], '{}'),
       coalesce(p.proargnames, '{}'),
       coalesce(ad.defaults, '{}'),
       p.prorettype, p.proretset, p.provolatile::text, p.proisstrict, p.prosecdef, l.lanname::text,
       md5(pg_get_functiondef(p.oid)),
       coalesce(d.description, '')
FROM member m
CROSS JOIN LATERAL (SELECT * FROM pg_proc p WHERE p.oid = m.oid OFFSET 0) p
JOIN ns n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
LEFT JOIN pg_description d ON d.objoid = p.oid AND d.classoid = 'pg_proc'::regclass AND d.objsubid = 0
LEFT JOIN LATERAL (
  SELECT array_agg(coalesce(pg_get_function_arg_default(p.oid, u.ord::int), '') ORDER BY u.ord) AS defaults
  FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY u(typ, ord)
) ad ON true
WHERE p.prokind = 'f'
  AND p.prorettype NOT IN ('pg_catalog.trigger'::regtype, 'pg_catalog.event_trigger'::regtype)`

// typesSQL reads the given types and, transitively, the base types of domains and the
// element types of arrays. Each type is looked up by its OID (the OFFSET 0 subqueries stay
// nested loops over the index: as joins, the recursive CTE's row estimate makes them a
// scan of all of pg_type, thousands of rows per tenant schema).
const typesSQL = `
WITH RECURSIVE ty(oid) AS (
  SELECT unnest($1::oid[])
  UNION
  SELECT v.x FROM ty
  CROSS JOIN LATERAL (SELECT t.typbasetype, t.typelem FROM pg_type t WHERE t.oid = ty.oid OFFSET 0) t
  CROSS JOIN LATERAL (VALUES (t.typbasetype), (t.typelem)) v(x)
  WHERE v.x <> 0
)
SELECT t.oid, n.nspname::text, t.typname::text, t.typtype::text, t.typcategory::text,
       t.typelem, t.typbasetype, t.typrelid, format_type(t.oid, NULL),
       t.typnotnull, t.typdefaultbin IS NOT NULL
FROM ty
CROSS JOIN LATERAL (SELECT * FROM pg_type t WHERE t.oid = ty.oid OFFSET 0) t
JOIN pg_namespace n ON n.oid = t.typnamespace`

var relKinds = map[string]catalog.TableKind{
	"r": catalog.KindTable, "v": catalog.KindView, "m": catalog.KindMaterializedView, "f": catalog.KindForeignTable, "p": catalog.KindPartitionedTable,
}

// Bits of pg_relation_is_updatable's result (1 << CmdType).
const (
	updatableBit  = 1 << 2
	insertableBit = 1 << 3
	deletableBit  = 1 << 4
)

// loader holds what one Load has read so far. Each step is one bulk query.
type loader struct {
	q       Querier
	schemas []string
	s       *catalog.Schema
	byOID   map[uint32]*catalog.Table
	// Types are resolved last, from one query over every type the other steps met.
	cols  []rawColumn
	fns   []*rawFunction
	types map[uint32]*pgType
	// batch collects the queries that need nothing from one another (load).
	batch *pgx.Batch
}

// rawColumn keeps what resolving the column's type needs until the types are loaded.
type rawColumn struct {
	col     *catalog.Column
	typeOID uint32
}

type rawFunction struct {
	fn      *catalog.Function
	argOIDs []uint32
	modes   []string
	names   []string
	dflts   []string
	retOID  uint32
}

func load(ctx context.Context, q Querier, schemas []string, settings string) (*catalog.Schema, error) {
	l := &loader{q: q, schemas: schemas, byOID: map[uint32]*catalog.Table{},
		s: &catalog.Schema{Schemas: append([]string{}, schemas...), Tables: []*catalog.Table{}, Enums: []*catalog.Enum{}, Domains: []*catalog.Domain{}}}
	// Relations first: the queries of the second round read their OIDs. Columns before
	// constraints and indexes, which name them by attnum. The types query reads the
	// columns' and functions' types. Each round is one batch where q can send one.
	rounds := [][]func(context.Context) error{
		{l.relations, l.enums, l.domains, l.functions},
		{l.columns, l.constraints, l.indexes, l.privileges},
	}
	b, batches := batchesOn(q) // as inSnapshot found, which then left settings to send
	for i, steps := range rounds {
		if batches {
			l.batch = &pgx.Batch{}
			if i == 0 && settings != "" {
				l.batch.Queue(settings).Exec(func(pgconn.CommandTag) error { return nil })
			}
		}
		for _, step := range steps {
			if err := step(ctx); err != nil {
				return nil, err
			}
		}
		if batches {
			err := b.SendBatch(ctx, l.batch).Close()
			l.batch = nil
			var le *LoadError
			if err != nil && !errors.As(err, &le) {
				err = &LoadError{Step: "batch", Err: err}
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if err := l.resolveTypes(ctx); err != nil {
		return nil, err
	}
	return l.s, nil
}

// relOIDs are the OIDs of the relations loaded.
func (l *loader) relOIDs() []uint32 {
	oids := make([]uint32, 0, len(l.s.Tables))
	for _, t := range l.s.Tables {
		oids = append(oids, t.OID)
	}
	return oids
}

// batchLoads lets a test load one query at a time, as with a Querier that cannot batch.
var batchLoads = true

// batchesOn returns q as a batchSender, if it is one and loads may batch.
func batchesOn(q Querier) (batchSender, bool) {
	b, ok := q.(batchSender)
	return b, ok && batchLoads
}

// batchSender sends a batch of queries in one round trip (pgx.Tx, *pgx.Conn, pools).
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// each runs one of the loader's queries, with arg as $1, calling row for every row and
// then after (if any). While l.batch is set it queues the query instead: row and after
// run, in queue order, when the batch's results are read.
func (l *loader) each(ctx context.Context, step, sql string, arg any, row func(pgx.Rows) error, after func() error) error {
	if l.batch != nil {
		l.batch.Queue(sql, arg).Query(func(rows pgx.Rows) error {
			if err := scanRows(rows, row); err != nil {
				return &LoadError{Step: step, Err: err}
			}
			if after != nil {
				return after()
			}
			return nil
		})
		return nil
	}
	if err := each(ctx, l.q, step, sql, arg, row); err != nil {
		return err
	}
	if after != nil {
		return after()
	}
	return nil
}

func (l *loader) relations(ctx context.Context) error {
	return l.each(ctx, "relations", inSchemas("pg_class", "relnamespace", relationsSQL), l.schemas, func(r pgx.Rows) error {
		t := &catalog.Table{}
		var kind, parentSchema, parentName string
		var mask int32
		if err := r.Scan(&t.OID, &t.Schema, &t.Name, &kind, &t.Comment, &mask, &parentSchema, &parentName, &t.RowSecurity); err != nil {
			return err
		}
		t.Kind = relKinds[kind]
		t.Insertable, t.Updatable, t.Deletable = mask&insertableBit != 0, mask&updatableBit != 0, mask&deletableBit != 0
		if parentName != "" {
			t.PartitionOf = &catalog.QualifiedName{Schema: parentSchema, Name: parentName}
		}
		t.Columns, t.PrimaryKey = []*catalog.Column{}, []string{}
		t.Uniques, t.ForeignKeys, t.Indexes = []*catalog.UniqueConstraint{}, []*catalog.ForeignKey{}, []*catalog.Index{}
		l.byOID[t.OID] = t
		l.s.Tables = append(l.s.Tables, t)
		return nil
	}, nil)
}

func (l *loader) columns(ctx context.Context) error {
	return l.each(ctx, "columns", columnsSQL, l.relOIDs(), func(r pgx.Rows) error {
		c := &catalog.Column{}
		var rel uint32
		var notNull, updatable bool
		var identity, generated, expr string
		if err := r.Scan(&rel, &c.Position, &c.Name, &c.Type, &c.TypeOID, &notNull, &identity, &generated,
			&expr, &c.Comment, &updatable); err != nil {
			return err
		}
		c.Nullable = !notNull
		c.IsIdentity, c.IdentityKind = identity != "", identity
		if generated != "" {
			c.IsGenerated, c.GenerationExpr = true, expr
		} else {
			c.Default = expr
			c.HasDefault = expr != "" || c.IsIdentity
		}
		writable := updatable && !c.IsGenerated && identity != "a"
		c.Insertable, c.Updatable = writable, writable
		if t := l.byOID[rel]; t != nil {
			t.Columns = append(t.Columns, c)
			l.cols = append(l.cols, rawColumn{c, c.TypeOID})
		}
		return nil
	}, func() error {
		for _, t := range l.s.Tables {
			sort.Slice(t.Columns, func(i, j int) bool { return t.Columns[i].Position < t.Columns[j].Position })
		}
		return nil
	})
}

func (l *loader) constraints(ctx context.Context) error {
	type rawFK struct {
		t       *catalog.Table
		fk      *catalog.ForeignKey
		ref     *catalog.Table
		refNums []int16
	}
	var fks []rawFK
	return l.each(ctx, "constraints", constraintsSQL, l.relOIDs(), func(r pgx.Rows) error {
		var rel, refRel uint32
		var name, typ, onDelete, onUpdate string
		var nums, refNums []int16
		if err := r.Scan(&rel, &name, &typ, &nums, &refRel, &refNums, &onDelete, &onUpdate); err != nil {
			return err
		}
		t := l.byOID[rel]
		if t == nil {
			return nil
		}
		cols, err := columnNames(t, nums)
		if err != nil {
			return fmt.Errorf("constraint %s: %w", name, err)
		}
		switch typ {
		case "p":
			t.PrimaryKey, t.PrimaryKeyName = cols, name
		case "u":
			t.Uniques = append(t.Uniques, &catalog.UniqueConstraint{Name: name, Columns: cols})
		case "f":
			if ref := l.byOID[refRel]; ref != nil { // else it references a relation outside the exposed schemas
				fks = append(fks, rawFK{t, &catalog.ForeignKey{Name: name, Columns: cols, RefSchema: ref.Schema, RefTable: ref.Name,
					OnDelete: onDelete, OnUpdate: onUpdate}, ref, refNums})
			}
		}
		return nil
	}, func() error {
		for _, f := range fks {
			refCols, err := columnNames(f.ref, f.refNums)
			if err != nil {
				return &LoadError{Step: "constraints", Err: fmt.Errorf("constraint %s: %w", f.fk.Name, err)}
			}
			f.fk.RefColumns = refCols
			f.t.ForeignKeys = append(f.t.ForeignKeys, f.fk)
		}
		return nil
	})
}

func (l *loader) indexes(ctx context.Context) error {
	return l.each(ctx, "indexes", indexesSQL, l.relOIDs(), func(r pgx.Rows) error {
		ix := &catalog.Index{}
		var rel uint32
		var nKey int
		var nums []int16
		var exprs []string
		if err := r.Scan(&rel, &ix.Name, &ix.Unique, &ix.Primary, &ix.Method, &ix.Predicate, &nKey, &nums, &exprs); err != nil {
			return err
		}
		t := l.byOID[rel]
		if t == nil {
			return nil
		}
		cols := make([]string, len(nums))
		for i, num := range nums {
			if num == 0 {
				if len(exprs) == 0 {
					return fmt.Errorf("index %s: missing expression", ix.Name)
				}
				cols[i], exprs = exprs[0], exprs[1:]
				continue
			}
			c := columnByNum(t, num)
			if c == nil {
				return fmt.Errorf("index %s: no column %d in %s", ix.Name, num, t.Name)
			}
			cols[i] = c.Name
		}
		nKey = min(nKey, len(cols))
		ix.Columns = cols[:nKey:nKey]
		if nKey < len(cols) {
			ix.Include = cols[nKey:]
		}
		t.Indexes = append(t.Indexes, ix)
		return nil
	}, nil)
}

func (l *loader) enums(ctx context.Context) error {
	return l.each(ctx, "enums", inSchemas("pg_type", "typnamespace", enumsSQL), l.schemas, func(r pgx.Rows) error {
		e := &catalog.Enum{}
		if err := r.Scan(&e.Schema, &e.Name, &e.Values, &e.Comment); err != nil {
			return err
		}
		l.s.Enums = append(l.s.Enums, e)
		return nil
	}, nil)
}

func (l *loader) domains(ctx context.Context) error {
	return l.each(ctx, "domains", inSchemas("pg_type", "typnamespace", domainsSQL), l.schemas, func(r pgx.Rows) error {
		d := &catalog.Domain{}
		if err := r.Scan(&d.Schema, &d.Name, &d.BaseType, &d.NotNull, &d.Default, &d.Checks, &d.Comment); err != nil {
			return err
		}
		if len(d.Checks) == 0 {
			d.Checks = nil
		}
		l.s.Domains = append(l.s.Domains, d)
		return nil
	}, nil)
}

func (l *loader) functions(ctx context.Context) error {
	return l.each(ctx, "functions", inSchemas("pg_proc", "pronamespace", functionsSQL), l.schemas, func(r pgx.Rows) error {
		f := &rawFunction{fn: &catalog.Function{}}
		if err := r.Scan(&f.fn.OID, &f.fn.Schema, &f.fn.Name, &f.fn.IdentityArgs, &f.argOIDs, &f.modes, &f.names,
			&f.dflts, &f.retOID, &f.fn.ReturnsSet, &f.fn.Volatility, &f.fn.Strict, &f.fn.SecurityDefiner,
			&f.fn.Language, &f.fn.DefinitionHash, &f.fn.Comment); err != nil {
			return err
		}
		l.fns = append(l.fns, f)
		return nil
	}, nil)
}

// resolveTypes loads every type the columns and functions use and fills in what the
// model says about them.
func (l *loader) resolveTypes(ctx context.Context) error {
	wanted := make([]uint32, 0, 16)
	seen := map[uint32]bool{}
	want := func(oid uint32) {
		if oid != 0 && !seen[oid] {
			seen[oid] = true
			wanted = append(wanted, oid)
		}
	}
	for _, c := range l.cols {
		want(c.typeOID)
	}
	for _, f := range l.fns {
		want(f.retOID)
		for _, oid := range f.argOIDs {
			want(oid)
		}
	}
	l.types = make(map[uint32]*pgType, len(wanted))
	err := each(ctx, l.q, "types", typesSQL, wanted, func(r pgx.Rows) error {
		t := &pgType{}
		if err := r.Scan(&t.oid, &t.schema, &t.name, &t.typtype, &t.category, &t.elem, &t.base, &t.relid, &t.formatted,
			&t.notNull, &t.hasDefault); err != nil {
			return err
		}
		l.types[t.oid] = t
		return nil
	})
	if err != nil {
		return err
	}

	for _, rc := range l.cols {
		rt := resolveType(l.types, rc.typeOID)
		c := rc.col
		c.TypeName, c.TypeSchema, c.Category, c.IsEnum = rt.base.name, rt.base.schema, rt.base.category, rt.base.typtype == "e"
		c.BaseTypeOID, c.IsArray, c.ArrayElementType, c.Domain = rt.base.oid, rt.isArray, rt.elemFormatted, rt.domain
		if rt.notNull {
			c.Nullable = false
		}
		if rt.hasDefault && !c.IsGenerated {
			c.HasDefault = true
		}
	}
	l.s.Functions = make([]*catalog.Function, 0, len(l.fns))
	for _, f := range l.fns {
		if err := f.build(l.types, l.byOID); err != nil {
			return &LoadError{Step: "functions", Err: err}
		}
		l.s.Functions = append(l.s.Functions, f.fn)
	}
	return nil
}

// columnNames names the attnums of t's columns (sorted by attnum by then).
func columnNames(t *catalog.Table, nums []int16) ([]string, error) {
	names := make([]string, len(nums))
	for i, num := range nums {
		c := columnByNum(t, num)
		if c == nil {
			return nil, fmt.Errorf("no column %d in %s.%s", num, t.Schema, t.Name)
		}
		names[i] = c.Name
	}
	return names, nil
}

func columnByNum(t *catalog.Table, num int16) *catalog.Column {
	cs := t.Columns
	// Without dropped columns, attnum n is at index n-1.
	if i := int(num) - 1; i >= 0 && i < len(cs) && cs[i].Position == int(num) {
		return cs[i]
	}
	for _, c := range cs {
		if c.Position == int(num) {
			return c
		}
	}
	return nil
}

func (f *rawFunction) build(types map[uint32]*pgType, relations map[uint32]*catalog.Table) error {
	fn := f.fn
	fn.Args = []*catalog.FunctionArg{}
	for i, oid := range f.argOIDs {
		mode := "i"
		if i < len(f.modes) {
			mode = f.modes[i]
		}
		rt := resolveType(types, oid)
		a := &catalog.FunctionArg{Type: rt.formatted, TypeName: rt.base.name, TypeSchema: rt.base.schema,
			IsArray: rt.isArray, Category: rt.base.category, Mode: mode}
		if i < len(f.names) {
			a.Name = f.names[i]
		}
		if i < len(f.dflts) && f.dflts[i] != "" {
			a.HasDefault, a.Default = true, f.dflts[i]
		}
		switch mode {
		case "i", "v":
			fn.Args = append(fn.Args, a)
		case "b":
			fn.Args = append(fn.Args, a)
			out := *a
			out.HasDefault, out.Default = false, ""
			fn.OutColumns = append(fn.OutColumns, &out)
		case "o", "t":
			fn.OutColumns = append(fn.OutColumns, a)
		default:
			return fmt.Errorf("%s.%s: unknown argument mode %q", fn.Schema, fn.Name, mode)
		}
		if mode == "t" {
			fn.ReturnsTable = true
		}
	}
	rt := resolveType(types, f.retOID)
	fn.ReturnType, fn.ReturnTypeName, fn.ReturnTypeSchema = rt.formatted, rt.base.name, rt.base.schema
	fn.ReturnIsArray, fn.ReturnCategory = rt.isArray, rt.base.category
	if fn.ReturnTypeName == "record" && fn.ReturnTypeSchema == "pg_catalog" && len(fn.OutColumns) > 0 {
		fn.ReturnsTable = true
	}
	if !rt.isArray && rt.base.relid != 0 {
		if t := relations[rt.base.relid]; t != nil {
			fn.ReturnsRelation = &catalog.QualifiedName{Schema: t.Schema, Name: t.Name}
		}
	}
	return nil
}

// pgType is one pg_type row.
type pgType struct {
	oid          uint32
	schema, name string
	typtype      string
	category     string
	elem, base   uint32
	relid        uint32
	formatted    string
	notNull      bool // a domain declared NOT NULL
	hasDefault   bool // a domain with a DEFAULT
}

type resolvedType struct {
	formatted     string  // format_type of the type itself
	base          *pgType // after unwrapping domains and the array
	isArray       bool
	elemFormatted string
	domain        *catalog.QualifiedName
	// notNull and hasDefault come from the domains the type itself is (not those of an
	// array's element): a column of such a domain cannot be NULL or gets its default.
	notNull, hasDefault bool
}

// resolveType unwraps domains, then an array, then domains of the element again.
func resolveType(types map[uint32]*pgType, oid uint32) resolvedType {
	get := func(oid uint32) *pgType {
		if t := types[oid]; t != nil {
			return t
		}
		return &pgType{oid: oid}
	}
	t := get(oid)
	rt := resolvedType{formatted: t.formatted}
	unwrap := func(t *pgType) *pgType {
		for i := 0; t.typtype == "d" && i < 32; i++ {
			if rt.domain == nil {
				rt.domain = &catalog.QualifiedName{Schema: t.schema, Name: t.name}
			}
			t = get(t.base)
		}
		return t
	}
	for d := t; d.typtype == "d"; d = get(d.base) {
		rt.notNull = rt.notNull || d.notNull
		rt.hasDefault = rt.hasDefault || d.hasDefault
		if d.base == 0 || d.base == d.oid {
			break
		}
	}
	t = unwrap(t)
	if t.category == "A" && t.elem != 0 {
		rt.isArray = true
		e := get(t.elem)
		rt.elemFormatted = e.formatted
		t = unwrap(e)
	}
	rt.base = t
	return rt
}

// each runs one introspection query with arg as $1 and calls f for every row.
func each(ctx context.Context, q Querier, step, sql string, arg any, f func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, sql, arg)
	if err != nil {
		return &LoadError{Step: step, Err: err}
	}
	if err := scanRows(rows, f); err != nil {
		return &LoadError{Step: step, Err: err}
	}
	return nil
}

// scanRows calls f for every row of rows, and closes them.
func scanRows(rows pgx.Rows, f func(pgx.Rows) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
