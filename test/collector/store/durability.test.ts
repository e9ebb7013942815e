import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../../collector/src/store/open.js';

const dir = mkdtempSync(join(tmpdir(), 'nodeseal-durable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite durability', () => {
  it('keeps every acknowledged report when the writer is SIGKILLed right after an acknowledgement', async () => {
    const path = join(dir, 'durable.db');
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'durability-writer.ts'), path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let lastAck = 0;
    const target = 150;
    for await (const line of createInterface({ input: child.stdout })) {
      const m = /^ack (\d+)$/.exec(line);
      if (!m) continue;
      lastAck = Number(m[1]);
      if (lastAck >= target) {
        child.kill('SIGKILL');
        break;
      }
    }
    expect(await exited, stderr).toBe('SIGKILL');
    expect(lastAck).toBe(target);

    const store = await openSqliteStore(path);
    try {
      const reports = await store.listReports('durable-1', { limit: 10_000 });
      const seqs = new Set(reports.map((r) => r.seq));
      for (let s = 1; s <= lastAck; s++) expect(seqs.has(s), `seq ${s}`).toBe(true);
      const changes = await store.listChanges('durable-1', { limit: 10_000 });
      expect(changes.length).toBe(reports.length);
      const node = await store.getNode('durable-1');
      expect(node!.lastSeq).toBeGreaterThanOrEqual(lastAck);
      expect(node!.lastSeq).toBe(Math.max(...seqs));
    } finally {
      await store.close();
    }
  }, 30_000);
});
