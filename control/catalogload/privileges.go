package catalogload

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// privilegesSQL evaluates, in one query, every privilege of every relevant role (see
// catalog.Privileges) on every exposed relation and its columns. OID 0 is the PUBLIC pseudo-role.
// The OID forms of has_*_privilege answer NULL (or false) for an object or role dropped
// while Load runs instead of failing it.
const privilegesSQL = `
WITH RECURSIVE rel AS (
  SELECT c.oid, c.relowner, c.relacl, c.relnamespace AS nsp
  FROM pg_class c WHERE c.oid = ANY($1::oid[])
),
grantee(oid) AS (
  SELECT (aclexplode(coalesce(relacl, acldefault('r', relowner)))).grantee FROM rel
  UNION
  SELECT (aclexplode(a.attacl)).grantee
  FROM pg_attribute a JOIN rel ON rel.oid = a.attrelid
  WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped
),
member(oid) AS (
  SELECT g.oid FROM grantee g JOIN pg_roles r ON r.oid = g.oid WHERE r.rolname NOT LIKE 'kapok\_t\_%'
  UNION
  SELECT m.member FROM pg_auth_members m JOIN member ON m.roleid = member.oid
),
who(oid, name) AS (
  SELECT r.oid, r.rolname::text FROM member JOIN pg_roles r ON r.oid = member.oid
  UNION ALL SELECT 0, 'public'
)
SELECT who.name, rel.oid, coalesce(has_table_privilege(who.oid, rel.oid, 'DELETE'), false),
  coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE has_column_privilege(who.oid, rel.oid, a.attnum, 'SELECT')), '{}'),
  coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE has_column_privilege(who.oid, rel.oid, a.attnum, 'INSERT')), '{}'),
  coalesce(array_agg(a.attname::text ORDER BY a.attnum) FILTER (WHERE has_column_privilege(who.oid, rel.oid, a.attnum, 'UPDATE')), '{}')
FROM who CROSS JOIN rel
JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE coalesce(has_schema_privilege(who.oid, rel.nsp, 'USAGE'), false)
GROUP BY who.oid, who.name, rel.oid, rel.nsp`

// privileges loads catalog.Privileges; it runs after relations.
func (l *loader) privileges(ctx context.Context) error {
	byRole := map[string]*catalog.RolePrivileges{}
	return l.each(ctx, "privileges", privilegesSQL, l.relOIDs(), func(r pgx.Rows) error {
		var role string
		var rel uint32
		tp := &catalog.TablePrivileges{}
		if err := r.Scan(&role, &rel, &tp.Delete, &tp.Select, &tp.Insert, &tp.Update); err != nil {
			return err
		}
		t := l.byOID[rel]
		if t == nil || (len(tp.Select) == 0 && len(tp.Insert) == 0 && len(tp.Update) == 0 && !tp.Delete) {
			return nil
		}
		tp.Schema, tp.Name = t.Schema, t.Name
		rp := byRole[role]
		if rp == nil {
			rp = &catalog.RolePrivileges{Role: role, Tables: []*catalog.TablePrivileges{}}
			byRole[role] = rp
		}
		rp.Tables = append(rp.Tables, tp)
		return nil
	}, func() error {
		// catalog.Schema.Finish sorts the roles and their tables.
		p := &catalog.Privileges{Roles: make([]*catalog.RolePrivileges, 0, len(byRole))}
		for _, rp := range byRole {
			p.Roles = append(p.Roles, rp)
		}
		l.s.Privileges = p
		return nil
	})
}
