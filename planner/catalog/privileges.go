package catalog

import (
	"context"
	"sort"

	"github.com/jackc/pgx/v5"
)

// Privileges says what each role may do with the exposed relations. It is part of the
// model, so of Version: a GRANT or REVOKE gives a new version, and every schema built per
// role from the old one becomes unreachable, like the plans compiled against it.
//
// Roles holds every role named in the relations' ACLs (owners included), every role that
// is a member of one of those (transitively: privileges are inherited), and "public" for
// the PUBLIC pseudo-role. Kapok's own tenant roles (kapok_t_*, see control.TenantRole) are
// left out: only admin requests run as them, and those see the whole schema; so granting
// them, which Kapok does after a schema change, does not change the version. Any other role has exactly PUBLIC's privileges, which is what
// For answers for it. Superusers that are none of these are answered PUBLIC's privileges
// too: a superuser is no role requests run as.
type Privileges struct {
	Roles []*RolePrivileges `json:"roles"` // sorted by Role

	index map[string]*RolePrivileges
}

// PublicRole names the PUBLIC pseudo-role in Privileges.
const PublicRole = "public"

// RolePrivileges is what one role may do: its effective privileges (membership and
// PUBLIC included) as Postgres's has_*_privilege functions report them, restricted to
// relations in schemas it has USAGE on.
type RolePrivileges struct {
	Role string `json:"role"`
	// Tables lists the relations the role may use at all, sorted by (Schema, Name).
	Tables []*TablePrivileges `json:"tables"`

	index map[QualifiedName]*TablePrivileges
}

// TablePrivileges is what a role may do with one relation. A table-level grant covers
// every column, so the lists then hold all columns; a column grant adds only its columns.
// Columns are in attnum order.
type TablePrivileges struct {
	Schema string   `json:"schema"`
	Name   string   `json:"name"`
	Select []string `json:"select"`
	Insert []string `json:"insert"`
	Update []string `json:"update"`
	Delete bool     `json:"delete"`
}

// For returns the privileges of role: its own entry, else PUBLIC's (whose Role is
// PublicRole: roles that get it share one view). Never nil.
func (p *Privileges) For(role string) *RolePrivileges {
	if p == nil {
		return &RolePrivileges{Role: PublicRole}
	}
	if p.index == nil {
		for _, r := range p.Roles {
			if r.Role == role {
				return r
			}
		}
		for _, r := range p.Roles {
			if r.Role == PublicRole {
				return r
			}
		}
		return &RolePrivileges{Role: PublicRole}
	}
	if r := p.index[role]; r != nil {
		return r
	}
	if r := p.index[PublicRole]; r != nil {
		return r
	}
	return &RolePrivileges{Role: PublicRole}
}

// Table returns what the role may do with schema.name, or nil when it may not use it.
func (r *RolePrivileges) Table(schema, name string) *TablePrivileges {
	if r.index != nil {
		return r.index[QualifiedName{schema, name}]
	}
	for _, t := range r.Tables {
		if t.Schema == schema && t.Name == name {
			return t
		}
	}
	return nil
}

func (p *Privileges) buildIndex() {
	p.index = make(map[string]*RolePrivileges, len(p.Roles))
	for _, r := range p.Roles {
		p.index[r.Role] = r
		r.index = make(map[QualifiedName]*TablePrivileges, len(r.Tables))
		for _, t := range r.Tables {
			r.index[QualifiedName{t.Schema, t.Name}] = t
		}
	}
}

