package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// subShape is one live query of the subscriptions benchmark, over the workload dataset of a
// bench tenant. Every subscriber of a shape runs the same query text with a variable of its own.
type subShape struct {
	name  string
	query string
	param string // the variable's name
	table string // the table whose writes the result shows: customers or orders
}

// subShapes are the benchmark's shapes; --shapes N takes the first N. Each shows the marker a
// write leaves in its table (a customer's name, an order's status), so a subscriber can tell
// which write a push carries.
var subShapes = []subShape{
	{name: "customer-by-pk", param: "id", table: "customers",
		query: `subscription CustomerByPK($id: Int!) { customers_by_pk(id: $id) { id name email country } }`},
	{name: "orders-of-customer", param: "cid", table: "orders",
		query: `subscription OrdersOfCustomer($cid: Int!) { orders(where: {customer_id: {_eq: $cid}}, order_by: {created_at: desc}, limit: 20) { id status total created_at } }`},
	{name: "customers-of-country", param: "country", table: "customers",
		query: `subscription CustomersOfCountry($country: String!) { customers(where: {country: {_eq: $country}}, order_by: {id: asc}, limit: 10) { id name } }`},
	// max(status) shows the latest write's marker, since markers sort after every status and
	// in the order they were written.
	{name: "orders-aggregate", param: "cid", table: "orders",
		query: `subscription OrdersAggregate($cid: Int!) { orders_aggregate(where: {customer_id: {_eq: $cid}}) { aggregate { count sum { total } max { status } } } }`},
}

// Rows a shape shows: the orders-of-customer shape's limit and the customers-of-country one's.
const (
	ordersShown    = 20
	customersShown = 10
)

// subKey names the result a subscriber follows: tenant, shape and the variable's value (a
// customer id, or an index into the tenant's countries).
type subKey struct {
	tenant, shape int
	value         int32
}

// tenantData is what the benchmark needs to know of a bench tenant's rows: the values to draw
// subscribers' variables from, and which subscribers a write to a row reaches.
type tenantData struct {
	name, schema string
	customers    []int32         // ids
	countries    []string        // distinct, sorted
	countryOf    map[int32]int32 // customer id → index into countries
	shownInList  map[int32]bool  // customer id among the first customersShown of its country by id
	recentOrders map[int32][]int32
	buyers       []int32 // customers with at least one order
}

// loadTenantData reads the rows of each tenant's schema that the benchmark draws from.
func loadTenantData(ctx context.Context, pool *pgxpool.Pool, names []string) ([]*tenantData, error) {
	out := make([]*tenantData, len(names))
	for i, n := range names {
		td := &tenantData{name: n, schema: TenantSchema(n), countryOf: map[int32]int32{}, shownInList: map[int32]bool{}, recentOrders: map[int32][]int32{}}
		rows, err := pool.Query(ctx, `SELECT id, country, dense_rank() OVER (ORDER BY country) - 1, row_number() OVER (PARTITION BY country ORDER BY id)
			FROM `+pgx.Identifier{td.schema, "customers"}.Sanitize()+` ORDER BY id`)
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w (run `kapok bench setup-tenants`)", n, err)
		}
		for rows.Next() {
			var id int32
			var country string
			var ci, rank int64
			if err := rows.Scan(&id, &country, &ci, &rank); err != nil {
				return nil, err
			}
			td.customers = append(td.customers, id)
			td.countryOf[id] = int32(ci)
			td.shownInList[id] = rank <= customersShown
			for int64(len(td.countries)) <= ci {
				td.countries = append(td.countries, "")
			}
			td.countries[ci] = country
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", n, err)
		}
		rows, err = pool.Query(ctx, `SELECT customer_id, id FROM (SELECT customer_id, id, row_number() OVER (PARTITION BY customer_id ORDER BY created_at DESC, id DESC) AS r
			FROM `+pgx.Identifier{td.schema, "orders"}.Sanitize()+`) o WHERE r <= $1 ORDER BY customer_id, r`, ordersShown)
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", n, err)
		}
		for rows.Next() {
			var cid, id int32
			if err := rows.Scan(&cid, &id); err != nil {
				return nil, err
			}
			if len(td.recentOrders[cid]) == 0 {
				td.buyers = append(td.buyers, cid)
			}
			td.recentOrders[cid] = append(td.recentOrders[cid], id)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", n, err)
		}
		if len(td.customers) == 0 || len(td.buyers) == 0 {
			return nil, fmt.Errorf("tenant %s: schema %s holds no customers or no orders (run `kapok bench setup-tenants`)", n, td.schema)
		}
		out[i] = td
	}
	return out, nil
}

