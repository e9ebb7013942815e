/**
 * Parser for `dmidecode -t 0,1,2,3` text (BIOS, System, Base Board, Chassis sections). Pure.
 * Returns `section -> key -> value` for the first structure of each section.
 */
export type DmiSections = Map<string, Map<string, string>>;

/** Placeholders vendors leave in SMBIOS strings; they carry no identity. */
const PLACEHOLDERS =
  /^(to be filled by o\.?e\.?m\.?|default string|not specified|none|n\/a|0123456789|system serial number|system product name|chassis serial number|base board serial number|not applicable|123456789|<bad index>|not present)$/i;

export function parseDmidecode(text: string): DmiSections {
  const out: DmiSections = new Map();
  let current: Map<string, string> | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('Handle ')) {
      current = null;
      continue;
    }
    if (line.trim() === '') continue;
    if (!line.startsWith('\t') && !line.startsWith(' ')) {
      // Section title (e.g. "BIOS Information"); only the first structure of each kind is kept.
      if (out.has(line.trim())) current = null;
      else {
        current = new Map();
        out.set(line.trim(), current);
      }
      continue;
    }
    if (!current || line.startsWith('\t\t')) continue;
    const i = line.indexOf(':');
    if (i < 0) continue;
    const key = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (!current.has(key)) current.set(key, value);
  }
  return out;
}

/** A DMI string value, or null for empty and placeholder strings. */
export function dmiValue(v: string | undefined | null): string | null {
  if (v === undefined || v === null) return null;
  const t = v.trim();
  if (t === '' || PLACEHOLDERS.test(t)) return null;
  return t;
}
