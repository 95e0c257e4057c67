package catalog

// Table returns the relation schema.name, or nil.
func (s *Schema) Table(schema, name string) *Table {
	if s.tableIndex == nil {
		return nil
	}
	return s.tableIndex[QualifiedName{schema, name}]
}

// PlainTable reports whether schema.name is a table (partitioned or not) without row
// security: reading it runs none of the tenant's code, so nothing of the request's
// session but its role can change what it returns. Views, materialized views and foreign
// tables are not plain: a view may call anything, a foreign table reaches another server.
func (s *Schema) PlainTable(schema, name string) bool {
	t := s.Table(schema, name)
	return t != nil && (t.Kind == KindTable || t.Kind == KindPartitionedTable) && !t.RowSecurity
}

// Enum returns the enum type schema.name when it is defined in an exposed schema, or nil.
func (s *Schema) Enum(schema, name string) *Enum {
	if s.enumIndex == nil {
		return nil
	}
	return s.enumIndex[QualifiedName{schema, name}]
}

// FunctionsNamed returns the overloads of schema.name (in Functions order), or nil.
func (s *Schema) FunctionsNamed(schema, name string) []*Function {
	var out []*Function
	for _, f := range s.Functions {
		if f.Schema == schema && f.Name == name {
			out = append(out, f)
		}
	}
	return out
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column {
	if t.columnIndex == nil {
		return nil
	}
	return t.columnIndex[name]
}

// Relationship returns the named relationship, or nil.
func (t *Table) Relationship(name string) *Relationship {
	if t.relIndex == nil {
		return nil
	}
	return t.relIndex[name]
}

// Index builds the lookup maps. Finish calls it; tests that build a Schema by hand must too.
func (s *Schema) Index() {
	s.tableIndex = make(map[QualifiedName]*Table, len(s.Tables))
	for _, t := range s.Tables {
		s.tableIndex[QualifiedName{t.Schema, t.Name}] = t
		t.columnIndex = make(map[string]*Column, len(t.Columns))
		for _, c := range t.Columns {
			t.columnIndex[c.Name] = c
		}
		t.relIndex = make(map[string]*Relationship, len(t.Relationships))
		for _, r := range t.Relationships {
			t.relIndex[r.Name] = r
		}
	}
	s.enumIndex = make(map[QualifiedName]*Enum, len(s.Enums))
	for _, e := range s.Enums {
		s.enumIndex[QualifiedName{e.Schema, e.Name}] = e
	}
}
