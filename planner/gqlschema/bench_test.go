package gqlschema

import (
	"fmt"
	"testing"

	"github.com/kapok-dev/kapok/planner/catalog"
)

// wideCatalog has n tables of 12 columns of mixed types, each referencing the previous
// one, so every table has an object and an array relationship.
func wideCatalog(n int) *catalog.Schema {
	s := &catalog.Schema{Schemas: []string{"public"}}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("t%03d", i)
		t := table("public", name, catalog.KindTable,
			col(1, "id", "integer", "int4", "notnull", "identity"),
			col(2, "parent_id", "integer", "int4"),
			col(3, "name", "text", "text", "notnull"),
			col(4, "code", "character varying(20)", "varchar"),
			col(5, "amount", "numeric(12,2)", "numeric"),
			col(6, "qty", "bigint", "int8"),
			col(7, "ratio", "double precision", "float8"),
			col(8, "active", "boolean", "bool"),
			col(9, "data", "jsonb", "jsonb"),
			col(10, "tags", "text[]", "text", "array"),
			col(11, "uid", "uuid", "uuid"),
			col(12, "created_at", "timestamp with time zone", "timestamptz", "notnull", "default"),
		)
		t.PrimaryKey, t.PrimaryKeyName = []string{"id"}, name+"_pkey"
		t.Uniques = []*catalog.UniqueConstraint{{Name: name + "_code_key", Columns: []string{"code"}}}
		if i > 0 {
			prev := fmt.Sprintf("t%03d", i-1)
			fk := name + "_parent_id_fkey"
			t.ForeignKeys = []*catalog.ForeignKey{{Name: fk, Columns: []string{"parent_id"}, RefSchema: "public", RefTable: prev, RefColumns: []string{"id"}}}
			t.Relationships = append(t.Relationships, objRel("parent", "public", prev, []string{"parent_id"}, []string{"id"}, fk))
			p := s.Tables[i-1]
			p.Relationships = append(p.Relationships, arrRel(name+"s", "public", name, []string{"id"}, []string{"parent_id"}, fk))
		}
		s.Tables = append(s.Tables, t)
	}
	s.Index()
	return s
}

func BenchmarkBuild100Tables(b *testing.B) {
	cat := wideCatalog(100)
	b.ReportAllocs()
	var sdlBytes int
	for b.Loop() {
		s, err := Build(cat, Options{})
		if err != nil {
			b.Fatal(err)
		}
		sdlBytes = len(s.SDL)
	}
	b.ReportMetric(float64(sdlBytes), "sdl-bytes")
}

func TestWideCatalogBuilds(t *testing.T) {
	s, err := Build(wideCatalog(20), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Field("t005", "t006s_aggregate") == nil || s.Field("t006", "parent") == nil {
		t.Fatal("relationships missing from the wide catalog")
	}
}
