// The SQL editor: ad-hoc SQL as the tenant's owner role, with the result of the last
// statement in a grid, a per-tenant run history, saved snippets and the tenant's tables.
import * as Tabs from "@radix-ui/react-tabs";
import {
  BookmarkPlus,
  Check,
  ChevronRight,
  Clock,
  Copy,
  Eye,
  Play,
  Search,
  Table2,
  Trash2,
  X,
} from "lucide-react";
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { ApiError, api, type Catalog, type CatalogTable, type SQLResult } from "../api";
import { CodeEditor, type CodeEditorHandle } from "../components/editor";
import { Badge, Button, ErrorBox, Field, Input, Modal, PageHeader, Spinner, cellText, copyText, cx, fmtMs, fmtNum, toast, useAsync } from "../components/ui";

// ---- local storage: the draft and history are per tenant, snippets are shared ----

interface HistoryEntry {
  sql: string;
  at: number; // ms since the epoch
  ms: number | null; // server-side duration, null when it failed before running
  ok: boolean;
  summary: string; // "SELECT 3" or the error message
  readOnly?: boolean;
}
interface Snippet {
  name: string;
  sql: string;
  at: number;
}

const draftKey = (t: string) => `kapok.console.sql.draft.${t}`;
const historyKey = (t: string) => `kapok.console.sql.history.${t}`;
const snippetsKey = "kapok.console.sql.snippets";
const readOnlyKey = "kapok.console.sql.readonly";
const HISTORY_MAX = 50;

function load<T>(key: string, fallback: T): T {
  try {
    const raw = localStorage.getItem(key);
    return raw == null ? fallback : (JSON.parse(raw) as T);
  } catch {
    return fallback;
  }
}
function store(key: string, value: unknown) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage full or disabled: the console still works, it just forgets */
  }
}

const defaultSql = (t: string) => `-- Runs as ${t}'s owner role.
select now();
`;

