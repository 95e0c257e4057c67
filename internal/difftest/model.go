package difftest

import (
	"cmp"
	"math/big"
	"time"
)

// Kind is a column's type as the oracle sees it.
type Kind int

const (
	KInt Kind = iota
	KNumeric
	KText
	KBool
	KDate
	KTimestamp
)

// Column is one column of a fixture table.
type Column struct {
	Name     string
	Kind     Kind
	Nullable bool
}

// Rel is a relationship derived from a foreign key, seen from Table.
type Rel struct {
	Name   string // GraphQL field name
	Many   bool   // array relationship (Table's id is referenced by Target.FK)
	Target string
	// FK is the referencing column: on Target for an array relationship, on Table otherwise.
	FK string
	// REST is the PostgREST embed (table name plus a hint where the table alone is ambiguous).
	REST string
	// RESTKey is the key PostgREST gives the embed in its answer.
	RESTKey string
}

// Table is a fixture table and its rows as read back from PostgreSQL.
type Table struct {
	Name string
	Cols []Column
	Rels []*Rel
	Rows []Row
	byID map[int64]Row
}

// Row maps a column name to its value: nil, int64, *big.Rat, string, bool, Date or time.Time.
type Row map[string]any

// Date is a date as PostgreSQL prints it (YYYY-MM-DD), which sorts as the date does.
type Date string

// Col returns the column named name.
func (t *Table) Col(name string) Column {
	for _, c := range t.Cols {
		if c.Name == name {
			return c
		}
	}
	panic("difftest: no column " + t.Name + "." + name)
}

// DB is the fixture as the oracle knows it.
type DB struct {
	Tables map[string]*Table
	Order  []string
}

func (db *DB) index() {
	for _, t := range db.Tables {
		t.byID = make(map[int64]Row, len(t.Rows))
		for _, r := range t.Rows {
			t.byID[r["id"].(int64)] = r
		}
	}
}

// compare orders two non-NULL values of one kind.
func compare(a, b any) int {
	switch x := a.(type) {
	case int64:
		return cmp.Compare(x, b.(int64))
	case *big.Rat:
		return x.Cmp(b.(*big.Rat))
	case string:
		return cmp.Compare(x, b.(string))
	case Date:
		y := b.(Date)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	panic("difftest: cannot compare")
}

// rat turns a numeric value (int64 or *big.Rat) into a rational.
func rat(v any) *big.Rat {
	switch x := v.(type) {
	case int64:
		return new(big.Rat).SetInt64(x)
	case *big.Rat:
		return x
	}
	panic("difftest: not a number")
}