// privilegesSQL evaluates, in one query, every privilege of every relevant role (see
// Privileges) on every exposed relation and its columns. OID 0 is the PUBLIC pseudo-role.
// The OID forms of has_*_privilege answer NULL (or false) for an object or role dropped
// while Load runs instead of failing it.
const privilegesSQL = `
WITH RECURSIVE rel AS (
  SELECT c.oid, c.relowner, c.relacl, c.relnamespace AS nsp
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
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

// privileges loads Privileges; it runs after relations.
func (l *loader) privileges(ctx context.Context) error {
	byRole := map[string]*RolePrivileges{}
	err := each(ctx, l.q, "privileges", privilegesSQL, l.schemas, func(r pgx.Rows) error {
		var role string
		var rel uint32
		tp := &TablePrivileges{}
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
			rp = &RolePrivileges{Role: role, Tables: []*TablePrivileges{}}
			byRole[role] = rp
		}
		rp.Tables = append(rp.Tables, tp)
		return nil
	})
	if err != nil {
		return err
	}
	p := &Privileges{Roles: make([]*RolePrivileges, 0, len(byRole))}
	for _, rp := range byRole {
		sort.Slice(rp.Tables, func(i, j int) bool {
			return lessQN(rp.Tables[i].Schema, rp.Tables[i].Name, rp.Tables[j].Schema, rp.Tables[j].Name)
		})
		p.Roles = append(p.Roles, rp)
	}
	sort.Slice(p.Roles, func(i, j int) bool { return p.Roles[i].Role < p.Roles[j].Role })
	p.buildIndex()
	l.s.Privileges = p
	return nil
}

// VisibleTo returns the part of s that role may use, as a catalog of its own (same
// Version): relations it may select from, with the columns it may select; a relation's
// and a column's Insertable/Updatable/Deletable also require the role's privilege; keys,
// foreign keys and relationships whose columns it may not read are left out. A relation
// the role may write but not read is left out too (GraphQL returns what it writes).
// Functions, enums and domains are kept as they are.
func (s *Schema) VisibleTo(role string) *Schema {
	rp := s.Privileges.For(role)
	out := *s
	out.Tables = make([]*Table, 0, len(s.Tables))
	visible := map[QualifiedName]map[string]bool{}
	for _, t := range s.Tables {
		tp := rp.Table(t.Schema, t.Name)
		if tp == nil || len(tp.Select) == 0 {
			continue
		}
		visible[QualifiedName{t.Schema, t.Name}] = set(tp.Select)
	}
	for _, t := range s.Tables {
		cols := visible[QualifiedName{t.Schema, t.Name}]
		if cols == nil {
			continue
		}
		tp := rp.Table(t.Schema, t.Name)
		ins, upd := set(tp.Insert), set(tp.Update)
		tc := *t
		tc.Columns = make([]*Column, 0, len(tp.Select))
		for _, c := range t.Columns {
			if !cols[c.Name] {
				continue
			}
			cc := *c
			cc.Insertable = c.Insertable && ins[c.Name]
			cc.Updatable = c.Updatable && upd[c.Name]
			tc.Columns = append(tc.Columns, &cc)
		}
		tc.Insertable = t.Insertable && len(tp.Insert) > 0
		tc.Updatable = t.Updatable && len(tp.Update) > 0
		tc.Deletable = t.Deletable && tp.Delete
		if !all(cols, t.PrimaryKey) {
			tc.PrimaryKey, tc.PrimaryKeyName = []string{}, ""
		}
		tc.Uniques = filter(t.Uniques, func(u *UniqueConstraint) bool { return all(cols, u.Columns) })
		tc.Indexes = filter(t.Indexes, func(ix *Index) bool { return all(cols, ix.Columns) })
		tc.ForeignKeys = filter(t.ForeignKeys, func(fk *ForeignKey) bool {
			return all(cols, fk.Columns) && all(visible[QualifiedName{fk.RefSchema, fk.RefTable}], fk.RefColumns)
		})
		tc.Relationships = filter(t.Relationships, func(r *Relationship) bool {
			return all(cols, r.Columns) && all(visible[QualifiedName{r.RemoteSchema, r.RemoteTable}], r.RemoteColumns)
		})
		out.Tables = append(out.Tables, &tc)
	}
	out.Index()
	return &out
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// all reports whether every name is in m (a nil m holds nothing).
func all(m map[string]bool, names []string) bool {
	for _, n := range names {
		if !m[n] {
			return false
		}
	}
	return true
}

func filter[T any](in []T, keep func(T) bool) []T {
	out := make([]T, 0, len(in))
	for _, x := range in {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}
