/**
 * WebSocket endpoint codes (upgrade refusals, hello, connection limits) and the close codes used
 * with them. They are part of the wire protocol, defined in shared/src/protocol/codes.ts, where
 * the agent reads each one's disposition.
 */
export {
  ERR_WS_PATH,
  ERR_WS_SUBPROTOCOL,
  ERR_WS_ORIGIN,
  ERR_WS_CAPACITY,
  ERR_WS_RATE_LIMIT,
  ERR_WS_FRAME_TOO_LARGE,
  ERR_WS_BINARY,
  ERR_WS_TOO_MANY_ERRORS,
  ERR_WS_SHUTDOWN,
  ERR_HELLO_TIMEOUT,
  ERR_HELLO_REQUIRED,
  ERR_HELLO_REPEATED,
  ERR_HELLO_KEY,
  ERR_HELLO_KEY_MISMATCH,
  ERR_NODE_REVOKED,
  ERR_WS_UNPROVEN_TIMEOUT,
  ERR_WS_UNPROVEN_LIMIT,
  CLOSE_POLICY,
  CLOSE_TOO_BIG,
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL,
} from '../../../shared/src/protocol/codes.js';
