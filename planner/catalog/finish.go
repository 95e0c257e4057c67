package catalog

import (
	"cmp"
	"slices"
	"sort"
)

// Finish completes a Schema whose objects a loader has filled in, in any order: it sorts
// every list into the model's canonical order (byte order, so the result does not depend
// on the database's collation), derives the relationships from the foreign keys, builds
// the lookup maps and stamps Version. Call it once, before the Schema is shared; from
// then on the Schema is read-only.
func (s *Schema) Finish() {
	s.sort()
	deriveRelationships(s.Tables)
	if s.Privileges != nil {
		s.Privileges.sort()
		s.Privileges.buildIndex()
	}
	s.Version = computeVersion(s)
	s.Index()
}

func (s *Schema) sort() {
	sort.Slice(s.Tables, func(i, j int) bool {
		return lessQN(s.Tables[i].Schema, s.Tables[i].Name, s.Tables[j].Schema, s.Tables[j].Name)
	})
	for _, t := range s.Tables {
		// Usually sorted already (the loader needs attnum order); SortFunc then costs one pass
		// and no allocation.
		slices.SortFunc(t.Columns, func(a, b *Column) int { return cmp.Compare(a.Position, b.Position) })
		sort.Slice(t.Uniques, func(i, j int) bool { return t.Uniques[i].Name < t.Uniques[j].Name })
		sort.Slice(t.ForeignKeys, func(i, j int) bool { return t.ForeignKeys[i].Name < t.ForeignKeys[j].Name })
		sort.Slice(t.Indexes, func(i, j int) bool { return t.Indexes[i].Name < t.Indexes[j].Name })
	}
	sort.Slice(s.Enums, func(i, j int) bool {
		return lessQN(s.Enums[i].Schema, s.Enums[i].Name, s.Enums[j].Schema, s.Enums[j].Name)
	})
	sort.Slice(s.Domains, func(i, j int) bool {
		return lessQN(s.Domains[i].Schema, s.Domains[i].Name, s.Domains[j].Schema, s.Domains[j].Name)
	})
	sort.Slice(s.Functions, func(i, j int) bool {
		a, b := s.Functions[i], s.Functions[j]
		if a.Schema != b.Schema || a.Name != b.Name {
			return lessQN(a.Schema, a.Name, b.Schema, b.Name)
		}
		return a.IdentityArgs < b.IdentityArgs
	})
}

func (p *Privileges) sort() {
	for _, rp := range p.Roles {
		sort.Slice(rp.Tables, func(i, j int) bool {
			return lessQN(rp.Tables[i].Schema, rp.Tables[i].Name, rp.Tables[j].Schema, rp.Tables[j].Name)
		})
	}
	sort.Slice(p.Roles, func(i, j int) bool { return p.Roles[i].Role < p.Roles[j].Role })
}

func lessQN(s1, n1, s2, n2 string) bool {
	if s1 != s2 {
		return s1 < s2
	}
	return n1 < n2
}
