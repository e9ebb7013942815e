/**
 * The codes the collector sends an agent over the wire: in `{type:'error'}` messages, as the
 * WebSocket close reason, and in the JSON body of a refused upgrade. Defined here once; the
 * collector's ws/errors.ts, pipeline/report-errors.ts and enroll/errors.ts re-export them, and the
 * agent reads their disposition from protocol/dispositions.ts instead of matching literals.
 */

/** WebSocket endpoint: upgrade refusals, hello, connection limits. */
export const ERR_WS_PATH = 'ERR_WS_PATH';
export const ERR_WS_SUBPROTOCOL = 'ERR_WS_SUBPROTOCOL';
export const ERR_WS_ORIGIN = 'ERR_WS_ORIGIN';
export const ERR_WS_CAPACITY = 'ERR_WS_CAPACITY';
export const ERR_WS_RATE_LIMIT = 'ERR_WS_RATE_LIMIT';
export const ERR_WS_FRAME_TOO_LARGE = 'ERR_WS_FRAME_TOO_LARGE';
export const ERR_WS_BINARY = 'ERR_WS_BINARY';
export const ERR_WS_TOO_MANY_ERRORS = 'ERR_WS_TOO_MANY_ERRORS';
export const ERR_WS_SHUTDOWN = 'ERR_WS_SHUTDOWN';
export const ERR_HELLO_TIMEOUT = 'ERR_HELLO_TIMEOUT';
export const ERR_HELLO_REQUIRED = 'ERR_HELLO_REQUIRED';
export const ERR_HELLO_REPEATED = 'ERR_HELLO_REPEATED';
export const ERR_HELLO_KEY = 'ERR_HELLO_KEY';
export const ERR_HELLO_KEY_MISMATCH = 'ERR_HELLO_KEY_MISMATCH';
export const ERR_NODE_REVOKED = 'ERR_NODE_REVOKED';
export const ERR_WS_UNPROVEN_TIMEOUT = 'ERR_WS_UNPROVEN_TIMEOUT';
export const ERR_WS_UNPROVEN_LIMIT = 'ERR_WS_UNPROVEN_LIMIT';

/** Freshness and attribution failures of a report (the JWS and schema have their own codes). */
export const ERR_REPORT_NODE_MISMATCH = 'ERR_REPORT_NODE_MISMATCH';
export const ERR_REPORT_SEQ = 'ERR_REPORT_SEQ';
export const ERR_REPORT_REPLAY = 'ERR_REPORT_REPLAY';
export const ERR_REPORT_NONCE_REUSED = 'ERR_REPORT_NONCE_REUSED';
export const ERR_REPORT_DIGEST = 'ERR_REPORT_DIGEST';

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

/** WebSocket close codes the collector uses with the errors above (RFC 6455 §7.4). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
/** No close frame at all (the peer died or the network dropped): never sent, only observed. */
export const CLOSE_ABNORMAL = 1006;
export const CLOSE_POLICY = 1008;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_INTERNAL = 1011;
