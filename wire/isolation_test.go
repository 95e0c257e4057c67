package wire_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestTenantsStayApartOnTheWirePort serves tenants A and B from one Kapok and checks that
// A's credentials (SCRAM password, API key, JWT) open no session of B, that nothing A's
// sessions send takes them past A's role, and that what reaches PostgreSQL cannot read B's
// objects either.
func TestTenantsStayApartOnTheWirePort(t *testing.T) {
	a := newWireTenant(t, "wire-iso-a", "wire_iso_a", "")
	b := newWireTenant(t, "wire-iso-b", "wire_iso_b", "CREATE TABLE secret_b (v text); INSERT INTO secret_b VALUES ('B only')")
	s := serveWire(t, a, b)
	ctx := context.Background()
	aJWT := a.jwt(t, "alice")

	// Positive controls first: each credential opens its own tenant's session, so the
	// refusals below are refusals, not a broken setup.
	aSCRAM := s.connect(t, s.pgxConfig(t, a.Role, a.Name, a.Password, false))
	s.connect(t, s.pgxConfig(t, b.Role, b.Name, b.Password, false))
	aToken := s.connect(t, s.pgxConfig(t, "token", a.Name, aJWT, false))
	s.connect(t, s.pgxConfig(t, "token", a.Name, a.APIKey, false))
	s.connect(t, s.pgxConfig(t, a.Role+"."+a.Name, "", a.Password, false))

	// bNames are B's objects, which no message to A's credentials may name.
	bNames := []string{b.Schema, "secret_b", b.Reader}
	t.Run("A's credentials open no session of B", func(t *testing.T) {
		for _, c := range []struct {
			name, user, database, password, code string
		}{
			{"A's SCRAM password, B as the database", a.Role, b.Name, a.Password, "28P01"},
			{"A's SCRAM password for B's own role", b.Role, b.Name, a.Password, "28P01"},
			{"A's SCRAM password, user role.B", a.Role + "." + b.Name, "", a.Password, "28P01"},
			{"A's SCRAM password for B's own role, user role.B", b.Role + "." + b.Name, "", a.Password, "28P01"},
			{"A's API key, B as the database", "token", b.Name, a.APIKey, "28P01"},
			{"A's API key, user token.B", "token." + b.Name, "", a.APIKey, "28P01"},
			{"A's JWT, B as the database", "token", b.Name, aJWT, "28P01"},
			{"A's JWT, user token.B", "token." + b.Name, "", aJWT, "28P01"},
			{"A's JWT for B's reader role, user role.B", b.Reader + "." + b.Name, "", aJWT, "28P01"},
			{"A's password, user role.A with B as the database", a.Role + "." + a.Name, b.Name, a.Password, "3D000"},
			{"B's own role in A, with A's password", b.Role + "." + a.Name, "", a.Password, "28P01"},
			{"a tenant that does not exist", a.Role, "wire-iso-nobody", a.Password, "3D000"},
		} {
			t.Run(c.name, func(t *testing.T) {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				conn, err := pgx.ConnectConfig(cctx, s.pgxConfig(t, c.user, c.database, c.password, false))
				if err == nil {
					conn.Close(ctx)
					t.Fatalf("connected as %q to %q", c.user, c.database)
				}
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != c.code || pe.Severity != "FATAL" {
					t.Fatalf("%v, want FATAL %s", err, c.code)
				}
				if c.code == "28P01" && !strings.Contains(pe.Message, "password authentication failed") {
					t.Errorf("message %q", pe.Message)
				}
				said := strings.Join([]string{pe.Message, pe.Detail, pe.Hint}, "\n")
				for _, n := range bNames {
					if strings.Contains(said, n) && !strings.Contains(c.user+c.database, n) {
						t.Errorf("the refusal names %q of B: %q", n, said)
					}
				}
			})
		}
	})

	// refused runs sql through the simple protocol and, when it is one statement (the
	// extended protocol takes no more), through the extended one, and wants code from
	// each; the session must go on afterwards.
	refused := func(t *testing.T, c *pgx.Conn, sql, code string) {
		t.Helper()
		_, err := c.PgConn().Exec(ctx, sql).ReadAll()
		errs := map[string]error{"simple": err}
		if !strings.Contains(sql, ";") {
			errs["extended"] = c.PgConn().ExecParams(ctx, sql, nil, nil, nil, nil).Read().Err
		}
		for proto, err := range errs {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) || pe.Code != code {
				t.Errorf("%s protocol, %s: %v, want SQLSTATE %s", proto, sql, err, code)
			}
		}
		if _, err := c.Exec(ctx, "ROLLBACK"); err != nil { // ends a transaction sql may have opened
			t.Fatalf("after %s: %v", sql, err)
		}
	}
	whoami := func(t *testing.T, c *pgx.Conn) string {
		t.Helper()
		var who string
		if err := c.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil {
			t.Fatal(err)
		}
		return who
	}

	t.Run("a session of A cannot become another role", func(t *testing.T) {
		for _, sql := range []string{
			`SET ROLE ` + ident(b.Role),
			`SET ROLE ` + ident(b.Reader),
			`SET SESSION AUTHORIZATION postgres`,
			`RESET ROLE; SET ROLE postgres`,
			`SET ROLE postgres`,
			`SELECT set_config('role', 'postgres', false)`,
			`SELECT set_config('role', ` + literal(b.Role) + `, false)`,
			`BEGIN; SET LOCAL ROLE postgres`,
		} {
			t.Run(sql, func(t *testing.T) {
				refused(t, aSCRAM, sql, "42501")
				if who := whoami(t, aSCRAM); who != a.Role {
					t.Errorf("current_user is %s after %s", who, sql)
				}
			})
		}
	})

	t.Run("PostgreSQL itself refuses A's role B's objects", func(t *testing.T) {
		var exists, usage, sel bool
		// By oid: a qualified name would need USAGE on the schema to be looked up.
		err := aSCRAM.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1),
  has_schema_privilege($1, 'USAGE'),
  coalesce((SELECT bool_or(has_table_privilege(c.oid, 'SELECT')) FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1), false)`, b.Schema).Scan(&exists, &usage, &sel)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("B's schema visible in pg_catalog: %v", exists)
		if usage || sel {
			t.Errorf("A's role has USAGE on B's schema (%v) or SELECT on one of its tables (%v)", usage, sel)
		}
		for _, sql := range []string{
			"SELECT * FROM " + ident(b.Schema) + ".secret_b",
			"SELECT * FROM " + ident(b.Schema) + ".items",
			"INSERT INTO " + ident(b.Schema) + ".items VALUES (999, 'mallory', 'from A')",
		} {
			refused(t, aSCRAM, sql, "42501")
		}
	})

	t.Run("a JWT session keeps its role and claims", func(t *testing.T) {
		if who := whoami(t, aToken); who != a.Reader {
			t.Fatalf("the JWT session runs as %s, want %s", who, a.Reader)
		}
		for _, sql := range []string{
			`SET request.jwt.claims = '{"sub": "bob", "role": "` + a.Reader + `"}'`,
			`SET "request.jwt.claims" TO '{"sub": "bob"}'`,
			`BEGIN; SET LOCAL request.jwt.claims = '{"sub": "bob"}'`,
			`SELECT set_config('request.jwt.claims', '{"sub": "bob"}', false)`,
			`SELECT set_config('request.jwt.claims', '{"sub": "bob"}', true)`,
			`RESET ROLE`,
			`SET ROLE ` + ident(a.Role),
			`SET ROLE NONE`,
		} {
			t.Run(sql, func(t *testing.T) {
				refused(t, aToken, sql, "42501")
				var who string
				var owners []string
				if err := aToken.QueryRow(ctx, "SELECT current_user, array_agg(DISTINCT owner) FROM items").Scan(&who, &owners); err != nil {
					t.Fatal(err)
				}
				if who != a.Reader || len(owners) != 1 || owners[0] != "alice" {
					t.Errorf("after %s: current_user %s, rows of %v; want %s and alice's alone", sql, who, owners, a.Reader)
				}
			})
		}
	})
}
