import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import receiptVerb from '../../../collector/src/cli/receipt.js';
import verifyVerb from '../../../collector/src/cli/receipt-verify.js';
import { loadOrCreateReceiptKey, receiptRoutes } from '../../../collector/src/receipt.js';
import type { RunningCollector } from '../../../collector/src/server.js';
import { createTrust, type TrustModule } from '../../../collector/src/trust/index.js';
import { api, softTpmSource, startTestAgent, startTestCollector, waitFor, type TestAgent } from '../../e2e/harness.js';
import { copyHost, removeHost } from '../../helpers/hosts.js';
import { serveRoutes } from './serve-routes.js';
import { captureIo } from '../../helpers/cli.js';

/** A receipt over nodes verified for real: digests are those the collector stored from the agents' reports. */
describe('job receipt for nodes attested by real agents', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodeseal-receipt-e2e-'));
  let collector: RunningCollector;
  let trust: TrustModule;
  let srv: Awaited<ReturnType<typeof serveRoutes>>;
  const agents: TestAgent[] = [];
  const roots: string[] = [];
  const io = () => captureIo({ NODESEAL_CLI_CONFIG: '/nonexistent' });

  beforeAll(async () => {
    collector = await startTestCollector(join(dir, 'collector.db'));
    for (const [id, host] of [
      ['gpu001', 'gpu8'],
      ['gpu002', 'a100'],
    ] as const) {
      const root = await copyHost(host);
      roots.push(root);
      agents.push(await startTestAgent({ collector: collector.wsUrl, nodeId: id, evidence: softTpmSource(root) }));
    }
    trust = await createTrust({ store: collector.store, events: collector.events });
    const key = await loadOrCreateReceiptKey(join(dir, 'state'));
    srv = await serveRoutes([...trust.routes, ...receiptRoutes({ key, cache: trust.cache, store: collector.store })]);
    for (const id of ['gpu001', 'gpu002']) await waitFor(`${id} trusted`, () => trust.cache.get(id)?.status === 'trusted');
  }, 60_000);
  afterAll(async () => {
    for (const a of agents) await a.stop();
    trust?.close();
    await srv?.close();
    await collector?.close();
    for (const r of roots) await removeHost(r);
    rmSync(dir, { recursive: true, force: true });
  });

  it('states each node’s stored inventory and PCR digests; verifies offline with the key file', async () => {
    const o = io();
    expect(await receiptVerb.run(['--nodes', 'gpu[001-002]', '--url', srv.url, '--token', 'unused', '--json'], o)).toBe(0);
    const { receipt, payload } = JSON.parse(o.out) as {
      receipt: string;
      payload: { nodes: { nodeId: string; status: string; inventoryDigest: string; pcrDigest: string; agentKid: string }[] };
    };
    for (const n of payload.nodes) {
      const stored = (await api(collector.url, 'GET', `/v1/nodes/${n.nodeId}`)).json;
      expect(n.status).toBe('trusted');
      expect(n.inventoryDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(n.inventoryDigest).toBe(stored.summary.inventoryDigest);
      expect(n.pcrDigest).toBe(stored.summary.pcrDigest);
      expect(n.agentKid).toBe(stored.kid);
    }
    expect(payload.nodes[0]!.inventoryDigest).not.toBe(payload.nodes[1]!.inventoryDigest);
    writeFileSync(join(dir, 'job.receipt'), receipt);
    writeFileSync(join(dir, 'key.jwk'), JSON.stringify((await api(srv.url, 'GET', '/v1/receipt/key')).json));
    const v = io();
    expect(await verifyVerb.run([join(dir, 'job.receipt'), '--key', join(dir, 'key.jwk'), '--require-trusted'], v)).toBe(0);
    expect(v.out).toMatch(/gpu002\s+trusted/);
  });

  it('refuses an --out that cannot be written (a directory) with one ERR_USAGE line', async () => {
    await expect(receiptVerb.run(['--nodes', 'gpu001', '--url', srv.url, '--token', 'unused', '--out', dir], io())).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message: expect.stringContaining(`cannot write --out ${dir}: EISDIR`),
    });
  });
});
