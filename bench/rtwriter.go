package bench

import (
	"math/rand/v2"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// rtTable is the table the realtime benchmark's subscribers follow in every tenant's schema.
const rtTable = "bench_rt"

// rtTableSQL creates rtTable (if missing) in the schema first on search_path, with rows
// 1..rows for the writes to update. The default replica identity: an update's old record
// is its key, as on most Supabase tables.
func rtTableSQL(rows int) string {
	return `CREATE TABLE IF NOT EXISTS ` + rtTable + ` (id integer PRIMARY KEY, note text NOT NULL DEFAULT '', updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO ` + rtTable + ` (id) SELECT i FROM generate_series(1, ` + strconv.Itoa(rows) + `) i ON CONFLICT (id) DO NOTHING;
`
}

// rtKey names a row of a tenant.
type rtKey struct {
	tenant int
	id     int32
}

// rtWriter updates rows of the tenants' rtTable, each write leaving a marker in the row's
// note that every subscriber of the row receives.
type rtWriter struct {
	tenants []*rtTenant
	rows    int
	all     []int         // established subscribers without a filter, by tenant
	byRow   map[rtKey]int // established subscribers whose filter names the row
	book    *pushBook
	rng     *rand.Rand
	seq     uint32
}

// newRTWriter counts the established channels of the sockets by what they receive.
func newRTWriter(tenants []*rtTenant, rows int, sockets []*rtSocket, book *pushBook, rng *rand.Rand) *rtWriter {
	w := &rtWriter{tenants: tenants, rows: rows, all: make([]int, len(tenants)), byRow: map[rtKey]int{}, book: book, rng: rng}
	for _, s := range sockets {
		for _, c := range s.chans {
			if !c.established.Load() {
				continue
			}
			if len(c.filter.ids) == 0 {
				w.all[c.tenant]++
			}
			for _, id := range c.filter.ids {
				w.byRow[rtKey{c.tenant, id}]++
			}
		}
	}
	return w
}

// next is the write of a random row of a random tenant (tenant ≥ 0: of that tenant).
func (w *rtWriter) next(tenant int) subWrite {
	if tenant < 0 {
		tenant = w.rng.IntN(len(w.tenants))
	}
	return w.row(tenant, int32(1+w.rng.IntN(w.rows)))
}

// row is the write of row id of a tenant.
func (w *rtWriter) row(tenant int, id int32) subWrite {
	w.seq++
	return subWrite{seq: w.seq, marker: w.book.marker(w.seq), id: id,
		sql:      `UPDATE ` + pgx.Identifier{w.tenants[tenant].schema, rtTable}.Sanitize() + ` SET note = $2, updated_at = now() WHERE id = $1`,
		expected: w.all[tenant] + w.byRow[rtKey{tenant, id}]}
}

// drawFilter is the filter of subscriber j: none, or (filtered) one row or three.
func drawFilter(rng *rand.Rand, filtered bool, rows int) rtFilter {
	if !filtered {
		return rtFilter{}
	}
	first := int32(1 + rng.IntN(rows))
	if rng.IntN(2) == 0 || rows < 3 {
		return rtFilter{ids: []int32{first}}
	}
	ids := []int32{first}
	for len(ids) < 3 {
		ids = append(ids, 1+(ids[len(ids)-1])%int32(rows))
	}
	return rtFilter{ids: ids, in: true}
}
