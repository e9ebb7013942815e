import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmIntegration } from '../../../collector/src/integrations/slurm.js';
import type { RunningCollector } from '../../../collector/src/server.js';
import { createTrust, type TrustModule } from '../../../collector/src/trust/index.js';
import {
  api,
  removeDir,
  silent,
  softTpmSource,
  startTestAgent,
  startTestCollector,
  tempDir,
  waitFor,
  type TestAgent,
} from '../../e2e/harness.js';
import { copyHost, removeHost, setGpuField } from '../../helpers/hosts.js';
import { startSlurm, type SlurmCluster } from './slurm-cluster.js';

function prolog(env: Record<string, string>): Promise<number | null> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['scripts/slurm/nodeseal-prolog.mjs'], {
      env: { PATH: process.env.PATH ?? '', NODESEAL_PROLOG_CONFIG: '/nonexistent', NODESEAL_DRAIN: '0', ...env },
      stdio: 'ignore',
    });
    c.on('exit', (code) => resolve(code));
  });
}

/**
 * End to end: real agents (recorded hosts, simulated TPM quotes) report to a real collector over
 * WebSocket; its event bus drives the trust cache and the Slurm integration, which drains and
 * resumes nodes of a real slurmctld + slurmd; the prolog asks the real collector for fresh evidence.
 */
describe('end to end: agent drift drains the Slurm node, approval resumes it', () => {
  let dir: string;
  let collector: RunningCollector;
  let slurm: SlurmCluster;
  let trust: TrustModule;
  let integ: SlurmIntegration;
  const roots: Record<string, string> = {};
  const agents: TestAgent[] = [];

  beforeAll(async () => {
    dir = await tempDir('slurm-e2e');
    slurm = await startSlurm(['gpu001', 'gpu002']);
    collector = await startTestCollector(join(dir, 'collector.db'));
    trust = await createTrust({ store: collector.store, events: collector.events, cache: { freshnessTtlSec: 30 } });
    integ = new SlurmIntegration({ mode: 'drain', runner: slurm.runner, logger: silent, reconcileMs: 0 });
    await integ.attach(trust.cache);
    for (const id of ['gpu001', 'gpu002']) {
      roots[id] = await copyHost('gpu8');
      agents.push(await startTestAgent({ collector: collector.wsUrl, nodeId: id, evidence: softTpmSource(roots[id]!) }));
    }
  }, 60_000);

  afterAll(async () => {
    for (const a of agents) await a.stop();
    integ?.detach();
    trust?.close();
    await collector?.close();
    await slurm?.stop();
    for (const r of Object.values(roots)) await removeHost(r);
    if (dir) await removeDir(dir);
  }, 30_000);

  it('both nodes become trusted and stay schedulable', async () => {
    for (const id of ['gpu001', 'gpu002']) await waitFor(`${id} trusted`, () => trust.cache.get(id)?.status === 'trusted');
    await integ.drainQueues();
    for (const id of ['gpu001', 'gpu002']) expect((await slurm.nodeState(id)).state).not.toMatch(/drain/);
    expect(await prolog({ NODESEAL_URL: collector.url, SLURMD_NODENAME: 'gpu001', NODESEAL_FRESH: '5' })).toBe(0);
  });

  it('a VBIOS change on gpu002 drains it with the drift code; the prolog refuses it with fresh evidence', async () => {
    await setGpuField(roots.gpu002!, 0, 'vbios', '92.00.99.00.01');
    const st = await waitFor(
      'gpu002 drained',
      async () => {
        await integ.drainQueues();
        const s = await slurm.nodeState('gpu002');
        return /^drain/.test(s.state) ? s : null;
      },
      10_000,
    );
    expect(st.reason).toMatch(/^nodeseal: gpu\.vbios_changed /);
    expect((await slurm.nodeState('gpu001')).state).not.toMatch(/drain/);
    expect(await prolog({ NODESEAL_URL: collector.url, SLURMD_NODENAME: 'gpu002', NODESEAL_FRESH: '5' })).toBe(1);
  });

  it('approval makes gpu002 trusted and the integration resumes it', async () => {
    const ok = await api(collector.url, 'POST', '/v1/nodes/gpu002/approve', { reason: 'vendor VBIOS update, ticket 42' });
    expect(ok.status).toBe(200);
    await waitFor(
      'gpu002 resumed',
      async () => {
        await integ.drainQueues();
        return !/drain/.test((await slurm.nodeState('gpu002')).state);
      },
      10_000,
    );
    expect((await slurm.nodeState('gpu002')).reason).toBe('none');
    expect(integ.counters).toMatchObject({ drained: 1, resumed: 1, errors: 0 });
  });
});
