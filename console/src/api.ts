// The console's only way to Kapok: the admin API (/admin/v1) and a tenant's own APIs
// (/t/{tenant}/rest/v1, /t/{tenant}/v1/graphql), so permissions apply to everything the
// console shows or changes.

/** How the console signed in: the admin key (every tenant), or one tenant's service_role key. */
export type Session =
  | { kind: "admin"; key: string }
  | { kind: "tenant"; tenant: string; key: string };

const storageKey = "kapok.console.session";

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(storageKey) ?? localStorage.getItem(storageKey);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    if (s && (s.kind === "admin" || s.kind === "tenant") && typeof s.key === "string") return s;
  } catch {
    /* a damaged entry is no session */
  }
  return null;
}

export function saveSession(s: Session | null, remember = false) {
  sessionStorage.removeItem(storageKey);
  localStorage.removeItem(storageKey);
  if (s) (remember ? localStorage : sessionStorage).setItem(storageKey, JSON.stringify(s));
}

/** An error answered by Kapok, in the API's own shape (message, code, details, hint). */
export class ApiError extends Error {
  status: number;
  code?: string;
  details?: unknown;
  hint?: string;
  body: unknown;
  constructor(status: number, body: unknown) {
    const b = (body ?? {}) as Record<string, unknown>;
    const msg =
      (typeof b.message === "string" && b.message) ||
      (typeof b.error === "string" && b.error) ||
      (Array.isArray(b.errors) && (b.errors[0] as { message?: string })?.message) ||
      `HTTP ${status}`;
    super(String(msg));
    this.status = status;
    this.code = typeof b.code === "string" ? b.code : undefined;
    this.details = b.details;
    this.hint = typeof b.hint === "string" ? b.hint : undefined;
    this.body = body;
  }
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

let session: Session | null = null;
export function setActiveSession(s: Session | null) {
  session = s;
}
export function activeSession(): Session | null {
  return session;
}

/** Calls the admin API with the session's key; throws ApiError on a non-2xx answer. */
export async function admin<T>(method: string, path: string, body?: unknown, s: Session | null = session): Promise<T> {
  if (!s) throw new ApiError(401, { message: "not signed in" });
  const headers: Record<string, string> = { "X-Kapok-Actor": "console" };
  if (s.kind === "admin") headers["X-Kapok-Admin-Key"] = s.key;
  else headers["Authorization"] = "Bearer " + s.key;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch("/admin/v1" + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await readBody(res);
  if (!res.ok) throw new ApiError(res.status, data);
  return data as T;
}

export const enc = encodeURIComponent;

// ---- admin API types ----

export interface TenantInfo {
  name: string;
  source: "config" | "control";
  mode: "schema" | "database";
  upstream: string;
  database?: string;
  schemas: string[];
  template?: string;
  pool: Record<string, unknown> | null;
  limits: Record<string, unknown> | null;
  auth?: Record<string, unknown> | null;
  allow_cidrs: string[] | null;
  schema_version?: string;
  ready: boolean;
  state: "cold" | "resident" | "hibernated" | "failed";
  load_error?: string;
  created_at?: string;
  updated_at?: string;
}

export interface CreateTenantRequest {
  name: string;
  mode?: "schema" | "database";
  template?: string;
  allow_cidrs?: string[];
  limits?: Record<string, unknown>;
  /** a random jwt_secret, so the tenant has anon and service_role keys (the console always sends true) */
  keys?: boolean;
}

export interface Keys {
  tenant: string;
  anon_key: string;
  service_role_key: string;
}

export interface ColumnChange {
  table: string;
  column: string;
  type: string;
  nullable: boolean;
  default?: string;
  before?: { type: string; nullable: boolean; default?: string };
}

export interface SchemaDiff {
  tables_added: string[] | null;
  tables_dropped: string[] | null;
  tables_changed: string[] | null;
  columns_added: ColumnChange[] | null;
  columns_dropped: ColumnChange[] | null;
  columns_changed: ColumnChange[] | null;
  functions_added: string[] | null;
  functions_dropped: string[] | null;
}

export interface MigrationResult {
  id?: number;
  name?: string;
  checksum?: string;
  dry_run: boolean;
  duration_ms: number;
  version_before: string;
  version_after: string;
  diff: SchemaDiff;
  rolled_back?: number[];
}

export interface MigrationRecord {
  id: number;
  tenant: string;
  name: string;
  checksum: string;
  up: string;
  down: string | null;
  applied_by: string;
  applied_at: string;
  duration_ms: number;
  outcome: string;
  error?: string;
  rolled_back_at: string | null;
}

export interface SQLResult {
  command: string;
  rows_affected: number;
  columns: { name: string; type_oid: number }[] | null;
  /** each row an object keyed by column name (a repeated column name keeps its last value) */
  rows: Record<string, unknown>[] | null;
  truncated?: boolean;
  duration_ms: number;
}

export interface CatalogColumn {
  name: string;
  position: number;
  type: string;
  type_name: string;
  type_schema: string;
  is_array: boolean;
  is_enum: boolean;
  nullable: boolean;
  has_default: boolean;
  default?: string;
  is_identity: boolean;
  is_generated: boolean;
  insertable: boolean;
  updatable: boolean;
  comment?: string;
}

export interface CatalogForeignKey {
  name: string;
  columns: string[];
  ref_schema: string;
  ref_table: string;
  ref_columns: string[];
}

export interface CatalogTable {
  schema: string;
  name: string;
  kind: string; // "table" | "view" | "materialized_view" | ...
  comment?: string;
  columns: CatalogColumn[];
  primary_key: string[] | null;
  foreign_keys: CatalogForeignKey[] | null;
}

export interface Catalog {
  version: string;
  schemas: string[];
  tables: CatalogTable[];
  /** the enum types of the exposed schemas, with their labels in sort order */
  enums: { schema: string; name: string; values: string[] }[] | null;
}

/**
 * Cumulative latency histogram: counts[i] requests took at most bounds[i] seconds. counts has
 * one more entry than bounds: the last is the total (its bucket's upper bound is +Inf).
 */
export interface LatencyHistogram {
  bounds: number[];
  counts: number[];
  sum_seconds: number;
}

/** One tenant's live counters since the process started (the console diffs two polls). */
export interface TenantCounters {
  requests: { ok: number; client_error: number; rejected: number; error: number };
  latency: LatencyHistogram;
  pool: {
    acquired_conns: number;
    idle_conns: number;
    total_conns: number;
    max_conns: number;
    in_flight: number;
    /** the shared pool the tenant draws on (isolation: role); idle and total are that pool's */
    shared_pool?: string;
    /** the tenant's requests waiting for their turn at the shared pool */
    waiting?: number;
  } | null;
}

export interface MonitorAll {
  at: number; // server time, ms since the epoch
  tenants: Record<string, TenantCounters>;
}

export interface StatementStat {
  query: string;
  calls: number;
  total_ms: number;
  mean_ms: number;
  rows: number;
}

/** One table of pg_stat_user_tables, under its column names. */
export interface TableStat {
  schema: string;
  name: string;
  rows: number; // n_live_tup, an estimate
  dead_rows: number;
  size_bytes: number;
  seq_scan: number;
  idx_scan: number;
  n_tup_ins: number;
  n_tup_upd: number;
  n_tup_del: number;
  last_autovacuum?: string;
  last_autoanalyze?: string;
}

export interface TenantMonitor extends TenantCounters {
  at: number;
  tenant: string;
  database: {
    size_bytes: number;
    rows: number;
    tables: TableStat[];
    rows_read: number; // seq_tup_read + idx_tup_fetch over the tenant's tables
    rows_written: number; // inserts + updates + deletes
    cache_hit_ratio: number | null; // heap blocks hit / (hit + read), null before any read
  } | null;
  statements: { available: boolean; reason?: string; rows: StatementStat[] };
  /** this process's channels joined and GraphQL subscriptions of the tenant */
  realtime?: { topics: number; channels: number; subscriptions: number } | null;
  /** the tenant's events by state; null when events are off or unreadable */
  events?: { pending: number; delivered: number; dead: number } | null;
}

/** One event of the tenant's event log (triggers, scheduled and cron events). */
export interface EventLogEntry {
  id: string;
  kind: "trigger" | "scheduled" | "cron";
  trigger?: string;
  table?: { schema: string; name: string };
  op?: string;
  state: "pending" | "delivered" | "dead";
  tries: number;
  next_attempt_at?: string;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  delivered_at: string | null;
}

export const api = {
  tenants: () => admin<{ tenants: TenantInfo[] }>("GET", "/tenants").then((r) => r.tenants),
  tenant: (name: string) => admin<TenantInfo>("GET", `/tenants/${enc(name)}`),
  createTenant: (req: CreateTenantRequest) =>
    admin<{ tenant: TenantInfo; provision_ms: number; total_ms: number; from_spare: boolean }>("POST", "/tenants", req),
  patchTenant: (name: string, patch: { limits?: unknown; allow_cidrs?: string[]; pool?: unknown }) =>
    admin<TenantInfo>("PATCH", `/tenants/${enc(name)}`, patch),
  deleteTenant: (name: string) => admin<{ deleted: string }>("DELETE", `/tenants/${enc(name)}?confirm=${enc(name)}`),
  keys: (name: string) => admin<Keys>("GET", `/tenants/${enc(name)}/keys`),
  rotateKeys: (name: string) => admin<Keys>("POST", `/tenants/${enc(name)}/keys/rotate`),
  /** Mints a JWT for the tenant with the role and claims given (the API explorer's role switch). */
  token: (name: string, role: string, claims: Record<string, unknown> = {}, expiresIn = 3600) =>
    admin<{ token: string; expires_at: number }>("POST", `/tenants/${enc(name)}/token`, {
      role,
      claims,
      expires_in: expiresIn,
    }),
  schema: (name: string) => admin<Catalog>("GET", `/tenants/${enc(name)}/schema`),
  migrations: (name: string) =>
    admin<{ tenant: string; migrations: MigrationRecord[] }>("GET", `/tenants/${enc(name)}/migrations`).then(
      (r) => r.migrations ?? [],
    ),
  migrate: (name: string, m: { name: string; up: string; down?: string; dry_run?: boolean }) =>
    admin<MigrationResult>("POST", `/tenants/${enc(name)}/migrations`, m),
  rollback: (name: string, to?: number) =>
    admin<MigrationResult>("POST", `/tenants/${enc(name)}/migrations/rollback`, to === undefined ? undefined : { to }),
  sql: (name: string, sql: string, readOnly = false) =>
    admin<SQLResult>("POST", `/tenants/${enc(name)}/sql`, { sql, read_only: readOnly }),
  monitorAll: () => admin<MonitorAll>("GET", "/monitor"),
  events: (name: string, limit = 20) =>
    admin<{ tenant: string; events: EventLogEntry[] }>("GET", `/tenants/${enc(name)}/events?limit=${limit}`).then((r) => r.events ?? []),
  redeliver: (name: string, id: string) => admin<unknown>("POST", `/tenants/${enc(name)}/events/${enc(id)}/redeliver`),
  monitor: (name: string) => admin<TenantMonitor>("GET", `/tenants/${enc(name)}/monitor`),
};

// ---- a tenant's own APIs ----

/** The key a tenant's APIs are called with: the service key of a tenant session, else fetched once per tenant. */
const keyCache = new Map<string, Promise<Keys>>();
export function tenantKeys(tenant: string): Promise<Keys> {
  let p = keyCache.get(tenant);
  if (!p) {
    p = api.keys(tenant);
    // A tenant without keys stays so until its settings change (forgetKeys); other failures
    // are tried again.
    p.catch((e) => {
      if (!(e instanceof ApiError && e.code === "no-jwt-secret")) keyCache.delete(tenant);
    });
    keyCache.set(tenant, p);
  }
  return p;
}
export function forgetKeys(tenant?: string) {
  if (tenant) keyCache.delete(tenant);
  else keyCache.clear();
}

/**
 * The token the console calls a tenant's APIs with: a tenant session's own key; in an admin
 * session the tenant's service_role key, or the admin key itself for a tenant without keys
 * (no shared jwt_secret: Kapok takes the admin key there as the tenant's owner, like service_role).
 */
export async function serviceKey(tenant: string): Promise<string> {
  if (session?.kind === "tenant" && session.tenant === tenant) return session.key;
  try {
    return (await tenantKeys(tenant)).service_role_key;
  } catch (e) {
    if (session?.kind === "admin" && e instanceof ApiError && e.code === "no-jwt-secret") return session.key;
    throw e;
  }
}

export interface RestResult<T> {
  status: number;
  data: T;
  /** total from Content-Range when Prefer: count=exact was sent */
  total: number | null;
  headers: Headers;
}

/** Calls the tenant's PostgREST-compatible API: path is after /rest/v1 (e.g. "/notes?select=*"). */
export async function rest<T = unknown>(
  tenant: string,
  method: string,
  path: string,
  opts: { body?: unknown; prefer?: string[]; token?: string; schema?: string } = {},
): Promise<RestResult<T>> {
  const token = opts.token ?? (await serviceKey(tenant));
  const headers: Record<string, string> = { apikey: token, Authorization: "Bearer " + token };
  if (opts.prefer?.length) headers["Prefer"] = opts.prefer.join(",");
  if (opts.schema) headers[method === "GET" || method === "HEAD" ? "Accept-Profile" : "Content-Profile"] = opts.schema;
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`/t/${enc(tenant)}/rest/v1${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const data = await readBody(res);
  if (!res.ok) throw new ApiError(res.status, data);
  let total: number | null = null;
  const range = res.headers.get("Content-Range");
  if (range) {
    const t = range.split("/")[1];
    if (t && t !== "*") total = Number(t);
  }
  return { status: res.status, data: data as T, total, headers: res.headers };
}

export interface GraphQLResponse {
  data?: unknown;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** Runs a GraphQL request against the tenant's Hasura-compatible endpoint. */
export async function graphql(
  tenant: string,
  query: string,
  variables: Record<string, unknown> | undefined,
  opts: { token?: string; headers?: Record<string, string>; operationName?: string } = {},
): Promise<{ status: number; body: GraphQLResponse; ms: number }> {
  const token = opts.token ?? (await serviceKey(tenant));
  const t0 = performance.now();
  const res = await fetch(`/t/${enc(tenant)}/v1/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", apikey: token, Authorization: "Bearer " + token, ...opts.headers },
    body: JSON.stringify({ query, variables, operationName: opts.operationName }),
  });
  const body = (await readBody(res)) as GraphQLResponse;
  return { status: res.status, body, ms: performance.now() - t0 };
}

/** The tenant's OpenAPI document (/t/{tenant}/rest/v1/), as PostgREST serves it. */
export async function openapi(tenant: string): Promise<Record<string, unknown>> {
  const r = await rest<Record<string, unknown>>(tenant, "GET", "/");
  return r.data;
}
