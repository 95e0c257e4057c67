// Small hand-written SVG charts for live series: a sparkline for tables and tiles, and a
// time chart with axes, a legend, several series and a hover (or keyboard) read-out.
import { useId, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { cx } from "./ui";

/** An id usable in url(#…) references: useId's characters are not all safe there. */
function useSvgId() {
  return "c" + useId().replace(/[^a-zA-Z0-9_-]/g, "");
}

export const chartColors = {
  emerald: "#34d399",
  sky: "#38bdf8",
  amber: "#fbbf24",
  red: "#f87171",
  violet: "#a78bfa",
  zinc: "#a1a1aa",
};

/** The width of an element, kept up to date with a ResizeObserver. */
export function useElementWidth<T extends HTMLElement>(): [React.RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.getBoundingClientRect().width);
    const ro = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w != null) setWidth(w);
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}

/** A "nice" step for about count intervals up to max: 1, 2, 2.5 or 5 times a power of ten. */
function niceStep(max: number, count: number): number {
  const raw = max / count;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= raw) return f * p;
  return 10 * p;
}

/** Axis ticks from 0 to a round top at or above max (at least minimum), about count intervals. */
export function niceTicks(max: number, minimum = 1, count = 4): number[] {
  const m = isFinite(max) && max > minimum ? max : minimum;
  const step = niceStep(m, count);
  const n = Math.max(1, Math.ceil(m / step - 1e-9));
  return Array.from({ length: n + 1 }, (_, i) => +(i * step).toPrecision(12));
}

/**
 * Splits a series into runs of consecutive defined points: a null is a gap, and so is more
 * than maxGap between two times (polling paused).
 */
function runs(xs: number[], ys: (number | null | undefined)[], times?: number[], maxGap = Infinity): [number, number][][] {
  const out: [number, number][][] = [];
  let cur: [number, number][] = [];
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (cur.length && times && times[i] - times[i - 1] > maxGap) {
      out.push(cur);
      cur = [];
    }
    if (y == null || !isFinite(y)) {
      if (cur.length) out.push(cur);
      cur = [];
    } else cur.push([xs[i], y]);
  }
  if (cur.length) out.push(cur);
  return out;
}

const linePath = (pts: [number, number][]) => pts.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");

function areaPath(pts: [number, number][], baseY: number) {
  if (!pts.length) return "";
  const first = pts[0];
  const last = pts[pts.length - 1];
  return `${linePath(pts)}L${last[0].toFixed(1)},${baseY}L${first[0].toFixed(1)},${baseY}Z`;
}

/** A tiny line with a soft fill, for a table cell or a tile. */
export function Sparkline({
  values,
  color = chartColors.emerald,
  width = 88,
  height = 24,
  label,
  className,
}: {
  values: (number | null | undefined)[];
  color?: string;
  width?: number;
  height?: number;
  label: string;
  className?: string;
}) {
  const id = useSvgId();
  const max = Math.max(0, ...values.map((v) => (v == null || !isFinite(v) ? 0 : v)));
  const n = values.length;
  const pad = 2;
  const xs = values.map((_, i) => (n <= 1 ? width : (i / (n - 1)) * width));
  const ys = values.map((v) => (v == null ? null : height - pad - (max > 0 ? (v / max) * (height - 2 * pad) : 0)));
  const segs = runs(xs, ys);
  return (
    <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label} className={cx("shrink-0 overflow-visible", className)}>
      <defs>
        <linearGradient id={id} x1="0" x2="0" y1="0" y2="1">
          <stop offset="0%" stopColor={color} stopOpacity={0.35} />
          <stop offset="100%" stopColor={color} stopOpacity={0} />
        </linearGradient>
      </defs>
      {segs.length === 0 || n < 2 ? (
        <line x1={0} x2={width} y1={height - pad} y2={height - pad} stroke="#3f3f46" strokeDasharray="2 3" />
      ) : (
        segs.map((s, i) => (
          <g key={i}>
            {max > 0 && <path d={areaPath(s, height)} fill={`url(#${id})`} />}
            <path d={linePath(s)} fill="none" stroke={max > 0 ? color : "#52525b"} strokeWidth={1.5} strokeLinejoin="round" strokeLinecap="round" />
          </g>
        ))
      )}
    </svg>
  );
}

export interface ChartSeries {
  name: string;
  color: string;
  values: (number | null)[];
  /** fill the area under the line */
  area?: boolean;
}

