// Package cache owns Kapok's compiled-plan cache: one process-wide ristretto cache, generic
// over the plan type, keyed by (tenant, schema version, role, request-shape hash), with one
// compile per key under concurrency and Prometheus metrics.
//
// Ristretto keeps only two 64-bit hashes of a key, never the key itself, so every entry
// stores its full key and every hit compares it: a hash collision is a miss, never another
// tenant's plan. The schema version is part of the key, so a schema change makes a tenant's
// old plans unreachable at once; they age out under the cost bound (ristretto cannot delete
// by prefix).
//
// What it must not do: import anything of ours, know what a plan is (it is generic), run a
// goroutine or cache per tenant (each ristretto cache starts goroutines: there is one), or
// cache a failed compilation.
package cache
