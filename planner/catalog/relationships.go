package catalog

import (
	"sort"
	"strconv"
	"strings"
)

// Relationship naming. Every foreign key F from table S (columns c1..cn) to table T gives
// two relationships, one on each side (both on S when F is self-referencing):
//
//   - on S, an object relationship to T. Short name: when F has one column c and c ends in
//     "_id", c without "_id", provided that is not empty; otherwise T's name
//     (author_id → author; author → author; _id → author). Long name:
//     T + "_by_" + c1 + "_and_" + … + cn (author_by_author_id).
//   - on T, an array relationship to S. Short name: plural(S), where plural adds "s"
//     unless the name already ends in "s" (article → articles, news → news). Long name:
//     plural(S) + "_by_" + c1 + "_and_" + … + cn (games_by_home_team_id).
//     When c1..cn are exactly S's primary key or one of S's UNIQUE constraints the FK is
//     one-to-one and this side is an object relationship instead: short name S, long name
//     S + "_by_" + c1 + "_and_" + … + cn. A unique index that is not a constraint does
//     not make an FK one-to-one (as in PostgREST).
//
// Then, per table, every relationship starts with its short name and, as long as any name
// is taken twice among the table's relationships or equals one of the table's column
// names, every relationship involved moves one step along:
//
//	short → long → long + "_" + constraint name → that + "_" + its 1-based position
//
// (positions order the table's relationships by outgoing first, then constraint name,
// remote schema, remote table). If names still clash after the last step, they are taken
// in position order and each that is a column or already used gets "_" appended until it
// is neither. So home_team_id and away_team_id from game to team give
// game.home_team, game.away_team, team.games_by_home_team_id and
// team.games_by_away_team_id, while an FK that is alone keeps its short name. The last
// two steps only matter for duplicate FKs over the same columns and for names that
// collide with columns even in their long form.
//
// Only foreign keys give relationships, so views and materialized views have none. A
// partition carries the FKs it inherits and gets relationships of its own, and so does
// the table they reference (team.events and team.event_2026s).
//
// Relationship names use bare table names even when the remote table lives in another
// exposed schema: how the remote type is spelled in GraphQL or REST is the dialect's
// business.

// ObjectRelName is the short name of the object relationship of an FK over columns
// referencing table target.
func ObjectRelName(columns []string, target string) string {
	if len(columns) == 1 {
		c := columns[0]
		if n, ok := strings.CutSuffix(c, "_id"); ok && n != "" {
			return n
		}
	}
	return target
}

// ArrayRelName is the short name of the array relationship on the referenced table for
// an FK held by table referencing.
func ArrayRelName(referencing string) string {
	if strings.HasSuffix(referencing, "s") {
		return referencing
	}
	return referencing + "s"
}

func longName(prefix string, columns []string) string {
	return prefix + "_by_" + strings.Join(columns, "_and_")
}

// relCandidate is a relationship whose name is not settled yet.
type relCandidate struct {
	rel   *Relationship
	names [3]string // short, long, long + constraint
	step  int
}

func (c *relCandidate) name(pos int) string {
	if c.step < len(c.names) {
		return c.names[c.step]
	}
	return c.names[2] + "_" + strconv.Itoa(pos)
}

// deriveRelationships sets Relationships on every table from the tables' foreign keys.
// FKs whose target is not among tables are ignored.
func deriveRelationships(tables []*Table) {
	byName := make(map[QualifiedName]*Table, len(tables))
	for _, t := range tables {
		byName[QualifiedName{t.Schema, t.Name}] = t
	}
	cands := make(map[*Table][]*relCandidate, len(tables))
	for _, s := range tables {
		for _, fk := range s.ForeignKeys {
			t := byName[QualifiedName{fk.RefSchema, fk.RefTable}]
			if t == nil {
				continue
			}
			oneToOne := isUniqueKey(s, fk.Columns)
			out := &Relationship{Kind: ObjectRel, RemoteSchema: t.Schema, RemoteTable: t.Name,
				Columns: fk.Columns, RemoteColumns: fk.RefColumns, Constraint: fk.Name, Outgoing: true, OneToOne: oneToOne}
			outLong := longName(t.Name, fk.Columns)
			cands[s] = append(cands[s], &relCandidate{rel: out,
				names: [3]string{ObjectRelName(fk.Columns, t.Name), outLong, outLong + "_" + fk.Name}})

			in := &Relationship{Kind: ArrayRel, RemoteSchema: s.Schema, RemoteTable: s.Name,
				Columns: fk.RefColumns, RemoteColumns: fk.Columns, Constraint: fk.Name, OneToOne: oneToOne}
			inShort := ArrayRelName(s.Name)
			if oneToOne {
				in.Kind, inShort = ObjectRel, s.Name
			}
			inLong := longName(inShort, fk.Columns)
			cands[t] = append(cands[t], &relCandidate{rel: in, names: [3]string{inShort, inLong, inLong + "_" + fk.Name}})
		}
	}
	for _, t := range tables {
		t.Relationships = nameRelationships(cands[t], t.Columns)
	}
}

// nameRelationships settles the names of one table's relationships (see the rule above)
// and returns them sorted by name.
func nameRelationships(cs []*relCandidate, columns []*Column) []*Relationship {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i].rel, cs[j].rel
		switch {
		case a.Outgoing != b.Outgoing:
			return a.Outgoing
		case a.Constraint != b.Constraint:
			return a.Constraint < b.Constraint
		case a.RemoteSchema != b.RemoteSchema:
			return a.RemoteSchema < b.RemoteSchema
		case a.RemoteTable != b.RemoteTable:
			return a.RemoteTable < b.RemoteTable
		}
		return a.Kind < b.Kind
	})
	taken := make(map[string]bool, len(columns))
	for _, c := range columns {
		taken[c.Name] = true
	}
	for {
		groups := map[string][]int{}
		for i, c := range cs {
			n := c.name(i + 1)
			groups[n] = append(groups[n], i)
		}
		clash, advanced := false, false
		for n, idx := range groups {
			if len(idx) < 2 && !taken[n] {
				continue
			}
			clash = true
			for _, i := range idx {
				if cs[i].step < len(cs[i].names) {
					cs[i].step++
					advanced = true
				}
			}
		}
		if !clash {
			break
		}
		if !advanced {
			settleByAppending(cs, taken)
			break
		}
	}
	rels := make([]*Relationship, len(cs))
	for i, c := range cs {
		if c.rel.Name == "" {
			c.rel.Name = c.name(i + 1)
		}
		rels[i] = c.rel
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Name < rels[j].Name })
	return rels
}

// settleByAppending is the last resort: in position order, each name that is a column or
// already used gets "_" appended until it is neither.
func settleByAppending(cs []*relCandidate, taken map[string]bool) {
	used := make(map[string]bool, len(cs)+len(taken))
	for n := range taken {
		used[n] = true
	}
	for i, c := range cs {
		n := c.name(i + 1)
		for used[n] {
			n += "_"
		}
		used[n] = true
		c.rel.Name = n
	}
}

// isUniqueKey reports whether columns (as a set) are t's primary key or one of its
// UNIQUE constraints.
func isUniqueKey(t *Table, columns []string) bool {
	if sameSet(t.PrimaryKey, columns) {
		return true
	}
	for _, u := range t.Uniques {
		if sameSet(u.Columns, columns) {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	if len(a) == 0 || len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if x == y {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
