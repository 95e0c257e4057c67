import { lazy, Suspense, useEffect, useState, type ReactNode } from "react";
import {
  Table2,
  TerminalSquare,
  Braces,
  Globe,
  GitBranch,
  Activity,
  Settings,
  Building2,
  LogOut,
  Menu,
  Keyboard,
} from "lucide-react";
import { admin, api, loadSession, saveSession, setActiveSession, forgetKeys, type Session, type TenantInfo } from "./api";
import { navigate, match, useLocation } from "./router";
import { Button, Field, Input, Link, Modal, Toasts, cx, ErrorBox, Select, Spinner } from "./components/ui";
// Each page is its own chunk, loaded when first opened: the sign-in page and the shell load
// alone.
const TenantsPage = lazy(() => import("./pages/Tenants").then((m) => ({ default: m.TenantsPage })));
const TablesPage = lazy(() => import("./pages/Tables").then((m) => ({ default: m.TablesPage })));
const SqlPage = lazy(() => import("./pages/Sql").then((m) => ({ default: m.SqlPage })));
const GraphQLPage = lazy(() => import("./pages/GraphQL").then((m) => ({ default: m.GraphQLPage })));
const RestPage = lazy(() => import("./pages/Rest").then((m) => ({ default: m.RestPage })));
const MigrationsPage = lazy(() => import("./pages/Migrations").then((m) => ({ default: m.MigrationsPage })));
const MonitorPage = lazy(() => import("./pages/Monitor").then((m) => ({ default: m.MonitorPage })));
const SettingsPage = lazy(() => import("./pages/Settings").then((m) => ({ default: m.SettingsPage })));

export function App() {
  const [session, setSession] = useState<Session | null>(() => {
    const s = loadSession();
    setActiveSession(s);
    return s;
  });
  const { path } = useLocation();

  const signIn = (s: Session, remember: boolean) => {
    saveSession(s, remember);
    setActiveSession(s);
    forgetKeys();
    setSession(s);
    navigate(s.kind === "admin" ? "/tenants" : `/t/${encodeURIComponent(s.tenant)}/tables`, true);
  };
  const signOut = () => {
    saveSession(null);
    setActiveSession(null);
    forgetKeys();
    setSession(null);
    navigate("/signin", true);
  };

  useEffect(() => {
    if (!session && path !== "/signin") navigate("/signin", true);
    else if (session && (path === "/" || path === "/signin"))
      navigate(session.kind === "admin" ? "/tenants" : `/t/${encodeURIComponent(session.tenant)}/tables`, true);
  }, [session, path]);

  if (!session) {
    return (
      <>
        <SignIn onSignIn={signIn} />
        <Toasts />
      </>
    );
  }
  return (
    <>
      <Shell session={session} onSignOut={signOut} path={path} />
      <Toasts />
    </>
  );
}

