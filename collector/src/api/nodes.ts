import { isNodesealError } from '../../../shared/src/errors.js';
import type { TrustStatus } from '../../../shared/src/report/types.js';
import type { AppContext } from '../app.js';
import { HttpError, reply, type Route } from '../http/router.js';
import { pcrSetDigest } from '../pipeline/verify-report.js';
import { effectiveVerdict, expiresAt } from '../pipeline/verdict.js';
import type { NodeRecord } from '../store/store.js';
import { AcceptError, type ChallengeOutcome, ERR_APPROVE_REASON, ERR_NODE_NOT_CONNECTED } from '../accept/index.js';

export { ERR_APPROVE_AK_CHANGED, ERR_APPROVE_NO_STATE, ERR_APPROVE_REASON, ERR_APPROVE_STATE_CHANGED } from '../accept/index.js';

export const ERR_NODE_NOT_FOUND = 'ERR_NODE_NOT_FOUND';
export const ERR_NODES_QUERY = 'ERR_NODES_QUERY';
export const ERR_ATTEST_TIMEOUT = 'ERR_ATTEST_TIMEOUT';
export const ERR_ATTEST_REJECTED = 'ERR_ATTEST_REJECTED';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const APPROVE_FIELDS = new Set(['reason', 'inventoryDigest', 'pcrDigest']);

/** The state the operator looked at (summary.inventoryDigest / summary.pcrDigest); null = not given. */
function expectedState(body: Record<string, unknown>): { inventoryDigest?: string; pcrDigest?: string | null } {
  const out: { inventoryDigest?: string; pcrDigest?: string | null } = {};
  if ('inventoryDigest' in body) {
    const v = body.inventoryDigest;
    if (typeof v !== 'string' || !DIGEST_RE.test(v))
      throw new HttpError(400, ERR_APPROVE_REASON, 'inventoryDigest must be sha256:<64 hex digits>');
    out.inventoryDigest = v;
  }
  if ('pcrDigest' in body) {
    const v = body.pcrDigest;
    if (v !== null && (typeof v !== 'string' || !DIGEST_RE.test(v)))
      throw new HttpError(400, ERR_APPROVE_REASON, 'pcrDigest must be sha256:<64 hex digits> or null');
    out.pcrDigest = v;
  }
  return out;
}

const STATUSES = new Set<TrustStatus>(['trusted', 'untrusted', 'unknown', 'stale']);

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

function intParam(q: URLSearchParams, name: string, def: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new HttpError(400, ERR_NODES_QUERY, `${name} must be an integer from ${min} to ${max}`);
  return n;
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
  return [
    {
      method: 'GET',
      path: '/healthz',
      role: 'public',
      handler: async () => {
        await app.store.listNodes({ limit: 1 });
        // Connections that proved their node's key (a verified report); the rest (before hello or unproven) apart.
        return {
          status: 'ok',
          connections: app.accept.registry.provenCount,
          unprovenConnections: app.hub.connectionCount - app.accept.registry.provenCount,
          uptimeSec: Math.round((Date.now() - app.startedAt.getTime()) / 1000),
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/nodes',
      role: 'viewer',
      handler: async ({ query }) => {
        const status = query.get('status');
        if (status !== null && !STATUSES.has(status as TrustStatus))
          throw new HttpError(400, ERR_NODES_QUERY, 'status must be trusted, untrusted, unknown or stale');
        const search = query.get('search');
        const limit = intParam(query, 'limit', 500, 1, 10_000);
        const offset = intParam(query, 'offset', 0, 0, 10_000_000);
        // `stale` is computed at read time from verifiedAt: filter after the view is made.
        const { nodes, total } = await app.store.listNodes({
          ...(status && status !== 'stale' ? { status: status as TrustStatus } : {}),
          ...(search ? { search } : {}),
          limit,
          offset,
        });
        const now = Date.now();
        let views = nodes.map((n) => nodeView(n, app.accept.isConnected(n.nodeId), ttl(), now));
        if (status) views = views.filter((v) => v.status === status);
        return { nodes: views, total: status === 'stale' || status === 'trusted' ? views.length : total };
      },
    },
    {
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
    },
    {
      method: 'GET',
      path: '/v1/nodes/:id/changes',
      role: 'viewer',
      handler: async ({ params, query }) => {
        const n = await mustGet(params.id!);
        return { nodeId: n.nodeId, changes: await app.store.listChanges(n.nodeId, { limit: intParam(query, 'limit', 200, 1, 10_000) }) };
      },
    },
    {
      method: 'POST',
      path: '/v1/nodes/:id/approve',
      role: 'operator',
      handler: async ({ params, body, principal }) => {
        const reason = (body as { reason?: unknown } | undefined)?.reason;
        if (typeof reason !== 'string' || reason.trim().length === 0 || reason.length > 1000)
          throw new HttpError(400, ERR_APPROVE_REASON, 'body must be {"reason": "why this state is approved"} (1 to 1000 characters)');
        const extra = body && typeof body === 'object' ? Object.keys(body).filter((k) => !APPROVE_FIELDS.has(k)) : [];
        if (extra.length) throw new HttpError(400, ERR_APPROVE_REASON, `unknown fields: ${extra.slice(0, 3).join(', ')}`);
        const expected = expectedState(body as Record<string, unknown>);
        const nodeId = (await mustGet(params.id!)).nodeId;
        try {
          return await app.accept.approve(nodeId, { reason, ...expected }, principal?.name ?? 'anonymous');
        } catch (e) {
          if (e instanceof AcceptError) throw new HttpError(409, e.code, e.message, e.details);
          throw e;
        }
      },
    },
    {
      method: 'POST',
      path: '/v1/nodes/:id/attest',
      role: 'scheduler',
      handler: async ({ params, query }) => {
        const wait = query.get('wait');
        const waitSec = wait === null ? 0 : Number(wait);
        if (!Number.isFinite(waitSec) || waitSec < 0 || waitSec > app.config.maxAttestWaitSec)
          throw new HttpError(400, ERR_NODES_QUERY, `wait must be 0 to ${app.config.maxAttestWaitSec} seconds`);
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
    },
  ];
}
