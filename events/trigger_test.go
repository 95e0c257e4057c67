package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/internal/testenv"
)

func TestTriggerDeliversEachCommittedChangeAndNoRolledBackOne(t *testing.T) {
	e := newEnv(t, "commit", true)
	rcv := newReceiver(t, nil)
	s := e.service(nil)
	ctx := context.Background()
	_, err := s.CreateTrigger(ctx, e.tenant, &TriggerDef{
		Name: "items_changed", Table: TableRef{Name: "items"},
		Insert: &OpSpec{}, Update: &OpSpec{Columns: Columns{"price"}}, Delete: &OpSpec{},
		Delivery: Delivery{Webhook: rcv.URL, RetryConf: RetryConf{NumRetries: 2, IntervalSec: 0.01}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.Pool(t)
	tx, err := p.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('request.jwt.claims', '{"sub":"u-1","https://hasura.io/jwt/claims":{"X-Hasura-Org-Id":"42"}}', true)`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+e.table()+" (id, name, price) VALUES (1, 'pen', 2)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tx, err = p.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+e.table()+" (id, name) VALUES (2, 'rolled back')"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	e.exec("UPDATE " + e.table() + " SET note = 'not watched' WHERE id = 1")
	e.exec("UPDATE " + e.table() + " SET price = 3 WHERE id = 1")
	e.exec("DELETE FROM " + e.table() + " WHERE id = 1")

	got := rcv.waitFor(t, 3, 10*time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := len(rcv.deliveries()); n != 3 {
		t.Fatalf("receiver got %d requests, want 3 (insert, watched update, delete)", n)
	}
	ops := map[string]map[string]any{}
	for _, d := range got {
		m := d.payload(t)
		op, _ := path(m, "event", "op").(string)
		ops[op] = m
		if d.header.Get("Idempotency-Key") != m["id"] || d.header.Get("X-Kapok-Event-Id") != m["id"] {
			t.Errorf("%s: idempotency headers %q, want the event id %v", op, d.header.Get("Idempotency-Key"), m["id"])
		}
	}
	t.Run("the insert carries the new row, the session variables and Hasura's envelope", func(t *testing.T) {
		m := ops["INSERT"]
		if m == nil {
			t.Fatalf("no INSERT event: %v", ops)
		}
		if path(m, "event", "data", "old") != nil || path(m, "event", "data", "new", "name") != "pen" {
			t.Errorf("data = %v", path(m, "event", "data"))
		}
		if path(m, "trigger", "name") != "items_changed" || path(m, "table", "schema") != e.schema || path(m, "table", "name") != "items" {
			t.Errorf("trigger/table = %v %v", m["trigger"], m["table"])
		}
		if path(m, "event", "session_variables", "x-hasura-user-id") != "u-1" || path(m, "event", "session_variables", "x-hasura-org-id") != "42" {
			t.Errorf("session_variables = %v", path(m, "event", "session_variables"))
		}
		if path(m, "delivery_info", "max_retries") != float64(2) || path(m, "delivery_info", "current_retry") != float64(0) {
			t.Errorf("delivery_info = %v", m["delivery_info"])
		}
		if _, err := time.Parse(time.RFC3339Nano, m["created_at"].(string)); err != nil {
			t.Errorf("created_at: %v", err)
		}
	})
	t.Run("the update of a watched column carries old and new rows", func(t *testing.T) {
		m := ops["UPDATE"]
		if path(m, "event", "data", "old", "price") != float64(2) || path(m, "event", "data", "new", "price") != float64(3) {
			t.Errorf("data = %v", path(m, "event", "data"))
		}
	})
	t.Run("the delete carries the old row only", func(t *testing.T) {
		m := ops["DELETE"]
		if path(m, "event", "data", "new") != nil || path(m, "event", "data", "old", "id") != float64(1) {
			t.Errorf("data = %v", path(m, "event", "data"))
		}
	})
	t.Run("every event is delivered and its attempt recorded", func(t *testing.T) {
		eventually(t, 5*time.Second, "three delivered events", func() bool {
			list, err := s.Events(ctx, e.tenant, Filter{State: "delivered"})
			return err == nil && len(list) == 3
		})
		list, _ := s.Events(ctx, e.tenant, Filter{State: "delivered"})
		ev, err := s.Event(ctx, e.tenant, list[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Attempts) != 1 || ev.Attempts[0].Status == nil || *ev.Attempts[0].Status != 200 || ev.Attempts[0].ResponseBody == nil {
			t.Fatalf("attempts = %+v", ev.Attempts)
		}
	})
}

func TestFailedDeliveriesAreRetriedWithTheSameEventID(t *testing.T) {
	e := newEnv(t, "retry", true)
	rcv := newReceiver(t, func(n int, _ delivery) int {
		if n < 3 {
			return 500
		}
		return 200
	})
	s := e.service(nil)
	ctx := context.Background()
	if _, err := s.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: "ins", Table: TableRef{Name: "items"}, Insert: &OpSpec{},
		Delivery: Delivery{Webhook: rcv.URL, RetryConf: RetryConf{NumRetries: 5, IntervalSec: 0.02}}}); err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (1, 'x')")
	got := rcv.waitFor(t, 4, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if n := len(rcv.deliveries()); n != 4 {
		t.Fatalf("receiver got %d requests, want 4 (three 500s, then 200)", n)
	}
	id := got[0].payload(t)["id"]
	for i, d := range got {
		m := d.payload(t)
		if m["id"] != id {
			t.Errorf("attempt %d has id %v, want %v", i, m["id"], id)
		}
		if path(m, "delivery_info", "current_retry") != float64(i) {
			t.Errorf("attempt %d: current_retry %v", i, path(m, "delivery_info", "current_retry"))
		}
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].at.Sub(got[i-1].at); gap < 20*time.Millisecond<<(i-1) {
			t.Errorf("retry %d came %v after the previous attempt, before its backoff of %v", i, gap, 20*time.Millisecond<<(i-1))
		}
	}
	eventually(t, 5*time.Second, "the event to be delivered", func() bool {
		ev, err := s.Event(ctx, e.tenant, id.(string))
		return err == nil && ev.State == "delivered" && len(ev.Attempts) == 4
	})
}

func TestAnEventIsDeadAfterItsLastRetry(t *testing.T) {
	e := newEnv(t, "dead", true)
	rcv := newReceiver(t, func(int, delivery) int { return 503 })
	s := e.service(nil)
	ctx := context.Background()
	if _, err := s.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: "ins", Table: TableRef{Name: "items"}, Insert: &OpSpec{},
		Delivery: Delivery{Webhook: rcv.URL, RetryConf: RetryConf{NumRetries: 2, IntervalSec: 0.01}}}); err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (1, 'x')")
	eventually(t, 10*time.Second, "a dead event", func() bool {
		list, err := s.Events(ctx, e.tenant, Filter{State: "dead"})
		return err == nil && len(list) == 1
	})
	time.Sleep(200 * time.Millisecond)
	if n := len(rcv.deliveries()); n != 3 {
		t.Fatalf("receiver got %d requests, want 3 (the first and two retries)", n)
	}
	list, _ := s.Events(ctx, e.tenant, Filter{State: "dead"})
	if list[0].Tries != 3 || list[0].LastStatus == nil || *list[0].LastStatus != 503 {
		t.Errorf("dead event = %+v", list[0])
	}
	t.Run("redelivering a dead event sends it again", func(t *testing.T) {
		rcv.mu.Lock()
		rcv.status = nil
		rcv.mu.Unlock()
		if err := s.Redeliver(ctx, e.tenant, list[0].ID); err != nil {
			t.Fatal(err)
		}
		rcv.waitFor(t, 4, 5*time.Second)
		eventually(t, 5*time.Second, "the redelivered event", func() bool {
			ev, err := s.Event(ctx, e.tenant, list[0].ID)
			return err == nil && ev.State == "delivered" && len(ev.Attempts) == 4
		})
	})
}

func TestAnOrderedTriggerDeliversARowsEventsInCommitOrder(t *testing.T) {
	e := newEnv(t, "order", true)
	failures := 0
	rcv := newReceiver(t, func(_ int, d delivery) int {
		var m map[string]any
		_ = json.Unmarshal(d.body, &m)
		if path(m, "event", "op") == "INSERT" && path(m, "event", "data", "new", "id") == float64(1) && failures < 2 {
			failures++
			return 500
		}
		return 200
	})
	s := e.service(nil)
	ctx := context.Background()
	if _, err := s.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: "ordered", Table: TableRef{Name: "items"}, Ordered: true,
		Insert: &OpSpec{}, Update: &OpSpec{},
		Delivery: Delivery{Webhook: rcv.URL, RetryConf: RetryConf{NumRetries: 5, IntervalSec: 0.05}}}); err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (1, 'a')")
	e.exec("UPDATE " + e.table() + " SET price = 1 WHERE id = 1")
	e.exec("UPDATE " + e.table() + " SET price = 2 WHERE id = 1")
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (2, 'b')")
	got := rcv.waitFor(t, 6, 10*time.Second)
	var row1 []string
	row2At, row1DoneAt := -1, -1
	for i, d := range got {
		m := d.payload(t)
		switch path(m, "event", "data", "new", "id") {
		case float64(1):
			row1 = append(row1, fmt.Sprintf("%v %v", path(m, "event", "op"), path(m, "event", "data", "new", "price")))
			if len(row1) == 3 {
				row1DoneAt = i
			}
		case float64(2):
			row2At = i
		}
	}
	want := []string{"INSERT 0", "INSERT 0", "INSERT 0", "UPDATE 1", "UPDATE 2"}
	if fmt.Sprint(row1) != fmt.Sprint(want) {
		t.Fatalf("row 1 deliveries = %v, want %v", row1, want)
	}
	if row2At > row1DoneAt {
		t.Errorf("row 2's insert (delivery %d) waited for row 1's retries (done at delivery %d)", row2At, row1DoneAt)
	}

	t.Run("ordered delivery needs a primary key", func(t *testing.T) {
		e.exec("CREATE TABLE " + pgx.Identifier{e.schema, "nopk"}.Sanitize() + " (a int)")
		_, err := s.CreateTrigger(ctx, e.tenant, &TriggerDef{Name: "nopk", Table: TableRef{Name: "nopk"}, Ordered: true, Insert: &OpSpec{},
			Delivery: Delivery{Webhook: rcv.URL}})
		if err == nil {
			t.Fatal("accepted")
		}
	})
}

func TestARetryWaitsForTheReceiversRetryAfter(t *testing.T) {
	e := newEnv(t, "after", true)
	rcv := newReceiver(t, nil)
	inner := rcv.Config.Handler
	first := true
	rcv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first {
			first = false
			w.Header().Set("Retry-After", "1")
			rcv.status = func(int, delivery) int { return 503 }
		} else {
			rcv.status = nil
		}
		inner.ServeHTTP(w, r)
	})
	s := e.service(nil)
	if _, err := s.CreateTrigger(context.Background(), e.tenant, &TriggerDef{Name: "ins", Table: TableRef{Name: "items"}, Insert: &OpSpec{},
		Delivery: Delivery{Webhook: rcv.URL, RetryConf: RetryConf{NumRetries: 3, IntervalSec: 0.01}}}); err != nil {
		t.Fatal(err)
	}
	e.exec("INSERT INTO " + e.table() + " (id, name) VALUES (1, 'x')")
	got := rcv.waitFor(t, 2, 10*time.Second)
	if gap := got[1].at.Sub(got[0].at); gap < time.Second {
		t.Fatalf("the retry came %v after a 503 with Retry-After: 1", gap)
	}
}
