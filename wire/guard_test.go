package wire

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kapok-dev/kapok/internal/testenv"
)

// usableRoles stands for the tenant's usable request roles.
func usableRoles(role string) bool {
	switch role {
	case "anon", "authenticated", "Mixed Case":
		return true
	}
	return false
}

var (
	owner   = policy{usable: usableRoles}
	apiUser = policy{token: true, usable: usableRoles}
)

type guardCase struct {
	name string
	sql  string
	p    policy
	want []effect // nil: no effect
	code string   // "": allowed
	msg  string   // if set, the refusal's message
}

func set(name, value string) effect { return effect{Kind: effectSet, Name: name, Value: value} }
func reset(name string) effect      { return effect{Kind: effectReset, Name: name} }
func setRole(role string) effect    { return effect{Kind: effectSetRole, Value: role} }

// touched is the effect of a set_config call the guard lets through.
var touched = []effect{{Kind: effectTouch}}

const (
	denied      = codeInsufficientPrivilege
	unsupported = codeFeatureNotSupported
)

var guardCases = []guardCase{
	// Plain statements.
	{name: "a plain select is allowed", sql: "SELECT abalance FROM pgbench_accounts WHERE aid = $1", p: apiUser},
	{name: "an update is allowed", sql: "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", p: apiUser},
	{name: "an empty text is allowed", sql: "", p: apiUser},
	{name: "only semicolons and comments are allowed", sql: " ; ;-- x\n/* y */;", p: apiUser},
	{name: "a column named role set by UPDATE is not SET ROLE", sql: "UPDATE members SET role = 'admin' WHERE id = 1", p: apiUser},
	{name: "a column named listen is not LISTEN", sql: "SELECT listen, notify FROM t", p: apiUser},
	{name: "NOTIFY is allowed", sql: "NOTIFY jobs, 'x'", p: apiUser},
	{name: "UNLISTEN is allowed", sql: "UNLISTEN *", p: apiUser},
	{name: "PREPARE TRANSACTION is two-phase commit, not SQL PREPARE", sql: "PREPARE TRANSACTION 'gid'", p: owner},

	// SET and RESET of ordinary parameters.
	{name: "SET with = is a session effect", sql: "SET search_path = app, public", p: apiUser, want: []effect{set("search_path", "app, public")}},
	{name: "SET with TO is a session effect", sql: "set statement_timeout to '5s'", p: apiUser, want: []effect{set("statement_timeout", "'5s'")}},
	{name: "SET SESSION is a session effect", sql: "SET SESSION DateStyle TO ISO, DMY", p: apiUser, want: []effect{set("datestyle", "ISO, DMY")}},
	{name: "a quoted parameter name is lower-cased like PostgreSQL looks it up", sql: `SET "DateStyle" = 'ISO'`, p: apiUser, want: []effect{set("datestyle", "'ISO'")}},
	{name: "a dotted custom parameter keeps its dots", sql: "SET myapp.Tenant_ID = '42'", p: apiUser, want: []effect{set("myapp.tenant_id", "'42'")}},
	{name: "the value is trimmed of spaces and comments around it", sql: "SET work_mem =  /* c */ '64MB' -- why\n ;", p: apiUser, want: []effect{set("work_mem", "'64MB'")}},
	{name: "SET LOCAL has no session effect", sql: "SET LOCAL statement_timeout = 0", p: apiUser},
	{name: "SET TRANSACTION has no effect", sql: "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", p: apiUser},
	{name: "SET SESSION CHARACTERISTICS has no effect", sql: "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", p: apiUser},
	{name: "SET CONSTRAINTS has no effect", sql: "SET CONSTRAINTS ALL DEFERRED", p: apiUser},
	{name: "SET TIME ZONE sets timezone", sql: "SET TIME ZONE 'Europe/Paris'", p: apiUser, want: []effect{set("timezone", "'Europe/Paris'")}},
	{name: "SET TIME ZONE LOCAL resets timezone", sql: "set time zone local", p: apiUser, want: []effect{reset("timezone")}},
	{name: "SET SCHEMA sets search_path", sql: "SET SCHEMA 'app'", p: apiUser, want: []effect{set("search_path", "'app'")}},
	{name: "SET NAMES sets client_encoding", sql: "SET NAMES 'UTF8'", p: apiUser, want: []effect{set("client_encoding", "'UTF8'")}},
	{name: "SET XML OPTION sets xmloption", sql: "SET XML OPTION DOCUMENT", p: apiUser, want: []effect{set("xmloption", "DOCUMENT")}},
	{name: "SET x TO DEFAULT is a reset", sql: "SET work_mem TO DEFAULT", p: apiUser, want: []effect{reset("work_mem")}},
	{name: "SET x FROM CURRENT changes nothing to carry", sql: "SET work_mem FROM CURRENT", p: apiUser},
	{name: "RESET name is a reset", sql: "RESET Search_Path", p: apiUser, want: []effect{reset("search_path")}},
	{name: "RESET TIME ZONE resets timezone", sql: "RESET TIME ZONE", p: apiUser, want: []effect{reset("timezone")}},
	{name: "RESET ALL is a reset of all", sql: "RESET ALL", p: apiUser, want: []effect{{Kind: effectResetAll}}},
	{name: "a parameter named set is a SET", sql: `SET "set" = 1`, p: apiUser, want: []effect{set("set", "1")}},
	{name: "standard_conforming_strings on is allowed", sql: "SET standard_conforming_strings = on", p: apiUser, want: []effect{set("standard_conforming_strings", "on")}},
	{name: "standard_conforming_strings off is refused", sql: "SET standard_conforming_strings TO 'off'", p: owner, code: unsupported},
	{name: "standard_conforming_strings off in a transaction is refused", sql: "SET LOCAL standard_conforming_strings = false", p: owner, code: unsupported},
	{name: "a client encoding with ASCII bytes inside characters is refused", sql: "SET client_encoding = 'Shift-JIS'", p: owner, code: unsupported},
	{name: "SET NAMES SJIS is refused", sql: "SET NAMES sjis", p: owner, code: unsupported},
	{name: "set_config of client_encoding to GBK is refused", sql: "SELECT set_config('client_encoding', 'GBK', false)", p: owner, code: unsupported},
	{name: "set_config of standard_conforming_strings to on is allowed", sql: "SELECT set_config('standard_conforming_strings', 'on', false)", p: owner, want: touched},
	{name: "a role default turning standard_conforming_strings off is refused", sql: "ALTER ROLE app SET standard_conforming_strings = off", p: owner, code: unsupported},

	// SET ROLE.
	{name: "SET ROLE to a usable role", sql: "SET ROLE authenticated", p: owner, want: []effect{setRole("authenticated")}},
	{name: "SET ROLE lower-cases an unquoted role", sql: "SET ROLE AUTHENTICATED", p: owner, want: []effect{setRole("authenticated")}},
	{name: "SET ROLE keeps the case of a quoted role", sql: `SET ROLE "Mixed Case"`, p: owner, want: []effect{setRole("Mixed Case")}},
	{name: "SET ROLE keeps the case of a string", sql: "SET ROLE 'Mixed Case'", p: owner, want: []effect{setRole("Mixed Case")}},
	{name: "SET SESSION ROLE to a usable role", sql: "SET SESSION ROLE anon", p: owner, want: []effect{setRole("anon")}},
	{name: "SET role = x is SET ROLE", sql: "SET role = anon", p: owner, want: []effect{setRole("anon")}},
	{name: "SET quoted role TO string is SET ROLE", sql: `SET "role" TO 'anon'`, p: owner, want: []effect{setRole("anon")}},
	{name: "SET ROLE NONE goes back to the login role", sql: "SET ROLE NONE", p: owner, want: []effect{setRole("")}},
	{name: "SET role = 'none' goes back to the login role", sql: "SET role = 'none'", p: owner, want: []effect{setRole("")}},
	{name: "SET role TO DEFAULT goes back to the login role", sql: "SET role TO DEFAULT", p: owner, want: []effect{setRole("")}},
	{name: "RESET ROLE goes back to the login role", sql: "RESET ROLE", p: owner, want: []effect{setRole("")}},
	{name: "SET LOCAL ROLE to a usable role has no session effect", sql: "SET LOCAL ROLE anon", p: owner},
	{name: "SET ROLE to another role is refused", sql: "SET ROLE postgres", p: owner, code: denied, msg: `permission denied to set role "postgres"`},
	{name: "SET ROLE to a role that does not exist says the same", sql: "SET ROLE nosuchrole", p: owner, code: denied, msg: `permission denied to set role "nosuchrole"`},
	{name: "SET ROLE with the wrong case of a quoted role is refused", sql: `SET ROLE "ANON"`, p: owner, code: denied},
	{name: "SET LOCAL ROLE to another role is refused", sql: "SET LOCAL ROLE postgres", p: owner, code: denied},
	{name: "SET role FROM CURRENT is allowed for the owner", sql: "SET role FROM CURRENT", p: owner},
	{name: "SET ROLE with two values is refused", sql: "SET ROLE anon, postgres", p: owner, code: denied},
	{name: "SET ROLE with an escaped string is refused", sql: `SET ROLE E'\x61non'`, p: owner, code: denied},
	{name: "a token session may not SET ROLE even to a usable role", sql: "SET ROLE anon", p: apiUser, code: denied},
	{name: "a token session may not SET ROLE NONE", sql: "SET ROLE NONE", p: apiUser, code: denied},
	{name: "a token session may not RESET ROLE", sql: "RESET ROLE", p: apiUser, code: denied},
	{name: "a token session may not SET LOCAL ROLE", sql: "set local role anon", p: apiUser, code: denied},
	{name: "a token session may not SET role FROM CURRENT", sql: "SET role FROM CURRENT", p: apiUser, code: denied},
	{name: "a nil usable refuses every role", sql: "SET ROLE anon", p: policy{}, code: denied},
	{name: "a role name with Unicode escapes is refused", sql: `SET U&"r\006Fle" = anon`, p: owner, code: denied},

	// SESSION AUTHORIZATION.
	{name: "SET SESSION AUTHORIZATION is refused", sql: "SET SESSION AUTHORIZATION postgres", p: owner, code: denied},
	{name: "SET SESSION AUTHORIZATION DEFAULT is refused", sql: "SET SESSION AUTHORIZATION DEFAULT", p: owner, code: denied},
	{name: "SET LOCAL SESSION AUTHORIZATION is refused", sql: "SET LOCAL SESSION AUTHORIZATION postgres", p: owner, code: denied},
	{name: "RESET SESSION AUTHORIZATION is refused", sql: "RESET SESSION AUTHORIZATION", p: owner, code: denied},
	{name: "SET session_authorization is refused", sql: "SET session_authorization = 'postgres'", p: owner, code: denied},
	{name: "RESET session_authorization is refused", sql: "reset SESSION_AUTHORIZATION", p: owner, code: denied},

	// Claims.
	{name: "a token session may not SET request.jwt.claims", sql: `SET request.jwt.claims = '{"role":"admin"}'`, p: apiUser, code: denied},
	{name: "a token session may not SET a quoted request.jwt parameter", sql: `SET "request.jwt.claim.sub" TO 'x'`, p: apiUser, code: denied},
	{name: "a token session may not SET LOCAL request.jwt.claims", sql: `SET LOCAL request.jwt.claims = '{}'`, p: apiUser, code: denied},
	{name: "a token session may not RESET request.jwt.claims", sql: "RESET request.jwt.claims", p: apiUser, code: denied},
	{name: "an owner session may SET request.jwt.claims", sql: `SET request.jwt.claims = '{}'`, p: owner, want: []effect{set("request.jwt.claims", "'{}'")}},
	{name: "a token session may SET other request parameters", sql: "SET request.path = '/x'", p: apiUser, want: []effect{set("request.path", "'/x'")}},

	// set_config.
	{name: "set_config of search_path is allowed for the owner", sql: "SELECT set_config('search_path', 'app', false)", p: owner, want: touched},
	{name: "set_config of search_path is allowed for a token", sql: "SELECT set_config('search_path', 'app', false)", p: apiUser, want: touched},
	{name: "set_config of role is refused", sql: "SELECT set_config('role', 'anon', false)", p: owner, code: denied},
	{name: "set_config of role in any case is refused", sql: "select 1, SET_CONFIG( 'ROLE' , 'x', true)", p: owner, code: denied},
	{name: "schema-qualified set_config of role is refused", sql: "SELECT pg_catalog.set_config('role', 'postgres', false)", p: owner, code: denied},
	{name: "quoted set_config of role is refused", sql: `SELECT "pg_catalog"."set_config"('role', 'x', false)`, p: owner, code: denied},
	{name: "set_config of session_authorization is refused", sql: "SELECT set_config('session_authorization', 'x', false)", p: owner, code: denied},
	{name: "set_config of role in a dollar-quoted literal is refused", sql: "SELECT set_config($$role$$, 'x', false)", p: owner, code: denied},
	{name: "set_config in a FROM clause is refused", sql: "SELECT * FROM set_config('role', 'x', false)", p: owner, code: denied},
	{name: "set_config inside COPY is refused", sql: "COPY (SELECT set_config('role', 'x', false)) TO STDOUT", p: owner, code: denied},
	{name: "set_config of claims is refused for a token", sql: "SELECT set_config('request.jwt.claims', '{}', true)", p: apiUser, code: denied},
	{name: "set_config of claims is allowed for the owner", sql: "SELECT set_config('request.jwt.claims', '{}', true)", p: owner, want: touched},
	{name: "set_config with a computed name is refused for a token", sql: "SELECT set_config(lower('ROLE'), 'x', false)", p: apiUser, code: denied},
	{name: "set_config with a concatenated name is refused for a token", sql: "SELECT set_config('ro' || 'le', 'x', false)", p: apiUser, code: denied},
	{name: "set_config with a continued string is refused for a token", sql: "SELECT set_config('ro'\n'le', 'x', false)", p: apiUser, code: denied},
	{name: "set_config with an escaped name is refused for a token", sql: `SELECT set_config(E'\x72ole', 'x', false)`, p: apiUser, code: denied},
	{name: "set_config with named arguments is refused for a token", sql: "SELECT set_config(setting_name => 'role', new_value => 'x', is_local => false)", p: apiUser, code: denied},
	{name: "set_config with a computed name is allowed for the owner", sql: "SELECT set_config(name, value, false) FROM settings", p: owner, want: touched},
	{name: "set_config as a column name is not a call", sql: "SELECT set_config FROM t", p: apiUser},
	{name: "set_config in a string is not a call", sql: "SELECT 'set_config(''role'', ''x'', false)'", p: apiUser},
	{name: "set_config of role in a function body is not seen", sql: "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT set_config('role', 'x', false) $$", p: owner},
	{name: "a function named by Unicode escapes is refused", sql: `SELECT U&"set\005Fconfig"('role', 'x', false)`, p: owner, code: denied},

	// Function and role SET clauses.
	{name: "a function's SET role is refused", sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET role = postgres AS 'SELECT 1'", p: owner, code: denied},
	{name: "ALTER FUNCTION SET role is refused", sql: "ALTER FUNCTION f() SET role TO postgres", p: owner, code: denied},
	{name: "a role default for role is refused", sql: "ALTER ROLE app IN DATABASE db SET role = 'postgres'", p: owner, code: denied},
	{name: "a function's SET search_path is allowed", sql: "CREATE OR REPLACE FUNCTION f(role text) RETURNS int LANGUAGE sql SET search_path = app, pg_temp AS 'SELECT 1'", p: apiUser},
	{name: "an UPDATE of a role column in a BEGIN ATOMIC body is allowed", sql: "CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC UPDATE t SET role = 'x'; END", p: owner},
	{name: "ALTER TABLE SET on a column named role is allowed", sql: "ALTER TABLE t ALTER COLUMN role SET DEFAULT 'x'", p: apiUser},

	// DO.
	{name: "a DO block is refused for a token", sql: "DO $$ BEGIN PERFORM 1; END $$", p: apiUser, code: denied},
	{name: "a DO block is allowed for the owner", sql: "DO LANGUAGE plpgsql $$ BEGIN EXECUTE 'SELECT 1'; LISTEN x; END $$", p: owner},

	// LISTEN.
	{name: "LISTEN is refused", sql: "LISTEN jobs", p: owner, code: unsupported, msg: "LISTEN is not supported through Kapok's transaction pooling"},
	{name: "LISTEN in lower case after a comment is refused", sql: "/* hello */ listen \"Jobs\"", p: owner, code: unsupported},
	{name: "LISTEN inside a function body is allowed", sql: "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$ BEGIN LISTEN x; END $body$", p: owner},
	{name: "LISTEN in a string is allowed", sql: "SELECT 'LISTEN x'", p: owner},

	// Advisory locks.
	{name: "pg_advisory_lock is refused", sql: "SELECT pg_advisory_lock(42)", p: owner, code: unsupported},
	{name: "pg_try_advisory_lock_shared is refused", sql: "select x from t where PG_TRY_ADVISORY_LOCK_SHARED(1, 2)", p: owner, code: unsupported},
	{name: "pg_advisory_unlock_all is refused", sql: "SELECT pg_catalog.pg_advisory_unlock_all ()", p: owner, code: unsupported},
	{name: "pg_advisory_xact_lock is allowed", sql: "SELECT pg_advisory_xact_lock(42)", p: owner},
	{name: "pg_try_advisory_xact_lock_shared is allowed", sql: "SELECT pg_try_advisory_xact_lock_shared(42)", p: owner},
	{name: "an advisory lock in a comment is allowed", sql: "SELECT 1 -- pg_advisory_lock(1)\n", p: owner},

	// Temporary objects.
	{name: "CREATE TEMP TABLE is refused", sql: "CREATE TEMP TABLE x (a int)", p: owner, code: unsupported},
	{name: "CREATE GLOBAL TEMPORARY TABLE is refused", sql: "create global temporary table x (a int)", p: owner, code: unsupported},
	{name: "CREATE TEMP TABLE ON COMMIT DELETE ROWS is refused", sql: "CREATE TEMP TABLE x (a int) ON COMMIT DELETE ROWS", p: owner, code: unsupported},
	{name: "CREATE TEMP TABLE ON COMMIT DROP is allowed", sql: "CREATE TEMP TABLE x (a int) ON COMMIT DROP", p: owner},
	{name: "CREATE TEMP TABLE AS with ON COMMIT DROP is allowed", sql: "CREATE LOCAL TEMP TABLE x ON COMMIT DROP AS SELECT 1", p: owner},
	{name: "CREATE TEMP VIEW is refused", sql: "CREATE OR REPLACE TEMP VIEW v AS SELECT 1", p: owner, code: unsupported},
	{name: "CREATE TEMP RECURSIVE VIEW is refused", sql: "CREATE TEMP RECURSIVE VIEW v(n) AS SELECT 1", p: owner, code: unsupported},
	{name: "CREATE TEMP SEQUENCE is refused", sql: "CREATE TEMPORARY SEQUENCE s", p: owner, code: unsupported},
	{name: "CREATE TABLE in pg_temp is refused", sql: "CREATE TABLE IF NOT EXISTS pg_temp.x (a int)", p: owner, code: unsupported},
	{name: "CREATE TABLE is allowed", sql: "CREATE TABLE x (a int, temp int)", p: owner},
	{name: "CREATE TABLE named temp is allowed", sql: "CREATE TABLE temp (a int)", p: owner},
	{name: "SELECT INTO TEMP is refused", sql: "SELECT * INTO TEMP t FROM x", p: owner, code: unsupported},
	{name: "SELECT INTO TEMPORARY TABLE is refused", sql: "WITH a AS (SELECT 1) SELECT * INTO TEMPORARY TABLE t FROM a", p: owner, code: unsupported},
	{name: "SELECT INTO pg_temp is refused", sql: "SELECT 1 AS a INTO pg_temp.t", p: owner, code: unsupported},
	{name: "SELECT INTO a table named temp is allowed", sql: "SELECT * INTO temp FROM x", p: owner},
	{name: "INSERT INTO temp is allowed", sql: "WITH a AS (SELECT 1) INSERT INTO temp SELECT * FROM a", p: owner},
	{name: "EXPLAIN ANALYZE of CREATE TEMP TABLE AS is refused", sql: "EXPLAIN (ANALYZE, BUFFERS) CREATE TEMP TABLE x AS SELECT 1", p: owner, code: unsupported},

	// SQL prepared statements.
	{name: "PREPARE is refused", sql: "PREPARE q(int) AS SELECT $1", p: owner, code: unsupported},
	{name: "EXECUTE is refused", sql: "execute q(1)", p: owner, code: unsupported},
	{name: "EXPLAIN EXECUTE is refused", sql: "EXPLAIN ANALYZE EXECUTE q(1)", p: owner, code: unsupported},
	{name: "CREATE TABLE AS EXECUTE is refused", sql: "CREATE TABLE x AS EXECUTE q(1)", p: owner, code: unsupported},
	{name: "EXECUTE FUNCTION of a trigger is allowed", sql: "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW EXECUTE FUNCTION f()", p: owner},
	{name: "EXECUTE inside a PL/pgSQL body is allowed", sql: "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'SELECT 1'; END $$", p: apiUser},
	{name: "DEALLOCATE a name", sql: "DEALLOCATE Q1", p: owner, want: []effect{{Kind: effectDeallocate, Name: "q1"}}},
	{name: "DEALLOCATE PREPARE a quoted name", sql: `DEALLOCATE PREPARE "S_1"`, p: owner, want: []effect{{Kind: effectDeallocate, Name: "S_1"}}},
	{name: "DEALLOCATE ALL", sql: "DEALLOCATE ALL", p: owner, want: []effect{{Kind: effectDeallocateAll}}},
	{name: "DEALLOCATE PREPARE ALL", sql: "deallocate prepare all", p: owner, want: []effect{{Kind: effectDeallocateAll}}},
	{name: "DISCARD ALL", sql: "DISCARD ALL", p: apiUser, want: []effect{{Kind: effectDiscardAll}}},
	{name: "DISCARD PLANS has no effect", sql: "DISCARD PLANS", p: apiUser},
	{name: "DISCARD TEMP has no effect", sql: "DISCARD TEMP", p: apiUser},

	// Cursors and LOAD.
	{name: "DECLARE WITH HOLD is refused", sql: "DECLARE c NO SCROLL CURSOR WITH HOLD FOR SELECT 1", p: owner, code: unsupported},
	{name: "DECLARE WITHOUT HOLD is allowed", sql: "DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", p: owner},
	{name: "DECLARE of a query with a CTE named hold is allowed", sql: "DECLARE c CURSOR FOR WITH hold AS (SELECT 1) SELECT * FROM hold", p: owner},
	{name: "DECLARE of a query calling pg_advisory_lock is refused", sql: "DECLARE c CURSOR FOR SELECT pg_advisory_lock(1)", p: owner, code: unsupported},
	{name: "LOAD is refused", sql: "LOAD 'auto_explain'", p: owner, code: denied},

	// Quoting.
	{name: "SET ROLE in a string is allowed", sql: "SELECT 'SET ROLE x'", p: apiUser},
	{name: "a string with doubled quotes hides SET ROLE", sql: "SELECT 'it''s; SET ROLE postgres; '", p: apiUser},
	{name: "a doubled quote does not end the string early", sql: "SELECT ''''; SET ROLE postgres", p: owner, code: denied},
	{name: "an E string with an escaped quote hides SET ROLE", sql: `SELECT E'\'; SET ROLE postgres; --'`, p: apiUser},
	{name: "an E string's escaped backslash ends it", sql: `SELECT E'\\'; SET ROLE postgres; --'`, p: owner, code: denied},
	{name: "a plain string does not take backslash escapes", sql: `SELECT 'a\'; SET ROLE postgres; --'`, p: owner, code: denied},
	{name: "an identifier ending in e before a quote is not an E string", sql: `SELECT type'\'; SET ROLE postgres; --'`, p: owner, code: denied},
	{name: "an E string continued on the next line keeps its escapes", sql: "SELECT E'a'\n'\\'; SET ROLE postgres; --'", p: apiUser},
	{name: "an E string continued on the next line ends where PostgreSQL ends it", sql: "SELECT E'a'\n'\\'' ; SET ROLE postgres; -- '", p: owner, code: denied},
	{name: "a continuation may hold a comment before the newline", sql: "SELECT E'a' -- c\n'\\'' ; SET ROLE postgres; -- '", p: owner, code: denied},
	{name: "a string on the same line is no continuation", sql: "SELECT E'a' '\\'' ; SET ROLE postgres; -- '", p: apiUser},
	{name: "a U& string hides SET ROLE", sql: `SELECT U&'d\0061t\+000061; SET ROLE x'`, p: apiUser},
	{name: "a dollar quote hides SET ROLE", sql: "SELECT $$; SET ROLE postgres; $$", p: apiUser},
	{name: "a tagged dollar quote hides another tag", sql: "SELECT $a$ $b$ ; SET ROLE postgres; $b$ $a$", p: apiUser},
	{name: "a dollar quote ends at its own tag", sql: "SELECT $a$ x $a$; SET ROLE postgres", p: owner, code: denied},
	{name: "a dollar sign inside an identifier opens no quote", sql: "SELECT a$$; SET ROLE postgres; $$", p: owner, code: denied},
	{name: "a parameter followed by a dollar quote", sql: "SELECT $1$$; SET ROLE postgres; $$", p: apiUser},
	{name: "a tag may not start with a digit", sql: "SELECT $1a$; SET ROLE postgres; $1a$", p: owner, code: denied},
	{name: "a number followed by a dollar quote", sql: "SELECT 1.5$$; SET ROLE postgres; $$", p: apiUser},
	{name: "a quoted identifier hides SET ROLE", sql: `SELECT "; SET ROLE postgres; ""x" FROM t`, p: apiUser},
	{name: "a quoted identifier named set is no SET", sql: `SELECT "set" FROM t; select "SET ROLE x"`, p: apiUser},
	{name: "a line comment hides SET ROLE", sql: "SELECT 1 -- ; SET ROLE postgres\n", p: apiUser},
	{name: "a line comment ends at a carriage return", sql: "SELECT 1 -- x\r; SET ROLE postgres", p: owner, code: denied},
	{name: "a nested block comment hides SET ROLE", sql: "SELECT 1 /* a /* b */ ; SET ROLE postgres; */", p: apiUser},
	{name: "a nested block comment ends where it closes", sql: "SELECT 1 /* a /* b */ */; SET ROLE postgres", p: owner, code: denied},
	{name: "a comment inside an operator", sql: "SELECT 1 +-- c\n; SET ROLE postgres", p: owner, code: denied},
	{name: "whitespace and newlines between keywords", sql: "\n\tSeT\n  RoLe\r\n\tpostgres\n", p: owner, code: denied},

	// Multi-statement texts.
	{name: "effects come back in statement order", sql: "SET a.b = 1; SELECT 1; RESET c.d; SET ROLE anon; DISCARD ALL;", p: owner,
		want: []effect{set("a.b", "1"), reset("c.d"), setRole("anon"), {Kind: effectDiscardAll}}},
	{name: "one refused statement refuses the text", sql: "SET a.b = 1; SELECT 1; LISTEN x", p: owner, code: unsupported},
	{name: "the first refusal is returned", sql: "SET ROLE postgres; LISTEN x", p: owner, code: denied},
	{name: "a statement after SET without a value is still inspected", sql: "SET; SET ROLE postgres", p: owner, code: denied},
	{name: "a statement after a dotted name cut short is still inspected", sql: "SET a.; SET ROLE postgres", p: owner, code: denied},
	{name: "a statement after DISCARD alone is still inspected", sql: "DISCARD; LISTEN x", p: owner, code: unsupported},
	{name: "a statement after EXPLAIN alone is still inspected", sql: "EXPLAIN; LISTEN x", p: owner, code: unsupported},
	{name: "a statement after SET ROLE alone is still inspected", sql: "SET ROLE; LISTEN x", p: owner, code: unsupported},
	{name: "a statement after SET SESSION alone is still inspected", sql: "SET SESSION; LISTEN x", p: owner, code: unsupported},
	{name: "a BEGIN ATOMIC body is split like any text", sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT pg_advisory_lock(1); END", p: owner, code: unsupported},
	{name: "an unterminated string hides the rest", sql: "SELECT 'abc; SET ROLE postgres", p: apiUser},
}

func TestInspect(t *testing.T) {
	for _, c := range guardCases {
		t.Run(c.name, func(t *testing.T) {
			got, r := inspect(c.sql, c.p)
			switch {
			case c.code == "" && r != nil:
				t.Fatalf("inspect(%q) refused: %+v", c.sql, *r)
			case c.code != "" && r == nil:
				t.Fatalf("inspect(%q) = %+v, want refusal %s", c.sql, got, c.code)
			case c.code != "":
				if r.Code != c.code {
					t.Errorf("inspect(%q) refused with %s (%s), want %s", c.sql, r.Code, r.Message, c.code)
				}
				if c.msg != "" && r.Message != c.msg {
					t.Errorf("message %q, want %q", r.Message, c.msg)
				}
				if r.Message == "" || r.Hint == "" {
					t.Errorf("refusal without message or hint: %+v", *r)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("inspect(%q) = %+v, want %+v", c.sql, got, c.want)
			}
		})
	}
}

// A role the tenant may not use is refused with the same words whether it exists or not:
// the guard must not tell a client which roles exist.
func TestInspectRoleRefusalSaysNothingOfExistence(t *testing.T) {
	_, a := inspect("SET ROLE postgres", owner)
	_, b := inspect("SET ROLE nosuchrole", owner)
	if a == nil || b == nil {
		t.Fatal("SET ROLE to unusable roles was allowed")
	}
	if strings.Replace(a.Message, "postgres", "X", 1) != strings.Replace(b.Message, "nosuchrole", "X", 1) || a.Hint != b.Hint {
		t.Errorf("refusals differ: %+v vs %+v", *a, *b)
	}
}

const pgbenchSelect = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"

func TestInspectPlainStatementsDoNotAllocate(t *testing.T) {
	for _, sql := range []string{
		pgbenchSelect,
		"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
		"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
		"DELETE FROM t WHERE id = $1 AND note <> 'x''y' /* c */",
		"BEGIN; SELECT 1; COMMIT",
	} {
		if n := testing.AllocsPerRun(100, func() { inspect(sql, apiUser) }); n != 0 {
			t.Errorf("inspect(%q) allocates %v times", sql, n)
		}
	}
}

func BenchmarkInspect(b *testing.B) {
	for _, bc := range []struct{ name, sql string }{
		{"pgbench select", pgbenchSelect},
		{"set", "SET search_path = app, public"},
		{"function body", "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock(1); END $$"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				inspect(bc.sql, apiUser)
			}
		})
	}
}

var fuzzSeeds = []string{
	pgbenchSelect,
	"SET ROLE anon; RESET ALL; SET search_path = a, b",
	`SELECT E'\'', U&'\0041' UESCAPE '!', $a$ $$ $a$, "x""y", B'01', X'ff', N'n'`,
	"SELECT 1 /* a /* b */ c */ -- d\n; LISTEN x",
	"SELECT E'a'\n-- c\n'\\'' ; SET ROLE x; -- '",
	"SELECT set_config('role', 'x', false), pg_advisory_lock(1)",
	"CREATE TEMP TABLE x ON COMMIT DROP AS EXECUTE q",
	"EXPLAIN (ANALYZE) SELECT * INTO TEMP t FROM x",
	"DECLARE c CURSOR WITH HOLD FOR SELECT 1",
	"DEALLOCATE PREPARE \"S_1\"; DISCARD ALL",
	"ALTER ROLE a SET role = b; CREATE FUNCTION f() SET role TO b BEGIN ATOMIC SELECT 1; END",
	"SET", "SET a.", "$", "$1$", "'", "E'\\", "U&\"", "/*", "--", "1e+$$", ".5.", `SET U&"a" UESCAPE '!' = 1`,
}

func FuzzInspect(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, sql string, token bool) {
		p := policy{token: token, usable: usableRoles}
		e1, r1 := inspect(sql, p)
		e2, r2 := inspect(sql, p)
		if !reflect.DeepEqual(e1, e2) || !reflect.DeepEqual(r1, r2) {
			t.Fatalf("inspect(%q) is not deterministic", sql)
		}
		if r1 != nil && (r1.Code == "" || r1.Message == "" || r1.Hint == "") {
			t.Fatalf("inspect(%q): incomplete refusal %+v", sql, *r1)
		}
		if r1 != nil && e1 != nil {
			t.Fatalf("inspect(%q): effects %+v with a refusal", sql, e1)
		}
		for _, e := range e1 {
			if e.Kind < effectSet || e.Kind > effectTouch {
				t.Fatalf("inspect(%q): effect of unknown kind %+v", sql, e)
			}
			if e.Kind == effectSetRole && e.Value != "" && !usableRoles(e.Value) {
				t.Fatalf("inspect(%q): SET ROLE to an unusable role %q let through", sql, e.Value)
			}
			if token && e.Kind == effectSetRole {
				t.Fatalf("inspect(%q): a token session changes its role", sql)
			}
		}
		// Statements are inspected one by one: the text's verdict cannot depend on a
		// statement separator inside a comment being there or not.
		if r1 == nil && !strings.ContainsAny(sql, "'\"$-/") {
			for _, part := range strings.Split(sql, ";") {
				if _, r := inspect(part, p); r != nil {
					t.Fatalf("inspect(%q) allowed, but its statement %q is refused: %+v", sql, part, *r)
				}
			}
		}
	})
}

