// Report acceptance: the rules for what an agent's messages mean (hello, report, rotation,
// challenges) and for operator decisions on a node (approve, close on revoke).
export { AcceptanceService, unprovenTimeoutMs } from './service.js';
export { AgentConnection, ON_DEMAND_ANSWER_MS } from './connection.js';
export { type Clock, systemClock } from './clock.js';
export { NonceLedger, nonceTtlMs, MAX_ISSUED, MAX_USED } from './nonces.js';
export { NodeLocks } from './locks.js';
export { ConnectionRegistry, MAX_UNPROVEN_PER_NODE } from './registry.js';
export { OnDemandChallenges } from './challenges.js';
export { approveLatestState, type ApproveInput, type ApproveResult } from './approve.js';
export * from './errors.js';
export type { AcceptConfig, AcceptDeps, AgentLink, ChallengeOutcome, EnrollAsk, EnrollHook, RemoteNodes } from './types.js';
