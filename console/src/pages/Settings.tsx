// A tenant's settings: what it is, its keys and URLs, its limits and allowed networks, and
// deleting it. Changes need the admin key; a tenant session sees the facts and keys only.
import { useEffect, useState, type ReactNode } from "react";
import { Check, Copy, Eye, EyeOff, KeyRound, Lock, RefreshCw, Trash2 } from "lucide-react";
import { ApiError, activeSession, api, forgetKeys, type Keys, type TenantInfo } from "../api";
import { navigate } from "../router";
import { Badge, Button, Card, ErrorBox, Field, Input, Modal, PageHeader, Spinner, Textarea, copyText, cx, toast, useAsync } from "../components/ui";

export function SettingsPage({ tenant }: { tenant: string }) {
  const info = useAsync(() => api.tenant(tenant), [tenant]);
  const [t, setT] = useState<TenantInfo | null>(null);
  useEffect(() => {
    if (info.data) setT(info.data);
  }, [info.data]);
  const isAdmin = activeSession()?.kind === "admin";
  const editable = isAdmin && t?.source !== "config";

  return (
    <div className="max-w-5xl space-y-5 p-4 md:p-6">
      <PageHeader title="Settings">
        <p className="text-sm text-zinc-400">
          How <span className="font-medium text-zinc-200">{tenant}</span> is set up: its keys, endpoints, limits and allowed networks.
        </p>
      </PageHeader>

      {info.error != null && !t && (
        <div className="space-y-2">
          <ErrorBox error={info.error} />
          <Button size="sm" onClick={info.reload}>
            Retry
          </Button>
        </div>
      )}
      {!t && info.loading && <Spinner label="Loading the tenant" />}

      {t && (
        <>
          <Facts t={t} />
          <Urls tenant={tenant} />
          <ApiKeys tenant={tenant} canRotate={editable} />
          {isAdmin && t.source === "config" && (
            <div className="flex gap-2.5 rounded-xl border border-zinc-800 bg-zinc-900/60 px-4 py-3 text-sm text-zinc-400">
              <Lock className="mt-0.5 size-4 shrink-0 text-zinc-500" aria-hidden />
              <p>
                This tenant is defined in Kapok's configuration file. Rotate its JWT secret, change its limits and allowed networks, or remove it, in the file (
                <code className="font-mono text-xs text-zinc-300">tenants:</code> in kapok.yaml); the console can only change tenants created through the admin API.
              </p>
            </div>
          )}
          {!isAdmin && (
            <div className="flex gap-2.5 rounded-xl border border-zinc-800 bg-zinc-900/60 px-4 py-3 text-sm text-zinc-400">
              <Lock className="mt-0.5 size-4 shrink-0 text-zinc-500" aria-hidden />
              <p>Signed in with this tenant's key: rotating keys, changing limits and allowed networks, and deleting the tenant need the admin key.</p>
            </div>
          )}
          {editable && (
            <>
              <LimitsEditor t={t} onSaved={setT} />
              <CidrsEditor t={t} onSaved={setT} />
              <DangerZone tenant={tenant} />
            </>
          )}
        </>
      )}
    </div>
  );
}

// ---- facts ----

function fmtDate(s?: string) {
  if (!s) return "–";
  const d = new Date(s);
  return isNaN(d.getTime()) ? s : d.toLocaleString();
}

function Facts({ t }: { t: TenantInfo }) {
  const rows: [string, ReactNode][] = [
    ["Name", <span className="font-mono">{t.name}</span>],
    [
      "Status",
      t.ready ? (
        <Badge tone="green">ready</Badge>
      ) : t.load_error ? (
        <span className="flex flex-col items-start gap-1">
          <Badge tone="red">load error</Badge>
          <span className="text-xs text-red-300">{t.load_error}</span>
        </span>
      ) : (
        <Badge tone="amber">loading</Badge>
      ),
    ],
    ["Mode", <span>{t.mode === "database" ? "Database per tenant" : "Schema in a shared database"}</span>],
    ["Defined in", <span>{t.source === "config" ? "configuration file" : "control plane (admin API)"}</span>],
    ["Upstream", <span className="break-all font-mono text-xs">{t.upstream || "–"}</span>],
    ["Database", <span className="font-mono">{t.database || "–"}</span>],
    ["Schemas", t.schemas?.length ? <span className="flex flex-wrap gap-1">{t.schemas.map((s) => <Badge key={s}>{s}</Badge>)}</span> : "–"],
    ["Template", <span className="font-mono">{t.template || "–"}</span>],
    ["Schema version", <span className="break-all font-mono text-xs">{t.schema_version || "–"}</span>],
    ["Created", fmtDate(t.created_at)],
    ["Updated", fmtDate(t.updated_at)],
  ];
  return (
    <Card title="Tenant">
      <dl className="grid grid-cols-2 gap-x-6 gap-y-3 xl:grid-cols-3">
        {rows.map(([k, v]) => (
          <div key={k} className={cx("min-w-0", k === "Schema version" && "col-span-2 xl:col-span-1")}>
            <dt className="text-xs text-zinc-400">{k}</dt>
            <dd className="mt-0.5 text-sm text-zinc-200">{v}</dd>
          </div>
        ))}
      </dl>
    </Card>
  );
}

