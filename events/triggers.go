package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kapok-dev/kapok/control"
)

// Trigger is an event trigger as the admin API shows it (secret masked).
type Trigger struct {
	Tenant    string     `json:"tenant"`
	Def       TriggerDef `json:"definition"`
	Paused    bool       `json:"paused"`
	CreatedAt time.Time  `json:"created_at"`
}

var opSuffix = map[string]string{"INSERT": "ins", "UPDATE": "upd", "DELETE": "del"}

// pgTriggerName is the Postgres trigger on the tenant's table for one operation.
func pgTriggerName(name, op string) string { return "kapok_ev_" + name + "_" + opSuffix[op] }

// CreateTrigger installs an event trigger on one of the tenant's tables. The Postgres
// triggers and the definition are written in one transaction.
func (s *Service) CreateTrigger(ctx context.Context, t *control.Tenant, def *TriggerDef) (*Trigger, error) {
	replace := def.Replace
	if err := def.normalize(t); err != nil {
		return nil, err
	}
	db, err := s.ready(ctx, t)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	out := &Trigger{Tenant: t.Name, Def: *def}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		pk, err := checkTable(ctx, tx, def)
		if err != nil {
			return err
		}
		if def.Ordered && len(pk) == 0 {
			return invalid("ordered delivery needs a primary key on %s.%s", def.Table.Schema, def.Table.Name)
		}
		if !def.Ordered {
			pk = nil
		}
		// Serialises creations of the same name by concurrent admin calls.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1::text))", "kapok_events.trigger:"+t.Name+":"+def.Name); err != nil {
			return err
		}
		var old TableRef
		err = tx.QueryRow(ctx, `SELECT schema_name, table_name FROM kapok_events.triggers WHERE tenant = $1::text AND name = $2::text`,
			t.Name, def.Name).Scan(&old.Schema, &old.Name)
		switch {
		case err == nil && !replace:
			return fmt.Errorf("%w: event trigger %q already exists (set replace to redefine it)", ErrExists, def.Name)
		case err == nil:
			if err := dropPgTriggers(ctx, tx, def.Name, old); err != nil {
				return err
			}
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		for _, op := range []string{"INSERT", "UPDATE", "DELETE"} {
			spec := map[string]*OpSpec{"INSERT": def.Insert, "UPDATE": def.Update, "DELETE": def.Delete}[op]
			if spec == nil {
				continue
			}
			if _, err := tx.Exec(ctx, createPgTriggerSQL(t.Name, def, op, spec, pk)); err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, `INSERT INTO kapok_events.triggers (tenant, name, schema_name, table_name, definition)
  VALUES ($1::text, $2::text, $3::text, $4::text, $5::text::jsonb)
  ON CONFLICT (tenant, name) DO UPDATE SET schema_name = EXCLUDED.schema_name, table_name = EXCLUDED.table_name,
    definition = EXCLUDED.definition
  RETURNING paused, created_at`, t.Name, def.Name, def.Table.Schema, def.Table.Name, string(body)).Scan(&out.Paused, &out.CreatedAt)
	})
	if err != nil {
		return nil, mapPgError(err)
	}
	out.Def.Delivery = out.Def.Delivery.masked()
	return out, nil
}

// checkTable verifies the table (and the UPDATE columns) exist, and returns its primary
// key's columns.
func checkTable(ctx context.Context, tx pgx.Tx, def *TriggerDef) ([]string, error) {
	var cols, pk []string
	err := tx.QueryRow(ctx, `SELECT array(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
    array(SELECT a.attname::text FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.ord)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1::text AND c.relname = $2::text AND c.relkind IN ('r', 'p')`, def.Table.Schema, def.Table.Name).Scan(&cols, &pk)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, invalid("table %s.%s does not exist", def.Table.Schema, def.Table.Name)
	}
	if err != nil {
		return nil, err
	}
	if def.Update != nil {
		for _, c := range def.Update.Columns {
			if !contains(cols, c) {
				return nil, invalid("update.columns: table %s.%s has no column %q", def.Table.Schema, def.Table.Name, c)
			}
		}
	}
	return pk, nil
}