export function SqlPage({ tenant }: { tenant: string }) {
  const editor = useRef<CodeEditorHandle>(null);
  const [sql, setSql] = useState<string>(() => load<string | null>(draftKey(tenant), null) ?? defaultSql(tenant));
  const [readOnly, setReadOnly] = useState<boolean>(() => load(readOnlyKey, false));
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<{ res: SQLResult; sql: string; readOnly: boolean; selection: boolean } | null>(null);
  const [error, setError] = useState<unknown>(null);
  // Where the error points in the editor's text (a 1-based character offset), until the text changes.
  const [errorPos, setErrorPos] = useState<number | undefined>();
  const [history, setHistory] = useState<HistoryEntry[]>(() => load(historyKey(tenant), []));
  const [snippets, setSnippets] = useState<Snippet[]>(() => load(snippetsKey, []));
  const [saving, setSaving] = useState(false);
  const [tab, setTab] = useState("tables");

  // The draft survives navigation and reloads.
  useEffect(() => {
    const id = setTimeout(() => store(draftKey(tenant), sql), 300);
    return () => clearTimeout(id);
  }, [sql, tenant]);
  useEffect(() => store(readOnlyKey, readOnly), [readOnly]);

  const change = useCallback((v: string) => {
    setSql(v);
    setErrorPos(undefined);
  }, []);

  const addHistory = useCallback(
    (e: HistoryEntry) => {
      setHistory((h) => {
        const next = [e, ...h.filter((x) => x.sql !== e.sql)].slice(0, HISTORY_MAX);
        store(historyKey(tenant), next);
        return next;
      });
    },
    [tenant],
  );

  const run = useCallback(async () => {
    if (running) return;
    const ta = editor.current?.textarea;
    const selected = editor.current?.selection() ?? "";
    const useSel = selected.trim() !== "";
    const text = useSel ? selected : sql;
    // Offset of the text that runs within the editor's text, in characters (for the error mark).
    const offset = useSel && ta ? [...ta.value.slice(0, ta.selectionStart)].length : 0;
    if (!text.trim()) {
      setError(new Error("There is no SQL to run."));
      return;
    }
    setRunning(true);
    setError(null);
    setErrorPos(undefined);
    const at = Date.now();
    try {
      const res = await api.sql(tenant, text, readOnly);
      setResult({ res, sql: text, readOnly, selection: useSel });
      addHistory({ sql: text, at, ms: res.duration_ms, ok: true, summary: res.command || "OK", readOnly });
    } catch (e) {
      setError(e);
      const pos = e instanceof ApiError ? sqlErrorOf(e)?.position : undefined;
      if (pos) setErrorPos(offset + pos);
      addHistory({ sql: text, at, ms: null, ok: false, summary: e instanceof Error ? e.message : String(e), readOnly });
    } finally {
      setRunning(false);
    }
  }, [running, sql, tenant, readOnly, addHistory]);

  const restore = (text: string) => {
    setSql(text);
    setErrorPos(undefined);
    requestAnimationFrame(() => editor.current?.select(text.length));
  };

  const saveSnippet = (name: string) => {
    const next = [{ name, sql, at: Date.now() }, ...snippets.filter((s) => s.name !== name)];
    setSnippets(next);
    store(snippetsKey, next);
    setSaving(false);
    setTab("saved");
    toast(`Saved snippet “${name}”`);
  };
  const deleteSnippet = (name: string) => {
    const next = snippets.filter((s) => s.name !== name);
    setSnippets(next);
    store(snippetsKey, next);
  };

  return (
    <div className="flex flex-col gap-4 p-4 md:p-6">
      <PageHeader
        title="SQL editor"
        actions={
          <div className="flex flex-wrap items-center gap-2">
            <Toggle checked={readOnly} onChange={setReadOnly} label="Read-only" title="Run in a read-only transaction: writes fail" />
            <Button variant="ghost" onClick={() => setSaving(true)} disabled={!sql.trim()} title="Save the editor's text as a snippet">
              <BookmarkPlus className="size-4" aria-hidden />
              <span className="hidden sm:inline">Save</span>
              <span className="sr-only sm:hidden">Save snippet</span>
            </Button>
            <Button variant="primary" onClick={run} busy={running} title="Run (Ctrl+Enter)">
              {!running && <Play className="size-3.5" aria-hidden />}
              Run
            </Button>
          </div>
        }
      >
        <p className="text-sm text-zinc-400">
          Run SQL on <span className="font-mono text-zinc-300">{tenant}</span> as its owner role; several statements may run at once,
          the last one's result is shown.
        </p>
      </PageHeader>

      <div className="grid gap-4 lg:grid-cols-[15rem_minmax(0,1fr)]">
        <div className="min-w-0 space-y-3 lg:order-last">
          <CodeEditor
            ref={editor}
            value={sql}
            onChange={change}
            onRun={run}
            language="sql"
            ariaLabel="SQL"
            minRows={8}
            maxRows={18}
            errorPosition={errorPos}
            autoFocus
          />
          <div className="flex flex-wrap items-center justify-between gap-x-4 gap-y-1 text-xs text-zinc-400">
            <span>
              <Kbd>Ctrl</Kbd> <Kbd>Enter</Kbd> runs the selection, or everything · <Kbd>Ctrl</Kbd> <Kbd>/</Kbd> comments lines
            </span>
            {readOnly && (
              <span className="inline-flex items-center gap-1 text-amber-300/90">
                <Eye className="size-3.5" aria-hidden /> Read-only transaction
              </span>
            )}
          </div>

          {error ? (
            <SqlError error={error} onShow={errorPos ? () => editor.current?.select(charIndex(sql, errorPos - 1)) : undefined} />
          ) : null}
          {running && !result && <Spinner label="Running" />}
          {result && !error && <ResultView {...result} running={running} />}
          {!result && !error && !running && (
            <div className="rounded-xl border border-dashed border-zinc-800 px-6 py-10 text-center text-sm text-zinc-400">
              Results appear here. Press <Kbd>Ctrl</Kbd> <Kbd>Enter</Kbd> or <span className="text-zinc-300">Run</span>.
            </div>
          )}
        </div>

        <aside className="min-w-0 lg:order-first" aria-label="Tables, history and snippets">
          <Tabs.Root value={tab} onValueChange={setTab} className="rounded-xl border border-zinc-800 bg-zinc-900/60 lg:sticky lg:top-4">
            <Tabs.List aria-label="Sidebar" className="flex gap-1 border-b border-zinc-800 p-1.5">
              {[
                ["tables", "Tables"],
                ["history", "History"],
                ["saved", "Saved"],
              ].map(([v, l]) => (
                <Tabs.Trigger
                  key={v}
                  value={v}
                  className="flex-1 rounded-md px-2 py-1 text-xs font-medium text-zinc-400 hover:text-zinc-200 data-[state=active]:bg-zinc-800 data-[state=active]:text-zinc-100"
                >
                  {l}
                  {v === "history" && history.length > 0 && <span className="ml-1 text-zinc-400">{history.length}</span>}
                </Tabs.Trigger>
              ))}
            </Tabs.List>
            <div className="max-h-[24rem] overflow-y-auto p-1.5 lg:max-h-[calc(100vh-10rem)]">
              <Tabs.Content value="tables" className="focus-visible:outline-none">
                <TablesList tenant={tenant} onInsert={(t) => editor.current?.insert(t)} onQuery={(q) => restore(q)} />
              </Tabs.Content>
              <Tabs.Content value="history" className="focus-visible:outline-none">
                <HistoryList
                  entries={history}
                  onRestore={restore}
                  onClear={() => {
                    setHistory([]);
                    store(historyKey(tenant), []);
                  }}
                />
              </Tabs.Content>
              <Tabs.Content value="saved" className="focus-visible:outline-none">
                <SnippetList snippets={snippets} onRestore={restore} onDelete={deleteSnippet} />
              </Tabs.Content>
            </div>
          </Tabs.Root>
        </aside>
      </div>

      <SaveSnippet open={saving} onOpenChange={setSaving} onSave={saveSnippet} existing={snippets.map((s) => s.name)} />
    </div>
  );
}

