import type { HashName } from '../tpm/alg.js';
import { ERR_EVENTLOG_NO_COMMON_BANK, ERR_EVENTLOG_REPLAY, EventLogError } from './errors.js';
import { isExtended, replayBank } from './pcr-bank.js';
import type { AnyEventLog, EventLogEvent, UnverifiedEventLog, VerifiedEventLog } from './types.js';
import { WORKAROUNDS, type Workaround } from './workarounds.js';

/** Per bank: PCRs whose replay equals the quote, those that differ, and log PCRs the quote did not cover. */
export interface BankReplay {
  matched: number[];
  differed: Array<{ pcr: number; replayed: string; quoted: string }>;
  notQuoted: number[];
}

export type ReplayResult =
  | { ok: true; log: VerifiedEventLog; banks: Record<string, BankReplay>; workaround: string | null }
  | { ok: false; error: EventLogError; banks: Record<string, BankReplay> };

/** The PCR values the log replays to, per bank it carries: `{ sha256: { "0": hex, ... } }`. */
export function computePcrs(log: AnyEventLog): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const bank of log.banks) out[bank] = replayBank(bank as HashName, log.events, log.startupLocality);
  return out;
}

function compare(
  log: AnyEventLog,
  events: readonly EventLogEvent[],
  quoted: Record<string, Record<string, string>>,
): Record<string, BankReplay> {
  const banks: Record<string, BankReplay> = {};
  for (const bank of log.banks) {
    const q = Object.hasOwn(quoted, bank) ? quoted[bank] : undefined;
    if (!q) continue;
    const replayed = replayBank(bank as HashName, events, log.startupLocality);
    const res: BankReplay = { matched: [], differed: [], notQuoted: [] };
    for (const [k, v] of Object.entries(replayed)) {
      const qv = Object.hasOwn(q, k) ? q[k] : undefined;
      if (typeof qv !== 'string') res.notQuoted.push(Number(k));
      else if (qv.toLowerCase() === v) res.matched.push(Number(k));
      else res.differed.push({ pcr: Number(k), replayed: v, quoted: qv.toLowerCase() });
    }
    banks[bank] = res;
  }
  return banks;
}

function differing(banks: Record<string, BankReplay>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [b, r] of Object.entries(banks)) if (r.differed.length > 0) out[b] = r.differed.map((d) => d.pcr);
  return out;
}

function verified(
  log: AnyEventLog,
  events: readonly EventLogEvent[],
  banks: Record<string, BankReplay>,
  workaround: Workaround | null,
): VerifiedEventLog {
  const verifiedPcrs: Record<string, number[]> = {};
  for (const [b, r] of Object.entries(banks)) verifiedPcrs[b] = [...r.matched].sort((x, y) => x - y);
  // An event is trusted only when its PCR matched in every bank that was compared.
  const ok = (pcr: number) => Object.values(verifiedPcrs).every((list) => list.includes(pcr));
  const kept = events.filter((e) => isExtended(e) && ok(e.pcr));
  return {
    ...log,
    events: kept,
    trust: 'verified',
    verifiedPcrs,
    workaround: workaround ? workaround.id : null,
  } as unknown as VerifiedEventLog;
}

/**
 * Replays the log against quoted PCR values (which must come from a verified quote) for every
 * bank both carry. All compared PCRs must match; when the strict replay fails, the vendor
 * workarounds (workarounds.ts) are tried in order. On success the result carries a
 * VerifiedEventLog holding only the events of PCRs that matched: the only log from which
 * Secure Boot state may be read.
 */
export function replay(log: UnverifiedEventLog | VerifiedEventLog, quotedPcrs: Record<string, Record<string, string>>): ReplayResult {
  const banks = compare(log, log.events, quotedPcrs);
  const compared = Object.values(banks).reduce((n, b) => n + b.matched.length + b.differed.length, 0);
  if (compared === 0) {
    return {
      ok: false,
      banks,
      error: new EventLogError(
        ERR_EVENTLOG_NO_COMMON_BANK,
        `no PCR of the log's banks (${log.banks.join(', ')}) is in the quote (${Object.keys(quotedPcrs).join(', ') || 'none'})`,
        {
          details: { logBanks: log.banks, quotedBanks: Object.keys(quotedPcrs) },
        },
      ),
    };
  }
  const diff = differing(banks);
  if (Object.keys(diff).length === 0) return { ok: true, log: verified(log, log.events, banks, null), banks, workaround: null };
  for (const w of WORKAROUNDS) {
    const extra = w.apply(log, diff);
    if (!extra) continue;
    const events = [...log.events, ...extra];
    const again = compare(log, events, quotedPcrs);
    if (Object.keys(differing(again)).length === 0)
      return { ok: true, log: verified(log, events, again, w), banks: again, workaround: w.id };
  }
  return {
    ok: false,
    banks,
    error: new EventLogError(
      ERR_EVENTLOG_REPLAY,
      `event log does not replay to the quoted PCRs: ${Object.entries(diff)
        .map(([b, p]) => `${b}:${p.join(',')}`)
        .join(' ')}`,
      {
        details: { differing: diff },
      },
    ),
  };
}