// ---- copy ----

function CopyButton({ text, what }: { text: string; what: string }) {
  const [done, setDone] = useState(false);
  return (
    <Button
      variant="ghost"
      size="sm"
      aria-label={`Copy ${what}`}
      title={`Copy ${what}`}
      onClick={async () => {
        await copyText(text, `${what} copied`);
        setDone(true);
        setTimeout(() => setDone(false), 1500);
      }}
    >
      {done ? <Check className="size-3.5 text-emerald-400" aria-hidden /> : <Copy className="size-3.5" aria-hidden />}
    </Button>
  );
}

function ValueRow({ label, value, hint, children }: { label: string; value: ReactNode; hint?: ReactNode; children?: ReactNode }) {
  return (
    <div className="grid gap-1 py-2.5 sm:grid-cols-[10rem_1fr] sm:items-center sm:gap-4">
      <div>
        <p className="text-sm text-zinc-300">{label}</p>
        {hint && <p className="text-xs text-zinc-400">{hint}</p>}
      </div>
      <div className="flex min-w-0 items-center gap-1 rounded-md border border-zinc-800 bg-zinc-950 py-0.5 pl-3 pr-1">
        <div className="min-w-0 flex-1 truncate font-mono text-xs text-zinc-200">{value}</div>
        {children}
      </div>
    </div>
  );
}

// ---- URLs ----

function Urls({ tenant }: { tenant: string }) {
  const origin = window.location.origin;
  const ws = origin.replace(/^http/, "ws");
  const base = `${origin}/t/${encodeURIComponent(tenant)}`;
  const wsBase = `${ws}/t/${encodeURIComponent(tenant)}`;
  const urls: [string, string, string][] = [
    ["Project URL", base, "for supabase-js"],
    ["REST", `${base}/rest/v1`, "PostgREST-compatible"],
    ["GraphQL", `${base}/v1/graphql`, "Hasura-compatible, POST"],
    ["GraphQL subscriptions", `${wsBase}/v1/graphql`, "WebSocket, graphql-ws"],
    ["Realtime", `${wsBase}/realtime/v1/websocket`, "Supabase Realtime"],
  ];
  return (
    <Card title="Endpoints">
      <div className="-my-2.5 divide-y divide-zinc-800/70">
        {urls.map(([label, url, hint]) => (
          <ValueRow key={label} label={label} hint={hint} value={<span title={url}>{url}</span>}>
            <CopyButton text={url} what={`${label} URL`} />
          </ValueRow>
        ))}
      </div>
    </Card>
  );
}

// ---- keys ----

function mask(k: string) {
  return k.length <= 12 ? "•".repeat(k.length) : `${k.slice(0, 6)}${"•".repeat(18)}${k.slice(-4)}`;
}

function KeyRow({ label, hint, value }: { label: string; hint: string; value: string }) {
  const [shown, setShown] = useState(false);
  return (
    <ValueRow label={label} hint={hint} value={<span className={cx(shown && "whitespace-normal break-all")}>{shown ? value : mask(value)}</span>}>
      <Button variant="ghost" size="sm" aria-label={`${shown ? "Hide" : "Reveal"} ${label} key`} title={shown ? "Hide" : "Reveal"} aria-pressed={shown} onClick={() => setShown(!shown)}>
        {shown ? <EyeOff className="size-3.5" aria-hidden /> : <Eye className="size-3.5" aria-hidden />}
      </Button>
      <CopyButton text={value} what={`${label} key`} />
    </ValueRow>
  );
}

