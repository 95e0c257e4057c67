export function TablesPage(_: { tenant: string; table?: string }) {
  return <div className="p-6 text-sm text-zinc-400">Coming soon</div>;
}
