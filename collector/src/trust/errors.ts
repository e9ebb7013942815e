/** Codes of the trust API (collector/src/trust). Listed in docs/errors.md. */
export const ERR_TRUST_NODE_UNKNOWN = 'ERR_TRUST_NODE_UNKNOWN';
export const ERR_TRUST_WATCH_LIMIT = 'ERR_TRUST_WATCH_LIMIT';
export const ERR_TRUST_QUERY = 'ERR_TRUST_QUERY';