function ApiKeys({ tenant, canRotate }: { tenant: string; canRotate: boolean }) {
  const keys = useAsync(() => api.keys(tenant), [tenant]);
  const [rotated, setRotated] = useState<Keys | null>(null);
  const [confirm, setConfirm] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const k = rotated ?? keys.data;

  const rotate = async () => {
    setBusy(true);
    setError(null);
    try {
      const nk = await api.rotateKeys(tenant);
      forgetKeys(tenant);
      setRotated(nk);
      setConfirm(false);
      toast("Keys rotated: the new keys are shown below");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card
      title="API keys"
      actions={
        canRotate && (
          <Button size="sm" onClick={() => setConfirm(true)} disabled={!k}>
            <RefreshCw className="size-3.5" aria-hidden />
            Rotate keys
          </Button>
        )
      }
    >
      {keys.error != null && !k && (keys.error instanceof ApiError && keys.error.code === "no-jwt-secret" ? (
        <div className="flex gap-2.5 text-sm text-zinc-400">
          <KeyRound className="mt-0.5 size-4 shrink-0 text-zinc-500" aria-hidden />
          <div>
            <p className="text-zinc-300">This tenant has no API keys.</p>
            <p className="mt-0.5 text-zinc-400">{keys.error.message}.</p>
          </div>
        </div>
      ) : (
        <ErrorBox error={keys.error} />
      ))}
      {!k && keys.loading && <Spinner label="Loading the keys" />}
      {k && (
        <div className="-my-2.5 divide-y divide-zinc-800/70">
          <KeyRow key={`anon-${k.anon_key}`} label="anon" hint="Public: safe in a browser, row-level security applies" value={k.anon_key} />
          <KeyRow key={`sr-${k.service_role_key}`} label="service_role" hint="Secret: bypasses row-level security" value={k.service_role_key} />
        </div>
      )}
      {rotated && <p className="mt-3 text-xs text-emerald-300">New keys issued. Update every client that used the old ones.</p>}
      <Modal
        open={confirm}
        onOpenChange={(o) => {
          setConfirm(o);
          if (!o) setError(null);
        }}
        title="Rotate the API keys?"
        description={
          <>
            A new JWT secret is made for <span className="font-medium text-zinc-200">{tenant}</span>. Every token issued so far stops working at once: the
            anon and service_role keys, and the sessions of signed-in users. Clients must be updated with the new keys.
          </>
        }
      >
        <div className="space-y-4">
          <ErrorBox error={error} />
          <div className="flex justify-end gap-2">
            <Button variant="ghost" onClick={() => setConfirm(false)}>
              Cancel
            </Button>
            <Button variant="danger" busy={busy} onClick={rotate}>
              Rotate keys
            </Button>
          </div>
        </div>
      </Modal>
    </Card>
  );
}

// ---- limits ----

const limitKeys =
  "max_body_bytes, max_query_length, max_depth, max_root_fields, max_limit, max_fields, max_cost, statement_timeout, request_timeout, rate_limit, rate_burst, max_subscriptions, max_subscriptions_per_connection, subscription_interval, subscription_poll, max_wire_connections, realtime_max_channels, realtime_max_joins_per_second, realtime_max_messages_per_second";

function LimitsEditor({ t, onSaved }: { t: TenantInfo; onSaved: (t: TenantInfo) => void }) {
  const initial = JSON.stringify(t.limits ?? {}, null, 2);
  const [text, setText] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => setText(initial), [initial]);

  let parsed: unknown = null;
  let parseError: string | null = null;
  try {
    parsed = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) parseError = "The limits must be a JSON object.";
  } catch (e) {
    parseError = (e as Error).message;
  }
  const dirty = text !== initial;

  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      const nt = await api.patchTenant(t.name, { limits: parsed });
      onSaved(nt);
      toast("Limits saved");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title="Limits">
      <div className="space-y-3">
        <Field
          id="limits-json"
          label="Limits (JSON)"
          hint={
            <>
              Keys: <span className="font-mono">{limitKeys}</span>. Durations are strings such as <span className="font-mono">"5s"</span>; a key left out takes the server's default.
            </>
          }
        >
          <Textarea
            id="limits-json"
            value={text}
            onChange={(e) => setText(e.target.value)}
            rows={Math.min(16, Math.max(5, text.split("\n").length + 1))}
            spellCheck={false}
            aria-invalid={parseError != null}
            aria-describedby={parseError ? "limits-json-error" : undefined}
            className="aria-[invalid=true]:border-red-500/60 aria-[invalid=true]:focus:border-red-500 aria-[invalid=true]:focus:ring-red-500"
          />
        </Field>
        {parseError && (
          <p id="limits-json-error" className="text-xs text-red-300">
            Invalid JSON: {parseError}
          </p>
        )}
        <ErrorBox error={error} />
        <div className="flex justify-end gap-2">
          <Button variant="ghost" disabled={!dirty || busy} onClick={() => setText(initial)}>
            Reset
          </Button>
          <Button variant="primary" disabled={!dirty || parseError != null} busy={busy} onClick={save}>
            Save limits
          </Button>
        </div>
      </div>
    </Card>
  );
}

