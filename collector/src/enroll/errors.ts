import { areaError } from '../../../shared/src/errors.js';

/**
 * Enrolment refusals. Each attack the enrolment must stop has its own code; every refusal
 * leaves the stored state as it was. The codes are part of the wire protocol
 * (shared/src/protocol/codes.ts), where the agent reads each one's disposition.
 */
export {
  ERR_ENROLL_TOKEN_REQUIRED,
  ERR_ENROLL_TOKEN_INVALID,
  ERR_ENROLL_TOKEN_EXPIRED,
  ERR_ENROLL_TOKEN_USED,
  ERR_ENROLL_TOKEN_NODE,
  ERR_ENROLL_TOKEN_INPUT,
  ERR_ENROLL_EK_CERT_UNTRUSTED,
  ERR_ENROLL_EK_CERT_MISMATCH,
  ERR_ENROLL_EK_CERT_MISSING,
  ERR_ENROLL_EK_CERT_PARSE,
  ERR_ENROLL_CA_DIR,
  ERR_ENROLL_KEY_ATTRIBUTES,
  ERR_ENROLL_ACTIVATION,
  ERR_ENROLL_REPLAY,
  ERR_ENROLL_CHALLENGE_EXPIRED,
  ERR_ENROLL_NODE_CLAIMED,
  ERR_ENROLL_REVOKED,
  ERR_ENROLL_NOT_ENROLLED,
  ERR_ENROLL_INPUT,
  ERR_ENROLL_KEY_ROTATION,
  ERR_ENROLL_AK_CHANGED,
} from '../../../shared/src/protocol/codes.js';

export class EnrollError extends areaError('EnrollError') {}
