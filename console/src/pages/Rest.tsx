export function RestPage(_: { tenant: string }) {
  return <div className="p-6 text-sm text-zinc-400">Coming soon</div>;
}
