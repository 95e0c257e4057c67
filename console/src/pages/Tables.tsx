// The table editor: browse, filter, sort and edit a tenant's tables through its own REST API
// (PostgREST dialect), so the tenant's grants and row-level policies apply to every change.
import {
  ArrowDown,
  ArrowUp,
  ArrowUpRight,
  ChevronLeft,
  ChevronRight,
  ChevronsUpDown,
  Eye,
  KeyRound,
  Layers,
  Link2,
  ListFilter,
  Lock,
  Maximize2,
  Plus,
  RefreshCw,
  Search,
  Table2,
  Trash2,
  X,
} from "lucide-react";
import { useEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent, type ReactNode } from "react";
import {
  api,
  rest,
  type Catalog,
  type CatalogColumn,
  type CatalogForeignKey,
  type CatalogTable,
} from "../api";
import { navigate, useLocation } from "../router";
import {
  Badge,
  Button,
  Empty,
  ErrorBox,
  Input,
  Link,
  Modal,
  Select,
  Spinner,
  Textarea,
  cellText,
  cx,
  fmtNum,
  toast,
  useAsync,
} from "../components/ui";

const PAGE_SIZE = 50;

type Row = Record<string, unknown>;
/** A column as the editor knows it: enumValues are an enum column's labels. */
type Col = CatalogColumn & { category?: string; enumValues?: string[] };

// ---- REST access ----

async function call<T>(tenant: string, method: string, path: string, opts: { body?: unknown; prefer?: string[]; schema?: string } = {}) {
  return rest<T>(tenant, method, path, opts);
}

const enc = encodeURIComponent;

// ---- filters: ?f=col.op.value in the console's URL, col=op.value in the REST query ----

type Op = "eq" | "neq" | "gt" | "gte" | "lt" | "lte" | "like" | "ilike" | "in" | "is" | "notis";
interface Filter {
  col: string;
  op: Op;
  value: string;
}

const OPS: { op: Op; label: string }[] = [
  { op: "eq", label: "equals (=)" },
  { op: "neq", label: "not equal (≠)" },
  { op: "gt", label: "greater than (>)" },
  { op: "gte", label: "greater or equal (≥)" },
  { op: "lt", label: "less than (<)" },
  { op: "lte", label: "less or equal (≤)" },
  { op: "like", label: "like" },
  { op: "ilike", label: "ilike" },
  { op: "in", label: "in list" },
  { op: "is", label: "is null" },
  { op: "notis", label: "is not null" },
];
const OP_SYMBOL: Record<Op, string> = {
  eq: "=",
  neq: "≠",
  gt: ">",
  gte: "≥",
  lt: "<",
  lte: "≤",
  like: "like",
  ilike: "ilike",
  in: "in",
  is: "is null",
  notis: "is not null",
};
const VALUE_OPS = new Set<string>(["eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "in"]);
const needsValue = (op: Op) => op !== "is" && op !== "notis";

/** Reads one ?f= parameter; the column is the longest known column name it starts with. */
function parseFilter(s: string, cols: string[]): Filter | null {
  const col = cols.filter((c) => s.startsWith(c + ".")).sort((a, b) => b.length - a.length)[0];
  if (!col) return null;
  const rest = s.slice(col.length + 1);
  if (rest === "is.null") return { col, op: "is", value: "" };
  if (rest === "not.is.null") return { col, op: "notis", value: "" };
  const dot = rest.indexOf(".");
  const op = dot < 0 ? rest : rest.slice(0, dot);
  const value = dot < 0 ? "" : rest.slice(dot + 1);
  if (!VALUE_OPS.has(op)) return null;
  if (op === "in") return { col, op, value: value.replace(/^\(/, "").replace(/\)$/, "") };
  return { col, op: op as Op, value };
}

function filterParam(f: Filter): string {
  if (f.op === "is") return `${f.col}.is.null`;
  if (f.op === "notis") return `${f.col}.not.is.null`;
  if (f.op === "in") return `${f.col}.in.(${f.value})`;
  return `${f.col}.${f.op}.${f.value}`;
}

/** Splits "a, \"b,c\", d" into items; double quotes keep commas inside an item. */
function splitList(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quoted) {
      if (ch === "\\" && i + 1 < s.length) cur += s[++i];
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      if (cur.trim() === "") cur = "";
      quoted = true;
      wasQuoted = true;
    } else if (ch === ",") {
      out.push(wasQuoted ? cur : cur.trim());
      cur = "";
      wasQuoted = false;
    } else cur += ch;
  }
  if (cur.trim() !== "" || wasQuoted || out.length) out.push(wasQuoted ? cur : cur.trim());
  return out;
}