// ---- results ----

/** Common type OIDs, for the column headers (the rest show as their number). */
const typeNames: Record<number, string> = {
  16: "bool", 17: "bytea", 18: "char", 19: "name", 20: "int8", 21: "int2", 23: "int4", 24: "regproc", 25: "text",
  26: "oid", 114: "json", 142: "xml", 650: "cidr", 700: "float4", 701: "float8", 790: "money", 829: "macaddr",
  869: "inet", 1000: "bool[]", 1005: "int2[]", 1007: "int4[]", 1009: "text[]", 1015: "varchar[]", 1016: "int8[]",
  1021: "float4[]", 1022: "float8[]", 1042: "bpchar", 1043: "varchar", 1082: "date", 1083: "time", 1114: "timestamp",
  1184: "timestamptz", 1186: "interval", 1231: "numeric[]", 1266: "timetz", 1700: "numeric", 2205: "regclass",
  2249: "record", 2278: "void", 2950: "uuid", 2951: "uuid[]", 3614: "tsvector", 3802: "jsonb", 3807: "jsonb[]", 4089: "regnamespace",
};
const PAGE_ROWS = 500;
const numericOids = new Set([20, 21, 23, 26, 700, 701, 790, 1700]);

function ResultView({ res, readOnly, selection, running }: { res: SQLResult; sql: string; readOnly: boolean; selection: boolean; running: boolean }) {
  const cols = res.columns ?? [];
  // Rows come as objects keyed by column name (or as arrays): one shape for the grid and the copies.
  const rows = useMemo(() => {
    const raw = (res.rows ?? []) as unknown[];
    return raw.map((r) => (Array.isArray(r) ? r : cols.map((c) => (r as Record<string, unknown>)?.[c.name])));
  }, [res, cols]);
  // Thousands of rows are slow to lay out: the grid grows on demand (copies take every row).
  const [shown, setShown] = useState(PAGE_ROWS);
  useEffect(() => setShown(PAGE_ROWS), [res]);
  const dupes = useMemo(() => {
    const seen = new Set<string>();
    const d = new Set<string>();
    cols.forEach((c) => (seen.has(c.name) ? d.add(c.name) : seen.add(c.name)));
    return [...d];
  }, [cols]);

  const copy = async (kind: "csv" | "json") => {
    const text =
      kind === "csv"
        ? [cols.map((c) => csvCell(c.name)).join(","), ...rows.map((r) => r.map((v) => csvCell(v)).join(","))].join("\n")
        : JSON.stringify(
            rows.map((r) => Object.fromEntries(cols.map((c, i) => [c.name, r[i] ?? null]))),
            null,
            2,
          );
    await copyText(text, `Copied ${fmtNum(rows.length)} ${rows.length === 1 ? "row" : "rows"} as ${kind.toUpperCase()}`);
  };

  const meta = (
    <div className="flex flex-wrap items-center gap-x-3 gap-y-1 text-xs text-zinc-400">
      <span className="font-mono text-zinc-200">{res.command || "OK"}</span>
      {cols.length > 0 ? (
        <span>
          {fmtNum(rows.length)} {rows.length === 1 ? "row" : "rows"}
        </span>
      ) : (
        <span>
          {fmtNum(res.rows_affected)} {res.rows_affected === 1 ? "row" : "rows"} affected
        </span>
      )}
      <span className="inline-flex items-center gap-1">
        <Clock className="size-3" aria-hidden />
        {fmtMs(res.duration_ms)}
      </span>
      {readOnly && <Badge tone="amber">read-only</Badge>}
      {selection && <Badge>selection</Badge>}
      {running && <span className="text-zinc-400">running again…</span>}
    </div>
  );

  return (
    <section aria-label="Result" className="overflow-hidden rounded-xl border border-zinc-800 bg-zinc-900/60">
      <header className="flex flex-wrap items-center justify-between gap-2 border-b border-zinc-800 px-3 py-2">
        {meta}
        {cols.length > 0 && (
          <div className="flex items-center gap-1">
            <Button size="sm" variant="ghost" onClick={() => copy("csv")} aria-label="Copy as CSV">
              <Copy className="size-3.5" aria-hidden /> CSV
            </Button>
            <Button size="sm" variant="ghost" onClick={() => copy("json")} aria-label="Copy as JSON">
              <Copy className="size-3.5" aria-hidden /> JSON
            </Button>
          </div>
        )}
      </header>
      {res.truncated && (
        <p className="border-b border-amber-500/20 bg-amber-500/10 px-3 py-1.5 text-xs text-amber-200">
          Truncated: only the first {fmtNum(rows.length)} rows are shown. Add a LIMIT, or page with OFFSET.
        </p>
      )}
      {dupes.length > 0 && (
        <p className="border-b border-amber-500/20 bg-amber-500/10 px-3 py-1.5 text-xs text-amber-200">
          Several columns are named {dupes.map((d) => `“${d}”`).join(", ")}: they all show one value. Give them aliases (AS …).
        </p>
      )}
      {cols.length === 0 ? (
        <p className="flex items-center gap-2 px-3 py-4 text-sm text-zinc-300">
          <Check className="size-4 text-emerald-400" aria-hidden />
          {res.command ? `${res.command} — done.` : "Done."}
          {res.command && " The statement returns no rows."}
        </p>
      ) : (
        <div className="max-h-[60vh] overflow-auto">
          <table aria-label="Results" className="w-max min-w-full border-separate border-spacing-0 font-mono text-xs">
            <thead>
              <tr>
                <th scope="col" className="sticky left-0 top-0 z-20 border-b border-r border-zinc-800 bg-zinc-900 px-2 py-1.5 text-right font-normal text-zinc-600">
                  <span className="sr-only">Row</span>#
                </th>
                {cols.map((c, i) => (
                  <th
                    key={i}
                    scope="col"
                    className="sticky top-0 z-10 border-b border-r border-zinc-800 bg-zinc-900 px-3 py-1.5 text-left font-sans font-medium whitespace-nowrap text-zinc-200"
                  >
                    {c.name}
                    <span className="ml-1.5 font-mono text-[10px] font-normal text-zinc-400">{typeNames[c.type_oid] ?? c.type_oid}</span>
                  </th>
                ))}
                <th aria-hidden className="sticky top-0 z-10 w-full border-b border-zinc-800 bg-zinc-900" />
              </tr>
            </thead>
            <tbody>
              {rows.slice(0, shown).map((r, i) => (
                <tr key={i} className="group">
                  <td className="sticky left-0 border-b border-r border-zinc-800/70 bg-zinc-950 px-2 py-1 text-right tabular-nums text-zinc-600 group-hover:bg-zinc-900">
                    {i + 1}
                  </td>
                  {cols.map((c, j) => (
                    <Cell key={j} value={r[j]} numeric={numericOids.has(c.type_oid)} />
                  ))}
                  <td aria-hidden className="border-b border-zinc-800/70 group-hover:bg-zinc-800/40" />
                </tr>
              ))}
            </tbody>
          </table>
          {rows.length === 0 && <p className="px-3 py-4 text-sm text-zinc-400">No rows.</p>}
          {rows.length > shown && (
            <div className="sticky left-0 flex flex-wrap items-center gap-2 px-3 py-2 text-xs text-zinc-400">
              Showing {fmtNum(shown)} of {fmtNum(rows.length)} rows.
              <Button size="sm" variant="ghost" onClick={() => setShown((n) => n + PAGE_ROWS * 4)}>
                Show {fmtNum(Math.min(PAGE_ROWS * 4, rows.length - shown))} more
              </Button>
              <Button size="sm" variant="ghost" onClick={() => setShown(rows.length)}>
                Show all
              </Button>
            </div>
          )}
        </div>
      )}
    </section>
  );
}

