package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kapok-dev/kapok/control"
)

// maxTicksPerRound bounds how many missed ticks of one cron trigger are scheduled at once
// (after downtime); the following rounds schedule the rest.
const maxTicksPerRound = 100

// CronTrigger is a cron trigger as the admin API shows it (secret masked).
type CronTrigger struct {
	Tenant         string    `json:"tenant"`
	Def            CronDef   `json:"definition"`
	Paused         bool      `json:"paused"`
	ScheduledUntil time.Time `json:"scheduled_until"`
	NextTick       time.Time `json:"next_tick"`
	CreatedAt      time.Time `json:"created_at"`
}

// CreateScheduledEvent records a one-off event due at def.ScheduleAt and returns its id.
func (s *Service) CreateScheduledEvent(ctx context.Context, t *control.Tenant, def *ScheduledDef) (string, error) {
	if def.ScheduleAt.IsZero() {
		return "", invalid("schedule_at is required (RFC 3339 time)")
	}
	if err := normalizePayload(&def.Payload); err != nil {
		return "", err
	}
	if err := def.Delivery.normalize(); err != nil {
		return "", err
	}
	db, err := s.ready(ctx, t)
	if err != nil {
		return "", err
	}
	var id string
	err = db.pool.QueryRow(ctx, `INSERT INTO kapok_events.event_log (tenant, kind, definition, scheduled_at, next_attempt_at)
  VALUES ($1::text, 'scheduled', $2::text::jsonb, $3::timestamptz, $3::timestamptz) RETURNING id::text`,
		t.Name, string(mustJSON(def)), def.ScheduleAt).Scan(&id)
	if err != nil {
		return "", mapPgError(err)
	}
	s.notify()
	return id, nil
}

// CreateCronTrigger starts a cron trigger; its first tick is the first after now.
func (s *Service) CreateCronTrigger(ctx context.Context, t *control.Tenant, def *CronDef) (*CronTrigger, error) {
	replace := def.Replace
	def.Replace = false
	if !nameRE.MatchString(def.Name) {
		return nil, invalid("cron trigger name %q: use 1 to 42 letters, digits, '_' or '-'", def.Name)
	}
	if _, err := ParseSchedule(def.Schedule); err != nil {
		return nil, invalid("%s", err)
	}
	if err := normalizePayload(&def.Payload); err != nil {
		return nil, err
	}
	if err := def.Delivery.normalize(); err != nil {
		return nil, err
	}
	db, err := s.ready(ctx, t)
	if err != nil {
		return nil, err
	}
	conflict := "DO NOTHING"
	if replace {
		conflict = "DO UPDATE SET schedule = EXCLUDED.schedule, definition = EXCLUDED.definition"
	}
	rows, err := db.pool.Query(ctx, `INSERT INTO kapok_events.cron_triggers (tenant, name, schedule, definition, scheduled_until)
  VALUES ($1::text, $2::text, $3::text, $4::text::jsonb, $5::timestamptz) ON CONFLICT (tenant, name) `+conflict+` RETURNING 1`,
		t.Name, def.Name, def.Schedule, string(mustJSON(def)), s.clock.Now())
	if err != nil {
		return nil, mapPgError(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, mapPgError(err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: cron trigger %q already exists (set replace to redefine it)", ErrExists, def.Name)
	}
	return s.CronTrigger(ctx, t, def.Name)
}

// CronTriggers lists the tenant's cron triggers by name.
func (s *Service) CronTriggers(ctx context.Context, t *control.Tenant) ([]*CronTrigger, error) {
	return s.cronTriggers(ctx, t, "")
}

// CronTrigger returns one cron trigger.
func (s *Service) CronTrigger(ctx context.Context, t *control.Tenant, name string) (*CronTrigger, error) {
	list, err := s.cronTriggers(ctx, t, name)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: cron trigger %q", ErrNotFound, name)
	}
	return list[0], nil
}

func (s *Service) cronTriggers(ctx context.Context, t *control.Tenant, name string) ([]*CronTrigger, error) {
	db, err := s.ready(ctx, t)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT definition::text, paused, scheduled_until, created_at FROM kapok_events.cron_triggers
  WHERE tenant = $1::text AND ($2::text = '' OR name = $2::text) ORDER BY name`, t.Name, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*CronTrigger{}
	for rows.Next() {
		var def string
		c := &CronTrigger{Tenant: t.Name}
		if err := rows.Scan(&def, &c.Paused, &c.ScheduledUntil, &c.CreatedAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(def), &c.Def); err != nil {
			return nil, err
		}
		c.Def.Delivery = c.Def.Delivery.masked()
		if sch, err := ParseSchedule(c.Def.Schedule); err == nil {
			c.NextTick = sch.Next(c.ScheduledUntil)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DropCronTrigger removes a cron trigger and its pending ticks.
func (s *Service) DropCronTrigger(ctx context.Context, t *control.Tenant, name string) error {
	db, err := s.ready(ctx, t)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM kapok_events.cron_triggers WHERE tenant = $1::text AND name = $2::text`, t.Name, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: cron trigger %q", ErrNotFound, name)
		}
		_, err = tx.Exec(ctx, `DELETE FROM kapok_events.event_log WHERE tenant = $1::text AND kind = 'cron' AND trigger_name = $2::text AND state = 'pending'`,
			t.Name, name)
		return err
	})
}

