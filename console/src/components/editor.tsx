// A small code editor: a plain <textarea> (so the browser's editing, undo, selection and
// accessibility all keep working) under a <pre> that paints the same text with colours, and a
// line-number gutter beside it. Both layers share one font, size and padding, and the overlay
// follows the textarea's scroll, so the colours stay on the characters.
import {
  forwardRef,
  useCallback,
  useId,
  useImperativeHandle,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
  type KeyboardEvent,
  type ReactNode,
} from "react";
import { cx } from "./ui";

export type CodeLanguage = "sql" | "graphql" | "json";

export interface CodeEditorProps {
  value: string;
  onChange?: (value: string) => void;
  /** Called on Ctrl/Cmd+Enter. */
  onRun?: () => void;
  language?: CodeLanguage;
  /** The accessible name of the text area. */
  ariaLabel: string;
  id?: string;
  /** Height in lines: the editor grows with its text from minRows up to maxRows, then scrolls. */
  minRows?: number;
  maxRows?: number;
  /** Fill the parent's height instead (the parent must have one). */
  fill?: boolean;
  readOnly?: boolean;
  placeholder?: string;
  autoFocus?: boolean;
  /** A 1-based character offset into value (Postgres's error "position"): marked in red. */
  errorPosition?: number;
  className?: string;
  "aria-describedby"?: string;
}

export interface CodeEditorHandle {
  focus(): void;
  /** Replaces the selection (or inserts at the cursor) with text, undoably, and focuses. */
  insert(text: string): void;
  /** The selected text ("" when nothing is selected). */
  selection(): string;
  /** Puts the cursor at a 0-based offset (or selects [start, end)) and scrolls it into view. */
  select(start: number, end?: number): void;
  textarea: HTMLTextAreaElement | null;
}

const LINE = 20; // px: leading-5
const PAD_Y = 8; // px: py-2