function Cell({ value, numeric }: { value: unknown; numeric: boolean }) {
  const isNull = value === null || value === undefined;
  const text = cellText(value);
  return (
    <td
      title={!isNull && text.length > 40 ? text.slice(0, 2000) : undefined}
      className={cx(
        "max-w-[28rem] truncate border-b border-r border-zinc-800/70 px-3 py-1 whitespace-nowrap group-hover:bg-zinc-800/40",
        isNull ? "italic text-zinc-400" : typeof value === "object" ? "text-sky-200" : typeof value === "boolean" ? "text-violet-300" : "text-zinc-200",
        numeric && "text-right tabular-nums",
      )}
    >
      {text}
    </td>
  );
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// ---- errors ----

interface SqlErrorBody {
  sqlstate?: string;
  position?: number;
  line?: number;
  column?: number;
  detail?: string;
  hint?: string;
}
function sqlErrorOf(e: ApiError): SqlErrorBody | null {
  const b = e.body as Record<string, unknown> | null;
  if (!b || typeof b !== "object" || e.code !== "sql-error") return null;
  return b as SqlErrorBody;
}

function SqlError({ error, onShow }: { error: unknown; onShow?: () => void }) {
  const se = error instanceof ApiError ? sqlErrorOf(error) : null;
  return (
    <div className="space-y-1.5">
      <ErrorBox error={error} />
      {se && (se.sqlstate || se.detail || se.line) && (
        <div className="flex flex-wrap items-center gap-x-3 gap-y-1 px-1 text-xs text-zinc-400">
          {se.sqlstate && (
            <span>
              SQLSTATE <span className="font-mono text-zinc-300">{se.sqlstate}</span>
            </span>
          )}
          {se.line ? (
            <span>
              line {se.line}, column {se.column}
            </span>
          ) : null}
          {se.detail && <span className="text-zinc-300">{se.detail}</span>}
          {onShow && (
            <button type="button" onClick={onShow} className="text-emerald-400 hover:underline">
              Show in editor
            </button>
          )}
        </div>
      )}
    </div>
  );
}

// ---- sidebar ----

function TablesList({ tenant, onInsert, onQuery }: { tenant: string; onInsert: (t: string) => void; onQuery: (sql: string) => void }) {
  const { data, error, loading, reload } = useAsync<Catalog>(() => api.schema(tenant), [tenant]);
  const [filter, setFilter] = useState("");
  const [open, setOpen] = useState<Record<string, boolean>>({});
  if (error && !data)
    return (
      <div className="space-y-2 p-1">
        <ErrorBox error={error} />
        <Button size="sm" onClick={reload}>
          Retry
        </Button>
      </div>
    );
  if (loading && !data) return <div className="p-2"><Spinner /></div>;
  const cat = data!;
  const first = cat.schemas[0];
  const tables = [...cat.tables]
    .filter((t) => !filter || t.name.toLowerCase().includes(filter.toLowerCase()))
    .sort((a, b) => (a.schema === b.schema ? a.name.localeCompare(b.name) : a.schema === first ? -1 : b.schema === first ? 1 : a.schema.localeCompare(b.schema)));
  const ref = (t: CatalogTable) => (t.schema === first ? ident(t.name) : `${ident(t.schema)}.${ident(t.name)}`);
  return (
    <div className="space-y-1">
      {cat.tables.length > 6 && (
        <div className="relative px-0.5 pb-1">
          <Search className="pointer-events-none absolute left-2.5 top-2 size-3.5 text-zinc-500" aria-hidden />
          <Input aria-label="Filter tables" placeholder="Filter" value={filter} onChange={(e) => setFilter(e.target.value)} className="h-7 pl-7 text-xs" />
        </div>
      )}
      {tables.length === 0 && <p className="px-2 py-3 text-xs text-zinc-400">{cat.tables.length ? "No table matches." : "No tables yet. Create one with CREATE TABLE, or a migration."}</p>}
      <ul className="space-y-px">
        {tables.map((t) => {
          const key = `${t.schema}.${t.name}`;
          const isOpen = !!open[key];
          return (
            <li key={key}>
              <div className="group flex items-center rounded-md hover:bg-zinc-800/60">
                <button
                  type="button"
                  aria-label={`${isOpen ? "Hide" : "Show"} columns of ${t.name}`}
                  aria-expanded={isOpen}
                  onClick={() => setOpen((o) => ({ ...o, [key]: !isOpen }))}
                  className="rounded p-1 text-zinc-500 hover:text-zinc-200"
                >
                  <ChevronRight className={cx("size-3.5 transition-transform", isOpen && "rotate-90")} aria-hidden />
                </button>
                <button
                  type="button"
                  onClick={() => onInsert(ref(t))}
                  title={`Insert ${ref(t)} at the cursor`}
                  className="flex min-w-0 flex-1 items-center gap-1.5 py-1 text-left text-xs text-zinc-300 hover:text-zinc-50"
                >
                  {t.kind === "table" ? (
                    <Table2 className="size-3.5 shrink-0 text-zinc-500" aria-hidden />
                  ) : (
                    <Eye className="size-3.5 shrink-0 text-zinc-500" aria-hidden />
                  )}
                  <span className="truncate font-mono">{t.schema === first ? t.name : `${t.schema}.${t.name}`}</span>
                </button>
                <button
                  type="button"
                  onClick={() => onQuery(`select *\nfrom ${ref(t)}\nlimit 100;\n`)}
                  aria-label={`Query ${t.name}: replace the editor's text with a SELECT`}
                  title="SELECT * … LIMIT 100"
                  className="rounded p-1 text-zinc-500 opacity-70 hover:text-emerald-300 group-hover:opacity-100 focus-visible:opacity-100"
                >
                  <Play className="size-3" aria-hidden />
                </button>
              </div>
              {isOpen && (
                <ul className="mb-1 ml-6 border-l border-zinc-800 pl-1">
                  {t.columns.map((c) => (
                    <li key={c.name}>
                      <button
                        type="button"
                        onClick={() => onInsert(ident(c.name))}
                        title={`Insert ${c.name} at the cursor`}
                        className="flex w-full items-center justify-between gap-2 rounded px-1.5 py-0.5 text-left text-[11px] hover:bg-zinc-800/60"
                      >
                        <span className={cx("truncate font-mono", t.primary_key?.includes(c.name) ? "text-amber-200" : "text-zinc-300")}>{c.name}</span>
                        <span className="shrink-0 font-mono text-zinc-400">{c.type}</span>
                      </button>
                    </li>
                  ))}
                </ul>
              )}
            </li>
          );
        })}
      </ul>
      <div className="px-1 pt-1">
        <button type="button" onClick={reload} className="text-[11px] text-zinc-400 hover:text-zinc-300">
          {loading ? "Refreshing…" : "Refresh"}
        </button>
      </div>
    </div>
  );
}

/** Quotes an identifier when Postgres would otherwise fold or reject it. */
function ident(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

function HistoryList({ entries, onRestore, onClear }: { entries: HistoryEntry[]; onRestore: (sql: string) => void; onClear: () => void }) {
  if (entries.length === 0) return <p className="px-2 py-3 text-xs text-zinc-400">Your last {HISTORY_MAX} runs on this tenant show here.</p>;
  return (
    <div>
      <ul className="space-y-px">
        {entries.map((h, i) => (
          <li key={i}>
            <button
              type="button"
              onClick={() => onRestore(h.sql)}
              title={h.ok ? "Put this SQL back in the editor" : `Failed: ${h.summary}`}
              className="w-full rounded-md px-2 py-1.5 text-left hover:bg-zinc-800/60"
            >
              <span className="flex items-center gap-1.5">
                <span className={cx("size-1.5 shrink-0 rounded-full", h.ok ? "bg-emerald-400" : "bg-red-400")} aria-label={h.ok ? "succeeded" : "failed"} role="img" />
                <span className="truncate font-mono text-[11px] text-zinc-200">{firstLine(h.sql)}</span>
              </span>
              <span className="mt-0.5 flex items-center gap-1.5 pl-3 text-[10px] text-zinc-400">
                <time dateTime={new Date(h.at).toISOString()} title={new Date(h.at).toLocaleString()} className="shrink-0 whitespace-nowrap">
                  {relTime(h.at)}
                </time>
                {h.ms != null && <span className="shrink-0 whitespace-nowrap">· {fmtMs(h.ms)}</span>}
                <span className={cx("truncate", !h.ok && "text-red-300/80")}>· {h.summary}</span>
              </span>
            </button>
          </li>
        ))}
      </ul>
      <div className="px-1 pt-1">
        <button type="button" onClick={onClear} className="text-[11px] text-zinc-400 hover:text-zinc-300">
          Clear history
        </button>
      </div>
    </div>
  );
}

function SnippetList({ snippets, onRestore, onDelete }: { snippets: Snippet[]; onRestore: (sql: string) => void; onDelete: (name: string) => void }) {
  if (snippets.length === 0)
    return <p className="px-2 py-3 text-xs text-zinc-400">Save the editor's text with Save; snippets are kept in this browser, for every tenant.</p>;
  return (
    <ul className="space-y-px">
      {snippets.map((s) => (
        <li key={s.name} className="group flex items-center rounded-md hover:bg-zinc-800/60">
          <button type="button" onClick={() => onRestore(s.sql)} className="min-w-0 flex-1 px-2 py-1.5 text-left" title="Put this snippet in the editor">
            <span className="block truncate text-xs text-zinc-200">{s.name}</span>
            <span className="block truncate font-mono text-[10px] text-zinc-400">{firstLine(s.sql)}</span>
          </button>
          <button
            type="button"
            onClick={() => onDelete(s.name)}
            aria-label={`Delete snippet ${s.name}`}
            className="mr-1 rounded p-1 text-zinc-500 opacity-60 hover:text-red-300 group-hover:opacity-100 focus-visible:opacity-100"
          >
            <Trash2 className="size-3.5" aria-hidden />
          </button>
        </li>
      ))}
    </ul>
  );
}

function SaveSnippet({ open, onOpenChange, onSave, existing }: { open: boolean; onOpenChange: (o: boolean) => void; onSave: (name: string) => void; existing: string[] }) {
  const [name, setName] = useState("");
  useEffect(() => {
    if (open) setName("");
  }, [open]);
  const clash = existing.includes(name.trim());
  return (
    <Modal open={open} onOpenChange={onOpenChange} title="Save snippet" description="Snippets are kept in this browser and offered on every tenant.">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) onSave(name.trim());
        }}
        className="space-y-4"
      >
        <Field id="snippet-name" label="Snippet name" hint={clash ? "A snippet of this name exists: saving replaces it." : undefined}>
          <Input id="snippet-name" value={name} onChange={(e) => setName(e.target.value)} autoFocus required placeholder="Open tickets per project" />
        </Field>
        <div className="flex justify-end gap-2">
          <Button type="button" variant="ghost" onClick={() => onOpenChange(false)}>
            <X className="size-3.5" aria-hidden /> Cancel
          </Button>
          <Button type="submit" variant="primary" disabled={!name.trim()}>
            {clash ? "Replace" : "Save"}
          </Button>
        </div>
      </form>
    </Modal>
  );
}

