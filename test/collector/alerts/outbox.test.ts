import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PgAlertOutbox, SqliteAlertOutbox, type AlertOutbox } from '../../../collector/src/alerts/index.js';
import { MIGRATIONS } from '../../../collector/src/store/migrations.js';

const migration = MIGRATIONS.find((m) => m.id === '0200_alert_outbox')!;
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
  const db = new Database(join(dir, 'o.db'));
  db.exec(migration.sqlite);
  cleanups.push(() => db.close());
  return new SqliteAlertOutbox(db);
}

async function postgres(): Promise<AlertOutbox> {
  const admin = new pg.Client({ connectionString: PG });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pool = new pg.Pool({ connectionString: PG, options: `-c search_path=${schema}`, max: 2 });
  await pool.query(migration.postgres);
  cleanups.push(async () => {
    await pool.end();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  });
  return new PgAlertOutbox(pool);
}

const row = (webhook: string, nodeId: string) => ({ webhook, eventId: `id-${webhook}-${nodeId}`, kind: 'drift', nodeId, body: `{"nodeId":"${nodeId}"}`, createdAt: '2026-11-25T10:00:00.000Z', nextAttemptAt: 1000 });

describe.each([
  ['SQLite', sqlite],
  ['PostgreSQL', postgres],
])('alert outbox on %s (migration 0200_alert_outbox)', (_name, open) => {
  it('keeps a per-webhook FIFO, records failures, dead-letters and deletes delivered rows', async () => {
    const o = await open();
    await o.enqueue([row('a', 'n1'), row('b', 'n1')]);
    await o.enqueue([row('a', 'n2')]);
    expect(await o.counts()).toEqual({ pending: 3, dead: 0 });
    const head = await o.head('a');
    expect(head).toMatchObject({ webhook: 'a', nodeId: 'n1', attempts: 0, nextAttemptAt: 1000, status: 'pending', lastError: null, body: '{"nodeId":"n1"}' });
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
