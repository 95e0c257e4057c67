package catalogload

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// BenchmarkLoad1000Tables loads a schema of 1,000 tables, each with a primary key, a
// foreign key, an index and a comment:
//
//	go test -run x -bench Load1000 -benchmem ./control/catalogload/
func BenchmarkLoad1000Tables(b *testing.B) {
	const schema = "catalog_t_bench1000"
	var ddl strings.Builder
	for i := range 1000 {
		parent := max(i-1, 0)
		fmt.Fprintf(&ddl, `CREATE TABLE t%04d (id int PRIMARY KEY, parent_id int REFERENCES t%04d (id),
			name text NOT NULL, created_at timestamptz DEFAULT now(), score numeric(10,2));
			CREATE INDEX t%04d_name_idx ON t%04d (name);
			COMMENT ON TABLE t%04d IS 'table %d';
			`, i, parent, i, i, i, i)
	}
	testenv.FreshSchema(b, schema, ddl.String())
	conn := testenv.Conn(b)
	ctx := context.Background()

	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			s, err := Load(ctx, conn, []string{schema})
			if err != nil {
				b.Fatal(err)
			}
			if len(s.Tables) != 1000 {
				b.Fatalf("loaded %d tables", len(s.Tables))
			}
		}
	})
	// A tenant's small schema in the same database: its load finds its own objects through
	// pg_depend instead of scanning the other schema's thousands of catalog rows (scan:
	// as before).
	const small = "catalog_t_bench_small"
	testenv.FreshSchema(b, small, `CREATE TYPE state AS ENUM ('a', 'b');
		CREATE TABLE owner (id int PRIMARY KEY, name text);
		CREATE TABLE item (id int PRIMARY KEY, owner_id int REFERENCES owner (id), s state);
		CREATE FUNCTION items_of(o int) RETURNS SETOF item LANGUAGE sql STABLE AS 'SELECT * FROM item WHERE owner_id = o'`)
	for _, scan := range []bool{false, true} {
		b.Run(fmt.Sprintf("small schema beside it/scan=%t", scan), func(b *testing.B) {
			scanNamespaces = scan
			defer func() { scanNamespaces = false }()
			for b.Loop() {
				s, err := Load(ctx, conn, []string{small})
				if err != nil {
					b.Fatal(err)
				}
				if len(s.Tables) != 2 {
					b.Fatalf("loaded %d tables", len(s.Tables))
				}
			}
		})
	}
	b.Run("fingerprint", func(b *testing.B) {
		for b.Loop() {
			if _, err := Fingerprint(ctx, conn, []string{schema}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
