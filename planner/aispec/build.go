package aispec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kapok-dev/kapok/planner/catalog"
	"github.com/kapok-dev/kapok/planner/gqlschema"
)

// Options say where the tenant is served and how it authenticates; the catalog does not
// know either.
type Options struct {
	// Tenant is the tenant's name. Default "{tenant}".
	Tenant string
	// URL is the server's origin, e.g. "https://api.example.com". Default
	// "http://127.0.0.1:8080".
	URL string
	// RoleClaim is the JWT claim naming the database role. Default "role".
	RoleClaim string
	// AnonRole is the role of requests without credentials; "" = they are refused.
	AnonRole string
	// Open: the instance asks for no credentials (no admin key, no tenant auth), so the
	// examples send none.
	Open bool
	// AnonKey is the tenant's anon key: the examples send it as apikey, as supabase-js does.
	AnonKey string
	// OmitAdmin leaves out the admin section (migrations, reload).
	OmitAdmin bool
	// AdminDisabled: the instance has no admin key, so its admin API refuses every call;
	// the admin section says so instead of showing calls that fail.
	AdminDisabled bool
	// Users: the tenant has Kapok Auth (/auth/v1, supabase.auth); AuthenticatedRole is the
	// role its signed-in users' requests run as. Providers are its OAuth providers.
	Users             bool
	AuthenticatedRole string
	Providers         []string
	// WireAddr is the Postgres wire port's address ("" = not served).
	WireAddr string
	// CompactAbove switches to short per-table sections when the tenant has more
	// relations than this. Default 50.
	CompactAbove int
}

// Build returns ai-spec.md for cat.
func Build(cat *catalog.Schema, opts Options) ([]byte, error) {
	if cat == nil {
		return nil, errors.New("aispec: nil catalog")
	}
	if opts.Tenant == "" {
		opts.Tenant = "{tenant}"
	}
	if opts.URL == "" {
		opts.URL = "http://127.0.0.1:8080"
	}
	opts.URL = strings.TrimRight(opts.URL, "/")
	if opts.RoleClaim == "" {
		opts.RoleClaim = "role"
	}
	if opts.CompactAbove <= 0 {
		opts.CompactAbove = 50
	}
	gs, err := gqlschema.Build(cat, gqlschema.Options{})
	if err != nil {
		return nil, fmt.Errorf("aispec: %w", err)
	}
	w := &writer{cat: cat, gql: gs, opts: opts, compact: len(cat.Tables) > opts.CompactAbove}
	w.header()
	w.auth()
	w.conventions()
	w.enums()
	w.tables()
	w.functions()
	if !opts.OmitAdmin {
		w.admin()
	}
	w.subscriptions()
	w.channels()
	w.users()
	w.wire()
	w.notServed()
	return []byte(w.b.String()), nil
}