function SignIn({ onSignIn }: { onSignIn: (s: Session, remember: boolean) => void }) {
  const [kind, setKind] = useState<"admin" | "tenant">("admin");
  const [key, setKey] = useState("");
  const [tenant, setTenant] = useState("");
  const [remember, setRemember] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const s: Session = kind === "admin" ? { kind, key: key.trim() } : { kind, tenant: tenant.trim(), key: key.trim() };
    try {
      // The key is checked by the admin API before the console keeps it.
      await admin("GET", s.kind === "admin" ? "/tenants" : `/tenants/${encodeURIComponent(s.tenant)}`, undefined, s);
      onSignIn(s, remember);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="flex min-h-full items-center justify-center px-4 py-12">
      <div className="w-full max-w-sm">
        <div className="mb-8 flex items-center gap-3">
          <Logo />
          <div>
            <h1 className="text-lg font-semibold">Kapok console</h1>
            <p className="text-sm text-zinc-400">Sign in to manage your tenants</p>
          </div>
        </div>
        <form onSubmit={submit} className="space-y-4 rounded-xl border border-zinc-800 bg-zinc-900/60 p-5">
          <div role="radiogroup" aria-label="Sign in with" className="grid grid-cols-2 gap-1 rounded-lg bg-zinc-950 p-1">
            {(["admin", "tenant"] as const).map((k) => (
              <button
                type="button"
                role="radio"
                aria-checked={kind === k}
                key={k}
                onClick={() => setKind(k)}
                className={cx(
                  "rounded-md py-1.5 text-sm font-medium",
                  kind === k ? "bg-zinc-800 text-zinc-100" : "text-zinc-400 hover:text-zinc-200",
                )}
              >
                {k === "admin" ? "Admin key" : "Tenant key"}
              </button>
            ))}
          </div>
          {kind === "tenant" && (
            <Field id="signin-tenant" label="Tenant">
              <Input id="signin-tenant" value={tenant} onChange={(e) => setTenant(e.target.value)} required autoComplete="off" placeholder="acme" />
            </Field>
          )}
          <Field
            id="signin-key"
            label={kind === "admin" ? "Admin key" : "service_role key"}
            hint={kind === "admin" ? "KAPOK_ADMIN_KEY, or admin_key in kapok.yaml" : "kapok tenant keys <tenant> prints it"}
          >
            <Input id="signin-key" type="password" value={key} onChange={(e) => setKey(e.target.value)} required autoFocus autoComplete="current-password" />
          </Field>
          <label className="flex items-center gap-2 text-sm text-zinc-400">
            <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} className="accent-emerald-500" />
            Remember on this device
          </label>
          <ErrorBox error={error} />
          <Button type="submit" variant="primary" className="w-full" busy={busy}>
            Sign in
          </Button>
        </form>
      </div>
    </main>
  );
}

export function Logo({ small }: { small?: boolean }) {
  return (
    <svg viewBox="0 0 32 32" className={small ? "size-7" : "size-10"} aria-hidden>
      <rect width="32" height="32" rx="8" fill="#10b981" />
      <path d="M10 8v16M10 16l10-8M13 14l8 10" stroke="#fff" strokeWidth="3" fill="none" strokeLinecap="round" />
    </svg>
  );
}

const tenantNav = [
  { key: "tables", label: "Table editor", icon: Table2, shortcut: "t" },
  { key: "sql", label: "SQL editor", icon: TerminalSquare, shortcut: "s" },
  { key: "graphql", label: "GraphQL", icon: Braces, shortcut: "g" },
  { key: "rest", label: "REST API", icon: Globe, shortcut: "r" },
  { key: "migrations", label: "Migrations", icon: GitBranch, shortcut: "m" },
  { key: "monitor", label: "Monitoring", icon: Activity, shortcut: "o" },
  { key: "settings", label: "Settings", icon: Settings, shortcut: "e" },
] as const;

