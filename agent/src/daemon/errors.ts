import { areaError } from '../../../shared/src/errors.js';

/** Agent daemon codes. */
export const ERR_AGENT_IDENTITY = 'ERR_AGENT_IDENTITY';
export const ERR_AGENT_STATE_DIR = 'ERR_AGENT_STATE_DIR';
export const ERR_AGENT_CONNECT = 'ERR_AGENT_CONNECT';
export const ERR_AGENT_CONNECTION_LOST = 'ERR_AGENT_CONNECTION_LOST';
export const ERR_AGENT_RECONNECT = 'ERR_AGENT_RECONNECT';
export const ERR_AGENT_HEARTBEAT = 'ERR_AGENT_HEARTBEAT';
export const ERR_AGENT_ANSWER_TIMEOUT = 'ERR_AGENT_ANSWER_TIMEOUT';
export const ERR_AGENT_SPOOL_DROPPED = 'ERR_AGENT_SPOOL_DROPPED';

export class AgentError extends areaError('AgentError') {}