export const CodeEditor = forwardRef<CodeEditorHandle, CodeEditorProps>(function CodeEditor(
  {
    value,
    onChange,
    onRun,
    language = "sql",
    ariaLabel,
    id,
    minRows = 4,
    maxRows = 24,
    fill,
    readOnly,
    placeholder,
    autoFocus,
    errorPosition,
    className,
    "aria-describedby": describedBy,
  },
  ref,
) {
  const ta = useRef<HTMLTextAreaElement>(null);
  const overlay = useRef<HTMLPreElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  // After Escape, Tab leaves the editor instead of indenting (keyboard users are never trapped).
  const tabLeaves = useRef(false);
  const [caretLine, setCaretLine] = useState(-1);

  const lines = useMemo(() => value.split("\n").length, [value]);
  const errorAt = useMemo(() => (errorPosition ? codePointOffset(value, errorPosition - 1) : -1), [value, errorPosition]);
  const errorLine = errorAt >= 0 ? countLines(value, errorAt) : -1;

  const syncScroll = useCallback(() => {
    const t = ta.current;
    if (!t) return;
    if (overlay.current) overlay.current.style.transform = `translate(${-t.scrollLeft}px, ${-t.scrollTop}px)`;
    if (gutter.current) gutter.current.style.transform = `translateY(${-t.scrollTop}px)`;
  }, []);
  useLayoutEffect(syncScroll, [value, syncScroll]);

  const trackCaret = useCallback(() => {
    const t = ta.current;
    if (!t || document.activeElement !== t) return setCaretLine(-1);
    setCaretLine(countLines(t.value, t.selectionStart));
  }, []);

  /** Replaces [start, end) with text through the browser's editing (so Ctrl+Z undoes it). */
  const replace = useCallback(
    (start: number, end: number, text: string, selStart?: number, selEnd?: number) => {
      const t = ta.current;
      if (!t) return;
      t.focus();
      t.setSelectionRange(start, end);
      let ok = false;
      try {
        ok = document.execCommand("insertText", false, text);
      } catch {
        ok = false;
      }
      if (!ok) {
        const next = t.value.slice(0, start) + text + t.value.slice(end);
        t.value = next;
        onChange?.(next);
      }
      const a = selStart ?? start + text.length;
      t.setSelectionRange(a, selEnd ?? a);
      trackCaret();
    },
    [onChange, trackCaret],
  );

  useImperativeHandle(
    ref,
    () => ({
      focus: () => ta.current?.focus(),
      insert: (text: string) => {
        const t = ta.current;
        if (!t || readOnly) return;
        replace(t.selectionStart, t.selectionEnd, text);
      },
      selection: () => {
        const t = ta.current;
        return t ? t.value.slice(t.selectionStart, t.selectionEnd) : "";
      },
      select: (start: number, end?: number) => {
        const t = ta.current;
        if (!t) return;
        t.focus();
        t.setSelectionRange(start, end ?? start);
        // Scroll the line into view: the textarea does not always do it for a programmatic selection.
        const line = countLines(t.value, start);
        const top = (line - 1) * LINE;
        if (top < t.scrollTop || top > t.scrollTop + t.clientHeight - LINE * 2) t.scrollTop = Math.max(0, top - t.clientHeight / 2);
        syncScroll();
        trackCaret();
      },
      get textarea() {
        return ta.current;
      },
    }),
    [readOnly, replace, syncScroll, trackCaret],
  );

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    const t = e.currentTarget;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && e.key === "Enter") {
      e.preventDefault();
      onRun?.();
      return;
    }
    if (e.key === "Escape") {
      tabLeaves.current = true;
      return;
    }
    if (e.key === "Tab" && tabLeaves.current) {
      tabLeaves.current = false;
      return; // the browser moves focus
    }
    tabLeaves.current = false;
    if (readOnly || e.nativeEvent.isComposing) return;
    const { selectionStart: s, selectionEnd: en, value: v } = t;

    if (e.key === "Tab") {
      e.preventDefault();
      const multi = v.slice(s, en).includes("\n");
      if (!multi && !e.shiftKey) {
        replace(s, en, "  ");
        return;
      }
      // Indent or dedent every line the selection touches, keeping it selected.
      const from = v.lastIndexOf("\n", s - 1) + 1;
      const to = en > s && v[en - 1] === "\n" ? en - 1 : en;
      const block = v.slice(from, to).split("\n");
      const out = block.map((l) => (e.shiftKey ? l.replace(/^ {1,2}|^\t/, "") : "  " + l)).join("\n");
      const firstShift = e.shiftKey ? -(block[0].length - block[0].replace(/^ {1,2}|^\t/, "").length) : 2;
      replace(from, to, out, Math.max(from, s + firstShift), multi ? from + out.length : Math.max(from, en + firstShift));
      return;
    }
    if (e.key === "Enter" && !mod && !e.shiftKey && !e.altKey) {
      // Keep the indentation of the line; one level more after an opening bracket.
      const lineStart = v.lastIndexOf("\n", s - 1) + 1;
      const indent = /^[ \t]*/.exec(v.slice(lineStart, s))![0];
      const before = v.slice(lineStart, s).trimEnd();
      const opens = /[{([]$/.test(before);
      const closes = opens && /^[ \t]*[})\]]/.test(v.slice(en));
      e.preventDefault();
      if (closes) {
        const text = "\n" + indent + "  " + "\n" + indent;
        replace(s, en, text, s + 1 + indent.length + 2);
      } else replace(s, en, "\n" + indent + (opens ? "  " : ""));
      return;
    }
    if (mod && e.key === "/" && language !== "json") {
      // Toggle a line comment on every line the selection touches.
      e.preventDefault();
      const mark = language === "sql" ? "--" : "#";
      const from = v.lastIndexOf("\n", s - 1) + 1;
      const to0 = v.indexOf("\n", en > s && v[en - 1] === "\n" ? en - 1 : en);
      const to = to0 < 0 ? v.length : to0;
      const block = v.slice(from, to).split("\n");
      const re = new RegExp("^(\\s*)" + mark.replace(/[-#]/g, "\\$&") + " ?");
      const commented = block.filter((l) => l.trim()).every((l) => re.test(l));
      const out = block
        .map((l) => (commented ? l.replace(re, "$1") : l.trim() ? l.replace(/^(\s*)/, `$1${mark} `) : l))
        .join("\n");
      replace(from, to, out, from, from + out.length);
    }
  };

  const style = fill
    ? undefined
    : { height: Math.min(Math.max(lines, minRows), Math.max(minRows, maxRows)) * LINE + PAD_Y * 2 + 12 };

  const hintId = useId();

  return (
    <div
      className={cx(
        "relative flex overflow-hidden rounded-md border bg-zinc-950 font-mono text-[13px] leading-5",
        "border-zinc-800 focus-within:border-emerald-500 focus-within:ring-1 focus-within:ring-emerald-500",
        fill && "h-full min-h-0",
        readOnly && "bg-zinc-950/60",
        className,
      )}
      style={style}
    >
      <div aria-hidden className="relative w-auto shrink-0 select-none overflow-hidden border-r border-zinc-800/80 bg-zinc-900/40">
        <div ref={gutter} className="px-2 py-2 text-right tabular-nums text-zinc-600" style={{ minWidth: `${String(lines).length + 2}ch` }}>
          {Array.from({ length: lines }, (_, i) => (
            <div
              key={i}
              className={cx(
                i + 1 === errorLine ? "text-red-400" : i + 1 === caretLine ? "text-zinc-300" : undefined,
              )}
            >
              {i + 1}
            </div>
          ))}
        </div>
      </div>
      <div className="relative min-w-0 flex-1 overflow-hidden">
        <pre
          ref={overlay}
          aria-hidden
          className="pointer-events-none absolute left-0 top-0 m-0 min-w-full whitespace-pre px-3 py-2 text-zinc-100"
          style={{ tabSize: 4, fontFamily: "inherit", fontSize: "inherit", lineHeight: "inherit" }}
        >
          {paint(value, language, errorAt)}
          {"\n"}
        </pre>
        <textarea
          ref={ta}
          id={id}
          aria-label={ariaLabel}
          aria-describedby={cx(readOnly ? undefined : hintId, describedBy) || undefined}
          aria-invalid={errorAt >= 0 || undefined}
          value={value}
          onChange={(e) => onChange?.(e.target.value)}
          onKeyDown={onKeyDown}
          onScroll={syncScroll}
          onSelect={trackCaret}
          onFocus={trackCaret}
          onBlur={() => setCaretLine(-1)}
          readOnly={readOnly}
          placeholder={placeholder}
          autoFocus={autoFocus}
          spellCheck={false}
          autoCapitalize="off"
          autoCorrect="off"
          autoComplete="off"
          wrap="off"
          className={cx(
            "absolute inset-0 h-full w-full resize-none overflow-auto whitespace-pre bg-transparent px-3 py-2 text-transparent caret-zinc-100",
            "placeholder:text-zinc-600 focus:outline-none focus-visible:outline-none",
          )}
          // The frame shows focus; the page-wide :focus-visible outline would sit inside it.
          style={{ tabSize: 4, fontFamily: "inherit", fontSize: "inherit", lineHeight: "inherit", outline: "none" }}
        />
        {!readOnly && (
          <span id={hintId} className="sr-only">
            {onRun ? "Ctrl+Enter runs. " : ""}Tab indents; press Escape then Tab to leave the editor.
          </span>
        )}
      </div>
    </div>
  );
});

// ---- helpers ----

/** The UTF-16 index of the n-th (0-based) code point of s: Postgres counts characters. */
function codePointOffset(s: string, n: number): number {
  if (n < 0) return -1;
  let i = 0;
  let k = 0;
  while (i < s.length && k < n) {
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
    k++;
  }
  return Math.min(i, s.length);
}

/** The 1-based line of offset in s. */
function countLines(s: string, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset && i < s.length; i++) if (s.charCodeAt(i) === 10) n++;
  return n;
}