// SetCronPaused pauses or resumes a cron trigger. Ticks that fall while it is paused are
// skipped, not delivered late.
func (s *Service) SetCronPaused(ctx context.Context, t *control.Tenant, name string, paused bool) error {
	db, err := s.ready(ctx, t)
	if err != nil {
		return err
	}
	tag, err := db.pool.Exec(ctx, `UPDATE kapok_events.cron_triggers SET paused = $3::boolean,
  scheduled_until = CASE WHEN $3::boolean THEN scheduled_until ELSE greatest(scheduled_until, $4::timestamptz) END
  WHERE tenant = $1::text AND name = $2::text`, t.Name, name, paused, s.clock.Now())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: cron trigger %q", ErrNotFound, name)
	}
	return nil
}

// scheduleCron writes the ticks of g's cron triggers that are due by now as events. Two
// processes doing it at once write each tick once: ticks are unique per trigger, and
// scheduled_until only moves forward from the value read.
func (s *Service) scheduleCron(ctx context.Context, g *group) error {
	now := s.clock.Now()
	rows, err := g.db.pool.Query(ctx, `SELECT tenant, name, schedule, definition::text, scheduled_until FROM kapok_events.cron_triggers
  WHERE tenant = ANY($1::text[]) AND NOT paused AND scheduled_until < $2::timestamptz`, g.tenants, now)
	if err != nil {
		return err
	}
	type due struct {
		tenant, name, def string
		from              time.Time
		ticks             []time.Time
	}
	var list []*due
	for rows.Next() {
		d := &due{}
		var schedule string
		if err := rows.Scan(&d.tenant, &d.name, &schedule, &d.def, &d.from); err != nil {
			rows.Close()
			return err
		}
		sch, err := ParseSchedule(schedule)
		if err != nil {
			continue
		}
		for at := sch.Next(d.from); !at.IsZero() && !at.After(now) && len(d.ticks) < maxTicksPerRound; at = sch.Next(at) {
			d.ticks = append(d.ticks, at)
		}
		list = append(list, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var errs []error
	for _, d := range list {
		until := now
		if len(d.ticks) == maxTicksPerRound {
			until = d.ticks[len(d.ticks)-1]
		}
		if len(d.ticks) == 0 {
			// Nothing due yet: leave scheduled_until, so the next tick is found from it.
			continue
		}
		_, err := g.db.pool.Exec(ctx, `WITH adv AS (
  UPDATE kapok_events.cron_triggers SET scheduled_until = $5::timestamptz
  WHERE tenant = $1::text AND name = $2::text AND scheduled_until = $4::timestamptz RETURNING 1
)
INSERT INTO kapok_events.event_log (tenant, kind, trigger_name, definition, scheduled_at, next_attempt_at)
SELECT $1::text, 'cron', $2::text, $3::text::jsonb, x, x FROM unnest($6::timestamptz[]) x WHERE EXISTS (SELECT 1 FROM adv)
ON CONFLICT (tenant, trigger_name, scheduled_at) WHERE kind = 'cron' DO NOTHING`, d.tenant, d.name, d.def, d.from, until, d.ticks)
		if err != nil {
			errs = append(errs, fmt.Errorf("cron trigger %s/%s: %w", d.tenant, d.name, err))
		}
	}
	return errors.Join(errs...)
}
