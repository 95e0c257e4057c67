// Package control owns the tenant registry: tenants from configs/kapok.yaml (and, later, the
// control tables), each tenant's current catalog snapshot, and the schema watcher that keeps
// those snapshots current.
//
// Snapshots are immutable and swapped atomically: a request that took a snapshot keeps a
// consistent catalog for its whole life, and the next request sees the new version, whose
// hash is part of every plan-cache key, so old plans become unreachable at once.
//
// Catalogs are in memory only while they are used (tenancy in the config). Start loads them
// all only for at most tenancy.eager_load_max tenants; beyond that a tenant is cold until a
// request asks Registry.Ensure for its catalog, which loads it once however many requests
// wait. A sweeper hibernates tenants unused for tenancy.hibernate_after: their snapshot is
// dropped and the OnChange hooks run with a nil one, so what the proxy built from it goes
// too. The watcher reloads only watched tenants (loaded, being loaded, or failed to load);
// a cold or hibernated one costs no introspection on DDL, and its next Ensure reads the
// catalog as it is then.
//
// The watcher needs a session (LISTEN), so it uses a direct connection to each upstream
// database, never PgBouncer. In a managed upstream (Upstream.Managed) it installs,
// idempotently, an event trigger in a `kapok` schema that NOTIFYs `kapok_schema` with the
// affected schema names on DDL; it always honours PostgREST's `NOTIFY pgrst, 'reload
// schema'`. Where the trigger cannot or may not be created (not a superuser; an upstream Kapok
// does not manage), a cheap catalog fingerprint is polled. A lost listener reconnects with
// backoff and reloads every watched tenant of its database (the tenant listener re-reads the
// control tables), since what was notified meanwhile is lost. Listener sessions are named
// kind@host:pid in pg_stat_activity, so each replica's can be told apart.
//
// An upstream Kapok does not manage (`kapok serve --upstream` without --manage) is only read:
// control must not create anything there (control tables, templates, event triggers, roles).
// What would need those objects fails with an error wrapping ErrConflict that names --manage
// (Config.CheckManaged), and a tenant whose requests would need a role Kapok creates (a
// superuser login) is refused at Start unless its config names an existing Role.
//
// Reading a catalog is catalogload's (control/catalogload); control decides when, and with
// which connection.
//
// It also owns tenants' Postgres roles (roles.go): the role each tenant runs as, its grants,
// and which roles the tenant's requests may name (LoadRequestRoles), read when the proxy
// refreshes them, never per request.
//
// It signs each tenant's Supabase-style anon and service_role keys (keys.go) with the
// tenant's shared JWT secret; checking them is the proxy's.
//
// It provisions tenants from templates (provision.go): a database tenant is CREATE DATABASE
// … TEMPLATE of the template's database; a schema tenant takes a spare schema made from the
// template's DDL ahead of need and renamed (spares.go, tenancy.spare_schemas), with the role
// made for it renamed to the tenant's, its seed run then, with a background fill replacing
// it, or the template replayed when none is left.
//
// It moves a control-table tenant from its schemas in a shared database to a database of
// its own while it is served (move.go, Store.MoveTenant): the structure through pg_dump, the
// data through logical replication (a publication and slot in the source, a subscription in
// the new database), then, while the caller (the proxy) holds the tenant's requests, a
// final catch-up under a lock of the tenant's tables, the switch of its control-table row
// (other replicas follow it as any change, replacing the tenant: Registry.ReplaceTenant)
// and, once requests resumed, the old schemas dropped. OnMove hooks release what was opened
// for the tenant's old database. Anything failing before the switch is undone.
//
// control must not build SQL for requests or serve HTTP.
package control
