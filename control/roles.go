package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Isolation modes of a tenant (TenantConfig.Isolation).
const (
	// IsolationRole runs every request of the tenant that has no role of its own (admin
	// key, open tenants) as the tenant's Postgres role, which holds privileges on the
	// tenant's schemas only: a statement naming another tenant's table fails in Postgres
	// even if the compiler were ever made to write it. Requests with a JWT or API-key role
	// run as that role, one of the tenant's own roles, whose grants are the tenant's
	// business (grant them USAGE and table privileges on the tenant's schemas only).
	IsolationRole = "role"
	// IsolationNone runs such requests as the pool's login role. It is the default for
	// database-mode tenants, which the database boundary already isolates.
	IsolationNone = "none"
	// IsolationLogin is IsolationRole without the per-request SET ROLE: the tenant's pool
	// logs in as the tenant's role itself (which then has LOGIN), so requests without a role
	// of their own are sent bare, on the fastest path. It needs a pooler that lets the role
	// log in (the dev stack's PgBouncer trusts its local roles). JWT and API-key roles must be
	// granted to the tenant's role (EnsureTenantRole grants the configured anon and API-key
	// roles when they exist).
	IsolationLogin = "login"
)

// UsesTenantRole reports whether requests of the tenant run as its own Postgres role.
func (t *TenantConfig) UsesTenantRole() bool {
	return t.Isolation == IsolationRole || t.Isolation == IsolationLogin
}

func normalizeIsolation(t *TenantConfig) error {
	switch t.Isolation {
	case "":
		t.Isolation = IsolationNone
		if t.Mode == "schema" {
			t.Isolation = IsolationRole
		}
	case IsolationRole, IsolationNone, IsolationLogin:
	default:
		return fmt.Errorf("tenant %q: isolation %q is not role, login or none", t.Name, t.Isolation)
	}
	return nil
}

// tenantRolePrefix starts every role Kapok creates for a tenant. JWT and API-key roles
// with this prefix are refused, so a token cannot pick another tenant's role.
const tenantRolePrefix = "kapok_t_"

// TenantRole is the name of the Postgres role tenant runs as under IsolationRole. Tenant
// names are DNS labels (up to 63 bytes) and Postgres truncates identifiers at 63 bytes, so
// long names keep a prefix and a hash of the whole name to stay distinct.
func TenantRole(tenant string) string {
	const maxIdent = 63
	if len(tenantRolePrefix)+len(tenant) <= maxIdent {
		return tenantRolePrefix + tenant
	}
	h := sha256.Sum256([]byte(tenant))
	keep := maxIdent - len(tenantRolePrefix) - 1 - 12
	return tenantRolePrefix + tenant[:keep] + "_" + hex.EncodeToString(h[:6])
}

// IsReservedRole reports whether role may not be taken from a credential (JWT claim, API
// key, x-hasura-role): Kapok's tenant roles and Postgres's predefined pg_* roles.
func IsReservedRole(role string) bool {
	return strings.HasPrefix(role, tenantRolePrefix) || strings.HasPrefix(role, "pg_")
}

// RoleExecer runs SQL: *pgx.Conn, *pgxpool.Pool (a PgBouncer in transaction mode is
// fine) and pgx.Tx have it.
type RoleExecer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// EnsureTenantRole creates, idempotently, the tenant's login-less role (TenantRole) and
// grants it what serving the tenant takes: USAGE on each of its schemas; SELECT, INSERT,
// UPDATE, DELETE on their tables and views; USAGE and SELECT on their sequences (serial
// defaults); EXECUTE on their functions; the same by default for objects created later by
// the connected role. member (the pool's login role) is made a member, so it can SET ROLE.
// Schemas that do not exist yet are skipped; call again when they appear.
//
// The role gets BYPASSRLS when the connected role may give it (a superuser): it stands for
// the tenant itself, as the admin key does, while JWT roles stay subject to the tenant's
// row-level security policies. Nothing is granted outside the tenant's schemas.
//
// It is one statement (one round trip, one transaction) under an advisory lock on the
// role, so replicas starting together do not race on the same catalog rows; it is safe to
// call on every schema change.
func EnsureTenantRole(ctx context.Context, db RoleExecer, tc *TenantConfig, member string) (string, error) {
	role := TenantRole(tc.Name)
	var grantees []string
	if tc.Isolation == IsolationLogin && tc.Auth != nil {
		// The pool is the tenant's role: it must be able to SET ROLE to the tenant's
		// configured API roles.
		if tc.Auth.AnonRole != "" {
			grantees = append(grantees, tc.Auth.AnonRole)
		}
		for _, r := range tc.Auth.APIKeys {
			grantees = append(grantees, r)
		}
	}
	script, err := tenantRoleScript(role, member, tc.Isolation == IsolationLogin, grantees, tc.Schemas)
	if err != nil {
		return role, err
	}
	if _, err := db.Exec(ctx, script); err != nil {
		return role, fmt.Errorf("tenant role %s: %w", role, err)
	}
	return role, nil
}

// tenantRoleScript is a DO block: its names are embedded as quoted literals (a DO block
// takes no parameters) and quoted again as identifiers by format('%I').
func tenantRoleScript(role, member string, login bool, apiRoles, schemas []string) (string, error) {
	const tag = "$kapok_role$"
	lits := make([]string, len(schemas))
	for i, s := range schemas {
		lits[i] = scriptLiteral(s)
	}
	apiLits := make([]string, len(apiRoles))
	for i, r := range apiRoles {
		apiLits[i] = scriptLiteral(r)
	}
	loginLit := "false"
	if login {
		loginLit = "true"
	}
	for _, v := range append(append([]string{role, member}, apiRoles...), schemas...) {
		if strings.Contains(v, tag) {
			return "", fmt.Errorf("tenant role %s: name %q cannot be used", role, v)
		}
	}
	return "DO " + tag + `
DECLARE
  r text := ` + scriptLiteral(role) + `;
  m text := ` + scriptLiteral(member) + `;
  login bool := ` + loginLit + `;
  s text;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('kapok tenant role ' || r));
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
    BEGIN
      EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT BYPASSRLS', r);
    EXCEPTION WHEN insufficient_privilege THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
    END;
  END IF;
  IF login AND NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = r) THEN
    EXECUTE format('ALTER ROLE %I LOGIN', r);
  END IF;
  IF m <> '' AND m <> r AND NOT pg_has_role(m, r, 'MEMBER') THEN
    EXECUTE format('GRANT %I TO %I', r, m);
  END IF;
  FOREACH s IN ARRAY ARRAY[` + strings.Join(append(apiLits, "NULL"), ", ") + `]::text[] LOOP
    CONTINUE WHEN s IS NULL OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = s);
    IF NOT pg_has_role(r, s, 'MEMBER') THEN
      EXECUTE format('GRANT %I TO %I', s, r);
    END IF;
  END LOOP;
  FOREACH s IN ARRAY ARRAY[` + strings.Join(lits, ", ") + `]::text[] LOOP
    CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = s);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, r);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', s, r);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', s, r);
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO %I', s, r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', s, r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO %I', s, r);
  END LOOP;
END
` + tag, nil
}

// scriptLiteral quotes s as an SQL string literal (standard_conforming_strings is on
// since PostgreSQL 9.1, so only quotes need doubling).
func scriptLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
