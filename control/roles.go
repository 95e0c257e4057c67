package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Isolation modes of a tenant (TenantConfig.Isolation).
//
// Whatever the mode, a request that names a role (JWT claim or x-hasura-default-role,
// X-Hasura-Role, an API key's role, the anonymous role) runs as that role only if it is one
// of the tenant's usable roles (LoadRequestRoles): a role granted to the tenant's role (to the
// pool's login role under IsolationNone) that is not reserved (IsReservedRole) and can never
// become a superuser, bypass row-level security, create roles or act as a predefined pg_* or
// another Kapok tenant role. Anything else, existing or not, is refused the same way.
const (
	// IsolationRole runs every request of the tenant that has no role of its own (admin
	// key, open tenants) as the tenant's Postgres role, which holds privileges on the
	// tenant's schemas only: a statement naming another tenant's table fails in Postgres
	// even if the compiler were ever made to write it. Requests with a JWT or API-key role
	// run as that role, one of the tenant's own roles, whose grants are the tenant's
	// business (grant them USAGE and table privileges on the tenant's schemas only, and
	// grant the role itself to the tenant's role: GRANT app_user TO "kapok_t_<tenant>";
	// EnsureTenantRole does it for the configured anonymous and API-key roles).
	IsolationRole = "role"
	// IsolationNone runs such requests as the pool's login role. It is the default for
	// database-mode tenants, which the database boundary already isolates, and for
	// `kapok serve --upstream`. A login role that is a superuser, or may become one, is never
	// used for requests: the tenant is then served as under IsolationRole (see
	// NeedsTenantRole), its role created by that superuser.
	IsolationNone = "none"
	// IsolationLogin is IsolationRole without the per-request SET ROLE: the tenant's pool
	// logs in as the tenant's role itself (which then has LOGIN), so requests without a role
	// of their own are sent bare, on the fastest path. It needs a pooler that lets the role
	// log in (the dev stack's PgBouncer trusts its local roles). JWT and API-key roles must be
	// granted to the tenant's role, as under IsolationRole.
	IsolationLogin = "login"
)

// OwnRole is the role the tenant's requests without a role of their own run as when they
// do not run as the login: the configured Role, else TenantRole.
func (t *TenantConfig) OwnRole() string {
	if t.Role != "" {
		return t.Role
	}
	return TenantRole(t.Name)
}

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

