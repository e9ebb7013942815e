import type { Claim, Reason } from '../../../shared/src/report/types.js';
import { diffEventLogs, parseEventLog } from '../../../shared/src/eventlog/index.js';
import type { EventChange } from '../../../shared/src/eventlog/index.js';
import { reason } from './codes.js';

export type PcrBanks = Record<string, Record<string, string>>;

export interface PcrEvidence {
  pcrs: PcrBanks;
  /** Base64 TCG event log, or null when the node could not read it. */
  eventLog: string | null;
}

/**
 * Explains changed PCRs from the two event logs: the event-level differences per PCR, or
 * `{ error }` with a code when the logs cannot be compared. The default is
 * `explainWithEventLogs` (shared/src/eventlog diffEventLogs); tests and callers may inject another.
 */
export type PcrExplainer = (
  baselineLog: string,
  currentLog: string,
  pcrs: number[],
) => { byPcr: Map<number, EventChange[]> } | { error: string };

/** How many event changes a reason carries (the rest are counted in the detail). */
export const MAX_EVENTS_PER_REASON = 20;

/** AR4SI claim of a PCR (TCG PC Client PFP: 0/2 code, 1/3/5/6/7 configuration, 4 boot manager code, 8+ OS). */
export function pcrClaim(pcr: number): Claim {
  if (pcr === 0 || pcr === 2) return 'firmware';
  if (pcr === 1 || pcr === 3 || pcr === 5 || pcr === 6 || pcr === 7 || pcr === 8) return 'configuration';
  return 'executables';
}

export const explainWithEventLogs: PcrExplainer = (baselineLog, currentLog, pcrs) => {
  try {
    const a = parseEventLog(Buffer.from(baselineLog, 'base64'));
    const b = parseEventLog(Buffer.from(currentLog, 'base64'));
    const d = diffEventLogs(a, b, pcrs);
    return { byPcr: new Map(d.pcrs.map((p) => [p.pcr, p.changes])) };
  } catch (e) {
    return { error: (e as { code?: string }).code ?? 'unreadable' };
  }
};

function pickBank(a: PcrBanks, b: PcrBanks): string | null {
  const common = Object.keys(a).filter((k) => k in b);
  if (common.includes('sha256')) return 'sha256';
  return common.sort()[0] ?? null;
}

/** One line, at most 80 characters (grub_cmd descriptions hold whole menu entries). */
function short(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 80 ? `${t.slice(0, 79)}…` : t;
}

function describe(c: EventChange): string {
  const what = c.description ? ` ${short(c.description)}` : '';
  if (c.kind === 'changed') return `${c.eventType}${what} digest changed`;
  return `${c.eventType}${what} ${c.kind}`;
}

/**
 * tpm.pcr_changed, one reason per PCR whose value differs (or that is quoted on one side only),
 * compared in sha256 when both sides have it, and one when a bank of the baseline is no longer quoted. When both event logs are present the reason's
 * detail names the differing events and `after.events` lists them (at most
 * MAX_EVENTS_PER_REASON); otherwise the reason carries the PCR index and old/new values only.
 */
export function diffPcrs(before: PcrEvidence, after: PcrEvidence, opts: { explain?: PcrExplainer } = {}): Reason[] {
  const bank = pickBank(before.pcrs, after.pcrs);
  if (bank === null) {
    const b = Object.keys(before.pcrs).sort();
    const a = Object.keys(after.pcrs).sort();
    return [
      reason(
        'tpm.pcr_changed',
        `quoted PCR banks changed (${b.join(',') || 'none'} → ${a.join(',') || 'none'})`,
        { banks: b },
        { banks: a },
      ),
    ];
  }
  // A bank the baseline was quoted in must still be quoted: else a node could fall back to a weaker
  // bank (sha1) that is compared in its place while the stronger one goes unchecked.
  const dropped = Object.keys(before.pcrs)
    .filter((b) => !(b in after.pcrs))
    .sort();
  const bankReasons =
    dropped.length === 0
      ? []
      : [
          reason(
            'tpm.pcr_changed',
            `quoted PCR banks changed: ${dropped.join(',')} no longer quoted (${Object.keys(before.pcrs).sort().join(',')} → ${Object.keys(after.pcrs).sort().join(',')})`,
            { banks: Object.keys(before.pcrs).sort() },
            { banks: Object.keys(after.pcrs).sort() },
          ),
        ];
  return [...bankReasons, ...diffBank(before, after, bank, opts)];
}

function diffBank(before: PcrEvidence, after: PcrEvidence, bank: string, opts: { explain?: PcrExplainer }): Reason[] {
  const old = before.pcrs[bank]!;
  const cur = after.pcrs[bank]!;
  const indices = [...new Set([...Object.keys(old), ...Object.keys(cur)])]
    .map(Number)
    .filter((i) => Number.isInteger(i))
    .sort((x, y) => x - y)
    .filter((i) => (old[String(i)] ?? null)?.toLowerCase() !== (cur[String(i)] ?? null)?.toLowerCase());
  if (indices.length === 0) return [];

  let explained: ReturnType<PcrExplainer> | null = null;
  if (before.eventLog && after.eventLog) explained = (opts.explain ?? explainWithEventLogs)(before.eventLog, after.eventLog, indices);

  return indices.map((pcr) => {
    const o = old[String(pcr)] ?? null;
    const n = cur[String(pcr)] ?? null;
    let detail = `PCR ${pcr} (${bank}) ${o === null ? 'newly quoted' : n === null ? 'no longer quoted' : 'changed'}`;
    const afterValue: { pcr: number; bank: string; value: string | null; events?: EventChange[]; explanation?: string } = {
      pcr,
      bank,
      value: n,
    };
    if (explained === null) {
      afterValue.explanation = 'event logs not available on both sides';
    } else if ('error' in explained) {
      afterValue.explanation = `event logs could not be compared (${explained.error})`;
      detail += `; ${afterValue.explanation}`;
    } else {
      const events = explained.byPcr.get(pcr) ?? [];
      afterValue.events = events.slice(0, MAX_EVENTS_PER_REASON);
      if (events.length === 0) detail += '; no differing event in the logs';
      else {
        const shown = events.slice(0, 3).map(describe).join('; ');
        detail += `: ${shown}${events.length > 3 ? `; +${events.length - 3} more` : ''}`;
      }
    }
    return reason('tpm.pcr_changed', detail, { pcr, bank, value: o }, afterValue, pcrClaim(pcr));
  });
}
