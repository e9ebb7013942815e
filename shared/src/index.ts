export * from './errors.js';
export * from './canonical.js';
export type * from './report/types.js';
export { REPORT_JWS_TYP, WS_PATH, WS_SUBPROTOCOL } from './report/types.js';
export * from './report/schema.js';
export * from './jws/index.js';
export * from './inventory/index.js';
export * from './tpm/index.js';
export * from './eventlog/index.js';
