import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCollector } from '../../collector/src/server.js';
import { copyHost, removeHost, setGpuField } from '../helpers/hosts.js';
import { startSwtpm, type Swtpm } from '../helpers/swtpm.js';
import { api, removeDir, softTpmSource, startTestAgent, startTestCollector, tempDir, waitFor, type TestAgent } from './harness.js';
import { bootSwtpmWithLog, measureNewBootloader } from './swtpm-log.js';

/**
 * Three agents against one collector (real WebSocket on loopback, real SQLite file): node-a on
 * a real swtpm whose PCRs hold the measured boot of a recorded RHEL 8 event log, node-b and
 * node-c with simulated TPMs; each reads its own copy of a recorded host via --root.
 */
const REAL_LOG = 'test/fixtures/eventlogs/go-tpm-tools/rhel8-uefi.bin';

describe('fleet: trust, drift, approval, on-demand attestation', () => {
  let dir: string;
  let swtpm: Swtpm;
  let collector: RunningCollector;
  const roots: Record<string, string> = {};
  const agents: TestAgent[] = [];
  let logFile: string;

  const trust = async (id: string) => (await api(collector.url, 'GET', `/v1/nodes/${id}/trust`)).json;

  beforeAll(async () => {
    dir = await tempDir('fleet');
    swtpm = await startSwtpm();
    logFile = join(dir, 'binary_bios_measurements');
    await bootSwtpmWithLog(swtpm, REAL_LOG, logFile);
    roots.a = await copyHost('gpu8');
    roots.b = await copyHost('a100');
    roots.c = await copyHost('gpu8');
    collector = await startTestCollector(join(dir, 'collector.db'));
    agents.push(
      await startTestAgent({ collector: collector.wsUrl, nodeId: 'node-a', root: roots.a, tcti: swtpm.tcti, eventLogPath: logFile }),
    );
    agents.push(await startTestAgent({ collector: collector.wsUrl, nodeId: 'node-b', evidence: softTpmSource(roots.b!) }));
    agents.push(await startTestAgent({ collector: collector.wsUrl, nodeId: 'node-c', evidence: softTpmSource(roots.c!) }));
  });

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await collector?.close();
    await swtpm?.stop();
    for (const r of Object.values(roots)) await removeHost(r);
    await removeDir(dir);
  });

  it('three agents become trusted', async () => {
    for (const id of ['node-a', 'node-b', 'node-c']) {
      const t = await waitFor(`${id} trusted`, async () => {
        const t = await trust(id);
        return t.status === 'trusted' ? t : null;
      });
      expect(t).toMatchObject({ nodeId: id, status: 'trusted', reasons: [] });
      expect(Date.parse(t.expiresAt)).toBeGreaterThan(Date.parse(t.verifiedAt));
    }
    const { json } = await api(collector.url, 'GET', '/v1/nodes');
    expect(json.total).toBe(3);
    const a = json.nodes.find((n: { nodeId: string }) => n.nodeId === 'node-a');
    expect(a.summary.gpuCount).toBe(8);
    expect(a.summary.pcrDigest).toMatch(/^sha256:/);
    expect(a.connected).toBe(true);
  });

  it('a VBIOS change makes that node untrusted within one interval; the others stay trusted; approve → trusted', async () => {
    await setGpuField(roots.b!, 0, 'vbios', '92.00.99.00.01');
    const t = await waitFor(
      'node-b untrusted',
      async () => {
        const t = await trust('node-b');
        return t.status === 'untrusted' ? t : null;
      },
      3000,
    );
    const r = t.reasons.find((x: { code: string }) => x.code === 'gpu.vbios_changed');
    expect(r).toMatchObject({ claim: 'firmware' });
    expect(JSON.stringify(r.after)).toContain('92.00.99.00.01');
    expect((await trust('node-a')).status).toBe('trusted');
    expect((await trust('node-c')).status).toBe('trusted');
    const changes = (await api(collector.url, 'GET', '/v1/nodes/node-b/changes')).json.changes;
    expect(changes.map((c: { code: string }) => c.code)).toContain('gpu.vbios_changed');

    const bad = await api(collector.url, 'POST', '/v1/nodes/node-b/approve', {});
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('ERR_APPROVE_REASON');
    const ok = await api(collector.url, 'POST', '/v1/nodes/node-b/approve', { reason: 'vendor VBIOS update, ticket 42' });
    expect(ok.status).toBe(200);
    expect(ok.json.status).toBe('trusted');
    await waitFor('node-b trusted again', async () => (await trust('node-b')).status === 'trusted');
    const node = (await api(collector.url, 'GET', '/v1/nodes/node-b')).json;
    expect(node.approvals.at(-1)).toMatchObject({ reason: 'vendor VBIOS update, ticket 42', actor: 'anonymous' });
    // Still trusted after the next interval's report against the new baseline.
    const seq = node.lastSeq;
    await waitFor('a later report', async () => (await api(collector.url, 'GET', '/v1/nodes/node-b')).json.lastSeq > seq);
    expect((await trust('node-b')).status).toBe('trusted');
  });

  it('a swapped GPU (new serial) gives gpu.replaced; approve → trusted', async () => {
    await setGpuField(roots.c!, 3, 'serial', '1650000000001');
    const t = await waitFor(
      'node-c untrusted',
      async () => {
        const t = await trust('node-c');
        return t.status === 'untrusted' ? t : null;
      },
      3000,
    );
    expect(t.reasons.map((x: { code: string }) => x.code)).toContain('gpu.replaced');
    expect((await trust('node-a')).status).toBe('trusted');
    expect((await trust('node-b')).status).toBe('trusted');
    expect((await api(collector.url, 'POST', '/v1/nodes/node-c/approve', { reason: 'RMA replacement' })).json.status).toBe('trusted');
    await waitFor('node-c trusted again', async () => (await trust('node-c')).status === 'trusted');
  });

  it('a PCR extended in swtpm gives tpm.pcr_changed explained by the event log, at once with attest?wait=5', async () => {
    await waitFor('node-a trusted (its baseline holds the recorded boot)', async () => (await trust('node-a')).status === 'trusted');
    await measureNewBootloader(swtpm, logFile, 'grubx64-evil.efi');
    const res = await api(collector.url, 'POST', '/v1/nodes/node-a/attest?wait=5');
    expect(res.status).toBe(200);
    expect(res.json.status).toBe('untrusted');
    const r = res.json.reasons.find((x: { code: string }) => x.code === 'tpm.pcr_changed');
    expect(r).toBeDefined();
    if (process.env.SHOW) console.log(JSON.stringify(res.json.reasons, null, 1));
    expect(JSON.stringify(r)).toContain('EV_EFI_BOOT_SERVICES_APPLICATION');
    expect(JSON.stringify(r)).toMatch(/PCR ?4|"pcr":4/);
    expect((await trust('node-a')).status).toBe('untrusted');
    expect((await trust('node-b')).status).toBe('trusted');
  });

  it('attest answers with coded errors for unknown and disconnected nodes', async () => {
    const unknown = await api(collector.url, 'POST', '/v1/nodes/nope/attest?wait=1');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('ERR_NODE_NOT_FOUND');
    const badWait = await api(collector.url, 'POST', '/v1/nodes/node-a/attest?wait=abc');
    expect(badWait.json.error.code).toBe('ERR_NODES_QUERY');
    await agents[2]!.daemon.stop();
    await waitFor('node-c disconnected', async () => !(await api(collector.url, 'GET', '/v1/nodes/node-c')).json.connected);
    const gone = await api(collector.url, 'POST', '/v1/nodes/node-c/attest?wait=1');
    expect(gone.status).toBe(409);
    expect(gone.json.error.code).toBe('ERR_NODE_NOT_CONNECTED');
  });
});
