import { areaError } from '../../../shared/src/errors.js';

/** The node has no proven agent connection (on this collector, or in the fleet when routed). */
export const ERR_NODE_NOT_CONNECTED = 'ERR_NODE_NOT_CONNECTED';
export const ERR_APPROVE_REASON = 'ERR_APPROVE_REASON';
export const ERR_APPROVE_NO_STATE = 'ERR_APPROVE_NO_STATE';
export const ERR_APPROVE_STATE_CHANGED = 'ERR_APPROVE_STATE_CHANGED';
export const ERR_APPROVE_AK_CHANGED = 'ERR_APPROVE_AK_CHANGED';

/** A refused acceptance decision (approval); `conflict` says it is about the node's state, not the request. */
export class AcceptError extends areaError('AcceptError') {}
