package openapi

// admin adds Kapok's admin API. Its paths carry their own server (AdminBaseURL), so they
// sit beside a tenant's REST paths in one document; a table path of the same name wins.
func (g *generator) admin() {
	str := func(desc string) obj { return obj{"type": "string", "description": desc} }
	integer := func(desc string) obj { return obj{"type": "integer", "minimum": 0, "description": desc} }
	dur := func(desc string) obj {
		return obj{"type": "string", "description": desc + " Go duration syntax: `250ms`, `10s`, `5m`.", "examples": []string{"10s"}}
	}
	s := g.schemas
	s["AdminError"] = obj{"type": "object", "required": []string{"error", "code"}, "properties": obj{
		"error": str("What went wrong, for a person."), "code": str("Machine-readable code, e.g. `not-found`, `invalid-name`, `duplicate-tenant`, `unauthorized`."),
		"position": obj{"type": "integer", "description": "Position in the SQL of a failing migration or statement (1-based), when Postgres reports one."},
	}}
	s["PoolSettings"] = obj{"type": "object", "properties": obj{
		"max_conns": integer("Connections the tenant's pool may open."), "min_idle_conns": integer("Connections kept open while idle."),
		"max_in_flight": integer("Requests executing at once; more wait in a queue."),
		"queue_timeout": dur("How long a request may wait for a connection."), "idle_timeout": dur("Close the pool after this long unused."),
	}}
	s["Limits"] = obj{"type": "object", "properties": obj{
		"max_body_bytes": integer("Largest request body."), "max_query_length": integer("Longest GraphQL query."),
		"max_depth": integer("Deepest GraphQL selection."), "max_root_fields": integer("Most root fields per GraphQL operation."),
		"max_limit": integer("Cap on `limit`."), "statement_timeout": dur("Statement timeout."), "request_timeout": dur("Request timeout."),
		"rate_limit": obj{"type": "number", "minimum": 0, "description": "Requests per second (0: none)."}, "rate_burst": integer("Burst above the rate."),
	}}
	s["AuthSettings"] = obj{"type": "object", "properties": obj{
		"jwt_secret":         obj{"type": "string", "writeOnly": true, "description": "HS256 secret for the tenant's JWTs (never returned)."},
		"jwks_url":           str("JWKS URL for RS256/ES256 JWTs."),
		"jwt_audience":       str("Required `aud` claim."),
		"role_claim":         obj{"type": "string", "default": "role", "description": "Claim naming the database role (a dotted path for nested claims)."},
		"anon_role":          str("Role for requests without credentials; empty: such requests are refused."),
		"api_keys":           obj{"type": "object", "writeOnly": true, "additionalProperties": obj{"type": "string"}, "description": "API key → database role."},
		"authenticated_role": str("Role of users signed in through Kapok Auth (their tokens say role `authenticated`); required by `users`."),
		"users":              ref("schemas", "UsersSettings"),
	}}
	s["UsersSettings"] = obj{"type": "object", "description": "Kapok Auth: `/auth/v1`, the API of `supabase.auth` (sign-up, sign-in, sessions, email, OAuth, MFA). Absent: `/auth/v1` answers 404.", "properties": obj{
		"site_url":               str("Where links in mails and OAuth sign-ins lead by default."),
		"redirect_urls":          obj{"type": "array", "items": obj{"type": "string"}, "description": "Other allowed `redirect_to` values (a trailing `*` allows any path below)."},
		"disable_signup":         obj{"type": "boolean", "description": "New users only through the admin API."},
		"autoconfirm":            obj{"type": "boolean", "description": "Sign new email users in at once, without a confirmation mail."},
		"jwt_expiry":             obj{"type": "string", "default": "1h", "description": "Access token lifetime."},
		"refresh_reuse_interval": obj{"type": "string", "default": "10s", "description": "How long a rotated refresh token is still accepted before its reuse revokes the session."},
		"session_timebox":        str("A session ends this long after sign-in (empty: never)."),
		"password_min_length":    obj{"type": "integer", "default": 6},
		"signing_key":            obj{"type": "string", "writeOnly": true, "description": "PEM private key (RSA or EC) to sign access tokens with; empty: HS256 with `jwt_secret`."},
		"otp_expiry":             obj{"type": "string", "default": "1h"},
		"otp_length":             obj{"type": "integer", "default": 6},
		"smtp":                   obj{"type": "object", "description": "Outgoing mail server: host, port, user, pass (write-only), admin_email, sender_name, tls (`starttls`, `tls`, `none`)."},
		"templates":              obj{"type": "object", "description": "Mail templates by kind (confirmation, invite, magic_link, recovery, email_change, reauthentication): `{subject, body}`."},
		"rate_limits":            obj{"type": "object", "description": "sign_in_per_ip, sign_in_per_account, email_sent, otp_per_ip, token_refresh."},
		"external":               obj{"type": "object", "description": "OAuth / OpenID Connect providers by name: `{client_id, client_secret, issuer, auth_url, token_url, userinfo_url, scopes}`."},
		"mfa":                    obj{"type": "object", "description": "`{disabled, max_factors, issuer}` for TOTP factors."},
	}}
	s["Tenant"] = obj{"type": "object", "required": []string{"name", "mode", "schemas"}, "properties": obj{
		"name":        obj{"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", "description": "DNS-safe name; URLs are `/t/{name}/…`."},
		"mode":        obj{"type": "string", "enum": []string{"schema", "database"}, "description": "`schema`: own schema(s) in a shared database; `database`: own database."},
		"upstream":    str("Postgres cluster the tenant lives on."),
		"database":    str("Database (database mode)."),
		"schemas":     obj{"type": "array", "items": obj{"type": "string"}, "description": "Exposed schemas; the first is the default one."},
		"pool":        ref("schemas", "PoolSettings"),
		"limits":      ref("schemas", "Limits"),
		"auth":        ref("schemas", "AuthSettings"),
		"allow_cidrs": obj{"type": "array", "items": obj{"type": "string"}, "description": "Client networks allowed (empty: any)."},
		"version":     obj{"type": "string", "readOnly": true, "description": "Hash of the current catalog."},
	}}
	s["TenantCreate"] = obj{"type": "object", "required": []string{"name"}, "properties": obj{
		"name":     obj{"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"},
		"mode":     obj{"type": "string", "enum": []string{"schema", "database"}, "default": "schema"},
		"template": str("Warm template to provision from (a template schema or database)."),
		"pool":     ref("schemas", "PoolSettings"), "limits": ref("schemas", "Limits"), "auth": ref("schemas", "AuthSettings"),
		"keys": obj{"type": "boolean", "default": false, "description": "Give the tenant a random `jwt_secret` when `auth` names none, so that it has anon and service_role keys from the start."},
	}}
	s["TenantPatch"] = obj{"type": "object", "properties": obj{
		"pool": ref("schemas", "PoolSettings"), "limits": ref("schemas", "Limits"), "auth": ref("schemas", "AuthSettings"),
		"allow_cidrs": obj{"type": "array", "items": obj{"type": "string"}},
	}}
	s["MigrationRequest"] = obj{"type": "object", "required": []string{"name", "up"}, "properties": obj{
		"name":    str("Name of the migration, unique per tenant."),
		"up":      str("SQL run in one transaction."),
		"down":    str("SQL that undoes `up`; without it the migration cannot be rolled back."),
		"dry_run": obj{"type": "boolean", "default": false, "description": "Run `up`, report the diff, roll back."},
	}}
	s["SchemaDiff"] = obj{"type": "object", "description": "What a migration changed in the tenant's catalog.", "properties": obj{
		"tables_added":   obj{"type": "array", "items": obj{"type": "string"}},
		"tables_dropped": obj{"type": "array", "items": obj{"type": "string"}},
		"tables_changed": obj{"type": "array", "items": obj{"type": "object", "properties": obj{
			"table":           obj{"type": "string"},
			"columns_added":   obj{"type": "array", "items": obj{"type": "string"}},
			"columns_dropped": obj{"type": "array", "items": obj{"type": "string"}},
			"columns_changed": obj{"type": "array", "items": obj{"type": "string"}},
		}}},
		"functions_added":   obj{"type": "array", "items": obj{"type": "string"}},
		"functions_dropped": obj{"type": "array", "items": obj{"type": "string"}},
	}}
	s["Migration"] = obj{"type": "object", "properties": obj{
		"name": obj{"type": "string"}, "checksum": obj{"type": "string"}, "up": obj{"type": "string"},
		"down":         obj{"type": []string{"string", "null"}},
		"applied_by":   obj{"type": "string"},
		"applied_at":   obj{"type": "string", "format": "date-time"},
		"duration_ms":  obj{"type": "number"},
		"outcome":      obj{"type": "string", "enum": []string{"applied", "failed", "rolled_back"}},
		"rollbackable": obj{"type": "boolean"},
	}}
	s["MigrationResult"] = obj{"type": "object", "properties": obj{
		"migration": ref("schemas", "Migration"), "diff": ref("schemas", "SchemaDiff"),
		"dry_run": obj{"type": "boolean"}, "version": obj{"type": "string", "description": "Catalog version after the migration."},
	}}
	s["RollbackRequest"] = obj{"type": "object", "properties": obj{
		"to": str("Roll back every migration applied after this one (default: the last one only)."),
	}}
	s["RollbackResult"] = obj{"type": "object", "properties": obj{
		"rolled_back": obj{"type": "array", "items": obj{"type": "string"}}, "diff": ref("schemas", "SchemaDiff"),
		"version": obj{"type": "string"},
	}}
	s["TokenRequest"] = obj{"type": "object", "required": []string{"role"}, "properties": obj{
		"role":       str("The role claim (where auth.role_claim says): a Postgres role of the tenant, or anon, authenticated, service_role."),
		"claims":     obj{"type": "object", "description": "Other claims (iss, ref, iat and exp are set by Kapok)."},
		"expires_in": obj{"type": "integer", "minimum": 1, "maximum": 86400, "default": 3600, "description": "Lifetime in seconds."},
	}}
	s["SQLRequest"] = obj{"type": "object", "required": []string{"sql"}, "properties": obj{
		"sql":       str("One SQL statement, run as the tenant's owner role with the statement timeout."),
		"params":    obj{"type": "array", "items": obj{}, "description": "Values for `$1`, `$2`…"},
		"read_only": obj{"type": "boolean", "default": false},
	}}
	s["SQLResult"] = obj{"type": "object", "properties": obj{
		"columns":       obj{"type": "array", "items": obj{"type": "string"}},
		"rows":          obj{"type": "array", "items": obj{"type": "object"}, "description": "One JSON object per row."},
		"rows_affected": obj{"type": "integer"},
		"command":       obj{"type": "string", "description": "Command tag, e.g. `SELECT 3`."},
	}}
	s["ReloadResult"] = obj{"type": "object", "properties": obj{"version": obj{"type": "string"}, "changed": obj{"type": "boolean"}}}
	s["TenantMove"] = obj{"type": "object", "required": []string{"mode"}, "properties": obj{
		"mode":     obj{"type": "string", "enum": []string{"database"}, "description": "Where the tenant goes: a database of its own."},
		"database": str("The new database's name (default: the tenant's name with `-` as `_`). It must not exist."),
	}}
	ms := func(desc string) obj { return obj{"type": "number", "description": desc + " In milliseconds."} }
	s["MoveResult"] = obj{"type": "object", "properties": obj{
		"tenant": ref("schemas", "Tenant"), "database": obj{"type": "string"},
		"tables":      obj{"type": "integer", "description": "Tables copied (the tenant's and its Kapok Auth store's)."},
		"copy_ms":     ms("Creating the database, restoring the structure and copying every table, while the tenant was served."),
		"catch_up_ms": ms("The final catch-up with the last writes, requests paused."),
		"pause_ms":    ms("How long the tenant's requests were held (writes paused); held requests then ran against the moved tenant."),
		"cleanup_ms":  ms("Dropping the subscription, slot, publication and old schemas, after the requests resumed."),
		"total_ms":    ms("The whole call."),
		"warnings":    obj{"type": "array", "items": obj{"type": "string"}, "description": "Clean-up steps that failed (what they name was left behind); the move itself succeeded."},
	}}
	s["TenantCreated"] = obj{"type": "object", "properties": obj{
		"tenant":       ref("schemas", "Tenant"),
		"provision_ms": ms("Making the tenant's schema or database from its template (and its role's grants)."),
		"total_ms":     ms("The whole call: provisioning, recording the tenant and loading its catalog."),
		"from_spare":   obj{"type": "boolean", "description": "The schema was a spare made from the template ahead of need (`tenancy.spare_schemas`), renamed, rather than the template replayed."},
	}}
	s["TenantStats"] = obj{"type": "object", "description": "Pool, request, plan-cache and database figures.", "properties": obj{
		"pool":       obj{"type": "object", "description": "pgxpool statistics: acquired, idle, total connections, waits, wait time."},
		"requests":   obj{"type": "object", "description": "Request counts by API and outcome."},
		"plan_cache": obj{"type": "object", "description": "Plan-cache hits, misses, evictions."},
		"database":   obj{"type": "object", "description": "Size in bytes, row estimates and `pg_stat_user_tables` activity."},
	}}

	g.responses["AdminError"] = obj{"description": "Error: bad input (400), missing or wrong admin key (401), unknown tenant (404), duplicate name (409), body too large (413), SQL error (422).",
		"content": obj{"application/json": obj{"schema": ref("schemas", "AdminError")}}}

	json := func(schema any) obj { return obj{"application/json": obj{"schema": schema}} }
	okResp := func(desc string, schema any) obj { return obj{"description": desc, "content": json(schema)} }
	tenantParam := obj{"name": "tenant", "in": "path", "required": true, "schema": obj{"type": "string"}, "description": "Tenant name."}
	servers := []obj{{"url": g.opts.AdminBaseURL}}
	op := func(id, summary string, resps obj) obj {
		resps["default"] = ref("responses", "AdminError")
		return obj{"operationId": g.opIDs.claim("admin_" + id), "tags": []string{"admin"}, "summary": summary,
			"security": []obj{{"adminKey": []string{}}}, "responses": resps}
	}
	withBody := func(o obj, schema string) obj {
		o["requestBody"] = obj{"required": true, "content": json(ref("schemas", schema))}
		return o
	}
	add := func(path string, item obj) {
		if _, taken := g.paths[path]; taken {
			return
		}
		item["servers"] = servers
		g.paths[path] = item
	}
	g.tags = append(g.tags, obj{"name": "admin", "description": "Kapok's admin API: tenants, migrations, ad-hoc SQL, schema, reload, stats, live figures. Requires the admin key (`X-Kapok-Admin-Key`, or `Authorization: Bearer`); a tenant's `service_role` key, as a Bearer token, opens that tenant's own routes (`/tenants/{tenant}` and below) except changing or deleting the tenant and rotating its keys."})

	add("/tenants", obj{
		"get": op("list_tenants", "List tenants", obj{"200": okResp("Every tenant.", obj{"type": "array", "items": ref("schemas", "Tenant")})}),
		"post": withBody(op("create_tenant", "Create a tenant from a warm template; it serves GraphQL and REST when the call returns",
			obj{"201": okResp("Created, and served.", ref("schemas", "TenantCreated"))}), "TenantCreate"),
	})
	add("/tenants/{tenant}", obj{
		"parameters": []any{tenantParam},
		"get":        op("get_tenant", "Show a tenant", obj{"200": okResp("The tenant.", ref("schemas", "Tenant"))}),
		"patch":      withBody(op("update_tenant", "Change a tenant's pool, limits or keys", obj{"200": okResp("The updated tenant.", ref("schemas", "Tenant"))}), "TenantPatch"),
		"delete": func() obj {
			o := op("delete_tenant", "Drop a tenant and everything in it, release its pool and forget its plans", obj{"204": obj{"description": "Deleted."}})
			o["parameters"] = []any{obj{"name": "confirm", "in": "query", "required": true, "schema": obj{"type": "string"},
				"description": "The tenant's name again, to confirm."}}
			return o
		}(),
	})
	add("/tenants/{tenant}/migrations", obj{
		"parameters": []any{tenantParam},
		"get":        op("list_migrations", "The tenant's migration log", obj{"200": okResp("Migrations, oldest first.", obj{"type": "array", "items": ref("schemas", "Migration")})}),
		"post": withBody(op("apply_migration", "Run a migration in one transaction (or dry-run it) and return the schema diff",
			obj{"200": okResp("Applied (or dry run: rolled back).", ref("schemas", "MigrationResult"))}), "MigrationRequest"),
	})
	add("/tenants/{tenant}/migrations/rollback", obj{
		"parameters": []any{tenantParam},
		"post": withBody(op("rollback_migrations", "Apply recorded `down` scripts in reverse order, in one transaction",
			obj{"200": okResp("Rolled back.", ref("schemas", "RollbackResult"))}), "RollbackRequest"),
	})
	add("/tenants/{tenant}/sql", obj{
		"parameters": []any{tenantParam},
		"post":       withBody(op("run_sql", "Run ad-hoc SQL as the tenant's owner role", obj{"200": okResp("The result rows.", ref("schemas", "SQLResult"))}), "SQLRequest"),
	})
	add("/tenants/{tenant}/schema", obj{
		"parameters": []any{tenantParam},
		"get":        op("get_schema", "The tenant's catalog (tables, columns, keys, relationships, functions) as JSON", obj{"200": okResp("The catalog.", obj{"type": "object"})}),
	})
	add("/tenants/{tenant}/reload", obj{
		"parameters": []any{tenantParam},
		"post":       op("reload_schema", "Reload the tenant's catalog now", obj{"200": okResp("The catalog version after the reload.", ref("schemas", "ReloadResult"))}),
	})
	add("/tenants/{tenant}/move", obj{
		"parameters": []any{tenantParam},
		"post": withBody(op("move_tenant", "Move a schema-mode tenant of the control tables to a database of its own while it is served: its structure (pg_dump) and data (logical replication) are copied, then its requests pause for the final catch-up (well under a second) and resume against the new database; the old schemas are dropped. Refused (409) for a tenant of the config file, one with its own database already, or one with event triggers; a failure before the switch undoes everything",
			obj{"200": okResp("Moved; the timings of each phase.", ref("schemas", "MoveResult"))}), "TenantMove"),
	})
	add("/tenants/{tenant}/keys", obj{
		"parameters": []any{tenantParam},
		"get": op("tenant_keys", "The tenant's anon and service_role keys for supabase-js (HS256 JWTs signed with its jwt_secret; 409 when it has none)",
			obj{"200": okResp("The keys.", obj{"type": "object", "required": []any{"tenant", "anon_key", "service_role_key"},
				"properties": obj{"tenant": obj{"type": "string"}, "anon_key": obj{"type": "string"}, "service_role_key": obj{"type": "string"}}})}),
	})
	keysResp := obj{"type": "object", "required": []any{"tenant", "anon_key", "service_role_key"},
		"properties": obj{"tenant": obj{"type": "string"}, "anon_key": obj{"type": "string"}, "service_role_key": obj{"type": "string"}}}
	add("/tenants/{tenant}/keys/rotate", obj{
		"parameters": []any{tenantParam},
		"post": op("rotate_tenant_keys", "Give the tenant a new random jwt_secret (keeping its other auth settings) and answer the new keys: every key and token signed with the old secret stops working at once, on every replica. Admin key only.",
			obj{"200": okResp("The new keys.", keysResp)}),
	})
	add("/tenants/{tenant}/token", obj{
		"parameters": []any{tenantParam},
		"post": withBody(op("mint_tenant_token", "Sign a token of the tenant for a role with extra claims (HS256 with its jwt_secret; 409 when it has none), to try its APIs as that role",
			obj{"200": okResp("The token.", obj{"type": "object", "properties": obj{"token": obj{"type": "string"}, "expires_at": obj{"type": "integer", "description": "Unix seconds."}}})}), "TokenRequest"),
	})
	add("/tenants/{tenant}/monitor", obj{
		"parameters": []any{tenantParam},
		"get": op("tenant_monitor", "Live figures of the tenant: cumulative request counts by outcome and a latency histogram (diff two answers for rates and percentiles), its pool, its tables' activity and cache hit ratio, its top statements from pg_stat_statements, its realtime channels and subscriptions, and its events by state",
			obj{"200": okResp("The figures.", obj{"type": "object"})}),
	})
	add("/monitor", obj{
		"get": op("monitor", "Every tenant's live request counts, latency histogram and pool, from this process's memory (no query)",
			obj{"200": okResp("The figures, by tenant.", obj{"type": "object", "properties": obj{"at": obj{"type": "integer", "description": "Server time, Unix milliseconds."}, "tenants": obj{"type": "object"}}})}),
	})
	add("/tenants/{tenant}/usage", obj{
		"parameters": []any{tenantParam},
		"get": op("tenant_usage", "What the tenant spent: requests and database seconds counted by this process, its storage as last measured (database_bytes, rows_read, rows_written), its current quota window, its quotas (limits.quota_*) and the requests they refused",
			obj{"200": okResp("The tenant's usage.", obj{"type": "object"})}),
	})
	add("/usage", obj{
		"get": op("usage", "The tenants that spent the most: ?by=requests|db_seconds|database_bytes (default requests), ?top=N (default 20, at most 1000)",
			obj{"200": okResp("The top tenants' usage.", obj{"type": "object"})}),
	})
	add("/tenants/{tenant}/stats", obj{
		"parameters": []any{tenantParam},
		"get":        op("tenant_stats", "Pool, request, plan-cache and database statistics", obj{"200": okResp("Statistics.", ref("schemas", "TenantStats"))}),
	})
}
