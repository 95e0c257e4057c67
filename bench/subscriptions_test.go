package bench

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

const promSample = `# HELP kapok_subscriptions_active GraphQL subscriptions being served.
# TYPE kapok_subscriptions_active gauge
kapok_subscriptions_active 40
kapok_subscription_refresh_statements_total 7
kapok_requests_total{route="graphql",outcome="ok"} 3
kapok_requests_total{route="rest",outcome="ok"} 4 1700000000000
odd_labels{path="/a}b\"c",x="1"} 2
# TYPE kapok_subscription_push_seconds histogram
kapok_subscription_push_seconds_bucket{le="0.01"} 10
kapok_subscription_push_seconds_bucket{le="0.1"} 30
kapok_subscription_push_seconds_bucket{le="1"} 40
kapok_subscription_push_seconds_bucket{le="+Inf"} 40
kapok_subscription_push_seconds_sum 5
kapok_subscription_push_seconds_count 40
`

func TestPromTextSumsSeriesOverTheirLabels(t *testing.T) {
	p, err := parsePromText([]byte(promSample))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"kapok_subscriptions_active": 40, "kapok_subscription_refresh_statements_total": 7,
		"kapok_requests_total": 7, "odd_labels": 2, "kapok_subscription_push_seconds_count": 40} {
		if got := p.sums[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if p.has("kapok_subscription_groups") {
		t.Error("a series the scrape lacks is reported present")
	}
	if b := p.buckets["kapok_subscription_push_seconds"]; len(b) != 4 || b[0.1] != 30 {
		t.Errorf("buckets %v", b)
	}
	for _, bad := range []string{"name{le=\"1\" 3\n", "name not-a-number\n", "{x=\"1\"} 3\n"} {
		if _, err := parsePromText([]byte(bad)); err == nil {
			t.Errorf("%q parsed without error", bad)
		}
	}
}

func TestHistogramQuantileInterpolatesTheDeltaBetweenScrapes(t *testing.T) {
	before, _ := parsePromText([]byte("h_bucket{le=\"0.01\"} 5\nh_bucket{le=\"0.1\"} 5\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 5\n"))
	after, _ := parsePromText([]byte("h_bucket{le=\"0.01\"} 5\nh_bucket{le=\"0.1\"} 15\nh_bucket{le=\"1\"} 25\nh_bucket{le=\"+Inf\"} 25\n"))
	for _, c := range []struct{ q, want float64 }{{0.25, 0.0550}, {0.5, 0.1}, {0.75, 0.55}, {1, 1}} {
		got, ok := histogramQuantile(before, after, "h", c.q)
		if !ok || got < c.want-1e-3 || got > c.want+1e-3 {
			t.Errorf("q%.2f = %v (%v), want %v", c.q, got, ok, c.want)
		}
	}
	if _, ok := histogramQuantile(after, after, "h", 0.5); ok {
		t.Error("no observation between two equal scrapes, yet a quantile")
	}
}

func TestPushBookMatchesMarkersWithCommits(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	b := newPushBook(t0)
	other := newPushBook(t0.Add(-time.Hour))
	m7, m8 := b.marker(7), b.marker(8)
	payload := []byte(`{"data":{"orders":[{"status":"` + m7 + `"},{"status":"paid"},{"name":"Customer 3 ` + m8 + `"},{"status":"` + other.marker(9) + `"},{"status":"` + b.tag + `12x"}]}}`)
	var got []uint32
	b.eachMarker(payload, func(seq uint32) { got = append(got, seq) })
	if len(got) != 2 || got[0] != 7 || got[1] != 8 {
		t.Fatalf("markers %v, want [7 8] (not another run's, not a malformed one)", got)
	}
	b.committed(7, t0, 3)
	b.received(7, t0.Add(40*time.Millisecond))
	b.received(8, t0.Add(90*time.Millisecond)) // before the writer noted its commit
	b.committed(8, t0.Add(50*time.Millisecond), 1)
	exp, seen := b.progress()
	if exp != 4 || seen != 2 || b.hist.Count() != 2 || b.hist.Min() != 40*time.Millisecond || b.hist.Max() != 40*time.Millisecond {
		t.Errorf("expected %d seen %d, latencies n=%d min %v max %v", exp, seen, b.hist.Count(), b.hist.Min(), b.hist.Max())
	}
}

func TestMarkersSortAfterEveryStatusAndEarlierMarkers(t *testing.T) {
	// orders-aggregate shows max(status): the latest write must be the greatest value.
	older, b := newPushBook(time.Unix(1_700_000_000, 0)), newPushBook(time.Unix(1_800_000_000, 0))
	prev := older.marker(99999999)
	for _, s := range []string{"pending", "paid", "shipped", "delivered", "cancelled"} {
		if s >= b.marker(1) {
			t.Errorf("status %q sorts after a marker", s)
		}
	}
	for _, seq := range []uint32{1, 9, 10, 99, 12345678} {
		m := b.marker(seq)
		if m <= prev || len(m) != len(prev) {
			t.Errorf("marker %q does not sort after %q", m, prev)
		}
		prev = m
	}
}

func TestListeningInodesReadsProcNetTCP(t *testing.T) {
	table := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
`)
	if got := listeningInodes(table, 8080); len(got) != 1 || got[0] != "4242" {
		t.Errorf("port 8080: %v, want the listening socket 4242 only", got)
	}
	if got := listeningInodes(table, 9); len(got) != 0 {
		t.Errorf("port 9: %v", got)
	}
}

func TestListenerPIDFindsTheProcessServingAPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pid, err := listenerPID(ln.Addr().(*net.TCPAddr).Port)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("listenerPID = %d, %v; want this process %d", pid, err, os.Getpid())
	}
	if kb, err := rssKB(pid); err != nil || kb <= 0 {
		t.Errorf("rssKB = %d, %v", kb, err)
	}
	ln.Close()
	if _, err := listenerPID(ln.Addr().(*net.TCPAddr).Port); err == nil {
		t.Error("a closed port still has a listener")
	}
}

// twoTenants is the data of two small tenants: customers 1..6 over countries FR, DE;
// customers 1, 2 and 4 bought.
func twoTenants() []*tenantData {
	var out []*tenantData
	for _, n := range []string{"t0", "t1"} {
		td := &tenantData{name: n, schema: n, countries: []string{"DE", "FR"}, countryOf: map[int32]int32{}, shownInList: map[int32]bool{},
			recentOrders: map[int32][]int32{1: {10, 11}, 2: {20}, 4: {40}}, buyers: []int32{1, 2, 4}}
		for id := int32(1); id <= 6; id++ {
			td.customers = append(td.customers, id)
			td.countryOf[id] = id % 2
			td.shownInList[id] = id <= 4
		}
		out = append(out, td)
	}
	return out
}

func TestTheWriterCountsTheSubscribersAWriteReaches(t *testing.T) {
	data := twoTenants()
	counts := map[subKey]int{
		{0, 0, 3}: 2, // customer 3 by pk, twice
		{0, 2, 1}: 5, // customers of FR (odd ids)
		{0, 1, 4}: 1, // orders of customer 4
		{0, 3, 4}: 4, // its aggregate
		{1, 0, 3}: 7, // another tenant
	}
	groups := map[[2]int]bool{{0, 0}: true, {0, 1}: true, {0, 2}: true, {0, 3}: true, {1, 0}: true}
	w := &subWriter{data: data, shapes: 4, counts: counts, groups: groups, book: newPushBook(time.Now()), rng: rand.New(rand.NewPCG(1, 2)), touched: map[writtenKey]time.Time{}}
	if got := w.tables(); len(got) != 2 || got[0] != "customers" || got[1] != "orders" {
		t.Fatalf("tables %v", got)
	}
	seenCustomer3, seenBuyer4 := false, false
	now := time.Now()
	for range 400 {
		now = now.Add(10 * time.Millisecond)
		for _, table := range w.tables() {
			wr := w.next(now, table)
			if !strings.Contains(wr.sql, `"`+data[0].schema+`"."`+table+`"`) && !strings.Contains(wr.sql, `"`+data[1].schema+`"."`+table+`"`) {
				t.Fatalf("write to %s: %s", table, wr.sql)
			}
			tenant := 0
			if strings.Contains(wr.sql, `"t1"`) {
				tenant = 1
			}
			want, wantGroups := 0, 0
			switch {
			case tenant == 0 && table == "customers":
				wantGroups = 2
				if wr.id == 3 {
					want, seenCustomer3 = 2+5, true
				} else if wr.id%2 == 1 && wr.id <= 4 {
					want = 5 // FR and among the first shown: 1 (3 counted above)
				}
			case tenant == 0 && table == "orders":
				wantGroups = 2
				if wr.id == 40 {
					want, seenBuyer4 = 1+4, true
				}
			case tenant == 1 && table == "customers":
				wantGroups = 1
				if wr.id == 3 {
					want = 7
				}
			}
			if wr.expected != want || wr.groups != wantGroups {
				t.Fatalf("tenant %d %s id %d: expected %d groups %d, want %d and %d", tenant, table, wr.id, wr.expected, wr.groups, want, wantGroups)
			}
		}
	}
	if !seenCustomer3 || !seenBuyer4 {
		t.Error("400 draws never wrote customer 3 or an order of customer 4")
	}
}

func TestTheWriterLeavesARecentlyWrittenResultAlone(t *testing.T) {
	data := twoTenants()[:1]
	w := &subWriter{data: data, shapes: 1, counts: map[subKey]int{}, groups: map[[2]int]bool{}, book: newPushBook(time.Now()),
		rng: rand.New(rand.NewPCG(3, 4)), touched: map[writtenKey]time.Time{}}
	now := time.Now()
	last := map[int32]time.Time{}
	repeats := 0
	for range 300 {
		now = now.Add(600 * time.Millisecond) // 6 customers, a write each 600 ms: 3 of them busy at each write
		wr := w.next(now, "customers")
		if at, ok := last[wr.id]; ok && now.Sub(at) <= rowCooldown {
			repeats++
		}
		last[wr.id] = now
	}
	// Eight draws miss every free customer once in 256 writes.
	if repeats > 10 {
		t.Errorf("%d of 300 writes hit a customer written within %s", repeats, rowCooldown)
	}
}

func TestMessageFieldReadsTypeAndID(t *testing.T) {
	msg := []byte(`{"id":"4\u0032","type":"next","payload":{"data":{"type":"x"}}}`)
	if typ, ok := messageField(msg, "type"); !ok || typ != "next" {
		t.Errorf("type %q %v", typ, ok)
	}
	if id, ok := messageField(msg, "id"); !ok || id != "42" {
		t.Errorf("id %q %v", id, ok)
	}
	if _, ok := messageField([]byte(`{"id":7}`), "id"); ok {
		t.Error("a number read as a string id")
	}
	s := &subSocket{subs: make([]*liveSub, 42)}
	s.subs[41] = &liveSub{}
	if s.sub(msg) != s.subs[41] || s.sub([]byte(`{"id":"43"}`)) != nil || s.sub([]byte(`{"id":"0"}`)) != nil {
		t.Error("ids do not map to the socket's subscriptions")
	}
}

func TestSubscriptionsFlagsAreChecked(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sockets", "10", "--tenants", "20"}, "--sockets 10 is under --tenants 20"},
		{[]string{"--shapes", "5"}, "--shapes must be between 1 and 4"},
		{[]string{"--subs", "100,x"}, `"x" is not a positive count`},
		{[]string{"--write-rate", "0"}, "--write-rate must be positive"},
		{[]string{"--target", "ws://h:1"}, "want http://host:port"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), append([]string{"subscriptions"}, c.args...), &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
	if n, err := parseCounts("1000, 10000"); err != nil || len(n) != 2 || n[1] != 10000 {
		t.Errorf("parseCounts = %v, %v", n, err)
	}
}

func TestSubsConfigBuildsTheWebSocketURL(t *testing.T) {
	for target, want := range map[string]string{
		"http://127.0.0.1:8080":   "ws://127.0.0.1:8080/t/{tenant}/v1/graphql",
		"https://api.example/x/":  "wss://api.example/x/t/{tenant}/v1/graphql",
		"http://localhost:18080/": "ws://localhost:18080/t/{tenant}/v1/graphql",
	} {
		c := SubsConfig{Target: target, Path: "/t/{tenant}/v1/graphql"}
		if got := c.wsURL(); got != want {
			t.Errorf("%s: %s, want %s", target, got, want)
		}
	}
	c := SubsConfig{Target: "http://192.0.2.1:8080"}
	if _, err := c.kapokPID(); err == nil || !strings.Contains(err.Error(), "--pid") {
		t.Errorf("a remote target: %v, want a hint to pass --pid", err)
	}
}

func TestTheSubscriptionsTableShowsEveryRun(t *testing.T) {
	r := &SubsResult{Subscriptions: 1000, Established: 1000, Sockets: 20, Groups: 8, EstablishS: 0.5, MessagesPerS: 120, PushExpected: 10, PushSeen: 9,
		PushLatency: Latency{P50: 12, P99: 80}, Errors: map[string]uint64{"closed": 2},
		Server: SubsServer{Metrics: true, RefreshStatementsPerS: 33, StatementsPerGroupRefresh: 0.97, RSSEstablishedKB: 1, RSSPer1000SubsKB: 2048}}
	var b bytes.Buffer
	WriteSubsTable(&b, []*SubsResult{r})
	out := b.String()
	for _, want := range []string{"stmts/group-refresh", "9/10", "12.00ms", "0.97", "2048 KiB", "closed:2"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