// ---- highlighting ----

type Kind = "kw" | "type" | "fn" | "str" | "num" | "com" | "punct" | "var" | "prop" | "dir" | "ident" | "plain";

const colours: Record<Kind, string | undefined> = {
  kw: "text-violet-300",
  type: "text-cyan-300",
  fn: "text-sky-300",
  str: "text-emerald-300",
  num: "text-amber-300",
  com: "italic text-zinc-400",
  punct: "text-zinc-400",
  var: "text-pink-300",
  prop: "text-sky-300",
  dir: "text-amber-200",
  ident: "text-zinc-100",
  plain: undefined,
};

type Token = { kind: Kind; text: string };

const sqlKeywords = new Set(
  (
    "select from where and or not in is null as on join left right inner outer full cross natural using group by order " +
    "having limit offset insert into values update set delete returning create table view materialized index unique " +
    "primary key foreign references constraint check default alter add drop column rename to if exists cascade restrict " +
    "begin commit rollback transaction savepoint release with recursive union all intersect except distinct case when then " +
    "else end like ilike between asc desc nulls first last true false grant revoke schema function procedure returns " +
    "language trigger before after each row for execute do declare return language security definer invoker stable " +
    "immutable volatile strict replace or temp temporary extension sequence type enum domain policy enable disable level " +
    "owner analyze explain vacuum truncate only lateral window over partition filter within fetch next rows row any some " +
    "comment copy no action generated always identity stored collate concurrently similar escape of role public to " +
    "local session show reset listen notify lock share mode nowait skip locked conflict nothing"
  ).split(/\s+/),
);
const sqlTypes = new Set(
  (
    "int int2 int4 int8 integer smallint bigint serial bigserial smallserial numeric decimal real double precision float " +
    "float4 float8 money text varchar char character varying bool boolean date time timestamp timestamptz interval " +
    "zone json jsonb uuid bytea inet cidr macaddr tsvector tsquery xml point line box polygon circle oid regclass " +
    "void record setof trigger bit varbit citext ltree hstore vector"
  ).split(/\s+/),
);
const gqlKeywords = new Set("query mutation subscription fragment on true false null schema extend scalar input enum interface union implements directive type".split(" "));

