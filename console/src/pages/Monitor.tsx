// A tenant's live monitoring: traffic, latency and errors from Kapok's counters, pool use,
// and what the database reports (size, cache, rows, pg_stat_statements, table stats).
import { useRef, useState, type ReactNode } from "react";
import { ChevronDown, ChevronRight, ChevronUp, Info, Pause, Play } from "lucide-react";
import { api, type StatementStat, type TableStat, type TenantMonitor } from "../api";
import { Badge, Button, Card, ErrorBox, PageHeader, cx, fmtBytes, fmtMs, fmtNum } from "../components/ui";
import { Sparkline, TimeChart, chartColors } from "../components/charts";
import { EventLog } from "./EventLog";
import { POLL_MS, RateSeries, counterRate, fmtPct, fmtRate, pushWindow, usePoll, type RatePoint } from "../metrics";

interface DbPoint {
  t: number;
  read: number | null;
  written: number | null;
}

export function MonitorPage({ tenant }: { tenant: string }) {
  const [paused, setPaused] = useState(false);
  const [data, setData] = useState<TenantMonitor | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [points, setPoints] = useState<RatePoint[]>([]);
  const [db, setDb] = useState<DbPoint[]>([]);
  const series = useRef(new RateSeries());
  const prevDb = useRef<{ at: number; read: number; written: number } | null>(null);

  usePoll(
    async () => {
      try {
        const m = await api.monitor(tenant);
        const at = m.at || Date.now();
        if (series.current.add(m, at)) setPoints(series.current.points);
        if (m.database) {
          const prev = prevDb.current;
          if (!prev || at > prev.at) {
            if (prev) {
              const dt = (at - prev.at) / 1000;
              const p = { t: at, read: counterRate(prev.read, m.database.rows_read, dt), written: counterRate(prev.written, m.database.rows_written, dt) };
              setDb((xs) => pushWindow(xs, p));
            }
            prevDb.current = { at, read: m.database.rows_read, written: m.database.rows_written };
          }
        }
        setData(m);
        setError(null);
      } catch (e) {
        setError(e);
      }
    },
    POLL_MS,
    !paused,
  );

  const togglePause = () => {
    if (!paused) {
      series.current.cut();
      prevDb.current = null;
    }
    setPaused(!paused);
  };

  const last = points[points.length - 1];
  const lastDb = db[db.length - 1];
  const times = points.map((p) => p.t);
  const pool = data?.pool;
  const poolUse = pool && pool.max_conns > 0 ? pool.acquired_conns / pool.max_conns : null;

  return (
    <div className="space-y-5 p-4 md:p-6">
      <PageHeader
        title="Monitoring"
        actions={
          <div className="flex items-center gap-3">
            <LiveDot paused={paused} failing={!!error} />
            <Button onClick={togglePause} aria-pressed={paused} size="sm">
              {paused ? <Play className="size-3.5" aria-hidden /> : <Pause className="size-3.5" aria-hidden />}
              {paused ? "Resume" : "Pause"}
            </Button>
          </div>
        }
      >
        <p className="text-sm text-zinc-400">
          Live traffic and database activity of <span className="font-medium text-zinc-200">{tenant}</span>, sampled every 2 s.
        </p>
      </PageHeader>

      {error != null && (
        <div className="space-y-1">
          <ErrorBox error={error} />
          {!paused && <p className="text-xs text-zinc-400">Still trying every 2 s.</p>}
        </div>
      )}

      <section aria-label="Current values" className="grid grid-cols-2 gap-3 lg:grid-cols-4">
        <Tile label="Requests / s" value={fmtRate(last?.rps)} sub={last ? `${fmtRate(last.okps)} ok · ${fmtRate(last.clientErrorsps)} client errors` : undefined}>
          <Sparkline values={points.map((p) => p.rps)} label="Requests per second, last 2 minutes" width={72} />
        </Tile>
        <Tile
          label="Latency p99"
          value={fmtMs(last?.p99)}
          sub={last ? `p50 ${fmtMs(last.p50)} · p95 ${fmtMs(last.p95)}` : undefined}
          title="Percentiles estimated from the latency histogram of the last 2 s"
        >
          <Sparkline values={points.map((p) => p.p99)} color={chartColors.amber} label="p99 latency, last 2 minutes" width={72} />
        </Tile>
        <Tile
          label="Errors / s"
          value={fmtRate(last?.errorsps)}
          tone={last && last.errorsps > 0 ? "red" : undefined}
          sub={last ? (last.errorRatio == null ? "no request" : `${fmtPct(last.errorRatio, 2)} of requests`) : undefined}
          title="Server errors and requests rejected before any work (rate limit, too many in flight); client errors are not counted"
        >
          <Sparkline values={points.map((p) => p.errorsps)} color={chartColors.red} label="Errors per second, last 2 minutes" width={72} />
        </Tile>
        <Tile
          label="Pool in use"
          value={pool ? `${pool.acquired_conns} / ${pool.max_conns}` : "–"}
          sub={pool ? `${pool.idle_conns} idle · ${pool.in_flight} in flight` : data ? "no pool open yet" : undefined}
        >
          <Meter value={poolUse} label="Pool in use" />
        </Tile>
        <Tile
          label="Database size"
          value={data?.database ? fmtBytes(data.database.size_bytes) : "–"}
          sub={data?.database ? `${fmtNum(data.database.rows)} rows · ${data.database.tables?.length ?? 0} tables` : undefined}
        />
        <Tile
          label="Cache hit ratio"
          value={fmtPct(data?.database?.cache_hit_ratio, 2)}
          sub={data?.database ? (data.database.cache_hit_ratio == null ? "no block read yet" : "heap blocks found in shared buffers") : undefined}
        >
          <Meter value={data?.database?.cache_hit_ratio ?? null} label="Cache hit ratio" good />
        </Tile>
        <Tile label="Rows read / s" value={fmtRate(lastDb?.read)} sub="sequential + index fetches">
          <Sparkline values={db.map((p) => p.read)} color={chartColors.sky} label="Rows read per second, last 2 minutes" width={72} />
        </Tile>
        <Tile label="Rows written / s" value={fmtRate(lastDb?.written)} sub="inserts + updates + deletes">
          <Sparkline values={db.map((p) => p.written)} color={chartColors.violet} label="Rows written per second, last 2 minutes" width={72} />
        </Tile>
      </section>

      <div className="grid gap-4 xl:grid-cols-2">
        <Card title="Throughput" actions={<span className="text-xs text-zinc-400">last 2 minutes</span>}>
          <TimeChart
            label="Requests and errors per second over the last 2 minutes"
            times={times}
            format={fmtRate}
            series={[
              { name: "requests/s", color: chartColors.emerald, values: points.map((p) => p.rps), area: true },
              { name: "errors/s", color: chartColors.red, values: points.map((p) => p.errorsps) },
            ]}
          />
        </Card>
        <Card title="Latency" actions={<span className="text-xs text-zinc-400">last 2 minutes</span>}>
          <TimeChart
            label="Latency percentiles p50, p95 and p99 over the last 2 minutes"
            times={times}
            format={fmtMs}
            axisFormat={fmtMsAxis}
            minMax={5}
            series={[
              { name: "p50", color: chartColors.emerald, values: points.map((p) => p.p50) },
              { name: "p95", color: chartColors.sky, values: points.map((p) => p.p95) },
              { name: "p99", color: chartColors.amber, values: points.map((p) => p.p99), area: true },
            ]}
          />
        </Card>
      </div>

      {(data?.realtime || data?.events) && (
        <div className="grid gap-4 md:grid-cols-2">
          {data.realtime && <Counts title="Realtime" values={data.realtime} order={["channels", "subscriptions", "topics"]} />}
          {data.events && <Counts title="Events" values={data.events} order={["pending", "delivered", "dead"]} bad={["dead"]} />}
        </div>
      )}

      {data?.events && <EventLog tenant={tenant} />}
      <Statements data={data} />
      <Tables data={data} />
    </div>
  );
}

