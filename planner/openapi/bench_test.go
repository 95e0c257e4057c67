package openapi

import (
	"fmt"
	"testing"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// wideCatalog has n tables of ten columns, each but the first referencing the first.
func wideCatalog(n int) *catalog.Schema {
	cat := &catalog.Schema{Schemas: []string{"app"}}
	for i := 0; i < n; i++ {
		tb := &catalog.Table{Schema: "app", Name: fmt.Sprintf("t%03d", i), Kind: catalog.KindTable,
			Insertable: true, Updatable: true, Deletable: true, PrimaryKey: []string{"c0"}}
		for j := 0; j < 10; j++ {
			tb.Columns = append(tb.Columns, &catalog.Column{Name: fmt.Sprintf("c%d", j), Position: j + 1, Type: "integer",
				TypeName: "int4", TypeSchema: "pg_catalog", Category: "N", Nullable: j > 0, Insertable: true, Updatable: true})
		}
		if i > 0 {
			tb.ForeignKeys = []*catalog.ForeignKey{{Name: tb.Name + "_c1_fkey", Columns: []string{"c1"}, RefSchema: "app", RefTable: "t000", RefColumns: []string{"c0"}}}
		}
		cat.Tables = append(cat.Tables, tb)
	}
	cat.Index()
	return cat
}

func BenchmarkBuild200Tables(b *testing.B) {
	cat := wideCatalog(200)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(cat, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
