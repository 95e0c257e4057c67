// The REST explorer: the tenant's OpenAPI document as a list of endpoints (tables, views and
// functions) with their parameters and body schemas, a "Try it" form that sends the request as
// the chosen role and shows the raw response, and the same request as curl and supabase-js.
import { useEffect, useMemo, useRef, useState, type KeyboardEvent, type ReactNode } from "react";
import { ChevronDown, FileJson, Plus, RefreshCw, RotateCcw, Search, Send } from "lucide-react";
import { api, enc, rest } from "../api";
import { Badge, Button, Empty, ErrorBox, Input, Modal, PageHeader, Select, Spinner, TabButton, cx, fmtBytes, fmtMs, toast, useAsync } from "../components/ui";
import { CodeEditor } from "../components/editor";
import { CopyButton, JsonView, RunAsBar, parseJsonObject, prettyJson, useRunAs } from "./GraphQL";

// ---------------------------------------------------------------------------------------------
// The OpenAPI document (3.x as Kapok serves it; Swagger 2.0 as PostgREST does) as a model
// ---------------------------------------------------------------------------------------------

type J = Record<string, unknown>;
const isObj = (v: unknown): v is J => !!v && typeof v === "object" && !Array.isArray(v);

interface Param {
  name: string;
  in: string;
  required: boolean;
  description: string;
  type: string;
  example?: string;
  enumValues?: string[];
  group: "query" | "filter" | "header" | "path" | "arg";
}
interface Prop {
  name: string;
  type: string;
  required: boolean;
  readOnly: boolean;
  description: string;
  default?: unknown;
  enumValues?: string[];
  pk: boolean;
  schema: J;
}
interface Body {
  props: Prop[];
  /** An array of objects is accepted too (inserts). */
  many: boolean;
  description: string;
  /** A non-object body (a scalar or a free-form object): its type. */
  plain?: string;
}
interface Op {
  key: string;
  method: string;
  path: string;
  tag: string;
  summary: string;
  description: string;
  params: Param[];
  body?: Body;
  responses: { code: string; description: string; headers: string[] }[];
  rpc: boolean;
}
interface Group {
  tag: string;
  description: string;
  ops: Op[];
  rpc: boolean;
}
interface Model {
  title: string;
  description: string;
  version: string;
  groups: Group[];
  ops: Op[];
  profiles: boolean;
}

const reserved = new Set(["select", "order", "limit", "offset", "or", "and", "columns", "on_conflict"]);
const methodOrder = ["get", "head", "post", "put", "patch", "delete", "options"];

function pointer(doc: J, ref: string): unknown {
  if (!ref.startsWith("#/")) return undefined;
  let cur: unknown = doc;
  for (const raw of ref.slice(2).split("/")) {
    const k = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isObj(cur)) return undefined;
    cur = cur[k];
  }
  return cur;
}

function deref(doc: J, v: unknown, depth = 0): J {
  if (!isObj(v)) return {};
  if (typeof v.$ref === "string" && depth < 16) return deref(doc, pointer(doc, v.$ref), depth + 1);
  return v;
}

function schemaType(doc: J, s0: unknown): string {
  const s = deref(doc, s0);
  if (typeof s["x-pg-type"] === "string") return s["x-pg-type"] as string;
  if (Array.isArray(s.enum)) return "enum";
  for (const k of ["oneOf", "anyOf"]) {
    const alts = s[k];
    if (Array.isArray(alts)) return alts.map((a) => schemaType(doc, a)).join(" | ");
  }
  let t = s.type;
  if (Array.isArray(t)) t = t.filter((x) => x !== "null").join(" | ");
  if (t === "array") return schemaType(doc, s.items) + "[]";
  if (typeof t !== "string") return isObj(s0) && typeof s0.$ref === "string" ? s0.$ref.split("/").pop() ?? "object" : "any";
  return typeof s.format === "string" ? `${t} (${s.format})` : t;
}

function firstExample(p: J, s: J): string | undefined {
  if (p.example !== undefined) return String(p.example);
  if (isObj(p.examples)) {
    for (const v of Object.values(p.examples)) if (isObj(v) && v.value !== undefined) return String(v.value);
  }
  if (Array.isArray(s.examples) && s.examples.length) return String(s.examples[0]);
  if (s.example !== undefined) return String(s.example);
  if (Array.isArray(s.enum) && s.enum.length) return String(s.enum[0]);
  return undefined;
}

function bodyFromSchema(doc: J, schema0: unknown, description = ""): Body {
  let schema = deref(doc, schema0);
  let many = false;
  const alts = (schema.oneOf ?? schema.anyOf) as unknown[] | undefined;
  if (Array.isArray(alts)) {
    const objAlt = alts.map((a) => deref(doc, a)).find((a) => isObj(a.properties));
    if (objAlt) {
      many = alts.some((a) => deref(doc, a).type === "array");
      schema = objAlt;
    }
  }
  if (schema.type === "array" && isObj(deref(doc, schema.items).properties)) {
    many = true;
    schema = deref(doc, schema.items);
  }
  const props: Prop[] = [];
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  if (isObj(schema.properties)) {
    for (const [name, ps0] of Object.entries(schema.properties)) {
      const ps = deref(doc, ps0);
      const desc = typeof ps.description === "string" ? ps.description : "";
      props.push({
        name,
        type: schemaType(doc, ps0),
        required: required.has(name),
        readOnly: ps.readOnly === true,
        description: desc,
        default: ps.default,
        enumValues: Array.isArray(ps.enum) ? ps.enum.map(String) : undefined,
        pk: /primary key/i.test(desc),
        schema: ps,
      });
    }
  }
  const d = description || (typeof schema.description === "string" ? schema.description : "");
  return { props, many, description: d, plain: props.length ? undefined : schemaType(doc, schema) };
}

