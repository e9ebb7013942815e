import { areaError } from '../../../shared/src/errors.js';
import { HttpError } from '../http/router.js';

/** A routed request got no answer within its timeout (504); the request row is deleted. */
export const ERR_CLUSTER_REQUEST_TIMEOUT = 'ERR_CLUSTER_REQUEST_TIMEOUT';
/** The collector a request was routed to is dead (no heartbeat within deadAfterMs) or gone (503). */
export const ERR_CLUSTER_HOLDER_GONE = 'ERR_CLUSTER_HOLDER_GONE';
/** The target collector has no handler for the request's kind (501). */
export const ERR_CLUSTER_REQUEST_KIND = 'ERR_CLUSTER_REQUEST_KIND';
/** A request handler failed with an error that carries no HTTP status (500); its message crosses over. */
export const ERR_CLUSTER_HANDLER_FAILED = 'ERR_CLUSTER_HANDLER_FAILED';
/** A cluster row (request, answer) read from the database does not match its schema. */
export const ERR_CLUSTER_ROW_SCHEMA = 'ERR_CLUSTER_ROW_SCHEMA';
/** A listener or leader connection to PostgreSQL was lost; it reconnects with backoff (logged). */
export const ERR_CLUSTER_CONNECTION = 'ERR_CLUSTER_CONNECTION';
/** A cluster module was used after close(). */
export const ERR_CLUSTER_CLOSED = 'ERR_CLUSTER_CLOSED';

export class ClusterError extends areaError('ClusterError') {}

/** 504 ERR_CLUSTER_REQUEST_TIMEOUT, thrown by RequestBus.request. */
export function requestTimeout(target: string, kind: string, timeoutMs: number): HttpError {
  return new HttpError(504, ERR_CLUSTER_REQUEST_TIMEOUT, `collector ${target} did not answer ${kind} within ${timeoutMs} ms`, {
    target,
    kind,
    timeoutMs,
  });
}

/** 503 ERR_CLUSTER_HOLDER_GONE, thrown by RequestBus.request. */
export function holderGone(target: string, kind: string): HttpError {
  return new HttpError(503, ERR_CLUSTER_HOLDER_GONE, `collector ${target} is not alive; ${kind} cannot reach it`, { target, kind });
}
