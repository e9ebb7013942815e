import { isNodesealError } from '../../../shared/src/errors.js';
import { parseReportPayload } from '../../../shared/src/report/schema.js';
import type { ReportPayload, TrustStatus } from '../../../shared/src/report/types.js';
import type { AppContext } from '../app.js';
import { HttpError, reply, type Route } from '../http/router.js';
import { summarise } from '../pipeline/record.js';
import { pcrSetDigest } from '../pipeline/verify-report.js';
import { effectiveVerdict, expiresAt } from '../pipeline/verdict.js';
import type { NodeRecord, ReportRecord } from '../store/store.js';
import { type ChallengeOutcome, ERR_NODE_NOT_CONNECTED } from '../ws/hub.js';

export const ERR_NODE_NOT_FOUND = 'ERR_NODE_NOT_FOUND';
export const ERR_NODES_QUERY = 'ERR_NODES_QUERY';
export const ERR_APPROVE_REASON = 'ERR_APPROVE_REASON';
export const ERR_APPROVE_NO_STATE = 'ERR_APPROVE_NO_STATE';
export const ERR_ATTEST_TIMEOUT = 'ERR_ATTEST_TIMEOUT';
export const ERR_ATTEST_REJECTED = 'ERR_ATTEST_REJECTED';
export const ERR_APPROVE_STATE_CHANGED = 'ERR_APPROVE_STATE_CHANGED';
export const ERR_APPROVE_AK_CHANGED = 'ERR_APPROVE_AK_CHANGED';

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

/** The state a node last proved with a fresh report, read back from the full JWS the store kept for it. */
async function latestVerifiedState(app: AppContext, nodeId: string): Promise<{ report: ReportRecord; payload: ReportPayload } | null> {
  let fresh: ReportRecord | null = null;
  let beforeSeq: number | undefined;
  for (let page = 0; page < 200; page++) {
    const rows = await app.store.listReports(nodeId, { limit: 100, ...(beforeSeq !== undefined ? { beforeSeq } : {}) });
    if (rows.length === 0) return null;
    for (const r of rows) {
      if (!fresh && r.kind === 'fresh') fresh = r;
      if (fresh && r.jws && r.inventoryDigest === fresh.inventoryDigest && r.pcrDigest === fresh.pcrDigest) {
        const part = r.jws.split('.')[1] ?? '';
        return { report: fresh, payload: parseReportPayload(JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))) };
      }
    }
    beforeSeq = rows[rows.length - 1]!.seq;
  }
  return null;
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
          connections: app.hub.provenCount,
          unprovenConnections: app.hub.connectionCount - app.hub.provenCount,
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
        let views = nodes.map((n) => nodeView(n, app.hub.isConnected(n.nodeId), ttl(), now));
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
          ...nodeView(n, app.hub.isConnected(n.nodeId), ttl(), Date.now()),
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
        const actor = principal?.name ?? 'anonymous';
        const result = await app.hub.withNodeLock(nodeId, async () => {
          const node = (await app.store.getNode(nodeId))!;
          const state = await latestVerifiedState(app, nodeId);
          if (!state) throw new HttpError(409, ERR_APPROVE_NO_STATE, 'the node has no verified state to approve yet');
          // The operator approves what they looked at: a newer report with other evidence (sent while
          // they were reading) is not approved in its place.
          if (
            (expected.inventoryDigest !== undefined && expected.inventoryDigest !== state.report.inventoryDigest) ||
            (expected.pcrDigest !== undefined && expected.pcrDigest !== state.report.pcrDigest)
          ) {
            throw new HttpError(409, ERR_APPROVE_STATE_CHANGED, 'the node reported another state since it was shown; look at it again', {
              inventoryDigest: state.report.inventoryDigest,
              pcrDigest: state.report.pcrDigest,
            });
          }
          // The AK was pinned by credential activation (or first use): approval never re-pins it, else a
          // key made outside the TPM could be approved in and quote anything from then on.
          // The latest fresh report's own verdict is checked too: a report whose digests repeat an earlier
          // one is stored without its JWS, so the payload re-read may be that earlier report's.
          const foreignAk =
            state.report.reasons.some((r) => r.code === 'tpm.ak_changed') ||
            (state.payload.tpm.status === 'ok' &&
              node.akPublic !== null &&
              state.payload.tpm.akPublic.toLowerCase() !== node.akPublic.toLowerCase());
          if (foreignAk) {
            throw new HttpError(
              409,
              ERR_APPROVE_AK_CHANGED,
              'this state was quoted by another attestation key than the one pinned for the node; the node must enrol again',
            );
          }
          const at = new Date().toISOString();
          const p = state.payload;
          const pcrs = quotedPcrs(app, p);
          // A state without TPM evidence says nothing about the boot chain: the approved PCRs (and their
          // event log) stay, so TPM evidence coming back is compared PCR by PCR, not taken as new banks.
          const prior = pcrs === null ? await app.store.getBaseline(nodeId) : null;
          const newBaseline = {
            nodeId,
            inventory: p.inventory,
            inventoryDigest: p.inventoryDigest,
            pcrs: pcrs ?? prior?.pcrs ?? null,
            eventLog: p.tpm.status === 'ok' ? p.tpm.eventLog : (prior?.eventLog ?? null),
            approvedBy: actor,
            reason,
            createdAt: at,
          };
          const akPublic = node.akPublic ?? (p.tpm.status === 'ok' ? p.tpm.akPublic : null);
          const verdict = app.ports.evaluate({
            evidence: {
              kind: 'fresh',
              inventory: p.inventory,
              pcrs,
              eventLog: newBaseline.eventLog,
              akPublic: p.tpm.status === 'ok' ? p.tpm.akPublic : null,
              tpm: p.tpm,
            },
            baseline: newBaseline,
            node: { akPublic, revokedAt: node.revokedAt },
          });
          const next: NodeRecord = {
            ...node,
            status: verdict.status,
            reasons: verdict.reasons,
            akPublic,
            summary: summarise(p.inventory, p.inventoryDigest, state.report.pcrDigest),
          };
          await app.store.setBaseline(newBaseline, { nodeId, actor, reason, at, inventoryDigest: p.inventoryDigest });
          await app.store.upsertNode(next);
          app.events.emit('approved', { nodeId, actor, reason, at });
          if (node.status !== next.status || JSON.stringify(node.reasons) !== JSON.stringify(next.reasons))
            app.events.emit('status-changed', { nodeId, from: node.status, to: next.status, reasons: next.reasons, at });
          return { nodeId, status: next.status, reasons: next.reasons, inventoryDigest: p.inventoryDigest, approvedBy: actor, at };
        });
        return result;
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
          outcome = await app.hub.challenge(n.nodeId, Math.round(waitSec * 1000));
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

/** The PCRs the stored report's quote covers: its evidence is verified again (it was when stored). */
function quotedPcrs(app: AppContext, p: ReportPayload): Record<string, Record<string, string>> | null {
  if (p.tpm.status !== 'ok') return null;
  return app.ports.verifyQuote({
    attest: p.tpm.quote.attest,
    signature: p.tpm.quote.signature,
    akPublic: p.tpm.akPublic,
    nonce: p.nonce,
    pcrs: p.tpm.pcrs,
  }).pcrs;
}
