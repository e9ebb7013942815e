/**
 * Codes of the HTTP edge (router, body reader, input schemas, SSE streams, client errors).
 * Feature routes keep their own codes for their own inputs (ERR_NODES_QUERY, ERR_TRUST_QUERY ...);
 * these are the defaults when a route names none.
 */
export const ERR_HTTP_NOT_FOUND = 'ERR_HTTP_NOT_FOUND';
export const ERR_HTTP_METHOD = 'ERR_HTTP_METHOD';
/** The body is not JSON, not application/json, or does not match the route's body schema. */
export const ERR_HTTP_BODY = 'ERR_HTTP_BODY';
export const ERR_HTTP_BODY_TOO_LARGE = 'ERR_HTTP_BODY_TOO_LARGE';
/** The query string does not match the route's query schema (unknown, repeated or malformed parameters). */
export const ERR_HTTP_QUERY = 'ERR_HTTP_QUERY';
/** A path parameter does not match the route's params schema. */
export const ERR_HTTP_PARAMS = 'ERR_HTTP_PARAMS';
export const ERR_HTTP_UNAUTHORIZED = 'ERR_HTTP_UNAUTHORIZED';
export const ERR_HTTP_FORBIDDEN = 'ERR_HTTP_FORBIDDEN';
/** Request headers larger than the server's limit: answered 431 instead of a dropped connection. */
export const ERR_HTTP_HEADERS_TOO_LARGE = 'ERR_HTTP_HEADERS_TOO_LARGE';
/** An event stream client stopped reading (more than the buffer limit queued) and was disconnected. */
export const ERR_SSE_SLOW_CLIENT = 'ERR_SSE_SLOW_CLIENT';
/** An event stream (read by the dashboard or k8s-sync) sent one event or line larger than the reader's limit. */
export const ERR_SSE_FRAME_TOO_LARGE = 'ERR_SSE_FRAME_TOO_LARGE';