function Shell({ session, onSignOut, path }: { session: Session; onSignOut: () => void; path: string }) {
  const [navOpen, setNavOpen] = useState(false);
  const [help, setHelp] = useState(false);
  const [tenants, setTenants] = useState<TenantInfo[] | null>(null);
  const t = match("/t/:tenant/*", path) ?? match("/t/:tenant", path);
  const tenant = t?.tenant ?? (session.kind === "tenant" ? session.tenant : undefined);
  const section = t?.["*"]?.split("/")[0] || "tables";

  useEffect(() => {
    if (session.kind !== "admin") return;
    api.tenants().then(setTenants, () => setTenants([]));
  }, [session, path]);

  // Keyboard: "g" then a letter goes to a section; "?" lists the shortcuts.
  useEffect(() => {
    let pending = false;
    let timer: ReturnType<typeof setTimeout>;
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement;
      if (el.closest("input, textarea, select, [contenteditable=true]") || e.metaKey || e.ctrlKey || e.altKey) return;
      if (e.key === "?") {
        setHelp(true);
        return;
      }
      if (pending) {
        pending = false;
        clearTimeout(timer);
        if (e.key === "h" && session.kind === "admin") navigate("/tenants");
        const item = tenantNav.find((n) => n.shortcut === e.key);
        if (item && tenant) navigate(`/t/${encodeURIComponent(tenant)}/${item.key}`);
        return;
      }
      if (e.key === "g") {
        pending = true;
        timer = setTimeout(() => (pending = false), 1200);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [tenant, session]);

  let page: ReactNode;
  if (path === "/tenants" && session.kind === "admin") page = <TenantsPage />;
  else if (tenant && session.kind === "tenant" && tenant !== session.tenant) page = <Forbidden tenant={tenant} />;
  else if (tenant) {
    const tbl = match("/t/:tenant/tables/:table", path);
    switch (section) {
      case "tables":
        page = <TablesPage key={tenant} tenant={tenant} table={tbl?.table} />;
        break;
      case "sql":
        page = <SqlPage key={tenant} tenant={tenant} />;
        break;
      case "graphql":
        page = <GraphQLPage key={tenant} tenant={tenant} />;
        break;
      case "rest":
        page = <RestPage key={tenant} tenant={tenant} />;
        break;
      case "migrations":
        page = <MigrationsPage key={tenant} tenant={tenant} />;
        break;
      case "monitor":
        page = <MonitorPage key={tenant} tenant={tenant} />;
        break;
      case "settings":
        page = <SettingsPage key={tenant} tenant={tenant} />;
        break;
      default:
        page = <NotFound />;
    }
  } else page = <NotFound />;

  const nav = (
    <nav aria-label="Main" className="flex h-full flex-col gap-1 p-3">
      <div className="mb-3 flex items-center gap-2 px-2 py-1">
        <Logo small />
        <span className="font-semibold tracking-tight">Kapok</span>
      </div>
      {session.kind === "admin" && (
        <NavLink to="/tenants" active={path === "/tenants"} icon={Building2} label="Tenants" onClick={() => setNavOpen(false)} />
      )}
      {session.kind === "admin" && tenants && tenants.length > 0 && (
        <div className="mt-3 px-2">
          <label htmlFor="tenant-switch" className="mb-1 block text-[11px] font-medium uppercase tracking-wider text-zinc-400">
            Tenant
          </label>
          <Select
            id="tenant-switch"
            value={tenant ?? ""}
            onChange={(e) => e.target.value && navigate(`/t/${encodeURIComponent(e.target.value)}/${section}`)}
            className="h-8 text-xs"
          >
            <option value="">Choose a tenant…</option>
            {tenants.map((x) => (
              <option key={x.name} value={x.name}>
                {x.name}
              </option>
            ))}
          </Select>
        </div>
      )}
      {session.kind === "tenant" && (
        <p className="px-2 text-[11px] font-medium uppercase tracking-wider text-zinc-400">Tenant {session.tenant}</p>
      )}
      {tenant && (
        <div className="mt-2 flex flex-col gap-0.5">
          {tenantNav.map((n) => (
            <NavLink
              key={n.key}
              to={`/t/${encodeURIComponent(tenant)}/${n.key}`}
              active={section === n.key && !!t}
              icon={n.icon}
              label={n.label}
              onClick={() => setNavOpen(false)}
            />
          ))}
        </div>
      )}
      <div className="mt-auto flex flex-col gap-0.5">
        <button onClick={() => setHelp(true)} className="flex items-center gap-2.5 rounded-md px-2 py-1.5 text-sm text-zinc-400 hover:bg-zinc-800/70 hover:text-zinc-100">
          <Keyboard className="size-4" aria-hidden /> Shortcuts <kbd className="ml-auto text-[10px] text-zinc-400">?</kbd>
        </button>
        <button onClick={onSignOut} className="flex items-center gap-2.5 rounded-md px-2 py-1.5 text-sm text-zinc-400 hover:bg-zinc-800/70 hover:text-zinc-100">
          <LogOut className="size-4" aria-hidden /> Sign out
        </button>
      </div>
    </nav>
  );

  return (
    <div className="flex h-full">
      <aside aria-label="Sidebar" className="hidden w-56 shrink-0 border-r border-zinc-800 bg-zinc-950 md:block">{nav}</aside>
      {navOpen && (
        <div className="fixed inset-0 z-30 md:hidden" onClick={() => setNavOpen(false)}>
          <div className="absolute inset-0 bg-black/60" />
          <aside aria-label="Sidebar" className="absolute inset-y-0 left-0 w-64 border-r border-zinc-800 bg-zinc-950" onClick={(e) => e.stopPropagation()}>
            {nav}
          </aside>
        </div>
      )}
      <div className="flex min-w-0 flex-1 flex-col">
        <header className="flex h-12 items-center gap-2 border-b border-zinc-800 px-3 md:hidden">
          <Button variant="ghost" size="sm" aria-label="Open navigation" onClick={() => setNavOpen(true)}>
            <Menu className="size-4" />
          </Button>
          <Logo small />
          <span className="truncate text-sm font-medium">{tenant ?? "Kapok"}</span>
        </header>
        <main className="min-h-0 flex-1 overflow-auto">
          <Suspense
            fallback={
              <div className="p-6">
                <Spinner />
              </div>
            }
          >
            {page}
          </Suspense>
        </main>
      </div>
      <Modal open={help} onOpenChange={setHelp} title="Keyboard shortcuts">
        <ul className="space-y-1.5 text-sm">
          {session.kind === "admin" && <Shortcut keys="g h" label="Tenants" />}
          {tenantNav.map((n) => (
            <Shortcut key={n.key} keys={`g ${n.shortcut}`} label={n.label} />
          ))}
          <Shortcut keys="Ctrl Enter" label="Run (SQL, GraphQL, REST)" />
          <Shortcut keys="Esc" label="Close a dialog" />
        </ul>
      </Modal>
    </div>
  );
}

function Shortcut({ keys, label }: { keys: string; label: string }) {
  return (
    <li className="flex items-center justify-between">
      <span className="text-zinc-300">{label}</span>
      <span className="flex gap-1">
        {keys.split(" ").map((k) => (
          <kbd key={k} className="rounded border border-zinc-700 bg-zinc-800 px-1.5 py-0.5 font-mono text-[11px] text-zinc-300">
            {k}
          </kbd>
        ))}
      </span>
    </li>
  );
}

function NavLink({ to, active, icon: Icon, label, onClick }: { to: string; active: boolean; icon: typeof Table2; label: string; onClick?: () => void }) {
  return (
    <Link
      to={to}
      onClick={onClick}
      aria-current={active ? "page" : undefined}
      className={cx(
        "flex items-center gap-2.5 rounded-md px-2 py-1.5 text-sm",
        active ? "bg-zinc-800 text-zinc-50" : "text-zinc-400 hover:bg-zinc-800/70 hover:text-zinc-100",
      )}
    >
      <Icon className={cx("size-4", active && "text-emerald-400")} aria-hidden />
      {label}
    </Link>
  );
}

function NotFound() {
  return (
    <div className="p-8">
      <h1 className="text-lg font-semibold">Nothing here</h1>
      <p className="mt-1 text-sm text-zinc-400">
        This page does not exist. <Link to="/" className="text-emerald-400 hover:underline">Go home</Link>
      </p>
    </div>
  );
}

function Forbidden({ tenant }: { tenant: string }) {
  return (
    <div className="space-y-3 p-8">
      <h1 className="text-lg font-semibold">{tenant}</h1>
      <ErrorBox error={new Error(`This session holds another tenant's key: sign in again to work on ${tenant}.`)} />
    </div>
  );
}
