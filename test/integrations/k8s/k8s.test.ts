import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import k8sSyncVerb from '../../../collector/src/cli/k8s-sync.js';
import { CollectorEvents } from '../../../collector/src/events.js';
import {
  K8sSync,
  kubeNodesApi,
  MANAGED_ANNOTATION,
  planNode,
  type KubeNode,
  type NodesApi,
} from '../../../collector/src/integrations/k8s.js';
import type { NodeRecord } from '../../../collector/src/store/store.js';
import { createTrust, type TrustModule, type TrustView } from '../../../collector/src/trust/index.js';
import type { Reason } from '../../../shared/src/report/types.js';
import { serveRoutes } from '../../collector/trust/serve-routes.js';
import { nodeRecord } from '../../helpers/records.js';
import { kubeconfigFor, startFakeApiServer, type FakeApiServer } from './fake-apiserver.js';
import { captureIo } from '../../helpers/cli.js';

const replaced: Reason = { code: 'gpu.replaced', claim: 'hardware', detail: 'GPU 3 serial 1650123456789 -> 1650999999999' };
const view = (nodeId: string, status: TrustView['status'], reasons: Reason[] = []): TrustView => ({
  nodeId,
  status,
  reasons,
  verifiedAt: null,
  expiresAt: null,
});
const plain = (over: Partial<KubeNode> = {}): KubeNode => ({
  name: 'n1',
  resourceVersion: '7',
  labels: {},
  annotations: null,
  taints: null,
  ...over,
});
const opts = { taintOn: ['untrusted', 'stale'] as const, effects: ['NoSchedule'] as const };
type Node = {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { taints?: { key: string; value?: string; effect: string }[] };
};

describe('planNode', () => {
  it('labels and taints an untrusted node, guarded by resourceVersion', () => {
    const p = planNode(plain(), view('n1', 'untrusted', [replaced]), { taintOn: [...opts.taintOn], effects: [...opts.effects] });
    expect(p.patch).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '7' },
      { op: 'add', path: '/metadata/labels/nodeseal.io~1trust', value: 'untrusted' },
      { op: 'add', path: '/spec/taints', value: [{ key: 'nodeseal.io/untrusted', value: 'gpu.replaced', effect: 'NoSchedule' }] },
      { op: 'add', path: '/metadata/annotations', value: { [MANAGED_ANNOTATION]: 'nodeseal.io/untrusted:NoSchedule' } },
    ]);
  });
  it('does nothing when the node already matches', () => {
    const n = plain({ labels: { 'nodeseal.io/trust': 'trusted' } });
    expect(planNode(n, view('n1', 'trusted'), { taintOn: ['untrusted'], effects: ['NoSchedule'] }).patch).toEqual([]);
  });
  it('never removes or claims a taint with our key that it did not add', () => {
    const foreign = { key: 'nodeseal.io/untrusted', value: 'manual', effect: 'NoSchedule' };
    const n = plain({ labels: { 'nodeseal.io/trust': 'untrusted' }, taints: [foreign] });
    expect(
      planNode(n, view('n1', 'trusted'), { taintOn: ['untrusted'], effects: ['NoSchedule'] }).patch.filter(
        (o) => o.path === '/spec/taints',
      ),
    ).toEqual([]);
    const p = planNode(n, view('n1', 'untrusted', [replaced]), { taintOn: ['untrusted'], effects: ['NoSchedule'] });
    expect(p.patch).toEqual([]);
  });
});