// ---- allowed networks ----

const cidrRE = /^(\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9a-fA-F:]*:[0-9a-fA-F:.]*(\/\d{1,3})?)$/;

function CidrsEditor({ t, onSaved }: { t: TenantInfo; onSaved: (t: TenantInfo) => void }) {
  const initial = (t.allow_cidrs ?? []).join("\n");
  const [text, setText] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => setText(initial), [initial]);

  const list = text
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((c) => !cidrRE.test(c));
  const dirty = list.join("\n") !== (t.allow_cidrs ?? []).join("\n");

  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      const nt = await api.patchTenant(t.name, { allow_cidrs: list });
      onSaved(nt);
      toast(list.length ? `Allowed networks saved (${list.length})` : "Every network is allowed now");
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card title="Allowed networks">
      <div className="space-y-3">
        <Field id="allow-cidrs" label="Allowed CIDRs, one per line" hint="Clients from other addresses are refused. Leave empty to allow every address.">
          <Textarea
            id="allow-cidrs"
            value={text}
            onChange={(e) => setText(e.target.value)}
            rows={Math.min(10, Math.max(3, list.length + 1))}
            placeholder={"10.0.0.0/8\n192.168.1.20/32"}
            spellCheck={false}
            aria-invalid={bad.length > 0}
          />
        </Field>
        {bad.length > 0 && <p className="text-xs text-amber-300">Not a CIDR: {bad.join(", ")}</p>}
        <ErrorBox error={error} />
        <div className="flex justify-end gap-2">
          <Button variant="ghost" disabled={!dirty || busy} onClick={() => setText(initial)}>
            Reset
          </Button>
          <Button variant="primary" disabled={!dirty || bad.length > 0} busy={busy} onClick={save}>
            Save networks
          </Button>
        </div>
      </div>
    </Card>
  );
}

// ---- delete ----

function DangerZone({ tenant }: { tenant: string }) {
  const [open, setOpen] = useState(false);
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const del = async (e: React.FormEvent) => {
    e.preventDefault();
    if (typed !== tenant) return;
    setBusy(true);
    setError(null);
    try {
      await api.deleteTenant(tenant);
      forgetKeys(tenant);
      toast(`Tenant ${tenant} deleted`);
      setOpen(false);
      navigate("/tenants");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="rounded-xl border border-red-500/30 bg-red-500/[0.03]">
      <header className="border-b border-red-500/20 px-4 py-3">
        <h2 className="text-sm font-semibold text-red-300">Danger zone</h2>
      </header>
      <div className="flex flex-wrap items-center justify-between gap-3 p-4">
        <div className="min-w-0">
          <p className="text-sm text-zinc-200">Delete this tenant</p>
          <p className="text-sm text-zinc-400">Its schema or database, its data, users and migrations are dropped. This cannot be undone.</p>
        </div>
        <Button
          variant="danger"
          onClick={() => {
            setTyped("");
            setError(null);
            setOpen(true);
          }}
        >
          <Trash2 className="size-3.5" aria-hidden />
          Delete tenant
        </Button>
      </div>
      <Modal
        open={open}
        onOpenChange={setOpen}
        title={`Delete ${tenant}?`}
        description={
          <>
            Every table, row, user and key of <span className="font-medium text-zinc-200">{tenant}</span> is dropped for good.
          </>
        }
      >
        <form onSubmit={del} className="space-y-4">
          <Field id="delete-confirm" label={`Type ${tenant} to confirm`}>
            <Input id="delete-confirm" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" spellCheck={false} autoFocus />
          </Field>
          <ErrorBox error={error} />
          <div className="flex justify-end gap-2">
            <Button type="button" variant="ghost" onClick={() => setOpen(false)}>
              Cancel
            </Button>
            <Button type="submit" variant="danger" disabled={typed !== tenant} busy={busy}>
              Delete tenant
            </Button>
          </div>
        </form>
      </Modal>
    </section>
  );
}