/**
 * A time chart of several series sharing the times t (ms): a y axis from 0, time ticks
 * every 30 s back from the newest point, a legend with the latest (or hovered) values, and
 * a read-out following the pointer; the arrow keys move it when the chart has focus.
 */
export function TimeChart({
  times,
  series,
  label,
  format,
  axisFormat = format,
  height = 180,
  windowMs = 120_000,
  minMax = 1,
  maxGapMs = 7_000,
  empty = "Collecting data…",
}: {
  times: number[];
  series: ChartSeries[];
  /** what the chart shows, for screen readers */
  label: string;
  format: (v: number) => string;
  /** the y axis labels' format, when it should be shorter than format */
  axisFormat?: (v: number) => string;
  height?: number;
  windowMs?: number;
  /** the smallest top of the y axis, so a quiet series does not fill the chart with noise */
  minMax?: number;
  /** a longer time between two points breaks the line */
  maxGapMs?: number;
  empty?: string;
}) {
  const [box, width] = useElementWidth<HTMLDivElement>();
  // The hovered point, by its time: it stays on that point while the window rolls.
  const [hoverT, setHoverT] = useState<number | null>(null);
  const gid = useSvgId();
  const m = { l: 48, r: 10, t: 10, b: 22 };
  const h = Math.max(0, height - m.t - m.b);
  const n = times.length;
  const end = n ? times[n - 1] : Date.now();
  const start = end - windowMs;

  const { yMax, ticks } = useMemo(() => {
    let max = 0;
    for (const s of series) for (const v of s.values) if (v != null && isFinite(v) && v > max) max = v;
    const ticks = niceTicks(max, minMax, height < 140 ? 2 : 4);
    return { yMax: ticks[ticks.length - 1], ticks };
  }, [series, minMax, height]);
  // Room for the longest y label (10px monospace: about 6px a character).
  m.l = Math.max(28, ...ticks.map((t) => (t === 0 ? 1 : axisFormat(t).length) * 6.2 + 14));
  const w = Math.max(0, width - m.l - m.r);

  const x = (t: number) => m.l + ((t - start) / windowMs) * w;
  const y = (v: number) => m.t + h - (v / yMax) * h;
  const xs = times.map(x);

  const xTicks: { x: number; text: string }[] = [];
  const step = width < 380 ? 60_000 : 30_000;
  for (let back = 0; back <= windowMs; back += step) {
    const text = back === 0 ? "now" : back % 60_000 === 0 ? `−${back / 60_000}m` : `−${Math.floor(back / 60_000)}:${String((back % 60_000) / 1000).padStart(2, "0")}`;
    xTicks.push({ x: x(end - back), text });
  }

  const nearest = (px: number) => {
    if (!n) return null;
    let best = 0;
    let bd = Infinity;
    for (let i = 0; i < n; i++) {
      const d = Math.abs(xs[i] - px);
      if (d < bd) {
        bd = d;
        best = i;
      }
    }
    return best;
  };
  const hoverIdx = hoverT == null ? -1 : times.indexOf(hoverT);
  const hi = hoverIdx >= 0 ? hoverIdx : null;
  const setHover = (i: number | null) => setHoverT(i == null ? null : times[i]);
  const onMove = (e: PointerEvent<SVGSVGElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    setHover(nearest(e.clientX - r.left));
  };
  const onKey = (e: KeyboardEvent<SVGSVGElement>) => {
    if (!n) return;
    const cur = hi ?? n - 1;
    let next: number | null = cur;
    if (e.key === "ArrowLeft") next = Math.max(0, cur - 1);
    else if (e.key === "ArrowRight") next = Math.min(n - 1, cur + 1);
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = n - 1;
    else if (e.key === "Escape") next = null;
    else return;
    e.preventDefault();
    setHover(next);
  };

  const shown = hi ?? (n ? n - 1 : null);
  const hx = hi != null ? xs[hi] : 0;
  const tipLeft = hx > m.l + w / 2;

  return (
    <div className="min-w-0">
      <ul className="mb-2 flex flex-wrap items-center gap-x-4 gap-y-1 text-xs" aria-label={`${label}: legend`}>
        {series.map((s) => {
          const v = shown != null ? s.values[shown] : null;
          return (
            <li key={s.name} className="flex items-center gap-1.5 text-zinc-400">
              <span className="inline-block h-0.5 w-3 rounded" style={{ background: s.color }} aria-hidden />
              {s.name}
              <span className="font-mono tabular-nums text-zinc-200">{v == null ? "–" : format(v)}</span>
            </li>
          );
        })}
        {hi != null && <li className="ml-auto font-mono text-zinc-400">{new Date(times[hi]).toLocaleTimeString()}</li>}
      </ul>
      <div ref={box} className="relative w-full" style={{ height }}>
        {width > 0 && (
          <svg
            width={width}
            height={height}
            role="img"
            aria-label={label}
            tabIndex={0}
            onPointerMove={onMove}
            onPointerLeave={() => setHover(null)}
            onKeyDown={onKey}
            onBlur={() => setHover(null)}
            className="block touch-none select-none rounded outline-none focus-visible:ring-1 focus-visible:ring-emerald-500/60"
          >
            <defs>
              {series.map((s, i) => (
                <linearGradient key={i} id={`${gid}-${i}`} x1="0" x2="0" y1="0" y2="1">
                  <stop offset="0%" stopColor={s.color} stopOpacity={0.28} />
                  <stop offset="100%" stopColor={s.color} stopOpacity={0} />
                </linearGradient>
              ))}
              <clipPath id={`${gid}-clip`}>
                <rect x={m.l} y={m.t - 2} width={w} height={h + 4} />
              </clipPath>
            </defs>
            {ticks.map((t) => (
              <g key={t}>
                <line x1={m.l} x2={m.l + w} y1={y(t)} y2={y(t)} stroke="#27272a" strokeDasharray={t === 0 ? undefined : "3 4"} />
                <text x={m.l - 8} y={y(t)} dy="0.32em" textAnchor="end" className="fill-zinc-500 font-mono text-[10px] tabular-nums">
                  {t === 0 ? "0" : axisFormat(t)}
                </text>
              </g>
            ))}
            {xTicks.map((t) => (
              <text key={t.text} x={t.x} y={m.t + h + 15} textAnchor={t.text === "now" ? "end" : t.x <= m.l + 1 ? "start" : "middle"} className="fill-zinc-500 text-[10px]">
                {t.text}
              </text>
            ))}
            <g clipPath={`url(#${gid}-clip)`}>
              {series.map((s, i) => {
                const segs = runs(
                  xs,
                  s.values.map((v) => (v == null ? null : y(v))),
                  times,
                  maxGapMs,
                );
                return (
                  <g key={s.name}>
                    {s.area && segs.map((p, j) => <path key={j} d={areaPath(p, m.t + h)} fill={`url(#${gid}-${i})`} />)}
                    {segs.map((p, j) =>
                      p.length === 1 ? (
                        <circle key={j} cx={p[0][0]} cy={p[0][1]} r={1.5} fill={s.color} />
                      ) : (
                        <path key={j} d={linePath(p)} fill="none" stroke={s.color} strokeWidth={1.6} strokeLinejoin="round" strokeLinecap="round" />
                      ),
                    )}
                  </g>
                );
              })}
            </g>
            {hi != null && (
              <g pointerEvents="none">
                <line x1={hx} x2={hx} y1={m.t} y2={m.t + h} stroke="#52525b" />
                {series.map((s) => {
                  const v = s.values[hi];
                  return v == null ? null : <circle key={s.name} cx={hx} cy={y(v)} r={3} fill={s.color} stroke="#18181b" strokeWidth={1.5} />;
                })}
              </g>
            )}
          </svg>
        )}
        {n < 2 && width > 0 && (
          <div className="pointer-events-none absolute inset-0 flex items-center justify-center text-xs text-zinc-400" style={{ paddingLeft: m.l }}>
            {empty}
          </div>
        )}
        {hi != null && (
          <div
            className="pointer-events-none absolute top-2 z-10 min-w-36 rounded-md border border-zinc-700 bg-zinc-900/95 px-2.5 py-2 text-xs shadow-xl backdrop-blur"
            style={tipLeft ? { right: width - hx + 10 } : { left: hx + 10 }}
            aria-hidden
          >
            <p className="mb-1 font-mono text-[11px] text-zinc-400">{new Date(times[hi]).toLocaleTimeString()}</p>
            {series.map((s) => {
              const v = s.values[hi];
              return (
                <p key={s.name} className="flex items-center justify-between gap-3">
                  <span className="flex items-center gap-1.5 text-zinc-400">
                    <span className="inline-block size-2 rounded-full" style={{ background: s.color }} />
                    {s.name}
                  </span>
                  <span className="font-mono tabular-nums text-zinc-100">{v == null ? "–" : format(v)}</span>
                </p>
              );
            })}
          </div>
        )}
      </div>
    </div>
  );
}
