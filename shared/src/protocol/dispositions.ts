import { ERR_CONFIG, ERR_INTERNAL, ERR_SCHEMA, ERR_USAGE } from '../errors.js';
import * as C from './codes.js';

/**
 * What an agent does after the collector answers with a code:
 * - `retry`: transient; the same collector, after the usual backoff.
 * - `move`: this collector cannot serve us now (shutting down, full, misaddressed); the next URL.
 * - `refused`: this node's identity is refused (revoked, not enrolled, key not accepted): a long
 *   backoff that grows to its cap, never a tight loop; the operator has to act.
 * - `drop`: the report itself is bad (or already stored); it is removed from the spool, not resent.
 */
export type Disposition = 'retry' | 'move' | 'refused' | 'drop';

/** Codes with a disposition of their own. */
const BY_CODE: Readonly<Record<string, Disposition>> = {
  [ERR_INTERNAL]: 'retry',
  [C.ERR_WS_RATE_LIMIT]: 'retry',
  [C.ERR_WS_TOO_MANY_ERRORS]: 'retry',
  [C.ERR_WS_UNPROVEN_TIMEOUT]: 'retry',
  [C.ERR_WS_UNPROVEN_LIMIT]: 'retry',
  [C.ERR_HELLO_TIMEOUT]: 'retry',
  [C.ERR_HELLO_REQUIRED]: 'retry',
  [C.ERR_HELLO_REPEATED]: 'retry',
  [C.ERR_ENROLL_CHALLENGE_EXPIRED]: 'retry',
  [C.ERR_ENROLL_REPLAY]: 'retry',
  [C.ERR_ENROLL_ACTIVATION]: 'refused',
  [C.ERR_ENROLL_KEY_ROTATION]: 'drop',
  [C.ERR_ENROLL_CA_DIR]: 'move',
  // The agent's own message did not parse: a bug or a version skew, not this report's content.
  ERR_MSG_JSON: 'retry',
  ERR_MSG_SCHEMA: 'retry',
  [ERR_SCHEMA]: 'retry',
  [ERR_CONFIG]: 'move',
  [ERR_USAGE]: 'move',
  ERR_NODE_NOT_CONNECTED: 'retry',
  [C.ERR_WS_SHUTDOWN]: 'move',
  [C.ERR_WS_CAPACITY]: 'move',
  [C.ERR_WS_PATH]: 'move',
  [C.ERR_WS_SUBPROTOCOL]: 'move',
  [C.ERR_WS_ORIGIN]: 'move',
  [C.ERR_NODE_REVOKED]: 'refused',
  [C.ERR_HELLO_KEY]: 'refused',
  [C.ERR_HELLO_KEY_MISMATCH]: 'refused',
  [C.ERR_WS_FRAME_TOO_LARGE]: 'drop',
  [C.ERR_WS_BINARY]: 'drop',
  // A duplicate (node, seq) is already stored: done, as far as the spool is concerned.
  ERR_STORE_DUPLICATE_SEQ: 'drop',
  // An upgrade refused by access control: the agent's credentials are not accepted.
  ERR_HTTP_UNAUTHORIZED: 'refused',
  ERR_HTTP_FORBIDDEN: 'refused',
  // The collector cannot reach its database: another collector may.
  ERR_STORE_OPEN: 'move',
  ERR_STORE_CLOSED: 'move',
};

/**
 * Areas whose every code has one disposition (a code listed above wins), by the area's name in
 * the code: ERR_<AREA>_...
 */
const BY_AREA: ReadonlyArray<readonly [area: string, d: Disposition]> = [
  ['REPORT', 'drop'],
  ['JWS', 'drop'],
  ['TPM', 'drop'],
  ['EVENTLOG', 'drop'],
  ['CREDENTIAL', 'refused'],
  ['ENROLL', 'refused'],
  // Access control on the enrolment path (the node or its token not allowed).
  ['AUTH', 'refused'],
  ['STORE', 'retry'],
  // Approval lives in the same acceptance service; it answers operators, not agents (transient if it ever did).
  ['APPROVE', 'retry'],
  // The HTTP edge (an upgrade refused before the WebSocket opens) and operator-API codes that share
  // its modules: an agent never caused them, so it tries again later.
  ['HTTP', 'retry'],
  ['SSE', 'retry'],
  ['HOSTLIST', 'retry'],
  ['NODES', 'retry'],
  ['TRUST', 'retry'],
];

/** The disposition of a code the collector sends, or undefined for a code this protocol does not know. */
export function dispositionOf(code: string): Disposition | undefined {
  const own = BY_CODE[code];
  if (own) return own;
  return BY_AREA.find(([area]) => code.startsWith(`ERR_${area}_`))?.[1];
}

/** What the agent does with any code: an unknown one (a newer collector) is treated as transient. */
export function agentDisposition(code: string): Disposition {
  return dispositionOf(code) ?? 'retry';
}

/** For a `refused` code: what the operator has to do (logged once per change by the agent). */
export function operatorStep(code: string): string {
  switch (code) {
    case C.ERR_NODE_REVOKED:
    case C.ERR_ENROLL_REVOKED:
      return 'this node was revoked: issue an enrolment token (nodeseal enroll-token) and restart the agent with --enroll-token to re-enrol it';
    case C.ERR_HELLO_KEY_MISMATCH:
      return "the collector has this node id pinned to another key: restore the agent's state directory, or revoke the node and re-enrol it";
    case C.ERR_ENROLL_TOKEN_REQUIRED:
    case C.ERR_ENROLL_NOT_ENROLLED:
      return 'the collector requires enrolment: issue a token (nodeseal enroll-token) and restart the agent with --enroll-token';
    case C.ERR_ENROLL_TOKEN_INVALID:
    case C.ERR_ENROLL_TOKEN_EXPIRED:
    case C.ERR_ENROLL_TOKEN_USED:
    case C.ERR_ENROLL_TOKEN_NODE:
    case C.ERR_ENROLL_TOKEN_INPUT:
      return 'the enrolment token was not accepted: issue a new one for this node id and restart the agent with it';
    default:
      return /^ERR_(ENROLL_EK|CREDENTIAL)_/.test(code)
        ? "the TPM's endorsement key was not accepted: check the collector's EK CA directory and this host's TPM"
        : 'the collector refused this node: see docs/errors.md for the code and fix it on the collector or the agent';
  }
}