// IsReservedRole reports whether role may never be taken from a credential (JWT claim, API
// key, X-Hasura-Role), whatever is granted: Kapok's tenant roles, Postgres's predefined
// pg_* roles, and the words that set_config('role', …) or SQL read as something other than
// a role name ("none" is RESET ROLE: the request would run as the pool's login role). The
// words are matched in any case, as SQL would after case folding.
func IsReservedRole(role string) bool {
	if role == "" || hasPrefixFold(role, tenantRolePrefix) || hasPrefixFold(role, "pg_") {
		return true
	}
	for _, w := range [...]string{"none", "default", "public", "current_user", "session_user", "current_role"} {
		if strings.EqualFold(role, w) {
			return true
		}
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// reachesPastTenant is true for a pg_roles row x that no request role may be, or be a
// member of (a member can SET ROLE to it, from an RPC function for instance): a superuser,
// a role that bypasses row-level security or creates roles (and so can grant itself any
// other), Postgres's predefined roles (reading every table, server files, signalling other
// tenants' backends) and Kapok's tenant roles (another tenant's, or the tenant's own, which
// bypasses its row-level security).
const reachesPastTenant = `(x.rolsuper OR x.rolbypassrls OR x.rolcreaterole OR x.rolname LIKE 'pg\_%' OR x.rolname LIKE 'kapok\_t\_%')`

// RoleQuerier reads: *pgx.Conn, *pgxpool.Pool and pgx.Tx have it.
type RoleQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// NeedsTenantRole reports whether the tenant's requests must run as its own role
// (OwnRole): always under IsolationRole and IsolationLogin or with a configured Role, and
// under IsolationNone when the pool's login role is a superuser or a member of one, which
// no request may run as.
func NeedsTenantRole(ctx context.Context, db RoleQuerier, tc *TenantConfig, login string) (bool, error) {
	if tc.UsesTenantRole() || tc.Role != "" {
		return true, nil
	}
	rows, err := db.Query(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles l, pg_catalog.pg_roles x
WHERE l.rolname = $1::text AND x.rolsuper AND pg_catalog.pg_has_role(l.oid, x.oid, 'MEMBER'))`, login)
	if err != nil {
		return true, fmt.Errorf("login role %s: %w", login, err)
	}
	super, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[bool])
	if err != nil {
		return true, fmt.Errorf("login role %s: %w", login, err)
	}
	return super, nil
}

// RequestRoles is what a tenant's requests may run as.
type RequestRoles struct {
	// Default is the role of requests without one of their own (admin key, open tenants):
	// the tenant's role, or "" for the pool's login role (IsolationLogin, where the login is
	// the tenant's role, and IsolationNone with an unprivileged login).
	Default string
	// Usable are the roles a credential may name.
	Usable map[string]struct{}
}

// LoadRequestRoles reads the tenant's RequestRoles. login is the pool's login role under
// IsolationRole and IsolationNone (the upstream's own role under IsolationLogin); it is
// never usable. Call it after EnsureTenantRole, which grants the configured roles.
//
// Usable roles are those granted, directly or through other roles, to the tenant's role
// (to login under IsolationNone when login is not privileged), minus reserved names and
// any role that is, or is a member of, a role reachesPastTenant describes. A role that does
// not exist is simply not in the set.
func LoadRequestRoles(ctx context.Context, db RoleQuerier, tc *TenantConfig, login string) (*RequestRoles, error) {
	need, err := NeedsTenantRole(ctx, db, tc, login)
	if err != nil {
		return nil, err
	}
	rr := &RequestRoles{Usable: map[string]struct{}{}}
	base := login
	if tc.Role != "" {
		if err := CheckOwnRole(ctx, db, tc.Role); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", tc.Name, err)
		}
	}
	if need {
		base = tc.OwnRole()
		if tc.Isolation != IsolationLogin {
			rr.Default = base
		}
	}
	// A superuser base would be a member of every role: it makes nothing usable.
	rows, err := db.Query(ctx, `SELECT r.rolname::text
FROM pg_catalog.pg_roles b
JOIN pg_catalog.pg_roles r ON r.oid <> b.oid AND pg_catalog.pg_has_role(b.oid, r.oid, 'MEMBER')
WHERE b.rolname = $1::text AND NOT b.rolsuper
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles x
    WHERE `+reachesPastTenant+` AND pg_catalog.pg_has_role(r.oid, x.oid, 'MEMBER'))`, base)
	if err != nil {
		return nil, fmt.Errorf("roles of %s: %w", base, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("roles of %s: %w", base, err)
	}
	for _, n := range names {
		if !IsReservedRole(n) && n != login {
			rr.Usable[n] = struct{}{}
		}
	}
	return rr, nil
}

// CheckOwnRole verifies that role, named by a tenant's configuration (TenantConfig.Role),
// exists and reaches no further than a tenant role may: not a superuser, nor able to bypass
// row-level security or create roles, nor a member of such a role, a predefined pg_* role
// or a Kapok tenant role.
func CheckOwnRole(ctx context.Context, db RoleQuerier, role string) error {
	rows, err := db.Query(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1::text),
  EXISTS (SELECT 1 FROM pg_catalog.pg_roles r, pg_catalog.pg_roles x
    WHERE r.rolname = $1::text AND `+reachesPastTenant+` AND pg_catalog.pg_has_role(r.oid, x.oid, 'MEMBER'))`, role)
	if err != nil {
		return fmt.Errorf("role %s: %w", role, err)
	}
	type check struct{ Exists, Past bool }
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[check])
	switch {
	case err != nil:
		return fmt.Errorf("role %s: %w", role, err)
	case !c.Exists:
		return fmt.Errorf("role %q does not exist; Kapok does not create a configured role", role)
	case c.Past:
		return fmt.Errorf("role %q may not run requests: it is, or is a member of, a superuser, a role that bypasses row-level security or creates roles, a pg_* role or a Kapok tenant role", role)
	}
	return nil
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
// The tenant's configured anonymous, authenticated and API-key roles are granted to the
// tenant's role, so they are usable (LoadRequestRoles) and, under IsolationLogin, the pool
// can SET them. Roles that do not exist yet, reserved names and roles that reach past the
// tenant (reachesPastTenant, which includes any member of the tenant's role) are skipped: a
// tenant's configuration cannot make its role a member of a superuser.
//
// The role gets BYPASSRLS when the connected role may give it (a superuser): it stands for
// the tenant itself, as the admin key does, while JWT roles stay subject to the tenant's
// row-level security policies. Nothing is granted outside the tenant's schemas.
//
// It is one statement (one round trip, one transaction) under an advisory lock on the
// role, so replicas starting together do not race on the same catalog rows; it is safe to
// call on every schema change.
func EnsureTenantRole(ctx context.Context, db RoleExecer, tc *TenantConfig, member string) (string, error) {
	if tc.Role != "" {
		// The owner's role: its grants are the owner's business.
		return tc.Role, nil
	}
	role := TenantRole(tc.Name)
	var grantees []string
	if tc.Auth != nil {
		for _, r := range []string{tc.Auth.AnonRole, tc.Auth.AuthenticatedRole} {
			if !IsReservedRole(r) {
				grantees = append(grantees, r)
			}
		}
		for _, r := range tc.Auth.APIKeys {
			if !IsReservedRole(r) {
				grantees = append(grantees, r)
			}
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
  nsp oid;
BEGIN
  -- The GRANTs below name no schema: their DDL notification names the tenant's (see
  -- installTriggerSQL), so other tenants are not reloaded.
  PERFORM set_config('kapok.ddl_schemas', ` + scriptLiteral(strings.Join(schemas, ",")) + `, true);
  PERFORM pg_advisory_xact_lock(hashtext('kapok tenant role ' || r));
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
    BEGIN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT BYPASSRLS', r);
      EXCEPTION WHEN insufficient_privilege THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
      END;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      -- Created meanwhile by this script in another database (a database tenant's own and
      -- the control database): roles are the cluster's, advisory locks each database's.
      NULL;
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
    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_roles x WHERE ` + reachesPastTenant + ` AND pg_has_role(s, x.oid, 'MEMBER'));
    IF NOT pg_has_role(r, s, 'MEMBER') THEN
      EXECUTE format('GRANT %I TO %I', s, r);
    END IF;
  END LOOP;
  -- Only what is missing is granted: every GRANT is DDL that makes every replica reload
  -- the tenant, and a tenant loads (first request, wake-up, replica start) far more often
  -- than its grants change.
  -- Each check compares the namespace's OID first (the cheapest qual runs first), so
  -- ACLs are exploded for this schema's objects only, not for the whole catalog's.
  FOREACH s IN ARRAY ARRAY[` + strings.Join(lits, ", ") + `]::text[] LOOP
    nsp := (SELECT oid FROM pg_namespace WHERE nspname = s);
    CONTINUE WHEN nsp IS NULL;
    IF NOT EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a
                   WHERE n.oid = nsp AND a.grantee = r::regrole AND a.privilege_type = 'USAGE') THEN
      EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, r);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class c
               WHERE c.relnamespace = nsp AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
                 AND (SELECT count(DISTINCT a.privilege_type) FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
                      WHERE a.grantee = r::regrole AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')) < 4) THEN
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', s, r);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class c
               WHERE c.relnamespace = nsp AND c.relkind = 'S'
                 AND (SELECT count(DISTINCT a.privilege_type) FROM aclexplode(coalesce(c.relacl, acldefault('s', c.relowner))) a
                      WHERE a.grantee = r::regrole AND a.privilege_type IN ('USAGE', 'SELECT')) < 2) THEN
      EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', s, r);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_proc p
               WHERE p.pronamespace = nsp AND p.prokind IN ('f', 'a', 'w')
                 AND NOT EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                                 WHERE a.grantee = r::regrole AND a.privilege_type = 'EXECUTE')) THEN
      EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO %I', s, r);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_default_acl d
                   WHERE d.defaclnamespace = nsp AND d.defaclrole = current_user::regrole AND d.defaclobjtype = 'r'
                     AND (SELECT count(DISTINCT a.privilege_type) FROM aclexplode(d.defaclacl) a
                          WHERE a.grantee = r::regrole AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')) = 4) THEN
      EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', s, r);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_default_acl d
                   WHERE d.defaclnamespace = nsp AND d.defaclrole = current_user::regrole AND d.defaclobjtype = 'S'
                     AND (SELECT count(DISTINCT a.privilege_type) FROM aclexplode(d.defaclacl) a
                          WHERE a.grantee = r::regrole AND a.privilege_type IN ('USAGE', 'SELECT')) = 2) THEN
      EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO %I', s, r);
    END IF;
  END LOOP;
