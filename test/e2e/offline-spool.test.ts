import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../collector/src/store/index.js';
import { copyHost, removeHost } from '../helpers/hosts.js';
import { api, removeDir, softTpmSource, startTestAgent, tempDir, waitFor, type TestAgent } from './harness.js';
import { freePort, waitHealthy } from '../helpers/net.js';

/** Bootstrap operator token for the API; the agent is pinned on first contact (--allow-tofu, lab setting). */
const TOKEN = `test-bootstrap-${'t'.repeat(32)}`;

/** The collector as a real process, so that it can be killed with SIGKILL. */
function spawnCollector(port: number, db: string): ChildProcess {
  const p = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'bin/nodeseal.ts',
      'collector',
      '--listen',
      `127.0.0.1:${port}`,
      '--db',
      db,
      '--interval',
      '1',
      '--heartbeat',
      '1',
      '--log-level',
      'warn',
      '--allow-tofu',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, NODESEAL_BOOTSTRAP_TOKEN: TOKEN },
    },
  );
  p.stderr!.on('data', () => undefined);
  return p;
}

describe('collector killed: offline reports are spooled and all arrive, in order, once', () => {
  let dir: string;
  let root: string;
  let port: number;
  let db: string;
  let proc: ChildProcess | null = null;
  let agent: TestAgent;
  const made: Array<{ seq: number; nonce: string | null }> = [];
  const base = () => `http://127.0.0.1:${port}`;

  async function start() {
    const p = spawnCollector(port, db);
    proc = p;
    await waitHealthy(base(), p);
  }

  beforeAll(async () => {
    dir = await tempDir('offline');
    root = await copyHost('a100');
    port = await freePort();
    db = join(dir, 'collector.db');
    await start();
    agent = await startTestAgent({ collector: `ws://127.0.0.1:${port}`, nodeId: 'node-off', evidence: softTpmSource(root) });
    agent.daemon.on('report', (r) => made.push(r));
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
    await removeHost(root);
    await removeDir(dir);
  });

  it('spools 3 offline reports while the collector is dead and delivers every one after restart', async () => {
    await waitFor('two verdicts', async () => (await api(base(), 'GET', '/v1/nodes/node-off', undefined, TOKEN)).json?.lastSeq >= 2);
    const exited = new Promise((r) => proc!.once('exit', r));
    proc!.kill('SIGKILL');
    await exited;
    const killedAt = made.length;
    await waitFor('3 offline reports', () => made.slice(killedAt).filter((r) => r.nonce === null).length >= 3, 15_000);
    expect(agent.daemon.spooled).toBeGreaterThanOrEqual(3);
    await start();
    await waitFor('spool drained', () => agent.daemon.spooled === 0 && agent.daemon.state.name === 'attesting', 20_000);
    await waitFor(
      'a fresh verdict after the restart',
      async () => (await api(base(), 'GET', '/v1/nodes/node-off/trust', undefined, TOKEN)).json?.status === 'trusted',
      10_000,
    );
    await agent.daemon.stop();

    const store = await openSqliteStore(db);
    try {
      const rows = (await store.listReports('node-off', { limit: 10_000 })).sort((a, b) => a.seq - b.seq);
      const stored = rows.map((r) => r.seq);
      const madeSeqs = made.map((r) => r.seq);
      // None lost, none twice: the stored seqs are exactly the seqs the agent made.
      expect(new Set(stored).size).toBe(stored.length);
      expect(stored).toEqual([...madeSeqs].sort((a, b) => a - b));
      // In order: the collector received them in seq order.
      const byReceipt = [...rows].sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.seq - b.seq).map((r) => r.seq);
      expect(byReceipt).toEqual(stored);
      // The offline ones are history, never fresh proof.
      const offline = made.filter((r) => r.nonce === null).map((r) => r.seq);
      expect(offline.length).toBeGreaterThanOrEqual(3);
      for (const seq of offline) expect(rows.find((r) => r.seq === seq)).toMatchObject({ kind: 'history', nonce: null });
      expect(rows.filter((r) => r.kind === 'fresh').length).toBeGreaterThanOrEqual(3);
    } finally {
      await store.close();
    }
  }, 90_000);
});
