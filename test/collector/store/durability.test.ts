import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../../collector/src/store/open.js';

const dir = mkdtempSync(join(tmpdir(), 'nodeseal-durable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function killAfterAcks(path: string, mode: 'single' | 'group', target: number): Promise<Map<string, number>> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'durability-writer.ts'), path, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const acked = new Map<string, number>();
  let total = 0;
  for await (const line of createInterface({ input: child.stdout })) {
    const m = /^ack (\S+) (\d+)$/.exec(line);
    if (!m) continue;
    acked.set(m[1]!, Math.max(acked.get(m[1]!) ?? 0, Number(m[2])));
    if (++total >= target) {
      child.kill('SIGKILL');
      break;
    }
  }
  expect(await exited, stderr).toBe('SIGKILL');
  expect(total).toBe(target);
  return acked;
}

async function expectAllAcked(path: string, acked: Map<string, number>): Promise<void> {
  const store = await openSqliteStore(path);
  try {
    for (const [nodeId, lastAck] of acked) {
      const reports = await store.listReports(nodeId, { limit: 10_000 });
      const seqs = new Set(reports.map((r) => r.seq));
      for (let s = 1; s <= lastAck; s++) expect(seqs.has(s), `${nodeId} seq ${s}`).toBe(true);
      const changes = await store.listChanges(nodeId, { limit: 10_000 });
      expect(changes.length).toBe(reports.length);
      const node = await store.getNode(nodeId);
      expect(node!.lastSeq).toBeGreaterThanOrEqual(lastAck);
      expect(node!.lastSeq).toBe(Math.max(...seqs));
    }
  } finally {
    await store.close();
  }
}

describe('SQLite durability', () => {
  it('keeps every acknowledged report when the writer is SIGKILLed right after an acknowledgement', async () => {
    const path = join(dir, 'durable.db');
    const acked = await killAfterAcks(path, 'single', 150);
    expect(acked.get('durable-1')).toBe(150);
    await expectAllAcked(path, acked);
  }, 30_000);

  it('keeps every report acknowledged out of a group commit when the writer is SIGKILLed', async () => {
    const path = join(dir, 'durable-group.db');
    const acked = await killAfterAcks(path, 'group', 400);
    expect(acked.size).toBe(8);
    await expectAllAcked(path, acked);
  }, 30_000);
});
