// A small router over the History API: the console's routes are few and flat, so it needs
// no library. Paths are relative to the base /console.
import { useEffect, useState } from "react";

export const base = "/console";

export function currentPath(): string {
  const p = window.location.pathname;
  const rest = p.startsWith(base) ? p.slice(base.length) : p;
  return rest === "" ? "/" : rest;
}

const listeners = new Set<() => void>();

export function navigate(path: string, replace = false) {
  const url = base + path;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listeners.forEach((l) => l());
}

window.addEventListener("popstate", () => listeners.forEach((l) => l()));

/** The current path (after /console) and its query, re-rendering on navigation. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((t) => t + 1);
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return { path: currentPath(), query: new URLSearchParams(window.location.search) };
}

/** Matches "/t/:tenant/tables/:table" against a path; null when it does not match. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const ps = pattern.split("/").filter(Boolean);
  const xs = path.split("/").filter(Boolean);
  const out: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    const p = ps[i];
    if (p === "*") {
      out["*"] = xs.slice(i).map(decodeURIComponent).join("/");
      return out;
    }
    if (i >= xs.length) return null;
    if (p.startsWith(":")) out[p.slice(1)] = decodeURIComponent(xs[i]);
    else if (p !== xs[i]) return null;
  }
  return xs.length === ps.length ? out : null;
}
