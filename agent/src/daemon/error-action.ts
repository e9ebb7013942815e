import { ERR_HELLO_KEY_MISMATCH } from '../../../shared/src/protocol/codes.js';
import { agentDisposition, type Disposition } from '../../../shared/src/protocol/dispositions.js';

/** What the daemon does with a coded error from the collector. */
export type ErrorAction =
  /** The announced key was pinned but its verdict lost: switch keys and say hello again. */
  | { kind: 'promote' }
  /** Remove the report `seq` from the spool: the collector will never accept it. */
  | { kind: 'drop'; seq: number }
  /** End the connection; `disposition` says where the next attempt goes. */
  | { kind: 'end'; disposition: Exclude<Disposition, 'drop'> }
  /** About no report in flight (or only informative): nothing more. */
  | { kind: 'none' };

/**
 * Pure: the action for an error `{code, seq?}` given the report in flight and a pending key
 * announcement; `settlesRotation` when it answers the announcing report.
 */
export function errorAction(
  e: { code: string; seq?: number | undefined },
  ctx: { inFlight: number | null; announcedSeq: number | null; rotating: boolean },
): { action: ErrorAction; disposition: Disposition; settlesRotation: boolean } {
  const disposition = agentDisposition(e.code);
  if (ctx.rotating && ctx.announcedSeq !== null && e.code === ERR_HELLO_KEY_MISMATCH)
    return { action: { kind: 'promote' }, disposition, settlesRotation: false };
  const settlesRotation = e.seq !== undefined && e.seq === ctx.announcedSeq;
  const about = e.seq ?? (disposition === 'drop' ? ctx.inFlight : null);
  if (about === null || about !== ctx.inFlight) return { action: { kind: 'none' }, disposition, settlesRotation };
  return {
    action: disposition === 'drop' ? { kind: 'drop', seq: about } : { kind: 'end', disposition },
    disposition,
    settlesRotation,
  };
}
