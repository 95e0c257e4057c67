// Live numbers from cumulative counters: Kapok reports totals since the process started,
// so a rate is the difference of two polls over the time between them, and a latency
// percentile comes from the difference of two cumulative histograms.
import { useEffect, useRef } from "react";
import type { LatencyHistogram, TenantCounters } from "./api";

/** One point of a tenant's live series: the rates over the interval that ended at t. */
export interface RatePoint {
  /** end of the interval, ms since the epoch */
  t: number;
  /** length of the interval, seconds */
  dt: number;
  /** every request, any outcome */
  rps: number;
  okps: number;
  /** 4xx the client caused (bad query, no permission, not found) */
  clientErrorsps: number;
  /** refused before any work (rate limit, too many in flight) */
  rejectedps: number;
  /** failed on Kapok's or the database's side */
  serverErrorsps: number;
  /** failures that were not the client's fault: server errors + rejected */
  errorsps: number;
  /** errorsps / rps, 0..1; null when there was no request */
  errorRatio: number | null;
  /** latency percentiles in ms over the interval; null when there was no request */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  /** mean latency in ms over the interval; null when there was no request */
  mean: number | null;
}

export interface Totals {
  ok: number;
  client_error: number;
  rejected: number;
  error: number;
}

export function totalRequests(r: Totals): number {
  return r.ok + r.client_error + r.rejected + r.error;
}

/**
 * Estimates the q-quantile (0..1) in seconds of the observations a cumulative histogram
 * holds: counts[i] observations are at most bounds[i], and the last count is the total.
 * Within a bucket the observations are taken as evenly spread between its bounds (the
 * first bucket starts at 0); the quantile falling in the open-ended last bucket is the
 * highest finite bound, as Prometheus's histogram_quantile answers. Null for no observation.
 */
export function quantile(q: number, bounds: number[], counts: number[]): number | null {
  const total = counts[counts.length - 1] ?? 0;
  if (!(total > 0) || bounds.length === 0) return null;
  const rank = Math.min(Math.max(q, 0), 1) * total;
  for (let i = 0; i < bounds.length; i++) {
    const c = counts[i] ?? 0;
    if (c >= rank) {
      const lo = i === 0 ? 0 : bounds[i - 1];
      const below = i === 0 ? 0 : counts[i - 1];
      const inBucket = c - below;
      if (inBucket <= 0) return lo;
      return lo + (bounds[i] - lo) * ((rank - below) / inBucket);
    }
  }
  return bounds[bounds.length - 1];
}

/**
 * The histogram of the observations made between two polls (cur minus prev), or null when
 * the two do not line up: other bounds, or a counter went down (the process restarted).
 */
export function histogramDelta(prev: LatencyHistogram, cur: LatencyHistogram): LatencyHistogram | null {
  if (prev.bounds.length !== cur.bounds.length || prev.counts.length !== cur.counts.length) return null;
  for (let i = 0; i < cur.bounds.length; i++) if (prev.bounds[i] !== cur.bounds[i]) return null;
  const counts = cur.counts.map((c, i) => c - prev.counts[i]);
  if (counts.some((c) => c < 0)) return null;
  return { bounds: cur.bounds, counts, sum_seconds: Math.max(0, cur.sum_seconds - prev.sum_seconds) };
}

/** True when cur cannot follow prev: some counter went down, so the server restarted. */
export function isReset(prev: TenantCounters, cur: TenantCounters): boolean {
  const p = prev.requests;
  const c = cur.requests;
  return c.ok < p.ok || c.client_error < p.client_error || c.rejected < p.rejected || c.error < p.error;
}

/**
 * The rates between two polls of a tenant's counters taken at prevAt and curAt (ms since
 * the epoch). Null when they cannot be compared: no time between them, or a reset.
 */
