package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
)

// Event is one entry of the event log as the admin API shows it.
type Event struct {
	ID               string          `json:"id"`
	Kind             string          `json:"kind"`
	Trigger          string          `json:"trigger,omitempty"`
	Table            *TableRef       `json:"table,omitempty"`
	Op               string          `json:"op,omitempty"`
	Data             json.RawMessage `json:"data,omitempty"`
	SessionVariables json.RawMessage `json:"session_variables,omitempty"`
	ScheduledAt      *time.Time      `json:"scheduled_at,omitempty"`
	State            string          `json:"state"`
	Tries            int             `json:"tries"`
	NextAttemptAt    *time.Time      `json:"next_attempt_at,omitempty"`
	LastStatus       *int            `json:"last_status"`
	LastError        *string         `json:"last_error"`
	CreatedAt        time.Time       `json:"created_at"`
	DeliveredAt      *time.Time      `json:"delivered_at"`
	Attempts         []*Attempt      `json:"attempts,omitempty"`
}

// Attempt is one recorded delivery attempt.
type Attempt struct {
	Try          int             `json:"try"`
	Worker       string          `json:"worker"`
	StartedAt    time.Time       `json:"started_at"`
	DurationMS   float64         `json:"duration_ms"`
	Request      json.RawMessage `json:"request"`
	Status       *int            `json:"status"`
	ResponseBody *string         `json:"response_body"`
	Error        *string         `json:"error"`
}

// Filter selects events of the log; zero fields select everything.
type Filter struct {
	State   string // pending, delivered, dead
	Kind    string // trigger, scheduled, cron
	Trigger string
	Limit   int // default 100, at most 1000
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

const eventColumns = `id::text, kind, trigger_name, schema_name, table_name, op, data::text, session_variables::text, scheduled_at,
  state, tries, nullif(next_attempt_at, '-infinity'), last_status, last_error, created_at, delivered_at`

func scanEvent(row pgx.Row) (*Event, error) {
	e := &Event{}
	var schema, table string
	var data, sess *string
	var next *time.Time
	if err := row.Scan(&e.ID, &e.Kind, &e.Trigger, &schema, &table, &e.Op, &data, &sess, &e.ScheduledAt,
		&e.State, &e.Tries, &next, &e.LastStatus, &e.LastError, &e.CreatedAt, &e.DeliveredAt); err != nil {
		return nil, err
	}
	if table != "" {
		e.Table = &TableRef{Schema: schema, Name: table}
	}
	if data != nil {
		e.Data = json.RawMessage(*data)
	}
	if sess != nil {
		e.SessionVariables = json.RawMessage(*sess)
	}
	if e.State == "pending" {
		e.NextAttemptAt = next
	}
	return e, nil
}

// Events lists the tenant's events, newest first.
func (s *Service) Events(ctx context.Context, t *control.Tenant, f Filter) ([]*Event, error) {
	switch f.State {
	case "", "pending", "delivered", "dead":
	default:
		return nil, invalid("state %q is not pending, delivered or dead", f.State)
	}
	switch f.Kind {
	case "", "trigger", "scheduled", "cron":
	default:
		return nil, invalid("kind %q is not trigger, scheduled or cron", f.Kind)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	if f.Limit > 1000 {
		f.Limit = 1000
	}
	db, err := s.ready(ctx, t)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT `+eventColumns+` FROM kapok_events.event_log
  WHERE tenant = $1::text AND ($2::text = '' OR state = $2::text) AND ($3::text = '' OR kind = $3::text)
    AND ($4::text = '' OR trigger_name = $4::text)
  ORDER BY created_at DESC, id LIMIT $5::int`, t.Name, f.State, f.Kind, f.Trigger, f.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Event{}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Event returns one event with its attempts, oldest first.
func (s *Service) Event(ctx context.Context, t *control.Tenant, id string) (*Event, error) {
	if !uuidRE.MatchString(id) {
		return nil, fmt.Errorf("%w: event %q", ErrNotFound, id)
	}
	db, err := s.ready(ctx, t)
	if err != nil {
		return nil, err
	}
	e, err := scanEvent(db.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM kapok_events.event_log WHERE tenant = $1::text AND id = $2::uuid`, t.Name, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: event %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT try, worker, started_at, duration_ms, request, status, response_body, error
  FROM kapok_events.attempts WHERE tenant = $1::text AND event_id = $2::uuid ORDER BY id`, t.Name, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	e.Attempts = []*Attempt{}
	for rows.Next() {
		a := &Attempt{}
		var req string
		if err := rows.Scan(&a.Try, &a.Worker, &a.StartedAt, &a.DurationMS, &req, &a.Status, &a.ResponseBody, &a.Error); err != nil {
			return nil, err
		}
		a.Request = json.RawMessage(req)
		e.Attempts = append(e.Attempts, a)
	}
	return e, rows.Err()
}

// Redeliver makes a delivered or dead event due again now, with a fresh retry budget. An
// event being delivered (leased) is refused.
func (s *Service) Redeliver(ctx context.Context, t *control.Tenant, id string) error {
	if !uuidRE.MatchString(id) {
		return fmt.Errorf("%w: event %q", ErrNotFound, id)
	}
	db, err := s.ready(ctx, t)
	if err != nil {
		return err
	}
	var state string
	var leased bool
	err = db.pool.QueryRow(ctx, `WITH cur AS (
  SELECT id, state, locked_by IS NOT NULL AND next_attempt_at > $3::timestamptz AS leased
  FROM kapok_events.event_log WHERE tenant = $1::text AND id = $2::uuid FOR UPDATE
), upd AS (
  UPDATE kapok_events.event_log e SET state = 'pending', tries = 0, next_attempt_at = '-infinity', locked_by = NULL
  FROM cur WHERE e.id = cur.id AND NOT cur.leased
)
SELECT state, leased FROM cur`, t.Name, id, s.clock.Now()).Scan(&state, &leased)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: event %q", ErrNotFound, id)
	}
	if err != nil {
		return err
	}
	if leased {
		return fmt.Errorf("%w: event %s is being delivered right now", control.ErrConflict, id)
	}
	s.notify()
	return nil
}

// Forget deletes everything of a tenant that stopped being served (deleted): its trigger
// and cron definitions, events and attempts, in every database this process knows, so a
// tenant created later under the same name starts with none.
func (s *Service) Forget(ctx context.Context, tenant string) error {
	s.mu.Lock()
	var dbs []*database
	for url, db := range s.dbs {
		if s.installed[url] {
			dbs = append(dbs, db)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, db := range dbs {
		_, err := db.pool.Exec(ctx, `WITH a AS (DELETE FROM kapok_events.attempts WHERE tenant = $1::text),
  e AS (DELETE FROM kapok_events.event_log WHERE tenant = $1::text),
  c AS (DELETE FROM kapok_events.cron_triggers WHERE tenant = $1::text)
DELETE FROM kapok_events.triggers WHERE tenant = $1::text`, tenant)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Counts are how many of a tenant's events are in each state.
type Counts struct {
	Pending   int64 `json:"pending"`
	Delivered int64 `json:"delivered"`
	Dead      int64 `json:"dead"`
}

// Count counts the tenant's events by state.
func (s *Service) Count(ctx context.Context, t *control.Tenant) (*Counts, error) {
	db, err := s.ready(ctx, t)
	if err != nil {
		return nil, err
	}
	c := &Counts{}
	err = db.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'delivered'),
  count(*) FILTER (WHERE state = 'dead') FROM kapok_events.event_log WHERE tenant = $1::text`, t.Name).Scan(&c.Pending, &c.Delivered, &c.Dead)
	return c, err
}
