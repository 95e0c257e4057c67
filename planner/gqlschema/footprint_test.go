package gqlschema

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// heapPer builds one schema per catalog, keeps them all, and returns the heap they hold,
// per schema, with the first one built before the measure starts (so a document every
// schema shares is not counted).
func heapPer(t *testing.T, cats []*catalog.Schema) (float64, *Schema) {
	t.Helper()
	first, err := Build(cats[0], Options{})
	if err != nil {
		t.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	keep := make([]*Schema, 0, len(cats)-1)
	for _, c := range cats[1:] {
		s, err := Build(c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, s)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(first)
	return (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / float64(len(keep)), keep[0]
}

// TestFootprintEstimates checks Footprint against the heap built schemas hold, for tenants
// of one structure (one shared document) and of structures of their own.
func TestFootprintEstimates(t *testing.T) {
	for _, tables := range []int{1, 4, 20} {
		n := 1 + 400/tables
		same := make([]*catalog.Schema, n)
		unique := make([]*catalog.Schema, n)
		for i := range n {
			same[i] = wideCatalog(tables)
			c := wideCatalog(tables)
			for _, tb := range c.Tables {
				tb.Name = fmt.Sprintf("u%d_%s", i, tb.Name)
			}
			for _, tb := range c.Tables {
				for _, r := range tb.Relationships {
					r.RemoteTable = fmt.Sprintf("u%d_%s", i, r.RemoteTable)
				}
				for _, fk := range tb.ForeignKeys {
					fk.RefTable = fmt.Sprintf("u%d_%s", i, fk.RefTable)
				}
			}
			c.Index()
			unique[i] = c
		}
		for _, tc := range []struct {
			name   string
			cats   []*catalog.Schema
			shared bool
		}{{"one structure", same, true}, {"structures of their own", unique, false}} {
			got, s := heapPer(t, tc.cats)
			own, doc := s.Footprint()
			est := float64(own)
			if !tc.shared {
				est += float64(doc)
			}
			t.Logf("%d tables, %s: %.0f bytes held per schema, estimated %.0f", tables, tc.name, got, est)
			if r := est / got; r < 0.6 || r > 1.6 {
				t.Errorf("%d tables, %s: Footprint estimates %.0f bytes, the schema holds %.0f (ratio %.2f)", tables, tc.name, est, got, r)
			}
		}
		a, _ := Build(same[0], Options{})
		b, _ := Build(same[1], Options{})
		u, _ := Build(unique[1], Options{})
		if a.Document() != b.Document() || a.Document() == u.Document() {
			t.Errorf("%d tables: Document is not the identity of the loaded document", tables)
		}
	}
}
