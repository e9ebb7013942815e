/**
 * Pairs baseline and current devices by natural keys, tried in order. A key value is used only
 * when it is present and unique on both sides (masked serials such as "0" or repeated
 * placeholder UUIDs would otherwise pair the wrong devices).
 */
export type KeyFn<T> = (x: T) => string | null;

export interface Matched<T> {
  pairs: Array<{ before: T; after: T; key: string }>;
  removed: T[];
  added: T[];
}

const PLACEHOLDER =
  /^(n\/a|none|unknown|not specified|to be filled by o\.e\.m\.|default string|0+|[0:-]+|0x0+|gpu-0{8}-0{4}-0{4}-0{4}-0{12})$/i;

/** A usable identifier: non-empty and not a well-known placeholder. */
export function ident(v: string | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  const t = v.trim();
  return t === '' || PLACEHOLDER.test(t) ? null : t;
}

function uniqueIndex<T>(items: T[], key: KeyFn<T>): Map<string, T> {
  const seen = new Map<string, T>();
  const dup = new Set<string>();
  for (const x of items) {
    const k = key(x);
    if (k === null) continue;
    if (seen.has(k)) dup.add(k);
    else seen.set(k, x);
  }
  for (const k of dup) seen.delete(k);
  return seen;
}

export function matchDevices<T>(before: readonly T[], after: readonly T[], keys: ReadonlyArray<KeyFn<T>>): Matched<T> {
  let restB = [...before];
  let restA = [...after];
  const pairs: Matched<T>['pairs'] = [];
  for (const key of keys) {
    const idxB = uniqueIndex(restB, key);
    const idxA = uniqueIndex(restA, key);
    const usedB = new Set<T>();
    const usedA = new Set<T>();
    for (const [k, b] of idxB) {
      const a = idxA.get(k);
      if (a === undefined) continue;
      pairs.push({ before: b, after: a, key: k });
      usedB.add(b);
      usedA.add(a);
    }
    restB = restB.filter((x) => !usedB.has(x));
    restA = restA.filter((x) => !usedA.has(x));
  }
  return { pairs, removed: restB, added: restA };
}

/** Normalise a PCI address: lowercase, 4-digit domain ("00000000:3B:00.0" → "0000:3b:00.0"). */
export function pciAddr(v: string | null | undefined): string | null {
  if (!v) return null;
  const m = /^(?:([0-9a-f]+):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$/i.exec(v.trim());
  if (!m) return v.trim().toLowerCase();
  const dom = (m[1] ?? '0')
    .replace(/^0+(?=.)/, '')
    .padStart(4, '0')
    .toLowerCase();
  return `${dom}:${m[2]!.padStart(2, '0').toLowerCase()}:${m[3]!.padStart(2, '0').toLowerCase()}.${m[4]}`;
}
