package catalog

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