/** A short latency for an axis: 50 ms, 2.5 ms, 250 µs, 1.5 s. */
function fmtMsAxis(v: number): string {
  if (v >= 1000) return `${+(v / 1000).toFixed(2)} s`;
  if (v < 1) return `${Math.round(v * 1000)} µs`;
  return `${+v.toFixed(2)} ms`;
}

function LiveDot({ paused, failing }: { paused: boolean; failing: boolean }) {
  const text = paused ? "Paused" : failing ? "Retrying" : "Live";
  return (
    <span className="flex items-center gap-1.5 text-xs text-zinc-400" role="status">
      <span className="relative flex size-2">
        {!paused && !failing && <span className="absolute inline-flex size-full animate-ping rounded-full bg-emerald-400 opacity-60" />}
        <span className={cx("relative inline-flex size-2 rounded-full", paused ? "bg-zinc-500" : failing ? "bg-amber-400" : "bg-emerald-400")} />
      </span>
      {text}
    </span>
  );
}

function Tile({
  label,
  value,
  sub,
  tone,
  title,
  children,
}: {
  label: string;
  value: string;
  sub?: string;
  tone?: "red";
  title?: string;
  children?: ReactNode;
}) {
  return (
    <div className="min-w-0 rounded-xl border border-zinc-800 bg-zinc-900/60 p-3.5" title={title}>
      <p className="flex items-center gap-1 text-xs font-medium text-zinc-400">
        {label}
        {title && <Info className="size-3 text-zinc-600" aria-hidden />}
        {title && <span className="sr-only">({title})</span>}
      </p>
      <div className="mt-1.5 flex items-end justify-between gap-2">
        <p className={cx("truncate font-mono text-xl font-semibold tabular-nums tracking-tight", tone === "red" ? "text-red-300" : "text-zinc-50")}>{value}</p>
        <div className="hidden sm:block">{children}</div>
      </div>
      <p className="mt-1 truncate text-[11px] text-zinc-400">{sub ?? "\u00a0"}</p>
    </div>
  );
}

