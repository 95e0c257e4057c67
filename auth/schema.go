package auth

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// storeSQL creates a tenant's auth store in schema @S@ (replaced by the quoted store
// schema, control.AuthSchema). It is idempotent and runs as one simple-protocol round trip
// (one transaction), after an advisory lock on the schema's name, once per process and
// store. Tenants' roles get no privilege on it: Kapok's login owns it, and only this
// package reads it.
//
// Secrets are never stored as sent: refresh tokens and one-time tokens as SHA-256 hex,
// passwords as bcrypt, TOTP secrets as given to the authenticator (they must be read back
// to check a code).
const storeSQL = `
SELECT pg_advisory_xact_lock(hashtext('kapok auth store ' || '@L@'));
CREATE SCHEMA IF NOT EXISTS @S@;
REVOKE ALL ON SCHEMA @S@ FROM PUBLIC;
CREATE TABLE IF NOT EXISTS @S@.users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  aud text NOT NULL DEFAULT 'authenticated',
  role text NOT NULL DEFAULT 'authenticated',
  email text,                                -- lower-cased
  encrypted_password text,                   -- bcrypt; NULL for OAuth-only and passwordless users
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_sent_at timestamptz,
  recovery_sent_at timestamptz,
  email_change text,                         -- the new address waiting for confirmation
  email_change_sent_at timestamptz,
  reauthentication_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb NOT NULL DEFAULT '{}',
  raw_user_meta_data jsonb NOT NULL DEFAULT '{}',
  is_anonymous boolean NOT NULL DEFAULT false,
  banned_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON @S@.users (email) WHERE email IS NOT NULL;
CREATE TABLE IF NOT EXISTS @S@.identities (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES @S@.users ON DELETE CASCADE,
  provider text NOT NULL,                    -- email, google, github, <name of an OIDC provider>
  provider_id text NOT NULL,                 -- the provider's subject (the user id for email)
  identity_data jsonb NOT NULL DEFAULT '{}',
  email text,
  last_sign_in_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (provider, provider_id)
);
CREATE INDEX IF NOT EXISTS identities_user_idx ON @S@.identities (user_id);
CREATE TABLE IF NOT EXISTS @S@.sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES @S@.users ON DELETE CASCADE,
  aal text NOT NULL DEFAULT 'aal1',          -- aal1, aal2 once a factor was verified in it
  factor_id uuid,
  amr jsonb NOT NULL DEFAULT '[]',           -- [{"method":"password","timestamp":1700000000}, …]
  not_after timestamptz,                     -- session_timebox
  refreshed_at timestamptz,
  user_agent text,
  ip inet,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sessions_user_idx ON @S@.sessions (user_id);
CREATE TABLE IF NOT EXISTS @S@.refresh_tokens (
  id bigserial PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,           -- sha256 hex of the token handed out
  user_id uuid NOT NULL REFERENCES @S@.users ON DELETE CASCADE,
  session_id uuid NOT NULL REFERENCES @S@.sessions ON DELETE CASCADE,
  parent text,                               -- token_hash of the token this one replaced
  revoked boolean NOT NULL DEFAULT false,    -- set when rotated (or the session ends)
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS refresh_tokens_session_idx ON @S@.refresh_tokens (session_id);
CREATE TABLE IF NOT EXISTS @S@.one_time_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES @S@.users ON DELETE CASCADE,
  kind text NOT NULL,                        -- confirmation, invite, magiclink, recovery,
                                             -- email_change_new, email_change_current, reauthentication
  token_hash text NOT NULL UNIQUE,           -- hex sha224(email || code), as in the mail's link
  relates_to text NOT NULL,                  -- the address the code was sent to
  redirect_to text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS one_time_tokens_user_idx ON @S@.one_time_tokens (user_id, kind);
CREATE TABLE IF NOT EXISTS @S@.flow_state (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid REFERENCES @S@.users ON DELETE CASCADE,
  auth_code text NOT NULL UNIQUE,            -- sha256 hex of the code handed to the client
  code_challenge text NOT NULL,
  code_challenge_method text NOT NULL,       -- s256 or plain
  provider_type text NOT NULL,               -- email, magiclink, recovery, google, …
  authentication_method text NOT NULL,       -- the amr method of the session it will create
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS @S@.mfa_factors (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES @S@.users ON DELETE CASCADE,
  friendly_name text,
  factor_type text NOT NULL DEFAULT 'totp',
  status text NOT NULL DEFAULT 'unverified', -- unverified, verified
  secret text NOT NULL,
  last_challenged_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, friendly_name)
);
CREATE TABLE IF NOT EXISTS @S@.mfa_challenges (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  factor_id uuid NOT NULL REFERENCES @S@.mfa_factors ON DELETE CASCADE,
  ip inet,
  verified_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS @S@.mfa_used_codes (
  factor_id uuid NOT NULL REFERENCES @S@.mfa_factors ON DELETE CASCADE,
  step bigint NOT NULL,                      -- the TOTP time step a code was accepted for
  PRIMARY KEY (factor_id, step)
);
CREATE TABLE IF NOT EXISTS @S@.audit_log (
  id bigserial PRIMARY KEY,
  action text NOT NULL,                      -- signup, login, logout, token_refreshed, token_revoked, …
  actor_id uuid,
  actor_email text,
  ip inet,
  payload jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_log_created_idx ON @S@.audit_log (created_at);
`

// helpersSQL creates schema auth in the tenant's database with Supabase's helpers, which
// row-level security policies call: auth.uid(), auth.role(), auth.email() and auth.jwt()
// read the claims Kapok sets for every request (request.jwt.claims). They read only the
// caller's own settings, so one copy serves every tenant of a database; each is created
// only where missing, so a database that brought its own keeps it.
const helpersSQL = `
SELECT pg_advisory_xact_lock(hashtext('kapok auth helpers'));
CREATE SCHEMA IF NOT EXISTS auth;
GRANT USAGE ON SCHEMA auth TO PUBLIC;
DO $kapok_auth$
BEGIN
  IF to_regprocedure('auth.jwt()') IS NULL THEN
    CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
      $f$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $f$;
  END IF;
  IF to_regprocedure('auth.uid()') IS NULL THEN
    CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
      $f$ SELECT nullif(coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
            coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb ->> 'sub'), '')::uuid $f$;
  END IF;
  IF to_regprocedure('auth.role()') IS NULL THEN
    CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS
      $f$ SELECT nullif(coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
            coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb ->> 'role'), '') $f$;
  END IF;
  IF to_regprocedure('auth.email()') IS NULL THEN
    CREATE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS
      $f$ SELECT nullif(coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
            coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb ->> 'email'), '') $f$;
  END IF;
END
$kapok_auth$;
GRANT EXECUTE ON FUNCTION auth.jwt(), auth.uid(), auth.role(), auth.email() TO PUBLIC;
`

// storeScript returns storeSQL for the quoted schema qs (lock names the unquoted one).
func storeScript(qs, lock string) string {
	return strings.NewReplacer("@S@", qs, "@L@", strings.ReplaceAll(lock, "'", "''")).Replace(storeSQL)
}

// Execer runs SQL: *pgx.Conn, *pgxpool.Pool and pgx.Tx have it.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// InstallHelpers creates auth.uid(), auth.role(), auth.email() and auth.jwt() in db's
// database where missing (helpersSQL). The Service installs them for every tenant with
// auth.users; a script that writes policies before Kapok first serves the tenant (the dev
// stack's datasets) calls this first.
func InstallHelpers(ctx context.Context, db Execer) error {
	_, err := db.Exec(ctx, helpersSQL, pgx.QueryExecModeSimpleProtocol)
	return err
}
