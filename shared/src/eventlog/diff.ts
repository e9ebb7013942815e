import { describeEvent } from './event-data.js';
import { ERR_EVENTLOG_NO_COMMON_BANK, EventLogError } from './errors.js';
import { isExtended } from './pcr-bank.js';
import type { AnyEventLog, EventLogEvent } from './types.js';

/** One event-level difference in a PCR between two logs. */
export interface EventChange {
  kind: 'added' | 'removed' | 'changed';
  pcr: number;
  /** Record index in the baseline / current log (null for added / removed). */
  oldIndex: number | null;
  newIndex: number | null;
  eventType: string;
  oldDigest: string | null;
  newDigest: string | null;
  /** What was measured: UEFI variable name, application path, action text. */
  description: string;
}

export interface EventLogDiff {
  bank: string;
  pcrs: Array<{ pcr: number; changes: EventChange[] }>;
}

/** Longest run compared per PCR; longer tails are compared position by position. */
const MAX_LCS = 1000;

function key(e: EventLogEvent, bank: string): string {
  return `${e.type}:${e.digests[bank]?.toString('hex') ?? ''}`;
}

function lcsPairs(a: string[], b: string[]): Array<[number, number]> {
  const n = Math.min(a.length, MAX_LCS);
  const m = Math.min(b.length, MAX_LCS);
  const dp = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      dp[i * (m + 1) + j] =
        a[i] === b[j] ? dp[(i + 1) * (m + 1) + j + 1]! + 1 : Math.max(dp[(i + 1) * (m + 1) + j]!, dp[i * (m + 1) + j + 1]!);
  const pairs: Array<[number, number]> = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      pairs.push([i++, j++]);
    } else if (dp[(i + 1) * (m + 1) + j]! >= dp[i * (m + 1) + j + 1]!) i++;
    else j++;
  }
  return pairs;
}

function pickBank(a: AnyEventLog, b: AnyEventLog, bank?: string): string {
  const common = a.banks.filter((x) => b.banks.includes(x));
  if (bank && common.includes(bank)) return bank;
  if (!bank && common.length > 0) return common.includes('sha256') ? 'sha256' : common[0]!;
  throw new EventLogError(
    ERR_EVENTLOG_NO_COMMON_BANK,
    `the two logs share no bank${bank ? ` ${bank}` : ''} (${a.banks.join(',')} vs ${b.banks.join(',')})`,
    { details: { baseline: a.banks, current: b.banks } },
  );
}

/**
 * Explains PCR changes event by event: for each PCR in `pcrIndices`, the measured events of the
 * two logs are aligned (longest common subsequence on type + digest) and the rest reported as
 * added, removed, or changed (same position, same type, new digest). Uses sha256 when both
 * logs carry it, else the first common bank (or `opts.bank`). Pure.
 */
export function diffEventLogs(
  baseline: AnyEventLog,
  current: AnyEventLog,
  pcrIndices: number[],
  opts: { bank?: string } = {},
): EventLogDiff {
  const bank = pickBank(baseline, current, opts.bank);
  const out: EventLogDiff = { bank, pcrs: [] };
  for (const pcr of [...new Set(pcrIndices)].sort((x, y) => x - y)) {
    const a = baseline.events.filter((e) => e.pcr === pcr && isExtended(e));
    const b = current.events.filter((e) => e.pcr === pcr && isExtended(e));
    const pairs = lcsPairs(
      a.map((e) => key(e, bank)),
      b.map((e) => key(e, bank)),
    );
    pairs.push([a.length, b.length]);
    const changes: EventChange[] = [];
    let i = 0;
    let j = 0;
    for (const [pi, pj] of pairs) {
      const removed = a.slice(i, pi);
      const added = b.slice(j, pj);
      const n = Math.max(removed.length, added.length);
      for (let k = 0; k < n; k++) {
        const o = removed[k];
        const c = added[k];
        if (o && c && o.type === c.type) {
          changes.push({
            kind: 'changed',
            pcr,
            oldIndex: o.index,
            newIndex: c.index,
            eventType: c.typeName,
            oldDigest: hex(o, bank),
            newDigest: hex(c, bank),
            description: describeEvent(c),
          });
          continue;
        }
        if (o)
          changes.push({
            kind: 'removed',
            pcr,
            oldIndex: o.index,
            newIndex: null,
            eventType: o.typeName,
            oldDigest: hex(o, bank),
            newDigest: null,
            description: describeEvent(o),
          });
        if (c)
          changes.push({
            kind: 'added',
            pcr,
            oldIndex: null,
            newIndex: c.index,
            eventType: c.typeName,
            oldDigest: null,
            newDigest: hex(c, bank),
            description: describeEvent(c),
          });
      }
      i = pi + 1;
      j = pj + 1;
    }
    if (changes.length > 0) out.pcrs.push({ pcr, changes });
  }
  return out;
}

function hex(e: EventLogEvent, bank: string): string | null {
  return e.digests[bank]?.toString('hex') ?? null;
}
