// Package realtime owns what Kapok pushes rather than answers: the change feed (statement
// triggers that NOTIFY, a poll where Kapok may not install them), GraphQL live queries and
// streams, multiplexed so that subscribers of one plan, role and claims share one statement
// per refresh, and the Supabase Realtime channel protocol (Phoenix channels as realtime-js
// speaks them: broadcast, presence and postgres_changes), whose broadcasts and presences
// cross Kapok processes through a NOTIFY relay on each upstream database.
//
// Where a managed database runs logical replication, the live queries' feed is that
// stream (TableWatcher): a commit is reported once other sessions see it, and a stream that
// falls behind (the WAL of every tenant of the database flows through it) counts as down,
// so its groups poll every half second until it catches up.
//
// It runs plans (planner.Plan) through a tenant's pool (poolmgr) and compiles none: when a
// tenant's catalog changes, the proxy compiles each subscription again and hands the hub
// the new plan (Hub.Replace), which carries over what the subscriber was sent. It knows
// nothing of sockets or HTTP: the proxy owns the WebSocket endpoints, authenticates credentials, and
// hands each subscription a push function and each Realtime socket its frames (Conn.Handle)
// and a send function. It must never run a plan or deliver a change as anyone but the
// subscriber's own role and claims, nor refresh a group whose tables did not change when a
// feed can tell. A channel's failure (a bad binding, an expired token) closes that channel,
// never its socket nor another channel.
//
// It also owns Supabase Realtime's postgres_changes source (Changes, pgchanges.go and
// replication.go): one logical replication connection per upstream database that has
// subscribers, on a temporary pgoutput slot of publication kapok_realtime (created only
// in an upstream Kapok manages), so no WAL is retained once Kapok is gone. A subscriber sees
// only the tables of its own tenant's catalog, and only the rows its role and claims may
// SELECT: each commit's rows are checked in one statement per table and group of
// subscribers sharing a role and claims, run through the tenant's pool as that session.
package realtime
