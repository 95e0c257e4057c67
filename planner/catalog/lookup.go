package catalog

// Table returns the relation schema.name, or nil.
func (s *Schema) Table(schema, name string) *Table {
	if s.tableIndex == nil {
		return nil
	}
	return s.tableIndex[QualifiedName{schema, name}]
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column {
	if t.columnIndex == nil {
		return nil
	}
	return t.columnIndex[name]
}

// Index builds the lookup maps. Load calls it; tests that build a Schema by hand must too.
func (s *Schema) Index() {
	s.tableIndex = make(map[QualifiedName]*Table, len(s.Tables))
	for _, t := range s.Tables {
		s.tableIndex[QualifiedName{t.Schema, t.Name}] = t
		t.columnIndex = make(map[string]*Column, len(t.Columns))
		for _, c := range t.Columns {
			t.columnIndex[c.Name] = c
		}
	}
}
