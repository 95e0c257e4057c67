// The tenant's latest events (event triggers, scheduled and cron events) and their
// deliveries, for the monitoring page.
import { useCallback, useEffect, useState } from "react";
import { RefreshCw } from "lucide-react";
import { api, type EventLogEntry } from "../api";
import { Badge, Button, Card, ErrorBox, cellText, toast, useInterval } from "../components/ui";

const tones = { pending: "amber", delivered: "green", dead: "red" } as const;

function when(iso: string | null | undefined): string {
  if (!iso) return "–";
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 60) return `${Math.max(0, Math.round(s))} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function EventLog({ tenant }: { tenant: string }) {
  const [list, setList] = useState<EventLogEntry[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const load = useCallback(() => {
    api.events(tenant, 20).then(
      (l) => {
        setList(l);
        setError(null);
      },
      setError,
    );
  }, [tenant]);
  useEffect(load, [load]);
  useInterval(load, 10000);

  const redeliver = async (id: string) => {
    setBusy(id);
    try {
      await api.redeliver(tenant, id);
      toast("Event queued for delivery");
      load();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };

  return (
    <Card
      title="Event log"
      actions={
        <Button size="sm" variant="ghost" onClick={load} aria-label="Reload events" title="Reload events">
          <RefreshCw className="size-3.5" aria-hidden />
        </Button>
      }
      className="overflow-hidden [&>div]:p-0"
    >
      {error != null && (
        <div className="p-4">
          <ErrorBox error={error} />
        </div>
      )}
      {list && list.length === 0 && <p className="p-4 text-sm text-zinc-400">No events yet: event triggers, scheduled and cron events appear here with their deliveries.</p>}
      {list && list.length > 0 && (
        <div className="overflow-x-auto">
          <table aria-label="Latest events" className="w-full text-left text-sm">
            <thead className="border-b border-zinc-800 text-xs text-zinc-400">
              <tr>
                <th className="px-4 py-2 font-medium">Created</th>
                <th className="px-3 py-2 font-medium">Source</th>
                <th className="px-3 py-2 font-medium">State</th>
                <th className="px-3 py-2 text-right font-medium">Tries</th>
                <th className="px-3 py-2 font-medium">Last answer</th>
                <th className="px-4 py-2" aria-label="Actions" />
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-800/70">
              {list.map((e) => (
                <tr key={e.id}>
                  <td className="whitespace-nowrap px-4 py-2 text-zinc-300" title={new Date(e.created_at).toLocaleString()}>
                    {when(e.created_at)}
                  </td>
                  <td className="px-3 py-2">
                    <span className="font-mono text-xs text-zinc-200">{e.trigger ?? e.kind}</span>
                    {e.table && (
                      <span className="ml-2 text-xs text-zinc-400">
                        {e.op} on {e.table.name}
                      </span>
                    )}
                  </td>
                  <td className="px-3 py-2">
                    <Badge tone={tones[e.state] ?? "zinc"}>{e.state}</Badge>
                  </td>
                  <td className="px-3 py-2 text-right font-mono text-xs tabular-nums text-zinc-300">{e.tries}</td>
                  <td className="max-w-xs truncate px-3 py-2 text-xs text-zinc-400" title={e.last_error ?? undefined}>
                    {e.last_status != null ? `HTTP ${e.last_status}` : ""}
                    {e.last_error ? `${e.last_status != null ? " · " : ""}${cellText(e.last_error)}` : e.last_status == null ? "–" : ""}
                  </td>
                  <td className="px-4 py-2 text-right">
                    {e.state === "dead" && (
                      <Button size="sm" variant="secondary" busy={busy === e.id} onClick={() => redeliver(e.id)}>
                        Redeliver
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}