// ---- small pieces ----

function Toggle({ checked, onChange, label, title }: { checked: boolean; onChange: (v: boolean) => void; label: string; title?: string }) {
  return (
    <button
      type="button"
      role="switch"
      aria-checked={checked}
      onClick={() => onChange(!checked)}
      title={title}
      className="inline-flex h-9 items-center gap-2 rounded-md px-2 text-sm text-zinc-300 hover:bg-zinc-800/70"
    >
      <span className={cx("relative inline-flex h-4 w-7 shrink-0 rounded-full transition-colors", checked ? "bg-amber-500" : "bg-zinc-700")} aria-hidden>
        <span className={cx("absolute top-0.5 size-3 rounded-full bg-white shadow transition-transform", checked ? "translate-x-3.5" : "translate-x-0.5")} />
      </span>
      {label}
    </button>
  );
}

function Kbd({ children }: { children: ReactNode }) {
  return <kbd className="rounded border border-zinc-700 bg-zinc-800/80 px-1 py-px font-mono text-[10px] text-zinc-300">{children}</kbd>;
}

function firstLine(sql: string): string {
  const lines = sql.split("\n").map((l) => l.trim());
  return lines.find((l) => l && !l.startsWith("--")) ?? lines.find(Boolean) ?? "";
}

/** The UTF-16 index of the n-th (0-based) character of s. */
function charIndex(s: string, n: number): number {
  return [...s].slice(0, n).join("").length;
}

function relTime(at: number | string | Date): string {
  const t = typeof at === "number" ? at : new Date(at).getTime();
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 86400 * 30) return `${Math.round(s / 86400)} d ago`;
  return new Date(t).toLocaleDateString();
}