// drawValue picks a subscriber's variable for shape on this tenant.
func (td *tenantData) drawValue(r *rand.Rand, shape int) int32 {
	if subShapes[shape].param == "country" {
		return int32(r.IntN(len(td.countries)))
	}
	return td.customers[r.IntN(len(td.customers))]
}

// variables is the subscribe message's variables object for value.
func (td *tenantData) variables(shape int, value int32) map[string]any {
	p := subShapes[shape].param
	if p == "country" {
		return map[string]any{p: td.countries[value]}
	}
	return map[string]any{p: value}
}

// restoreRows puts back the values the writer replaced (the dataset's own, as DatasetSQL made
// them), so the other scenarios keep reading the workload as defined.
func restoreRows(ctx context.Context, pool *pgxpool.Pool, data []*tenantData) error {
	for _, td := range data {
		c, o := pgx.Identifier{td.schema, "customers"}.Sanitize(), pgx.Identifier{td.schema, "orders"}.Sanitize()
		if _, err := pool.Exec(ctx, `UPDATE `+c+` SET name = 'Customer ' || id WHERE name <> 'Customer ' || id`); err != nil {
			return fmt.Errorf("restore %s: %w", c, err)
		}
		if _, err := pool.Exec(ctx, `UPDATE `+o+` SET status = (ARRAY['pending','paid','shipped','delivered','cancelled'])[1 + (hashint8extended(id * 5 + 1, 42) & 2147483647) % 5]
			WHERE status NOT IN ('pending','paid','shipped','delivered','cancelled')`); err != nil {
			return fmt.Errorf("restore %s: %w", o, err)
		}
	}
	return nil
}

// pushBook matches the markers subscribers receive with the writes that left them: it holds
// each write's commit time and how many subscribers it should reach, and records the latency
// from commit to client of every first receipt of a marker by a subscriber.
type pushBook struct {
	tag string // this run's marker prefix

	mu       sync.Mutex
	commits  map[uint32]time.Time
	early    map[uint32][]time.Time // receipts that beat the writer's own record of the commit
	hist     Histogram
	expected uint64
	seen     uint64
}

func newPushBook(now time.Time) *pushBook {
	// 'x' sorts after every status of the dataset, the hexadecimal clock after older runs'
	// leftovers, and the sequence number (markerDigits wide) after this run's earlier writes.
	return &pushBook{tag: fmt.Sprintf("x%011x", now.UnixMilli()), commits: map[uint32]time.Time{}, early: map[uint32][]time.Time{}}
}

const markerDigits = 8

func (b *pushBook) marker(seq uint32) string { return fmt.Sprintf("%s%0*d", b.tag, markerDigits, seq) }

// committed records write seq's commit, which expected subscribers should see.
func (b *pushBook) committed(seq uint32, at time.Time, expected int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.commits[seq] = at
	b.expected += uint64(expected)
	for _, r := range b.early[seq] {
		b.hist.Record(r.Sub(at))
	}
	delete(b.early, seq)
}

// received records a subscriber's first sight of write seq's marker.
func (b *pushBook) received(seq uint32, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen++
	if c, ok := b.commits[seq]; ok {
		b.hist.Record(at.Sub(c))
	} else {
		b.early[seq] = append(b.early[seq], at)
	}
}

// progress is the number of receipts expected so far and seen so far.
func (b *pushBook) progress() (expected, seen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.expected, b.seen
}

// eachMarker calls fn with the sequence number of every marker of this run in payload.
func (b *pushBook) eachMarker(payload []byte, fn func(seq uint32)) {
	tag := []byte(b.tag)
	for i := 0; ; {
		j := bytes.Index(payload[i:], tag)
		if j < 0 {
			return
		}
		i += j + len(tag)
		if i+markerDigits > len(payload) {
			return
		}
		var seq uint32
		ok := true
		for _, c := range payload[i : i+markerDigits] {
			if c < '0' || c > '9' {
				ok = false
				break
			}
			seq = seq*10 + uint32(c-'0')
		}
		if ok {
			fn(seq)
			i += markerDigits
		}
	}
}
