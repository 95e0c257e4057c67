package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rowCooldown is how long the writer leaves a result alone after changing it. A server may
// fold two changes that land within one refresh into one push, and then the first marker is
// never seen; spacing writes to a result by more than a refresh keeps every one expected.
const rowCooldown = 2 * time.Second

// subWriter changes rows of the subscribed tables at a fixed rate, directly in PostgreSQL,
// each write leaving a marker the subscribers that see the row will receive.
type subWriter struct {
	pool    *pgxpool.Pool
	data    []*tenantData
	shapes  int             // the first shapes of subShapes are subscribed
	counts  map[subKey]int  // established subscribers by result
	groups  map[[2]int]bool // (tenant, shape) pairs with established subscribers
	book    *pushBook
	rng     *rand.Rand
	touched map[writtenKey]time.Time // when each result was last written, for rowCooldown
	seq     uint32
}

// writtenKey names the results a write changes: a customer's (its row, by pk and in its
// country's list), or a buyer's (its orders, listed and aggregated).
type writtenKey struct {
	tenant   int
	orders   bool
	customer int32
}

// subWrite is one UPDATE to run.
type subWrite struct {
	seq      uint32
	sql      string
	id       int32
	marker   string
	expected int
	groups   int // subscribed groups reading the written table of the written tenant: refreshes it makes due
}

// writerStats is what the writer did.
type writerStats struct {
	writes   uint64 // committed
	groups   uint64 // sum of the committed writes' groups
	failed   uint64
	skipped  uint64 // due while every worker was still busy
	firstErr error
}

// tables are the tables the subscribed shapes read, in the order writes cycle through them.
func (w *subWriter) tables() []string {
	var out []string
	for _, s := range subShapes[:w.shapes] {
		dup := false
		for _, t := range out {
			dup = dup || t == s.table
		}
		if !dup {
			out = append(out, s.table)
		}
	}
	return out
}

// next picks the row of write seq and the subscribers it reaches.
func (w *subWriter) next(now time.Time, table string) subWrite {
	w.seq++
	wr := subWrite{seq: w.seq, marker: w.book.marker(w.seq)}
	// A few draws for a result not written within rowCooldown; at worst the last draw.
	var t int
	var td *tenantData
	var key writtenKey
	for try := 0; try < 8; try++ {
		t = w.rng.IntN(len(w.data))
		td = w.data[t]
		if table == "customers" {
			key = writtenKey{tenant: t, customer: td.customers[w.rng.IntN(len(td.customers))]}
		} else {
			key = writtenKey{tenant: t, orders: true, customer: td.buyers[w.rng.IntN(len(td.buyers))]}
		}
		if at, ok := w.touched[key]; !ok || now.Sub(at) > rowCooldown {
			break
		}
	}
	w.touched[key] = now
	if len(w.touched) > 4096 {
		for k, at := range w.touched {
			if now.Sub(at) > rowCooldown {
				delete(w.touched, k)
			}
		}
	}
	for shape, sh := range subShapes[:w.shapes] {
		if sh.table == table && w.groups[[2]int{t, shape}] {
			wr.groups++
		}
	}
	reach := func(shape int, value int32) {
		if shape < w.shapes {
			wr.expected += w.counts[subKey{tenant: t, shape: shape, value: value}]
		}
	}
	if table == "customers" {
		id := key.customer
		wr.sql = `UPDATE ` + pgx.Identifier{td.schema, "customers"}.Sanitize() + ` SET name = 'Customer ' || id || ' ' || $2 WHERE id = $1`
		wr.id = id
		reach(0, id)
		if td.shownInList[id] {
			reach(2, td.countryOf[id])
		}
	} else {
		cid := key.customer
		orders := td.recentOrders[cid]
		wr.sql = `UPDATE ` + pgx.Identifier{td.schema, "orders"}.Sanitize() + ` SET status = $2 WHERE id = $1`
		wr.id = orders[w.rng.IntN(len(orders))]
		reach(1, cid)
		reach(3, cid)
	}
	return wr
}

// run writes at rate per second for d, cycling through the subscribed tables.
func (w *subWriter) run(ctx context.Context, rate float64, d time.Duration) writerStats {
	tables := w.tables()
	return writeOpenLoop(ctx, w.pool, w.book, rate, d, func(k int) subWrite { return w.next(time.Now(), tables[k%len(tables)]) })
}

// writeOpenLoop runs the writes next makes (k counts from 0) at rate per second for d, open
// loop: writes are due at fixed times, and one due while every worker is still busy is
// skipped (and counted) rather than sent late. Each committed write is reported to book.
func writeOpenLoop(ctx context.Context, pool *pgxpool.Pool, book *pushBook, rate float64, d time.Duration, next func(k int) subWrite) writerStats {
	workers := min(32, max(2, int(rate/100)+1))
	jobs := make(chan subWrite, workers)
	var mu sync.Mutex
	var st writerStats
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				_, err := pool.Exec(ctx, j.sql, j.id, j.marker)
				at := time.Now()
				mu.Lock()
				if err != nil {
					st.failed++
					if st.firstErr == nil {
						st.firstErr = err
					}
				} else {
					st.writes++
					st.groups += uint64(j.groups)
				}
				mu.Unlock()
				if err == nil {
					book.committed(j.seq, at, j.expected)
				}
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * interval)
		if due.Sub(start) >= d {
			break
		}
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		if ctx.Err() != nil {
			break
		}
		if len(jobs) == cap(jobs) { // only this loop sends: with room, the send cannot block
			mu.Lock()
			st.skipped++
			mu.Unlock()
			continue
		}
		jobs <- next(k)
	}
	close(jobs)
	wg.Wait()
	return st
}
