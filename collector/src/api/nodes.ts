import { z } from 'zod';
import { isNodesealError } from '../../../shared/src/errors.js';
import type { AppContext } from '../app.js';
import { emptyAsAbsent, intString, numberString, statusString } from '../http/input.js';
import { HttpError, reply, type Route, route } from '../http/router.js';
import { pcrSetDigest } from '../pipeline/verify-report.js';
import { effectiveVerdict, expiresAt } from '../pipeline/verdict.js';
import type { NodeRecord } from '../store/store.js';
import { AcceptError, type ChallengeOutcome, ERR_APPROVE_REASON, ERR_NODE_NOT_CONNECTED } from '../accept/index.js';

export { ERR_APPROVE_AK_CHANGED, ERR_APPROVE_NO_STATE, ERR_APPROVE_REASON, ERR_APPROVE_STATE_CHANGED } from '../accept/index.js';

export const ERR_NODE_NOT_FOUND = 'ERR_NODE_NOT_FOUND';
export const ERR_NODES_QUERY = 'ERR_NODES_QUERY';
export const ERR_ATTEST_TIMEOUT = 'ERR_ATTEST_TIMEOUT';
export const ERR_ATTEST_REJECTED = 'ERR_ATTEST_REJECTED';

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, { error: 'must be sha256:<64 hex digits>' });

/**
 * POST /v1/nodes/:id/approve: the reason, and the state the operator looked at
 * (summary.inventoryDigest / summary.pcrDigest; absent = not checked).
 */
const approveBody = z.strictObject(
  {
    reason: z
      .string({ error: 'body must be {"reason": "why this state is approved"} (1 to 1000 characters)' })
      .max(1000, { error: 'reason must be 1 to 1000 characters' })
      .refine((r) => r.trim().length > 0, { error: 'reason must be 1 to 1000 characters' }),
    inventoryDigest: digest.optional(),
    pcrDigest: digest.nullable().optional(),
  },
  { error: 'body must be {"reason": "why this state is approved"} (1 to 1000 characters)' },
);

/** What the API shows of a node: never the raw key material beyond its kid. */
export function nodeView(n: NodeRecord, connected: boolean, ttlSec: number, now: number) {
  const eff = effectiveVerdict(n, now, ttlSec);
  return {
    nodeId: n.nodeId,
    status: eff.status,
    reasons: eff.reasons,
    kid: n.kid,
    enrolledVia: n.enrolledVia,
    connected,
    lastSeq: n.lastSeq,
    firstSeenAt: n.firstSeenAt,
    lastSeenAt: n.lastSeenAt,
    verifiedAt: n.verifiedAt,
    expiresAt: expiresAt(n, ttlSec)?.toISOString() ?? null,
    revokedAt: n.revokedAt,
    summary: n.summary,
  };
}

/**
 * Nodes API: GET /v1/nodes, GET /v1/nodes/:id, GET /v1/nodes/:id/changes,
 * POST /v1/nodes/:id/approve {reason, inventoryDigest?, pcrDigest?}, POST /v1/nodes/:id/attest?wait=N, GET /healthz.
 */