describe('K8sSync through @kubernetes/client-node against a local API-server stand-in', () => {
  let fake: FakeApiServer;
  let dir: string;
  let api: NodesApi;
  const silent = pino({ level: 'silent' });

  beforeEach(async () => {
    fake = await startFakeApiServer();
    dir = mkdtempSync(join(tmpdir(), 'nodeseal-k8s-'));
    writeFileSync(join(dir, 'kubeconfig'), kubeconfigFor(fake));
    api = await kubeNodesApi({ kubeconfig: join(dir, 'kubeconfig') });
  });
  afterEach(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("taints an untrusted node, keeps others' taints, and removes only its own when trusted again", async () => {
    const adminTaint = { key: 'maintenance', value: 'dimm', effect: 'NoSchedule' };
    fake.addNode('gpu001', { taints: [adminTaint] });
    const sync = new K8sSync({ api, logger: silent, effects: ['NoSchedule', 'NoExecute'] });
    await sync.submit(view('gpu001', 'untrusted', [replaced]));
    let n = fake.nodes.get('gpu001') as Node;
    expect(n.metadata.labels!['nodeseal.io/trust']).toBe('untrusted');
    expect(n.spec.taints).toEqual([
      adminTaint,
      { key: 'nodeseal.io/untrusted', value: 'gpu.replaced', effect: 'NoSchedule' },
      { key: 'nodeseal.io/untrusted', value: 'gpu.replaced', effect: 'NoExecute' },
    ]);
    const patch = fake.requests.find((r) => r.method === 'PATCH')!;
    expect(patch.contentType).toBe('application/json-patch+json');
    expect(patch.authorization).toBe(`Bearer ${fake.token}`);
    expect(patch.path).toBe('/api/v1/nodes/gpu001');

    await sync.submit(view('gpu001', 'trusted'));
    n = fake.nodes.get('gpu001') as Node;
    expect(n.metadata.labels!['nodeseal.io/trust']).toBe('trusted');
    expect(n.spec.taints).toEqual([adminTaint]);
    expect(n.metadata.annotations?.[MANAGED_ANNOTATION]).toBeUndefined();
    expect(sync.counters).toMatchObject({ patched: 2, errors: 0 });
  });

  it('leaves a taint with our key that someone else added', async () => {
    const manual = { key: 'nodeseal.io/untrusted', value: 'set-by-hand', effect: 'NoSchedule' };
    fake.addNode('gpu002', { taints: [manual] });
    const sync = new K8sSync({ api, logger: silent });
    await sync.submit(view('gpu002', 'untrusted', [replaced]));
    await sync.submit(view('gpu002', 'trusted'));
    expect((fake.nodes.get('gpu002') as Node).spec.taints).toEqual([manual]);
  });

  it('dry-run sends no PATCH', async () => {
    fake.addNode('gpu003');
    const planned: string[] = [];
    const sync = new K8sSync({
      api,
      logger: silent,
      dryRun: true,
      onPlan: (node, changes) => planned.push(`${node}: ${changes.join('; ')}`),
    });
    await sync.submit(view('gpu003', 'stale', [{ code: 'freshness.expired', claim: 'instance-identity', detail: 'x' }]));
    expect(fake.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
    expect(planned).toEqual(['gpu003: label nodeseal.io/trust=stale; taint +nodeseal.io/untrusted=freshness.expired:NoSchedule']);
  });

  it('re-reads and retries when the node changes between GET and PATCH; counts missing nodes', async () => {
    fake.addNode('gpu004');
    let once = true;
    fake.afterGet = (name) => {
      if (once) fake.bump(name);
      once = false;
    };
    const sync = new K8sSync({ api, logger: silent });
    await sync.submit(view('gpu004', 'untrusted', [replaced]));
    expect(sync.counters.conflicts).toBe(1);
    expect(sync.counters.patched).toBe(1);
    expect(fake.requests.filter((r) => r.method === 'PATCH').length).toBe(2);
    await sync.submit(view('nosuchnode', 'untrusted', [replaced]));
    expect(sync.counters.missing).toBe(1);
  });

  it('an API server refusing the token is an error, counted, not thrown', async () => {
    fake.addNode('gpu005');
    writeFileSync(join(dir, 'bad'), kubeconfigFor({ ...fake, token: 'wrong' }));
    const sync = new K8sSync({ api: await kubeNodesApi({ kubeconfig: join(dir, 'bad') }), logger: silent });
    await sync.submit(view('gpu005', 'untrusted', [replaced]));
    expect(sync.counters.errors).toBe(1);
    expect(fake.requests.map((r) => `${r.method} ${r.authorization}`)).toEqual(['GET Bearer wrong']);
  });
});

describe('nodeseal k8s-sync verb', () => {
  const events = new CollectorEvents();
  let trust: TrustModule;
  let collector: Awaited<ReturnType<typeof serveRoutes>>;
  let fake: FakeApiServer;
  let dir: string;
  const rec = (nodeId: string, status: NodeRecord['status']): NodeRecord => {
    const t = new Date().toISOString();
    return nodeRecord({ nodeId, status, reasons: status === 'untrusted' ? [replaced] : [], firstSeenAt: t, lastSeenAt: t, verifiedAt: t });
  };
  const io = (signal?: AbortSignal) => captureIo({ NODESEAL_CLI_CONFIG: '/nonexistent' }, signal);

  beforeAll(async () => {
    trust = await createTrust({
      store: {
        listNodes: async () => ({ nodes: [rec('gpu001', 'trusted'), rec('gpu002', 'untrusted'), rec('gpu003', 'trusted')], total: 3 }),
      },
      events,
      cache: { sweepMs: 0 },
    });
    collector = await serveRoutes(trust.routes);
    fake = await startFakeApiServer();
    for (const n of ['gpu001', 'gpu002', 'gpu003']) fake.addNode(n);
    dir = mkdtempSync(join(tmpdir(), 'nodeseal-k8s-verb-'));
    writeFileSync(join(dir, 'kubeconfig'), kubeconfigFor(fake));
  });
  afterAll(async () => {
    trust.close();
    await collector.close();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--once --dry-run prints the plan and patches nothing', async () => {
    const o = io();
    expect(
      await k8sSyncVerb.run(['--once', '--dry-run', '--url', collector.url, '--token', 't', '--kubeconfig', join(dir, 'kubeconfig')], o),
    ).toBe(0);
    expect(o.out).toContain('gpu002: would label nodeseal.io/trust=untrusted; taint +nodeseal.io/untrusted=gpu.replaced:NoSchedule');
    expect(fake.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
  });

  it('follows the watch stream: a node turning untrusted is tainted within the stream, then the verb stops on signal', async () => {
    const ac = new AbortController();
    const o = io(ac.signal);
    const running = k8sSyncVerb.run(['--url', collector.url, '--token', 't', '--kubeconfig', join(dir, 'kubeconfig')], o);
    const until = async (pred: () => boolean) => {
      for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 25));
      expect(pred()).toBe(true);
    };
    await until(() => (fake.nodes.get('gpu002') as Node).spec.taints?.length === 1 && trust.watch.count === 1);
    events.emit('status-changed', {
      nodeId: 'gpu003',
      from: 'trusted',
      to: 'untrusted',
      reasons: [{ code: 'platform.bios_changed', claim: 'firmware', detail: 'BIOS 1.2 -> 1.3' }],
      at: '',
    });
    await until(() => (fake.nodes.get('gpu003') as Node).spec.taints?.[0]?.value === 'platform.bios_changed');
    events.emit('status-changed', { nodeId: 'gpu002', from: 'untrusted', to: 'trusted', reasons: [], at: '' });
    await until(() => (fake.nodes.get('gpu002') as Node).spec.taints?.length === 0);
    expect((fake.nodes.get('gpu001') as Node).metadata.labels!['nodeseal.io/trust']).toBe('trusted');
    ac.abort();
    expect(await running).toBe(0);
  });

  it('usage mistakes are ERR_USAGE', async () => {
    await expect(k8sSyncVerb.run(['--taint-on', 'trusted', '--url', collector.url], io())).rejects.toMatchObject({ code: 'ERR_USAGE' });
    await expect(k8sSyncVerb.run(['--nodes', 'gpu[1-', '--url', collector.url], io())).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });

  it('a kubeconfig that is not YAML is one ERR_USAGE line naming the file', async () => {
    const bad = join(dir, 'garbage-kubeconfig');
    writeFileSync(bad, '{bad\n');
    const err = await k8sSyncVerb
      .run(['--once', '--dry-run', '--url', collector.url, '--token', 't', '--kubeconfig', bad], io())
      .catch((e: unknown) => e as { code: string; message: string });
    expect(err).toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining(`cannot load Kubernetes credentials from ${bad}`) });
    expect((err as { message: string }).message).not.toContain('\n');
  });
});
