// Migrations: the tenant's migration log, a form to preview (dry run) and apply a new one,
// and rollbacks through the recorded down scripts.
import { ArrowRight, ChevronRight, GitBranch, RefreshCw, RotateCcw, Undo2, X } from "lucide-react";
import { useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { ApiError, api, type MigrationRecord, type MigrationResult, type SchemaDiff } from "../api";
import { CodeEditor } from "../components/editor";
import { Badge, Button, Card, ErrorBox, Field, Input, Modal, PageHeader, Spinner, cx, fmtMs, toast, useAsync } from "../components/ui";

export function MigrationsPage({ tenant }: { tenant: string }) {
  const { data, error, loading, reload } = useAsync(() => api.migrations(tenant), [tenant]);
  const [confirm, setConfirm] = useState<{ to?: number; targets: MigrationRecord[] } | null>(null);
  const [last, setLast] = useState<{ title: string; res: MigrationResult } | null>(null);

  const list = useMemo(() => [...(data ?? [])].sort((a, b) => b.id - a.id), [data]);
  const applied = useMemo(() => list.filter(isLive), [list]);
  const latest = applied[0];

  const askRollback = (to?: number) => {
    const targets = to === undefined ? (latest ? [latest] : []) : applied.filter((m) => m.id > to);
    if (targets.length) setConfirm({ to, targets });
  };

  const nextName = `${String((data?.length ?? 0) + 1).padStart(4, "0")}_`;

  return (
    <div className="flex flex-col gap-5 p-4 md:p-6">
      <PageHeader
        title="Migrations"
        actions={
          <div className="flex flex-wrap items-center gap-2">
            <Button variant="ghost" onClick={reload} aria-label="Reload history" title="Reload history">
              <RefreshCw className={cx("size-4", loading && data && "animate-spin")} aria-hidden />
            </Button>
            <Button
              onClick={() => askRollback()}
              disabled={!latest}
              title={latest ? `Roll back #${latest.id} ${latest.name}` : "No applied migration to roll back"}
            >
              <Undo2 className="size-4" aria-hidden />
              Roll back latest
            </Button>
          </div>
        }
      >
        <p className="text-sm text-zinc-400">
          Versioned schema changes for <span className="font-mono text-zinc-300">{tenant}</span>: preview a change as a dry run, apply
          it, roll it back with its down script.
        </p>
      </PageHeader>

      {last && <ResultPanel title={last.title} res={last.res} onClose={() => setLast(null)} />}

      <div className="grid items-start gap-5 xl:grid-cols-[minmax(0,1.1fr)_minmax(0,1fr)]">
        <Card
          title={
            <span className="flex items-center gap-2">
              History
              {data && <span className="font-normal text-zinc-400">{data.length}</span>}
            </span>
          }
          className="min-w-0 [&>div]:p-0"
        >
          {error ? (
            <div className="space-y-2 p-4">
              <ErrorBox error={error} />
              <Button size="sm" onClick={reload}>
                Retry
              </Button>
            </div>
          ) : !data ? (
            <div className="p-4">
              <Spinner />
            </div>
          ) : list.length === 0 ? (
            <div className="flex flex-col items-center gap-1 px-6 py-12 text-center">
              <GitBranch className="mb-1 size-5 text-zinc-600" aria-hidden />
              <p className="text-sm font-medium text-zinc-300">No migrations yet</p>
              <p className="text-sm text-zinc-400">Write one in New migration: preview it, then apply it.</p>
            </div>
          ) : (
            <ul aria-label="Migration history" className="divide-y divide-zinc-800/80">
              {list.map((m) => (
                <HistoryRow
                  key={m.id}
                  m={m}
                  isLatest={m === latest}
                  canRollBackTo={isLive(m) && applied.some((x) => x.id > m.id)}
                  onRollBackTo={() => askRollback(m.id)}
                />
              ))}
            </ul>
          )}
        </Card>

        <NewMigration
          tenant={tenant}
          placeholder={`${nextName}add_priority`}
          onApplied={(res) => {
            setLast({ title: `Applied #${res.id ?? ""} ${res.name ?? ""}`.trim(), res });
            reload();
          }}
        />
      </div>

      <RollbackDialog
        tenant={tenant}
        confirm={confirm}
        onClose={() => setConfirm(null)}
        onDone={(res, done) => {
          setConfirm(null);
          const what = done.length === 1 ? `#${done[0].id} ${done[0].name}` : `${done.length} migrations`;
          setLast({ title: `Rolled back ${what}`, res });
          toast(`Rolled back ${what}`);
          reload();
        }}
      />
    </div>
  );
}

const isLive = (m: MigrationRecord) => m.outcome === "applied" && !m.rolled_back_at;

// ---- history ----

function HistoryRow({
  m,
  isLatest,
  canRollBackTo,
  onRollBackTo,
}: {
  m: MigrationRecord;
  isLatest: boolean;
  canRollBackTo: boolean;
  onRollBackTo: () => void;
}) {
  const [open, setOpen] = useState(false);
  const panelId = `migration-${m.id}`;
  return (
    <li className={cx(open && "bg-zinc-950/40")}>
      <div className="flex flex-wrap items-start gap-x-3 gap-y-1.5 px-4 py-3 sm:flex-nowrap">
        <button
          type="button"
          aria-expanded={open}
          aria-controls={panelId}
          onClick={() => setOpen(!open)}
          className="-m-1 flex min-w-0 flex-[1_1_100%] items-start gap-2 rounded-md p-1 text-left hover:bg-zinc-800/40 sm:flex-1"
        >
          <ChevronRight className={cx("mt-0.5 size-4 shrink-0 text-zinc-500 transition-transform", open && "rotate-90")} aria-hidden />
          <span className="min-w-0 flex-1">
            <span className="flex flex-wrap items-center gap-x-2 gap-y-1">
              <span className="font-mono text-xs text-zinc-400">#{m.id}</span>
              <span className={cx("break-all font-mono text-sm", m.rolled_back_at || m.outcome !== "applied" ? "text-zinc-400" : "text-zinc-100")}>
                {m.name}
              </span>
              <OutcomeBadge outcome={m.outcome} muted={!!m.rolled_back_at} />
              {m.rolled_back_at && (
                <span title={`Rolled back ${new Date(m.rolled_back_at).toLocaleString()}`}>
                  <Badge tone="amber">rolled back</Badge>
                </span>
              )}
              {isLatest && <Badge tone="blue">latest</Badge>}
            </span>
            <span className="mt-1 flex flex-wrap items-center gap-x-2 text-xs text-zinc-400">
              <time dateTime={m.applied_at} title={new Date(m.applied_at).toLocaleString()}>
                {relTime(m.applied_at)}
              </time>
              {m.applied_by && (
                <>
                  <span aria-hidden>·</span>
                  <span>by {m.applied_by}</span>
                </>
              )}
              <span aria-hidden>·</span>
              <span>{fmtMs(m.duration_ms)}</span>
              {!m.down && m.outcome === "applied" && (
                <>
                  <span aria-hidden>·</span>
                  <span className="text-zinc-400">no down script</span>
                </>
              )}
            </span>
          </span>
        </button>
        {canRollBackTo && (
          <Button size="sm" variant="ghost" onClick={onRollBackTo} className="ml-6 sm:ml-0" title="Roll back every migration applied after this one">
            <RotateCcw className="size-3.5" aria-hidden />
            Roll back to here
          </Button>
        )}
      </div>
      {open && (
        <div id={panelId} className="space-y-3 px-4 pb-4 sm:pl-10">
          {m.error && <ErrorBox error={new Error(m.error)} />}
          <SqlBlock label="Up" value={m.up} />
          {m.down ? (
            <SqlBlock label="Down" value={m.down} />
          ) : (
            <p className="text-xs text-zinc-400">No down script: this migration cannot be rolled back.</p>
          )}
          <p className="break-all font-mono text-[11px] text-zinc-400">checksum {m.checksum}</p>
        </div>
      )}
    </li>
  );
}

function OutcomeBadge({ outcome, muted }: { outcome: string; muted?: boolean }) {
  const tone = muted ? "zinc" : outcome === "applied" ? "green" : outcome === "failed" ? "red" : "zinc";
  return <Badge tone={tone}>{outcome}</Badge>;
}

function SqlBlock({ label, value, errorPosition }: { label: string; value: string; errorPosition?: number }) {
  return (
    <div className="space-y-1">
      <p className="text-[11px] font-medium uppercase tracking-wider text-zinc-400">{label}</p>
      <CodeEditor value={value} readOnly language="sql" ariaLabel={`${label} SQL (read-only)`} minRows={1} maxRows={12} errorPosition={errorPosition} />
    </div>
  );
}

// ---- new migration ----

function NewMigration({ tenant, placeholder, onApplied }: { tenant: string; placeholder: string; onApplied: (r: MigrationResult) => void }) {
  const [name, setName] = useState("");
  const [up, setUp] = useState("");
  const [down, setDown] = useState("");
  const [busy, setBusy] = useState<"preview" | "apply" | null>(null);
  const [preview, setPreview] = useState<{ key: string; res: MigrationResult } | null>(null);
  const [error, setError] = useState<{ key: string; err: unknown } | null>(null);
  const nameRef = useRef<HTMLInputElement>(null);

  const key = JSON.stringify([name.trim(), up, down]);
  const previewed = preview?.key === key;
  const errPos = error?.key === key && error.err instanceof ApiError ? positionOf(error.err) : undefined;

  const run = async (dry: boolean) => {
    if (!name.trim() || !up.trim()) {
      setError({ key, err: new Error(!name.trim() ? "Give the migration a name." : "Write the up SQL.") });
      if (!name.trim()) nameRef.current?.focus();
      return;
    }
    setBusy(dry ? "preview" : "apply");
    setError(null);
    try {
      const res = await api.migrate(tenant, { name: name.trim(), up, down: down.trim() ? down : undefined, dry_run: dry });
      if (dry) setPreview({ key, res });
      else {
        toast(`Applied ${res.name ?? name.trim()}`);
        setName("");
        setUp("");
        setDown("");
        setPreview(null);
        onApplied(res);
      }
    } catch (e) {
      setError({ key, err: e });
      if (dry) setPreview(null);
    } finally {
      setBusy(null);
    }
  };

  const dirty = !!(name || up || down);

  return (
    <Card
      title="New migration"
      className="min-w-0"
      actions={
        dirty ? (
          <Button
            size="sm"
            variant="ghost"
            onClick={() => {
              setName("");
              setUp("");
              setDown("");
              setPreview(null);
              setError(null);
            }}
          >
            Clear
          </Button>
        ) : undefined
      }
    >
      <form
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          run(true);
        }}
      >
        <Field id="mig-name" label="Name" hint="Shown in the history; a number first keeps them in order.">
          <Input
            ref={nameRef}
            id="mig-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder={placeholder}
            autoComplete="off"
            spellCheck={false}
            className="font-mono text-[13px]"
          />
        </Field>
        <Field id="mig-up" label="Up SQL" hint="Runs in one transaction: all of it applies, or none. Ctrl+Enter previews.">
          <CodeEditor
            id="mig-up"
            value={up}
            onChange={setUp}
            onRun={() => run(true)}
            ariaLabel="Up SQL"
            language="sql"
            minRows={7}
            maxRows={20}
            errorPosition={errPos}
            placeholder={"alter table tickets\n  add column priority int not null default 3;"}
          />
        </Field>
        <Field
          id="mig-down"
          label="Down SQL"
          hint="Optional, but without it this migration cannot be rolled back. The preview does not run it."
        >
          <CodeEditor
            id="mig-down"
            value={down}
            onChange={setDown}
            onRun={() => run(true)}
            ariaLabel="Down SQL"
            language="sql"
            minRows={3}
            maxRows={12}
            placeholder="alter table tickets drop column priority;"
          />
        </Field>

        {error && error.key === key && <ErrorBox error={error.err} />}
        {error && error.key === key && error.err instanceof ApiError && positionLine(error.err) && (
          <p className="-mt-2 px-1 text-xs text-zinc-400">{positionLine(error.err)}</p>
        )}

        {preview && previewed && (
          <div className="space-y-2 rounded-lg border border-zinc-800 bg-zinc-950/60 p-3">
            <div className="flex flex-wrap items-center justify-between gap-2">
              <p className="text-xs font-medium uppercase tracking-wider text-zinc-400">Preview · dry run</p>
              <span className="text-xs text-zinc-400">{fmtMs(preview.res.duration_ms)}</span>
            </div>
            <VersionLine before={preview.res.version_before} after={preview.res.version_after} />
            <DiffView diff={preview.res.diff} />
          </div>
        )}
        {preview && !previewed && (
          <p className="text-xs text-amber-300/90">The text changed since the preview: preview it again before applying.</p>
        )}

        <div className="flex flex-wrap items-center justify-end gap-2">
          {!previewed && <span className="mr-auto text-xs text-zinc-400">Apply unlocks after a successful preview of this text.</span>}
          <Button type="submit" busy={busy === "preview"} disabled={busy !== null}>
            Preview
          </Button>
          <Button type="button" variant="primary" busy={busy === "apply"} disabled={!previewed || busy !== null} onClick={() => run(false)}>
            Apply
          </Button>
        </div>
      </form>
    </Card>
  );
}