export function nodesRoutes(app: AppContext): Route[] {
  const ttl = () => app.config.freshnessTtlSec;
  const mustGet = async (id: string) => {
    const n = await app.store.getNode(id);
    if (!n) throw new HttpError(404, ERR_NODE_NOT_FOUND, `no node ${id.slice(0, 100)}`);
    return n;
  };
  const codes = { query: ERR_NODES_QUERY };
  return [
    route({
      method: 'GET',
      path: '/healthz',
      role: 'public',
      // Health checkers add cache busters; the probe takes no input, so any query is ignored.
      query: z.record(z.string(), z.unknown()),
      handler: async () => {
        await app.store.listNodes({ limit: 1 });
        // Connections that proved their node's key (a verified report); the rest (before hello or unproven) apart.
        return {
          status: 'ok',
          connections: app.accept.registry.provenCount,
          unprovenConnections: app.hub.connectionCount - app.accept.registry.provenCount,
          uptimeSec: Math.round((Date.now() - app.startedAt.getTime()) / 1000),
          ...(app.cluster
            ? {
                cluster: {
                  collectorId: app.cluster.collectorId,
                  leader: app.cluster.leaderId(),
                  feedLagMs: Math.round(app.cluster.feedLagMs()),
                },
              }
            : {}),
        };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/nodes',
      role: 'viewer',
      query: z.strictObject({
        status: statusString().optional(),
        search: emptyAsAbsent(z.string().max(1000, { error: 'search is longer than 1000 characters' })),
        limit: intString('limit', 1, 10_000).default(500),
        offset: intString('offset', 0, 10_000_000).default(0),
      }),
      codes,
      handler: async ({ query: { status, search, limit, offset } }) => {
        // `stale` is computed at read time from verifiedAt: filter after the view is made.
        const { nodes, total } = await app.store.listNodes({
          ...(status && status !== 'stale' ? { status } : {}),
          ...(search ? { search } : {}),
          limit,
          offset,
        });
        const now = Date.now();
        let views = nodes.map((n) => nodeView(n, app.accept.isConnected(n.nodeId), ttl(), now));
        if (status) views = views.filter((v) => v.status === status);
        return { nodes: views, total: status === 'stale' || status === 'trusted' ? views.length : total };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/nodes/:id',
      role: 'viewer',
      handler: async ({ params }) => {
        const n = await mustGet(params.id!);
        const [baseline, reports, approvals] = await Promise.all([
          app.store.getBaseline(n.nodeId),
          app.store.listReports(n.nodeId, { limit: 20 }),
          app.store.listApprovals(n.nodeId),
        ]);
        return {
          ...nodeView(n, app.accept.isConnected(n.nodeId), ttl(), Date.now()),
          baseline: baseline
            ? {
                inventoryDigest: baseline.inventoryDigest,
                pcrDigest: pcrSetDigest(baseline.pcrs),
                approvedBy: baseline.approvedBy,
                reason: baseline.reason,
                createdAt: baseline.createdAt,
              }
            : null,
          reports: reports.map((r) => ({
            seq: r.seq,
            receivedAt: r.receivedAt,
            kind: r.kind,
            status: r.status,
            reasons: r.reasons,
            inventoryDigest: r.inventoryDigest,
            pcrDigest: r.pcrDigest,
            full: r.jws !== null,
          })),
          approvals,
        };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/nodes/:id/changes',
      role: 'viewer',
      query: z.strictObject({ limit: intString('limit', 1, 10_000).default(200) }),
      codes,
      handler: async ({ params, query }) => {
        const n = await mustGet(params.id!);
        return { nodeId: n.nodeId, changes: await app.store.listChanges(n.nodeId, { limit: query.limit }) };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/nodes/:id/approve',
      role: 'operator',
      body: approveBody,
      codes: { body: ERR_APPROVE_REASON },
      handler: async ({ params, body, principal }) => {
        const { reason, ...expected } = body;
        const nodeId = (await mustGet(params.id!)).nodeId;
        try {
          return await app.accept.approve(nodeId, { reason, ...expected }, principal?.name ?? 'anonymous');
        } catch (e) {
          if (e instanceof AcceptError) throw new HttpError(409, e.code, e.message, e.details);
          throw e;
        }
      },
    }),
    route({
      method: 'POST',
      path: '/v1/nodes/:id/attest',
      role: 'scheduler',
      query: z.strictObject({ wait: numberString('wait (seconds)', 0, app.config.maxAttestWaitSec).default(0) }),
      codes,
      handler: async ({ params, query }) => {
        const waitSec = query.wait;
        const n = await mustGet(params.id!);
        let outcome: ChallengeOutcome;
        try {
          outcome = await app.accept.challenge(n.nodeId, Math.round(waitSec * 1000));
        } catch (e) {
          if (isNodesealError(e) && e.code === ERR_NODE_NOT_CONNECTED) throw new HttpError(409, e.code, e.message);
          throw e;
        }
        if (waitSec === 0) return reply(202, { nodeId: n.nodeId, challenged: true });
        if (outcome === null) throw new HttpError(504, ERR_ATTEST_TIMEOUT, `no report answered the challenge within ${waitSec} s`);
        if ('error' in outcome)
          throw new HttpError(502, ERR_ATTEST_REJECTED, `the node's answer was rejected: ${outcome.error.code}: ${outcome.error.message}`, {
            code: outcome.error.code,
          });
        const fresh = (await app.store.getNode(n.nodeId))!;
        return {
          nodeId: n.nodeId,
          seq: outcome.seq,
          status: outcome.verdict.status,
          reasons: outcome.verdict.reasons,
          verifiedAt: fresh.verifiedAt,
          expiresAt: fresh.verifiedAt ? new Date(Date.parse(fresh.verifiedAt) + ttl() * 1000).toISOString() : null,
        };
      },
    }),
  ];
}
