/** WebSocket endpoint codes (upgrade refusals, hello, connection limits). */
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

/** WebSocket close codes used with the errors above (RFC 6455 §7.4). */
export const CLOSE_POLICY = 1008;
export const CLOSE_TOO_BIG = 1009;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_INTERNAL = 1011;