function buildModel(doc: J): Model {
  const info = isObj(doc.info) ? doc.info : {};
  const tagDesc = new Map<string, string>();
  if (Array.isArray(doc.tags)) for (const t of doc.tags) if (isObj(t) && typeof t.name === "string") tagDesc.set(t.name, typeof t.description === "string" ? t.description : "");
  const ops: Op[] = [];
  let profiles = false;
  const paths = isObj(doc.paths) ? doc.paths : {};
  for (const [path, item0] of Object.entries(paths)) {
    if (path === "/") continue;
    const item = deref(doc, item0);
    const shared = Array.isArray(item.parameters) ? item.parameters : [];
    for (const method of methodOrder) {
      const op = item[method];
      if (!isObj(op)) continue;
      const rpc = path.startsWith("/rpc/");
      const params: Param[] = [];
      let body: Body | undefined;
      for (const p0 of [...shared, ...(Array.isArray(op.parameters) ? op.parameters : [])]) {
        const p = deref(doc, p0);
        if (typeof p.name !== "string") continue;
        const where = String(p.in ?? "query");
        if (where === "body") {
          body = bodyFromSchema(doc, p.schema, typeof p.description === "string" ? p.description : "");
          continue;
        }
        if (where === "header" && /^(accept|content)-profile$/i.test(p.name)) profiles = true;
        const s = isObj(p.schema) ? deref(doc, p.schema) : p; // Swagger 2 puts the type on the parameter
        const group: Param["group"] =
          where === "header" ? "header" : where === "path" ? "path" : reserved.has(p.name) ? "query" : rpc ? "arg" : "filter";
        params.push({
          name: p.name,
          in: where,
          required: p.required === true,
          description: typeof p.description === "string" ? p.description : "",
          type: isObj(p.schema) ? schemaType(doc, p.schema) : schemaType(doc, p),
          example: firstExample(p, s),
          enumValues: Array.isArray(s.enum) ? s.enum.map(String) : undefined,
          group,
        });
      }
      const rb = deref(doc, op.requestBody);
      if (isObj(rb.content)) {
        const json = deref(doc, (rb.content as J)["application/json"]);
        if (json.schema) body = bodyFromSchema(doc, json.schema, typeof rb.description === "string" ? rb.description : "");
      }
      const responses: Op["responses"] = [];
      if (isObj(op.responses))
        for (const [code, r0] of Object.entries(op.responses)) {
          const r = deref(doc, r0);
          responses.push({
            code,
            description: typeof r.description === "string" ? r.description : "",
            headers: isObj(r.headers) ? Object.keys(r.headers) : [],
          });
        }
      const tag = Array.isArray(op.tags) && typeof op.tags[0] === "string" ? (op.tags[0] as string) : rpc ? "rpc" : path.split("/")[1] || "/";
      const itemDesc = [item.summary, item.description].filter((x) => typeof x === "string" && x).join("\n\n");
      ops.push({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        tag,
        summary: typeof op.summary === "string" ? op.summary : "",
        description: [typeof op.description === "string" ? op.description : "", itemDesc].filter(Boolean).join("\n\n"),
        params,
        body,
        responses,
        rpc,
      });
    }
  }
  const groups = new Map<string, Group>();
  for (const op of ops) {
    let g = groups.get(op.tag);
    if (!g) groups.set(op.tag, (g = { tag: op.tag, description: tagDesc.get(op.tag) ?? "", ops: [], rpc: op.rpc }));
    g.ops.push(op);
  }
  const list = [...groups.values()].sort((a, b) => Number(a.rpc) - Number(b.rpc) || a.tag.localeCompare(b.tag));
  return {
    title: typeof info.title === "string" ? info.title : "REST API",
    description: typeof info.description === "string" ? info.description : "",
    version: typeof info.version === "string" ? info.version : "",
    groups: list,
    ops: list.flatMap((g) => g.ops),
    profiles,
  };
}

// ---------------------------------------------------------------------------------------------
// Requests: defaults, curl, supabase-js
// ---------------------------------------------------------------------------------------------

interface Req {
  method: string;
  path: string;
  headers: string;
  body: string;
}

function sample(p: Prop): unknown {
  if (p.default !== undefined) return p.default;
  if (p.enumValues?.length) return p.enumValues[0];
  const s = p.schema;
  const t = Array.isArray(s.type) ? (s.type as string[]).find((x) => x !== "null") : s.type;
  const f = s.format;
  if (t === "integer") return 1;
  if (t === "number") return 1.5;
  if (t === "boolean") return true;
  if (t === "array") return [];
  if (t === "object") return {};
  if (f === "date-time") return new Date().toISOString();
  if (f === "date") return new Date().toISOString().slice(0, 10);
  if (f === "uuid") return "00000000-0000-0000-0000-000000000000";
  if (f === "email" || /email/i.test(p.name)) return "someone@example.com";
  return "text";
}

function paramSample(type: string): string {
  if (/int|serial|numeric|decimal|real|double|float|number/.test(type)) return "1";
  if (/bool/.test(type)) return "true";
  if (/date|time/.test(type)) return new Date().toISOString().slice(0, 10);
  if (/uuid/.test(type)) return "00000000-0000-0000-0000-000000000000";
  return "text";
}

function sampleBody(op: Op, forPatch: boolean): unknown {
  if (!op.body) return undefined;
  const writable = op.body.props.filter((p) => !p.readOnly);
  if (!writable.length) return op.body.plain ? (op.rpc ? {} : null) : {};
  let chosen: Prop[];
  if (forPatch) chosen = [writable.find((p) => !p.pk) ?? writable[0]];
  else {
    chosen = writable.filter((p) => p.required);
    if (!chosen.length) chosen = writable.filter((p) => !p.pk).slice(0, 4);
    if (!chosen.length) chosen = writable.slice(0, 4);
  }
  return Object.fromEntries(chosen.map((p) => [p.name, sample(p)]));
}

function pkFilter(op: Op, model: Model): string {
  // the primary key from the row schema of a write with a body, else the first filter
  const sibling = model.ops.find((o) => o.path === op.path && o.body?.props.some((p) => p.pk));
  const pk = sibling?.body?.props.find((p) => p.pk);
  if (pk) return `${pk.name}=eq.${pk.type.includes("int") ? 1 : "…"}`;
  const f = op.params.find((p) => p.group === "filter");
  return f ? `${f.name}=${f.example ?? "eq.1"}` : "";
}

