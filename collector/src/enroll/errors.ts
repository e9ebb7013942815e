import { NodesealError } from '../../../shared/src/errors.js';

/**
 * Enrolment refusals. Each attack the enrolment must stop has its own code; every refusal
 * leaves the stored state as it was.
 */
export const ERR_ENROLL_TOKEN_REQUIRED = 'ERR_ENROLL_TOKEN_REQUIRED';
export const ERR_ENROLL_TOKEN_INVALID = 'ERR_ENROLL_TOKEN_INVALID';
export const ERR_ENROLL_TOKEN_EXPIRED = 'ERR_ENROLL_TOKEN_EXPIRED';
export const ERR_ENROLL_TOKEN_USED = 'ERR_ENROLL_TOKEN_USED';
export const ERR_ENROLL_TOKEN_NODE = 'ERR_ENROLL_TOKEN_NODE';
export const ERR_ENROLL_TOKEN_INPUT = 'ERR_ENROLL_TOKEN_INPUT';
export const ERR_ENROLL_EK_CERT_UNTRUSTED = 'ERR_ENROLL_EK_CERT_UNTRUSTED';
export const ERR_ENROLL_EK_CERT_MISMATCH = 'ERR_ENROLL_EK_CERT_MISMATCH';
export const ERR_ENROLL_EK_CERT_MISSING = 'ERR_ENROLL_EK_CERT_MISSING';
export const ERR_ENROLL_EK_CERT_PARSE = 'ERR_ENROLL_EK_CERT_PARSE';
export const ERR_ENROLL_CA_DIR = 'ERR_ENROLL_CA_DIR';
export const ERR_ENROLL_KEY_ATTRIBUTES = 'ERR_ENROLL_KEY_ATTRIBUTES';
export const ERR_ENROLL_ACTIVATION = 'ERR_ENROLL_ACTIVATION';
export const ERR_ENROLL_REPLAY = 'ERR_ENROLL_REPLAY';
export const ERR_ENROLL_CHALLENGE_EXPIRED = 'ERR_ENROLL_CHALLENGE_EXPIRED';
export const ERR_ENROLL_NODE_CLAIMED = 'ERR_ENROLL_NODE_CLAIMED';
export const ERR_ENROLL_REVOKED = 'ERR_ENROLL_REVOKED';
export const ERR_ENROLL_NOT_ENROLLED = 'ERR_ENROLL_NOT_ENROLLED';
export const ERR_ENROLL_INPUT = 'ERR_ENROLL_INPUT';
export const ERR_ENROLL_KEY_ROTATION = 'ERR_ENROLL_KEY_ROTATION';
export const ERR_ENROLL_AK_CHANGED = 'ERR_ENROLL_AK_CHANGED';

export class EnrollError extends NodesealError {
  constructor(code: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(code, message, options);
    this.name = 'EnrollError';
  }
}
