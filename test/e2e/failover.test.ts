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
 * Two `nodeseal collector` processes on one PostgreSQL schema and an agent given both URLs (real
 * WebSockets on loopback, a simulated TPM the collectors verify for real). The collector the agent
 * is on is killed with SIGKILL: the agent moves to the other one; its spool and seq carry over.
 */
describe('agent failover between two collectors sharing PostgreSQL', () => {
  const token = 'f'.repeat(48);
  let db: Awaited<ReturnType<typeof pgTestSchema>>;
  let a: CollectorProcess;
  let b: CollectorProcess;
  let root: string;
  let agent: TestAgent;
  const accepted: number[] = [];

  const trust = async (c: CollectorProcess) => (await api(c.url, 'GET', '/v1/nodes/fo-1/trust', undefined, token)).json;
  const storedSeqs = async (): Promise<number[]> => {
    const c = new pg.Client({ connectionString: withDefaultUser(db.url) });
    await c.connect();
    try {
      const r = await c.query<{ seq: string }>("SELECT seq FROM reports WHERE node_id = 'fo-1' ORDER BY received_at, seq");
      return r.rows.map((x) => Number(x.seq));
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    db = await pgTestSchema('failover');
    a = await startCollectorProcess({ postgres: db.url, token });
    b = await startCollectorProcess({ postgres: db.url, token });
    root = await copyHost('a100');
    agent = await startTestAgent({ collector: [a.wsUrl, b.wsUrl], nodeId: 'fo-1', evidence: softTpmSource(root) });
    agent.daemon.on('verdict', (v) => accepted.push(v.seq));
    agent.daemon.on('ack', (seq) => accepted.push(seq));
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    for (const c of [a, b]) await c?.kill('SIGKILL');
    await removeHost(root);
    await db?.drop();
  });

  it('SIGKILL of the collector it is on: the agent moves to the other; nothing acknowledged is lost or duplicated; trust stays correct', async () => {
    await waitFor('trusted through collector A', async () => (await trust(a)).status === 'trusted' && accepted.length >= 2, 30_000);
    expect(agent.daemon.collectorUrl).toBe(a.wsUrl);
    expect(agent.daemon.state).toMatchObject({ name: 'attesting', url: a.wsUrl });

    const before = accepted.length;
    await a.kill('SIGKILL');
    await waitFor(
      'the agent attesting to collector B with new verdicts',
      () => agent.daemon.state.name === 'attesting' && agent.daemon.collectorUrl === b.wsUrl && accepted.length >= before + 3,
      30_000,
    );
    await waitFor('spool drained', () => agent.daemon.spooled === 0, 10_000);
    expect(agent.daemon.state).toMatchObject({ name: 'attesting', url: b.wsUrl });

    // B's trust API follows the fleet's change feed: the node stays trusted there.
    await waitFor('trusted through collector B', async () => (await trust(b)).status === 'trusted', 10_000);
    const ackedSoFar = Math.max(...accepted);
    const node = (await api(b.url, 'GET', '/v1/nodes/fo-1', undefined, token)).json;
    expect(node).toMatchObject({ status: 'trusted', reasons: [], connected: true });
    expect(node.lastSeq).toBeGreaterThanOrEqual(ackedSoFar);

    // Every acknowledged report is stored exactly once; the stored seqs are 1..n without a gap,
    // strictly increasing in the order they were received (spool and seq carried over).
    const stored = await storedSeqs();
    const max = Math.max(...accepted);
    expect(new Set(accepted).size).toBe(accepted.length);
    for (const s of accepted) expect(stored).toContain(s);
    expect(new Set(stored).size).toBe(stored.length);
    for (let i = 1; i < stored.length; i++) expect(stored[i]!).toBeGreaterThan(stored[i - 1]!);
    expect(stored.filter((s) => s <= max)).toEqual(Array.from({ length: max }, (_, i) => i + 1));
  }, 90_000);
});
