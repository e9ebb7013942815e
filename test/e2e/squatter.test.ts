import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCollector } from '../../collector/src/server.js';
import { copyHost, removeHost } from '../helpers/hosts.js';
import { api, removeDir, softTpmSource, startTestAgent, startTestCollector, tempDir, waitFor } from './harness.js';
import { RawClient } from './raw-client.js';

/**
 * A hello for a pinned node names only its public kid. A connection that knows nothing more
 * (a squatter) must not make the node look connected, is closed once it has had time to report
 * and did not, and cannot fill the collector's connections for one node; the honest agent,
 * which proves its key with its first report, is served as before.
 */
describe("connections that only know a node's kid (no proof of possession)", () => {
  let dir: string;
  let root: string;
  let collector: RunningCollector;
  /** intervalSec is 1 in the harness: unproven connections are closed after max(2 × 1 s, 1.5 s) = 2 s. */
  const HELLO_TIMEOUT_MS = 1500;
  const NODE = 'node-squatted';
  let kid: string;
  let agentState: string;
  /** One simulated TPM (one AK) for both runs of the honest agent. */
  let evidence: ReturnType<typeof softTpmSource>;
  const connectedEvents: string[] = [];

  async function squat(): Promise<RawClient> {
    const c = await RawClient.open(collector.wsUrl);
    c.send({ type: 'hello', nodeId: NODE, agentVersion: 'x', kid });
    return c;
  }
  const nodeConnected = async () => (await api(collector.url, 'GET', `/v1/nodes/${NODE}`)).json.connected as boolean;
  const metricConnected = async () => {
    const text = await (await fetch(`${collector.url}/metrics`)).text();
    return Number(/^nodeseal_agents_connected (\d+)/m.exec(text)?.[1]);
  };

  beforeAll(async () => {
    dir = await tempDir('squatter');
    root = await copyHost('gpu8');
    collector = await startTestCollector(join(dir, 'collector.db'), { helloTimeoutMs: HELLO_TIMEOUT_MS });
    collector.events.on('agent-connected', (e) => void connectedEvents.push(e.nodeId));
    // The node is pinned by its honest agent, which then goes offline.
    agentState = await tempDir('squatter-agent');
    evidence = softTpmSource(root);
    const agent = await startTestAgent({ collector: collector.wsUrl, nodeId: NODE, evidence, stateDir: agentState });
    await waitFor('honest agent verified', async () => (await api(collector.url, 'GET', `/v1/nodes/${NODE}`)).json.verifiedAt);
    expect(await nodeConnected()).toBe(true);
    kid = agent.daemon.kid;
    await agent.stop();
    await waitFor('node offline', async () => (await nodeConnected()) === false);
  });

  afterAll(async () => {
    await collector?.close();
    await removeHost(root);
    await removeDir(agentState);
    await removeDir(dir);
  });

  it('does not make an offline node look connected, gets no on-demand challenge through attest, and is closed after the bound', async () => {
    const before = connectedEvents.length;
    const c = await squat();
    // It gets its first challenge (it would need one to prove the key), and nothing more.
    await c.next((m) => m.type === 'challenge');
    const opened = Date.now();
    expect(await nodeConnected()).toBe(false);
    const health = (await api(collector.url, 'GET', '/healthz')).json;
    expect(health.connections).toBe(0);
    expect(health.unprovenConnections).toBe(1);
    expect(await metricConnected()).toBe(0);
    let r = await api(collector.url, 'POST', `/v1/nodes/${NODE}/attest`);
    expect(r.status).toBe(409);
    expect(r.json.error?.code ?? r.json.code).toBe('ERR_NODE_NOT_CONNECTED');
    r = await api(collector.url, 'POST', `/v1/nodes/${NODE}/attest?wait=0.5`);
    expect(r.status).toBe(409);
    expect(r.json.error?.code ?? r.json.code).toBe('ERR_NODE_NOT_CONNECTED');
    expect(connectedEvents.length).toBe(before);
    // Unproven for two intervals: closed with its code.
    const closed = await c.waitClosed(5000);
    expect(closed).toEqual({ code: 1008, reason: 'ERR_WS_UNPROVEN_TIMEOUT' });
    expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: 'ERR_WS_UNPROVEN_TIMEOUT' });
    expect(Date.now() - opened).toBeGreaterThanOrEqual(1500);
    expect((await api(collector.url, 'GET', '/healthz')).json.unprovenConnections).toBe(0);
  });

  it('at most 4 unproven connections per node: a fifth evicts the oldest, so squatters cannot lock the honest agent out', async () => {
    const held: Awaited<ReturnType<typeof squat>>[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await squat();
      await c.next((m) => m.type === 'challenge');
      held.push(c);
    }
    const fifth = await squat();
    await fifth.next((m) => m.type === 'challenge');
    const err = await held[0]!.next((m) => m.type === 'error');
    expect(err.code).toBe('ERR_WS_UNPROVEN_LIMIT');
    expect((await held[0]!.waitClosed()).code).toBe(1008);
    expect(held.slice(1).every((c) => c.closed === null)).toBe(true);
    expect(fifth.closed).toBe(null);
    expect((await api(collector.url, 'GET', '/healthz')).json.unprovenConnections).toBe(4);
    expect(await nodeConnected()).toBe(false);
    // The honest agent arriving while four squatters are held still gets in and proves its key.
    const agent = await startTestAgent({ collector: collector.wsUrl, nodeId: NODE, evidence, stateDir: agentState });
    try {
      await waitFor('honest agent connected despite four squatters', () => nodeConnected());
    } finally {
      await agent.stop();
    }
    for (const c of [...held.slice(1), fifth]) c.close();
    await waitFor('squatters gone', async () => (await api(collector.url, 'GET', '/healthz')).json.unprovenConnections === 0);
  });

  it('the honest agent beside a squatter proves its key with its first report, counts as connected, and answers attest', async () => {
    const squatter = await squat();
    await squatter.next((m) => m.type === 'challenge');
    const before = connectedEvents.length;
    const agent = await startTestAgent({ collector: collector.wsUrl, nodeId: NODE, evidence, stateDir: agentState });
    try {
      await waitFor('honest agent connected', () => nodeConnected());
      expect(connectedEvents.slice(before)).toEqual([NODE]);
      expect(await metricConnected()).toBe(1);
      const r = await api(collector.url, 'POST', `/v1/nodes/${NODE}/attest?wait=5`);
      expect(r.status).toBe(200);
      expect(r.json.status).toBe('trusted');
      // The on-demand challenge went to the proven connection only: the squatter still holds just its first one.
      expect(squatter.messages.filter((m) => m.type === 'challenge').length).toBe(1);
      const closed = await squatter.waitClosed(5000);
      expect(closed.reason).toBe('ERR_WS_UNPROVEN_TIMEOUT');
      expect(await nodeConnected()).toBe(true);
    } finally {
      squatter.close();
      await agent.stop();
    }
  });
});