// createPgTriggerSQL is the CREATE TRIGGER of one operation. Identifiers are quoted and
// were checked against the catalog; the tenant and trigger names travel as trigger
// arguments, which are string literals.
func createPgTriggerSQL(tenant string, def *TriggerDef, op string, spec *OpSpec, pk []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TRIGGER %s AFTER %s ON %s FOR EACH ROW ", pgx.Identifier{pgTriggerName(def.Name, op)}.Sanitize(), op,
		pgx.Identifier{def.Table.Schema, def.Table.Name}.Sanitize())
	if op == "UPDATE" && len(spec.Columns) > 0 {
		conds := make([]string, len(spec.Columns))
		for i, c := range spec.Columns {
			q := pgx.Identifier{c}.Sanitize()
			conds[i] = "OLD." + q + " IS DISTINCT FROM NEW." + q
		}
		fmt.Fprintf(&b, "WHEN (%s) ", strings.Join(conds, " OR "))
	}
	args := []string{quoteLiteral(tenant), quoteLiteral(def.Name)}
	for _, c := range pk {
		args = append(args, quoteLiteral(c))
	}
	fmt.Fprintf(&b, "EXECUTE FUNCTION kapok_events.capture(%s)", strings.Join(args, ", "))
	return b.String()
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func dropPgTriggers(ctx context.Context, tx pgx.Tx, name string, table TableRef) error {
	for op := range opSuffix {
		// The table may be gone (dropped with its triggers): IF EXISTS covers the trigger,
		// not the table, so look first.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1::text AND c.relname = $2::text AND tg.tgname = $3::text)`,
			table.Schema, table.Name, pgTriggerName(name, op)).Scan(&exists); err != nil {
			return err
		}
		if exists {
			if _, err := tx.Exec(ctx, "DROP TRIGGER "+pgx.Identifier{pgTriggerName(name, op)}.Sanitize()+" ON "+
				pgx.Identifier{table.Schema, table.Name}.Sanitize()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Triggers lists the tenant's event triggers by name.
func (s *Service) Triggers(ctx context.Context, t *control.Tenant) ([]*Trigger, error) {
	return s.triggers(ctx, t, "")
}

// Trigger returns one event trigger.
func (s *Service) Trigger(ctx context.Context, t *control.Tenant, name string) (*Trigger, error) {
	list, err := s.triggers(ctx, t, name)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: event trigger %q", ErrNotFound, name)
	}
	return list[0], nil
}

func (s *Service) triggers(ctx context.Context, t *control.Tenant, name string) ([]*Trigger, error) {
	db, err := s.ready(ctx, t)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT definition::text, paused, created_at FROM kapok_events.triggers
  WHERE tenant = $1::text AND ($2::text = '' OR name = $2::text) ORDER BY name`, t.Name, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Trigger{}
	for rows.Next() {
		var def string
		tr := &Trigger{Tenant: t.Name}
		if err := rows.Scan(&def, &tr.Paused, &tr.CreatedAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(def), &tr.Def); err != nil {
			return nil, err
		}
		tr.Def.Delivery = tr.Def.Delivery.masked()
		out = append(out, tr)
	}
	return out, rows.Err()
}

// DropTrigger removes an event trigger and its pending events; delivered and dead events
// stay in the log.
func (s *Service) DropTrigger(ctx context.Context, t *control.Tenant, name string) error {
	db, err := s.ready(ctx, t)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var table TableRef
		err := tx.QueryRow(ctx, `DELETE FROM kapok_events.triggers WHERE tenant = $1::text AND name = $2::text RETURNING schema_name, table_name`,
			t.Name, name).Scan(&table.Schema, &table.Name)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: event trigger %q", ErrNotFound, name)
		}
		if err != nil {
			return err
		}
		if err := dropPgTriggers(ctx, tx, name, table); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM kapok_events.event_log WHERE tenant = $1::text AND kind = 'trigger' AND trigger_name = $2::text AND state = 'pending'`,
			t.Name, name)
		return err
	})
	return mapPgError(err)
}

