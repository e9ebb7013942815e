import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAlertsConfig, SqlAlertOutbox, startAlerts, type Alerts } from '../../../collector/src/alerts/index.js';
import { CollectorEvents } from '../../../collector/src/events.js';
import {
  createSqlStore,
  MIGRATIONS,
  openPostgresDb,
  openPostgresStore,
  openSqliteDb,
  openSqliteStore,
  type Store,
} from '../../../collector/src/store/index.js';
import { commitVerdict } from './commit.js';
import { SECRET, VBIOS_DRIFT } from './crash-fixture.js';
import { Receiver } from './receiver.js';

const PG = process.env.NODESEAL_TEST_PG ?? 'postgresql:///test?host=/var/run/postgresql';
process.env.PGUSER ??= 'root'; // the connection string names no user
const dir = mkdtempSync(join(tmpdir(), 'nodeseal-alert-crash-'));
const schemas: string[] = [];
afterAll(async () => {
  if (schemas.length) {
    const admin = new pg.Client({ connectionString: PG });
    await admin.connect();
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await admin.end();
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Where one test's database lives: the child's argv and a way for this process to open it. */
interface Db {
  argv: string[];
  open(): Promise<Store>;
  /** The store as it was before the alert cursor (migrations up to 0200). */
  openBeforeCursor(): Promise<Store>;
}
// Every migration but the alert cursor's: today's store code reads columns later migrations add
// (nodes.version), and 0201 is then applied on reopen, as on an upgraded database.
const BEFORE_CURSOR = MIGRATIONS.filter((m) => m.id !== '0201_alert_cursor');
let n = 0;
const engines: Array<[string, () => Db]> = [
  [
    'SQLite',
    () => {
      const file = join(dir, `alerts-${++n}.db`);
      return {
        argv: ['sqlite', file],
        open: () => openSqliteStore(file),
        openBeforeCursor: async () => {
          const st = createSqlStore(openSqliteDb(file), BEFORE_CURSOR);
          await st.migrate();
          return st;
        },
      };
    },
  ],
  [
    'PostgreSQL',
    () => {
      const schema = `alert_crash_${process.pid}_${++n}`;
      schemas.push(schema);
      return {
        argv: ['postgres', PG, schema],
        open: () => openPostgresStore(PG, { schema }),
        openBeforeCursor: async () => {
          const st = createSqlStore(openPostgresDb(PG, { schema }), BEFORE_CURSOR);
          await st.migrate();
          return st;
        },
      };
    },
  ],
];

const logger = pino({ level: 'silent' });
const config = (url: string, extra: Record<string, unknown> = {}) =>
  parseAlertsConfig({ webhooks: [{ name: 'ops', url, secret: SECRET, ...extra }], backoff: { baseMs: 20, maxMs: 100 } });
const parsed = (r: Receiver) =>
  r.got.map((g) => ({
    delivery: String(g.headers['x-nodeseal-delivery']),
    json: JSON.parse(g.body) as {
      id: string;
      type: string;
      nodeId: string;
      seq?: number;
      from?: string | null;
      to?: string;
      reasons: Array<{ code: string; after?: unknown }>;
    },
  }));

async function until(what: string, ok: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Per-test receiver (fresh port), alert modules and stores of one describe block, all stopped
 * and closed after each test.
 */
function alertSuite() {
  const receiver = new Receiver();
  const opened: Store[] = [];
  const running: Alerts[] = [];
  beforeEach(async () => {
    receiver.got.length = 0;
    receiver.port = 0;
    await receiver.up();
  });
  afterEach(async () => {
    for (const a of running.splice(0)) await a.stop();
    for (const s of opened.splice(0)) await s.close();
    await receiver.down();
  });
  const open = async (db: Db) => {
    const s = await db.open();
    opened.push(s);
    return s;
  };
  return { receiver, running, open };
}

describe.each(engines)('alerts on %s', (_name, makeDb) => {
  const { receiver, running, open } = alertSuite();

  it('a collector SIGKILLed after the store committed a drift, before the outbox insert: the next start delivers it exactly once', async () => {
    const db = makeDb();
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'crash-child.ts'), ...db.argv, receiver.url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, signal) => resolve(signal)));
    const lines: string[] = [];
    for await (const line of createInterface({ input: child.stdout })) {
      lines.push(line);
      if (line === 'committed') {
        child.kill('SIGKILL');
        break;
      }
    }
    expect(await exited, stderr).toBe('SIGKILL');
    expect(lines).toEqual(['delivered', 'committed']);
    // Before the crash only the first verdict was alerted; the drift is committed but not queued.
    expect(parsed(receiver).map((p) => `${p.json.type}:${p.json.to ?? ''}`)).toEqual(['status-changed:trusted']);
    const store = await open(db);
    expect((await store.listChanges('gpu-crash')).map((c) => c.seq)).toEqual([2]);
    expect(Number((await store.db.get<{ n: unknown }>('SELECT COUNT(*) AS n FROM alert_outbox'))!.n)).toBe(0);

    // The next start finds the change and the status past the node's alert cursor.
    const a = startAlerts({ events: new CollectorEvents(), outbox: new SqlAlertOutbox(store.db), config: config(receiver.url), logger });
    running.push(a);
    await receiver.waitFor(3);
    await until('outbox drained', async () => (await a.counts()).pending === 0);
    // A second restart (and late events for the node) queue nothing again.
    await a.stop();
    running.pop();
    const events = new CollectorEvents();
    const b = startAlerts({ events, outbox: new SqlAlertOutbox(store.db), config: config(receiver.url), logger });
    running.push(b);
    events.emit('drift', { nodeId: 'gpu-crash', seq: 2, reasons: [VBIOS_DRIFT], at: new Date().toISOString() });
    await b.flushed();
    await new Promise((r) => setTimeout(r, 300));
    expect(await b.counts()).toEqual({ pending: 0, dead: 0 });

    const got = parsed(receiver);
    expect(got.map((p) => `${p.json.type}:${p.json.from ?? ''}>${p.json.to ?? ''}`)).toEqual([
      'status-changed:>trusted',
      'drift:>',
      'status-changed:trusted>untrusted',
    ]);
    const drift = got.filter((p) => p.json.type === 'drift');
    expect(drift).toHaveLength(1);
    expect(drift[0]!.json).toMatchObject({
      nodeId: 'gpu-crash',
      seq: 2,
      reasons: [{ code: 'gpu.vbios_changed', after: '96.00.5E.00.02' }],
    });
    expect(drift[0]!.delivery).toBe(drift[0]!.json.id);
    expect(new Set(got.map((p) => p.delivery)).size).toBe(got.length);
  }, 30_000);

  it('upgrading: nodes stored before the alert cursor are adopted without alerts; their next drift alerts', async () => {
    const db = makeDb();
    const old = await db.openBeforeCursor();
    await commitVerdict(old, 'gpu-old-1', 1, 'trusted', []);
    await commitVerdict(old, 'gpu-old-2', 1, 'untrusted', [VBIOS_DRIFT], { drift: [VBIOS_DRIFT] });
    await old.close();
    const store = await open(db); // migration 0201 adopts both nodes
    const events = new CollectorEvents();
    const a = startAlerts({ events, outbox: new SqlAlertOutbox(store.db), config: config(receiver.url), logger });
    running.push(a);
    await a.flushed();
    expect(await a.counts()).toEqual({ pending: 0, dead: 0 });
    const cursors = await store.db.all<{ node_id: string; status_key: string; drift_seq: unknown }>(
      'SELECT node_id, status_key, drift_seq FROM alert_cursor ORDER BY node_id',
    );
    expect(cursors.map((c) => [c.node_id, c.status_key, Number(c.drift_seq)])).toEqual([
      ['gpu-old-1', 'trusted ', 1],
      ['gpu-old-2', 'untrusted gpu.vbios_changed', 1],
    ]);
    const driver = { code: 'gpu.driver_changed', claim: 'configuration' as const, detail: 'driver changed' };
    await commitVerdict(store, 'gpu-old-2', 2, 'untrusted', [VBIOS_DRIFT, driver], { drift: [driver] });
    events.emit('drift', { nodeId: 'gpu-old-2', seq: 2, reasons: [VBIOS_DRIFT, driver], at: new Date().toISOString() });
    await receiver.waitFor(2);
    expect(parsed(receiver).map((p) => [p.json.type, p.json.seq ?? p.json.from, p.json.reasons.map((r) => r.code).join('+')])).toEqual([
      ['drift', 2, 'gpu.driver_changed'],
      ['status-changed', 'untrusted', 'gpu.vbios_changed+gpu.driver_changed'],
    ]);
  }, 30_000);

  it('caps a webhook pending alerts: the oldest move to dead-letter with ERR_ALERT_OUTBOX_FULL, a warning and a metric', async () => {
    const store = await open(makeDb());
    await receiver.down();
    const logLines: string[] = [];
    const sink = new Writable({
      write: (chunk: Buffer, _e, cb) => {
        logLines.push(chunk.toString());
        cb();
      },
    });
    const overflow: Array<[string, number]> = [];
    const events = new CollectorEvents();
    const a = startAlerts({
      events,
      outbox: new SqlAlertOutbox(store.db),
      config: config(receiver.url, { maxPending: 3, events: ['status-changed'] }),
      logger: pino({ level: 'warn' }, sink),
      onOverflow: (w, m) => overflow.push([w, m]),
    });
    running.push(a);
    for (let i = 1; i <= 5; i++) {
      await commitVerdict(store, `gpu-c${i}`, 1, 'untrusted', [VBIOS_DRIFT], { drift: [VBIOS_DRIFT] });
      events.emit('status-changed', {
        nodeId: `gpu-c${i}`,
        from: null,
        to: 'untrusted',
        reasons: [VBIOS_DRIFT],
        at: new Date().toISOString(),
      });
    }
    await a.flushed();
    expect(await a.counts()).toEqual({ pending: 3, dead: 2 });
    const dead = await new SqlAlertOutbox(store.db).listDead(10);
    expect(dead.map((d) => d.nodeId).sort()).toEqual(['gpu-c1', 'gpu-c2']);
    for (const d of dead) expect(d.lastError).toMatch(/^ERR_ALERT_OUTBOX_FULL: more than 3 pending/);
    expect(overflow).toEqual([
      ['ops', 1],
      ['ops', 1],
    ]);
    expect(
      logLines
        .map((l) => JSON.parse(l) as { code?: string; webhook?: string; moved?: number })
        .filter((l) => l.code === 'ERR_ALERT_OUTBOX_FULL'),
    ).toEqual([expect.objectContaining({ webhook: 'ops', moved: 1 }), expect.objectContaining({ webhook: 'ops', moved: 1 })]);
    // The receiver comes back: the three newest are delivered, the dead letters stay listed.
    await receiver.up();
    await receiver.waitFor(3);
    await until('outbox drained', async () => (await a.counts()).pending === 0);
    expect(parsed(receiver).map((p) => p.json.nodeId)).toEqual(['gpu-c3', 'gpu-c4', 'gpu-c5']);
    expect(await a.counts()).toEqual({ pending: 0, dead: 2 });
  }, 30_000);
});

