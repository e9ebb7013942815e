import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CollectorEvents } from '../../collector/src/events.js';
import { parseSchedulerSettings, startSchedulerFeatures, type CommandRunner } from '../../collector/src/integrations/index.js';
import { createTrust } from '../../collector/src/trust/index.js';

describe('scheduler settings', () => {
  it('defaults: slurm off, receipt key beside the database', () => {
    const s = parseSchedulerSettings({}, '/var/lib/nodeseal/collector.db');
    expect(s.slurm.mode).toBe('off');
    expect(s.slurm.drainOn).toEqual(['untrusted', 'stale']);
    expect(s.stateDir).toBe('/var/lib/nodeseal');
  });
  it('lists every problem at once with ERR_CONFIG', () => {
    let err: { code?: string; details?: { problems: string[] } } = {};
    try {
      parseSchedulerSettings({ slurm: { mode: 'sometimes', drainOn: ['trusted'], timeoutSec: -1, extra: 1 }, trust: 'x' }, '/db');
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.details!.problems.length).toBe(5);
  });
  it('env NODESEAL_SLURM_MODE overrides the file', () => {
    expect(parseSchedulerSettings({ slurm: { mode: 'drain' } }, '/db', { NODESEAL_SLURM_MODE: 'report-only' }).slurm.mode).toBe(
      'report-only',
    );
  });

  it('startSchedulerFeatures makes the receipt key and attaches Slurm when enabled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nodeseal-sched-'));
    const calls: string[][] = [];
    // A hand-written runner: sinfo lists one drained-by-nodeseal node that is trusted.
    const runner: CommandRunner = {
      async run(argv) {
        calls.push([...argv]);
        if (argv[0] === 'sinfo' && argv.includes('%N|%T|%E'))
          return { exitCode: 0, stdout: 'gpu001|drained|nodeseal: gpu.replaced x\n', stderr: '' };
        if (argv[0] === 'sinfo') return { exitCode: 0, stdout: 'drained|nodeseal: gpu.replaced x\n', stderr: '' };
        return { exitCode: 0, stdout: '', stderr: '' };
      },
    };
    const now = new Date().toISOString();
    const trust = await createTrust({
      store: {
        listNodes: async () => ({
          nodes: [
            {
              nodeId: 'gpu001',
              jwk: null,
              kid: null,
              akPublic: null,
              lastSeq: 1,
              status: 'trusted',
              reasons: [],
              firstSeenAt: now,
              lastSeenAt: now,
              verifiedAt: now,
              enrolledVia: 'tofu',
              revokedAt: null,
              summary: null,
            },
          ],
          total: 1,
        }),
      },
      events: new CollectorEvents(),
      cache: { sweepMs: 0 },
    });
    const f = await startSchedulerFeatures({
      settings: parseSchedulerSettings({ slurm: { mode: 'drain', reconcileSec: 0 }, trust: { stateDir: join(dir, 'state') } }, '/db'),
      store: { getNode: async () => null },
      trust,
      logger: pino({ level: 'silent' }),
      runner,
    });
    expect(statSync(join(dir, 'state', 'receipt-key.jwk')).mode & 0o777).toBe(0o600);
    expect(f.routes.map((r) => r.path)).toEqual(['/v1/receipt/key', '/v1/receipt']);
    await f.slurm!.reconcile();
    await f.slurm!.drainQueues();
    expect(calls).toContainEqual(['scontrol', 'update', 'NodeName=gpu001', 'State=RESUME']);
    f.close();
    trust.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
