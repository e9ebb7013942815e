import type { Reason, TrustStatus } from '../../../shared/src/report/types.js';
import { effectiveVerdict } from '../pipeline/verdict.js';
import type { ChangeRecord, NodeRecord } from '../store/store.js';
import type { AlertEvent } from './payload.js';

/**
 * The alert cursor of one node: what its alerts have told so far. Alerts are derived from what
 * the store committed (the node row and its change rows) past this cursor, so an alert whose
 * event was lost (the collector died between the store's commit and the outbox insert) is
 * found again at the next start. Pure: the clock and freshness TTL are passed in.
 */
export interface AlertCursor {
  /**
   * `${status} ${codes}` of the last effective status alerted; null = never alerted;
   * ADOPT = take the current status without alerting (nodes that existed before the cursor).
   */
  statusKey: string | null;
  /** Highest report seq whose drift changes were alerted. */
  driftSeq: number;
}

export const ADOPT = '?';

/** The trust cache's publish key (trust/cache.ts): status and reason codes. */
export function statusKey(status: TrustStatus, codes: readonly string[]): string {
  return `${status} ${codes.join(',')}`;
}

/**
 * Alerts for everything committed past the cursor, oldest first (drift, then the status it led
 * to), and the cursor that covers them. `changes`: the node's change rows with seq > driftSeq,
 * in id order. `at`: when the triggering event said it happened (else `now`).
 */
export function deriveAlerts(
  cursor: AlertCursor,
  nodeId: string,
  node: NodeRecord | null,
  changes: readonly ChangeRecord[],
  now: number,
  ttlSec: number,
  at?: string,
): { events: AlertEvent[]; next: AlertCursor } {
  const events: AlertEvent[] = [];
  let driftSeq = cursor.driftSeq;
  for (const c of changes) {
    if (c.seq <= cursor.driftSeq) continue;
    const last = events[events.length - 1];
    const reason: Reason = {
      code: c.code,
      claim: c.claim as Reason['claim'],
      detail: c.detail,
      ...(c.before !== null ? { before: c.before } : {}),
      ...(c.after !== null ? { after: c.after } : {}),
    };
    if (last?.kind === 'drift' && last.seq === c.seq) last.reasons.push(reason);
    else events.push({ kind: 'drift', nodeId, seq: c.seq, reasons: [reason], at: c.at });
    driftSeq = Math.max(driftSeq, c.seq);
  }
  let key = cursor.statusKey;
  if (node) {
    const v = effectiveVerdict(node, now, ttlSec);
    const k = statusKey(
      v.status,
      v.reasons.map((r) => r.code),
    );
    // A node that only said hello has no verdict yet: nothing to tell (as the trust cache).
    const silent = cursor.statusKey === ADOPT || (cursor.statusKey === null && node.verifiedAt === null && node.revokedAt === null);
    if (silent) key = cursor.statusKey === ADOPT ? k : null;
    else if (k !== cursor.statusKey) {
      const from = cursor.statusKey === null ? null : (cursor.statusKey.split(' ', 1)[0] as TrustStatus);
      events.push({ kind: 'status-changed', nodeId, from, to: v.status, reasons: v.reasons, at: at ?? new Date(now).toISOString() });
      key = k;
    }
  }
  return { events, next: { statusKey: key, driftSeq } };
}
