import { areaError } from '../../../shared/src/errors.js';

/**
 * Freshness and attribution failures of a report (the JWS and schema have their own codes). The
 * codes are part of the wire protocol (shared/src/protocol/codes.ts), where the agent reads each
 * one's disposition.
 */
export {
  ERR_REPORT_NODE_MISMATCH,
  ERR_REPORT_SEQ,
  ERR_REPORT_REPLAY,
  ERR_REPORT_NONCE_REUSED,
  ERR_REPORT_DIGEST,
} from '../../../shared/src/protocol/codes.js';

export class ReportError extends areaError('ReportError') {}
