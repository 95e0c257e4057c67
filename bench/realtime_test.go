package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

func TestPhoenixFramesRoundTrip(t *testing.T) {
	f := phxFrame("1", "2", "realtime:room \"a\"", "phx_join", []byte(`{"x":1}`))
	if string(f) != `["1","2","realtime:room \"a\"","phx_join",{"x":1}]` {
		t.Fatalf("frame %s", f)
	}
	if hb := phxFrame("", "7", "phoenix", "heartbeat", []byte("{}")); string(hb) != `[null,"7","phoenix","heartbeat",{}]` {
		t.Errorf("heartbeat %s", hb)
	}
	m, err := parsePhx([]byte(` [null, null, "realtime:a", "postgres_changes", {"ids":[3],"data":{}}] `))
	if err != nil {
		t.Fatal(err)
	}
	if string(m.joinRef) != "null" || string(m.topic) != `"realtime:a"` || string(m.event) != `"postgres_changes"` || string(m.payload) != `{"ids":[3],"data":{}}` {
		t.Errorf("parsed %q %q %q %q", m.joinRef, m.topic, m.event, m.payload)
	}
	for _, bad := range []string{
		`{"topic":"a","event":"b","payload":{},"ref":null}`, // vsn 1.0.0's object
		`[null,null,"a","b"]`,
		`[null,null,"a","b",{},6]`,
		`[null,null,"a","b",{}] x`,
		`[null,null,1,"b",{}]`,
		`[null,null,"a","b",{]`,
		``,
	} {
		if _, err := parsePhx([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestTheJoinPayloadIsSupabaseJSs(t *testing.T) {
	var got map[string]any
	if err := json.Unmarshal(rtJoinPayload("bench_t000", "bench_rt", rtFilter{ids: []int32{4, 5, 6}, in: true}), &got); err != nil {
		t.Fatal(err)
	}
	// What createClient(url, key).channel(…).on('postgres_changes', {event: '*', schema, table, filter}).subscribe() sends.
	want := map[string]any{
		"config": map[string]any{
			"broadcast":        map[string]any{"ack": false, "self": false},
			"presence":         map[string]any{"key": "", "enabled": false},
			"postgres_changes": []any{map[string]any{"event": "*", "schema": "bench_t000", "table": "bench_rt", "filter": "id=in.(4,5,6)"}},
			"private":          false,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("join payload\n%v\nwant\n%v", got, want)
	}
	if p := string(rtJoinPayload("s", "t", rtFilter{})); strings.Contains(p, "filter") {
		t.Errorf("no filter: %s", p)
	}
}

func TestFiltersAreDrawnWithinTheTable(t *testing.T) {
	if s := (rtFilter{ids: []int32{7}}).String(); s != "id=eq.7" {
		t.Errorf("eq: %s", s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	eq, in := 0, 0
	for range 500 {
		f := drawFilter(rng, true, 10)
		for _, id := range f.ids {
			if id < 1 || id > 10 {
				t.Fatalf("filter %s names a row the table lacks", f)
			}
		}
		if f.in {
			in++
			if len(f.ids) != 3 || f.ids[0] == f.ids[1] || f.ids[1] == f.ids[2] || f.ids[0] == f.ids[2] {
				t.Fatalf("in filter %s", f)
			}
		} else {
			eq++
		}
	}
	if eq < 150 || in < 150 {
		t.Errorf("%d eq and %d in filters of 500", eq, in)
	}
	if f := drawFilter(rng, false, 10); len(f.ids) != 0 || f.String() != "" {
		t.Errorf("unfiltered: %v", f)
	}
}

func TestJoinAnswers(t *testing.T) {
	for _, c := range []struct {
		payload string
		ok      bool
	}{
		{`{"status":"ok","response":{"postgres_changes":[{"id":81,"event":"*","schema":"s","table":"t"}]}}`, true},
		{`{"status":"error","response":{"reason":"unknown table"}}`, false},
		{`{"status":"ok","response":{}}`, false},
		{`{"status":"ok","response":{"postgres_changes":[{"id":1},{"id":2}]}}`, false},
	} {
		if ok, why := joinAnswer([]byte(c.payload)); ok != c.ok || (!ok && why == "") {
			t.Errorf("%s: %v %q", c.payload, ok, why)
		}
	}
}

func TestCommitTimestampForms(t *testing.T) {
	want := time.Date(2026, 1, 2, 3, 4, 5, 123000000, time.UTC)
	for _, s := range []string{"2026-01-02T03:04:05.123Z", "2026-01-02T03:04:05.123+00:00", "2026-01-02 03:04:05.123+00", "2026-01-02 04:04:05.123+01:00"} {
		got, ok := commitTimestamp([]byte(`{"commit_timestamp":"` + s + `"}`))
		if !ok || !got.Equal(want) {
			t.Errorf("%s: %v %v", s, got, ok)
		}
	}
	if _, ok := commitTimestamp([]byte(`{"commit_timestamp":null}`)); ok {
		t.Error("null read as a time")
	}
}

func TestTheRealtimeWriterCountsTheSubscribersAWriteReaches(t *testing.T) {
	tenants := []*rtTenant{{name: "t0", schema: "t0"}, {name: "t1", schema: "t1"}}
	ch := func(tenant int, established bool, ids ...int32) *rtChannel {
		c := &rtChannel{tenant: tenant, filter: rtFilter{ids: ids, in: len(ids) > 1}}
		c.established.Store(established)
		return c
	}
	sockets := []*rtSocket{
		{chans: []*rtChannel{ch(0, true), ch(0, true), ch(0, true, 2), ch(0, false), ch(0, true, 1, 2, 3)}},
		{chans: []*rtChannel{ch(1, true, 3), ch(1, false, 2)}},
	}
	w := newRTWriter(tenants, 3, sockets, newPushBook(time.Now()), rand.New(rand.NewPCG(5, 6)))
	want := map[rtKey]int{{0, 1}: 3, {0, 2}: 4, {0, 3}: 3, {1, 1}: 0, {1, 2}: 0, {1, 3}: 1}
	seen := map[rtKey]bool{}
	for range 300 {
		wr := w.next(-1)
		tenant := 0
		if strings.Contains(wr.sql, `"t1"."bench_rt"`) {
			tenant = 1
		} else if !strings.Contains(wr.sql, `"t0"."bench_rt"`) {
			t.Fatalf("write %s", wr.sql)
		}
		k := rtKey{tenant, wr.id}
		seen[k] = true
		if wr.expected != want[k] {
			t.Fatalf("write to %v reaches %d, want %d", k, wr.expected, want[k])
		}
		if !strings.Contains(wr.marker, w.book.tag) {
			t.Fatalf("marker %q", wr.marker)
		}
	}
	if len(seen) != 6 {
		t.Errorf("300 writes touched %d of 6 rows", len(seen))
	}
	if wr := w.next(1); !strings.Contains(wr.sql, `"t1"`) {
		t.Errorf("a write for tenant 1: %s", wr.sql)
	}
}

// fakeRealtime is a Phoenix endpoint answering as Supabase Realtime does: joins of topic
// realtime:bench-2 are refused, others accepted with their binding; then, once start closes,
// on each socket a system message, a heartbeat reply and one change carrying marker, twice on
// bench-1 and once on bench-3.
func fakeRealtime(t *testing.T, marker string, start <-chan struct{}) *httptest.Server {
	up := websocket.Upgrader{}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("vsn") != phxVsn || r.URL.Query().Get("apikey") != "k" || !strings.HasSuffix(r.URL.Path, "/t/tn/realtime/v1/websocket") {
			http.Error(w, "bad url "+r.URL.String(), http.StatusBadRequest)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var topics []string
		for len(topics) < 3 {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			m, err := parsePhx(msg)
			if err != nil || string(m.event) != `"phx_join"` {
				t.Errorf("not a join: %s", msg)
				return
			}
			topic := string(m.topic[1 : len(m.topic)-1])
			topics = append(topics, topic)
			reply := `{"status":"ok","response":{"postgres_changes":[{"id":9,"event":"*","schema":"tn","table":"bench_rt"}]}}`
			if topic == "realtime:bench-2" {
				reply = `{"status":"error","response":{"reason":"nope"}}`
			}
			_ = c.WriteMessage(websocket.TextMessage, phxFrame(string(m.joinRef[1:len(m.joinRef)-1]), string(m.ref[1:len(m.ref)-1]), topic, "phx_reply", []byte(reply)))
		}
		<-start
		change := []byte(`{"ids":[9],"data":{"schema":"tn","table":"bench_rt","commit_timestamp":"` + time.Now().UTC().Format(time.RFC3339Nano) +
			`","type":"UPDATE","columns":[],"record":{"id":1,"note":"` + marker + `"},"old_record":{"id":1},"errors":null}}`)
		_ = c.WriteMessage(websocket.TextMessage, phxFrame("", "", "realtime:bench-1", "system", []byte(`{"status":"ok","extension":"postgres_changes","message":"ready"}`)))
		_ = c.WriteMessage(websocket.TextMessage, phxFrame("", "1", "phoenix", "phx_reply", []byte(`{"status":"ok","response":{}}`)))
		for range 2 {
			_ = c.WriteMessage(websocket.TextMessage, phxFrame("", "", "realtime:bench-1", "postgres_changes", change))
		}
		_ = c.WriteMessage(websocket.TextMessage, phxFrame("", "", "realtime:bench-3", "postgres_changes", change))
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
}

func TestTheRealtimeClientJoinsAndCountsDeliveries(t *testing.T) {
	book := newPushBook(time.Now())
	start := make(chan struct{})
	srv := fakeRealtime(t, book.marker(42), start)
	defer srv.Close()
	cfg := RTConfig{Target: srv.URL, Path: "/t/{tenant}/realtime/v1/websocket", APIKey: "k", Subs: 3, Tenants: 1, Sockets: 1, Rows: 5,
		WriteRate: 1, Duration: time.Second, EstablishTimeout: 5 * time.Second, Seed: 1}
	run, closeAll, err := joinChannels(context.Background(), cfg, []*rtTenant{{name: "tn", schema: "tn"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := run.established.Load(); n != 2 {
		t.Fatalf("%d channels established, want 2 of 3", n)
	}
	run.book.Store(book)
	run.measuring.Store(true)
	book.committed(42, time.Now(), 2)
	close(start)
	waitDelivered(book, 3*time.Second)
	time.Sleep(100 * time.Millisecond) // the duplicate
	run.measuring.Store(false)
	closeAll()
	exp, seen := book.progress()
	if exp != 2 || seen != 2 || run.duplicates.Load() != 1 || run.deliveries.Load() != 3 {
		t.Errorf("expected %d, seen %d, duplicates %d, deliveries %d", exp, seen, run.duplicates.Load(), run.deliveries.Load())
	}
	if run.tsHist.Count() != 3 || run.tsBad.Load() != 0 {
		t.Errorf("commit timestamps read %d, unreadable %d", run.tsHist.Count(), run.tsBad.Load())
	}
	errs, first := run.errs.summary()
	if errs["subscribe"] != 1 || !strings.Contains(first["subscribe"], "nope") || len(errs) != 1 {
		t.Errorf("errors %v %v", errs, first)
	}
}

func TestRealtimeFlagsAreChecked(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sockets", "10", "--tenants", "20"}, "--sockets 10 is under --tenants 20"},
		{[]string{"--filtered", "1.5"}, "--filtered must be between 0 and 1"},
		{[]string{"--subs", "100,x"}, `"x" is not a positive count`},
		{[]string{"--write-rate", "0"}, "--write-rate must be positive"},
		{[]string{"--target", "ws://h:1"}, "want http://host:port"},
		{[]string{"--rows", "0"}, "--rows must be positive"},
	} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), append([]string{"realtime"}, c.args...), &out, &errb); code != 2 || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}

func TestTheRealtimeKapokConfig(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"realtime", "--quick", "--print-config", "--subs", "1000", "--sockets", "5"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	cfg := out.String()
	for _, want := range []string{"listen: 127.0.0.1:18280", "realtime_max_channels: 200", "realtime_max_joins_per_second: 4000",
		"- name: bench-t003", "schemas: [bench_t003]", "isolation: role", "disabled: true"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "bench-t004") {
		t.Errorf("--quick is 4 tenants:\n%s", cfg)
	}
}

func TestTheRealtimeTableShowsEveryRun(t *testing.T) {
	r := &RTResult{Subscribers: 5000, Established: 4990, Filtered: 1500, Sockets: 250, Tenants: 50, EstablishS: 1.5, DurationS: 10, Writes: 5000,
		DeliveriesPerS: 24000, Latency: Latency{P50: 3, P99: 40}, CommitTSLatency: Latency{P50: 4, P99: 41}, Expected: 100, Seen: 99, Duplicates: 1,
		CPUPerDeliveryUS: 12.5, SlotLag: RTSlotLag{Samples: 3, MaxBytes: 3 << 20, MeanBytes: 2048},
		Server: map[string]float64{"kapok_realtime_deliveries_total": 240000}, Errors: map[string]uint64{"subscribe": 10}}
	var b bytes.Buffer
	WriteRTTable(&b, []*RTResult{r})
	out := b.String()
	for _, want := range []string{"deliveries/s", "24000", "3.00ms", "40.00ms", "99/100", "12.5µs", "3.0MiB", "2.0KiB", "subscribe:10", "500",
		"kapok_realtime_deliveries_total", "240000"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestRealtimeServerCountersAreTheWindowsGrowth(t *testing.T) {
	a, _ := parsePromText([]byte("kapok_realtime_deliveries_total 10\nkapok_realtime_channels 5\nkapok_requests_total 3\n"))
	b, _ := parsePromText([]byte("kapok_realtime_deliveries_total{kind=\"x\"} 25\nkapok_realtime_channels 7\nkapok_requests_total 9\n"))
	got := rtServerCounters(a, b)
	if want := map[string]float64{"kapok_realtime_deliveries_total": 15, "kapok_realtime_channels": 7}; !reflect.DeepEqual(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}

func TestTheMeasuredWritesAreNotTakenForTheWarmUps(t *testing.T) {
	warm := newPushBook(time.Unix(1, 0))
	book := newPushBook(time.Unix(2, 0))
	run := &rtRun{errs: &subErrors{}}
	c := &rtChannel{}
	frame := func(b *pushBook, seq uint32) []byte {
		return []byte(`{"ids":[1],"data":{"type":"UPDATE","record":{"id":1,"note":"` + b.marker(seq) + `"}}}`)
	}
	run.book.Store(warm)
	run.delivered(c, frame(warm, 1), time.Now())
	run.book.Store(book)
	book.committed(1, time.Now(), 1)
	run.delivered(c, frame(book, 1), time.Now())
	run.delivered(c, frame(book, 1), time.Now())
	if _, seen := book.progress(); seen != 1 || run.duplicates.Load() != 1 {
		t.Errorf("seen %d, duplicates %d: want write 1 of the measured book seen once, then once more", seen, run.duplicates.Load())
	}
}
