package realtime

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// A stream that sends changes late tells its table watchers it is down, so that the
// subscriptions over it poll, and up again only once it is back on time.
func TestALateStreamSendsItsWatchersToPolling(t *testing.T) {
	var ups []bool
	w := &TableWatcher{Changed: func([]uint32) {}, Up: func(up bool) { ups = append(ups, up) }}
	st := &stream{c: &Changes{log: slog.New(slog.NewTextHandler(io.Discard, nil))}, url: "postgres://h/db",
		watchers: map[*TableWatcher]struct{}{w: {}}}
	for _, c := range []struct {
		delay time.Duration
		want  string
	}{
		{10 * time.Millisecond, "[]"},
		{watcherLate, "[]"},
		{watcherLate + time.Millisecond, "[false]"},
		{2 * time.Second, "[false]"},
		{watcherOnTime, "[false]"},
		{300 * time.Millisecond, "[false]"},
		{watcherOnTime - time.Millisecond, "[false true]"},
		{0, "[false true]"},
		{time.Second, "[false true false]"},
		{0, "[false true false true]"},
	} {
		st.noteDelay(c.delay)
		if got := fmt.Sprint(ups); got != c.want {
			t.Fatalf("after a delay of %v the watchers heard %s, want %s", c.delay, got, c.want)
		}
	}
}

// A commit waits to be visible before it is reported only where a watcher reruns
// something for one of its tables.
func TestOnlyWatchedTablesWaitForVisibility(t *testing.T) {
	some := &TableWatcher{Watches: func(oid uint32) bool { return oid == 7 }}
	none := &TableWatcher{Watches: func(uint32) bool { return false }}
	for _, c := range []struct {
		ws   []*TableWatcher
		oids []uint32
		want bool
	}{
		{[]*TableWatcher{none}, []uint32{7}, false},
		{[]*TableWatcher{none, some}, []uint32{1, 7}, true},
		{[]*TableWatcher{some}, []uint32{1, 2}, false},
		{[]*TableWatcher{{}}, []uint32{1}, true}, // a watcher that does not say watches all
	} {
		if got := watched(c.ws, c.oids); got != c.want {
			t.Errorf("watched(%d watchers, %v) = %v, want %v", len(c.ws), c.oids, got, c.want)
		}
	}
}

// While its database's feed is down or behind, a group polls at most every catchUpPoll;
// a group that reads a table no feed covers keeps its own poll interval.
func TestAGroupWhoseFeedIsDownPollsToCatchUp(t *testing.T) {
	down := &feedDB{}
	up := &feedDB{}
	up.up.Store(true)
	for _, c := range []struct {
		name string
		g    group
		want time.Duration
	}{
		{"feed down", group{fdb: down, poll: time.Second, interval: 100 * time.Millisecond}, catchUpPoll},
		{"feed down, a long interval", group{fdb: down, poll: 3 * time.Second, interval: 2 * time.Second}, 2 * time.Second},
		{"feed down, a short poll", group{fdb: down, poll: 200 * time.Millisecond}, 200 * time.Millisecond},
		{"feed down, an interval longer than the poll", group{fdb: down, poll: time.Second, interval: 2 * time.Second}, time.Second},
		{"a table no feed covers", group{fdb: up, polled: true, poll: time.Second}, time.Second},
		{"no feed", group{poll: time.Second}, time.Second},
	} {
		if !c.g.polledNow() {
			t.Fatalf("%s: not polled", c.name)
		}
		if got := c.g.pollEvery(); got != c.want {
			t.Errorf("%s: polls every %v, want %v", c.name, got, c.want)
		}
	}
}
