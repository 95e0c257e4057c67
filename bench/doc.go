// Package bench is Kapok's load-testing tool, `kapok bench`: it proves that performance is
// a feature, and users run it against their own deployments.
//
// It owns:
//   - the load generator (Run): fasthttp.HostClient, closed loop (N connections as fast as
//     they go) or open loop (a fixed arrival rate, latency measured from each request's
//     scheduled send time so a stalled server cannot hide behind a waiting client), warm-up,
//     log-linear latency histograms (Histogram), errors by kind, a table or JSON result;
//   - scenarios (Scenario): YAML or JSON request shapes whose {{variables}} take a value per
//     request from a range (uniform or Zipf) or a list, and the embedded built-ins over the
//     workload dataset (scenarios/: Q1–Q4 in GraphQL and REST, many tenants, writes, hot keys);
//   - the raw-pgx baseline (Baseline): the workload's hand-written statements behind the same
//     URLs, on one pgx pool through the same PgBouncer — the limit Kapok is measured against;
//   - the suite (`kapok bench suite`, `make bench`): Kapok and the baseline alternately on
//     every scenario, one table of ratios, gated by thresholds.json;
//   - `kapok bench share`: Kapok with and without shared reads, the baseline and pgbench on
//     the baseline's statements, interleaved, with CPU per request;
//   - `kapok bench wire`: pgbench through Kapok's Postgres wire port (-M extended and -M
//     prepared) and through PgBouncer (-M extended), interleaved, with CPU per transaction
//     and the machine's idle and stolen CPU time per target (the Kapok it starts runs on one
//     thread at a time, procs: 1, as PgBouncer does);
//   - `kapok bench tenants`: the multitenant scenario at several tenant counts against the
//     baseline, with PostgreSQL's connections and Kapok's memory sampled meanwhile; Kapok's
//     memory with many tenants registered and some active; quiet tenants' latency beside a
//     noisy one;
//   - setup-tenants: the multitenant scenario's schemas, roles and their tenants config;
//   - subscriptions: GraphQL live queries over WebSocket (graphql-transport-ws) under a stream
//     of writes made directly in PostgreSQL, with commit-to-client push latency, and the
//     server's refresh statements, memory and metrics per subscription;
//   - realtime: Supabase Realtime postgres_changes channels (a minimal Phoenix channel client
//     speaking supabase-js's frames) over many tenants, under a stream of committed changes,
//     with commit-to-client delivery latency, deliveries per second, the server's CPU per
//     delivery and the replication slot's lag.
//
// Of Kapok's packages it imports only the leaf internal/jsonx, to scan JSON bodies in place:
// it talks to Kapok over HTTP, WebSocket and the Postgres wire protocol only, so it measures
// what a client sees. Main is the entry point cmd/kapok calls for `kapok bench …`.
package bench