// wsURL is base with its scheme made ws or wss.
func wsURL(base string) string {
	switch {
	case strings.HasPrefix(base, "https://"):
		return "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		return "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base
}

// subscriptions says how to subscribe: what a Hasura client does, and what Kapok pushes.
func (w *writer) subscriptions() {
	base := wsURL(w.opts.URL + "/t/" + w.opts.Tenant)
	w.p("## Subscriptions")
	w.p("")
	w.p("Every query field is also a subscription field (`<table>`, `<table>_by_pk`, `<table>_aggregate`), plus `<table>_stream`. Connect a WebSocket to `%s/v1/graphql` with the `graphql-ws` library (subprotocol `graphql-transport-ws`) or Apollo's legacy `subscriptions-transport-ws` (subprotocol `graphql-ws`).", base)
	w.p("")
	w.p("- Credentials go in `connection_init`: `connectionParams: {headers: {Authorization: 'Bearer <JWT>'}}` (or `apikey`); the socket closes (code 4403) when the JWT expires.")
	w.p("- A live query sends its result at once, then again each time a committed change alters it; nothing is sent when it does not change.")
	w.p("- `<table>_stream(batch_size: n, cursor: {initial_value: {id: 0}, ordering: ASC})` sends the rows after the cursor in batches of at most n, then new rows as they are committed; never an empty batch.")
	w.p("- Queries and mutations may be sent over the socket too: one result, then `complete`.")
	w.p("")
	w.p("```js")
	w.p("import { createClient } from 'graphql-ws';")
	params := ""
	switch {
	case w.opts.Open:
	case w.opts.AnonKey != "":
		params = ", connectionParams: { headers: { apikey: '" + w.opts.AnonKey + "' } }"
	default:
		params = ", connectionParams: { headers: { Authorization: 'Bearer ' + token } }"
	}
	w.p("const client = createClient({ url: '%s/v1/graphql'%s });", base, params)
	w.p("client.subscribe({ query: 'subscription { <table>(limit: 10) { <columns> } }' }, { next: (r) => console.log(r.data), error: console.error, complete: () => {} });")
	w.p("```")
	w.p("")
}

type writer struct {
	b       strings.Builder
	cat     *catalog.Schema
	gql     *gqlschema.Schema
	opts    Options
	compact bool
}

func (w *writer) p(format string, args ...any) {
	fmt.Fprintf(&w.b, format, args...)
	w.b.WriteByte('\n')
}

func (w *writer) defaultSchema() string {
	if len(w.cat.Schemas) > 0 {
		return w.cat.Schemas[0]
	}
	return ""
}

func (w *writer) header() {
	t := w.opts.Tenant
	base := w.opts.URL + "/t/" + t
	w.p("# API of tenant `%s`", t)
	w.p("")
	w.p("Kapok serves this tenant's Postgres schema%s (%s) as a Hasura-compatible GraphQL API and a PostgREST-compatible REST API. "+
		"Every request compiles to one SQL statement; row-level security and grants of the request's role apply.",
		plural(len(w.cat.Schemas)), codeList(w.cat.Schemas))
	w.p("")
	w.p("| what | URL |")
	w.p("|---|---|")
	w.p("| GraphQL (POST `{query, variables}`) | `%s/v1/graphql` |", base)
	w.p("| GraphQL subscriptions (WebSocket, subprotocol `graphql-transport-ws` or legacy `graphql-ws`) | `%s/v1/graphql` |", wsURL(base))
	w.p("| REST | `%s/rest/v1` |", base)
	w.p("| OpenAPI 3.1 of the REST API | `%s/rest/v1/` (also `%s/swagger.json`) |", base, base)
	w.p("| this document | `%s/ai-spec.md` |", base)
	w.p("")
	w.p("Shell variables used below:")
	w.p("")
	w.p("```sh")
	w.p("GQL=%s/v1/graphql", base)
	w.p("REST=%s/rest/v1", base)
	switch {
	case w.opts.Open:
	case w.opts.AnonKey != "":
		w.p("ANON_KEY=%s", w.opts.AnonKey)
	default:
		w.p("TOKEN=<JWT or API key>   # fill in")
	}
	w.p("UNIQUE=$(( $(date +%%s%%N) %% 1000000000 + 1 ))   # fresh key values for the insert examples")
	w.p("```")
	w.p("")
}

// authHeader is the credential the examples send: what this instance accepts.
func (w *writer) authHeader() string {
	switch {
	case w.opts.Open:
		return ""
	case w.opts.AnonKey != "":
		return ` -H "apikey: $ANON_KEY"`
	}
	return ` -H "Authorization: Bearer $TOKEN"`
}

// notServed lists what clients of Hasura or Supabase may try that Kapok does not serve, so
// an agent does not write code against it.
func (w *writer) notServed() {
	w.p("## Not served")
	w.p("")
	w.p("Kapok serves the APIs above and nothing else. These answer with an error, not data:")
	w.p("")
	if !w.opts.Users {
		w.p("- Supabase Auth (`/auth/v1`: sign-up, sign-in, users) for this tenant: bring JWTs from your own issuer, or ask the operator to turn on `auth.users`;")
	}
	w.p("- Supabase Storage (`/storage/v1`) and Edge Functions (`/functions/v1`).")
	w.p("")
}

// channels says how supabase-js's Realtime reaches the tenant.
func (w *writer) channels() {
	w.p("## Realtime channels (supabase-js)")
	w.p("")
	w.p("`supabase.channel('room').on('postgres_changes', {event: '*', schema: '%s', table: '<t>', filter: 'id=eq.1'}, cb).subscribe()` receives committed inserts, updates and deletes the subscriber's role may read (row-level security applies); `broadcast` and `presence` work between clients of every Kapok replica.", w.defaultSchema())
	w.p("")
}

// users says how a signed-in user's session is made and used (Kapok Auth, GoTrue's API).
func (w *writer) users() {
	if !w.opts.Users {
		return
	}
	base := w.opts.URL + "/t/" + w.opts.Tenant
	w.p("## Users: sign-up and sign-in (`/auth/v1`)")
	w.p("")
	w.p("This tenant has Kapok Auth, which speaks Supabase Auth's API: use `supabase.auth` unchanged with `createClient('%s', ANON_KEY)`.", base)
	w.p("")
	w.p("- `signUp({email, password})`, `signInWithPassword`, `signInWithOtp` (magic link and emailed code, then `verifyOtp`), `resetPasswordForEmail`, `updateUser`, `getUser`, `refreshSession`, `signOut`.")
	if len(w.opts.Providers) > 0 {
		w.p("- OAuth: `signInWithOAuth({provider})` with %s.", codeList(w.opts.Providers))
	}
	w.p("- MFA: `auth.mfa.enroll({factorType: 'totp'})`, `challenge`, `verify`; the session's token then says `aal: 'aal2'`.")
	w.p("- Admin (service_role key, server side only): `auth.admin.createUser`, `listUsers`, `updateUserById`, `deleteUser`, `generateLink`.")
	role := w.opts.AuthenticatedRole
	if role == "" {
		role = "the tenant's authenticated role"
	} else {
		role = "`" + role + "`"
	}
	w.p("- A signed-in user's access token (claim `role: authenticated`) runs as %s for REST, GraphQL, Realtime and the wire port. In SQL, `auth.uid()` is the user's id (uuid), `auth.role()`, `auth.email()` and `auth.jwt()` read the token's claims: write row-level security policies with them, e.g. `CREATE POLICY own ON notes USING (user_id = auth.uid()) WITH CHECK (user_id = auth.uid())` and a column `user_id uuid NOT NULL DEFAULT auth.uid()`.", role)
	w.p("")
}

// wire says how to reach the tenant with a Postgres client.
func (w *writer) wire() {
	if w.opts.WireAddr == "" {
		return
	}
	host, port, ok := strings.Cut(w.opts.WireAddr, ":")
	if !ok {
		return
	}
	w.p("## SQL over the Postgres protocol")
	w.p("")
	w.p("`psql \"host=%s port=%s user=token.%s\"` with an API key or a user's access token as the password: the session runs as that credential's role, as a REST request would, with the same row-level security. Transactions and prepared statements work; `LISTEN` does not (use Realtime).", host, port, w.opts.Tenant)
	w.p("")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func codeList(list []string) string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, ", ")
}

