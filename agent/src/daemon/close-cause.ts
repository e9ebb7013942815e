import { CLOSE_ABNORMAL, CLOSE_GOING_AWAY } from '../../../shared/src/protocol/codes.js';
import { agentDisposition, type Disposition } from '../../../shared/src/protocol/dispositions.js';
import { ERR_AGENT_CONNECT, ERR_AGENT_CONNECTION_LOST } from './errors.js';
import type { StateError } from './state.js';

/** How a connection came to end, as far as the socket shell saw it. */
export interface Ending {
  /** The agent ended it (heartbeat, answer timeout, a `retry` code, key rotated). */
  agent?: { error: StateError; disposition: Disposition };
  /** The upgrade was refused with an HTTP status (and the body's code, when it had one). */
  refusal?: { status: number; code: string | null };
}

/** Why a connection ended and where the next attempt goes. */
export interface CloseCause {
  error: StateError;
  /** retry (same collector), move (next URL) or refused (long backoff); never drop. */
  disposition: Exclude<Disposition, 'drop'>;
  opened: boolean;
}

/**
 * The cause of a closed connection, from most to least specific: the agent's own reason; a
 * refused upgrade's code; the collector's close reason or its last coded error; a connection that
 * never opened (move on); a connection lost without a close frame or with "going away" (move on);
 * any other close (retry). A `drop` code ends a report, not the collector: the next attempt
 * goes to the same one.
 */
export function closeCause(c: {
  opened: boolean;
  closeCode: number;
  reason: string;
  ending: Ending | null;
  lastError: StateError | null;
  connectError: string | null;
}): CloseCause {
  const coded = (error: StateError, d: Disposition = agentDisposition(error.code)): CloseCause => ({
    error,
    disposition: d === 'drop' ? 'retry' : d,
    opened: c.opened,
  });
  if (c.ending?.agent) return coded(c.ending.agent.error, c.ending.agent.disposition);
  const refusal = c.ending?.refusal;
  if (refusal) {
    const message = `the collector refused the upgrade (HTTP ${refusal.status})`;
    // A refused upgrade without a code of ours is not a nodeseal collector at this URL.
    return refusal.code ? coded({ code: refusal.code, message }) : coded({ code: ERR_AGENT_CONNECT, message }, 'move');
  }
  const reasonCode = /^ERR_[A-Z0-9_]+$/.test(c.reason) ? c.reason : null;
  const last = c.lastError && agentDisposition(c.lastError.code) !== 'drop' ? c.lastError : null;
  if (reasonCode)
    return coded({
      code: reasonCode,
      message: c.lastError?.code === reasonCode ? c.lastError.message : `connection closed (${c.closeCode} ${reasonCode})`,
    });
  if (last) return coded(last);
  if (!c.opened) return coded({ code: ERR_AGENT_CONNECT, message: `cannot connect: ${c.connectError ?? `close ${c.closeCode}`}` }, 'move');
  const lost = c.closeCode === CLOSE_ABNORMAL || c.closeCode === CLOSE_GOING_AWAY;
  return coded(
    { code: ERR_AGENT_CONNECTION_LOST, message: `connection closed (${c.closeCode}${c.reason ? ` ${c.reason}` : ''})` },
    lost ? 'move' : 'retry',
  );
}
