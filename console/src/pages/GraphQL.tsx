// The GraphQL explorer: tabs of queries with their variables and headers, run against the
// tenant's Hasura-compatible endpoint as the service role, the anon key or a minted JWT, and a
// documentation explorer built from an introspection query.
//
// The "Run as" switch, the JSON viewer and the copy button are shared with the REST explorer.
import { useCallback, useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import {
  BookOpen,
  Check,
  ChevronLeft,
  ChevronRight,
  Copy,
  KeyRound,
  Play,
  Plus,
  RefreshCw,
  Search,
  Settings2,
  Sparkles,
  X,
} from "lucide-react";
import { ApiError, activeSession, api, enc, graphql, serviceKey, tenantKeys, type GraphQLResponse } from "../api";
import { Badge, Button, ErrorBox, Field, Input, Modal, PageHeader, Select, Spinner, TabButton, copyText, cx, fmtBytes, fmtMs, useAsync } from "../components/ui";
import { CodeEditor, type CodeEditorHandle } from "../components/editor";

// ---------------------------------------------------------------------------------------------
// Shared: copy button, JSON viewer, JWT decoding, the "Run as" switch
// ---------------------------------------------------------------------------------------------

export function CopyButton({ text, label = "Copy", className, iconOnly }: { text: string | (() => string); label?: string; className?: string; iconOnly?: boolean }) {
  const [done, setDone] = useState(false);
  useEffect(() => {
    if (!done) return;
    const t = setTimeout(() => setDone(false), 1500);
    return () => clearTimeout(t);
  }, [done]);
  const Icon = done ? Check : Copy;
  return (
    <Button
      type="button"
      variant="ghost"
      size="sm"
      aria-label={label}
      title={label}
      className={cx(iconOnly && "px-1.5", className)}
      onClick={() => {
        void copyText(typeof text === "function" ? text() : text, label === "Copy" ? "Copied" : `${label.replace(/^Copy /, "")} copied`);
        setDone(true);
      }}
    >
      <Icon className={cx("size-3.5", done && "text-emerald-400")} aria-hidden />
      {!iconOnly && <span>{done ? "Copied" : label}</span>}
    </Button>
  );
}

const jsonToken = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false)\b|\b(null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

function highlightJson(text: string): ReactNode[] {
  const out: ReactNode[] = [];
  let last = 0;
  let k = 0;
  for (const m of text.matchAll(jsonToken)) {
    const i = m.index ?? 0;
    if (i > last) out.push(text.slice(last, i));
    if (m[1] !== undefined) {
      if (m[2] !== undefined) {
        out.push(
          <span key={k++} className="text-sky-300">
            {m[1]}
          </span>,
        );
        out.push(m[2]);
      } else
        out.push(
          <span key={k++} className="text-emerald-300">
            {m[1]}
          </span>,
        );
    } else if (m[3] !== undefined)
      out.push(
        <span key={k++} className="text-violet-300">
          {m[3]}
        </span>,
      );
    else if (m[4] !== undefined)
      out.push(
        <span key={k++} className="text-zinc-400">
          {m[4]}
        </span>,
      );
    else
      out.push(
        <span key={k++} className="text-amber-300">
          {m[5]}
        </span>,
      );
    last = i + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function prettyJson(v: unknown): string {
  if (typeof v === "string") return v;
  if (v === undefined) return "";
  return JSON.stringify(v, null, 2);
}

/**
 * Pretty, coloured JSON in a focusable scroll region; its text content is exactly the
 * pretty-printed JSON (strings are shown as they are).
 */
export function JsonView({ value, label, className }: { value: unknown; label: string; className?: string }) {
  const text = useMemo(() => prettyJson(value), [value]);
  const parts = useMemo(() => (typeof value === "string" || text.length > 400_000 ? [text] : highlightJson(text)), [text, value]);
  return (
    <pre
      role="region"
      aria-label={label}
      tabIndex={0}
      className={cx(
        "m-0 overflow-auto whitespace-pre px-4 py-3 font-mono text-[12.5px] leading-5 text-zinc-200 focus-visible:outline-offset-[-2px]",
        className,
      )}
    >
      {parts}
    </pre>
  );
}

/** The payload of a JWT, or null when the string is not one. */
export function decodeJwt(token: string): Record<string, unknown> | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      atob(b64 + "===".slice((b64.length + 3) % 4))
        .split("")
        .map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0"))
        .join(""),
    );
    const v = JSON.parse(json);
    return v && typeof v === "object" ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A token shortened for display; a short secret (an admin key) is masked, not shown. */
export function shortToken(t: string): string {
  return t.length <= 40 ? "•".repeat(8) : `${t.slice(0, 10)}…${t.slice(-6)}`;
}

export type RunAsMode = "service_role" | "anon" | "custom";
export interface RunAsConfig {
  mode: RunAsMode;
  role: string;
  /** The custom role's claims, as JSON text. */
  claims: string;
}
export interface ResolvedToken {
  token: string;
  /** Where the token comes from, for the UI: "service key", "anon key", "minted JWT", "admin key". */
  source: string;
  role: string;
  claims: Record<string, unknown> | null;
  expiresAt?: number;
}

const defaultRunAs: RunAsConfig = { mode: "service_role", role: "authenticated", claims: '{\n  "sub": "1"\n}' };
const runAsKey = (tenant: string) => `kapok.console.runas.${tenant}`;

function loadRunAs(tenant: string): RunAsConfig {
  try {
    const raw = localStorage.getItem(runAsKey(tenant));
    if (raw) {
      const v = JSON.parse(raw) as RunAsConfig;
      if (v && ["service_role", "anon", "custom"].includes(v.mode)) return { ...defaultRunAs, ...v };
    }
  } catch {
    /* a damaged entry is the default */
  }
  return defaultRunAs;
}

function parseClaims(text: string): Record<string, unknown> {
  const t = text.trim();
  if (!t) return {};
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch (e) {
    throw new Error(`The claims are not valid JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("The claims must be a JSON object.");
  return v as Record<string, unknown>;
}

// Minted tokens, shared by the pages of the console (GraphQL and REST run as the same role).
const mintCache = new Map<string, { token: string; expires_at: number }>();
const minting = new Map<string, Promise<{ token: string; expires_at: number }>>();

async function resolveToken(tenant: string, cfg: RunAsConfig): Promise<ResolvedToken> {
  const s = activeSession();
  if (cfg.mode === "service_role") {
    try {
      const token = await serviceKey(tenant);
      // serviceKey falls back to the admin key for a tenant without keys (no JWT secret)
      const viaAdmin = s?.kind === "admin" && token === s.key;
      return { token, source: viaAdmin ? "admin key" : "service key", role: "service_role", claims: decodeJwt(token) };
    } catch (e) {
      // A tenant without a JWT secret has no keys; the admin key still opens its APIs.
      if (s?.kind === "admin" && e instanceof ApiError && e.code === "no-jwt-secret")
        return { token: s.key, source: "admin key", role: "service_role", claims: null };
      throw e;
    }
  }
  if (cfg.mode === "anon") {
    const keys = await tenantKeys(tenant);
    return { token: keys.anon_key, source: "anon key", role: "anon", claims: decodeJwt(keys.anon_key) };
  }
  const role = cfg.role.trim();
  if (!role) throw new Error("Name the role to run as.");
  const claims = parseClaims(cfg.claims);
  const cacheKey = `${tenant}\n${role}\n${JSON.stringify(claims)}`;
  const hit = mintCache.get(cacheKey);
  if (hit && hit.expires_at * 1000 - Date.now() > 60_000)
    return { token: hit.token, source: "minted JWT", role, claims: decodeJwt(hit.token), expiresAt: hit.expires_at };
  try {
    let p = minting.get(cacheKey);
    if (!p) {
      p = api.token(tenant, role, claims);
      minting.set(cacheKey, p);
      p.finally(() => minting.delete(cacheKey)).catch(() => {});
    }
    const r = await p;
    mintCache.set(cacheKey, r);
    return { token: r.token, source: "minted JWT", role, claims: decodeJwt(r.token), expiresAt: r.expires_at };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 405))
      throw new ApiError(e.status, {
        message: `Minting a token for the role "${role}" failed: ${e.message}`,
        code: e.code,
        hint: "This server has no token endpoint (POST /admin/v1/tenants/{tenant}/token) yet: run as service_role or anon meanwhile.",
      });
    throw e;
  }
}

export interface RunAs {
  cfg: RunAsConfig;
  setCfg: (c: RunAsConfig) => void;
  /** Resolves the token to send now (minting one when needed). */
  resolve: () => Promise<ResolvedToken>;
  /** The token last resolved for the current choice, or the error. */
  current: ResolvedToken | null;
  error: unknown;
  busy: boolean;
  /** Changes whenever the choice does: a dependency for what depends on the role. */
  key: string;
}

/** The role the explorers send their requests as, kept per tenant in localStorage. */
export function useRunAs(tenant: string): RunAs {
  const [cfg, setCfgState] = useState<RunAsConfig>(() => loadRunAs(tenant));
  const setCfg = useCallback(
    (c: RunAsConfig) => {
      setCfgState(c);
      try {
        localStorage.setItem(runAsKey(tenant), JSON.stringify(c));
      } catch {
        /* storage full or disabled: the choice lasts for this page */
      }
    },
    [tenant],
  );
  const key = cfg.mode === "custom" ? `custom\n${cfg.role}\n${cfg.claims}` : cfg.mode;
  const [state, setState] = useState<{ current: ResolvedToken | null; error: unknown; busy: boolean }>({ current: null, error: null, busy: true });
  const cfgRef = useRef(cfg);
  cfgRef.current = cfg;
  const resolve = useCallback(async () => {
    try {
      const r = await resolveToken(tenant, cfgRef.current);
      setState({ current: r, error: null, busy: false });
      return r;
    } catch (e) {
      setState({ current: null, error: e, busy: false });
      throw e;
    }
  }, [tenant]);
  useEffect(() => {
    setState((s) => ({ ...s, busy: true }));
    resolve().catch(() => {
      /* shown by the bar */
    });
  }, [key, resolve]);
  return { cfg, setCfg, resolve, key, ...state };
}

/** The "Run as" switch: service_role, anon, or a custom role whose JWT is minted with the given claims. */
export function RunAsBar({ runAs, tenant, idPrefix }: { runAs: RunAs; tenant: string; idPrefix: string }) {
  const [editing, setEditing] = useState(false);
  const { cfg, current, error, busy } = runAs;
  const selectId = `${idPrefix}-runas`;
  const exp = current?.expiresAt ? Math.round((current.expiresAt * 1000 - Date.now()) / 60000) : null;
  const [showToken, setShowToken] = useState(false);
  return (
    <>
      <div className="flex min-w-0 flex-wrap items-center gap-2">
        <label htmlFor={selectId} className="text-xs font-medium text-zinc-400">
          Run as
        </label>
        <div className="w-fit min-w-36 max-w-60 shrink-0">
          <Select
            id={selectId}
            value={cfg.mode}
            onChange={(e) => {
              const mode = e.target.value as RunAsMode;
              if (mode === "custom") setEditing(true);
              else runAs.setCfg({ ...cfg, mode });
            }}
            className="h-8 text-xs"
          >
            <option value="service_role">service_role</option>
            <option value="anon">anon</option>
            <option value="custom">{cfg.mode === "custom" ? `role: ${cfg.role}` : "Custom role…"}</option>
          </Select>
        </div>
        {cfg.mode === "custom" && (
          <Button size="sm" variant="ghost" onClick={() => setEditing(true)} aria-label="Edit role and claims" title="Edit role and claims">
            <Settings2 className="size-3.5" aria-hidden /> Claims
          </Button>
        )}
        <div
          className={cx(
            "flex h-8 min-w-0 items-center gap-1.5 rounded-md border px-2 text-xs",
            error ? "border-red-500/30 bg-red-500/5 text-red-300" : "border-zinc-800 bg-zinc-950/60 text-zinc-400",
          )}
          aria-live="polite"
        >
          {busy && !current && !error ? (
            <span className="flex items-center gap-1.5">
              <KeyRound className="size-3.5 shrink-0" aria-hidden /> Resolving…
            </span>
          ) : error ? (
            <span className="flex items-center gap-1.5 truncate">
              <KeyRound className="size-3.5 shrink-0" aria-hidden /> No token
            </span>
          ) : current ? (
            <button
              type="button"
              onClick={() => setShowToken(true)}
              className="flex min-w-0 items-center gap-1.5 rounded hover:text-zinc-200"
              title="Show the token and its claims"
            >
              <span className="sr-only">Active token: </span>
              <KeyRound className="size-3.5 shrink-0 text-emerald-400" aria-hidden />
              <span className="shrink-0 font-medium text-zinc-200">{current.role}</span>
              <span className="hidden shrink-0 text-zinc-400 sm:inline">· {current.source}</span>
              <code className="hidden truncate font-mono text-[11px] text-zinc-400 md:inline">{shortToken(current.token)}</code>
              {exp !== null && <span className="shrink-0 text-zinc-400">· {exp > 0 ? `${exp} min` : "expired"}</span>}
            </button>
          ) : null}
          {current && !error && <CopyButton text={current.token} label="Copy token" iconOnly className="-mr-1 h-6" />}
        </div>
      </div>
      <Modal open={showToken && !!current} onOpenChange={setShowToken} title="Active token" description="Requests from this page carry it as apikey and as the Bearer token.">
        {current && (
          <div className="space-y-3 text-sm">
            <dl className="grid grid-cols-[7rem_1fr] gap-x-3 gap-y-1.5">
              <dt className="text-zinc-400">Role</dt>
              <dd className="font-mono text-zinc-200">{current.role}</dd>
              <dt className="text-zinc-400">Source</dt>
              <dd className="text-zinc-200">{current.source}</dd>
              {current.expiresAt && (
                <>
                  <dt className="text-zinc-400">Expires</dt>
                  <dd className="text-zinc-200">{new Date(current.expiresAt * 1000).toLocaleString()}</dd>
                </>
              )}
            </dl>
            <div className="flex items-start gap-2 rounded-md border border-zinc-800 bg-zinc-950 p-2">
              <code className="min-w-0 flex-1 break-all font-mono text-[11px] text-zinc-400">{current.token}</code>
              <CopyButton text={current.token} label="Copy token" iconOnly />
            </div>
            {current.claims ? (
              <div>
                <p className="mb-1 text-xs font-medium text-zinc-400">Claims</p>
                <div className="overflow-hidden rounded-md border border-zinc-800 bg-zinc-950">
                  <JsonView value={current.claims} label="Token claims" className="max-h-64" />
                </div>
              </div>
            ) : (
              <p className="text-xs text-zinc-400">Not a JWT: the key is checked by Kapok as it is.</p>
            )}
          </div>
        )}
      </Modal>
      <CustomRoleDialog
        open={editing}
        onOpenChange={setEditing}
        cfg={cfg}
        tenant={tenant}
        onApply={(c) => {
          runAs.setCfg(c);
          setEditing(false);
        }}
      />
    </>
  );
}

function CustomRoleDialog({
  open,
  onOpenChange,
  cfg,
  tenant,
  onApply,
}: {
  open: boolean;
  onOpenChange: (o: boolean) => void;
  cfg: RunAsConfig;
  tenant: string;
  onApply: (c: RunAsConfig) => void;
}) {
  const [role, setRole] = useState(cfg.role);
  const [claims, setClaims] = useState(cfg.claims);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (open) {
      setRole(cfg.role);
      setClaims(cfg.claims);
      setError(null);
    }
  }, [open, cfg.role, cfg.claims]);
  const apply = async () => {
    setBusy(true);
    setError(null);
    const next: RunAsConfig = { mode: "custom", role: role.trim(), claims };
    try {
      await resolveToken(tenant, next); // mint now, so a refusal shows here
      onApply(next);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Modal
      open={open}
      onOpenChange={onOpenChange}
      title="Run as a custom role"
      description="Kapok mints a JWT for this tenant with the role and claims below; requests carry it as the Bearer token, and SQL sees the claims as request.jwt.claims."
    >
      <form
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          void apply();
        }}
      >
        <Field id="runas-role" label="Role" hint="A database role the tenant's policies know, e.g. authenticated.">
          <Input id="runas-role" value={role} onChange={(e) => setRole(e.target.value)} required autoComplete="off" spellCheck={false} />
        </Field>
        <div className="space-y-1.5">
          <span className="block text-xs font-medium text-zinc-400">Claims (JSON)</span>
          <CodeEditor value={claims} onChange={setClaims} onRun={() => void apply()} language="json" ariaLabel="Claims (JSON)" minRows={5} maxRows={14} />
          <p className="text-xs text-zinc-400">The role claim is set from the field above; sub, email, app_metadata… are yours to choose.</p>
        </div>
        <ErrorBox error={error} />
        <div className="flex justify-end gap-2">
          <Button type="button" variant="ghost" onClick={() => onOpenChange(false)}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" busy={busy}>
            Mint token and use it
          </Button>
        </div>
      </form>
    </Modal>
  );
}

/** The text of an error thrown before a request was sent (bad JSON, no token…). */
function parseJsonObject(text: string, what: string): Record<string, unknown> | undefined {
  const t = text.trim();
  if (!t) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(t);
  } catch (e) {
    throw new Error(`${what} are not valid JSON: ${(e as Error).message}`);
  }
  if (v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw new Error(`${what} must be a JSON object.`);
  return v as Record<string, unknown>;
}
export { parseJsonObject };

// ---------------------------------------------------------------------------------------------
// GraphQL: formatting and parsing helpers
// ---------------------------------------------------------------------------------------------

type GTok = { k: "name" | "num" | "str" | "punct" | "comment"; v: string };

function lexGraphql(s: string): GTok[] {
  const out: GTok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/[\s,\ufeff]/.test(c)) {
      i++;
    } else if (c === "#") {
      let j = s.indexOf("\n", i);
      if (j < 0) j = s.length;
      out.push({ k: "comment", v: s.slice(i, j).trimEnd() });
      i = j;
    } else if (s.startsWith('"""', i)) {
      let j = i + 3;
      while (j < s.length && !s.startsWith('"""', j)) j += s[j] === "\\" && s.startsWith('"""', j + 1) ? 4 : 1;
      j = Math.min(s.length, j + 3);
      out.push({ k: "str", v: s.slice(i, j) });
      i = j;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"' && s[j] !== "\n") j += s[j] === "\\" ? 2 : 1;
      j = Math.min(s.length, j + 1);
      out.push({ k: "str", v: s.slice(i, j) });
      i = j;
    } else if (s.startsWith("...", i)) {
      out.push({ k: "punct", v: "..." });
      i += 3;
    } else if (/[-0-9]/.test(c)) {
      const m = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(s.slice(i, i + 64));
      const v = m ? m[0] : c;
      out.push({ k: "num", v });
      i += v.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z_0-9]*/.exec(s.slice(i, i + 512))!;
      out.push({ k: "name", v: m[0] });
      i += m[0].length;
    } else {
      out.push({ k: "punct", v: c });
      i++;
    }
  }
  return out;
}

/** Reformats a GraphQL document: one field per line, two-space indentation, arguments inline. */
export function prettifyGraphql(src: string): string {
  const toks = lexGraphql(src);
  let out = "";
  let indent = 0;
  const stack: ("sel" | "paren" | "list" | "obj")[] = [];
  const pad = () => "  ".repeat(indent);
  const atLineStart = () => out === "" || out.endsWith("\n") || /\n\s*$/.test(out);
  const newline = () => {
    out = out.replace(/[ \t]+$/, "");
    if (out !== "" && !out.endsWith("\n")) out += "\n";
    out += pad();
  };
  const inline = () => stack.some((x) => x !== "sel");
  let prev: GTok | null = null;
  let prev2: GTok | null = null;
  const endsValue = (t: GTok | null) =>
    !!t && (t.k === "name" || t.k === "num" || t.k === "str" || (t.k === "punct" && [")", "]", "}", "!"].includes(t.v)));
  let afterTopBlock = false;
  for (const t of toks) {
    if (afterTopBlock && stack.length === 0) {
      out = out.replace(/\s+$/, "") + "\n\n";
      afterTopBlock = false;
    }
    if (t.k === "comment") {
      if (!atLineStart()) newline();
      out += t.v;
      out += "\n" + pad();
      prev2 = prev;
      prev = t;
      continue;
    }
    const v = t.v;
    if (t.k === "punct") {
      switch (v) {
        case "{":
          if (inline()) {
            if (endsValue(prev)) out += ", ";
            out += "{";
            stack.push("obj");
          } else {
            if (!atLineStart()) out = out.replace(/\s+$/, "") + " ";
            out += "{";
            stack.push("sel");
            indent++;
            newline();
          }
          break;
        case "}": {
          const top = stack.pop();
          if (top === "sel") {
            indent = Math.max(0, indent - 1);
            newline();
            out += "}";
            if (stack.length === 0) afterTopBlock = true;
          } else out += "}";
          break;
        }
        case "(":
          out = out.replace(/[ \t]+$/, "");
          out += "(";
          stack.push("paren");
          break;
        case ")":
          stack.pop();
          out += ")";
          break;
        case "[":
          if (inline() && endsValue(prev)) out += ", ";
          out += "[";
          stack.push("list");
          break;
        case "]":
          stack.pop();
          out += "]";
          break;
        case ":":
          out += ": ";
          break;
        case "=":
          out += " = ";
          break;
        case "!":
          out += "!";
          break;
        case "@":
          if (!atLineStart() && prev?.v !== "(") out += " ";
          out += "@";
          break;
        case "$":
          if (inline() && endsValue(prev)) out += ", ";
          out += "$";
          break;
        case "...":
          if (!inline() && stack.length > 0 && !atLineStart()) newline();
          out += "...";
          break;
        case "|":
          out += " | ";
          break;
        case "&":
          out += " & ";
          break;
        default:
          out += v;
      }
    } else {
      // names, numbers, strings
      const top = stack[stack.length - 1];
      if (inline()) {
        if (endsValue(prev)) out += ", ";
      } else if (top === "sel") {
        if (prev?.v === "...") {
          if (v === "on") out += " ";
        } else if (prev?.k === "name" && prev.v === "on" && prev2?.v === "...") out += " ";
        else if (prev?.v !== "@" && endsValue(prev) && !atLineStart()) newline();
      } else if (stack.length === 0) {
        if (!atLineStart() && prev && prev.v !== "@" && prev.v !== "$") out += " ";
      }
      out += v;
    }
    prev2 = prev;
    prev = t;
  }
  return out.replace(/[ \t]+$/gm, "").trim() + "\n";
}

/** The names of the operations a document defines (anonymous ones are skipped). */
export function operationNames(src: string): string[] {
  const toks = lexGraphql(src);
  const names: string[] = [];
  let depth = 0;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i];
    if (t.k === "punct" && (t.v === "{" || t.v === "(")) depth++;
    else if (t.k === "punct" && (t.v === "}" || t.v === ")")) depth--;
    else if (depth === 0 && t.k === "name" && (t.v === "query" || t.v === "mutation" || t.v === "subscription")) {
      const n = toks[i + 1];
      if (n?.k === "name") names.push(n.v);
    }
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Introspection
// ---------------------------------------------------------------------------------------------

interface TypeRef {
  kind: string;
  name: string | null;
  ofType: TypeRef | null;
}
interface IInput {
  name: string;
  description: string | null;
  type: TypeRef;
  defaultValue: string | null;
}
interface IField {
  name: string;
  description: string | null;
  args: IInput[];
  type: TypeRef;
  isDeprecated: boolean;
  deprecationReason: string | null;
}
interface IType {
  kind: string;
  name: string;
  description: string | null;
  fields: IField[] | null;
  inputFields: IInput[] | null;
  interfaces: TypeRef[] | null;
  enumValues: { name: string; description: string | null; isDeprecated: boolean }[] | null;
  possibleTypes: TypeRef[] | null;
}
interface ISchema {
  queryType: { name: string } | null;
  mutationType: { name: string } | null;
  subscriptionType: { name: string } | null;
  types: IType[];
}

const typeRefFragment = "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }";
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types {
      kind name description
      fields(includeDeprecated: true) {
        name description
        args { name description type { ${typeRefFragment} } defaultValue }
        type { ${typeRefFragment} }
        isDeprecated deprecationReason
      }
      inputFields { name description type { ${typeRefFragment} } defaultValue }
      interfaces { ${typeRefFragment} }
      enumValues(includeDeprecated: true) { name description isDeprecated }
      possibleTypes { ${typeRefFragment} }
    }
  }
}`;

function namedType(t: TypeRef): TypeRef {
  let x = t;
  while (x.ofType) x = x.ofType;
  return x;
}
function typeString(t: TypeRef): string {
  if (t.kind === "NON_NULL") return typeString(t.ofType!) + "!";
  if (t.kind === "LIST") return "[" + typeString(t.ofType!) + "]";
  return t.name ?? "?";
}

class SchemaIndex {
  byName = new Map<string, IType>();
  constructor(public s: ISchema) {
    for (const t of s.types) this.byName.set(t.name, t);
  }
  root(op: OpKind): IType | undefined {
    const n = op === "query" ? this.s.queryType?.name : op === "mutation" ? this.s.mutationType?.name : this.s.subscriptionType?.name;
    return n ? this.byName.get(n) : undefined;
  }
}

type OpKind = "query" | "mutation" | "subscription";

function pascal(name: string): string {
  return name
    .split(/[_\s]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join("");
}

function sampleValue(idx: SchemaIndex, t: TypeRef): unknown {
  if (t.kind === "NON_NULL") return sampleValue(idx, t.ofType!);
  if (t.kind === "LIST") {
    const inner = namedType(t);
    return idx.byName.get(inner.name ?? "")?.kind === "INPUT_OBJECT" ? [{}] : [];
  }
  const nt = idx.byName.get(t.name ?? "");
  switch (t.name) {
    case "Int":
    case "Float":
    case "bigint":
    case "numeric":
      return 1;
    case "Boolean":
      return true;
    case "ID":
      return "1";
    case "String":
      return "";
  }
  if (nt?.kind === "ENUM") return nt.enumValues?.[0]?.name ?? "";
  if (nt?.kind === "INPUT_OBJECT") return {};
  return null;
}

function isLeaf(idx: SchemaIndex, t: TypeRef): boolean {
  const k = idx.byName.get(namedType(t).name ?? "")?.kind ?? namedType(t).kind;
  return k === "SCALAR" || k === "ENUM";
}

function selection(idx: SchemaIndex, typeName: string, depth: number, indent: string): string {
  const t = idx.byName.get(typeName);
  if (!t?.fields) return "";
  const usable = t.fields.filter((f) => !f.isDeprecated && !f.args.some((a) => a.type.kind === "NON_NULL" && a.defaultValue == null));
  const leaves = usable.filter((f) => isLeaf(idx, f.type));
  const objects = usable.filter((f) => !isLeaf(idx, f.type));
  const nested = depth >= 2 ? [] : leaves.length === 0 ? objects.slice(0, 4) : objects.filter((f) => f.name === "returning");
  const lines: string[] = leaves.map((f) => indent + f.name);
  for (const f of nested) {
    const inner = selection(idx, namedType(f.type).name ?? "", depth + 1, indent + "  ");
    if (inner) lines.push(`${indent}${f.name} {\n${inner}\n${indent}}`);
  }
  if (lines.length === 0) lines.push(indent + "__typename");
  return lines.join("\n");
}

/** A starting query for a root field: its required arguments as variables, its scalar fields selected. */
function skeleton(idx: SchemaIndex, op: OpKind, f: IField): { query: string; variables: Record<string, unknown> } {
  const required = f.args.filter((a) => a.type.kind === "NON_NULL" && a.defaultValue == null);
  const variables: Record<string, unknown> = {};
  const defs = required.map((a) => {
    variables[a.name] = sampleValue(idx, a.type);
    return `$${a.name}: ${typeString(a.type)}`;
  });
  const args = required.map((a) => `${a.name}: $${a.name}`);
  if (op !== "mutation" && f.args.some((a) => a.name === "limit") && !required.some((a) => a.name === "limit")) args.push("limit: 10");
  const head = `${op} ${pascal(f.name)}${defs.length ? `(${defs.join(", ")})` : ""}`;
  const call = `${f.name}${args.length ? `(${args.join(", ")})` : ""}`;
  const sel = isLeaf(idx, f.type) ? "" : selection(idx, namedType(f.type).name ?? "", 0, "    ");
  const query = `${head} {\n  ${call}${sel ? ` {\n${sel}\n  }` : ""}\n}\n`;
  return { query, variables };
}

// ---------------------------------------------------------------------------------------------
// Tabs, persisted per tenant
// ---------------------------------------------------------------------------------------------

interface QueryTab {
  id: string;
  query: string;
  variables: string;
  headers: string;
}
interface Saved {
  tabs: QueryTab[];
  active: string;
}
interface RunResult {
  status?: number;
  ms?: number;
  body?: GraphQLResponse;
  error?: unknown;
  role?: string;
  size?: number;
  at: number;
}

const welcome = (tenant: string) => `# GraphQL on the tenant ${tenant}.
# Ctrl+Enter runs the query. Docs lists the root
# fields: Insert starts a query with one of them.
query {
  __typename
}
`;
const storeKey = (tenant: string) => `kapok.console.graphql.${tenant}`;
let tabSeq = 0;
const newId = () => `${Date.now().toString(36)}${(tabSeq++).toString(36)}`;

function loadSaved(tenant: string): Saved {
  try {
    const raw = localStorage.getItem(storeKey(tenant));
    if (raw) {
      const v = JSON.parse(raw) as Saved;
      if (Array.isArray(v.tabs) && v.tabs.length) {
        const tabs = v.tabs.filter((t) => t && typeof t.query === "string").map((t) => ({ ...t, id: t.id || newId(), variables: t.variables ?? "", headers: t.headers ?? "" }));
        if (tabs.length) return { tabs, active: tabs.some((t) => t.id === v.active) ? v.active : tabs[0].id };
      }
    }
  } catch {
    /* start over */
  }
  const id = newId();
  return { tabs: [{ id, query: welcome(tenant), variables: "{}", headers: "{}" }], active: id };
}

function tabTitle(t: QueryTab, i: number): string {
  const names = operationNames(t.query);
  if (names.length) return names[0];
  const m = /^\s*(?:#[^\n]*\n\s*)*(query|mutation|subscription)?\s*\{\s*([A-Za-z_][\w]*)/.exec(t.query);
  if (m && m[2] !== "__typename") return m[2];
  return i === 0 ? "Query" : `Query ${i + 1}`;
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

export function GraphQLPage({ tenant }: { tenant: string }) {
  const runAs = useRunAs(tenant);
  const [saved, setSaved] = useState<Saved>(() => loadSaved(tenant));
  const [results, setResults] = useState<Record<string, RunResult>>({});
  const [running, setRunning] = useState(false);
  const runningRef = useRef(false);
  const [lower, setLower] = useState<"variables" | "headers">("variables");
  const [docsOpen, setDocsOpen] = useState(() => typeof window !== "undefined" && window.innerWidth >= 1280);
  const [opName, setOpName] = useState("");
  const editorRef = useRef<CodeEditorHandle>(null);

  const tab = saved.tabs.find((t) => t.id === saved.active) ?? saved.tabs[0];
  const result = results[tab.id];
  const ops = useMemo(() => operationNames(tab.query), [tab.query]);
  const chosenOp = ops.length > 1 ? (ops.includes(opName) ? opName : ops[0]) : undefined;

  useEffect(() => {
    const t = setTimeout(() => {
      try {
        localStorage.setItem(storeKey(tenant), JSON.stringify(saved));
      } catch {
        /* storage full: the tabs last for this page */
      }
    }, 300);
    return () => clearTimeout(t);
  }, [saved, tenant]);

  const update = useCallback((patch: Partial<QueryTab>, id?: string) => {
    setSaved((s) => ({ ...s, tabs: s.tabs.map((t) => (t.id === (id ?? s.active) ? { ...t, ...patch } : t)) }));
  }, []);
  const addTab = (init?: Partial<QueryTab>) => {
    const id = newId();
    setSaved((s) => ({ tabs: [...s.tabs, { id, query: "query {\n  \n}\n", variables: "{}", headers: "{}", ...init }], active: id }));
  };
  const closeTab = (id: string) => {
    setSaved((s) => {
      if (s.tabs.length === 1) {
        const nid = newId();
        return { tabs: [{ id: nid, query: welcome(tenant), variables: "{}", headers: "{}" }], active: nid };
      }
      const i = s.tabs.findIndex((t) => t.id === id);
      const tabs = s.tabs.filter((t) => t.id !== id);
      return { tabs, active: s.active === id ? tabs[Math.max(0, i - 1)].id : s.active };
    });
  };

  const schema = useAsync(async () => {
    const tok = await runAs.resolve();
    const r = await graphql(tenant, introspectionQuery, undefined, { token: tok.token });
    if (r.body?.errors?.length || !r.body?.data) throw new ApiError(r.status, r.body ?? { message: `HTTP ${r.status}` });
    return new SchemaIndex((r.body.data as { __schema: ISchema }).__schema);
  }, [tenant, runAs.key]);

  const run = async () => {
    if (runningRef.current) return;
    runningRef.current = true;
    setRunning(true);
    const id = tab.id;
    try {
      const variables = parseJsonObject(tab.variables, "The variables");
      const headers = parseJsonObject(tab.headers, "The headers") as Record<string, string> | undefined;
      const strHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(headers ?? {})) strHeaders[k] = typeof v === "string" ? v : JSON.stringify(v);
      const tok = await runAs.resolve();
      const r = await graphql(tenant, tab.query, variables, { token: tok.token, headers: strHeaders, operationName: chosenOp });
      setResults((x) => ({ ...x, [id]: { status: r.status, ms: r.ms, body: r.body, role: tok.role, size: JSON.stringify(r.body ?? "").length, at: Date.now() } }));
    } catch (e) {
      setResults((x) => ({ ...x, [id]: { error: e, at: Date.now() } }));
    } finally {
      runningRef.current = false;
      setRunning(false);
    }
  };

  const prettify = () => {
    const patch: Partial<QueryTab> = {};
    try {
      patch.query = prettifyGraphql(tab.query);
    } catch {
      /* leave the query as it is */
    }
    for (const k of ["variables", "headers"] as const) {
      try {
        const v = tab[k].trim() ? JSON.parse(tab[k]) : {};
        patch[k] = JSON.stringify(v, null, 2);
      } catch {
        /* invalid JSON stays for the user to fix */
      }
    }
    update(patch);
  };

  const insert = (op: OpKind, f: IField) => {
    if (!schema.data) return;
    const sk = skeleton(schema.data, op, f);
    const untouched = !tab.query.trim() || tab.query === welcome(tenant) || /^\s*(query)?\s*\{\s*\}\s*$/.test(tab.query);
    const init = { query: sk.query, variables: JSON.stringify(sk.variables, null, 2) };
    if (untouched) update(init);
    else addTab({ ...init, headers: "{}" });
    if (Object.keys(sk.variables).length) setLower("variables");
    setTimeout(() => {
      editorRef.current?.focus();
      editorRef.current?.textarea?.scrollIntoView({ block: "nearest" });
    }, 50);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    // Dialogs are portals: their keys bubble here through React, but are not for the query.
    if (e.defaultPrevented || (e.target as HTMLElement).closest?.('[role="dialog"]')) return;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && e.key === "Enter") {
      e.preventDefault();
      void run();
    } else if (mod && e.shiftKey && (e.key === "P" || e.key === "p")) {
      e.preventDefault();
      prettify();
    }
  };

  const endpoint = `/t/${enc(tenant)}/v1/graphql`;

  return (
    <div className="flex min-h-full flex-col gap-4 p-4 md:p-6 lg:h-full" onKeyDown={onKeyDown}>
      <PageHeader
        title="GraphQL"
        actions={
          <RunAsBar runAs={runAs} tenant={tenant} idPrefix="gql" />
        }
      >
        <p className="flex min-w-0 flex-wrap items-center gap-x-1.5 text-sm text-zinc-400">
          Hasura-compatible API of {tenant} at
          <code className="truncate rounded bg-zinc-900 px-1.5 py-0.5 font-mono text-xs text-zinc-300">{endpoint}</code>
          <CopyButton text={() => window.location.origin + endpoint} label="Copy endpoint URL" iconOnly className="h-6" />
        </p>
      </PageHeader>
      {!!runAs.error && <ErrorBox error={runAs.error} />}

      <div className="flex min-h-0 flex-1 flex-col overflow-hidden rounded-xl border border-zinc-800 bg-zinc-900/60">
        {/* toolbar: tabs and actions */}
        <div className="flex flex-wrap items-center gap-2 border-b border-zinc-800 px-2 py-1.5">
          <div className="flex min-w-0 flex-1 items-center gap-1 overflow-x-auto">
            {/* A list of buttons rather than a tablist: each query has its own close button beside it. */}
            <ul aria-label="Queries" className="flex shrink-0 items-center gap-1">
              {saved.tabs.map((t, i) => {
                const on = t.id === tab.id;
                const title = tabTitle(t, i);
                return (
                  <li
                    key={t.id}
                    className={cx(
                      "group flex shrink-0 items-center rounded-md text-xs",
                      on ? "bg-zinc-800 text-zinc-100" : "text-zinc-400 hover:bg-zinc-800/60 hover:text-zinc-200",
                    )}
                  >
                    <button
                      type="button"
                      aria-current={on || undefined}
                      onClick={() => setSaved((s) => ({ ...s, active: t.id }))}
                      className="max-w-44 truncate py-1.5 pl-2.5 pr-1 font-medium"
                    >
                      {title}
                    </button>
                    <button
                      type="button"
                      aria-label={`Close ${title}`}
                      title="Close"
                      onClick={() => closeTab(t.id)}
                      className={cx("mr-1 rounded p-0.5 text-zinc-500 hover:bg-zinc-700 hover:text-zinc-200", !on && "opacity-0 group-hover:opacity-100 focus:opacity-100")}
                    >
                      <X className="size-3" aria-hidden />
                    </button>
                  </li>
                );
              })}
            </ul>
            <Button variant="ghost" size="sm" aria-label="New tab" title="New tab" onClick={() => addTab()} className="shrink-0 px-1.5">
              <Plus className="size-3.5" aria-hidden />
            </Button>
          </div>
          <div className="flex shrink-0 items-center gap-1.5">
            {ops.length > 1 && (
              <>
                <label htmlFor="gql-op" className="sr-only">
                  Operation
                </label>
                <div className="w-36">
                  <Select id="gql-op" value={chosenOp} onChange={(e) => setOpName(e.target.value)} className="h-7 text-xs" title="Operation to run">
                    {ops.map((o) => (
                      <option key={o}>{o}</option>
                    ))}
                  </Select>
                </div>
              </>
            )}
            <Button variant="ghost" size="sm" onClick={prettify} title="Prettify (Ctrl+Shift+P)">
              <Sparkles className="size-3.5" aria-hidden /> Prettify
            </Button>
            <Button variant="ghost" size="sm" aria-pressed={docsOpen} onClick={() => setDocsOpen((o) => !o)} title="Documentation explorer" className={cx(docsOpen && "bg-zinc-800 text-zinc-100")}>
              <BookOpen className="size-3.5" aria-hidden /> Docs
            </Button>
            <Button variant="primary" size="sm" onClick={() => void run()} busy={running} title="Run (Ctrl+Enter)">
              {!running && <Play className="size-3.5" aria-hidden />} Run
            </Button>
          </div>
        </div>

        {/* workspace */}
        <div className="relative flex min-h-0 flex-1 flex-col lg:flex-row">
          <section aria-label="Request" className="flex min-h-0 flex-col border-zinc-800 lg:w-[38%] lg:min-w-72 lg:border-r">
            <div className="h-72 min-h-0 p-2 sm:h-80 lg:h-auto lg:flex-1">
              <CodeEditor
                ref={editorRef}
                key={tab.id}
                value={tab.query}
                onChange={(v) => update({ query: v })}
                onRun={() => void run()}
                language="graphql"
                ariaLabel="GraphQL query"
                fill
              />
            </div>
            <div className="border-t border-zinc-800">
              <div role="tablist" aria-label="Request options" className="flex items-center gap-1 px-2 pt-1.5">
                {(["variables", "headers"] as const).map((k) => (
                  <TabButton key={k} selected={lower === k} onSelect={() => setLower(k)} className="px-2.5 py-1 text-xs capitalize">
                    {k}
                  </TabButton>
                ))}
              </div>
              <div className="h-40 p-2">
                {lower === "variables" ? (
                  <CodeEditor key={tab.id + "v"} value={tab.variables} onChange={(v) => update({ variables: v })} onRun={() => void run()} language="json" ariaLabel="Variables (JSON)" fill />
                ) : (
                  <CodeEditor
                    key={tab.id + "h"}
                    value={tab.headers}
                    onChange={(v) => update({ headers: v })}
                    onRun={() => void run()}
                    language="json"
                    ariaLabel="Request headers (JSON)"
                    placeholder='{ "X-Hasura-Role": "…" }'
                    fill
                  />
                )}
              </div>
            </div>
          </section>

          <section aria-label="Response" className="flex min-h-64 min-w-0 flex-1 flex-col border-t border-zinc-800 lg:border-t-0">
            <ResultPane result={result} running={running} />
          </section>

          {docsOpen && (
            <aside
              aria-label="Documentation"
              className={cx(
                "flex max-h-[70vh] min-h-0 flex-col border-t border-zinc-800",
                // beside the result on wide screens, over it (a drawer) on laptops
                "lg:absolute lg:inset-y-0 lg:right-0 lg:z-10 lg:max-h-none lg:w-80 lg:border-l lg:border-t-0 lg:bg-zinc-900 lg:shadow-2xl lg:shadow-black/50",
                "xl:static xl:z-auto xl:shrink-0 xl:bg-transparent xl:shadow-none 2xl:w-96",
              )}
            >
              <DocsExplorer
                loading={schema.loading}
                error={runAs.error ? new Error("No schema: there is no token to run as this role (see above).") : schema.error}
                index={schema.error ? undefined : schema.data}
                onReload={schema.reload}
                onInsert={insert}
                role={runAs.current?.role}
              />
            </aside>
          )}
        </div>
      </div>
    </div>
  );
}

function ResultPane({ result, running }: { result?: RunResult; running: boolean }) {
  const errors = result?.body?.errors;
  const ok = result?.status !== undefined && result.status < 400 && !errors?.length;
  return (
    <>
      <div className="flex h-10 shrink-0 items-center gap-2 overflow-hidden whitespace-nowrap border-b border-zinc-800 px-3 text-xs text-zinc-400">
        <span className="font-medium text-zinc-300">Result</span>
        {result?.status !== undefined && (
          <>
            <Badge tone={ok ? "green" : result.status < 400 ? "amber" : "red"}>
              {result.status} {result.status < 400 ? (errors?.length ? "with errors" : "OK") : "error"}
            </Badge>
            <span className="tabular-nums">{fmtMs(result.ms)}</span>
            {result.size !== undefined && <span className="hidden tabular-nums sm:inline">· {fmtBytes(result.size)}</span>}
            {result.role && <span className="hidden min-w-0 truncate xl:inline">· as {result.role}</span>}
          </>
        )}
        {running && <Spinner label="Running" />}
        <div className="ml-auto">{result?.body !== undefined && <CopyButton text={() => prettyJson(result.body)} label="Copy result" iconOnly />}</div>
      </div>
      <div className="flex min-h-0 flex-1 flex-col">
        {!result && !running && (
          <div className="flex flex-1 flex-col items-center justify-center gap-1 p-6 text-center text-sm text-zinc-400">
            <Play className="mb-1 size-5 text-zinc-600" aria-hidden />
            <p>Run the query to see its result here.</p>
            <p className="text-xs">
              <kbd className="rounded border border-zinc-700 bg-zinc-800 px-1 font-mono text-[11px]">Ctrl</kbd> +{" "}
              <kbd className="rounded border border-zinc-700 bg-zinc-800 px-1 font-mono text-[11px]">Enter</kbd>
            </p>
          </div>
        )}
        {result?.error !== undefined && result.error !== null && (
          <div className="p-3">
            <ErrorBox error={result.error} />
          </div>
        )}
        {errors && errors.length > 0 && (
          <div role="alert" className="border-b border-red-500/20 bg-red-500/5 px-3 py-2 text-xs text-red-200">
            {errors.length === 1 ? "1 error" : `${errors.length} errors`}: {errors[0].message}
            {typeof errors[0].extensions?.code === "string" && <span className="ml-1.5 font-mono text-red-300/70">({errors[0].extensions.code})</span>}
          </div>
        )}
        {result?.body !== undefined && <JsonView value={result.body} label="Result" className="min-h-40 flex-1" />}
      </div>
    </>
  );
}

// ---------------------------------------------------------------------------------------------
// Documentation explorer
// ---------------------------------------------------------------------------------------------

function DocsExplorer({
  loading,
  error,
  index,
  onReload,
  onInsert,
  role,
}: {
  loading: boolean;
  error: unknown;
  index?: SchemaIndex;
  onReload: () => void;
  onInsert: (op: OpKind, f: IField) => void;
  role?: string;
}) {
  const [stack, setStack] = useState<string[]>([]);
  const [op, setOp] = useState<OpKind>("query");
  const [q, setQ] = useState("");
  const scroller = useRef<HTMLDivElement>(null);
  const current = stack.length ? index?.byName.get(stack[stack.length - 1]) : undefined;
  const open = (name: string) => {
    setStack((s) => (s[s.length - 1] === name ? s : [...s, name]));
    setQ("");
    scroller.current?.scrollTo({ top: 0 });
  };
  const back = () => setStack((s) => s.slice(0, -1));

  const hits = useMemo(() => {
    const term = q.trim().toLowerCase();
    if (!term || !index) return null;
    const types: IType[] = [];
    const fields: { type: IType; field: IField | IInput }[] = [];
    for (const t of index.s.types) {
      if (t.name.startsWith("__")) continue;
      if (t.name.toLowerCase().includes(term)) types.push(t);
      for (const f of [...(t.fields ?? []), ...(t.inputFields ?? [])])
        if (f.name.toLowerCase().includes(term) && fields.length < 80) fields.push({ type: t, field: f });
    }
    const rootNames = new Set([index.s.queryType?.name, index.s.mutationType?.name, index.s.subscriptionType?.name]);
    fields.sort((a, b) => Number(rootNames.has(b.type.name)) - Number(rootNames.has(a.type.name)));
    return { types: types.slice(0, 40), fields };
  }, [q, index]);

  const ops: OpKind[] = ["query", "mutation", "subscription"];
  const root = index?.root(op);

  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <div className="flex h-10 shrink-0 items-center gap-1 border-b border-zinc-800 px-2">
        {stack.length > 0 ? (
          <Button variant="ghost" size="sm" onClick={back} aria-label="Back" className="px-1.5">
            <ChevronLeft className="size-4" aria-hidden />
          </Button>
        ) : (
          <BookOpen className="ml-1.5 size-3.5 text-zinc-500" aria-hidden />
        )}
        <nav aria-label="Docs path" className="flex min-w-0 flex-1 items-center gap-1 overflow-hidden text-xs">
          <button onClick={() => setStack([])} className={cx("shrink-0 rounded px-1 font-medium", stack.length ? "text-zinc-400 hover:text-zinc-100" : "text-zinc-200")}>
            Docs
          </button>
          {stack.map((n, i) => (
            <span key={i} className="flex min-w-0 items-center gap-1">
              <ChevronRight className="size-3 shrink-0 text-zinc-600" aria-hidden />
              <button
                onClick={() => setStack((s) => s.slice(0, i + 1))}
                className={cx("truncate rounded px-1 font-mono", i === stack.length - 1 ? "text-zinc-100" : "text-zinc-400 hover:text-zinc-100")}
              >
                {n}
              </button>
            </span>
          ))}
        </nav>
        {role && <span className="hidden shrink-0 text-[11px] text-zinc-400 sm:inline" title="The schema as this role sees it">as {role}</span>}
        <Button variant="ghost" size="sm" onClick={onReload} aria-label="Reload schema" title="Reload schema" className="px-1.5">
          <RefreshCw className={cx("size-3.5", loading && "animate-spin")} aria-hidden />
        </Button>
      </div>
      <div className="shrink-0 border-b border-zinc-800 p-2">
        <div className="relative">
          <Search className="pointer-events-none absolute left-2.5 top-1/2 size-3.5 -translate-y-1/2 text-zinc-500" aria-hidden />
          <Input value={q} onChange={(e) => setQ(e.target.value)} placeholder="Search types and fields" aria-label="Search the schema" className="h-8 pl-8 text-xs" />
        </div>
      </div>
      <div ref={scroller} className="min-h-0 flex-1 overflow-y-auto p-3 text-sm">
        {loading && !index && <Spinner label="Loading schema" />}
        {!!error && (
          <div className="space-y-2">
            <ErrorBox error={error} />
            <Button size="sm" onClick={onReload}>
              Try again
            </Button>
          </div>
        )}
        {index && hits && (
          <div className="space-y-4">
            {hits.types.length === 0 && hits.fields.length === 0 && <p className="text-xs text-zinc-400">Nothing matches “{q}”.</p>}
            {hits.types.length > 0 && (
              <DocSection title="Types">
                {hits.types.map((t) => (
                  <li key={t.name}>
                    <button onClick={() => open(t.name)} className="flex w-full items-center gap-2 rounded px-1 py-0.5 text-left hover:bg-zinc-800">
                      <span className="font-mono text-xs text-amber-200">{t.name}</span>
                      <span className="text-[10px] uppercase tracking-wide text-zinc-400">{t.kind.replace("_", " ").toLowerCase()}</span>
                    </button>
                  </li>
                ))}
              </DocSection>
            )}
            {hits.fields.length > 0 && (
              <DocSection title="Fields">
                {hits.fields.map(({ type, field }) => (
                  <li key={type.name + "." + field.name}>
                    <button onClick={() => open(type.name)} className="w-full break-all rounded px-1 py-0.5 text-left font-mono text-xs hover:bg-zinc-800">
                      <span className="text-zinc-400">{type.name}.</span>
                      <span className="text-sky-300">{field.name}</span>
                      <span className="text-zinc-400">: {typeString(field.type)}</span>
                    </button>
                  </li>
                ))}
              </DocSection>
            )}
          </div>
        )}
        {index && !hits && !current && (
          <div className="space-y-3">
            <div role="radiogroup" aria-label="Root type" className="grid grid-cols-3 gap-1 rounded-lg bg-zinc-950 p-1">
              {ops.map((o) => {
                const t = index.root(o);
                return (
                  <button
                    key={o}
                    role="radio"
                    aria-checked={op === o}
                    disabled={!t}
                    onClick={() => setOp(o)}
                    className={cx(
                      "rounded-md py-1 text-xs font-medium capitalize disabled:opacity-40",
                      op === o ? "bg-zinc-800 text-zinc-100" : "text-zinc-400 hover:text-zinc-200",
                    )}
                  >
                    {o}
                    {t?.fields && <span className="ml-1 text-zinc-400">{t.fields.length}</span>}
                  </button>
                );
              })}
            </div>
            {root ? (
              <>
                <p className="text-xs text-zinc-400">
                  Root type <TypeLink t={{ kind: "OBJECT", name: root.name, ofType: null }} onOpen={open} />. Insert a field to start a {op} with its fields.
                </p>
                <ul className="divide-y divide-zinc-800/70">
                  {(root.fields ?? []).map((f) => (
                    <FieldRow key={f.name} f={f} onOpen={open} onInsert={() => onInsert(op, f)} op={op} />
                  ))}
                </ul>
              </>
            ) : (
              <p className="text-xs text-zinc-400">This schema has no {op} type.</p>
            )}
          </div>
        )}
        {index && !hits && stack.length > 0 && !current && <p className="text-xs text-zinc-400">No type named {stack[stack.length - 1]}.</p>}
        {index && !hits && current && <TypeDoc t={current} index={index} onOpen={open} onInsert={onInsert} />}
      </div>
    </div>
  );
}

function DocSection({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section>
      <h3 className="mb-1.5 text-[11px] font-medium uppercase tracking-wider text-zinc-400">{title}</h3>
      <ul className="space-y-0.5">{children}</ul>
    </section>
  );
}

function TypeLink({ t, onOpen }: { t: TypeRef; onOpen: (name: string) => void }) {
  if (t.kind === "NON_NULL")
    return (
      <>
        <TypeLink t={t.ofType!} onOpen={onOpen} />
        <span className="text-zinc-400">!</span>
      </>
    );
  if (t.kind === "LIST")
    return (
      <>
        <span className="text-zinc-400">[</span>
        <TypeLink t={t.ofType!} onOpen={onOpen} />
        <span className="text-zinc-400">]</span>
      </>
    );
  return (
    <button onClick={() => onOpen(t.name ?? "")} className="font-mono text-amber-200 hover:underline">
      {t.name}
    </button>
  );
}

function FieldRow({ f, onOpen, onInsert, op }: { f: IField | IInput; onOpen: (n: string) => void; onInsert?: () => void; op?: OpKind }) {
  const args = "args" in f ? f.args : [];
  const [showArgs, setShowArgs] = useState(false);
  const deprecated = "isDeprecated" in f && f.isDeprecated;
  return (
    <li className="group py-2">
      <div className="flex items-start gap-2">
        <div className="min-w-0 flex-1 break-words font-mono text-xs leading-5">
          <span className={cx("text-sky-300", deprecated && "line-through opacity-60")}>{f.name}</span>
          {args.length > 0 && (
            <button
              onClick={() => setShowArgs((s) => !s)}
              aria-expanded={showArgs}
              className="mx-0.5 rounded px-0.5 text-zinc-400 hover:bg-zinc-800 hover:text-zinc-300"
              title={showArgs ? "Hide arguments" : "Show arguments"}
            >
              ({showArgs ? "…" : `${args.length} arg${args.length === 1 ? "" : "s"}`})
            </button>
          )}
          <span className="text-zinc-400">: </span>
          <span className="whitespace-nowrap">
            <TypeLink t={f.type} onOpen={onOpen} />
          </span>
          {"defaultValue" in f && f.defaultValue != null && <span className="text-zinc-400"> = {f.defaultValue}</span>}
        </div>
        {onInsert && (
          <Button
            size="sm"
            variant="ghost"
            onClick={onInsert}
            aria-label={`Insert ${op ?? "query"} ${f.name}`}
            title={`Start a ${op ?? "query"} with ${f.name}`}
            className="h-6 shrink-0 px-1.5 text-[11px] opacity-70 group-hover:opacity-100 focus-visible:opacity-100"
          >
            <Plus className="size-3" aria-hidden /> Insert
          </Button>
        )}
      </div>
      {f.description && <p className="mt-0.5 line-clamp-3 text-xs text-zinc-400">{f.description}</p>}
      {showArgs && args.length > 0 && (
        <ul className="mt-1.5 space-y-1 border-l border-zinc-800 pl-3">
          {args.map((a) => (
            <li key={a.name} className="font-mono text-[11.5px] leading-5">
              <span className="text-pink-300">{a.name}</span>
              <span className="text-zinc-400">: </span>
              <TypeLink t={a.type} onOpen={onOpen} />
              {a.defaultValue != null && <span className="text-zinc-400"> = {a.defaultValue}</span>}
              {a.description && <p className="font-sans text-[11px] text-zinc-400">{a.description}</p>}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

function TypeDoc({ t, index, onOpen, onInsert }: { t: IType; index: SchemaIndex; onOpen: (n: string) => void; onInsert: (op: OpKind, f: IField) => void }) {
  const rootOp = (["query", "mutation", "subscription"] as OpKind[]).find((o) => index.root(o)?.name === t.name);
  return (
    <div className="space-y-4">
      <div>
        <div className="flex flex-wrap items-center gap-2">
          <h2 className="break-all font-mono text-sm font-semibold text-amber-200">{t.name}</h2>
          <Badge>{t.kind.replace("_", " ").toLowerCase()}</Badge>
        </div>
        {t.description && <p className="mt-1.5 whitespace-pre-line text-xs text-zinc-400">{t.description}</p>}
      </div>
      {t.interfaces && t.interfaces.length > 0 && (
        <DocSection title="Implements">
          {t.interfaces.map((i) => (
            <li key={i.name} className="text-xs">
              <TypeLink t={i} onOpen={onOpen} />
            </li>
          ))}
        </DocSection>
      )}
      {t.fields && t.fields.length > 0 && (
        <section>
          <h3 className="text-[11px] font-medium uppercase tracking-wider text-zinc-400">Fields</h3>
          <ul className="divide-y divide-zinc-800/70">
            {t.fields.map((f) => (
              <FieldRow key={f.name} f={f} onOpen={onOpen} op={rootOp} onInsert={rootOp ? () => onInsert(rootOp, f) : undefined} />
            ))}
          </ul>
        </section>
      )}
      {t.inputFields && t.inputFields.length > 0 && (
        <section>
          <h3 className="text-[11px] font-medium uppercase tracking-wider text-zinc-400">Input fields</h3>
          <ul className="divide-y divide-zinc-800/70">
            {t.inputFields.map((f) => (
              <FieldRow key={f.name} f={f} onOpen={onOpen} />
            ))}
          </ul>
        </section>
      )}
      {t.enumValues && t.enumValues.length > 0 && (
        <DocSection title="Values">
          {t.enumValues.map((v) => (
            <li key={v.name} className="py-0.5">
              <span className={cx("font-mono text-xs text-violet-300", v.isDeprecated && "line-through opacity-60")}>{v.name}</span>
              {v.description && <p className="text-xs text-zinc-400">{v.description}</p>}
            </li>
          ))}
        </DocSection>
      )}
      {t.possibleTypes && t.possibleTypes.length > 0 && (
        <DocSection title="Possible types">
          {t.possibleTypes.map((p) => (
            <li key={p.name} className="text-xs">
              <TypeLink t={p} onOpen={onOpen} />
            </li>
          ))}
        </DocSection>
      )}
      {t.kind === "SCALAR" && !t.description && <p className="text-xs text-zinc-400">A scalar: a leaf value in results and arguments.</p>}
    </div>
  );
}