/** Quotes a list item for PostgREST when it holds a reserved character. */
function quoteItem(v: string): string {
  if (v === "" || /[,.:()"\\\s]/.test(v)) return `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  return v;
}

function filterRest(f: Filter): string {
  let v: string;
  if (f.op === "is") v = "is.null";
  else if (f.op === "notis") v = "not.is.null";
  else if (f.op === "in") v = `in.(${splitList(f.value).map(quoteItem).join(",")})`;
  else v = `${f.op}.${f.value}`;
  return `${enc(f.col)}=${enc(v)}`;
}

/** A column name as PostgREST's order parameter takes it. */
function orderIdent(c: string) {
  return /^[A-Za-z_][A-Za-z0-9_$]*$/.test(c) ? c : `"${c.replace(/"/g, '""')}"`;
}

// ---- values ----

type Kind = "json" | "array" | "bool" | "number" | "text" | "other";
function kindOf(c: Col): Kind {
  if (c.is_array) return "array";
  const t = c.type_name;
  if (t === "json" || t === "jsonb") return "json";
  if (t === "bool") return "bool";
  if (c.category === "N" || ["int2", "int4", "int8", "float4", "float8", "numeric", "oid"].includes(t)) return "number";
  if (c.category === "S" || c.is_enum || ["text", "varchar", "bpchar", "citext", "name"].includes(t)) return "text";
  return "other";
}

/** The text an editor starts from. */
function toInput(c: Col, v: unknown): string {
  if (v === null || v === undefined) return "";
  const k = kindOf(c);
  if (k === "json" || typeof v === "object") return JSON.stringify(v);
  if (k === "number") return numText(c, v);
  return String(v);
}

/** The JSON value an editor's text stands for; throws on bad JSON. */
function fromInput(c: Col, text: string): unknown {
  const k = kindOf(c);
  const t = text.trim();
  if (c.enumValues) return t === "" ? null : text; // a label, or NULL from the select's empty choice
  switch (k) {
    case "json":
      if (t === "") return null;
      try {
        return JSON.parse(t);
      } catch {
        throw new Error(`${c.name}: not valid JSON`);
      }
    case "array":
      if (t === "") return null;
      if (t.startsWith("[")) {
        try {
          return JSON.parse(t);
        } catch {
          throw new Error(`${c.name}: not a valid JSON array`);
        }
      }
      return t; // a Postgres array literal such as {a,b}
    case "bool":
      return t === "" ? null : t === "true";
    case "text":
      return text;
    default:
      return t === "" ? null : t;
  }
}

function shortType(c: Col) {
  return c.type_name + (c.is_array ? "[]" : "");
}

function tableSlug(cat: Catalog, schema: string, name: string) {
  return schema === cat.schemas[0] ? name : `${schema}.${name}`;
}

function findTable(cat: Catalog, slug: string): CatalogTable | undefined {
  const first = cat.schemas[0];
  return (
    cat.tables.find((t) => t.schema === first && t.name === slug) ??
    cat.tables.find((t) => `${t.schema}.${t.name}` === slug) ??
    cat.tables.find((t) => t.name === slug)
  );
}

function tablePath(tenant: string, slug: string, query = "") {
  return `/t/${enc(tenant)}/tables/${enc(slug)}${query}`;
}

function KindIcon({ kind, className }: { kind: string; className?: string }) {
  const I = kind === "view" ? Eye : kind === "table" ? Table2 : Layers;
  return <I className={cx("size-3.5 shrink-0", className)} aria-hidden />;
}

// ---- the page ----

export function TablesPage({ tenant, table }: { tenant: string; table?: string }) {
  const cat = useAsync(() => api.schema(tenant), [tenant]);
  const { query } = useLocation();

  const catalog = cat.data;
  const current = catalog && table ? findTable(catalog, table) : undefined;

  // Without a table in the URL, open the first one.
  useEffect(() => {
    if (!catalog || table || catalog.tables.length === 0) return;
    const first = [...catalog.tables].sort(byPlace(catalog))[0];
    navigate(tablePath(tenant, tableSlug(catalog, first.schema, first.name)), true);
  }, [catalog, table, tenant]);

  if (!catalog) {
    return (
      <div className="space-y-4 p-4 md:p-6">
        <PageTitle title="Table editor" description="Browse and edit your tables" />
        {cat.error ? <ErrorBox error={cat.error} /> : <Spinner label="Loading tables" />}
      </div>
    );
  }

  if (catalog.tables.length === 0) {
    return (
      <div className="space-y-4 p-4 md:p-6">
        <PageTitle title="Table editor" description="Browse and edit your tables" />
        <ErrorBox error={cat.error} />
        <Empty title="No tables yet">
          <Link to={`/t/${enc(tenant)}/migrations`} className="text-emerald-400 hover:underline">
            Create one with a migration
          </Link>{" "}
          and it shows up here.
        </Empty>
      </div>
    );
  }

  const slug = current ? tableSlug(catalog, current.schema, current.name) : table;
  return (
    <div className="flex h-full min-h-0">
      <TableList tenant={tenant} catalog={catalog} selected={slug} onReload={cat.reload} loading={cat.loading} />
      <div className="flex min-w-0 flex-1 flex-col">
        <div className="px-4 pt-4 md:hidden">
          <label htmlFor="table-pick" className="sr-only">
            Table
          </label>
          <TablePicker id="table-pick" tenant={tenant} catalog={catalog} selected={slug} />
        </div>
        {cat.error ? (
          <div className="px-4 pt-4 md:px-6">
            <ErrorBox error={cat.error} />
          </div>
        ) : null}
        {current ? (
          <TableView
            key={`${current.schema}.${current.name}`}
            tenant={tenant}
            catalog={catalog}
            table={current}
            slug={slug!}
            query={query}
          />
        ) : table ? (
          <div className="space-y-4 p-4 md:p-6">
            <PageTitle title={table} description="Table editor" />
            <Empty title={`No table or view named ${table}`}>
              It may have been dropped, or this session may not see it. Pick another one from the list.
            </Empty>
          </div>
        ) : (
          <div className="p-4 md:p-6">
            <Spinner />
          </div>
        )}
      </div>
    </div>
  );
}

function byPlace(cat: Catalog) {
  const order = (s: string) => {
    const i = cat.schemas.indexOf(s);
    return i < 0 ? cat.schemas.length : i;
  };
  return (a: CatalogTable, b: CatalogTable) =>
    order(a.schema) - order(b.schema) ||
    a.schema.localeCompare(b.schema) ||
    Number(a.kind !== "table") - Number(b.kind !== "table") ||
    a.name.localeCompare(b.name);
}

function groupBySchema(cat: Catalog, tables: CatalogTable[]) {
  const groups = new Map<string, CatalogTable[]>();
  for (const t of [...tables].sort(byPlace(cat))) {
    if (!groups.has(t.schema)) groups.set(t.schema, []);
    groups.get(t.schema)!.push(t);
  }
  return [...groups];
}

function PageTitle({ title, description, actions }: { title: ReactNode; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="flex items-start justify-between gap-3">
      <div className="min-w-0 flex-1">
        <h1 className="flex min-w-0 items-center gap-2 text-lg font-semibold">{title}</h1>
        {description && <p className="mt-0.5 truncate text-sm text-zinc-400">{description}</p>}
      </div>
      {actions && <div className="flex shrink-0 items-center gap-2">{actions}</div>}
    </div>
  );
}

function TableList({
  tenant,
  catalog,
  selected,
  onReload,
  loading,
}: {
  tenant: string;
  catalog: Catalog;
  selected?: string;
  onReload: () => void;
  loading: boolean;
}) {
  const [q, setQ] = useState("");
  const shown = catalog.tables.filter((t) => `${t.schema}.${t.name}`.toLowerCase().includes(q.trim().toLowerCase()));
  const groups = groupBySchema(catalog, shown);
  return (
    <aside aria-label="Table list" className="hidden w-60 shrink-0 flex-col border-r border-zinc-800 bg-zinc-950 md:flex">
      <div className="flex items-center gap-2 border-b border-zinc-800 p-3">
        <div className="relative min-w-0 flex-1">
          <Search className="pointer-events-none absolute left-2.5 top-1/2 size-3.5 -translate-y-1/2 text-zinc-500" aria-hidden />
          <Input
            aria-label="Filter tables"
            placeholder="Filter tables…"
            value={q}
            onChange={(e) => setQ(e.target.value)}
            className="h-8 pl-8 text-xs"
          />
        </div>
        <Button variant="ghost" size="sm" aria-label="Reload tables" title="Reload tables" onClick={onReload} className="px-2">
          <RefreshCw className={cx("size-3.5", loading && "animate-spin")} aria-hidden />
        </Button>
      </div>
      <nav aria-label="Tables" className="min-h-0 flex-1 overflow-y-auto p-2">
        {groups.length === 0 && <p className="px-2 py-3 text-xs text-zinc-400">No table matches “{q}”.</p>}
        {groups.map(([schema, tables]) => (
          <div key={schema} className="mb-3">
            <h2 className="flex items-center justify-between px-2 pb-1 pt-1 text-[11px] font-medium uppercase tracking-wider text-zinc-400">
              <span className="truncate">{schema}</span>
              <span className="tabular-nums text-zinc-400">{tables.length}</span>
            </h2>
            <ul className="space-y-px">
              {tables.map((t) => {
                const slug = tableSlug(catalog, t.schema, t.name);
                const active = slug === selected;
                return (
                  <li key={t.name}>
                    <Link
                      to={tablePath(tenant, slug)}
                      aria-current={active ? "page" : undefined}
                      title={t.comment || `${t.schema}.${t.name}`}
                      className={cx(
                        "flex items-center gap-2 rounded-md px-2 py-1.5 text-[13px]",
                        active ? "bg-zinc-800 text-zinc-50" : "text-zinc-400 hover:bg-zinc-800/60 hover:text-zinc-100",
                      )}
                    >
                      <KindIcon kind={t.kind} className={active ? "text-emerald-400" : "text-zinc-500"} />
                      <span className="truncate">{t.name}</span>
                      {t.kind !== "table" && <span className="ml-auto text-[10px] text-zinc-400">{kindLabel(t.kind)}</span>}
                    </Link>
                  </li>
                );
              })}
            </ul>
          </div>
        ))}
      </nav>
    </aside>
  );
}

function kindLabel(kind: string) {
  return kind === "materialized_view" ? "mat. view" : kind.replace(/_/g, " ");
}

function TablePicker({ id, tenant, catalog, selected }: { id: string; tenant: string; catalog: Catalog; selected?: string }) {
  const known = !!selected && catalog.tables.some((t) => tableSlug(catalog, t.schema, t.name) === selected);
  return (
    <Select id={id} value={known ? selected : ""} onChange={(e) => e.target.value && navigate(tablePath(tenant, e.target.value))} className="h-9 text-sm">
      {!known && <option value="">Choose a table…</option>}
      {groupBySchema(catalog, catalog.tables).map(([schema, tables]) => (
        <optgroup key={schema} label={schema}>
          {tables.map((t) => (
            <option key={t.name} value={tableSlug(catalog, t.schema, t.name)}>
              {t.name}
              {t.kind !== "table" ? ` (${kindLabel(t.kind)})` : ""}
            </option>
          ))}
        </optgroup>
      ))}
    </Select>
  );
}

// ---- one table ----

interface Loaded {
  rows: Row[];
  total: number | null;
  offset: number;
  key: string;
}

interface EditState {
  r: number;
  col: string;
}

function TableView({
  tenant,
  catalog,
  table,
  slug,
  query,
}: {
  tenant: string;
  catalog: Catalog;
  table: CatalogTable;
  slug: string;
  query: URLSearchParams;
}) {
  const cols = useMemo(
    () =>
      (table.columns as Col[]).map((c) => {
        if (!c.is_enum || c.is_array) return c;
        const e = catalog.enums?.find((x) => x.name === c.type_name && x.schema === c.type_schema);
        return e ? { ...c, enumValues: e.values } : c;
      }),
    [table, catalog],
  );
  const colNames = useMemo(() => cols.map((c) => c.name), [cols]);
  const pk = table.primary_key ?? [];
  const schema = table.schema === catalog.schemas[0] ? undefined : table.schema;
  const canKey = pk.length > 0;
  const canEdit = canKey && cols.some((c) => c.updatable);
  const insertCols = cols.filter((c) => c.insertable && !c.is_generated);
  const canInsert = insertCols.length > 0;
  const readOnlyReason = !canKey
    ? "Read-only: no primary key identifies the rows"
    : !canEdit
      ? "Read-only: no column is updatable"
      : null;

  // The URL holds the view: filters (?f=), sort (?sort=col.asc) and page (?page=).
  const rawFilters = query.getAll("f");
  const filters = rawFilters.map((s) => parseFilter(s, colNames)).filter((f): f is Filter => !!f);
  const badFilters = rawFilters.filter((s) => !parseFilter(s, colNames));
  const sortRaw = query.get("sort") ?? "";
  const sortMatch = /^(.*)\.(asc|desc)$/.exec(sortRaw);
  const sort = sortMatch && colNames.includes(sortMatch[1]) ? { col: sortMatch[1], dir: sortMatch[2] as "asc" | "desc" } : null;
  const page = Math.max(1, Number.parseInt(query.get("page") ?? "1", 10) || 1);
  const offset = (page - 1) * PAGE_SIZE;

  const go = (next: { filters?: Filter[]; sort?: typeof sort; page?: number }, replace = false) => {
    const f = next.filters ?? filters;
    const s = next.sort !== undefined ? next.sort : sort;
    const p = next.page ?? 1;
    const parts = [...f.map((x) => "f=" + enc(filterParam(x)))];
    if (s) parts.push("sort=" + enc(`${s.col}.${s.dir}`));
    if (p > 1) parts.push("page=" + p);
    navigate(tablePath(tenant, slug, parts.length ? "?" + parts.join("&") : ""), replace);
  };

  const restQuery = useMemo(() => {
    const parts = ["select=*", ...filters.map(filterRest)];
    const order = sort ? `${orderIdent(sort.col)}.${sort.dir}.nullslast` : pk.map((c) => `${orderIdent(c)}.asc`).join(",");
    if (order) parts.push("order=" + enc(order));
    parts.push(`limit=${PAGE_SIZE}`, `offset=${offset}`);
    return parts.join("&");
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [JSON.stringify(filters), sort?.col, sort?.dir, offset, pk.join(",")]);

  const [tick, setTick] = useState(0);
  const [data, setData] = useState<Loaded | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const reload = () => setTick((t) => t + 1);

  useEffect(() => {
    let live = true;
    setLoading(true);
    call<Row[]>(tenant, "GET", `/${enc(table.name)}?${restQuery}`, { prefer: ["count=exact"], schema }).then(
      (r) => {
        if (!live) return;
        setData({ rows: Array.isArray(r.data) ? r.data : [], total: r.total, offset, key: restQuery });
        setLoadError(null);
        setLoading(false);
      },
      (e) => {
        if (!live) return;
        setLoadError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tenant, table.name, schema, restQuery, tick]);

  const rows = data?.rows ?? [];
  const total = data?.total ?? null;

  // Selection (by primary key), focus, inline edit, freshly inserted rows.
  const rowKey = (row: Row) => JSON.stringify(pk.map((c) => row[c] ?? null));
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [focus, setFocus] = useState({ r: 0, c: canKey ? 2 : 1 });
  const [editing, setEditing] = useState<EditState | null>(null);
  const [saving, setSaving] = useState(false);
  const [actionError, setActionError] = useState<unknown>(null);
  const [insertOpen, setInsertOpen] = useState(false);
  const [deleteOpen, setDeleteOpen] = useState(false);
  const [openRow, setOpenRow] = useState<number | null>(null);
  const [filterOpen, setFilterOpen] = useState(false);
  const gridRef = useRef<HTMLTableElement>(null);
  const wantFocus = useRef(false);

  useEffect(() => {
    setSelected(new Set());
    setEditing(null);
    setFresh(new Set());
  }, [restQuery]);

  // The navigable columns: [select], open, then the table's columns.
  const lead = canKey ? 2 : 1;
  const navCount = lead + cols.length;

  useEffect(() => {
    if (!wantFocus.current) return;
    wantFocus.current = false;
    const el = gridRef.current?.querySelector<HTMLElement>(`[data-pos="${focus.r}:${focus.c}"]`);
    el?.focus();
  });

  // Keep the focus inside the rows that exist.
  const fr = Math.min(focus.r, Math.max(0, rows.length - 1));
  const fc = Math.min(focus.c, navCount - 1);

  const moveFocus = (r: number, c: number) => {
    wantFocus.current = true;
    setFocus({ r: Math.max(0, Math.min(rows.length - 1, r)), c: Math.max(0, Math.min(navCount - 1, c)) });
  };

  const fkOf = useMemo(() => {
    const m = new Map<string, CatalogForeignKey>();
    for (const fk of table.foreign_keys ?? []) for (const c of fk.columns) if (!m.has(c)) m.set(c, fk);
    return m;
  }, [table]);

  const pkFilter = (row: Row) => pk.map((c) => `${enc(c)}=${enc("eq." + cellText(row[c]))}`).join("&");
  const pkLabel = (row: Row) => pk.map((c) => `${c}=${cellText(row[c])}`).join(", ");

  const startEdit = (r: number, col: Col) => {
    if (readOnlyReason) {
      toast(readOnlyReason, "error");
      return;
    }
    if (!col.updatable) {
      toast(`${col.name} is not updatable${col.is_generated ? " (generated column)" : col.is_identity ? " (identity column)" : ""}`, "error");
      return;
    }
    setActionError(null);
    setEditing({ r, col: col.name });
  };

  const patchRow = async (r: number, body: Row): Promise<boolean> => {
    const row = rows[r];
    setSaving(true);
    setActionError(null);
    try {
      const res = await call<Row[]>(tenant, "PATCH", `/${enc(table.name)}?${pkFilter(row)}`, {
        body,
        prefer: ["return=representation"],
        schema,
      });
      const updated = Array.isArray(res.data) ? res.data[0] : undefined;
      if (!updated) throw new Error("No row was updated: it may have been deleted, or a policy hides it from this key.");
      setData((d) => (d ? { ...d, rows: d.rows.map((x, i) => (i === r ? updated : x)) } : d));
      return true;
    } catch (e) {
      setActionError(e);
      return false;
    } finally {
      setSaving(false);
    }
  };

  const saveCell = async (r: number, col: Col, value: unknown) => {
    const before = rows[r]?.[col.name];
    if (JSON.stringify(before ?? null) === JSON.stringify(value ?? null)) {
      setEditing(null);
      wantFocus.current = true;
      setFocus((f) => ({ ...f }));
      return;
    }
    if (await patchRow(r, { [col.name]: value })) {
      setEditing(null);
      wantFocus.current = true;
      setFocus((f) => ({ ...f }));
    }
  };

  const cancelEdit = () => {
    setEditing(null);
    setActionError(null);
    wantFocus.current = true;
    setFocus((f) => ({ ...f }));
  };

  const onGridKey = (e: KeyboardEvent<HTMLTableSectionElement>) => {
    const t = e.target as HTMLElement;
    if (t.closest("[data-editor]")) return;
    const pos = t.closest<HTMLElement>("[data-pos]")?.dataset.pos;
    if (!pos) return;
    const [r, c] = pos.split(":").map(Number);
    const last = navCount - 1;
    switch (e.key) {
      case "ArrowUp":
        moveFocus(r - 1, c);
        break;
      case "ArrowDown":
        moveFocus(r + 1, c);
        break;
      case "ArrowLeft":
        moveFocus(r, c - 1);
        break;
      case "ArrowRight":
        moveFocus(r, c + 1);
        break;
      case "Home":
        moveFocus(e.ctrlKey ? 0 : r, lead);
        break;
      case "End":
        moveFocus(e.ctrlKey ? rows.length - 1 : r, last);
        break;
      case "Enter":
      case "F2":
        if (c < lead) return; // the checkbox and the open button answer Enter themselves
        startEdit(r, cols[c - lead]);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const toggleSort = (col: string) => {
    const next = !sort || sort.col !== col ? { col, dir: "asc" as const } : sort.dir === "asc" ? { col, dir: "desc" as const } : null;
    go({ sort: next });
  };

  const keysOnPage = rows.map(rowKey);
  const allSelected = canKey && rows.length > 0 && keysOnPage.every((k) => selected.has(k));
  const someSelected = keysOnPage.some((k) => selected.has(k));
  const toggleAll = () => setSelected(allSelected ? new Set() : new Set(keysOnPage));
  const toggleOne = (k: string) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(k)) n.delete(k);
      else n.add(k);
      return n;
    });

  const selectedRows = rows.filter((row) => selected.has(rowKey(row)));

  const from = rows.length ? offset + 1 : 0;
  const pinned = rows.filter((row) => canKey && fresh.has(rowKey(row))).length;
  const to = offset + rows.length - pinned;
  const lastPage = total != null ? Math.max(1, Math.ceil(total / PAGE_SIZE)) : null;
  const hasNext = total != null ? to < total : rows.length === PAGE_SIZE;

  const stale = loading && data?.key !== restQuery;
  const description =
    table.comment ||
    `${kindLabel(table.kind)[0].toUpperCase() + kindLabel(table.kind).slice(1)} · ${cols.length} columns${
      pk.length ? ` · primary key (${pk.join(", ")})` : ""
    }`;

  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <div className="px-4 pt-4 md:px-6 md:pt-5">
        <PageTitle
          title={
            <>
              <KindIcon kind={table.kind} className="size-4 text-emerald-400" />
              <span className="truncate">
                {schema && <span className="font-normal text-zinc-400">{schema}.</span>}
                {table.name}
              </span>
              {table.kind !== "table" && <Badge tone="blue">{kindLabel(table.kind)}</Badge>}
            </>
          }
          description={<span title={table.comment}>{description}</span>}
          actions={
            <>
              <Button variant="secondary" size="sm" onClick={reload} busy={loading && !!data} aria-label="Refresh rows" title="Refresh rows">
                {!(loading && data) && <RefreshCw className="size-3.5" aria-hidden />}
                <span className="hidden sm:inline">Refresh</span>
              </Button>
              <Button
                variant="primary"
                size="sm"
                onClick={() => setInsertOpen(true)}
                disabled={!canInsert}
                title={canInsert ? undefined : "No column of this relation takes inserts"}
              >
                <Plus className="size-3.5" aria-hidden />
                Insert row
              </Button>
            </>
          }
        />
      </div>

      {/* Toolbar: filters, sort, selection */}
      <div className="flex flex-wrap items-center gap-2 px-4 py-3 md:px-6">
        <Button
          variant={filterOpen || filters.length ? "secondary" : "ghost"}
          size="sm"
          aria-expanded={filterOpen}
          aria-controls="table-filters"
          onClick={() => setFilterOpen((o) => !o)}
        >
          <ListFilter className="size-3.5" aria-hidden />
          Filter
          {filters.length > 0 && (
            <span aria-hidden className="ml-0.5 rounded bg-emerald-500/15 px-1 text-[10px] font-semibold text-emerald-300">{filters.length}</span>
          )}
        </Button>
        {filters.map((f, i) => (
          <span
            key={i}
            className="inline-flex h-7 max-w-full items-center gap-1 rounded-md border border-zinc-700 bg-zinc-900 pl-2 pr-0.5 text-xs text-zinc-300"
          >
            <span className="truncate">
              <span className="font-medium text-zinc-100">{f.col}</span> <span className="text-zinc-400">{OP_SYMBOL[f.op]}</span>{" "}
              {needsValue(f.op) && <span className="font-mono">{f.op === "in" ? `(${f.value})` : f.value || "''"}</span>}
            </span>
            <button
              type="button"
              aria-label={`Remove filter ${f.col} ${OP_SYMBOL[f.op]}${needsValue(f.op) ? " " + f.value : ""}`}
              onClick={() => go({ filters: filters.filter((_, j) => j !== i) })}
              className="rounded p-1 text-zinc-500 hover:bg-zinc-800 hover:text-zinc-100"
            >
              <X className="size-3" aria-hidden />
            </button>
          </span>
        ))}
        {sort && (
          <span className="inline-flex h-7 items-center gap-1 rounded-md border border-zinc-700 bg-zinc-900 pl-2 pr-0.5 text-xs text-zinc-300">
            {sort.dir === "asc" ? <ArrowUp className="size-3 text-zinc-500" aria-hidden /> : <ArrowDown className="size-3 text-zinc-500" aria-hidden />}
            <span>
              sorted by <span className="font-medium text-zinc-100">{sort.col}</span>
            </span>
            <button
              type="button"
              aria-label="Remove sort"
              onClick={() => go({ sort: null })}
              className="rounded p-1 text-zinc-500 hover:bg-zinc-800 hover:text-zinc-100"
            >
              <X className="size-3" aria-hidden />
            </button>
          </span>
        )}
        <div className="ml-auto flex items-center gap-2">
          {readOnlyReason && (
            <span className="inline-flex items-center gap-1.5 text-xs text-zinc-400" title={readOnlyReason}>
              <Lock className="size-3" aria-hidden />
              <span className="hidden sm:inline">{readOnlyReason}</span>
              <span className="sm:hidden">Read-only</span>
            </span>
          )}
          {selectedRows.length > 0 && (
            <Button variant="danger" size="sm" onClick={() => setDeleteOpen(true)}>
              <Trash2 className="size-3.5" aria-hidden />
              Delete {selectedRows.length} {selectedRows.length === 1 ? "row" : "rows"}
            </Button>
          )}
        </div>
      </div>

      {filterOpen && (
        <FilterPanel
          cols={cols}
          applied={filters}
          onApply={(f) => go({ filters: f })}
          onClose={() => setFilterOpen(false)}
        />
      )}

      {(badFilters.length > 0 || !!loadError || !!actionError) && (
        <div className="space-y-2 px-4 pb-3 md:px-6">
          {badFilters.length > 0 && (
            <p className="text-xs text-amber-300">
              Ignored {badFilters.length === 1 ? "a filter" : "filters"} naming no column of {table.name}:{" "}
              <span className="font-mono">{badFilters.join(", ")}</span>
            </p>
          )}
          <ErrorBox error={loadError} />
          <ErrorBox error={actionError} />
        </div>
      )}

      {/* The grid */}
      <div className="relative mx-4 min-h-0 flex-1 overflow-auto rounded-lg border border-zinc-800 bg-zinc-900/30 md:mx-6">
        <table ref={gridRef} aria-label={`Rows of ${table.name}`} aria-rowcount={total != null ? total + 1 : undefined} className="w-max min-w-full border-separate border-spacing-0 text-[13px]">
          <thead>
            <tr>
              {canKey && (
                <th scope="col" className={cx(thBase, "w-9 px-0")}>
                  <span className="flex justify-center">
                    <input
                      type="checkbox"
                      aria-label="Select all rows on this page"
                      checked={allSelected}
                      ref={(el) => {
                        if (el) el.indeterminate = !allSelected && someSelected;
                      }}
                      onChange={toggleAll}
                      disabled={rows.length === 0}
                      className="size-3.5 accent-emerald-500"
                    />
                  </span>
                </th>
              )}
              <th scope="col" className={cx(thBase, "w-8 px-0")}>
                <span className="sr-only">Open row</span>
              </th>
              {cols.map((c) => {
                const isPk = pk.includes(c.name);
                const fk = fkOf.get(c.name);
                const sorted = sort?.col === c.name ? sort.dir : null;
                return (
                  <th
                    key={c.name}
                    scope="col"
                    aria-sort={sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : undefined}
                    className={cx(thBase, "p-0")}
                  >
                    <button
                      type="button"
                      onClick={() => toggleSort(c.name)}
                      title={`${c.name} · ${c.type}${c.comment ? "\n" + c.comment : ""}\nClick to sort`}
                      style={insetOutline}
                      className="group flex h-9 w-full min-w-[7rem] items-center gap-1.5 px-3 text-left hover:bg-zinc-800/60"
                    >
                      {isPk && (
                        <span title="Primary key" className="text-amber-400">
                          <KeyRound className="size-3" aria-hidden />
                          <span className="sr-only">Primary key</span>
                        </span>
                      )}
                      {fk && (
                        <span title={`References ${fk.ref_table}(${fk.ref_columns.join(", ")})`} className="text-sky-400">
                          <Link2 className="size-3" aria-hidden />
                          <span className="sr-only">Foreign key to {fk.ref_table}</span>
                        </span>
                      )}
                      <span className="font-medium text-zinc-200">{c.name}</span>
                      <span className="font-mono text-[11px] font-normal text-zinc-400">{shortType(c)}</span>
                      <span className="ml-auto pl-2 text-zinc-400">
                        {sorted === "asc" ? (
                          <ArrowUp className="size-3 text-emerald-400" aria-hidden />
                        ) : sorted === "desc" ? (
                          <ArrowDown className="size-3 text-emerald-400" aria-hidden />
                        ) : (
                          <ChevronsUpDown className="size-3 opacity-0 group-hover:opacity-100 group-focus-visible:opacity-100" aria-hidden />
                        )}
                      </span>
                    </button>
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody onKeyDown={onGridKey} className={cx(stale && "opacity-60 transition-opacity")}>
            {rows.map((row, r) => {
              const k = rowKey(row);
              const isSel = canKey && selected.has(k);
              const isFresh = canKey && fresh.has(k);
              const tab = (c: number) => (r === fr && c === fc ? 0 : -1);
              return (
                <tr
                  key={canKey ? k : r}
                  aria-rowindex={offset + r + 2}
                  aria-selected={canKey ? isSel : undefined}
                  className={cx(
                    "group/row",
                    isSel ? "bg-emerald-500/[0.07]" : isFresh ? "bg-emerald-500/[0.04]" : "hover:bg-zinc-800/30",
                  )}
                >
                  {canKey && (
                    <td className={cx(tdBase, "w-9 px-0")}>
                      <span className="flex justify-center">
                        <input
                          type="checkbox"
                          data-pos={`${r}:0`}
                          tabIndex={tab(0)}
                          onFocus={() => setFocus({ r, c: 0 })}
                          aria-label={`Select row ${pkLabel(row)}`}
                          checked={isSel}
                          onChange={() => toggleOne(k)}
                          className="size-3.5 accent-emerald-500"
                        />
                      </span>
                    </td>
                  )}
                  <td className={cx(tdBase, "w-8 px-0")}>
                    <span className="flex justify-center">
                      <button
                        type="button"
                        data-pos={`${r}:${lead - 1}`}
                        tabIndex={tab(lead - 1)}
                        onFocus={() => setFocus({ r, c: lead - 1 })}
                        onClick={() => setOpenRow(r)}
                        aria-label={`Open row ${canKey ? pkLabel(row) : offset + r + 1}`}
                        title="Open the row"
                        style={{ outlineOffset: 0 }}
                        className="rounded p-1 text-zinc-600 hover:bg-zinc-800 hover:text-zinc-200 group-hover/row:text-zinc-400"
                      >
                        <Maximize2 className="size-3" aria-hidden />
                      </button>
                    </span>
                  </td>
                  {cols.map((c, ci) => {
                    const pos = lead + ci;
                    const isEditing = editing?.r === r && editing.col === c.name;
                    if (isEditing) {
                      return (
                        <td key={c.name} className={cx(tdBase, "p-0 ring-2 ring-inset ring-emerald-500")}>
                          <InlineEditor
                            col={c}
                            value={row[c.name]}
                            saving={saving}
                            onSave={(v) => saveCell(r, c, v)}
                            onError={(e) => setActionError(e)}
                            onCancel={cancelEdit}
                          />
                        </td>
                      );
                    }
                    const fk = fkOf.get(c.name);
                    return (
                      <td
                        key={c.name}
                        data-pos={`${r}:${pos}`}
                        tabIndex={tab(pos)}
                        onFocus={(e) => e.target === e.currentTarget && setFocus({ r, c: pos })}
                        onDoubleClick={() => startEdit(r, c)}
                        style={noOutline}
                        className={cx(
                          tdBase,
                          "scroll-mt-9 scroll-ml-20 px-3 focus:outline-none focus:ring-2 focus:ring-inset focus:ring-emerald-500/80",
                        )}
                      >
                        <Cell
                          value={row[c.name]}
                          col={c}
                          link={fk && row[c.name] != null ? fkLink(tenant, catalog, fk, row) : undefined}
                          linkLabel={fk ? `Open the referenced ${fk.ref_table} row` : undefined}
                          focusable={r === fr && pos === fc}
                        />
                      </td>
                    );
                  })}
                </tr>
              );
            })}
          </tbody>
        </table>
        {!data && loading && (
          <div className="sticky left-0 flex w-full justify-center px-4 py-12">
            <Spinner label="Loading rows" />
          </div>
        )}
        {data && rows.length === 0 && (
          <div className="sticky left-0 w-full px-4 py-14 text-center">
            {filters.length ? (
              <>
                <p className="text-sm font-medium text-zinc-300">No rows match the filters</p>
                <Button variant="ghost" size="sm" className="mt-2" onClick={() => go({ filters: [] })}>
                  Clear filters
                </Button>
              </>
            ) : page > 1 ? (
              <>
                <p className="text-sm font-medium text-zinc-300">No rows on this page</p>
                <Button variant="ghost" size="sm" className="mt-2" onClick={() => go({ page: 1 })}>
                  Go to the first page
                </Button>
              </>
            ) : (
              <>
                <p className="text-sm font-medium text-zinc-300">This {table.kind === "table" ? "table" : "relation"} is empty</p>
                {canInsert && (
                  <p className="mt-1 text-sm text-zinc-400">
                    Add a first row with <span className="text-zinc-300">Insert row</span>.
                  </p>
                )}
              </>
            )}
          </div>
        )}
      </div>

      {/* Pagination */}
      <div className="flex flex-wrap items-center justify-between gap-2 px-4 py-2.5 text-xs text-zinc-400 md:px-6">
        <p aria-live="polite" className="tabular-nums">
          {data
            ? rows.length
              ? [
                  pinned ? `${fmtNum(pinned)} new ${pinned === 1 ? "row" : "rows"}` : "",
                  rows.length > pinned
                    ? `rows ${fmtNum(from)}–${fmtNum(to)}${total != null ? ` of ${fmtNum(total)}` : ""}`
                    : total != null
                      ? `${fmtNum(total)} in all`
                      : "",
                ]
                  .filter(Boolean)
                  .join(" · ")
              : total != null && total > 0
                ? `0 rows here, ${fmtNum(total)} in all`
                : "0 rows"
            : "\u00a0"}
          {selectedRows.length > 0 && <span className="text-emerald-300"> · {selectedRows.length} selected</span>}
        </p>
        <div className="flex items-center gap-1">
          {lastPage != null && lastPage > 1 && (
            <span className="mr-2 tabular-nums text-zinc-400">
              page {fmtNum(page)} of {fmtNum(lastPage)}
            </span>
          )}
          <Button variant="secondary" size="sm" aria-label="Previous page" disabled={page <= 1} onClick={() => go({ page: page - 1 })}>
            <ChevronLeft className="size-3.5" aria-hidden />
            <span className="hidden sm:inline">Previous</span>
          </Button>
          <Button variant="secondary" size="sm" aria-label="Next page" disabled={!hasNext} onClick={() => go({ page: page + 1 })}>
            <span className="hidden sm:inline">Next</span>
            <ChevronRight className="size-3.5" aria-hidden />
          </Button>
        </div>
      </div>

      <InsertDialog
        open={insertOpen}
        onOpenChange={setInsertOpen}
        tenant={tenant}
        table={table}
        cols={insertCols}
        pk={pk}
        schema={schema}
        onInserted={(row) => {
          setData((d) => (d ? { ...d, rows: [row, ...d.rows], total: d.total != null ? d.total + 1 : d.total } : d));
          if (canKey) setFresh((s) => new Set(s).add(rowKey(row)));
          toast(`Row inserted into ${table.name}${canKey ? ` (${pkLabel(row)})` : ""}`);
        }}
      />

      <Modal
        open={deleteOpen}
        onOpenChange={setDeleteOpen}
        title={`Delete ${selectedRows.length} ${selectedRows.length === 1 ? "row" : "rows"}?`}
        description={`The selected ${selectedRows.length === 1 ? "row is" : "rows are"} deleted from ${table.name}. This cannot be undone.`}
      >
        <DeleteConfirm
          tenant={tenant}
          table={table}
          pk={pk}
          schema={schema}
          rows={selectedRows}
          onDone={(n) => {
            setDeleteOpen(false);
            setSelected(new Set());
            toast(`Deleted ${n} ${n === 1 ? "row" : "rows"} from ${table.name}`);
            if (page > 1 && n >= rows.length) go({ page: page - 1 }, true);
            else reload();
          }}
          onCancel={() => setDeleteOpen(false)}
        />
      </Modal>

      {openRow != null && rows[openRow] && (
        <RowDialog
          row={rows[openRow]}
          cols={cols}
          pk={pk}
          fkOf={fkOf}
          tenant={tenant}
          catalog={catalog}
          tableName={table.name}
          editable={!readOnlyReason}
          saving={saving}
          onClose={() => {
            setOpenRow(null);
            setActionError(null);
          }}
          onSave={async (body) => {
            if (Object.keys(body).length === 0) return true;
            const ok = await patchRow(openRow, body);
            if (ok) toast(`Row updated${canKey ? ` (${pkLabel(rows[openRow])})` : ""}`);
            return ok;
          }}
          error={actionError}
        />
      )}
    </div>
  );
}

// The grid's cells show focus with a ring; the page-wide :focus-visible outline would double it.
const noOutline = { outline: "none" } as const;
const insetOutline = { outlineOffset: "-2px" } as const;

const thBase =
  "sticky top-0 z-10 h-9 whitespace-nowrap border-b border-r border-zinc-800 bg-zinc-900 text-left text-xs font-normal text-zinc-400 last:border-r-0";
const tdBase = "h-9 whitespace-nowrap border-b border-r border-zinc-800/70 last:border-r-0";

function fkLink(tenant: string, catalog: Catalog, fk: CatalogForeignKey, row: Row): string {
  const q = fk.columns.map((c, i) => "f=" + enc(`${fk.ref_columns[i]}.eq.${cellText(row[c])}`)).join("&");
  return tablePath(tenant, tableSlug(catalog, fk.ref_schema, fk.ref_table), "?" + q);
}

function Cell({
  value,
  col,
  link,
  linkLabel,
  focusable,
}: {
  value: unknown;
  col: Col;
  link?: string;
  linkLabel?: string;
  focusable: boolean;
}) {
  const text = cellText(value);
  let body: ReactNode;
  if (value === null || value === undefined) body = <span className="text-xs italic text-zinc-400">NULL</span>;
  else if (typeof value === "boolean") body = <span className={value ? "text-emerald-300" : "text-zinc-400"}>{text}</span>;
  else if (typeof value === "object") body = <span className="font-mono text-xs text-zinc-300">{text}</span>;
  else if (typeof value === "number" || kindOf(col) === "number") body = <span className="tabular-nums text-zinc-200">{numText(col, value)}</span>;
  else body = <span className="text-zinc-200">{text}</span>;
  return (
    <div className="flex max-w-[22rem] items-center gap-1.5">
      <div className="min-w-0 truncate" title={text.length > 24 ? text : undefined}>
        {body}
      </div>
      {link && (
        <Link
          to={link}
          tabIndex={focusable ? 0 : -1}
          aria-label={linkLabel}
          title={linkLabel}
          className="shrink-0 rounded p-0.5 text-sky-400/70 hover:bg-sky-500/10 hover:text-sky-300"
        >
          <ArrowUpRight className="size-3.5" aria-hidden />
        </Link>
      )}
    </div>
  );
}

/** A numeric(p,s) value as the database prints it: JSON numbers lose the trailing zeros. */
function numText(col: Col, v: unknown): string {
  const scale = /^numeric\(\d+,\s*(\d+)\)$/.exec(col.type)?.[1];
  if (typeof v === "number" && scale !== undefined && Number.isFinite(v)) return v.toFixed(Number(scale));
  return cellText(v);
}

function InlineEditor({
  col,
  value,
  saving,
  onSave,
  onCancel,
  onError,
}: {
  col: Col;
  value: unknown;
  saving: boolean;
  onSave: (v: unknown) => void;
  onCancel: () => void;
  onError: (e: unknown) => void;
}) {
  const kind = kindOf(col);
  const initial = toInput(col, value);
  const nullBtn = useRef<HTMLButtonElement>(null);
  // A save in flight: the blur that follows Enter (or the input's disabling) must not save again.
  const pending = useRef(false);
  useEffect(() => {
    if (!saving) pending.current = false;
  }, [saving]);
  const commit = (text: string) => {
    if (pending.current) return;
    try {
      const v = fromInput(col, text);
      pending.current = true;
      onSave(v);
    } catch (e) {
      onError(e);
    }
  };
  const onKey = (e: KeyboardEvent<HTMLElement>) => {
    if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      onCancel();
    } else if (e.key === "Enter") {
      e.preventDefault();
      e.stopPropagation();
      commit((e.currentTarget as HTMLInputElement).value);
    }
  };
  if (kind === "bool" || col.enumValues) {
    const choices = col.enumValues ?? ["true", "false"];
    return (
      <div data-editor className="flex h-9 items-center px-1">
        <select
          autoFocus
          aria-label={`Edit ${col.name}`}
          defaultValue={value === null || value === undefined ? "" : String(value)}
          disabled={saving}
          onKeyDown={onKey}
          onChange={(e) => commit(e.target.value)}
          style={noOutline}
          onBlur={(e) => {
            if (e.target.value === (value === null || value === undefined ? "" : String(value))) onCancel();
          }}
          className="h-7 w-full rounded border-0 bg-zinc-800 px-2 text-[13px] text-zinc-100 focus:outline-none"
        >
          {choices.map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
          {col.nullable && <option value="">NULL</option>}
        </select>
      </div>
    );
  }
  return (
    <div data-editor className="flex h-9 min-w-[12rem] items-center gap-1 pr-1">
      <input
        autoFocus
        aria-label={`Edit ${col.name}`}
        defaultValue={initial}
        placeholder={value === null || value === undefined ? "NULL" : undefined}
        disabled={saving}
        onFocus={(e) => e.target.select()}
        style={noOutline}
        onKeyDown={onKey}
        onBlur={(e) => {
          if (pending.current || (e.relatedTarget && e.relatedTarget === nullBtn.current)) return;
          if (e.target.value === initial) onCancel();
          else commit(e.target.value);
        }}
        className={cx(
          "h-full min-w-0 flex-1 bg-transparent px-3 text-[13px] text-zinc-50 placeholder:italic placeholder:text-zinc-600 focus:outline-none",
          (kind === "json" || kind === "array") && "font-mono text-xs",
        )}
      />
      {saving && <RefreshCw className="size-3 shrink-0 animate-spin text-zinc-500" aria-hidden />}
      {col.nullable && !saving && (
        <button
          ref={nullBtn}
          type="button"
          onMouseDown={(e) => e.preventDefault()}
          onClick={() => {
            pending.current = true;
            onSave(null);
          }}
          onKeyDown={(e) => e.key === "Escape" && (e.stopPropagation(), onCancel())}
          title={`Set ${col.name} to NULL`}
          className="shrink-0 rounded border border-zinc-700 px-1.5 py-0.5 text-[10px] font-medium text-zinc-400 hover:bg-zinc-800 hover:text-zinc-100"
        >
          NULL
        </button>
      )}
    </div>
  );
}

// ---- filters panel ----

function FilterPanel({
  cols,
  applied,
  onApply,
  onClose,
}: {
  cols: Col[];
  applied: Filter[];
  onApply: (f: Filter[]) => void;
  onClose: () => void;
}) {
  const blank = (): Filter => ({ col: cols[0]?.name ?? "", op: "eq", value: "" });
  const appliedKey = JSON.stringify(applied);
  const [draft, setDraft] = useState<Filter[]>(applied.length ? applied : [blank()]);
  useEffect(() => {
    setDraft(applied.length ? applied : [blank()]);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [appliedKey]);

  const set = (i: number, patch: Partial<Filter>) => setDraft((d) => d.map((f, j) => (j === i ? { ...f, ...patch } : f)));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply(draft.filter((f) => f.col));
  };
  return (
    <form
      id="table-filters"
      onSubmit={submit}
      aria-label="Filters"
      className="mx-4 mb-3 space-y-2 rounded-lg border border-zinc-800 bg-zinc-900/60 p-3 md:mx-6"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          onClose();
        }
      }}
    >
      {draft.length === 0 && <p className="text-xs text-zinc-400">No filters: every row is shown.</p>}
      {draft.map((f, i) => (
        <div key={i} className="flex flex-wrap items-center gap-2">
          <span className="hidden w-10 text-right text-[11px] uppercase tracking-wider text-zinc-400 sm:block">{i === 0 ? "where" : "and"}</span>
          <div className="w-[calc(50%-1.75rem)] sm:w-44">
            <Select
              aria-label={`Filter ${i + 1} column`}
              value={f.col}
              onChange={(e) => set(i, { col: e.target.value })}
              className="h-8 text-xs"
            >
              {cols.map((c) => (
                <option key={c.name} value={c.name}>
                  {c.name}
                </option>
              ))}
            </Select>
          </div>
          <div className="w-[calc(50%-1.75rem)] sm:w-44">
            <Select
              aria-label={`Filter ${i + 1} operator`}
              value={f.op}
              onChange={(e) => set(i, { op: e.target.value as Op })}
              className="h-8 text-xs"
            >
              {OPS.map((o) => (
                <option key={o.op} value={o.op}>
                  {o.label}
                </option>
              ))}
            </Select>
          </div>
          <div className="order-last w-full sm:order-none sm:w-auto sm:min-w-[10rem] sm:flex-1">
            {needsValue(f.op) && (
              <Input
                aria-label={`Filter ${i + 1} value`}
                value={f.value}
                onChange={(e) => set(i, { value: e.target.value })}
                placeholder={f.op === "in" ? "a, b, c" : f.op === "like" || f.op === "ilike" ? "%text%" : "value"}
                className="h-8 font-mono text-xs"
              />
            )}
          </div>
          <Button
            type="button"
            variant="ghost"
            size="sm"
            aria-label={`Remove filter ${i + 1}`}
            onClick={() => setDraft((d) => d.filter((_, j) => j !== i))}
            className="px-1.5"
          >
            <X className="size-3.5" aria-hidden />
          </Button>
        </div>
      ))}
      <div className="flex flex-wrap items-center gap-2 pt-1">
        <Button type="button" variant="ghost" size="sm" onClick={() => setDraft((d) => [...d, blank()])}>
          <Plus className="size-3.5" aria-hidden />
          Add filter
        </Button>
        <div className="ml-auto flex gap-2">
          <Button
            type="button"
            variant="ghost"
            size="sm"
            onClick={() => {
              setDraft([]);
              onApply([]);
            }}
          >
            Clear
          </Button>
          <Button type="submit" variant="primary" size="sm">
            Apply filters
          </Button>
        </div>
      </div>
    </form>
  );
}

// ---- insert ----

interface FieldState {
  text: string;
  isNull: boolean;
}

function placeholderFor(c: Col, mode: "insert" | "edit"): string | undefined {
  if (mode === "insert" && c.has_default) return "default";
  if (c.nullable) return "NULL";
  switch (kindOf(c)) {
    case "json":
      return '{"key": "value"}';
    case "array":
      return '["a", "b"]';
  }
  switch (c.type_name) {
    case "date":
      return "2025-01-31";
    case "timestamptz":
      return "2025-01-31 12:00:00+00";
    case "timestamp":
      return "2025-01-31 12:00:00";
    case "uuid":
      return "00000000-0000-0000-0000-000000000000";
  }
  return undefined;
}

function ColumnField({
  col,
  id,
  state,
  onChange,
  mode,
  readOnly,
  isPk,
  fk,
  multiline,
  after,
}: {
  col: Col;
  id: string;
  state: FieldState;
  onChange: (s: FieldState) => void;
  mode: "insert" | "edit";
  readOnly?: boolean;
  isPk?: boolean;
  fk?: CatalogForeignKey;
  multiline?: boolean;
  after?: ReactNode;
}) {
  const kind = kindOf(col);
  const wide = kind === "json" || kind === "array" || !!multiline;
  const ph = state.isNull ? "NULL" : placeholderFor(col, mode);
  const disabled = readOnly || state.isNull;
  const hintId = id + "-type";
  const extra = [
    isPk && "primary key",
    fk && `→ ${fk.ref_table}.${fk.ref_columns[fk.columns.indexOf(col.name)]}`,
    col.has_default && col.default && (/^nextval\(/.test(col.default) ? "serial" : `default ${col.default}`),
    col.is_identity && "identity",
    col.is_generated && "generated",
    !col.nullable && !col.has_default && "required",
  ].filter(Boolean);
  return (
    <div className={cx("min-w-0 space-y-1.5", wide && "sm:col-span-2")}>
      <div className="flex items-baseline justify-between gap-2">
        <label htmlFor={id} className="shrink-0 text-xs font-medium text-zinc-300">
          {col.name}
        </label>
        <span id={hintId} className="min-w-0 truncate font-mono text-[11px] text-zinc-400" title={[col.type, ...extra].join(" · ")}>
          {shortType(col)}
          {extra.length > 0 && <span className="text-zinc-400"> · {extra.join(" · ")}</span>}
        </span>
      </div>
      <div className="flex items-start gap-2">
        <div className="min-w-0 flex-1">
          {kind === "bool" ? (
            <Select
              id={id}
              aria-describedby={hintId}
              value={state.isNull ? "" : state.text}
              disabled={disabled}
              onChange={(e) => onChange({ ...state, text: e.target.value })}
            >
              <option value="">
                {mode === "insert" && col.has_default ? `default${col.default ? ` (${col.default})` : ""}` : col.nullable ? "NULL" : "Choose…"}
              </option>
              <option value="true">true</option>
              <option value="false">false</option>
            </Select>
          ) : col.enumValues ? (
            <Select
              id={id}
              aria-describedby={hintId}
              value={state.isNull ? "" : state.text}
              disabled={disabled}
              onChange={(e) => onChange({ ...state, text: e.target.value })}
            >
              <option value="">
                {mode === "insert" && col.has_default ? `default${col.default ? ` (${col.default})` : ""}` : col.nullable ? "NULL" : "Choose…"}
              </option>
              {col.enumValues.map((v) => (
                <option key={v} value={v}>
                  {v}
                </option>
              ))}
            </Select>
          ) : kind === "json" || kind === "array" || wide ? (
            <Textarea
              id={id}
              aria-describedby={hintId}
              rows={kind === "text" ? 3 : 2}
              value={state.isNull ? "" : state.text}
              placeholder={ph}
              disabled={disabled}
              readOnly={readOnly}
              onChange={(e) => onChange({ ...state, text: e.target.value })}
              className={cx("min-h-9", kind === "text" && "font-sans text-sm")}
            />
          ) : (
            <Input
              id={id}
              aria-describedby={hintId}
              value={state.isNull ? "" : state.text}
              placeholder={ph}
              disabled={disabled}
              readOnly={readOnly}
              onChange={(e) => onChange({ ...state, text: e.target.value })}
              className={cx(kind === "number" && "tabular-nums", kind === "other" && "font-mono text-[13px]")}
            />
          )}
        </div>
        {col.nullable && !readOnly && (
          <label className="mt-2 flex shrink-0 cursor-pointer items-center gap-1.5 text-[11px] font-medium text-zinc-400" title={`Set ${col.name} to NULL`}>
            <input
              type="checkbox"
              checked={state.isNull}
              onChange={(e) => onChange({ ...state, isNull: e.target.checked })}
              className="size-3.5 accent-emerald-500"
            />
            NULL
          </label>
        )}
      </div>
      {after}
    </div>
  );
}

function InsertDialog({
  open,
  onOpenChange,
  tenant,
  table,
  cols,
  pk,
  schema,
  onInserted,
}: {
  open: boolean;
  onOpenChange: (o: boolean) => void;
  tenant: string;
  table: CatalogTable;
  cols: Col[];
  pk: string[];
  schema?: string;
  onInserted: (row: Row) => void;
}) {
  const empty = () => Object.fromEntries(cols.map((c) => [c.name, { text: "", isNull: false }])) as Record<string, FieldState>;
  const [fields, setFields] = useState<Record<string, FieldState>>(empty);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const fks = table.foreign_keys ?? [];

  useEffect(() => {
    if (open) {
      setFields(empty());
      setError(null);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const body: Row = {};
    try {
      for (const c of cols) {
        const f = fields[c.name] ?? { text: "", isNull: false };
        if (f.isNull) body[c.name] = null;
        else if (f.text === "") {
          // Empty: the column's default (or NULL); a required text column gets the empty string.
          if (kindOf(c) === "text" && !c.has_default && !c.nullable) body[c.name] = "";
        } else body[c.name] = fromInput(c, f.text);
      }
    } catch (err) {
      setError(err);
      return;
    }
    setBusy(true);
    try {
      const res = await call<Row[]>(tenant, "POST", `/${enc(table.name)}`, {
        body,
        prefer: ["return=representation"],
        schema,
      });
      const row = Array.isArray(res.data) ? res.data[0] : undefined;
      onOpenChange(false);
      if (row) onInserted(row);
      else toast(`Row inserted into ${table.name}; this key may not read it back`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal
      open={open}
      onOpenChange={onOpenChange}
      wide
      title={`Insert a row into ${table.name}`}
      description="Leave a field empty for its default. Values are checked by the database."
    >
      <form onSubmit={submit} className="space-y-4">
        <div className="grid gap-4 sm:grid-cols-2">
          {cols.map((c) => (
            <ColumnField
              key={c.name}
              col={c}
              id={`insert-${c.name}`}
              mode="insert"
              isPk={pk.includes(c.name)}
              fk={fks.find((fk) => fk.columns.includes(c.name))}
              state={fields[c.name] ?? { text: "", isNull: false }}
              onChange={(s) => setFields((f) => ({ ...f, [c.name]: s }))}
            />
          ))}
        </div>
        <ErrorBox error={error} />
        <div className="flex justify-end gap-2 border-t border-zinc-800 pt-4">
          <Button type="button" variant="ghost" onClick={() => onOpenChange(false)}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" busy={busy}>
            Save
          </Button>
        </div>
      </form>
    </Modal>
  );
}

// ---- delete ----

function DeleteConfirm({
  tenant,
  table,
  pk,
  schema,
  rows,
  onDone,
  onCancel,
}: {
  tenant: string;
  table: CatalogTable;
  pk: string[];
  schema?: string;
  rows: Row[];
  onDone: (n: number) => void;
  onCancel: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      if (pk.length === 1) {
        const list = rows.map((r) => quoteItem(cellText(r[pk[0]]))).join(",");
        await call(tenant, "DELETE", `/${enc(table.name)}?${enc(pk[0])}=${enc(`in.(${list})`)}`, { schema });
      } else {
        for (const r of rows) {
          const q = pk.map((c) => `${enc(c)}=${enc("eq." + cellText(r[c]))}`).join("&");
          await call(tenant, "DELETE", `/${enc(table.name)}?${q}`, { schema });
        }
      }
      onDone(rows.length);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const preview = rows.slice(0, 6).map((r) => pk.map((c) => `${c}=${cellText(r[c])}`).join(", "));
  return (
    <div className="space-y-4">
      <ul className="flex flex-wrap gap-1.5">
        {preview.map((p) => (
          <li key={p} className="rounded bg-zinc-800 px-1.5 py-0.5 font-mono text-[11px] text-zinc-300">
            {p}
          </li>
        ))}
        {rows.length > preview.length && <li className="px-1 text-xs text-zinc-400">and {rows.length - preview.length} more</li>}
      </ul>
      <ErrorBox error={error} />
      <div className="flex justify-end gap-2">
        <Button variant="ghost" onClick={onCancel}>
          Cancel
        </Button>
        <Button variant="danger" busy={busy} onClick={run} autoFocus>
          Delete
        </Button>
      </div>
    </div>
  );
}

// ---- one row, all columns ----

function RowDialog({
  row,
  cols,
  pk,
  fkOf,
  tenant,
  catalog,
  tableName,
  editable,
  saving,
  error,
  onClose,
  onSave,
}: {
  row: Row;
  cols: Col[];
  pk: string[];
  fkOf: Map<string, CatalogForeignKey>;
  tenant: string;
  catalog: Catalog;
  tableName: string;
  editable: boolean;
  saving: boolean;
  error: unknown;
  onClose: () => void;
  onSave: (body: Row) => Promise<boolean>;
}) {
  const init = () =>
    Object.fromEntries(cols.map((c) => [c.name, { text: toInput(c, row[c.name]), isNull: row[c.name] === null || row[c.name] === undefined }])) as Record<
      string,
      FieldState
    >;
  const [fields, setFields] = useState<Record<string, FieldState>>(init);
  const [dirty, setDirty] = useState<Set<string>>(new Set());
  const [multiline] = useState(
    () => new Set(cols.filter((c) => kindOf(c) === "text" && /\n|.{61}/.test(toInput(c, row[c.name]))).map((c) => c.name)),
  );
  const [localError, setLocalError] = useState<unknown>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setLocalError(null);
    const body: Row = {};
    try {
      for (const name of dirty) {
        const c = cols.find((x) => x.name === name)!;
        const f = fields[name];
        body[name] = f.isNull ? null : fromInput(c, f.text);
      }
    } catch (err) {
      setLocalError(err);
      return;
    }
    if (await onSave(body)) onClose();
  };

  const title = pk.length ? `${tableName} · ${pk.map((c) => `${c} = ${cellText(row[c])}`).join(", ")}` : `${tableName} · row`;
  return (
    <Modal open onOpenChange={(o) => !o && onClose()} wide title={title} description={editable ? "Edit any column, then save the changes." : "This row is read-only here."}>
      <form onSubmit={submit} className="space-y-4">
        <div className="grid gap-4 sm:grid-cols-2">
          {cols.map((c) => {
            const fk = fkOf.get(c.name);
            return (
              <ColumnField
                key={c.name}
                col={c}
                id={`row-${c.name}`}
                mode="edit"
                readOnly={!editable || !c.updatable}
                isPk={pk.includes(c.name)}
                fk={fk}
                multiline={multiline.has(c.name)}
                state={fields[c.name]}
                onChange={(s) => {
                  setFields((f) => ({ ...f, [c.name]: s }));
                  setDirty((d) => new Set(d).add(c.name));
                }}
                after={
                  fk && row[c.name] != null ? (
                    <Link
                      to={fkLink(tenant, catalog, fk, row)}
                      onClick={onClose}
                      className="inline-flex items-center gap-1 text-xs text-sky-400 hover:underline"
                    >
                      Open the {fk.ref_table} row <ArrowUpRight className="size-3" aria-hidden />
                    </Link>
                  ) : undefined
                }
              />
            );
          })}
        </div>
        <ErrorBox error={localError ?? error} />
        <div className="flex items-center justify-end gap-2 border-t border-zinc-800 pt-4">
          {dirty.size > 0 && <span className="mr-auto text-xs text-zinc-400">{dirty.size} changed</span>}
          <Button type="button" variant="ghost" onClick={onClose}>
            {editable ? "Cancel" : "Close"}
          </Button>
          {editable && (
            <Button type="submit" variant="primary" busy={saving} disabled={dirty.size === 0}>
              Save changes
            </Button>
          )}
        </div>
      </form>
    </Modal>
  );
}