/** Splits s into tokens: step looks at s from i and pushes the token that starts there
 * (push(kind, end) takes s[i:end] and moves i to end); out is what was pushed so far. */
function scan(s: string, step: (i: number, push: (kind: Kind, end: number) => void, out: Token[]) => void): Token[] {
  const out: Token[] = [];
  let i = 0;
  const push = (kind: Kind, end: number) => {
    out.push({ kind, text: s.slice(i, end) });
    i = end;
  };
  while (i < s.length) step(i, push, out);
  return out;
}

/** The end of the run of characters matching re that starts at i (s[i] matches). */
function runEnd(s: string, i: number, re: RegExp): number {
  let j = i + 1;
  while (j < s.length && re.test(s[j])) j++;
  return j;
}

function tokenizeSql(s: string): Token[] {
  return scan(s, (i, push, out) => {
    const c = s[i];
    const rest = s.slice(i, i + 2);
    if (/\s/.test(c)) {
      push("plain", runEnd(s, i, /\s/));
    } else if (rest === "--") {
      const j = s.indexOf("\n", i);
      push("com", j < 0 ? s.length : j);
    } else if (rest === "/*") {
      const j = s.indexOf("*/", i + 2);
      push("com", j < 0 ? s.length : j + 2);
    } else if (c === "'" || ((c === "E" || c === "e") && s[i + 1] === "'")) {
      const esc = c !== "'";
      let j = i + (esc ? 2 : 1);
      while (j < s.length) {
        if (esc && s[j] === "\\") j += 2;
        else if (s[j] === "'" && s[j + 1] === "'") j += 2;
        else if (s[j] === "'") {
          j++;
          break;
        } else j++;
      }
      push("str", Math.min(j, s.length));
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length) {
        if (s[j] === '"' && s[j + 1] === '"') j += 2;
        else if (s[j] === '"') {
          j++;
          break;
        } else j++;
      }
      push("ident", Math.min(j, s.length));
    } else if (c === "$") {
      const m = /^\$(\d+)/.exec(s.slice(i, i + 12));
      const d = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(s.slice(i, i + 64));
      if (m) push("var", i + m[0].length);
      else if (d) {
        // A dollar-quoted body: colour the delimiters and the body as a string.
        const j = s.indexOf(d[0], i + d[0].length);
        push("str", j < 0 ? s.length : j + d[0].length);
      } else push("punct", i + 1);
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(s[i + 1] ?? ""))) {
      const m = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(s.slice(i, i + 64))!;
      push("num", i + m[0].length);
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z_0-9$\u0080-\uffff]*/.exec(s.slice(i, i + 256))!;
      const w = m[0].toLowerCase();
      const after = s.slice(i + m[0].length).match(/^\s*\(/);
      const prev = out.length ? out[out.length - 1].text : "";
      const kind: Kind = sqlTypes.has(w) && prev !== "." ? "type" : sqlKeywords.has(w) && prev !== "." ? "kw" : after ? "fn" : "plain";
      push(kind, i + m[0].length);
    } else if (c === ":" && s[i + 1] === ":") {
      push("punct", i + 2);
    } else push("punct", i + 1);
  });
}