// ---- rollback ----

function RollbackDialog({
  tenant,
  confirm,
  onClose,
  onDone,
}: {
  tenant: string;
  confirm: { to?: number; targets: MigrationRecord[] } | null;
  onClose: () => void;
  onDone: (res: MigrationResult, done: MigrationRecord[]) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => setError(null), [confirm]);
  const targets = confirm?.targets ?? [];
  const missing = targets.filter((t) => !t.down?.trim());
  // The failing migration: the error names it as "141 (0005_name) down".
  const failedRef = error instanceof ApiError ? (error.body as { migration?: string } | null)?.migration : undefined;
  const failedId = failedRef ? parseInt(failedRef, 10) : NaN;
  const failed = targets.find((t) => t.id === failedId);
  const pos = error instanceof ApiError ? positionOf(error) : undefined;

  const go = async () => {
    if (!confirm) return;
    setBusy(true);
    setError(null);
    try {
      const res = await api.rollback(tenant, confirm.to);
      const ids = res.rolled_back ?? targets.map((t) => t.id);
      onDone(res, targets.filter((t) => ids.includes(t.id)));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const n = targets.length;
  return (
    <Modal
      open={!!confirm}
      onOpenChange={(o) => {
        if (!o && !busy) {
          setError(null);
          onClose();
        }
      }}
      title={n === 1 ? `Roll back ${targets[0].name}?` : `Roll back ${n} migrations?`}
      description={
        confirm?.to !== undefined
          ? `Every migration applied after #${confirm.to} is undone, newest first, in one transaction.`
          : "Its down script runs in one transaction; the migration stays in the history, marked rolled back."
      }
      wide
    >
      <div className="space-y-4">
        <ol className="space-y-3">
          {targets.map((t) => (
            <li key={t.id} className="space-y-1.5">
              <p className="flex flex-wrap items-center gap-2 text-sm">
                <span className="font-mono text-xs text-zinc-400">#{t.id}</span>
                <span className="font-mono text-zinc-200">{t.name}</span>
              </p>
              {t.down?.trim() ? (
                <CodeEditor
                  value={t.down}
                  readOnly
                  language="sql"
                  ariaLabel={`Down SQL of ${t.name} (read-only)`}
                  minRows={1}
                  maxRows={10}
                  errorPosition={failed?.id === t.id ? pos : undefined}
                />
              ) : (
                <p className="rounded-md border border-red-500/30 bg-red-500/10 px-3 py-2 text-xs text-red-200">
                  No down script: this migration cannot be rolled back, so nothing can be rolled back past it.
                </p>
              )}
            </li>
          ))}
        </ol>
        <ErrorBox error={error} />
        {error instanceof ApiError && (failed || positionLine(error)) ? (
          <p className="-mt-2 px-1 text-xs text-zinc-400">
            {[failed && `In the down script of #${failed.id} ${failed.name}`, positionLine(error)].filter(Boolean).join(" · ")}
          </p>
        ) : null}
        <div className="flex justify-end gap-2">
          <Button variant="ghost" onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button variant="danger" onClick={go} busy={busy} disabled={missing.length > 0}>
            Roll back
          </Button>
        </div>
      </div>
    </Modal>
  );
}

// ---- results and diffs ----

function ResultPanel({ title, res, onClose }: { title: string; res: MigrationResult; onClose: () => void }) {
  return (
    <section aria-label={title} className="rounded-xl border border-emerald-500/25 bg-emerald-500/[0.04] p-4">
      <div className="mb-2 flex items-start justify-between gap-3">
        <div>
          <h2 className="text-sm font-semibold text-zinc-100">{title}</h2>
          <p className="text-xs text-zinc-400">{fmtMs(res.duration_ms)}</p>
        </div>
        <button type="button" onClick={onClose} aria-label="Dismiss" className="rounded p-1 text-zinc-400 hover:bg-zinc-800 hover:text-zinc-100">
          <X className="size-4" aria-hidden />
        </button>
      </div>
      <div className="space-y-2">
        <VersionLine before={res.version_before} after={res.version_after} />
        <DiffView diff={res.diff} />
      </div>
    </section>
  );
}

function VersionLine({ before, after }: { before: string; after: string }) {
  const same = before === after;
  return (
    <p className="flex flex-wrap items-center gap-2 text-xs text-zinc-400">
      Schema version
      <code className="rounded bg-zinc-800 px-1.5 py-0.5 font-mono text-zinc-300" title={before}>
        {before.slice(0, 10) || "–"}
      </code>
      <ArrowRight className="size-3.5 text-zinc-500" aria-label="to" />
      <code className={cx("rounded px-1.5 py-0.5 font-mono", same ? "bg-zinc-800 text-zinc-300" : "bg-emerald-500/15 text-emerald-300")} title={after}>
        {after.slice(0, 10) || "–"}
      </code>
      {same && <span className="text-zinc-400">(unchanged)</span>}
    </p>
  );
}

type DiffLine = { sign: "+" | "-" | "~"; kind: string; text: ReactNode; key: string };

/** The schema diff of a migration or rollback: + added, - dropped, ~ changed. */
function DiffView({ diff }: { diff: SchemaDiff | null | undefined }) {
  const lines: DiffLine[] = [];
  const d = diff ?? ({} as Partial<SchemaDiff>);
  (d.tables_added ?? []).forEach((t) => lines.push({ sign: "+", kind: "table", text: t, key: "ta" + t }));
  (d.tables_dropped ?? []).forEach((t) => lines.push({ sign: "-", kind: "table", text: t, key: "td" + t }));
  (d.tables_changed ?? []).forEach((t) => lines.push({ sign: "~", kind: "table", text: t, key: "tc" + t }));
  (d.columns_added ?? []).forEach((c) =>
    lines.push({
      sign: "+",
      kind: "column",
      key: `ca${c.table}.${c.column}`,
      text: (
        <>
          {c.table}.<b className="font-medium text-zinc-100">{c.column}</b> <Type>{colType(c)}</Type>
        </>
      ),
    }),
  );
  (d.columns_dropped ?? []).forEach((c) =>
    lines.push({
      sign: "-",
      kind: "column",
      key: `cd${c.table}.${c.column}`,
      text: (
        <>
          {c.table}.<b className="font-medium text-zinc-100">{c.column}</b> <Type>{colType(c)}</Type>
        </>
      ),
    }),
  );
  (d.columns_changed ?? []).forEach((c) =>
    lines.push({
      sign: "~",
      kind: "column",
      key: `cc${c.table}.${c.column}`,
      text: (
        <>
          {c.table}.<b className="font-medium text-zinc-100">{c.column}</b>{" "}
          {c.before ? (
            <>
              <Type>{colType(c.before)}</Type> <span className="text-zinc-400">→</span> <Type>{colType(c)}</Type>
            </>
          ) : (
            <Type>{colType(c)}</Type>
          )}
        </>
      ),
    }),
  );
  (d.functions_added ?? []).forEach((f) => lines.push({ sign: "+", kind: "function", text: `${f}()`, key: "fa" + f }));
  (d.functions_dropped ?? []).forEach((f) => lines.push({ sign: "-", kind: "function", text: `${f}()`, key: "fd" + f }));

  if (lines.length === 0)
    return <p className="text-xs text-zinc-400">No change to tables, columns or functions (indexes, grants, data and the like are not shown).</p>;
  const tone = { "+": "text-emerald-400", "-": "text-red-400", "~": "text-amber-300" } as const;
  const bg = { "+": "bg-emerald-500/[0.06]", "-": "bg-red-500/[0.06]", "~": "bg-amber-500/[0.06]" } as const;
  const label = { "+": "added", "-": "dropped", "~": "changed" } as const;
  return (
    <ul aria-label="Schema changes" className="overflow-hidden rounded-md border border-zinc-800 font-mono text-xs">
      {lines.map((l) => (
        <li key={l.key} className={cx("flex items-baseline gap-2 border-b border-zinc-800/60 px-2.5 py-1 last:border-b-0", bg[l.sign])}>
          <span className={cx("w-3 shrink-0 text-center font-semibold", tone[l.sign])} aria-hidden>
            {l.sign}
          </span>
          <span className="sr-only">{label[l.sign]}</span>
          <span className="w-16 shrink-0 font-sans text-[11px] text-zinc-400">{l.kind}</span>
          <span className="min-w-0 break-all text-zinc-300">{l.text}</span>
        </li>
      ))}
    </ul>
  );
}

function Type({ children }: { children: ReactNode }) {
  return <span className="text-cyan-300/90">{children}</span>;
}

function colType(c: { type: string; nullable: boolean; default?: string }): string {
  return `${c.type}${c.nullable ? "" : " not null"}${c.default ? ` default ${c.default}` : ""}`;
}

// ---- helpers ----

function positionOf(e: ApiError): number | undefined {
  const b = e.body as { position?: unknown } | null;
  return e.code === "sql-error" && b && typeof b.position === "number" && b.position > 0 ? b.position : undefined;
}

function positionLine(e: ApiError): string | null {
  if (e.code !== "sql-error") return null;
  const b = (e.body ?? {}) as { sqlstate?: string; line?: number; column?: number; detail?: string; migration?: string };
  const parts = [
    b.sqlstate && `SQLSTATE ${b.sqlstate}`,
    b.line ? `line ${b.line}, column ${b.column ?? 1}` : null,
    b.detail || null,
  ].filter(Boolean);
  return parts.length ? parts.join(" · ") : null;
}

function relTime(at: string): string {
  const t = new Date(at).getTime();
  const s = Math.round((Date.now() - t) / 1000);
  if (!isFinite(s)) return at;
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 86400 * 30) return `${Math.round(s / 86400)} d ago`;
  return new Date(t).toLocaleDateString();
}
