import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyHost, removeHost } from '../helpers/hosts.js';
import { api, removeDir, tempDir, waitFor } from './harness.js';
import { freePort, waitHealthy } from '../helpers/net.js';

function nodeseal(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess & { out: () => string } {
  const p = spawn(process.execPath, ['--import', 'tsx', 'bin/nodeseal.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  return Object.assign(p, { out: () => out });
}

const exited = (p: ChildProcess) => new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c))));

/** `nodeseal collector` and `nodeseal agent` as real processes, as an operator starts them. */
describe('collector and agent verbs as processes', () => {
  let dir: string;
  let root: string;
  let collector: ReturnType<typeof nodeseal>;
  let agent: ReturnType<typeof nodeseal>;
  let base: string;
  const token = 'b'.repeat(48);

  beforeAll(async () => {
    dir = await tempDir('procs');
    root = await copyHost('a100');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    collector = nodeseal(
      ['collector', '--listen', `127.0.0.1:${port}`, '--db', join(dir, 'c.db'), '--interval', '1', '--allow-tofu', '--log-level', 'warn'],
      { NODESEAL_BOOTSTRAP_TOKEN: token },
    );
    await waitHealthy(base, collector);
    agent = nodeseal([
      'agent',
      '--collector',
      `ws://127.0.0.1:${port}`,
      '--node-id',
      'proc-1',
      '--state-dir',
      join(dir, 'agent'),
      '--tcti',
      'none',
      '--root',
      root,
      '--log-level',
      'warn',
    ]);
  }, 40_000);

  afterAll(async () => {
    for (const p of [agent, collector]) if (p && p.exitCode === null) p.kill('SIGKILL');
    await removeHost(root);
    await removeDir(dir);
  });

  it('the agent reports (without TPM: unknown, tpm.unavailable) and both stop cleanly on SIGTERM', async () => {
    const headers = { authorization: `Bearer ${token}` };
    const node = await waitFor(
      'node reported twice',
      async () => {
        const r = await fetch(`${base}/v1/nodes/proc-1`, { headers });
        const j = (await r.json()) as any;
        return r.ok && j.lastSeq >= 2 ? j : null;
      },
      20_000,
    );
    expect(node.status).toBe('unknown');
    expect(node.reasons.map((r: { code: string }) => r.code)).toContain('tpm.unavailable');
    expect(node.summary).toMatchObject({ gpuCount: 1 });
    expect((await api(base, 'GET', '/v1/nodes/proc-1')).status).toBe(401);
    agent.kill('SIGTERM');
    expect(await exited(agent)).toBe(0);
    collector.kill('SIGTERM');
    expect(await exited(collector)).toBe(0);
    expect(collector.out()).toContain('listening on');
  }, 40_000);
});