export function ratePoint(prev: TenantCounters, prevAt: number, cur: TenantCounters, curAt: number): RatePoint | null {
  const dt = (curAt - prevAt) / 1000;
  if (!(dt > 0) || isReset(prev, cur)) return null;
  const d = {
    ok: cur.requests.ok - prev.requests.ok,
    client_error: cur.requests.client_error - prev.requests.client_error,
    rejected: cur.requests.rejected - prev.requests.rejected,
    error: cur.requests.error - prev.requests.error,
  };
  const n = totalRequests(d);
  const errors = d.error + d.rejected;
  const h = histogramDelta(prev.latency, cur.latency);
  const hn = h ? (h.counts[h.counts.length - 1] ?? 0) : 0;
  const ms = (s: number | null) => (s == null ? null : s * 1000);
  return {
    t: curAt,
    dt,
    rps: n / dt,
    okps: d.ok / dt,
    clientErrorsps: d.client_error / dt,
    rejectedps: d.rejected / dt,
    serverErrorsps: d.error / dt,
    errorsps: errors / dt,
    errorRatio: n > 0 ? errors / n : null,
    p50: h ? ms(quantile(0.5, h.bounds, h.counts)) : null,
    p95: h ? ms(quantile(0.95, h.bounds, h.counts)) : null,
    p99: h ? ms(quantile(0.99, h.bounds, h.counts)) : null,
    mean: h && hn > 0 ? (h.sum_seconds / hn) * 1000 : null,
  };
}

/** A per-second rate of a cumulative counter between two polls; null when it went down or no time passed. */
export function counterRate(prev: number | null | undefined, cur: number | null | undefined, dtSeconds: number): number | null {
  if (prev == null || cur == null || !(dtSeconds > 0) || cur < prev) return null;
  return (cur - prev) / dtSeconds;
}

/** How many points a live series keeps: 2 minutes at one poll every 2 s. */
export const WINDOW_POINTS = 60;
export const POLL_MS = 2000;
/** Two polls closer than this make no point: the counts over so short a time are noise. */
export const MIN_INTERVAL_MS = 500;

/** Appends p to a rolling window, dropping the oldest points beyond max (returns a new array). */
export function pushWindow<T>(list: readonly T[], p: T, max = WINDOW_POINTS): T[] {
  const out = list.length >= max ? list.slice(list.length - max + 1) : list.slice();
  out.push(p);
  return out;
}

/**
 * A tenant's series fed poll by poll: it keeps the previous poll, turns each new one into
 * a point and keeps the last WINDOW_POINTS of them. A reset (server restart) starts over.
 */
export class RateSeries {
  private prev: { c: TenantCounters; at: number } | null = null;
  points: RatePoint[] = [];

  constructor(private max = WINDOW_POINTS) {}

  /** Adds a poll; returns the new point, or null for the first poll or after a reset. */
  /** Forgets the previous poll (polling paused): the next one only starts a new interval. */
  cut() {
    this.prev = null;
  }

  add(c: TenantCounters, at: number): RatePoint | null {
    const prev = this.prev;
    // The same answer twice, or two polls too close to tell a rate (a remount): keep the older base.
    if (prev && at - prev.at < MIN_INTERVAL_MS) return null;
    this.prev = { c, at };
    if (!prev) return null;
    const p = ratePoint(prev.c, prev.at, c, at);
    if (p) this.points = pushWindow(this.points, p, this.max);
    return p;
  }

  get last(): RatePoint | undefined {
    return this.points[this.points.length - 1];
  }
}

/**
 * Calls fn now and then ms after each call settles, while enabled; a hidden page skips its
 * turns. Calls never overlap, so a slow answer delays the next poll instead of piling up.
 */
export function usePoll(fn: () => Promise<unknown> | void, ms: number, enabled = true) {
  const f = useRef(fn);
  f.current = fn;
  useEffect(() => {
    if (!enabled) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      if (!live) return;
      if (document.visibilityState === "visible") {
        try {
          await f.current();
        } catch {
          /* fn reports its own errors */
        }
      }
      if (live) timer = setTimeout(tick, ms);
    };
    void tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [ms, enabled]);
}

/** A rate for display: more digits for small numbers. */
export function fmtRate(v: number | null | undefined): string {
  if (v == null || !isFinite(v)) return "–";
  const digits = v === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
  return v.toLocaleString(undefined, { maximumFractionDigits: digits });
}

/** A ratio 0..1 as a percentage. */
export function fmtPct(v: number | null | undefined, digits = 1): string {
  if (v == null || !isFinite(v)) return "–";
  return `${(v * 100).toFixed(v === 0 || v === 1 ? 0 : digits)}%`;
}