// PostgreSQL itself is the reference for where strings, comments and statements end: in
// every quoting case, a LISTEN that PostgreSQL runs must be one the guard saw, and one the
// guard saw must be one PostgreSQL runs (unless the text fails as a whole).
func TestInspectLexesLikePostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the dev stack")
	}
	conn := testenv.Conn(t).PgConn()
	const marker = "LISTEN kapok_guard_marker"
	n := 0
	for _, c := range guardCases {
		if !strings.Contains(c.sql, "SET ROLE postgres") {
			continue
		}
		n++
		sql := strings.ReplaceAll(c.sql, "SET ROLE postgres", marker)
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, execErr := conn.Exec(ctx, sql).ReadAll()
			res, err := conn.Exec(ctx, "SELECT count(*) FROM pg_listening_channels() WHERE pg_listening_channels = 'kapok_guard_marker'; UNLISTEN *").ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			listened := string(res[0].Rows[0][0]) == "1"
			_, r := inspect(sql, owner)
			refused := r != nil && r.Message == refuseListen.Message
			switch {
			case listened && !refused:
				t.Errorf("PostgreSQL ran the LISTEN in %q, the guard did not see it", sql)
			case execErr == nil && !listened && refused:
				t.Errorf("the guard saw a LISTEN in %q that PostgreSQL took for no statement", sql)
			}
		})
	}
	if n < 20 {
		t.Fatalf("only %d quoting cases", n)
	}
}
