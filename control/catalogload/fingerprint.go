package catalogload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"

	"github.com/jackc/pgx/v5"
)

// fingerprintSQL hashes, per exposed schema, the identity (OID) and row version (xmin) of
// every catalog row Load reads: the schema itself, its relations (tables, views, indexes,
// sequences, composite types), their attributes and defaults, its constraints, functions,
// types, enum labels and the comments on all of these.
//
// Any DDL that changes what Load returns inserts, deletes or updates one of these rows,
// which adds or removes an OID or gives the row a new xmin, so the hash changes. Freezing
// keeps xmin, and VACUUM and ANALYZE write their statistics into pg_class in place,
// without a new xmin, so routine maintenance does not look like DDL. A changed
// fingerprint is only a hint: GRANT, TRUNCATE, VACUUM FULL or replaying identical DDL
// change it too, and the reload it triggers then finds the same Version.
//
// Each row becomes a 64-bit hash of its xmin seeded with its identity (OID, or table and
// attnum, and which catalog it is in); rows are combined by count and sum, which needs
// no sort and no strings. A change goes unseen only if the hashes of the rows it adds and
// removes sum to zero.
const fingerprintSQL = `
WITH ns AS (SELECT oid, nspname::text AS nsp, xmin FROM pg_namespace WHERE nspname = ANY($1)),
cls AS (SELECT c.oid, ns.nsp, c.xmin FROM pg_class c JOIN ns ON ns.oid = c.relnamespace),
prc AS (SELECT p.oid, ns.nsp, p.xmin FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace),
typ AS (SELECT t.oid, ns.nsp, t.xmin FROM pg_type t JOIN ns ON ns.oid = t.typnamespace),
con AS (SELECT k.oid, ns.nsp, k.xmin FROM pg_constraint k JOIN ns ON ns.oid = k.connamespace),
obj AS (
  SELECT oid, nsp FROM ns UNION ALL SELECT oid, nsp FROM cls UNION ALL SELECT oid, nsp FROM prc
  UNION ALL SELECT oid, nsp FROM typ UNION ALL SELECT oid, nsp FROM con
),
r(nsp, key, xmin) AS (
  SELECT nsp, oid::int8 << 8 | 1, xmin FROM ns
  UNION ALL SELECT nsp, oid::int8 << 8 | 2, xmin FROM cls
  UNION ALL SELECT nsp, oid::int8 << 8 | 3, xmin FROM prc
  UNION ALL SELECT nsp, oid::int8 << 8 | 4, xmin FROM typ
  UNION ALL SELECT nsp, oid::int8 << 8 | 5, xmin FROM con
  UNION ALL SELECT cls.nsp, (a.attrelid::int8 << 16 | a.attnum) << 8 | 6, a.xmin
    FROM pg_attribute a JOIN cls ON cls.oid = a.attrelid WHERE a.attnum > 0
  UNION ALL SELECT cls.nsp, d.oid::int8 << 8 | 7, d.xmin FROM pg_attrdef d JOIN cls ON cls.oid = d.adrelid
  UNION ALL SELECT typ.nsp, e.oid::int8 << 8 | 8, e.xmin FROM pg_enum e JOIN typ ON typ.oid = e.enumtypid
  UNION ALL SELECT obj.nsp, (d.objoid::int8 << 16 | d.objsubid) << 8 | 9, d.xmin
    FROM pg_description d JOIN obj ON obj.oid = d.objoid
)
SELECT nsp, count(*) || '.' || sum(hashint8extended(xmin::text::int8, key)) FROM r GROUP BY nsp`

// Fingerprints returns, in one query, a fingerprint per existing schema of schemas (a
// schema that does not exist has no entry). A fingerprint changes whenever DDL changes
// anything Load reads in that schema; it is a change detector for pollers, not a
// version: compare it with its previous value, and reload when it differs.
func Fingerprints(ctx context.Context, q Querier, schemas []string) (map[string]string, error) {
	if schemas == nil {
		schemas = []string{}
	}
	out := make(map[string]string, len(schemas))
	err := each(ctx, q, "fingerprint", fingerprintSQL, schemas, func(r pgx.Rows) error {
		var nsp, fp string
		if err := r.Scan(&nsp, &fp); err != nil {
			return err
		}
		out[nsp] = fp
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Fingerprint combines Fingerprints of schemas into one string (hex), which changes when
// any of them changes, or when one of them is created or dropped.
func Fingerprint(ctx context.Context, q Querier, schemas []string) (string, error) {
	fps, err := Fingerprints(ctx, q, schemas)
	if err != nil {
		return "", err
	}
	names := append([]string{}, schemas...)
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n + "\x00" + fps[n] + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
