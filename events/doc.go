// Package events owns event triggers, scheduled events and webhook delivery.
//
// An event trigger is a Postgres trigger on a tenant's table that writes the change (old
// and new row, the request's role and claims) into kapok_events.event_log in the same
// transaction as the change: a committed change always has its event, a rolled-back one
// never does. Scheduled events (one-off, and the ticks of cron triggers) are rows of the
// same log, due at their scheduled time.
//
// Schema kapok_events lives in each database that holds tenants with events (created on the
// first use, and only in an upstream Kapok manages: elsewhere every operation is refused
// with control.Config.CheckManaged's error), and is
// Kapok's: tenants' roles get no privilege on it (the capturing function is SECURITY
// DEFINER), every row carries its tenant, and every query here filters on it, so a tenant
// never sees another tenant's events.
//
// Delivery is at least once. Every Kapok process runs a Dispatcher that claims due events
// with FOR UPDATE SKIP LOCKED and leases them for the delivery's timeout plus a margin:
// one attempt in flight per event across replicas, and the event of a process killed
// mid-delivery becomes due again when its lease runs out. The event id is the idempotency
// key receivers deduplicate on. Every attempt is recorded (request, response, duration).
// Failures are retried with exponential backoff up to the trigger's retry limit, then the
// event is dead. A trigger may ask for order per row: an earlier pending event of the same
// primary key holds the later ones back. Webhooks reach only addresses the tenant's config
// allows; the check runs on the resolved address at dial time, so DNS rebinding cannot get
// around it, and each tenant has its own transport, so no tenant reuses a connection
// another tenant's policy allowed.
//
// Cron triggers' ticks are written as events by whichever process sees them due first
// (ticks are unique per trigger). The Clock decides when scheduled events and retries are
// due; tests use a fake one. Delivered events are deleted after the retention; dead ones
// stay until redelivered. Metrics: kapok_events_* (counters and gauges by tenant, latency
// histograms without a tenant label).
//
// events must not serve HTTP (the proxy maps its typed errors to the admin API), touch
// another tenant's rows, or build SQL from request data other than quoted identifiers
// checked against the catalog and bound parameters.
package events