END
` + tag, nil
}

// scriptLiteral quotes s as an SQL string literal (standard_conforming_strings is on
// since PostgreSQL 9.1, so only quotes need doubling).
func scriptLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ConcurrentCatalogUpdate reports an error of concurrent catalog changes (two tenants' or
// replicas' GRANTs on one object, a role dropped while another grants it) that running the
// same idempotent statements again resolves: "tuple concurrently updated", a deadlock, a
// serialization failure.
func ConcurrentCatalogUpdate(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "40P01" || pe.Code == "40001" || pe.Code == "XX000" && strings.Contains(pe.Message, "concurrently updated")
}

// AuthSchema is the schema of the tenant's Kapok Auth store (users, sessions, tokens:
// package auth): "auth" in a database-mode tenant's own database, as on Supabase, and
// kapok_auth_<tenant> in a shared database, where each tenant has its own. Tenant schemas
// may not start with "kapok" (CreateTenant), so no tenant's API can name it.
func AuthSchema(tc *TenantConfig) string {
	if tc.Mode == "database" {
		return "auth"
	}
	const prefix, maxIdent = "kapok_auth_", 63
	name := strings.ReplaceAll(tc.Name, "-", "_")
	if len(prefix)+len(name) <= maxIdent {
		return prefix + name
	}
	h := sha256.Sum256([]byte(tc.Name))
	keep := maxIdent - len(prefix) - 1 - 12
	return prefix + name[:keep] + "_" + hex.EncodeToString(h[:6])
}
