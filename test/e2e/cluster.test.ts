import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDefaultUser } from '../../collector/src/store/postgres-db.js';
import { copyHost, removeHost } from '../helpers/hosts.js';
import {
  api,
  type CollectorProcess,
  pgTestSchema,
  softTpmSource,
  startCollectorProcess,
  startTestAgent,
  type TestAgent,
  waitFor,
} from './harness.js';

/**
 * Three `nodeseal collector` processes on one PostgreSQL schema (cluster mode), agents spread
 * across them: every collector answers the same about every node (the change feed), and operator
 * actions through a collector that does not hold a node's connection reach the one that does.
 */
describe('three collectors, one truth', () => {
  const token = 'c'.repeat(48);
  let db: Awaited<ReturnType<typeof pgTestSchema>>;
  const cs: CollectorProcess[] = [];
  const roots: string[] = [];
  const agents: TestAgent[] = [];

  const get = async (c: CollectorProcess, path: string) => (await api(c.url, 'GET', path, undefined, token)).json;
  const sql = async (text: string, params: unknown[] = []) => {
    const c = new pg.Client({ connectionString: withDefaultUser(db.url) });
    await c.connect();
    try {
      return (await c.query(text, params)).rows;
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    db = await pgTestSchema('cluster');
    // The first registers the fleet key; the others start together.
    cs.push(await startCollectorProcess({ postgres: db.url, token, args: ['--collector-id', 'A'] }));
    cs.push(
      ...(await Promise.all(['B', 'C'].map((id) => startCollectorProcess({ postgres: db.url, token, args: ['--collector-id', id] })))),
    );
    // n1 on A, n2 on B; C holds none.
    for (const [i, nodeId] of ['n1', 'n2'].entries()) {
      const root = await copyHost('a100');
      roots.push(root);
      agents.push(await startTestAgent({ collector: cs[i]!.wsUrl, nodeId, evidence: softTpmSource(root) }));
    }
  }, 90_000);

  afterAll(async () => {
    for (const a of agents) await a.stop();
    for (const c of cs) await c.kill('SIGKILL');
    for (const r of roots) await removeHost(r);
    await db?.drop();
  });

  it('trust, bulk trust, receipts and node views agree on every collector', async () => {
    for (const c of cs) {
      await waitFor(`both nodes trusted on ${c.url}`, async () => {
        const bulk = await get(c, '/v1/trust?nodes=n[1-2]');
        return bulk.nodes?.every((n: { status: string }) => n.status === 'trusted');
      });
      expect(await get(c, '/v1/nodes/n1/trust')).toMatchObject({ nodeId: 'n1', status: 'trusted' });
      // Connection holders are re-read every clusterCatchUpMs (2 s).
      await waitFor(`n2 connected as seen from ${c.url}`, async () => (await get(c, '/v1/nodes/n2')).connected === true, 5000);
      expect(await get(c, '/v1/nodes/n2')).toMatchObject({ status: 'trusted', connected: true });
    }
    // Receipts are signed by the one fleet key, whichever collector signs them.
    const kids = new Set<string>();
    for (const c of cs) {
      const r = await api(c.url, 'GET', '/v1/receipt?nodes=n[1-2]', undefined, token);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      kids.add(r.json.kid);
      const payload = JSON.parse(Buffer.from(String(r.json.receipt).split('.')[1]!, 'base64url').toString());
      expect(JSON.stringify(payload)).toContain('trusted');
    }
    expect(kids.size).toBe(1);
  });

  it('/healthz names this collector and the one leader of the fleet', async () => {
    const leaders = new Set<string>();
    for (const [i, c] of cs.entries()) {
      const h = await waitFor('a known leader', async () => {
        const j = (await api(c.url, 'GET', '/healthz')).json;
        return j.cluster?.leader ? j : null;
      });
      expect(h.cluster.collectorId).toBe(['A', 'B', 'C'][i]);
      leaders.add(h.cluster.leader);
    }
    expect(leaders.size).toBe(1);
  });

  it('attest?wait through a collector that does not hold the node returns the fresh verdict from the holder', async () => {
    const before = Number((await sql("SELECT last_seq FROM nodes WHERE node_id = 'n1'"))[0].last_seq);
    const r = await api(cs[2]!.url, 'POST', '/v1/nodes/n1/attest?wait=10', undefined, token);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json).toMatchObject({ nodeId: 'n1', status: 'trusted' });
    expect(r.json.seq).toBeGreaterThan(before);
  });

  it('approve through C runs on B (the holder); revoke through C closes the connection on A and stores nothing more', async () => {
    const ok = await api(cs[2]!.url, 'POST', '/v1/nodes/n2/approve', { reason: 'fleet approval routed to the holder' }, token);
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect((await sql("SELECT actor, reason FROM approvals WHERE node_id = 'n2'")).at(-1)).toMatchObject({
      reason: 'fleet approval routed to the holder',
    });

    const revoked = await api(cs[2]!.url, 'POST', '/v1/nodes/n1/revoke', { reason: 'test' }, token);
    expect(revoked.status, JSON.stringify(revoked.json)).toBe(200);
    await waitFor('n1 disconnected from A', async () => (await get(cs[0]!, '/v1/nodes/n1')).connected === false, 15_000);
    const after = Number((await sql("SELECT last_seq FROM nodes WHERE node_id = 'n1'"))[0].last_seq);
    // Three more intervals: the agent is refused (backoff), nothing of it is stored.
    const n2 = async () => Number((await sql("SELECT last_seq FROM nodes WHERE node_id = 'n2'"))[0].last_seq);
    const n2Base = await n2();
    await waitFor('n2 reports three more times', async () => (await n2()) >= n2Base + 3);
    expect(Number((await sql("SELECT last_seq FROM nodes WHERE node_id = 'n1'"))[0].last_seq)).toBe(after);
    for (const c of cs) expect((await get(c, '/v1/nodes/n1/trust')).status).toBe('untrusted');
  });

  it('kill -9 of the leader: another collector leads within 15 s; trust stays correct on the others', async () => {
    const leaderOf = async (c: CollectorProcess) => (await api(c.url, 'GET', '/healthz')).json.cluster?.leader as string | undefined;
    const ids = ['A', 'B', 'C'];
    const old = (await leaderOf(cs[0]!))!;
    const dead = cs[ids.indexOf(old)]!;
    const rest = cs.filter((c) => c !== dead);
    const killedAt = Date.now();
    await dead.kill('SIGKILL');
    const next = await waitFor(
      'one new leader named by every remaining collector',
      async () => {
        const seen = await Promise.all(rest.map(leaderOf));
        return seen[0] && seen[0] !== old && seen.every((l) => l === seen[0]) ? seen[0] : null;
      },
      15_000,
    );
    expect(ids.filter((i) => i !== old)).toContain(next);
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    for (const c of rest) expect((await get(c, '/v1/nodes/n1/trust')).status).toBe('untrusted');
  });
});
