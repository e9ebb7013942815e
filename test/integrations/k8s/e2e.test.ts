import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import k8sSyncVerb from '../../../collector/src/cli/k8s-sync.js';
import type { RunningCollector } from '../../../collector/src/server.js';
import { api, removeDir, softTpmSource, startTestAgent, startTestCollector, tempDir, waitFor, type TestAgent } from '../../e2e/harness.js';
import { copyHost, removeHost, setGpuField } from '../../helpers/hosts.js';
import { kubeconfigFor, startFakeApiServer, type FakeApiServer } from './fake-apiserver.js';
import { captureIo } from '../../helpers/cli.js';

type Node = { metadata: { labels?: Record<string, string> }; spec: { taints?: { key: string; value?: string; effect: string }[] } };

/**
 * Real agents → real collector → `nodeseal k8s-sync` following the collector's watch stream →
 * the local Kubernetes API stand-in (no real API server runs here).
 */
describe('end to end: drift taints the Kubernetes node, approval removes the taint', () => {
  let dir: string;
  let collector: RunningCollector;
  let fake: FakeApiServer;
  const roots: Record<string, string> = {};
  const agents: TestAgent[] = [];
  const ac = new AbortController();
  let running: Promise<number>;
  const io = captureIo({ NODESEAL_CLI_CONFIG: '/nonexistent' }, ac.signal);
  const node = (n: string) => fake.nodes.get(n) as Node;

  beforeAll(async () => {
    dir = await tempDir('k8s-e2e');
    fake = await startFakeApiServer();
    for (const id of ['gpu001', 'gpu002']) fake.addNode(id);
    writeFileSync(join(dir, 'kubeconfig'), kubeconfigFor(fake));
    collector = await startTestCollector(join(dir, 'collector.db'));
    for (const id of ['gpu001', 'gpu002']) {
      roots[id] = await copyHost('gpu8');
      agents.push(await startTestAgent({ collector: collector.wsUrl, nodeId: id, evidence: softTpmSource(roots[id]!) }));
    }
    for (const id of ['gpu001', 'gpu002'])
      await waitFor(`${id} trusted`, async () => (await api(collector.url, 'GET', `/v1/nodes/${id}/trust`)).json.status === 'trusted');
    running = k8sSyncVerb.run(['--url', collector.url, '--token', 'unused', '--kubeconfig', join(dir, 'kubeconfig'), '--resync', '60'], io);
  }, 60_000);

  afterAll(async () => {
    ac.abort();
    await running?.catch(() => 1);
    for (const a of agents) await a.stop();
    await collector?.close();
    await fake?.close();
    for (const r of Object.values(roots)) await removeHost(r);
    if (dir) await removeDir(dir);
  }, 30_000);

  it('labels trusted nodes, taints the drifted one, and removes only its taint after approval', async () => {
    await waitFor(
      'labels',
      () =>
        node('gpu001').metadata.labels?.['nodeseal.io/trust'] === 'trusted' &&
        node('gpu002').metadata.labels?.['nodeseal.io/trust'] === 'trusted',
    );
    await setGpuField(roots.gpu002!, 0, 'vbios', '92.00.99.00.01');
    await waitFor('gpu002 tainted', () => node('gpu002').spec.taints?.some((t) => t.key === 'nodeseal.io/untrusted'), 10_000);
    expect(node('gpu002').spec.taints).toEqual([{ key: 'nodeseal.io/untrusted', value: 'gpu.vbios_changed', effect: 'NoSchedule' }]);
    expect(node('gpu002').metadata.labels!['nodeseal.io/trust']).toBe('untrusted');
    expect(node('gpu001').spec.taints ?? []).toEqual([]);

    expect((await api(collector.url, 'POST', '/v1/nodes/gpu002/approve', { reason: 'vendor VBIOS update' })).status).toBe(200);
    await waitFor(
      'gpu002 untainted',
      () => node('gpu002').spec.taints?.length === 0 && node('gpu002').metadata.labels?.['nodeseal.io/trust'] === 'trusted',
      10_000,
    );
    ac.abort();
    expect(await running).toBe(0);
  });
});
