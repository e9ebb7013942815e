import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodesealError } from '../../../shared/src/errors.js';
import { CollectorEvents } from '../../../collector/src/events.js';
import { bulkAttestRoutes, createTrust, type Challenger, type TrustModule } from '../../../collector/src/trust/index.js';
import { serveRoutes } from './serve-routes.js';

describe('POST /v1/trust/attest (bulk fresh attestation)', () => {
  const events = new CollectorEvents();
  let trust: TrustModule;
  let srv: Awaited<ReturnType<typeof serveRoutes>>;
  const asked: string[] = [];
  // A hand-written stand-in for the agent hub: each node answers the way a real one could.
  const challenger: Challenger = {
    async challenge(nodeId, waitMs) {
      asked.push(`${nodeId}:${waitMs}`);
      if (nodeId === 'gpu001') {
        // the pipeline publishes the verdict of the answering report before the hub resolves
        events.emit('report-verified', { nodeId, seq: 9, status: 'trusted', latencyMs: 4, fresh: true, spoolBacklog: 0 });
        events.emit('status-changed', { nodeId, from: null, to: 'trusted', reasons: [], at: new Date().toISOString() });
        return { verdict: { status: 'trusted', reasons: [] }, seq: 9 };
      }
      if (nodeId === 'gpu002') throw new NodesealError('ERR_NODE_NOT_CONNECTED', 'not connected');
      if (nodeId === 'gpu003') return null;
      return { error: { code: 'ERR_REPORT_SIGNATURE', message: 'bad signature' } };
    },
  };

  beforeAll(async () => {
    trust = await createTrust({ store: { listNodes: async () => ({ nodes: [], total: 0 }) }, events, cache: { sweepMs: 0 } });
    srv = await serveRoutes(bulkAttestRoutes({ challenger, cache: trust.cache, maxWaitSec: 30 }));
  });
  afterAll(async () => {
    trust.close();
    await srv.close();
  });

  it('challenges every node in parallel and reports which gave fresh evidence', async () => {
    const r = await fetch(`${srv.url}/v1/trust/attest?nodes=gpu%5B001-004%5D&wait=5`, { method: 'POST' });
    expect(r.status).toBe(200);
    const body = (await r.json()) as {
      nodes: { nodeId: string; status: string; fresh: boolean; error?: string; verifiedAt: string | null }[];
      allFresh: boolean;
      allTrusted: boolean;
    };
    expect(asked.sort()).toEqual(['gpu001:5000', 'gpu002:5000', 'gpu003:5000', 'gpu004:5000']);
    expect(body.nodes.map((n) => [n.nodeId, n.status, n.fresh, n.error ?? null])).toEqual([
      ['gpu001', 'trusted', true, null],
      ['gpu002', 'unknown', false, 'ERR_NODE_NOT_CONNECTED'],
      ['gpu003', 'unknown', false, 'ERR_ATTEST_TIMEOUT'],
      ['gpu004', 'unknown', false, 'ERR_REPORT_SIGNATURE'],
    ]);
    expect(body.nodes[0]!.verifiedAt).not.toBeNull();
    expect(body.allFresh).toBe(false);
    expect(body.allTrusted).toBe(false);
  });

  it.each([
    ['', 'ERR_TRUST_QUERY'],
    ['?nodes=gpu001&wait=0', 'ERR_TRUST_QUERY'],
    ['?nodes=gpu001&wait=31', 'ERR_TRUST_QUERY'],
    ['?nodes=gpu%5B1-2000%5D', 'ERR_HOSTLIST_TOO_LARGE'],
  ])('rejects %s with %s', async (q, code) => {
    const r = await fetch(`${srv.url}/v1/trust/attest${q}`, { method: 'POST' });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe(code);
  });
});
