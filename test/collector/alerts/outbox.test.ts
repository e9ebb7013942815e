import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { SqlAlertOutbox, type AlertOutbox } from '../../../collector/src/alerts/index.js';
import { openPostgresStore, openSqliteStore } from '../../../collector/src/store/index.js';

const PG = process.env.NODESEAL_TEST_PG ?? 'postgresql:///test?host=/var/run/postgresql';
process.env.PGUSER ??= 'root'; // the connection string names no user
const dir = mkdtempSync(join(tmpdir(), 'nodeseal-outbox-'));
const schema = `alerts_test_${process.pid}_${Date.now()}`;
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

async function sqlite(): Promise<AlertOutbox> {
  const store = await openSqliteStore(join(dir, 'o.db'));
  cleanups.push(() => store.close());
  return new SqlAlertOutbox(store.db);
}

async function postgres(): Promise<AlertOutbox> {
  const store = await openPostgresStore(PG, { schema });
  cleanups.push(async () => {
    await store.close();
    const admin = new pg.Client({ connectionString: PG });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });
  return new SqlAlertOutbox(store.db);
}

const row = (webhook: string, nodeId: string) => ({
  webhook,
  eventId: `id-${webhook}-${nodeId}`,
  kind: 'drift',
  nodeId,
  body: `{"nodeId":"${nodeId}"}`,
  createdAt: '2026-11-25T10:00:00.000Z',
  nextAttemptAt: 1000,
});

describe.each([
  ['SQLite', sqlite],
  ['PostgreSQL', postgres],
])('alert outbox on %s (store SQL port, migration 0200_alert_outbox)', (_name, open) => {
  it('keeps a per-webhook FIFO, records failures, dead-letters and deletes delivered rows', async () => {
    const o = await open();
    await o.enqueue([row('a', 'n1'), row('b', 'n1')]);
    await o.enqueue([row('a', 'n2')]);
    expect(await o.counts()).toEqual({ pending: 3, dead: 0 });
    const head = await o.head('a');
    expect(head).toMatchObject({
      webhook: 'a',
      nodeId: 'n1',
      attempts: 0,
      nextAttemptAt: 1000,
      status: 'pending',
      lastError: null,
      body: '{"nodeId":"n1"}',
    });
    await o.failed(head!.id, 1, 5000, 'ERR_ALERT_DELIVERY: HTTP 503', false);
    expect(await o.head('a')).toMatchObject({ id: head!.id, attempts: 1, nextAttemptAt: 5000, lastError: 'ERR_ALERT_DELIVERY: HTTP 503' });
    await o.failed(head!.id, 2, 9000, 'ERR_ALERT_DELIVERY: HTTP 503', true);
    expect(await o.head('a')).toMatchObject({ nodeId: 'n2' });
    expect(await o.counts()).toEqual({ pending: 2, dead: 1 });
    expect((await o.listDead(10)).map((r) => r.eventId)).toEqual(['id-a-n1']);
    await o.delivered((await o.head('b'))!.id);
    expect(await o.head('b')).toBeNull();
    expect(await o.counts()).toEqual({ pending: 1, dead: 1 });
  });
});