function Meter({ value, label, good }: { value: number | null; label: string; good?: boolean }) {
  const v = value == null ? 0 : Math.min(1, Math.max(0, value));
  const color = good ? (v >= 0.95 ? "bg-emerald-400" : v >= 0.8 ? "bg-amber-400" : "bg-red-400") : v >= 0.9 ? "bg-red-400" : v >= 0.7 ? "bg-amber-400" : "bg-emerald-400";
  return (
    <div
      role="meter"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={value == null ? undefined : Math.round(v * 100)}
      className="mb-1.5 h-1.5 w-16 overflow-hidden rounded-full bg-zinc-800"
    >
      {value != null && v > 0 && <div className={cx("h-full rounded-full", color)} style={{ width: `${Math.max(v * 100, 3)}%` }} />}
    </div>
  );
}

/** A card of counts, whatever keys the server reports: the known ones first. */
function Counts({ title, values, order, bad = [] }: { title: string; values: object; order: string[]; bad?: string[] }) {
  const entries = Object.entries(values).filter(([, v]) => typeof v === "number") as [string, number][];
  entries.sort(([a], [b]) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  return (
    <Card title={title}>
      <dl className="grid grid-cols-3 gap-3">
        {entries.map(([k, v]) => (
          <Fact key={k} label={k[0].toUpperCase() + k.slice(1).replace(/_/g, " ")} value={fmtNum(v)} tone={bad.includes(k) && v > 0 ? "red" : undefined} />
        ))}
      </dl>
    </Card>
  );
}

function Fact({ label, value, tone }: { label: string; value: string; tone?: "red" }) {
  return (
    <div>
      <dt className="text-xs text-zinc-400">{label}</dt>
      <dd className={cx("font-mono text-lg tabular-nums", tone === "red" ? "text-red-300" : "text-zinc-100")}>{value}</dd>
    </div>
  );
}

// ---- sortable tables ----

type Dir = "asc" | "desc";

function useSort<K extends string>(initial: K): [K, Dir, (k: K) => void] {
  const [key, setKey] = useState<K>(initial);
  const [dir, setDir] = useState<Dir>("desc");
  const toggle = (k: K) => {
    if (k === key) setDir(dir === "desc" ? "asc" : "desc");
    else {
      setKey(k);
      setDir("desc");
    }
  };
  return [key, dir, toggle];
}

function sortRows<T>(rows: T[], get: (r: T) => number | string, dir: Dir): T[] {
  return [...rows].sort((a, b) => {
    const x = get(a);
    const y = get(b);
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return dir === "asc" ? c : -c;
  });
}

function Th<K extends string>({
  k,
  label,
  sort,
  dir,
  onSort,
  className,
  left,
}: {
  k: K;
  label: string;
  sort: K;
  dir: Dir;
  onSort: (k: K) => void;
  className?: string;
  left?: boolean;
}) {
  const active = sort === k;
  return (
    <th scope="col" aria-sort={active ? (dir === "asc" ? "ascending" : "descending") : undefined} className={cx("whitespace-nowrap px-3 py-2 font-medium", left ? "text-left" : "text-right", className)}>
      <button
        type="button"
        onClick={() => onSort(k)}
        className={cx("inline-flex items-center gap-1 rounded hover:text-zinc-200", active && "text-zinc-200", !left && "flex-row-reverse")}
      >
        {label}
        {active ? dir === "asc" ? <ChevronUp className="size-3" aria-hidden /> : <ChevronDown className="size-3" aria-hidden /> : <span className="size-3" />}
      </button>
    </th>
  );
}

type StmtKey = "query" | "calls" | "total_ms" | "mean_ms" | "rows";

function Statements({ data }: { data: TenantMonitor | null }) {
  const [sort, dir, onSort] = useSort<StmtKey>("total_ms");
  const [open, setOpen] = useState<Set<number>>(new Set());
  const st = data?.statements;
  const rows = st?.rows ? sortRows<StatementStat>(st.rows, (r) => r[sort], dir) : [];
  const toggle = (i: number) =>
    setOpen((s) => {
      const n = new Set(s);
      if (n.has(i)) n.delete(i);
      else n.add(i);
      return n;
    });
  return (
    <Card
      title="Top statements"
      actions={st?.available ? <span className="text-xs text-zinc-400">pg_stat_statements</span> : undefined}
      className="overflow-hidden [&>div]:p-0"
    >
      {!data ? (
        <p className="p-4 text-sm text-zinc-400">Waiting for the first sample…</p>
      ) : !st?.available ? (
        <div className="flex gap-2 p-4 text-sm text-zinc-400">
          <Info className="mt-0.5 size-4 shrink-0 text-sky-400" aria-hidden />
          <div>
            <p className="text-zinc-300">Statement statistics are not available.</p>
            {st?.reason && <p className="mt-0.5 text-zinc-400">{st.reason}</p>}
          </div>
        </div>
      ) : rows.length === 0 ? (
        <p className="p-4 text-sm text-zinc-400">No statement recorded yet.</p>
      ) : (
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <thead className="border-b border-zinc-800 text-xs text-zinc-400">
              <tr>
                <Th k="query" label="Query" sort={sort} dir={dir} onSort={onSort} left className="w-full min-w-64" />
                <Th k="calls" label="Calls" sort={sort} dir={dir} onSort={onSort} />
                <Th k="total_ms" label="Total" sort={sort} dir={dir} onSort={onSort} />
                <Th k="mean_ms" label="Mean" sort={sort} dir={dir} onSort={onSort} />
                <Th k="rows" label="Rows" sort={sort} dir={dir} onSort={onSort} />
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-800/70">
              {rows.map((r, i) => {
                const expanded = open.has(i);
                return (
                  <tr key={i} className="align-top hover:bg-zinc-800/30">
                    <td className="max-w-0 px-3 py-2">
                      <button
                        type="button"
                        onClick={() => toggle(i)}
                        aria-expanded={expanded}
                        title={expanded ? undefined : r.query}
                        className="flex w-full min-w-0 items-start gap-1.5 rounded text-left font-mono text-xs text-zinc-300 hover:text-zinc-100"
                      >
                        {expanded ? <ChevronDown className="mt-0.5 size-3 shrink-0 text-zinc-500" aria-hidden /> : <ChevronRight className="mt-0.5 size-3 shrink-0 text-zinc-500" aria-hidden />}
                        <span className={cx("min-w-0", expanded ? "whitespace-pre-wrap break-words" : "truncate")}>{r.query}</span>
                      </button>
                    </td>
                    <Num>{fmtNum(r.calls)}</Num>
                    <Num>{fmtMs(r.total_ms)}</Num>
                    <Num>{fmtMs(r.mean_ms)}</Num>
                    <Num>{fmtNum(r.rows)}</Num>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

type TableKey = "name" | "rows" | "size_bytes" | "seq_scans" | "idx_scans" | "inserts" | "updates" | "deletes";

function Tables({ data }: { data: TenantMonitor | null }) {
  const [sort, dir, onSort] = useSort<TableKey>("size_bytes");
  const list = (data?.database?.tables ?? []).map(tableStat);
  const rows = sortRows<TableView>(list, (r) => (sort === "name" ? `${r.schema}.${r.name}` : r[sort]), dir);
  const th = { sort, dir, onSort };
  return (
    <Card title="Tables" actions={<span className="text-xs text-zinc-400">pg_stat_user_tables</span>} className="overflow-hidden [&>div]:p-0">
      {!data ? (
        <p className="p-4 text-sm text-zinc-400">Waiting for the first sample…</p>
      ) : !data.database ? (
        <p className="p-4 text-sm text-zinc-400">The database did not report its statistics.</p>
      ) : rows.length === 0 ? (
        <p className="p-4 text-sm text-zinc-400">This tenant has no table yet.</p>
      ) : (
        <div className="overflow-x-auto">
          <table className="w-full text-sm">
            <thead className="border-b border-zinc-800 text-xs text-zinc-400">
              <tr>
                <Th k="name" label="Table" left {...th} className="w-full" />
                <Th k="rows" label="Rows" {...th} />
                <Th k="size_bytes" label="Size" {...th} />
                <Th k="seq_scans" label="Seq scans" {...th} />
                <Th k="idx_scans" label="Idx scans" {...th} />
                <Th k="inserts" label="Inserts" {...th} />
                <Th k="updates" label="Updates" {...th} />
                <Th k="deletes" label="Deletes" {...th} />
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-800/70">
              {rows.map((r) => (
                <tr key={`${r.schema}.${r.name}`} className="hover:bg-zinc-800/30">
                  <td className="whitespace-nowrap px-3 py-2 font-mono text-xs">
                    <span className="text-zinc-400">{r.schema}.</span>
                    <span className="text-zinc-200">{r.name}</span>
                    {r.seq_scans > 100 && r.idx_scans === 0 && r.rows > 1000 && (
                      <span className="ml-2" title="Many sequential scans and no index scan on a large table: an index may help">
                        <Badge tone="amber">seq scans</Badge>
                      </span>
                    )}
                  </td>
                  <Num>{fmtNum(r.rows)}</Num>
                  <Num>{fmtBytes(r.size_bytes)}</Num>
                  <Num>{fmtNum(r.seq_scans)}</Num>
                  <Num>{fmtNum(r.idx_scans)}</Num>
                  <Num>{fmtNum(r.inserts)}</Num>
                  <Num>{fmtNum(r.updates)}</Num>
                  <Num>{fmtNum(r.deletes)}</Num>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

/** A table's statistics as the page shows them, from pg_stat_user_tables' columns. */
interface TableView {
  schema: string;
  name: string;
  rows: number;
  size_bytes: number;
  seq_scans: number;
  idx_scans: number;
  inserts: number;
  updates: number;
  deletes: number;
}

function tableStat(r: TableStat): TableView {
  return {
    schema: r.schema,
    name: r.name,
    rows: r.rows ?? 0,
    size_bytes: r.size_bytes ?? 0,
    seq_scans: r.seq_scan ?? 0,
    idx_scans: r.idx_scan ?? 0,
    inserts: r.n_tup_ins ?? 0,
    updates: r.n_tup_upd ?? 0,
    deletes: r.n_tup_del ?? 0,
  };
}

function Num({ children }: { children: ReactNode }) {
  return <td className="whitespace-nowrap px-3 py-2 text-right font-mono text-xs tabular-nums text-zinc-300">{children}</td>;
}
