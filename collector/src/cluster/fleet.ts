import { hostname } from 'node:os';
import { isNodesealError } from '../../../shared/src/errors.js';
import { AcceptError, type ApproveInput, type ChallengeOutcome, ERR_NODE_NOT_CONNECTED, type RemoteNodes } from '../accept/index.js';
import type { App } from '../app.js';
import type { CollectorConfig } from '../config.js';
import type { CollectorEvents } from '../events.js';
import { HttpError } from '../http/router.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import type { TrustCache } from '../trust/index.js';
import { startNodeFeed, type NodeFeed } from './feed.js';
import { startLeaderElection, type LeaderElection } from './leader.js';
import { startMembership, type Membership } from './members.js';
import { startRequestBus, type RequestBus } from './requests.js';

/** Longest a routed approval may take on the holder. */
const APPROVE_TIMEOUT_MS = 15_000;

export interface Fleet {
  collectorId: string;
  feed: NodeFeed;
  leader: LeaderElection;
  close(): Promise<void>;
}

/**
 * Cluster mode (several collectors on one PostgreSQL database), wired around one running collector:
 * - the change feed drives the trust cache (so trust, watch, receipts, metrics and Slurm read
 *   every collector's commits), and closes this collector's connections of a node revoked anywhere;
 * - membership records which collector holds each node's proven connection; attest and approve of
 *   a node held elsewhere are routed to its holder through the request bus;
 * - the leader lease starts the fleet-wide Slurm reconcile/drain/resume on one collector only.
 */
/** This collector's name in the fleet: --collector-id, else hostname:port (hostname:pid when the port is chosen by the system). */
export function fleetCollectorId(config: Pick<CollectorConfig, 'collectorId' | 'listen'>): string {
  return config.collectorId ?? `${hostname()}:${config.listen.port || process.pid}`;
}

export async function startFleet(deps: {
  collectorId: string;
  config: CollectorConfig;
  url: string;
  store: Store;
  events: CollectorEvents;
  app: App;
  trust: TrustCache;
  logger: Logger;
  onElected(): void;
  onDeposed(): void;
}): Promise<Fleet> {
  const { collectorId, config, url, store, events, app, trust, logger } = deps;
  const log = logger.child({ collectorId });

  const feed = startNodeFeed({ url, store, logger: log, catchUpMs: config.clusterCatchUpMs });
  feed.on('node', (n) => {
    trust.setFromRecord(n);
    if (n.revokedAt && app.accept.registry.all(n.nodeId).length > 0) {
      log.info({ nodeId: n.nodeId }, 'node revoked in the fleet: closing its connections here');
      app.accept.closeNode(n.nodeId);
    }
  });
  await feed.ready;

  const membership: Membership = await startMembership({ url, collectorId, logger: log });
  const onConnected = (e: { nodeId: string }) => void membership.setConnected(e.nodeId, true).catch(warn('setConnected'));
  const onDisconnected = (e: { nodeId: string }) => {
    if (!app.accept.registry.isConnected(e.nodeId)) void membership.setConnected(e.nodeId, false).catch(warn('setConnected'));
  };
  events.on('agent-connected', onConnected);
  events.on('agent-disconnected', onDisconnected);

  // Nodes held by other live collectors, re-read on the catch-up period (a sync answer for listings).
  let elsewhere = new Set<string>();
  const refresh = async () => {
    elsewhere = await membership.nodesHeldElsewhere();
  };
  await refresh();
  const refresher = setInterval(() => void refresh().catch(warn('refresh holders')), config.clusterCatchUpMs);
  refresher.unref();

  const bus: RequestBus = await startRequestBus({ url, collectorId, logger: log, isAlive: (id) => membership.isAlive(id) });
  bus.handle('attest', async (body) => {
    const b = body as { nodeId: string; waitMs: number };
    try {
      return await app.accept.challenge(b.nodeId, b.waitMs);
    } catch (e) {
      if (isNodesealError(e) && e.code === ERR_NODE_NOT_CONNECTED) throw new HttpError(409, e.code, e.message);
      throw e;
    }
  });
  bus.handle('approve', async (body) => {
    const b = body as { nodeId: string; input: ApproveInput; actor: string };
    try {
      return await app.accept.approve(b.nodeId, b.input, b.actor);
    } catch (e) {
      if (e instanceof AcceptError) throw new HttpError(409, e.code, e.message, e.details);
      throw e;
    }
  });
  const remote: RemoteNodes = {
    isConnectedElsewhere: (nodeId) => elsewhere.has(nodeId),
    async holderElsewhere(nodeId) {
      const h = await membership.holderOf(nodeId);
      return h && h !== collectorId ? h : null;
    },
    challenge: (holder, nodeId, waitMs) => bus.request(holder, 'attest', { nodeId, waitMs }, waitMs + 5000) as Promise<ChallengeOutcome>,
    approve: (holder, nodeId, input, actor) => bus.request(holder, 'approve', { nodeId, input, actor }, APPROVE_TIMEOUT_MS),
  };
  app.accept.remote = remote;

  const leader = await startLeaderElection({
    url,
    logger: log,
    collectorId,
    onElected: () => {
      log.info('elected fleet leader: running the fleet-wide jobs here');
      deps.onElected();
    },
    onDeposed: () => {
      log.info('no longer the fleet leader');
      deps.onDeposed();
    },
  });
  app.cluster = { collectorId, leaderId: () => leader.leaderId(), feedLagMs: () => feed.lagMs() };
  log.info({ lagMs: feed.lagMs() }, 'cluster mode: joined the fleet');

  function warn(what: string) {
    return (e: unknown) => log.warn({ err: (e as Error)?.message }, `cluster: ${what} failed`);
  }

  return {
    collectorId,
    feed,
    leader,
    async close() {
      clearInterval(refresher);
      events.off('agent-connected', onConnected);
      events.off('agent-disconnected', onDisconnected);
      app.accept.remote = null;
      app.cluster = null;
      await leader.close();
      await bus.close();
      await membership.close();
      await feed.close();
    },
  };
}