func (w *writer) auth() {
	w.p("## Authentication")
	w.p("")
	w.p("- `Authorization: Bearer <JWT>`: the claim `%s` names the Postgres role the request runs as; all claims are readable in SQL as `current_setting('request.jwt.claims')`.", w.opts.RoleClaim)
	w.p("- `apikey: <key>`: a tenant API key (mapped to a role) or a JWT. supabase-js sends the anon key here and the user's JWT as the bearer.")
	switch {
	case w.opts.Open:
		w.p("- No credentials: **this instance is open**: requests without credentials run with the tenant's full rights, so the examples below send none.")
	case w.opts.AnonRole != "":
		w.p("- No credentials: the request runs as the role `%s`.", w.opts.AnonRole)
	default:
		w.p("- No credentials: refused with 401.")
	}
	if w.opts.AdminDisabled {
		w.p("- `X-Kapok-Admin-Key`: not in use: this instance has no admin key, and its admin API (`/admin/v1`) is disabled.")
	} else {
		w.p("- `X-Kapok-Admin-Key: <admin key>`: full access to every tenant and to the admin API (`/admin/v1`).")
	}
	w.p("")
}

func (w *writer) conventions() {
	w.p("## Conventions")
	w.p("")
	def := w.defaultSchema()
	w.p("- GraphQL: per table `<t>` (list, `where`/`order_by`/`limit`/`offset`/`distinct_on`), `<t>_by_pk`, `<t>_aggregate`; mutations `insert_<t>`, `insert_<t>_one`, `update_<t>` (`_set`, `_inc`), `update_<t>_by_pk`, `delete_<t>`, `delete_<t>_by_pk`. Tables outside `%s` are prefixed `<schema>_`. Errors come back with HTTP 200 as `{\"errors\":[{\"message\",\"extensions\":{\"code\"}}]}`.", def)
	w.p("- REST: `GET $REST/<t>?select=cols,rel(cols)&<col>=<op>.<value>&order=<col>.desc&limit=N`; operators `eq neq gt gte lt lte like ilike match imatch in is isdistinct fts plfts phfts wfts cs cd ov sl sr nxr nxl adj`, `not.<op>`, `or=(a.eq.1,b.gt.2)`. Filter parents by their related rows with `rel!inner(cols)&rel.col=eq.v`, an empty embed `rel!inner()` (filters, not returned), or `rel=not.is.null` / `rel=is.null` (also inside `or=`). Writes: `POST` (object or array; upsert with `Prefer: resolution=merge-duplicates`), `PATCH`/`DELETE` with filters (`Prefer: handling=strict, max-affected=N` refuses and undoes one that would touch more rows), `PUT` by primary key. `Prefer: return=representation` returns the rows, `count=exact` the total in `Content-Range`, `timezone=America/New_York` timestamps in that zone. One object: `Accept: application/vnd.pgrst.object+json`. Errors: `{code, message, details, hint}`.")
	if len(w.cat.Schemas) > 1 {
		w.p("- REST reads `%s` by default; send `Accept-Profile: <schema>` (reads) or `Content-Profile: <schema>` (writes) for %s.", def, codeList(w.cat.Schemas[1:]))
	}
	w.p("- Limits: HTTP 429 with `Retry-After` (code `too-many-requests` for the rate limit, `quota-exceeded` for the tenant's request or database-time quota) means wait that many seconds, then retry; HTTP 507 means the tenant is over its storage quota: writes are refused until rows are deleted (reads and REST `DELETE` still work).")
	w.p("- Column flags below: PK primary key, UQ unique, FK foreign key; `?` after a type = nullable; `= x` = default.")
	w.p("")
}

func (w *writer) enums() {
	if len(w.cat.Enums) == 0 {
		return
	}
	w.p("## Enums")
	w.p("")
	for _, e := range w.cat.Enums {
		line := "- `" + w.typeName(e.Schema+"."+e.Name) + "`: " + codeList(e.Values)
		if e.Comment != "" {
			line += " — " + oneLine(e.Comment)
		}
		w.p("%s", line)
	}
	w.p("")
}

// typeName drops the default schema's qualification from type names in typ (which may
// be a default expression): the reader knows that schema.
func (w *writer) typeName(typ string) string {
	def := w.defaultSchema()
	if def == "" {
		return typ
	}
	prefix := def + "."
	var b strings.Builder
	for i := 0; i < len(typ); {
		if strings.HasPrefix(typ[i:], prefix) && (i == 0 || !identChar(typ[i-1])) {
			i += len(prefix)
			continue
		}
		b.WriteByte(typ[i])
		i++
	}
	return b.String()
}

func identChar(c byte) bool {
	return c == '_' || c == '"' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	first, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(first)
}

func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", "\\|")
}
