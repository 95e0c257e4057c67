package events

// installSQL creates schema kapok_events in a tenant database, idempotently, under an
// advisory lock so that replicas installing together do not race.
const installSQL = `
DO $install$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('kapok_events.install'));
  CREATE SCHEMA IF NOT EXISTS kapok_events;
  REVOKE ALL ON SCHEMA kapok_events FROM PUBLIC;
  IF to_regclass('kapok_events.triggers') IS NULL THEN
    CREATE TABLE kapok_events.triggers (
      tenant      text NOT NULL,
      name        text NOT NULL,
      schema_name text NOT NULL,
      table_name  text NOT NULL,
      definition  jsonb NOT NULL,
      paused      boolean NOT NULL DEFAULT false,
      created_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant, name)
    );
  END IF;
  IF to_regclass('kapok_events.cron_triggers') IS NULL THEN
    CREATE TABLE kapok_events.cron_triggers (
      tenant          text NOT NULL,
      name            text NOT NULL,
      schedule        text NOT NULL,
      definition      jsonb NOT NULL,
      paused          boolean NOT NULL DEFAULT false,
      scheduled_until timestamptz NOT NULL,
      created_at      timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant, name)
    );
  END IF;
  IF to_regclass('kapok_events.event_log') IS NULL THEN
    CREATE TABLE kapok_events.event_log (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      seq               bigserial NOT NULL,
      tenant            text NOT NULL,
      kind              text NOT NULL DEFAULT 'trigger' CHECK (kind IN ('trigger', 'scheduled', 'cron')),
      trigger_name      text NOT NULL DEFAULT '',
      schema_name       text NOT NULL DEFAULT '',
      table_name        text NOT NULL DEFAULT '',
      op                text NOT NULL DEFAULT '',
      row_key           text, -- the row's primary key values, for triggers that deliver in order per row
      data              jsonb,
      session_variables jsonb,
      definition        jsonb,
      scheduled_at      timestamptz,
      state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
      tries             int NOT NULL DEFAULT 0,
      next_attempt_at   timestamptz NOT NULL DEFAULT '-infinity',
      locked_by         text,
      last_status       int,
      last_error        text,
      created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
      delivered_at      timestamptz
    );
    CREATE INDEX event_log_due ON kapok_events.event_log (next_attempt_at) WHERE state = 'pending';
    CREATE INDEX event_log_tenant ON kapok_events.event_log (tenant, state, created_at);
    -- Counts for /metrics read only the events not yet delivered.
    CREATE INDEX event_log_undelivered ON kapok_events.event_log (tenant, state) WHERE state <> 'delivered';
    CREATE INDEX event_log_row ON kapok_events.event_log (tenant, trigger_name, row_key, seq) WHERE state = 'pending' AND row_key IS NOT NULL;
    CREATE UNIQUE INDEX event_log_cron_tick ON kapok_events.event_log (tenant, trigger_name, scheduled_at) WHERE kind = 'cron';
  END IF;
  IF to_regclass('kapok_events.attempts') IS NULL THEN
    CREATE TABLE kapok_events.attempts (
      id            bigserial PRIMARY KEY,
      event_id      uuid NOT NULL,
      tenant        text NOT NULL,
      try           int NOT NULL,
      worker        text NOT NULL,
      started_at    timestamptz NOT NULL,
      duration_ms   double precision NOT NULL,
      request       text NOT NULL, -- exactly as sent: {"url","headers","body"}
      status        int,
      response_body text,
      error         text
    );
    CREATE INDEX attempts_event ON kapok_events.attempts (event_id, id);
  END IF;
END
$install$;

-- Runs as its owner (Kapok's login role): the tenant's role, which fires it, has no
-- privilege on kapok_events. The role and claims are the request's, as the proxy set them
-- with set_config(…, true) for this transaction. Arguments: tenant, trigger name, then the
-- primary key's columns when the trigger delivers in order per row.
CREATE OR REPLACE FUNCTION kapok_events.capture() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r      text := nullif(nullif(current_setting('role', true), ''), 'none');
  raw    text := nullif(current_setting('request.jwt.claims', true), '');
  claims jsonb;
  vars   jsonb;
  newj   jsonb;
  oldj   jsonb;
  rowkey text;
BEGIN
  IF TG_OP <> 'DELETE' THEN newj := to_jsonb(NEW); END IF;
  IF TG_OP <> 'INSERT' THEN oldj := to_jsonb(OLD); END IF;
  IF raw IS NOT NULL THEN
    claims := raw::jsonb;
  END IF;
  vars := jsonb_strip_nulls(jsonb_build_object('x-hasura-role', r, 'x-hasura-user-id', claims->>'sub'));
  IF jsonb_typeof(claims->'https://hasura.io/jwt/claims') = 'object' THEN
    vars := vars || (SELECT coalesce(jsonb_object_agg(lower(k), v), '{}') FROM jsonb_each(claims->'https://hasura.io/jwt/claims') AS c(k, v)
                     WHERE jsonb_typeof(v) IN ('string', 'number', 'boolean'));
  END IF;
  IF TG_NARGS > 2 THEN
    SELECT jsonb_agg(coalesce(newj, oldj)->k ORDER BY i)::text INTO rowkey
    FROM unnest(TG_ARGV[2:TG_NARGS - 1]) WITH ORDINALITY AS u(k, i);
  END IF;
  INSERT INTO kapok_events.event_log (tenant, trigger_name, schema_name, table_name, op, row_key, data, session_variables)
  VALUES (TG_ARGV[0], TG_ARGV[1], TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP, rowkey,
          jsonb_build_object('old', oldj, 'new', newj), vars);
  PERFORM pg_notify('kapok_events', TG_ARGV[0]);
  RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION kapok_events.capture() FROM PUBLIC;
`

// notifyChannel wakes dispatchers listening on the database when an event is written.
const notifyChannel = "kapok_events"