// Several collectors share one PostgreSQL (a SQLite file has one collector).
describe('alerts on PostgreSQL shared by several collectors', () => {
  const { receiver, running, open } = alertSuite();

  it('two collectors on one database queue and deliver each alert once', async () => {
    const db = engines[1]![1]();
    const [s1, s2] = [await open(db), await open(db)];
    const [e1, e2] = [new CollectorEvents(), new CollectorEvents()];
    for (const [s, e] of [
      [s1, e1],
      [s2, e2],
    ] as const) {
      const a = startAlerts({ events: e, outbox: new SqlAlertOutbox(s.db), config: config(receiver.url), logger });
      running.push(a);
    }
    const ids = Array.from({ length: 12 }, (_, i) => `gpu-m${String(i).padStart(2, '0')}`);
    // The receiver is down while both collectors queue, so both dispatchers are awake and retrying.
    await receiver.down();
    for (const id of ids) {
      const mine = i2s(id) % 2;
      await commitVerdict(mine ? s1 : s2, id, 1, 'untrusted', [VBIOS_DRIFT], { drift: [VBIOS_DRIFT] });
      (mine ? e1 : e2).emit('drift', { nodeId: id, seq: 1, reasons: [VBIOS_DRIFT], at: new Date().toISOString() });
    }
    await Promise.all(running.map((a) => a.flushed()));
    // The other collector hears of every node too (as its trust cache's sweep would): nothing is queued twice.
    for (const id of ids)
      (i2s(id) % 2 ? e2 : e1).emit('drift', { nodeId: id, seq: 1, reasons: [VBIOS_DRIFT], at: new Date().toISOString() });
    await Promise.all(running.map((a) => a.flushed()));
    expect(await running[0]!.counts()).toEqual({ pending: 24, dead: 0 });
    await new Promise((r) => setTimeout(r, 100));
    await receiver.up();
    await receiver.waitFor(24);
    await until('outbox drained', async () => (await running[0]!.counts()).pending === 0);
    await new Promise((r) => setTimeout(r, 300));
    const got = parsed(receiver);
    expect(got).toHaveLength(24);
    expect(new Set(got.map((p) => p.delivery)).size).toBe(24);
    for (const id of ids) expect(got.filter((p) => p.json.nodeId === id).map((p) => p.json.type)).toEqual(['drift', 'status-changed']);
  }, 30_000);
});

function i2s(id: string): number {
  return Number(id.slice(-2));
}
