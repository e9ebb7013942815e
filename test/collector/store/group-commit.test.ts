import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroupCommitter } from '../../../collector/src/store/group-commit.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';
import { ERR_STORE_CLOSED, ERR_STORE_DUPLICATE_SEQ } from '../../../collector/src/store/errors.js';
import type { ReportWrite, Store } from '../../../collector/src/store/store.js';
import { node } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'nodeseal-group-'));
let store: Store;
beforeAll(async () => {
  store = await openSqliteStore(join(dir, 'group.db'));
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const T0 = '2026-01-01T00:00:00.000Z';
function write(nodeId: string, seq: number): ReportWrite {
  return {
    report: {
      nodeId,
      seq,
      receivedAt: T0,
      nonce: null,
      kind: 'history',
      status: 'trusted',
      reasons: [],
      inventoryDigest: 'sha256:i',
      pcrDigest: null,
      jws: `h.p${seq}.s`,
    },
    changes: [{ nodeId, seq, at: T0, code: 'gpu.added', claim: 'hardware', detail: `GPU ${seq}`, before: null, after: seq }],
    node: node(nodeId, { lastSeq: seq }),
  };
}

describe('group commit (store/group-commit.ts)', () => {
  it('writes the reports queued in one event-loop turn as one transaction and resolves each after it', async () => {
    const batches: number[] = [];
    const w = createGroupCommitter(store, { onBatch: (n) => batches.push(n) });
    const ids = Array.from({ length: 20 }, (_, i) => `gc-a${i}`);
    await Promise.all(ids.map((id) => w.record(write(id, 1))));
    expect(batches).toEqual([20]);
    for (const id of ids) expect((await store.getReport(id, 1))?.seq).toBe(1);
  });

  it('splits a queue longer than maxBatch; reports queued after a transaction ran form the next', async () => {
    const batches: number[] = [];
    const w = createGroupCommitter(store, { maxBatch: 8, onBatch: (n) => batches.push(n) });
    const first = Array.from({ length: 20 }, (_, i) => w.record(write(`gc-b${i}`, 1)));
    // Queued after the first transaction ran: they form their own.
    await new Promise((r) => setImmediate(r));
    const later = Array.from({ length: 5 }, (_, i) => w.record(write(`gc-c${i}`, 1)));
    await Promise.all([...first, ...later]);
    expect(batches).toEqual([8, 8, 4, 5]);
  });

  it('rejects only the report whose seq is a duplicate; the rest of its batch commits', async () => {
    const w = createGroupCommitter(store);
    await w.record(write('gc-d', 1));
    const out = await Promise.allSettled([
      w.record(write('gc-d', 2)),
      w.record(write('gc-d', 1)),
      w.record(write('gc-e', 1)),
      w.record(write('gc-e', 1)),
    ]);
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect(((out[1] as PromiseRejectedResult).reason as { code: string }).code).toBe(ERR_STORE_DUPLICATE_SEQ);
    expect(((out[3] as PromiseRejectedResult).reason as { code: string }).code).toBe(ERR_STORE_DUPLICATE_SEQ);
    expect((await store.listReports('gc-d')).map((r) => r.seq)).toEqual([2, 1]);
    expect((await store.listChanges('gc-d')).map((c) => c.seq)).toEqual([2, 1]);
    expect((await store.listReports('gc-e')).map((r) => r.seq)).toEqual([1]);
    expect((await store.getNode('gc-d'))!.lastSeq).toBe(2);
  });

  it('rejects every report of a batch whose transaction fails, and drains', async () => {
    const other = await openSqliteStore(join(dir, 'closed.db'));
    await other.close();
    const w = createGroupCommitter(other);
    const out = await Promise.allSettled([w.record(write('gc-f', 1)), w.record(write('gc-g', 1))]);
    expect(out.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : 'ok'))).toEqual([
      ERR_STORE_CLOSED,
      ERR_STORE_CLOSED,
    ]);
    await w.drain();
  });
});