function defaultRequest(op: Op, model: Model, profile: string): Req {
  const headers: Record<string, string> = {};
  let query = "";
  let body: unknown;
  const m = op.method;
  if (op.rpc) {
    if (m === "GET" || m === "HEAD") {
      query = op.params
        .filter((p) => p.group === "arg" && p.required)
        .map((p) => `${p.name}=${p.example ?? paramSample(p.type)}`)
        .join("&");
    } else body = sampleBody(op, false) ?? {};
  } else if (m === "GET") {
    query = "select=*&limit=10";
    headers.Prefer = "count=exact";
  } else if (m === "HEAD") {
    query = "limit=10";
    headers.Prefer = "count=exact";
  } else if (m === "POST") {
    query = "select=*";
    headers.Prefer = "return=representation";
    body = sampleBody(op, false);
  } else if (m === "PATCH") {
    query = pkFilter(op, model);
    headers.Prefer = "return=representation";
    body = sampleBody(op, true);
  } else if (m === "PUT") {
    query = pkFilter(op, model);
    headers.Prefer = "return=representation";
    const sib = model.ops.find((o) => o.path === op.path && o.method === "POST") ?? op;
    body = sampleBody(sib, false);
  } else if (m === "DELETE") {
    query = pkFilter(op, model);
    headers.Prefer = "return=representation";
  }
  if (profile) headers[m === "GET" || m === "HEAD" ? "Accept-Profile" : "Content-Profile"] = profile;
  return {
    method: m,
    path: op.path + (query ? "?" + query : ""),
    headers: JSON.stringify(headers, null, 2),
    body: body === undefined ? "" : JSON.stringify(body, null, 2),
  };
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const js = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;

function jsValue(s: string): string {
  if (/^-?\d+(\.\d+)?$/.test(s) && s.length < 16) return s;
  if (s === "true" || s === "false") return s;
  return js(s.replace(/^"(.*)"$/, "$1"));
}

function jsLiteral(v: unknown, indent = ""): string {
  return JSON.stringify(v, null, 2)
    .split("\n")
    .map((l) => l.replace(/^(\s*)"([A-Za-z_$][\w$]*)": /, "$1$2: "))
    .map((l, i) => (i ? indent + l : l))
    .join("\n");
}

function userHeaders(text: string): Record<string, string> {
  try {
    const h = parseJsonObject(text, "The headers") ?? {};
    return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  } catch {
    return {};
  }
}

function curlSnippet(origin: string, tenant: string, req: Req, token: string | null): string {
  const url = `${origin}/t/${enc(tenant)}/rest/v1${req.path.startsWith("/") ? req.path : "/" + req.path}`;
  const parts = [`curl ${req.method === "GET" ? "" : req.method === "HEAD" ? "-I " : `-X ${req.method} `}${sq(url)}`];
  parts.push(token ? `-H ${sq("apikey: " + token)}` : `-H "apikey: $KAPOK_KEY"`);
  parts.push(token ? `-H ${sq("Authorization: Bearer " + token)}` : `-H "Authorization: Bearer $KAPOK_KEY"`);
  const h = userHeaders(req.headers);
  for (const [k, v] of Object.entries(h)) parts.push(`-H ${sq(`${k}: ${v}`)}`);
  const hasBody = req.method !== "GET" && req.method !== "HEAD" && req.body.trim();
  if (hasBody) {
    if (!Object.keys(h).some((k) => k.toLowerCase() === "content-type")) parts.push(`-H 'Content-Type: application/json'`);
    let b = req.body.trim();
    try {
      b = JSON.stringify(JSON.parse(b));
    } catch {
      /* sent as typed */
    }
    parts.push(`-d ${sq(b)}`);
  }
  return parts.join(" \\\n  ");
}

function filterCall(col: string, raw: string): string {
  let v = raw;
  if (v.startsWith("not.")) {
    const rest = v.slice(4);
    const dot = rest.indexOf(".");
    if (dot > 0) return `.not(${js(col)}, ${js(rest.slice(0, dot))}, ${jsValue(rest.slice(dot + 1))})`;
  }
  const dot = v.indexOf(".");
  if (dot < 0) return `.filter(${js(col)}, 'eq', ${jsValue(v)}) // no operator: PostgREST will refuse it`;
  const op = v.slice(0, dot);
  v = v.slice(dot + 1);
  if (["eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"].includes(op)) return `.${op}(${js(col)}, ${jsValue(v)})`;
  if (op === "is") return `.is(${js(col)}, ${["null", "true", "false"].includes(v) ? v : js(v)})`;
  if (op === "in") {
    const items = v.replace(/^\(|\)$/g, "").split(",").filter((x) => x !== "");
    return `.in(${js(col)}, [${items.map(jsValue).join(", ")}])`;
  }
  const fts = /^(fts|plfts|phfts|wfts)(?:\((\w+)\))?$/.exec(op);
  if (fts) {
    const type = { fts: "", plfts: "plain", phfts: "phrase", wfts: "websearch" }[fts[1]];
    const opts = [type && `type: '${type}'`, fts[2] && `config: '${fts[2]}'`].filter(Boolean);
    return `.textSearch(${js(col)}, ${js(v)}${opts.length ? `, { ${opts.join(", ")} }` : ""})`;
  }
  return `.filter(${js(col)}, ${js(op)}, ${js(v)})`;
}

function orderCalls(spec: string): string[] {
  return spec
    .split(",")
    .filter(Boolean)
    .map((item) => {
      const m = /^(?:([\w]+)\()?([\w]+)\)?((?:\.\w+)*)$/.exec(item.trim());
      if (!m) return `// order=${item}`;
      const mods = m[3].split(".").filter(Boolean);
      const opts: string[] = [];
      if (mods.includes("desc")) opts.push("ascending: false");
      if (mods.includes("nullsfirst")) opts.push("nullsFirst: true");
      if (mods.includes("nullslast")) opts.push("nullsFirst: false");
      if (m[1]) opts.push(`referencedTable: '${m[1]}'`);
      return `.order(${js(m[2])}${opts.length ? `, { ${opts.join(", ")} }` : ""})`;
    });
}

function supabaseSnippet(origin: string, tenant: string, req: Req, token: string | null): string {
  const u = new URL(req.path.startsWith("/") ? req.path : "/" + req.path, "http://x");
  const segs = u.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const params = [...u.searchParams.entries()];
  const get = (k: string) => u.searchParams.get(k) ?? undefined;
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(userHeaders(req.headers))) h[k.toLowerCase()] = v;
  const prefer = (h.prefer ?? "").split(",").map((s) => s.trim());
  const pref = (k: string) => prefer.find((p) => p.startsWith(k + "="))?.slice(k.length + 1);
  const count = pref("count");
  const ret = pref("return");
  const resolution = pref("resolution");
  const profile = h["accept-profile"] ?? h["content-profile"];
  let body: unknown;
  try {
    body = req.body.trim() ? JSON.parse(req.body) : undefined;
  } catch {
    body = undefined;
  }
  const m = req.method;
  const client = `supabase${profile ? `.schema(${js(profile)})` : ""}`;
  const chain: string[] = [];
  const select = get("select");
  const opts = (xs: (string | false | undefined)[]) => {
    const o = xs.filter(Boolean);
    return o.length ? `{ ${o.join(", ")} }` : "";
  };
  const countOpt = count ? `count: '${count}'` : undefined;
  let head: string;
  const filters: string[] = [];
  for (const [k, v] of params) {
    if (reserved.has(k)) continue;
    filters.push(filterCall(k, v));
  }
  const orAnd: string[] = [];
  if (get("or")) orAnd.push(`.or(${js(get("or")!.replace(/^\((.*)\)$/, "$1"))})`);
  if (get("and")) orAnd.push(`// and=${get("and")}: list its conditions as separate filters`);

  if (segs[0] === "rpc" && segs[1]) {
    let args: unknown = body;
    if (m === "GET" || m === "HEAD") {
      args = Object.fromEntries(params.filter(([k]) => !reserved.has(k)).map(([k, v]) => [k, /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v]));
      filters.length = 0;
    }
    const o = opts([m === "GET" && "get: true", m === "HEAD" && "head: true", countOpt]);
    const hasArgs = isObj(args) ? Object.keys(args).length > 0 : args !== undefined;
    head = `${client}.rpc(${js(segs[1])}${hasArgs || o ? ", " + (hasArgs ? jsLiteral(args) : "{}") : ""}${o ? ", " + o : ""})`;
    if (select) chain.push(`.select(${js(select)})`);
    chain.push(...filters, ...orAnd);
  } else {
    const table = segs[0] ?? "table";
    head = `${client}.from(${js(table)})`;
    const b = body === undefined ? "{}" : jsLiteral(body, "  ");
    const writeSelect = ret === "representation" ? [`.select(${select && select !== "*" ? js(select) : ""})`] : [];
    switch (m) {
      case "HEAD":
        chain.push(`.select(${js(select ?? "*")}, { count: '${count ?? "exact"}', head: true })`, ...filters, ...orAnd);
        break;
      case "POST": {
        const onConflict = get("on_conflict") && `onConflict: ${js(get("on_conflict")!)}`;
        if (resolution)
          chain.push(`.upsert(${b}${opts([onConflict, resolution === "ignore-duplicates" && "ignoreDuplicates: true", countOpt]) ? ", " + opts([onConflict, resolution === "ignore-duplicates" && "ignoreDuplicates: true", countOpt]) : ""})`);
        else chain.push(`.insert(${b}${countOpt || pref("missing") ? ", " + opts([countOpt, pref("missing") === "default" && "defaultToNull: false"]) : ""})`);
        chain.push(...writeSelect);
        break;
      }
      case "PUT":
        chain.push(`.upsert(${b})`, ...writeSelect);
        break;
      case "PATCH":
        chain.push(`.update(${b}${countOpt ? ", " + opts([countOpt]) : ""})`, ...filters, ...orAnd, ...writeSelect);
        break;
      case "DELETE":
        chain.push(`.delete(${countOpt ? opts([countOpt]) : ""})`, ...filters, ...orAnd, ...writeSelect);
        break;
      default:
        chain.push(`.select(${js(select ?? "*")}${countOpt ? ", " + opts([countOpt]) : ""})`, ...filters, ...orAnd);
    }
  }
  if (get("order")) chain.push(...orderCalls(get("order")!));
  const limit = get("limit");
  const offset = get("offset");
  const range = /^(\d+)-(\d*)$/.exec(h.range ?? "");
  if (range) chain.push(`.range(${range[1]}, ${range[2] || Number(range[1]) + 999})`);
  else if (offset && limit) chain.push(`.range(${offset}, ${Number(offset) + Number(limit) - 1})`);
  else if (offset) chain.push(`.range(${offset}, ${Number(offset) + 999})`);
  else if (limit) chain.push(`.limit(${limit})`);
  const accept = h.accept ?? "";
  if (accept.includes("vnd.pgrst.object")) chain.push(".single()");
  else if (accept.includes("text/csv")) chain.push(".csv()");
  const vars = count ? "{ data, error, count }" : "{ data, error }";
  return [
    "import { createClient } from '@supabase/supabase-js'",
    "",
    `const supabase = createClient(${js(`${origin}/t/${tenant}`)}, ${token ? js(token) : "process.env.KAPOK_KEY"})`,
    "",
    `const ${vars} = await ${head}${chain.length ? "\n  " + chain.join("\n  ") : ""}`,
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Small pieces
// ---------------------------------------------------------------------------------------------

const methodTone: Record<string, string> = {
  GET: "text-emerald-300 bg-emerald-500/10 ring-emerald-500/25",
  HEAD: "text-zinc-300 bg-zinc-500/10 ring-zinc-500/25",
  POST: "text-sky-300 bg-sky-500/10 ring-sky-500/25",
  PUT: "text-violet-300 bg-violet-500/10 ring-violet-500/25",
  PATCH: "text-amber-300 bg-amber-500/10 ring-amber-500/25",
  DELETE: "text-red-300 bg-red-500/10 ring-red-500/25",
};

function MethodBadge({ method, className }: { method: string; className?: string }) {
  return (
    <span
      className={cx(
        "inline-flex w-14 shrink-0 justify-center rounded px-1 py-0.5 font-mono text-[10.5px] font-semibold ring-1 ring-inset",
        methodTone[method] ?? methodTone.HEAD,
        className,
      )}
    >
      {method}
    </span>
  );
}

/** Description text: paragraphs, `code` spans; the OpenAPI's <pk/> / <fk …/> markers dropped. */
function Md({ text, className }: { text: string; className?: string }) {
  const clean = text.replace(/<[a-z]+\b[^>]*\/>/gi, "").trim();
  if (!clean) return null;
  return (
    <div className={cx("space-y-1.5", className)}>
      {clean.split(/\n{2,}/).map((para, i) => (
        <p key={i}>
          {para.split(/(`[^`]+`)/).map((part, j) =>
            part.startsWith("`") && part.endsWith("`") && part.length > 1 ? (
              <code key={j} className="rounded bg-zinc-800/80 px-1 py-px font-mono text-[0.9em] text-zinc-200">
                {part.slice(1, -1)}
              </code>
            ) : (
              part
            ),
          )}
        </p>
      ))}
    </div>
  );
}

function plain(s: string) {
  return s.replace(/`/g, "");
}

const tableVerbs: Record<string, string> = {
  GET: "Read rows",
  HEAD: "Count rows",
  POST: "Insert or upsert rows",
  PUT: "Replace one row",
  PATCH: "Update rows",
  DELETE: "Delete rows",
};

function shortSummary(op: Op): string {
  if (op.rpc) return op.method === "GET" ? "Call with query parameters" : "Call with a JSON body";
  return tableVerbs[op.method] ?? plain(op.summary) ?? op.method;
}

function Section({ title, children, actions }: { title: ReactNode; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="rounded-xl border border-zinc-800 bg-zinc-900/60">
      <header className="flex flex-wrap items-center justify-between gap-2 border-b border-zinc-800 px-4 py-2.5">
        <h2 className="text-sm font-semibold text-zinc-200">{title}</h2>
        {actions && <div className="flex items-center gap-2">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

// ---------------------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------------------

interface Resp {
  status?: number;
  statusText?: string;
  ms?: number;
  headers?: [string, string][];
  body?: unknown;
  size?: number;
  role?: string;
  error?: unknown;
  request?: string;
}

const selKey = (tenant: string) => `kapok.console.rest.${tenant}`;

export function RestPage({ tenant }: { tenant: string }) {
  const runAs = useRunAs(tenant);
  const [profile, setProfile] = useState("");
  const info = useAsync(() => api.tenant(tenant), [tenant]);
  const schemas = info.data?.schemas ?? [];
  const doc = useAsync(async () => {
    const tok = await runAs.resolve();
    const r = await rest<J>(tenant, "GET", "/", { token: tok.token, schema: profile || undefined });
    if (!isObj(r.data)) throw new Error("The API answered something that is not an OpenAPI document.");
    return r.data;
  }, [tenant, runAs.key, profile]);
  const model = useMemo(() => (doc.data ? buildModel(doc.data) : null), [doc.data]);
  const [selected, setSelected] = useState<string>(() => localStorage.getItem(selKey(tenant)) ?? "");
  const [q, setQ] = useState("");
  const [reqs, setReqs] = useState<Record<string, Req>>({});
  const [resps, setResps] = useState<Record<string, Resp>>({});
  const [showDoc, setShowDoc] = useState(false);

  const op = model?.ops.find((o) => o.key === selected) ?? model?.ops[0];
  // The example request of the operation, computed once (its samples hold the current time).
  const example = useMemo(() => (op && model ? defaultRequest(op, model, profile) : null), [op, model, profile]);
  useEffect(() => {
    if (op) localStorage.setItem(selKey(tenant), op.key);
  }, [op, tenant]);

  const filtered = useMemo(() => {
    if (!model) return [];
    const term = q.trim().toLowerCase();
    if (!term) return model.groups;
    return model.groups
      .map((g) => ({
        ...g,
        ops: g.tag.toLowerCase().includes(term)
          ? g.ops
          : g.ops.filter((o) => `${o.method} ${o.path} ${o.summary}`.toLowerCase().includes(term)),
      }))
      .filter((g) => g.ops.length);
  }, [model, q]);

  const base = `/t/${enc(tenant)}/rest/v1`;

  return (
    <div className="flex min-h-full flex-col gap-4 p-4 md:p-6">
      <PageHeader
        title="REST API"
        actions={
          <div className="flex flex-wrap items-center gap-2">
            {schemas.length > 1 && (
              <div className="flex items-center gap-2">
                <label htmlFor="rest-profile" className="text-xs font-medium text-zinc-400">
                  Schema
                </label>
                <div className="w-36">
                  <Select id="rest-profile" value={profile} onChange={(e) => setProfile(e.target.value)} className="h-8 text-xs">
                    <option value="">{schemas[0]} (default)</option>
                    {schemas.slice(1).map((s) => (
                      <option key={s}>{s}</option>
                    ))}
                  </Select>
                </div>
              </div>
            )}
            <Button size="sm" variant="ghost" onClick={() => setShowDoc(true)} disabled={!doc.data}>
              <FileJson className="size-3.5" aria-hidden /> OpenAPI
            </Button>
            <Button size="sm" variant="ghost" onClick={doc.reload} aria-label="Reload the OpenAPI document" title="Reload">
              <RefreshCw className={cx("size-3.5", doc.loading && "animate-spin")} aria-hidden />
            </Button>
          </div>
        }
      >
        <p className="flex min-w-0 flex-wrap items-center gap-x-1.5 text-sm text-zinc-400">
          PostgREST-compatible API of {tenant} at
          <code className="truncate rounded bg-zinc-900 px-1.5 py-0.5 font-mono text-xs text-zinc-300">{base}</code>
          <CopyButton text={() => window.location.origin + base} label="Copy API URL" iconOnly className="h-6" />
        </p>
      </PageHeader>

      <div className="flex flex-wrap items-center gap-2">
        <RunAsBar runAs={runAs} tenant={tenant} idPrefix="rest" />
        <span className="text-xs text-zinc-400">The document lists what this role may use.</span>
      </div>
      {!!runAs.error && <ErrorBox error={runAs.error} />}
      {!!doc.error && !runAs.error && (
        <div className="flex flex-wrap items-center gap-2">
          <div className="min-w-0 flex-1">
            <ErrorBox error={doc.error} />
          </div>
          <Button size="sm" onClick={doc.reload}>
            Try again
          </Button>
        </div>
      )}
      {doc.loading && !model && !doc.error && <Spinner label="Loading the OpenAPI document" />}

      {model && !doc.error && (
        <div className="flex min-w-0 flex-col gap-4 lg:flex-row lg:items-start">
          {/* endpoint list: a select on narrow windows, a sticky list beside the details otherwise */}
          <div className="lg:hidden">
            <label htmlFor="rest-endpoint" className="mb-1 block text-xs font-medium text-zinc-400">
              Endpoint
            </label>
            <Select id="rest-endpoint" value={op?.key ?? ""} onChange={(e) => setSelected(e.target.value)}>
              {model.groups.map((g) => (
                <optgroup key={g.tag} label={g.tag}>
                  {g.ops.map((o) => (
                    <option key={o.key} value={o.key}>
                      {o.method} {o.path} · {shortSummary(o)}
                    </option>
                  ))}
                </optgroup>
              ))}
            </Select>
          </div>
          <nav
            aria-label="Endpoints"
            className="hidden shrink-0 flex-col overflow-hidden rounded-xl border border-zinc-800 bg-zinc-900/60 lg:sticky lg:top-4 lg:flex lg:max-h-[calc(100vh-2rem)] lg:w-64 xl:w-72"
          >
            <div className="border-b border-zinc-800 p-2">
              <div className="relative">
                <Search className="pointer-events-none absolute left-2.5 top-1/2 size-3.5 -translate-y-1/2 text-zinc-500" aria-hidden />
                <Input value={q} onChange={(e) => setQ(e.target.value)} placeholder="Filter endpoints" aria-label="Filter endpoints" className="h-8 pl-8 text-xs" />
              </div>
            </div>
            <div className="min-h-0 flex-1 overflow-y-auto p-2">
              {filtered.length === 0 && <p className="px-2 py-3 text-xs text-zinc-400">{model.ops.length ? `Nothing matches “${q}”.` : "This role can use no table, view or function."}</p>}
              {filtered.map((g) => (
                <EndpointGroup key={g.tag} g={g} selected={op?.key} onSelect={setSelected} />
              ))}
            </div>
          </nav>

          <div className="min-w-0 flex-1 space-y-4">
            {!op ? (
              <Empty title="No endpoints">
                The role {runAs.current?.role ?? ""} can use no table, view or function of this schema.
              </Empty>
            ) : (
              <OperationView
                key={op.key + "\n" + tenant}
                op={op}
                model={model}
                tenant={tenant}
                runAs={runAs}
                profile={profile}
                req={reqs[op.key] ?? example!}
                setReq={(r) => setReqs((x) => ({ ...x, [op.key]: r }))}
                resetReq={() => setReqs((x) => ({ ...x, [op.key]: defaultRequest(op, model, profile) }))}
                resp={resps[op.key]}
                setResp={(r) => setResps((x) => ({ ...x, [op.key]: r }))}
              />
            )}
          </div>
        </div>
      )}

      <Modal open={showDoc} onOpenChange={setShowDoc} title="OpenAPI document" description={model ? `${model.title} · ${model.ops.length} operations · as ${runAs.current?.role ?? "?"}` : undefined} wide>
        <div className="mb-2 flex justify-end">
          <CopyButton text={() => prettyJson(doc.data)} label="Copy document" />
        </div>
        <div className="max-h-[60vh] overflow-hidden rounded-lg border border-zinc-800 bg-zinc-950">
          {showDoc && doc.data && <JsonView value={doc.data} label="OpenAPI document" className="max-h-[60vh]" />}
        </div>
      </Modal>
    </div>
  );
}

function EndpointGroup({ g, selected, onSelect }: { g: Group; selected?: string; onSelect: (k: string) => void }) {
  const [open, setOpen] = useState(true);
  return (
    <div className="mb-1">
      <button
        onClick={() => setOpen((o) => !o)}
        aria-expanded={open}
        className="flex w-full items-center gap-1.5 rounded px-2 py-1.5 text-left text-xs font-semibold text-zinc-200 hover:bg-zinc-800/60"
        title={plain(g.description)}
      >
        <ChevronDown className={cx("size-3 shrink-0 text-zinc-500 transition-transform", !open && "-rotate-90")} aria-hidden />
        <span className="truncate font-mono">{g.rpc ? "Functions (rpc)" : g.tag}</span>
        <span className="ml-auto text-[10px] font-normal text-zinc-400">{g.ops.length}</span>
      </button>
      {open && (
        <ul className="mb-1 space-y-px">
          {g.ops.map((o) => {
            const on = o.key === selected;
            return (
              <li key={o.key}>
                <button
                  onClick={() => onSelect(o.key)}
                  aria-current={on ? "true" : undefined}
                  className={cx(
                    "flex w-full items-center gap-2 rounded-md px-2 py-1 text-left text-xs",
                    on ? "bg-zinc-800 text-zinc-50" : "text-zinc-400 hover:bg-zinc-800/60 hover:text-zinc-200",
                  )}
                >
                  <MethodBadge method={o.method} className="w-12 text-[10px]" />
                  <span className="truncate">{g.rpc ? o.path.slice(5) : shortSummary(o)}</span>
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}

function OperationView({
  op,
  model,
  tenant,
  runAs,
  req,
  setReq,
  resetReq,
  resp,
  setResp,
}: {
  op: Op;
  model: Model;
  tenant: string;
  runAs: ReturnType<typeof useRunAs>;
  profile: string;
  req: Req;
  setReq: (r: Req) => void;
  resetReq: () => void;
  resp?: Resp;
  setResp: (r: Resp) => void;
}) {
  const [busy, setBusy] = useState(false);
  const busyRef = useRef(false);
  const pathRef = useRef<HTMLInputElement>(null);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";

  const send = async () => {
    if (busyRef.current) return;
    busyRef.current = true;
    setBusy(true);
    const path = req.path.startsWith("/") ? req.path : "/" + req.path;
    try {
      const user = parseJsonObject(req.headers, "The headers") ?? {};
      let body: string | undefined;
      if (hasBody && req.body.trim()) {
        try {
          body = JSON.stringify(JSON.parse(req.body));
        } catch (e) {
          throw new Error(`The body is not valid JSON: ${(e as Error).message}`);
        }
      }
      const tok = await runAs.resolve();
      const headers: Record<string, string> = { apikey: tok.token, Authorization: "Bearer " + tok.token };
      for (const [k, v] of Object.entries(user)) headers[k] = typeof v === "string" ? v : JSON.stringify(v);
      if (body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === "content-type")) headers["Content-Type"] = "application/json";
      const t0 = performance.now();
      const res = await fetch(`/t/${enc(tenant)}/rest/v1${path}`, { method: req.method, headers, body });
      const text = await res.text();
      const ms = performance.now() - t0;
      let parsed: unknown = text;
      if (text) {
        try {
          parsed = JSON.parse(text);
        } catch {
          /* not JSON: shown as text */
        }
      }
      setResp({
        status: res.status,
        statusText: res.statusText,
        ms,
        headers: [...res.headers.entries()],
        body: text ? parsed : undefined,
        size: new Blob([text]).size,
        role: tok.role,
        request: `${req.method} ${path}`,
      });
    } catch (e) {
      setResp({ error: e });
    } finally {
      busyRef.current = false;
      setBusy(false);
    }
  };

  const addParam = (p: Param) => {
    if (p.in === "header") {
      const h = (() => {
        try {
          return parseJsonObject(req.headers, "The headers") ?? {};
        } catch {
          return {};
        }
      })();
      h[p.name] = p.example ?? (p.enumValues?.[0] ?? "");
      setReq({ ...req, headers: JSON.stringify(h, null, 2) });
    } else {
      const [path, qs = ""] = req.path.split("?");
      const sp = new URLSearchParams(qs);
      const val = p.example ?? (p.name === "select" ? "*" : p.name === "order" ? "id.desc" : p.name === "limit" ? "10" : p.name === "offset" ? "0" : "eq.");
      sp.set(p.name, val);
      // URLSearchParams encodes *, (, ) and commas: PostgREST takes them as they are, and they read better.
      const q = sp
        .toString()
        .replace(/%2A/g, "*")
        .replace(/%2C/g, ",")
        .replace(/%28/g, "(")
        .replace(/%29/g, ")")
        .replace(/%3A/g, ":")
        .replace(/%7B/g, "{")
        .replace(/%7D/g, "}");
      setReq({ ...req, path: `${path}?${q}` });
    }
    pathRef.current?.scrollIntoView({ block: "nearest", behavior: "smooth" });
    toast(`${p.name} added to the request`);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.defaultPrevented || (e.target as HTMLElement).closest?.('[role="dialog"]')) return;
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      void send();
    }
  };

  const groups: { title: string; items: Param[] }[] = [
    { title: op.rpc ? "Arguments" : "Row filters", items: op.params.filter((p) => p.group === "filter" || p.group === "arg") },
    { title: "Query parameters", items: op.params.filter((p) => p.group === "query" || p.group === "path") },
    { title: "Headers", items: op.params.filter((p) => p.group === "header") },
  ].filter((g) => g.items.length);
  // Filters come first for reads, after the shared parameters for writes.
  if (!op.rpc && op.method !== "GET" && op.method !== "HEAD") groups.sort((a, b) => Number(a.title === "Row filters") - Number(b.title === "Row filters"));

  return (
    <>
      <section className="space-y-2">
        <div className="flex min-w-0 flex-wrap items-center gap-2">
          <MethodBadge method={op.method} />
          <code className="min-w-0 break-all font-mono text-sm text-zinc-100">{op.path}</code>
        </div>
        {op.summary && <Md text={op.summary} className="text-sm text-zinc-300" />}
        {op.description && <Md text={op.description} className="text-sm text-zinc-400" />}
        {!op.description && model.groups.find((g) => g.tag === op.tag)?.description && (
          <Md text={model.groups.find((g) => g.tag === op.tag)!.description} className="text-sm text-zinc-400" />
        )}
      </section>

      {/* Try it */}
      <Section
        title="Try it"
        actions={
          <Button size="sm" variant="ghost" onClick={resetReq} title="Back to the example request">
            <RotateCcw className="size-3.5" aria-hidden /> Reset
          </Button>
        }
      >
        <div className="space-y-3 p-4" onKeyDown={onKeyDown}>
          <div className="flex flex-col gap-2 sm:flex-row">
            <div className="sm:w-28 sm:shrink-0">
              <label htmlFor="rest-method" className="sr-only">
                Method
              </label>
              <Select id="rest-method" value={req.method} onChange={(e) => setReq({ ...req, method: e.target.value })} className="font-mono text-xs">
                {["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"].map((m) => (
                  <option key={m}>{m}</option>
                ))}
              </Select>
            </div>
            <div className="flex min-w-0 flex-1 items-center rounded-md border border-zinc-700 bg-zinc-900 focus-within:border-emerald-500 focus-within:ring-1 focus-within:ring-emerald-500">
              <span className="hidden shrink-0 pl-3 font-mono text-xs text-zinc-400 md:inline">/rest/v1</span>
              <input
                ref={pathRef}
                aria-label="Path and query"
                value={req.path}
                onChange={(e) => setReq({ ...req, path: e.target.value })}
                onKeyDown={(e) => {
                  if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
                    e.preventDefault();
                    void send();
                  }
                }}
                spellCheck={false}
                autoComplete="off"
                className="h-9 min-w-0 flex-1 bg-transparent px-2 font-mono text-xs text-zinc-100 focus:outline-none md:pl-0.5"
              />
            </div>
            <Button variant="primary" onClick={() => void send()} busy={busy} title="Send (Ctrl+Enter)">
              {!busy && <Send className="size-3.5" aria-hidden />} Send
            </Button>
          </div>
          <div className={cx("grid gap-3", hasBody && "md:grid-cols-2")}>
            <div className="space-y-1.5">
              <span className="block text-xs font-medium text-zinc-400">Headers (JSON)</span>
              <CodeEditor value={req.headers} onChange={(v) => setReq({ ...req, headers: v })} onRun={() => void send()} language="json" ariaLabel="Request headers (JSON)" minRows={4} maxRows={10} />
              <p className="text-[11px] text-zinc-400">
                apikey and Authorization come from Run as. Prefer: count=exact, return=representation…; Accept-Profile / Content-Profile pick a schema.
              </p>
            </div>
            {hasBody && (
              <div className="space-y-1.5">
                <span className="block text-xs font-medium text-zinc-400">Body (JSON)</span>
                <CodeEditor value={req.body} onChange={(v) => setReq({ ...req, body: v })} onRun={() => void send()} language="json" ariaLabel="Request body (JSON)" minRows={4} maxRows={16} />
              </div>
            )}
          </div>
        </div>
        <ResponseView resp={resp} busy={busy} />
      </Section>

      <Snippets tenant={tenant} req={req} token={runAs.current?.token ?? null} role={runAs.current?.role} />

      {groups.map((g) => (
        <Section key={g.title} title={g.title}>
          <ul className="divide-y divide-zinc-800/70">
            {g.items.map((p) => (
              <li key={p.in + p.name} className="flex gap-3 px-4 py-2.5">
                <div className="min-w-0 flex-1">
                  <div className="flex flex-wrap items-baseline gap-x-2 gap-y-0.5">
                    <code className="font-mono text-xs font-medium text-sky-300">{p.name}</code>
                    <span className="font-mono text-[11px] text-zinc-400">{p.type}</span>
                    {p.required && <Badge tone="amber">required</Badge>}
                    {p.example && (
                      <code className="truncate font-mono text-[11px] text-zinc-400" title="Example">
                        e.g. {p.in === "header" ? `${p.name}: ${p.example}` : `${p.name}=${p.example}`}
                      </code>
                    )}
                  </div>
                  {p.description && <Md text={p.description} className="mt-0.5 text-xs text-zinc-400" />}
                </div>
                <Button size="sm" variant="ghost" onClick={() => addParam(p)} aria-label={`Add ${p.name} to the request`} title="Add to the request" className="shrink-0 px-1.5">
                  <Plus className="size-3.5" aria-hidden />
                </Button>
              </li>
            ))}
          </ul>
        </Section>
      ))}

      {op.body && (
        <Section title={op.body.many ? "Body: an object, or an array of them" : "Body"}>
          {op.body.description && <Md text={op.body.description} className="border-b border-zinc-800 px-4 py-2.5 text-xs text-zinc-400" />}
          {op.body.props.length ? (
            <div className="overflow-x-auto">
              <table className="w-full text-left text-xs">
                <thead className="text-[11px] uppercase tracking-wider text-zinc-400">
                  <tr className="border-b border-zinc-800">
                    <th scope="col" className="px-4 py-2 font-medium">Column</th>
                    <th scope="col" className="px-2 py-2 font-medium">Type</th>
                    <th scope="col" className="px-4 py-2 font-medium">Notes</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-zinc-800/70">
                  {op.body.props.map((p) => (
                    <tr key={p.name} className="align-top">
                      <td className="whitespace-nowrap px-4 py-2 font-mono text-sky-300">{p.name}</td>
                      <td className="whitespace-nowrap px-2 py-2 font-mono text-zinc-400">{p.type}</td>
                      <td className="min-w-56 px-4 py-2 text-zinc-400">
                        <div className="mb-0.5 flex flex-wrap gap-1">
                          {p.pk && <Badge tone="blue">primary key</Badge>}
                          {p.required && <Badge tone="amber">required</Badge>}
                          {p.readOnly && <Badge>read-only</Badge>}
                          {p.default !== undefined && <Badge>default {JSON.stringify(p.default)}</Badge>}
                          {p.enumValues && <Badge>{p.enumValues.slice(0, 6).join(" | ")}</Badge>}
                        </div>
                        {p.description && <Md text={p.description.replace(/Note: This is a Primary Key\.?/, "")} />}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <p className="px-4 py-3 font-mono text-xs text-zinc-400">{op.body.plain}</p>
          )}
        </Section>
      )}

      {op.responses.length > 0 && (
        <Section title="Responses">
          <ul className="divide-y divide-zinc-800/70">
            {op.responses.map((r) => (
              <li key={r.code} className="flex gap-3 px-4 py-2">
                <span
                  className={cx(
                    "w-14 shrink-0 font-mono text-xs font-medium",
                    r.code.startsWith("2") ? "text-emerald-300" : r.code.startsWith("3") ? "text-sky-300" : r.code === "default" ? "text-zinc-400" : "text-red-300",
                  )}
                >
                  {r.code}
                </span>
                <div className="min-w-0 flex-1 text-xs text-zinc-400">
                  <Md text={r.description} />
                  {r.headers.length > 0 && <p className="mt-0.5 text-[11px] text-zinc-400">Headers: {r.headers.join(", ")}</p>}
                </div>
              </li>
            ))}
          </ul>
        </Section>
      )}
    </>
  );
}

function ResponseView({ resp, busy }: { resp?: Resp; busy: boolean }) {
  const [tab, setTab] = useState<"body" | "headers">("body");
  if (!resp && !busy) return null;
  const range = resp?.headers?.find(([k]) => k.toLowerCase() === "content-range")?.[1];
  const ok = resp?.status !== undefined && resp.status < 400;
  return (
    <div className="border-t border-zinc-800">
      <div className="flex flex-wrap items-center gap-2 px-4 py-2 text-xs text-zinc-400">
        <span className="font-medium text-zinc-300">Response</span>
        {busy && <Spinner label="Sending" />}
        {resp?.status !== undefined && (
          <>
            <Badge tone={ok ? "green" : "red"}>
              {resp.status} {resp.statusText}
            </Badge>
            <span className="tabular-nums">{fmtMs(resp.ms)}</span>
            <span className="tabular-nums">· {fmtBytes(resp.size)}</span>
            {resp.role && <span className="hidden sm:inline">· as {resp.role}</span>}
            {range && (
              <span className="rounded bg-zinc-800 px-1.5 py-0.5 font-mono text-[11px] text-zinc-200" title="Content-Range">
                Content-Range: {range}
              </span>
            )}
          </>
        )}
        {resp?.headers && (
          <div role="tablist" aria-label="Response parts" className="ml-auto flex items-center gap-1">
            {(["body", "headers"] as const).map((k) => (
              <TabButton key={k} selected={tab === k} onSelect={() => setTab(k)} className="px-2 py-0.5 capitalize">
                {k === "headers" ? `Headers (${resp.headers!.length})` : "Body"}
              </TabButton>
            ))}
            {tab === "body" && resp.body !== undefined && <CopyButton text={() => prettyJson(resp.body)} label="Copy response" iconOnly />}
          </div>
        )}
      </div>
      {!!resp?.error && (
        <div className="px-4 pb-4">
          <ErrorBox error={resp.error} />
        </div>
      )}
      {resp?.headers && tab === "body" && (
        <div className="border-t border-zinc-800 bg-zinc-950/60">
          {resp.body === undefined ? (
            <p className="px-4 py-3 text-xs text-zinc-400">No body{resp.status === 204 ? " (204 No Content: ask for rows with Prefer: return=representation)" : ""}.</p>
          ) : (
            <JsonView value={resp.body} label="Response body" className="max-h-[28rem]" />
          )}
        </div>
      )}
      {resp?.headers && tab === "headers" && (
        <div className="overflow-x-auto border-t border-zinc-800 bg-zinc-950/60">
          <table className="w-full text-left font-mono text-xs" aria-label="Response headers">
            <tbody className="divide-y divide-zinc-800/60">
              {resp.headers.map(([k, v]) => (
                <tr key={k} className={cx(/^(content-range|preference-applied|location)$/i.test(k) && "bg-emerald-500/5")}>
                  <th scope="row" className="whitespace-nowrap px-4 py-1.5 font-medium text-zinc-400">
                    {k}
                  </th>
                  <td className="break-all px-4 py-1.5 text-zinc-200">{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function Snippets({ tenant, req, token, role }: { tenant: string; req: Req; token: string | null; role?: string }) {
  const [kind, setKind] = useState<"curl" | "js">("curl");
  const [reveal, setReveal] = useState(false);
  const origin = window.location.origin;
  const text = useMemo(
    () => (kind === "curl" ? curlSnippet(origin, tenant, req, reveal ? token : null) : supabaseSnippet(origin, tenant, req, reveal ? token : null)),
    [kind, origin, tenant, req, reveal, token],
  );
  return (
    <Section
      title={
        <div role="tablist" aria-label="Snippet language" className="flex items-center gap-1">
          {(
            [
              ["curl", "curl"],
              ["js", "supabase-js"],
            ] as const
          ).map(([k, label]) => (
            <TabButton key={k} selected={kind === k} onSelect={() => setKind(k)} className="px-2 py-0.5 text-xs">
              {label}
            </TabButton>
          ))}
        </div>
      }
      actions={
        <>
          <label className="flex items-center gap-1.5 text-xs text-zinc-400">
            <input type="checkbox" checked={reveal} onChange={(e) => setReveal(e.target.checked)} disabled={!token} className="accent-emerald-500" />
            Include the key
          </label>
          <CopyButton text={text} label={kind === "curl" ? "Copy curl" : "Copy supabase-js"} />
        </>
      }
    >
      <pre
        role="region"
        aria-label={kind === "curl" ? "curl command" : "supabase-js snippet"}
        tabIndex={0}
        className="overflow-x-auto px-4 py-3 font-mono text-[12px] leading-5 text-zinc-300 focus-visible:outline-offset-[-2px]"
      >
        {text}
      </pre>
      {!reveal && (
        <p className="border-t border-zinc-800 px-4 py-2 text-[11px] text-zinc-400">
          KAPOK_KEY stands for the {role ?? "chosen"} key or token: set it in your shell or environment, or tick “Include the key”.
        </p>
      )}
    </Section>
  );
}
