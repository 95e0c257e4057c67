package events

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseScheduleFindsTheNextTick(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct{ expr, from, want string }{
		{"* * * * *", "2030-01-01T11:59:30Z", "2030-01-01T12:00:00Z"},
		{"* * * * *", "2030-01-01T12:00:00Z", "2030-01-01T12:01:00Z"},
		{"*/15 * * * *", "2030-01-01T12:01:00Z", "2030-01-01T12:15:00Z"},
		{"0 12 * * *", "2030-01-01T12:00:00Z", "2030-01-02T12:00:00Z"},
		{"30 9 1 * *", "2030-01-15T00:00:00Z", "2030-02-01T09:30:00Z"},
		{"0 0 * * 1-5", "2030-01-04T01:00:00Z", "2030-01-07T00:00:00Z"}, // Friday → Monday
		{"0 0 * * 7", "2030-01-01T00:00:00Z", "2030-01-06T00:00:00Z"},   // 7 is Sunday
		{"0 0 29 2 *", "2030-03-01T00:00:00Z", "2032-02-29T00:00:00Z"},
		{"5,10 8-9 * * *", "2030-01-01T08:07:00Z", "2030-01-01T08:10:00Z"},
	}
	for _, c := range cases {
		t.Run(c.expr+" after "+c.from+" fires at "+c.want, func(t *testing.T) {
			s, err := ParseSchedule(c.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(at(c.from)); !got.Equal(at(c.want)) {
				t.Fatalf("Next = %s", got.Format(time.RFC3339))
			}
		})
	}
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "5-1 * * * *", "a * * * *", "* * 0 * *"} {
		t.Run("the schedule "+bad+" is refused", func(t *testing.T) {
			if _, err := ParseSchedule(bad); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestScheduledEventsFireOnTheClock(t *testing.T) {
	e := newEnv(t, "sched", true)
	rcv := newReceiver(t, nil)
	t0 := time.Date(2030, 1, 1, 11, 59, 30, 0, time.UTC)
	clock := &fakeClock{now: t0}
	s := e.service(func(o *Options) { o.Clock = clock })
	ctx := context.Background()

	t.Run("a cron trigger fires at each tick the clock passes, and not before", func(t *testing.T) {
		ct, err := s.CreateCronTrigger(ctx, e.tenant, &CronDef{Name: "every_minute", Schedule: "* * * * *",
			Payload: json.RawMessage(`{"job":"sweep"}`), Comment: "sweeper", Delivery: Delivery{Webhook: rcv.URL}})
		if err != nil {
			t.Fatal(err)
		}
		if !ct.NextTick.Equal(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("next tick = %s", ct.NextTick)
		}
		clock.Set(t0.Add(20 * time.Second))
		time.Sleep(300 * time.Millisecond)
		if n := len(rcv.deliveries()); n != 0 {
			t.Fatalf("delivered %d events before the first tick", n)
		}
		clock.Set(t0.Add(30 * time.Second)) // 12:00:00
		got := rcv.waitFor(t, 1, 10*time.Second)
		m := got[0].payload(t)
		if m["name"] != "every_minute" || m["scheduled_time"] != "2030-01-01T12:00:00Z" || path(m, "payload", "job") != "sweep" || m["comment"] != "sweeper" {
			t.Errorf("payload = %v", m)
		}
		clock.Set(t0.Add(3 * time.Minute)) // 12:02:30: ticks 12:01 and 12:02
		got = rcv.waitFor(t, 3, 10*time.Second)
		time.Sleep(300 * time.Millisecond)
		if n := len(rcv.deliveries()); n != 3 {
			t.Fatalf("got %d deliveries, want 3", n)
		}
		seen := map[any]bool{}
		for _, d := range got {
			seen[d.payload(t)["scheduled_time"]] = true
		}
		for _, want := range []string{"2030-01-01T12:00:00Z", "2030-01-01T12:01:00Z", "2030-01-01T12:02:00Z"} {
			if !seen[want] {
				t.Errorf("no delivery for the tick at %s: %v", want, seen)
			}
		}
		if err := s.DropCronTrigger(ctx, e.tenant, "every_minute"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a one-off scheduled event is delivered once its time comes", func(t *testing.T) {
		before := len(rcv.deliveries())
		at := t0.Add(time.Hour)
		id, err := s.CreateScheduledEvent(ctx, e.tenant, &ScheduledDef{ScheduleAt: at, Payload: json.RawMessage(`{"n":1}`),
			Delivery: Delivery{Webhook: rcv.URL}})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if n := len(rcv.deliveries()); n != before {
			t.Fatalf("delivered early")
		}
		clock.Set(at)
		got := rcv.waitFor(t, before+1, 10*time.Second)
		m := got[before].payload(t)
		if m["id"] != id || m["scheduled_time"] != "2030-01-01T12:59:30Z" || path(m, "payload", "n") != float64(1) {
			t.Errorf("payload = %v", m)
		}
	})
}

func TestPausedTriggersKeepTheirEventsUntilResumed(t *testing.T) {
	e := newEnv(t, "pause", true)
	rcv := newReceiver(t, nil)
	s := e.service(nil)
	ctx := context.Background()
	if _, err := s.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: "ins", Table: TableRef{Name: "items"}, Insert: &OpSpec{}, EnableManual: true,
		Delivery: Delivery{Webhook: rcv.URL}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPaused(ctx, e.tenant, "ins", true); err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (7, 'x')")
	time.Sleep(300 * time.Millisecond)
	if n := len(rcv.deliveries()); n != 0 {
		t.Fatalf("a paused trigger delivered %d events", n)
	}
	if list, err := s.Events(ctx, e.tenant, Filter{State: "pending"}); len(list) != 1 {
		t.Fatalf("pending events = %d, want 1 (%v)", len(list), err)
	}
	if err := s.SetPaused(ctx, e.tenant, "ins", false); err != nil {
		t.Fatal(err)
	}
	rcv.waitFor(t, 1, 10*time.Second)

	t.Run("a manual invocation sends the row as a MANUAL event", func(t *testing.T) {
		id, err := s.Invoke(ctx, e.tenant, "ins", map[string]any{"id": 7})
		if err != nil {
			t.Fatal(err)
		}
		got := rcv.waitFor(t, 2, 10*time.Second)
		m := got[1].payload(t)
		if m["id"] != id || path(m, "event", "op") != "MANUAL" || path(m, "event", "data", "new", "id") != float64(7) {
			t.Errorf("payload = %v", m)
		}
	})
	t.Run("a large numeric key finds its row", func(t *testing.T) {
		e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (1234567890, 'big')")
		var pk map[string]any
		_ = json.Unmarshal([]byte(`{"id": 1234567890}`), &pk)
		if _, err := s.Invoke(ctx, e.tenant, "ins", pk); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("invoking on a row that does not exist is refused", func(t *testing.T) {
		if _, err := s.Invoke(ctx, e.tenant, "ins", map[string]any{"id": 8}); err == nil {
			t.Fatal("accepted")
		}
		if _, err := s.Invoke(ctx, e.tenant, "ins", map[string]any{"nope": 8}); err == nil {
			t.Fatal("accepted an unknown column")
		}
	})
	t.Run("a dropped trigger stops recording", func(t *testing.T) {
		if err := s.DropTrigger(ctx, e.tenant, "ins"); err != nil {
			t.Fatal(err)
		}
		e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (9, 'y')")
		if list, _ := s.Events(ctx, e.tenant, Filter{State: "pending"}); len(list) != 0 {
			t.Fatalf("pending events after drop = %d", len(list))
		}
		if err := s.DropTrigger(ctx, e.tenant, "ins"); err == nil {
			t.Fatal("dropping twice succeeded")
		}
	})
}

func TestTriggerDefinitionsAreChecked(t *testing.T) {
	e := newEnv(t, "defs", true)
	s := New(Options{Registry: e.reg, Logger: quietLog()})
	defer s.Close()
	ok := Delivery{Webhook: "http://127.0.0.1:1/"}
	cases := []struct {
		name string
		def  TriggerDef
	}{
		{"a name with a space", TriggerDef{Name: "a b", Table: TableRef{Name: "items"}, Insert: &OpSpec{}, Delivery: ok}},
		{"another tenant's schema", TriggerDef{Name: "x", Table: TableRef{Schema: "public", Name: "items"}, Insert: &OpSpec{}, Delivery: ok}},
		{"a missing table", TriggerDef{Name: "x", Table: TableRef{Name: "nope"}, Insert: &OpSpec{}, Delivery: ok}},
		{"an unknown update column", TriggerDef{Name: "x", Table: TableRef{Name: "items"}, Update: &OpSpec{Columns: Columns{"nope"}}, Delivery: ok}},
		{"no operation", TriggerDef{Name: "x", Table: TableRef{Name: "items"}, Delivery: ok}},
		{"no webhook", TriggerDef{Name: "x", Table: TableRef{Name: "items"}, Insert: &OpSpec{}}},
		{"a non-http webhook", TriggerDef{Name: "x", Table: TableRef{Name: "items"}, Insert: &OpSpec{}, Delivery: Delivery{Webhook: "file:///etc/passwd"}}},
		{"a header with a line break", TriggerDef{Name: "x", Table: TableRef{Name: "items"}, Insert: &OpSpec{},
			Delivery: Delivery{Webhook: "http://h/", Headers: []Header{{Name: "X", Value: "a\r\nB: c"}}}}},
	}
	for _, c := range cases {
		t.Run("a trigger with "+c.name+" is refused", func(t *testing.T) {
			def := c.def
			if _, err := s.CreateTrigger(context.Background(), e.tenant, &def); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("a second trigger of the same name is refused unless it replaces", func(t *testing.T) {
		def := TriggerDef{Name: "dup", Table: TableRef{Name: "items"}, Insert: &OpSpec{}, Delivery: ok}
		if _, err := s.CreateTrigger(context.Background(), e.tenant, &def); err != nil {
			t.Fatal(err)
		}
		def = TriggerDef{Name: "dup", Table: TableRef{Name: "items"}, Delete: &OpSpec{}, Delivery: ok}
		if _, err := s.CreateTrigger(context.Background(), e.tenant, &def); err == nil {
			t.Fatal("accepted a duplicate")
		}
		def = TriggerDef{Name: "dup", Table: TableRef{Name: "items"}, Delete: &OpSpec{}, Delivery: ok, Replace: true}
		if _, err := s.CreateTrigger(context.Background(), e.tenant, &def); err != nil {
			t.Fatal(err)
		}
		tr, err := s.Trigger(context.Background(), e.tenant, "dup")
		if err != nil || tr.Def.Insert != nil || tr.Def.Delete == nil {
			t.Fatalf("replaced trigger = %+v, %v", tr, err)
		}
	})
}

func TestForgettingATenantRemovesItsEventsAndTriggers(t *testing.T) {
	e := newEnv(t, "forget", true)
	rcv := newReceiver(t, nil)
	s := e.service(nil)
	ctx := context.Background()
	if _, err := s.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: "ins", Table: TableRef{Name: "items"}, Insert: &OpSpec{},
		Delivery: Delivery{Webhook: rcv.URL}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateCronTrigger(ctx, e.tenant, &CronDef{Name: "c", Schedule: "0 0 1 1 *", Delivery: Delivery{Webhook: rcv.URL}}); err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (1, 'x')")
	rcv.waitFor(t, 1, 10*time.Second)
	if err := s.Forget(ctx, e.tenant.Name); err != nil {
		t.Fatal(err)
	}
	trs, _ := s.Triggers(ctx, e.tenant)
	crons, _ := s.CronTriggers(ctx, e.tenant)
	evs, _ := s.Events(ctx, e.tenant, Filter{})
	if len(trs)+len(crons)+len(evs) != 0 {
		t.Fatalf("left: %d triggers, %d cron triggers, %d events", len(trs), len(crons), len(evs))
	}
}

func TestDeliveredEventsAreDeletedAfterTheRetention(t *testing.T) {
	e := newEnv(t, "retain", true)
	rcv := newReceiver(t, func(n int, _ delivery) int {
		if n == 0 {
			return 200
		}
		return 500
	})
	t0 := time.Now()
	clock := &fakeClock{now: t0}
	s := e.service(func(o *Options) { o.Clock = clock; o.Retention = time.Hour })
	ctx := context.Background()
	if _, err := s.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: "ins", Table: TableRef{Name: "items"}, Insert: &OpSpec{},
		Delivery: Delivery{Webhook: rcv.URL}}); err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (1, 'kept an hour')")
	rcv.waitFor(t, 1, 10*time.Second)
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (2, 'dead')")
	eventually(t, 10*time.Second, "one delivered and one dead event", func() bool {
		d, _ := s.Events(ctx, e.tenant, Filter{State: "delivered"})
		x, _ := s.Events(ctx, e.tenant, Filter{State: "dead"})
		return len(d) == 1 && len(x) == 1
	})
	g := s.groups(ctx)[0]
	count := func() int {
		list, _ := s.Events(ctx, e.tenant, Filter{})
		return len(list)
	}
	clock.Set(t0.Add(59 * time.Minute))
	if err := s.cleanup(ctx, g); err != nil || count() != 2 {
		t.Fatalf("before the retention: %d events left (%v)", count(), err)
	}
	clock.Set(t0.Add(61 * time.Minute))
	if err := s.cleanup(ctx, g); err != nil {
		t.Fatal(err)
	}
	list, _ := s.Events(ctx, e.tenant, Filter{})
	if len(list) != 1 || list[0].State != "dead" {
		t.Fatalf("after the retention: %+v", list)
	}
}

func TestTwoProcessesWriteEachCronTickOnce(t *testing.T) {
	e := newEnv(t, "crontwo", true)
	rcv := newReceiver(t, nil)
	t0 := time.Date(2031, 6, 1, 8, 0, 30, 0, time.UTC)
	clock := &fakeClock{now: t0}
	a := e.service(func(o *Options) { o.Clock = clock; o.Worker = "a"; o.PollInterval = 10 * time.Millisecond })
	e.service(func(o *Options) { o.Clock = clock; o.Worker = "b"; o.PollInterval = 10 * time.Millisecond })
	ctx := context.Background()
	if _, err := a.CreateCronTrigger(ctx, e.tenant, &CronDef{Name: "tick", Schedule: "* * * * *", Delivery: Delivery{Webhook: rcv.URL}}); err != nil {
		t.Fatal(err)
	}
	for m := 1; m <= 5; m++ {
		clock.Set(t0.Add(time.Duration(m) * time.Minute))
		rcv.waitFor(t, m, 10*time.Second)
		time.Sleep(30 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	seen := map[any]int{}
	for _, d := range rcv.deliveries() {
		seen[d.payload(t)["scheduled_time"]]++
	}
	if len(seen) != 5 || len(rcv.deliveries()) != 5 {
		t.Fatalf("deliveries per tick: %v", seen)
	}
}

func TestAScheduledEventPastItsToleranceIsDeadNotSentLate(t *testing.T) {
	e := newEnv(t, "late", true)
	rcv := newReceiver(t, nil)
	t0 := time.Date(2032, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: t0}
	s := e.service(func(o *Options) { o.Clock = clock })
	ctx := context.Background()
	late, err := s.CreateScheduledEvent(ctx, e.tenant, &ScheduledDef{ScheduleAt: t0.Add(-2 * time.Hour),
		Delivery: Delivery{Webhook: rcv.URL, RetryConf: RetryConf{ToleranceSeconds: 3600}}})
	if err != nil {
		t.Fatal(err)
	}
	onTime, err := s.CreateScheduledEvent(ctx, e.tenant, &ScheduledDef{ScheduleAt: t0.Add(-30 * time.Minute),
		Delivery: Delivery{Webhook: rcv.URL, RetryConf: RetryConf{ToleranceSeconds: 3600}}})
	if err != nil {
		t.Fatal(err)
	}
	got := rcv.waitFor(t, 1, 10*time.Second)
	eventually(t, 5*time.Second, "the late event dead", func() bool {
		ev, err := s.Event(ctx, e.tenant, late)
		return err == nil && ev.State == "dead" && ev.LastError != nil && strings.Contains(*ev.LastError, "tolerance")
	})
	time.Sleep(200 * time.Millisecond)
	if n := len(rcv.deliveries()); n != 1 || got[0].payload(t)["id"] != onTime {
		t.Fatalf("receiver got %d events (first %v), want only the one within its tolerance", n, got[0].payload(t)["id"])
	}
}
