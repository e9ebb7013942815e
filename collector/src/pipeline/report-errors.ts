import { areaError } from '../../../shared/src/errors.js';

/** Freshness and attribution failures of a report (the JWS and schema have their own codes). */
export const ERR_REPORT_NODE_MISMATCH = 'ERR_REPORT_NODE_MISMATCH';
export const ERR_REPORT_SEQ = 'ERR_REPORT_SEQ';
export const ERR_REPORT_REPLAY = 'ERR_REPORT_REPLAY';
export const ERR_REPORT_NONCE_REUSED = 'ERR_REPORT_NONCE_REUSED';
export const ERR_REPORT_DIGEST = 'ERR_REPORT_DIGEST';

export class ReportError extends areaError('ReportError') {}