function tokenizeGraphql(s: string): Token[] {
  return scan(s, (i, push) => {
    const c = s[i];
    if (/[\s,]/.test(c)) {
      push("plain", runEnd(s, i, /[\s,]/));
    } else if (c === "#") {
      const j = s.indexOf("\n", i);
      push("com", j < 0 ? s.length : j);
    } else if (s.startsWith('"""', i)) {
      const j = s.indexOf('"""', i + 3);
      push("str", j < 0 ? s.length : j + 3);
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"' && s[j] !== "\n") j += s[j] === "\\" ? 2 : 1;
      push("str", Math.min(s.length, j + (s[j] === '"' ? 1 : 0)));
    } else if ((c === "$" || c === "@") && /[A-Za-z_]/.test(s[i + 1] ?? "")) {
      const m = /^[$@][A-Za-z_][A-Za-z_0-9]*/.exec(s.slice(i, i + 256))!;
      push(c === "$" ? "var" : "dir", i + m[0].length);
    } else if (/[-0-9]/.test(c) && /[0-9]/.test(c === "-" ? (s[i + 1] ?? "") : c)) {
      const m = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(s.slice(i, i + 64))!;
      push("num", i + m[0].length);
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z_0-9]*/.exec(s.slice(i, i + 256))!;
      const w = m[0];
      const isArg = /^\s*:/.test(s.slice(i + w.length, i + w.length + 64));
      const kind: Kind = gqlKeywords.has(w) ? "kw" : isArg ? "prop" : /^[A-Z]/.test(w) ? "type" : "plain";
      push(kind, i + w.length);
    } else push("punct", i + 1);
  });
}

function tokenizeJson(s: string): Token[] {
  return scan(s, (i, push) => {
    const c = s[i];
    if (/\s/.test(c)) {
      push("plain", runEnd(s, i, /\s/));
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"' && s[j] !== "\n") j += s[j] === "\\" ? 2 : 1;
      const end = Math.min(s.length, j + (s[j] === '"' ? 1 : 0));
      const key = /^\s*:/.test(s.slice(end, end + 64));
      push(key ? "prop" : "str", end);
    } else if (/[-0-9]/.test(c)) {
      const m = /^-?\d*\.?\d*(?:[eE][+-]?\d+)?/.exec(s.slice(i, i + 64))!;
      push("num", i + Math.max(1, m[0].length));
    } else if (/[a-z]/.test(c)) {
      const m = /^[a-z]+/.exec(s.slice(i, i + 16))!;
      push(["true", "false", "null"].includes(m[0]) ? "kw" : "plain", i + m[0].length);
    } else push("punct", i + 1);
  });
}

/** The overlay's content: coloured tokens, with the error position marked. */
function paint(s: string, language: CodeLanguage, errorAt: number): ReactNode[] {
  const tokens = language === "graphql" ? tokenizeGraphql(s) : language === "json" ? tokenizeJson(s) : tokenizeSql(s);
  // The error mark covers the word at the position (at least one character).
  let errEnd = -1;
  if (errorAt >= 0) {
    const m = /^[^\s,;()]*/.exec(s.slice(errorAt, errorAt + 200));
    errEnd = errorAt + Math.max(1, m ? m[0].length : 1);
  }
  const nodes: ReactNode[] = [];
  let pos = 0;
  let key = 0;
  for (const t of tokens) {
    const start = pos;
    const end = pos + t.text.length;
    pos = end;
    const cls = colours[t.kind];
    if (errorAt < 0 || end <= errorAt || start >= errEnd) {
      nodes.push(cls ? <span key={key++} className={cls}>{t.text}</span> : t.text);
      continue;
    }
    // Split the token around the marked range.
    const a = Math.max(start, errorAt);
    const b = Math.min(end, errEnd);
    if (a > start) nodes.push(<span key={key++} className={cls}>{s.slice(start, a)}</span>);
    nodes.push(
      <span key={key++} className={cx(cls, "rounded-sm bg-red-500/25 underline decoration-red-400 decoration-wavy underline-offset-2")}>
        {s.slice(a, b)}
      </span>,
    );
    if (b < end) nodes.push(<span key={key++} className={cls}>{s.slice(b, end)}</span>);
  }
  if (errorAt >= s.length) {
    // Postgres points past the end (e.g. "syntax error at end of input").
    nodes.push(<span key={key++} className="inline-block h-4 w-[1ch] translate-y-0.5 rounded-sm bg-red-500/50" />);
  }
  return nodes;
}
