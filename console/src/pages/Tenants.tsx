// Every tenant this Kapok serves, with its live traffic, and creating a new one.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Activity, AlertTriangle, Plus, Search, Settings } from "lucide-react";
import { api, type CreateTenantRequest, type TenantCounters, type TenantInfo } from "../api";
import { navigate } from "../router";
import { Badge, Button, Empty, ErrorBox, Field, Input, Link, Modal, PageHeader, Select, Spinner, Textarea, cx, fmtBytes, fmtMs, toast, useAsync } from "../components/ui";
import { Sparkline } from "../components/charts";
import { POLL_MS, RateSeries, fmtRate, usePoll } from "../metrics";

/** How long a tenant's database size is trusted before it is asked again. */
const SIZE_TTL_MS = 15_000;

type Size = { bytes: number | null; at: number; error?: unknown };

export function TenantsPage() {
  const list = useAsync(() => api.tenants(), []);
  const [filter, setFilter] = useState("");
  const [creating, setCreating] = useState(false);
  const filterRef = useRef<HTMLInputElement>(null);

  // Live counters of every tenant, polled together.
  const series = useRef(new Map<string, RateSeries>());
  const [counters, setCounters] = useState<Record<string, TenantCounters>>({});
  const [liveError, setLiveError] = useState<unknown>(null);
  const [, setTick] = useState(0);
  usePoll(async () => {
    try {
      const m = await api.monitorAll();
      const at = m.at || Date.now();
      for (const [name, c] of Object.entries(m.tenants ?? {})) {
        let s = series.current.get(name);
        if (!s) series.current.set(name, (s = new RateSeries()));
        s.add(c, at);
      }
      setCounters(m.tenants ?? {});
      setLiveError(null);
      setTick((t) => t + 1);
    } catch (e) {
      setLiveError(e);
    }
  }, POLL_MS);

  // Database sizes, asked per tenant for the rows on screen, at most every 15 s each.
  const [sizes, setSizes] = useState<Record<string, Size>>({});
  const visible = useRef(new Set<string>());
  const asking = useRef(new Set<string>());
  const sizesRef = useRef(sizes);
  sizesRef.current = sizes;
  const askSizes = useCallback(() => {
    const now = Date.now();
    const due = [...visible.current].filter((n) => !asking.current.has(n) && (!sizesRef.current[n] || now - sizesRef.current[n].at >= SIZE_TTL_MS));
    // A few at a time: each answer costs the database a catalog query.
    const run = async () => {
      for (let name = due.shift(); name; name = due.shift()) {
        asking.current.add(name);
        try {
          const m = await api.monitor(name);
          setSizes((s) => ({ ...s, [name!]: { bytes: m.database?.size_bytes ?? null, at: Date.now() } }));
        } catch (error) {
          setSizes((s) => ({ ...s, [name!]: { bytes: null, at: Date.now(), error } }));
        } finally {
          asking.current.delete(name);
        }
      }
    };
    for (let i = 0; i < 3; i++) void run();
  }, []);
  usePoll(askSizes, SIZE_TTL_MS / 3);
  const onVisible = useCallback(
    (name: string, shown: boolean) => {
      if (shown) visible.current.add(name);
      else visible.current.delete(name);
      if (shown) askSizes();
    },
    [askSizes],
  );

  // "/" focuses the filter, as in most lists.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement;
      if (e.key !== "/" || el.closest("input, textarea, select, [contenteditable=true]")) return;
      e.preventDefault();
      filterRef.current?.focus();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const tenants = list.data;
  const shown = useMemo(() => {
    const q = filter.trim().toLowerCase();
    if (!tenants) return [];
    return tenants
      .filter((t) => !q || t.name.includes(q) || t.mode.includes(q) || (t.template ?? "").includes(q))
      .sort((a, b) => a.name.localeCompare(b.name));
  }, [tenants, filter]);

  let totalRps = 0;
  let totalErr = 0;
  let live = 0;
  for (const t of tenants ?? []) {
    const p = series.current.get(t.name)?.last;
    if (p) {
      live++;
      totalRps += p.rps;
      totalErr += p.errorsps;
    }
  }

  return (
    <div className="space-y-5 p-4 md:p-6">
      <PageHeader
        title="Tenants"
        actions={
          <Button variant="primary" onClick={() => setCreating(true)}>
            <Plus className="size-4" aria-hidden />
            New tenant
          </Button>
        }
      >
        <p className="text-sm text-zinc-400">Every tenant this Kapok serves, with its live traffic.</p>
      </PageHeader>

      {list.error != null && (
        <div className="space-y-2">
          <ErrorBox error={list.error} />
          <Button size="sm" onClick={list.reload}>
            Retry
          </Button>
        </div>
      )}
      {!tenants && list.loading && <Spinner label="Loading tenants" />}

      {tenants && tenants.length > 0 && (
        <>
          <section aria-label="Totals" className="grid grid-cols-3 gap-3">
            <Stat label="Tenants" value={String(tenants.length)} sub={`${tenants.filter((t) => t.ready).length} ready`} />
            <Stat label="Requests / s" value={live ? fmtRate(totalRps) : "–"} sub="all tenants" />
            <Stat label="Errors / s" value={live ? fmtRate(totalErr) : "–"} sub="server errors + rejected" tone={totalErr > 0 ? "red" : undefined} />
          </section>

          {liveError != null && (
            <div className="space-y-1">
              <ErrorBox error={liveError} />
              <p className="text-xs text-zinc-400">Live status is unavailable; still trying every 2 s.</p>
            </div>
          )}

          <div className="flex items-center gap-3">
            <div className="relative w-full max-w-xs">
              <Search className="pointer-events-none absolute left-2.5 top-1/2 size-4 -translate-y-1/2 text-zinc-500" aria-hidden />
              <Input
                ref={filterRef}
                type="search"
                aria-label="Filter tenants"
                placeholder="Filter tenants…"
                value={filter}
                onChange={(e) => setFilter(e.target.value)}
                onKeyDown={(e) => e.key === "Escape" && setFilter("")}
                className="pl-8 pr-8"
              />
              <kbd className="pointer-events-none absolute right-2 top-1/2 hidden -translate-y-1/2 rounded border border-zinc-700 px-1 font-mono text-[10px] text-zinc-400 sm:block" aria-hidden>
                /
              </kbd>
            </div>
            <p className="whitespace-nowrap text-xs text-zinc-400" aria-live="polite">
              {filter ? `${shown.length} of ${tenants.length}` : `${tenants.length} tenant${tenants.length === 1 ? "" : "s"}`}
            </p>
          </div>

          {shown.length === 0 ? (
            <Empty title={`No tenant matches “${filter}”`}>
              <Button variant="ghost" size="sm" onClick={() => setFilter("")}>
                Clear the filter
              </Button>
            </Empty>
          ) : (
            <div className="overflow-hidden rounded-xl border border-zinc-800 bg-zinc-900/60">
              <table className="w-full text-sm">
                <thead className="border-b border-zinc-800 text-left text-xs text-zinc-400">
                  <tr>
                    <th scope="col" className="px-4 py-2.5 font-medium">
                      Tenant
                    </th>
                    <th scope="col" className="whitespace-nowrap px-3 py-2.5 font-medium">
                      Requests / s
                    </th>
                    <th scope="col" className="hidden px-3 py-2.5 text-right font-medium sm:table-cell">
                      p99
                    </th>
                    <th scope="col" className="hidden whitespace-nowrap px-3 py-2.5 text-right font-medium sm:table-cell">
                      Errors / s
                    </th>
                    <th scope="col" className="hidden px-3 py-2.5 font-medium lg:table-cell">
                      Pool
                    </th>
                    <th scope="col" className="hidden px-3 py-2.5 text-right font-medium md:table-cell">
                      Size
                    </th>
                    <th scope="col" className="hidden px-3 py-2.5 font-medium xl:table-cell">
                      Schema
                    </th>
                    <th scope="col" className="px-3 py-2.5 text-right font-medium">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-zinc-800/70">
                  {shown.map((t) => (
                    <Row key={t.name} t={t} series={series.current.get(t.name)} counters={counters[t.name]} size={sizes[t.name]} onVisible={onVisible} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}

      {tenants && tenants.length === 0 && (
        <Empty title="No tenants yet">
          <p>A tenant is a schema or a database with its own REST and GraphQL APIs.</p>
          <Button variant="primary" size="sm" className="mt-3" onClick={() => setCreating(true)}>
            <Plus className="size-3.5" aria-hidden />
            Create the first tenant
          </Button>
        </Empty>
      )}

      <NewTenant open={creating} onOpenChange={setCreating} />
    </div>
  );
}

function Stat({ label, value, sub, tone }: { label: string; value: string; sub: string; tone?: "red" }) {
  return (
    <div className="min-w-0 rounded-xl border border-zinc-800 bg-zinc-900/60 px-3.5 py-3">
      <p className="truncate text-xs font-medium text-zinc-400">{label}</p>
      <p className={cx("mt-1 truncate font-mono text-xl font-semibold tabular-nums", tone === "red" ? "text-red-300" : "text-zinc-50")}>{value}</p>
      <p className="truncate text-[11px] text-zinc-400">{sub}</p>
    </div>
  );
}

function Row({
  t,
  series,
  counters,
  size,
  onVisible,
}: {
  t: TenantInfo;
  series?: RateSeries;
  counters?: TenantCounters;
  size?: Size;
  onVisible: (name: string, shown: boolean) => void;
}) {
  const ref = useRef<HTMLTableRowElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const io = new IntersectionObserver((es) => onVisible(t.name, es[es.length - 1].isIntersecting));
    io.observe(el);
    return () => {
      io.disconnect();
      onVisible(t.name, false);
    };
  }, [t.name, onVisible]);

  const p = series?.last;
  const pool = counters?.pool;
  const use = pool && pool.max_conns > 0 ? pool.acquired_conns / pool.max_conns : null;
  const to = `/t/${encodeURIComponent(t.name)}`;
  const status = t.ready ? null : t.load_error ? (
    <span title={t.load_error}>
      <Badge tone="red">load error</Badge>
    </span>
  ) : (
    <Badge tone="amber">loading</Badge>
  );

  return (
    <tr ref={ref} className="group hover:bg-zinc-800/30">
      <td className="w-full max-w-0 px-4 py-2.5">
        <div className="flex min-w-0 flex-wrap items-center gap-x-2 gap-y-1">
          <span className="flex min-w-0 items-center gap-2">
            <span
              className={cx("size-1.5 shrink-0 rounded-full", t.ready ? "bg-emerald-400" : t.load_error ? "bg-red-400" : "bg-amber-400")}
              title={t.ready ? "ready" : t.load_error ? "load error" : "loading"}
              aria-hidden
            />
            <Link to={`${to}/tables`} className="truncate font-medium text-zinc-100 hover:text-emerald-300 hover:underline">
              {t.name}
            </Link>
          </span>
          <span className="flex basis-full flex-wrap items-center gap-1 pl-3.5 sm:basis-auto sm:pl-0">
            <Badge tone={t.mode === "database" ? "blue" : "zinc"}>{t.mode}</Badge>
            {t.source === "config" && <Badge>config</Badge>}
            {t.state === "cold" && (
              <span title="Not loaded yet: its first request loads its catalog">
                <Badge>cold</Badge>
              </span>
            )}
            {t.state === "hibernated" && (
              <span title="Unused for tenancy.hibernate_after: its catalog was given back, and its next request loads it again">
                <Badge>asleep</Badge>
              </span>
            )}
            {status}
            {t.ready && <span className="sr-only">ready</span>}
          </span>
        </div>
        {t.load_error && <p className="mt-1 truncate pl-3.5 text-xs text-red-300/90">{t.load_error}</p>}
      </td>
      <td className="px-3 py-2.5">
        <div className="flex items-center gap-3">
          <span className="w-12 font-mono text-xs tabular-nums text-zinc-200">{fmtRate(p?.rps)}</span>
          <Sparkline values={series?.points.map((x) => x.rps) ?? []} label={`${t.name}: requests per second, last 2 minutes`} width={80} className="hidden min-[480px]:block" />
        </div>
      </td>
      <td className="hidden whitespace-nowrap px-3 py-2.5 text-right font-mono text-xs tabular-nums text-zinc-300 sm:table-cell">{fmtMs(p?.p99)}</td>
      <td className={cx("hidden whitespace-nowrap px-3 py-2.5 text-right font-mono text-xs tabular-nums sm:table-cell", p && p.errorsps > 0 ? "text-red-300" : "text-zinc-300")}>
        {fmtRate(p?.errorsps)}
      </td>
      <td className="hidden px-3 py-2.5 lg:table-cell">
        {pool ? (
          <div
            className="flex items-center gap-2"
            title={
              pool.shared_pool
                ? `${pool.acquired_conns} held of its ${pool.max_conns}, ${pool.waiting ?? 0} waiting its turn; shared pool ${pool.shared_pool}: ${pool.total_conns} open, ${pool.idle_conns} idle`
                : `${pool.acquired_conns} acquired, ${pool.idle_conns} idle, ${pool.total_conns} open of ${pool.max_conns}`
            }
          >
            <span className="w-12 font-mono text-xs tabular-nums text-zinc-300">
              {pool.acquired_conns}/{pool.max_conns}
            </span>
            <span className="h-1.5 w-14 overflow-hidden rounded-full bg-zinc-800" aria-hidden>
              <span
                className={cx("block h-full rounded-full", use! >= 0.9 ? "bg-red-400" : use! >= 0.7 ? "bg-amber-400" : "bg-emerald-400")}
                style={{ width: `${Math.max((use ?? 0) * 100, pool.acquired_conns ? 4 : 0)}%` }}
              />
            </span>
          </div>
        ) : (
          <span className="text-xs text-zinc-400">–</span>
        )}
      </td>
      <td className="hidden whitespace-nowrap px-3 py-2.5 text-right font-mono text-xs tabular-nums text-zinc-300 md:table-cell">
        {size?.error ? (
          <span title={size.error instanceof Error ? size.error.message : String(size.error)} className="inline-flex items-center gap-1 text-amber-300">
            <AlertTriangle className="size-3" aria-hidden />
            <span className="sr-only">Size unavailable: </span>
            <span>n/a</span>
          </span>
        ) : (
          fmtBytes(size?.bytes)
        )}
      </td>
      <td className="hidden px-3 py-2.5 xl:table-cell">
        <span className="font-mono text-xs text-zinc-400" title={t.schema_version}>
          {t.schema_version ? t.schema_version.slice(0, 10) : "–"}
        </span>
      </td>
      <td className="px-3 py-2.5">
        <div className="flex justify-end gap-0.5">
          <Link
            to={`${to}/monitor`}
            aria-label={`Monitoring for ${t.name}`}
            title="Monitoring"
            className="rounded-md p-1.5 text-zinc-500 hover:bg-zinc-800 hover:text-zinc-100"
          >
            <Activity className="size-4" aria-hidden />
          </Link>
          <Link
            to={`${to}/settings`}
            aria-label={`Settings for ${t.name}`}
            title="Settings"
            className="rounded-md p-1.5 text-zinc-500 hover:bg-zinc-800 hover:text-zinc-100"
          >
            <Settings className="size-4" aria-hidden />
          </Link>
        </div>
      </td>
    </tr>
  );
}

// ---- new tenant ----

/** The name rule Kapok applies: a DNS label (it appears in URLs and host names), starting with a letter. */
function tenantNameProblem(name: string): string | null {
  if (!name) return "A name is required.";
  if (name.length > 63) return "At most 63 characters.";
  if (!/^[a-z]/.test(name)) return "Start with a lowercase letter.";
  if (!/^[a-z0-9-]+$/.test(name)) return "Use lowercase letters, digits and '-' only.";
  if (name.endsWith("-")) return "End with a letter or a digit.";
  return null;
}

function NewTenant({ open, onOpenChange }: { open: boolean; onOpenChange: (o: boolean) => void }) {
  const [name, setName] = useState("");
  const [mode, setMode] = useState<"schema" | "database">("schema");
  const [template, setTemplate] = useState("default");
  const [cidrs, setCidrs] = useState("");
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (open) {
      setName("");
      setMode("schema");
      setTemplate("default");
      setCidrs("");
      setTouched(false);
      setError(null);
    }
  }, [open]);

  const problem = tenantNameProblem(name);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (problem) return;
    setBusy(true);
    setError(null);
    const req: CreateTenantRequest = { name, mode, template: template.trim() || "default", keys: true };
    const list = cidrs
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (list.length) req.allow_cidrs = list;
    try {
      const r = await api.createTenant(req);
      toast(`Created ${r.tenant.name} in ${fmtMs(r.provision_ms)} (served after ${fmtMs(r.total_ms)})`);
      onOpenChange(false);
      navigate(`/t/${encodeURIComponent(r.tenant.name)}/tables`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal open={open} onOpenChange={(o) => !busy && onOpenChange(o)} title="New tenant" description="A schema or a database made from a template, served at once with its own APIs.">
      <form onSubmit={submit} className="space-y-4" noValidate>
        <Field
          id="new-tenant-name"
          label="Name"
          hint={touched && problem ? undefined : "Lowercase letters, digits and '-', starting with a letter. It appears in the URLs: /t/<name>/…"}
        >
          <Input
            id="new-tenant-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            onBlur={() => name && setTouched(true)}
            placeholder="acme-prod"
            autoComplete="off"
            spellCheck={false}
            autoFocus
            aria-invalid={touched && problem != null}
            aria-describedby={touched && problem ? "new-tenant-name-error" : undefined}
            className="aria-[invalid=true]:border-red-500/60 aria-[invalid=true]:focus:border-red-500 aria-[invalid=true]:focus:ring-red-500"
          />
        </Field>
        {touched && problem && (
          <p id="new-tenant-name-error" className="-mt-2 text-xs text-red-300">
            {problem}
          </p>
        )}
        <div className="grid gap-4 sm:grid-cols-2">
          <Field id="new-tenant-mode" label="Mode" hint={mode === "schema" ? "A schema in the shared database" : "A database of its own"}>
            <Select id="new-tenant-mode" value={mode} onChange={(e) => setMode(e.target.value as "schema" | "database")}>
              <option value="schema">schema</option>
              <option value="database">database</option>
            </Select>
          </Field>
          <Field id="new-tenant-template" label="Template" hint="Tables and rows it starts with">
            <Input id="new-tenant-template" value={template} onChange={(e) => setTemplate(e.target.value)} autoComplete="off" spellCheck={false} />
          </Field>
        </div>
        <Field id="new-tenant-cidrs" label="Allowed CIDRs (optional)" hint="One per line; empty allows every address.">
          <Textarea id="new-tenant-cidrs" value={cidrs} onChange={(e) => setCidrs(e.target.value)} rows={2} placeholder="10.0.0.0/8" spellCheck={false} />
        </Field>
        <ErrorBox error={error} />
        <div className="flex justify-end gap-2 pt-1">
          <Button type="button" variant="ghost" onClick={() => onOpenChange(false)} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" busy={busy}>
            Create tenant
          </Button>
        </div>
      </form>
    </Modal>
  );
}
