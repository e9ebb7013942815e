/**
 * Cluster plumbing for several collectors sharing one PostgreSQL database: the node change feed,
 * membership and connection holders, the request bus that routes operator actions to the holder,
 * and leader election for fleet-wide jobs. See docs/ARCHITECTURE.md, "Cluster plumbing".
 */
export { startNodeFeed, NodeFeed, pickNewer, staleIds } from './feed.js';
export type { NodeFeedOptions, NodeFeedStats, NodeFeedEvents } from './feed.js';
export { startMembership, Membership, isFresh } from './members.js';
export type { MembershipOptions, MemberInfo } from './members.js';
export { startRequestBus, RequestBus, encodeError, decodeError } from './requests.js';
export type { RequestBusOptions, RequestHandler, RequestMeta } from './requests.js';
export { startLeaderElection, LeaderElection, SERVER_DROP_MS } from './leader.js';
export type { LeaderOptions } from './leader.js';
export { PgListener } from './listener.js';
export type { ListenerOptions, ListenerEvents } from './listener.js';
export { nodeChannel, requestChannel, answerChannel, leaderLockKeys, quoteIdent, applicationName } from './names.js';
export { backoffMs } from './pg.js';
export * from './errors.js';