// SetPaused pauses or resumes an event trigger. A paused trigger still records events;
// they wait, undelivered, until it resumes.
func (s *Service) SetPaused(ctx context.Context, t *control.Tenant, name string, paused bool) error {
	db, err := s.ready(ctx, t)
	if err != nil {
		return err
	}
	tag, err := db.pool.Exec(ctx, `UPDATE kapok_events.triggers SET paused = $3::boolean WHERE tenant = $1::text AND name = $2::text`,
		t.Name, name, paused)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: event trigger %q", ErrNotFound, name)
	}
	if !paused {
		s.notify()
	}
	return nil
}

// Invoke records a MANUAL event for one row of the trigger's table, found by the values
// of pk (column → value, compared as text), and returns its id.
func (s *Service) Invoke(ctx context.Context, t *control.Tenant, name string, pk map[string]any) (string, error) {
	tr, err := s.Trigger(ctx, t, name)
	if err != nil {
		return "", err
	}
	if !tr.Def.EnableManual {
		return "", fmt.Errorf("%w: manual invocation is disabled for event trigger %q (enable_manual)", control.ErrConflict, name)
	}
	if len(pk) == 0 {
		return "", invalid("pk must name the row: {\"pk\": {\"id\": 1}}")
	}
	db, err := s.ready(ctx, t)
	if err != nil {
		return "", err
	}
	var id string
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		cols := make([]string, 0, len(pk))
		for c := range pk {
			cols = append(cols, c)
		}
		var known []string
		if err := tx.QueryRow(ctx, `SELECT array(SELECT a.attname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1::text AND c.relname = $2::text AND a.attnum > 0 AND NOT a.attisdropped)`,
			tr.Def.Table.Schema, tr.Def.Table.Name).Scan(&known); err != nil {
			return err
		}
		where := make([]string, len(cols))
		args := make([]any, len(cols))
		for i, c := range cols {
			if !contains(known, c) {
				return invalid("table %s.%s has no column %q", tr.Def.Table.Schema, tr.Def.Table.Name, c)
			}
			where[i] = fmt.Sprintf("r.%s::text = $%d::text", pgx.Identifier{c}.Sanitize(), i+1)
			args[i] = pkText(pk[c])
		}
		rows, err := tx.Query(ctx, "SELECT to_jsonb(r)::text FROM "+pgx.Identifier{tr.Def.Table.Schema, tr.Def.Table.Name}.Sanitize()+
			" r WHERE "+strings.Join(where, " AND ")+" LIMIT 2", args...)
		if err != nil {
			return err
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(found) != 1 {
			return invalid("pk matches %d rows of %s.%s; it must match exactly one", len(found), tr.Def.Table.Schema, tr.Def.Table.Name)
		}
		return tx.QueryRow(ctx, `INSERT INTO kapok_events.event_log (tenant, trigger_name, schema_name, table_name, op, data, session_variables)
  VALUES ($1::text, $2::text, $3::text, $4::text, 'MANUAL', jsonb_build_object('old', null, 'new', $5::text::jsonb), '{"x-hasura-role":"admin"}')
  RETURNING id::text`, t.Name, name, tr.Def.Table.Schema, tr.Def.Table.Name, found[0]).Scan(&id)
	})
	if err != nil {
		return "", mapPgError(err)
	}
	s.notify()
	return id, nil
}

// mapPgError turns Postgres refusals caused by the request into ErrInvalid.
func mapPgError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "22", "42":
			return fmt.Errorf("%w: %s", control.ErrInvalid, pe.Message)
		}
	}
	return err
}

// pkText is a key value as Postgres prints it, for comparison as text: JSON numbers arrive
// as float64, which fmt would print in exponent form past six digits.
func pkText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
