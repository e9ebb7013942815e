import { NodesealError } from './errors.js';

/**
 * Slurm hostlist expressions: `gpu[001-128]`, `a,b,c`, `rack[1-2]-gpu[01-04]`, `n[1,3,5-7]`.
 * Pure functions. Input is hostile (it arrives in query strings): every limit is checked before
 * anything is expanded, so `gpu[0-99999999999]` is rejected without allocating.
 */
export const ERR_HOSTLIST_SYNTAX = 'ERR_HOSTLIST_SYNTAX';
export const ERR_HOSTLIST_TOO_LARGE = 'ERR_HOSTLIST_TOO_LARGE';

export interface HostlistLimits {
  /** Most host names one expression may expand to (default 10,000). */
  maxHosts: number;
  /** Longest expression accepted, in characters (default 65,536). */
  maxLength: number;
  /** Longest host name produced (default 253). */
  maxNameLength: number;
}

export const defaultHostlistLimits: HostlistLimits = { maxHosts: 10_000, maxLength: 65_536, maxNameLength: 253 };

function syntax(expr: string, why: string): NodesealError {
  return new NodesealError(ERR_HOSTLIST_SYNTAX, `invalid hostlist: ${why}`, { details: { expression: expr.slice(0, 200) } });
}

interface Range {
  lo: number;
  hi: number;
  width: number;
}

/** One bracket's content `001-004,7` → ranges; widths come from zero-padded starts. */
function parseBracket(expr: string, body: string): Range[] {
  if (body === '') throw syntax(expr, 'empty brackets');
  return body.split(',').map((part) => {
    const m = /^(\d{1,18})(?:-(\d{1,18}))?$/.exec(part);
    if (!m) throw syntax(expr, `bad range '${part.slice(0, 40)}'`);
    const loText = m[1]!;
    const hiText = m[2] ?? loText;
    const lo = Number(loText);
    const hi = Number(hiText);
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi)) throw syntax(expr, 'number too large');
    if (hi < lo) throw syntax(expr, `range '${part.slice(0, 40)}' goes down`);
    const width = loText.length > 1 && loText.startsWith('0') ? loText.length : 0;
    return { lo, hi, width };
  });
}

/** Splits at top-level commas (commas inside brackets belong to the bracket). */
function splitTop(expr: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i];
    if (c === '[') {
      if (depth) throw syntax(expr, 'nested brackets');
      depth = 1;
    } else if (c === ']') {
      if (!depth) throw syntax(expr, "unbalanced ']'");
      depth = 0;
    } else if (c === ',' && !depth) {
      out.push(expr.slice(start, i));
      start = i + 1;
    }
  }
  if (depth) throw syntax(expr, "unbalanced '['");
  out.push(expr.slice(start));
  return out;
}

const nameChars = /^[A-Za-z0-9._-]*$/;

/** Expands one hostlist expression into host names, in order, without duplicates. */
export function expandHostlist(expr: string, limits: Partial<HostlistLimits> = {}): string[] {
  const lim = { ...defaultHostlistLimits, ...limits };
  if (typeof expr !== 'string') throw syntax(String(expr), 'not a string');
  if (expr.length > lim.maxLength) throw new NodesealError(ERR_HOSTLIST_TOO_LARGE, `hostlist longer than ${lim.maxLength} characters`);
  const trimmed = expr.trim();
  if (trimmed === '') return [];
  const out: string[] = [];
  const seen = new Set<string>();
  for (const term of splitTop(trimmed)) {
    const t = term.trim();
    if (t === '') throw syntax(expr, 'empty name');
    // Alternating literal text and bracket groups.
    const pieces: (string | Range[])[] = [];
    let rest = t;
    while (rest.length) {
      const open = rest.indexOf('[');
      if (open < 0) {
        pieces.push(rest);
        break;
      }
      const close = rest.indexOf(']', open);
      if (open > 0) pieces.push(rest.slice(0, open));
      pieces.push(parseBracket(expr, rest.slice(open + 1, close)));
      rest = rest.slice(close + 1);
    }
    let count = 1;
    for (const p of pieces) {
      if (typeof p === 'string') {
        if (!nameChars.test(p)) throw syntax(expr, `bad character in '${p.slice(0, 40)}'`);
        continue;
      }
      count *= p.reduce((n, r) => n + (r.hi - r.lo + 1), 0);
      if (count + out.length > lim.maxHosts) {
        throw new NodesealError(ERR_HOSTLIST_TOO_LARGE, `hostlist expands to more than ${lim.maxHosts} names`, {
          details: { maxHosts: lim.maxHosts },
        });
      }
    }
    let names = [''];
    for (const p of pieces) {
      if (typeof p === 'string') names = names.map((n) => n + p);
      else {
        const next: string[] = [];
        for (const n of names) for (const r of p) for (let i = r.lo; i <= r.hi; i++) next.push(n + String(i).padStart(r.width, '0'));
        names = next;
      }
    }
    for (const n of names) {
      if (n.length > lim.maxNameLength) throw syntax(expr, 'host name too long');
      if (!seen.has(n)) {
        seen.add(n);
        out.push(n);
      }
    }
  }
  return out;
}

/**
 * Compresses host names into one expression, grouping names that differ only in a trailing
 * number of the same zero-padded width: [gpu001, gpu002, gpu003, gpu007, cpu1] → `cpu1,gpu[001-003,007]`.
 * expandHostlist(compressHostlist(x)) yields the same set of names.
 */
export function compressHostlist(names: readonly string[]): string {
  const groups = new Map<string, { prefix: string; width: number; nums: number[] }>();
  const plain: string[] = [];
  for (const name of new Set(names)) {
    const m = /^(.*?)(\d+)$/.exec(name);
    if (!m || m[2]!.length > 15 || /[[\],]/.test(m[1]!)) {
      plain.push(name);
      continue;
    }
    const digits = m[2]!;
    // Zero-padded numbers keep their width; unpadded numbers group by width 0.
    const width = digits.length > 1 && digits.startsWith('0') ? digits.length : 0;
    const key = `${m[1]!}\u0000${width}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { prefix: m[1]!, width, nums: [] }));
    g.nums.push(Number(digits));
  }
  const items: { sortKey: string; text: string }[] = plain.map((p) => ({ sortKey: p, text: p }));
  for (const g of groups.values()) {
    const nums = [...new Set(g.nums)].sort((a, b) => a - b);
    const fmt = (n: number) => String(n).padStart(g.width, '0');
    if (nums.length === 1) {
      items.push({ sortKey: g.prefix + fmt(nums[0]!), text: g.prefix + fmt(nums[0]!) });
      continue;
    }
    const ranges: string[] = [];
    let start = nums[0]!;
    let prev = start;
    for (let i = 1; i <= nums.length; i++) {
      const n = nums[i];
      if (n !== undefined && n === prev + 1) {
        prev = n;
        continue;
      }
      ranges.push(start === prev ? fmt(start) : `${fmt(start)}-${fmt(prev)}`);
      if (n !== undefined) start = prev = n;
    }
    items.push({ sortKey: g.prefix + fmt(nums[0]!), text: `${g.prefix}[${ranges.join(',')}]` });
  }
  items.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  return items.map((i) => i.text).join(',');
}
