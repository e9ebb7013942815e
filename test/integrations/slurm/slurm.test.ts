import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectorEvents } from '../../../collector/src/events.js';
import { SlurmIntegration } from '../../../collector/src/integrations/slurm.js';
import { HttpError, type Route } from '../../../collector/src/http/router.js';
import type { NodeRecord } from '../../../collector/src/store/store.js';
import type { Reason } from '../../../shared/src/report/types.js';
import { createTrust, type TrustModule } from '../../../collector/src/trust/index.js';
import { serveRoutes } from '../../collector/trust/serve-routes.js';
import { nodeRecord } from '../../helpers/records.js';
import { startSlurm, type SlurmCluster } from './slurm-cluster.js';

const vbios: Reason = {
  code: 'gpu.vbios_changed',
  claim: 'firmware',
  detail: 'GPU 0 (serial 1650123456789) VBIOS 96.00.5E.00.01 -> 96.00.5E.00.02',
};

function rec(nodeId: string, status: NodeRecord['status']): NodeRecord {
  const now = new Date().toISOString();
  return nodeRecord({ nodeId, status, reasons: status === 'untrusted' ? [vbios] : [], firstSeenAt: now, lastSeenAt: now, verifiedAt: now });
}

function runProlog(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['scripts/slurm/nodeseal-prolog.mjs'], {
      env: { PATH: process.env.PATH ?? '', NODESEAL_PROLOG_CONFIG: '/nonexistent/prolog.env', NODESEAL_DRAIN: '0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    c.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    c.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('Slurm integration against real slurmctld + slurmd', () => {
  let slurm: SlurmCluster;
  const events = new CollectorEvents();
  let trust: TrustModule;
  let integ: SlurmIntegration;
  const publish = (nodeId: string, to: NodeRecord['status'], reasons: Reason[] = []) => {
    events.emit('report-verified', { nodeId, seq: 2, status: to, latencyMs: 1, fresh: true, spoolBacklog: 0 });
    events.emit('status-changed', { nodeId, from: null, to, reasons, at: new Date().toISOString() });
  };

  // The prolog slurmd runs for every job: our script, with its settings in a file (slurmd gives prologs a bare environment).
  const prologDir = mkdtempSync(join(tmpdir(), 'nodeseal-prolog-'));
  const prologEnv = join(prologDir, 'prolog.env');
  const wrapper = join(prologDir, 'prolog.sh');
  writeFileSync(
    wrapper,
    `#!/bin/sh\nNODESEAL_PROLOG_CONFIG=${prologEnv} exec ${process.execPath} ${resolve('scripts/slurm/nodeseal-prolog.mjs')}\n`,
    { mode: 0o755 },
  );

  beforeAll(async () => {
    slurm = await startSlurm(['gpu001', 'gpu002', 'gpu003', 'gpu004'], `Prolog=${wrapper}`);
    trust = await createTrust({
      store: { listNodes: async () => ({ nodes: ['gpu001', 'gpu002', 'gpu003', 'gpu004'].map((n) => rec(n, 'trusted')), total: 4 }) },
      events,
      cache: { freshnessTtlSec: 600, sweepMs: 0 },
    });
    integ = new SlurmIntegration({ mode: 'drain', runner: slurm.runner, logger: pino({ level: 'silent' }), timeoutMs: 10_000 });
    await integ.attach(trust.cache);
  }, 60_000);

  afterAll(async () => {
    integ?.detach();
    trust?.close();
    await slurm?.stop();
    rmSync(prologDir, { recursive: true, force: true });
  }, 30_000);

  it('drains a node that turns untrusted, with our reason', async () => {
    publish('gpu001', 'untrusted', [vbios]);
    await integ.drainQueues();
    const st = await slurm.nodeState('gpu001');
    expect(st.state).toMatch(/^drain/);
    expect(st.reason).toMatch(
      /^nodeseal: gpu\.vbios_changed GPU 0 \(serial 1650123456789\) VBIOS 96\.00\.5E\.00\.01 -> 96\.00\.5E\.00\.02/,
    );
    expect((await slurm.nodeState('gpu002')).state).toBe('idle');
    expect(integ.counters.drained).toBe(1);
  });

  it('resumes it when it is trusted again', async () => {
    publish('gpu001', 'trusted');
    await integ.drainQueues();
    const st = await slurm.nodeState('gpu001');
    expect(st.state).not.toMatch(/drain/);
    expect(st.reason).toBe('none');
    expect(integ.counters.resumed).toBe(1);
  });

  it('never touches a node an admin drained', async () => {
    await slurm.scontrol('update', 'NodeName=gpu003', 'State=DRAIN', 'Reason=bad DIMM, ticket 4711');
    publish('gpu003', 'untrusted', [vbios]);
    await integ.drainQueues();
    expect((await slurm.nodeState('gpu003')).reason).toBe('bad DIMM, ticket 4711');
    publish('gpu003', 'trusted');
    await integ.drainQueues();
    const st = await slurm.nodeState('gpu003');
    expect(st.state).toMatch(/^drain/);
    expect(st.reason).toBe('bad DIMM, ticket 4711');
    expect(integ.counters.resumed).toBe(1);
  });

  it('a stale node is not drained during the start-up grace, and is drained after it', async () => {
    const stale = {
      nodeId: 'gpu004',
      status: 'stale' as const,
      reasons: [{ code: 'freshness.expired', claim: 'instance-identity' as const, detail: 'no fresh verified report within 180 s' }],
      verifiedAt: null,
      expiresAt: null,
    };
    await integ.submit(stale);
    expect((await slurm.nodeState('gpu004')).state).toMatch(/^idle\*?$/);
    const noGrace = new SlurmIntegration({
      mode: 'drain',
      runner: slurm.runner,
      logger: pino({ level: 'silent' }),
      staleGraceMs: 0,
      reconcileMs: 0,
    });
    await noGrace.submit(stale);
    const st = await slurm.nodeState('gpu004');
    expect(st.state).toMatch(/^drain/);
    expect(st.reason).toBe('nodeseal: freshness.expired no fresh verified report within 180 s');
    await slurm.scontrol('update', 'NodeName=gpu004', 'State=RESUME');
  });

  it('report-only mode logs and counts but changes nothing', async () => {
    const ro = new SlurmIntegration({ mode: 'report-only', runner: slurm.runner, logger: pino({ level: 'silent' }) });
    await ro.submit({ nodeId: 'gpu004', status: 'untrusted', reasons: [vbios], verifiedAt: null, expiresAt: null });
    expect(ro.counters.reported).toBe(1);
    expect((await slurm.nodeState('gpu004')).state).toMatch(/^idle\*?$/);
  });

  it('counts a failing scontrol as an error without throwing', async () => {
    const bad = new SlurmIntegration({
      mode: 'drain',
      runner: slurm.runner,
      logger: pino({ level: 'silent' }),
      scontrol: '/nonexistent/scontrol',
    });
    await bad.submit({ nodeId: 'gpu004', status: 'untrusted', reasons: [vbios], verifiedAt: null, expiresAt: null });
    expect(bad.counters.errors).toBe(1);
    expect((await slurm.nodeState('gpu004')).state).toMatch(/^idle\*?$/);
  });

  describe('prolog script', () => {
    let srv: Awaited<ReturnType<typeof serveRoutes>>;
    const attest: Route = {
      // Stands in for the nodes API's fresh-attestation endpoint: answers with the node's trust now.
      method: 'POST',
      path: '/v1/nodes/:id/attest',
      role: 'scheduler',
      handler: ({ params }) => {
        // like the nodes API: a node whose fresh report is rejected answers 502 with its code
        if (params.id === 'gpu005') throw new HttpError(502, 'ERR_ATTEST_REJECTED', "the node's answer was rejected");
        return trust.cache.getOrUnknown(params.id!);
      },
    };
    const broken: Route = { method: 'GET', path: '/v1/nodes/:id/trust', role: 'viewer', handler: () => Promise.reject(new Error('boom')) };
    beforeAll(async () => {
      srv = await serveRoutes([...trust.routes, attest]);
      writeFileSync(prologEnv, `# written by the test\nNODESEAL_URL=${srv.url}\nNODESEAL_TIMEOUT=3\n`);
      publish('gpu002', 'untrusted', [vbios]);
      await integ.drainQueues();
    });
    afterAll(async () => srv.close());

    it('exits 0 for a trusted node and 1 for an untrusted one', async () => {
      expect((await runProlog({ NODESEAL_URL: srv.url, SLURMD_NODENAME: 'gpu004' })).code).toBe(0);
      const bad = await runProlog({ NODESEAL_URL: srv.url, SLURMD_NODENAME: 'gpu002' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('gpu.vbios_changed');
      expect((await runProlog({ NODESEAL_URL: srv.url, SLURMD_NODENAME: 'gpu999' })).code).toBe(1);
      expect((await runProlog({ NODESEAL_URL: srv.url, SLURMD_NODENAME: 'gpu002', NODESEAL_FRESH: '2' })).code).toBe(1);
      expect((await runProlog({ NODESEAL_URL: srv.url, SLURMD_NODENAME: 'gpu004', NODESEAL_FRESH: '2' })).code).toBe(0);
      // a coded refusal is a verdict about the node: not trusted even when fail-open
      expect(
        (await runProlog({ NODESEAL_URL: srv.url, SLURMD_NODENAME: 'gpu005', NODESEAL_FRESH: '2', NODESEAL_FAIL_OPEN: '1' })).code,
      ).toBe(1);
    });

    it('treats a failing collector (500) like an unreachable one', async () => {
      const bad = await serveRoutes([broken]);
      try {
        expect((await runProlog({ NODESEAL_URL: bad.url, SLURMD_NODENAME: 'gpu004' })).code).toBe(3);
        expect((await runProlog({ NODESEAL_URL: bad.url, SLURMD_NODENAME: 'gpu004', NODESEAL_FAIL_OPEN: '1' })).code).toBe(0);
      } finally {
        await bad.close();
      }
    });

    it('fails closed when the collector is unreachable, unless fail-open', async () => {
      const down = 'http://127.0.0.1:9'; // discard port: nothing listens
      const closed = await runProlog({ NODESEAL_URL: down, SLURMD_NODENAME: 'gpu004' });
      expect(closed.code).toBe(3);
      expect(closed.stderr).toContain('fail-closed');
      expect((await runProlog({ NODESEAL_URL: down, SLURMD_NODENAME: 'gpu004', NODESEAL_FAIL_OPEN: '1' })).code).toBe(0);
    });

    it('tries the next collector in NODESEAL_URL when one cannot be reached; a POST only when it cannot have arrived', async () => {
      const down = 'http://127.0.0.1:9'; // discard port: nothing listens
      expect((await runProlog({ NODESEAL_URL: `${down},${srv.url}`, SLURMD_NODENAME: 'gpu004' })).code).toBe(0);
      expect((await runProlog({ NODESEAL_URL: `${down}, ${srv.url}`, SLURMD_NODENAME: 'gpu002' })).code).toBe(1);
      expect((await runProlog({ NODESEAL_URL: `${down},${srv.url}`, SLURMD_NODENAME: 'gpu004', NODESEAL_FRESH: '2' })).code).toBe(0);
      const both = await runProlog({ NODESEAL_URL: `${down},http://127.0.0.1:7`, SLURMD_NODENAME: 'gpu004' });
      expect(both.code).toBe(3);
      expect(both.stderr).toMatch(/127\.0\.0\.1:9: ECONNREFUSED; 127\.0\.0\.1:7: ECONNREFUSED/);
      // A collector that takes the request and never answers: the GET moves on, the POST does not
      // (it may have arrived; repeating it elsewhere could attest twice).
      const { createServer } = await import('node:net');
      const sockets: import('node:net').Socket[] = [];
      const hang = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
      const hung = `http://127.0.0.1:${(hang.address() as { port: number }).port}`;
      try {
        const get = await runProlog({ NODESEAL_URL: `${hung},${srv.url}`, SLURMD_NODENAME: 'gpu004', NODESEAL_TIMEOUT: '1' });
        expect(get.code).toBe(0);
        const post = await runProlog({
          NODESEAL_URL: `${hung},${srv.url}`,
          SLURMD_NODENAME: 'gpu004',
          NODESEAL_TIMEOUT: '1',
          NODESEAL_FRESH: '1',
        });
        expect(post.code).toBe(3);
        expect(post.stderr).toMatch(/no answer within 2000 ms\); fail-closed/);
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise<void>((res) => hang.close(() => res()));
      }
    });

    it('gives up within its timeout when the collector hangs', async () => {
      const { createServer } = await import('node:net');
      const sockets: import('node:net').Socket[] = [];
      const hang = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
      const port = (hang.address() as { port: number }).port;
      const t0 = Date.now();
      const r = await runProlog({ NODESEAL_URL: `http://127.0.0.1:${port}`, SLURMD_NODENAME: 'gpu004', NODESEAL_TIMEOUT: '1' });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('no answer within 1000 ms');
      expect(Date.now() - t0).toBeLessThan(10_000);
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => hang.close(() => res()));
    });

    it('under slurmd: refuses a job on an untrusted node, drains it with our reason; reconcile resumes it once trusted', async () => {
      const srun = (node: string) => slurm.runner.run(['srun', '-w', node, '-t', '1', '--immediate=10', 'true'], { timeoutMs: 30_000 });
      expect((await srun('gpu004')).exitCode).toBe(0);
      integ.detach(); // collector integration off: only the prolog stands between the job and the node
      publish('gpu004', 'untrusted', [vbios]);
      const refused = await srun('gpu004');
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toMatch(/prolog/i);
      const st = await slurm.nodeState('gpu004');
      expect(st.state).toMatch(/^drain/);
      expect(st.reason).toMatch(/^nodeseal: prolog node gpu004 is untrusted: gpu\.vbios_changed/);
      publish('gpu004', 'trusted');
      const again = new SlurmIntegration({ mode: 'drain', runner: slurm.runner, logger: pino({ level: 'silent' }), reconcileMs: 0 });
      await again.attach(trust.cache);
      await again.drainQueues();
      again.detach();
      expect(again.counters.resumed).toBe(1);
      expect((await slurm.nodeState('gpu004')).state).toMatch(/^idle/); // 'idle*' until slurmctld pings it again
      expect((await srun('gpu004')).exitCode).toBe(0);
    }, 60_000);

    it('rejects bad configuration with exit 2', async () => {
      expect((await runProlog({ SLURMD_NODENAME: 'gpu004' })).code).toBe(2);
      expect((await runProlog({ NODESEAL_URL: srv.url, SLURMD_NODENAME: 'gpu004', NODESEAL_TIMEOUT: 'soon' })).code).toBe(2);
    });
  });
});
