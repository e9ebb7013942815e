/// <reference lib="dom" />
/**
 * DOM building without innerHTML: every string from the collector becomes a text node, so
 * node ids, reasons or inventory fields can never inject markup.
 */
export type Child = Node | string | number | null | undefined | false | Child[];
type Attr = string | number | boolean | undefined | null | ((e: Event) => void);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, Attr> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export function badge(status: string): HTMLSpanElement {
  return h('span', { class: `badge ${status}`, 'data-status': status }, status);
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '-';
  const s = Math.round((now - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 90) return `${s}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** A value from a change (string, number, object) as short text. */
export function show(v: unknown, max = 160): string {
  if (v === null || v === undefined) return '—';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** The present values joined with `sep` ("Dell Inc. PowerEdge"); one '—' when none is, never "— —". */
export function joinPresent(values: unknown[], sep = ' '): string {
  const got = values
    .filter((v) => v !== null && v !== undefined && v !== '')
    .map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v)));
  return got.length ? got.join(sep) : '—';
}
