import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  parseAlertsConfig,
  SqlAlertOutbox,
  startAlerts,
  verifySignature,
  type Alerts,
  type AlertsConfig,
} from '../../../collector/src/alerts/index.js';
import { CollectorEvents } from '../../../collector/src/events.js';
import { TrustCache } from '../../../collector/src/trust/cache.js';
import { openSqliteStore, type Store } from '../../../collector/src/store/index.js';
import type { Reason } from '../../../shared/src/report/types.js';
import { serveRoutes } from '../metrics/routes-server.js';
import { commitVerdict } from './commit.js';
import { Receiver } from './receiver.js';

const SECRET = 'test-webhook-secret-0123456789';
const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'nodeseal-alerts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function openDb(file?: string): Promise<{ db: Store; file: string }> {
  const f = file ?? join(dir, `outbox-${++n}.db`);
  return { db: await openSqliteStore(f), file: f };
}

/** Polls until the outbox reaches the expected counts (the row is deleted just after the receiver answers). */
async function settled(
  a: { counts(): Promise<{ pending: number; dead: number }> },
  want: { pending: number; dead: number },
): Promise<void> {
  const deadline = Date.now() + 5000;
  let got = await a.counts();
  while ((got.pending !== want.pending || got.dead !== want.dead) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    got = await a.counts();
  }
  expect(got).toEqual(want);
}

function config(url: string, extra: Record<string, unknown> = {}): AlertsConfig {
  return parseAlertsConfig({
    webhooks: [{ name: 'ops', url, secret: SECRET, maxAttempts: 20, ...extra }],
    backoff: { baseMs: 40, maxMs: 200 },
  });
}

const vbios: Reason = {
  code: 'gpu.vbios_changed',
  claim: 'firmware',
  detail: 'GPU 0 VBIOS changed',
  before: '96.00.5E.00.01',
  after: '96.00.5E.00.02',
};

/** The test's own check of the signature, independent of collector/src/alerts/sign.ts. */
function expectSigned(headers: Record<string, string | string[] | undefined>, body: string): void {
  const ts = String(headers['x-nodeseal-timestamp']);
  expect(ts).toMatch(/^\d+$/);
  expect(Math.abs(Date.now() / 1000 - Number(ts))).toBeLessThan(60);
  const want = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`;
  expect(headers['x-nodeseal-signature']).toBe(want);
}

describe('webhook alerts', () => {
  const receiver = new Receiver();
  let alerts: Alerts | null = null;
  let db: Store | null = null;
  beforeEach(async () => {
    receiver.got.length = 0;
    receiver.status = 200;
    receiver.port = 0;
    await receiver.up();
  });
  afterEach(async () => {
    await alerts?.stop();
    alerts = null;
    await db?.close();
    db = null;
    await receiver.down();
  });

  it('sends a signed JSON alert for a status change and for drift, in order', async () => {
    const events = new CollectorEvents();
    ({ db } = await openDb());
    alerts = startAlerts({ events, outbox: new SqlAlertOutbox(db.db), config: config(receiver.url), logger });
    // The store commits each verdict, then the bus tells the alert module which node to look at.
    await commitVerdict(db, 'gpu-01', 6, 'trusted', []);
    events.emit('status-changed', { nodeId: 'gpu-01', from: null, to: 'trusted', reasons: [], at: '2026-11-25T09:59:00.000Z' });
    await commitVerdict(db, 'gpu-01', 7, 'untrusted', [vbios], { drift: [vbios], at: '2026-11-25T10:00:00.000Z' });
    events.emit('status-changed', { nodeId: 'gpu-01', from: 'trusted', to: 'untrusted', reasons: [vbios], at: '2026-11-25T10:00:00.000Z' });
    events.emit('drift', { nodeId: 'gpu-01', seq: 7, reasons: [vbios], at: '2026-11-25T10:00:00.000Z' });
    await receiver.waitFor(3);
    const [first, drift, status] = receiver.got.map((g) => ({ ...g, json: JSON.parse(g.body) as Record<string, unknown> }));
    expect(first!.json).toMatchObject({ type: 'status-changed', from: null, to: 'trusted' });
    expect(drift!.json).toMatchObject({
      v: 1,
      type: 'drift',
      nodeId: 'gpu-01',
      seq: 7,
      at: '2026-11-25T10:00:00.000Z',
      reasons: [{ code: 'gpu.vbios_changed', before: '96.00.5E.00.01', after: '96.00.5E.00.02' }],
    });
    expect(status!.json).toMatchObject({ type: 'status-changed', from: 'trusted', to: 'untrusted' });
    expect(drift!.headers['x-nodeseal-event']).toBe('drift');
    expect(drift!.headers['x-nodeseal-delivery']).toBe(drift!.json.id);
    for (const g of receiver.got) expectSigned(g.headers, g.body);
    // The exported verifier agrees, and refuses a tampered body.
    const g = receiver.got[1]!;
    const ts = String(g.headers['x-nodeseal-timestamp']);
    expect(verifySignature(SECRET, String(g.headers['x-nodeseal-signature']), ts, g.body, Math.floor(Date.now() / 1000))).toBe(true);
    expect(
      verifySignature(
        SECRET,
        String(g.headers['x-nodeseal-signature']),
        ts,
        g.body.replace('gpu-01', 'gpu-02'),
        Math.floor(Date.now() / 1000),
      ),
    ).toBe(false);
    await settled(alerts, { pending: 0, dead: 0 });
  });

  it('keeps an alert while the receiver is down and delivers it when it is back', async () => {
    const events = new CollectorEvents();
    ({ db } = await openDb());
    alerts = startAlerts({ events, outbox: new SqlAlertOutbox(db.db), config: config(receiver.url), logger });
    await receiver.down();
    await commitVerdict(db, 'gpu-02', 1, 'untrusted', [vbios]);
    events.emit('status-changed', { nodeId: 'gpu-02', from: null, to: 'untrusted', reasons: [vbios], at: new Date().toISOString() });
    await alerts.flushed();
    // Several attempts fail against the closed port...
    const deadline = Date.now() + 5000;
    let attempts = 0;
    while (attempts < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      attempts = Number((await db.db.get<{ attempts: unknown }>('SELECT attempts FROM alert_outbox'))?.attempts ?? 0);
    }
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect((await db.db.get<{ last_error: string }>('SELECT last_error FROM alert_outbox'))!.last_error).toMatch(
      /^ERR_ALERT_DELIVERY: ECONNREFUSED/,
    );
    expect(receiver.got).toHaveLength(0);
    // ...then the receiver is back on the same port and gets it exactly once.
    await receiver.up();
    await receiver.waitFor(1);
    expect(JSON.parse(receiver.got[0]!.body)).toMatchObject({ nodeId: 'gpu-02', to: 'untrusted' });
    expectSigned(receiver.got[0]!.headers, receiver.got[0]!.body);
    await settled(alerts, { pending: 0, dead: 0 });
  });

  it('loses nothing across a collector restart: pending rows in the SQLite file are delivered by the next process', async () => {
    const events = new CollectorEvents();
    const opened = await openDb();
    db = opened.db;
    await receiver.down();
    alerts = startAlerts({ events, outbox: new SqlAlertOutbox(db.db), config: config(receiver.url), logger });
    for (const id of ['a', 'b', 'c']) {
      await commitVerdict(db, `gpu-${id}`, 1, 'untrusted', [vbios]);
      events.emit('status-changed', { nodeId: `gpu-${id}`, from: null, to: 'untrusted', reasons: [vbios], at: new Date().toISOString() });
    }
    await alerts.flushed();
    await alerts.stop();
    alerts = null;
    await db.close();

    await receiver.up();
    db = (await openDb(opened.file)).db; // a new "process" reopens the same file
    expect(Number((await db.db.get<{ n: unknown }>(`SELECT COUNT(*) AS n FROM alert_outbox WHERE status = 'pending'`))!.n)).toBe(3);
    alerts = startAlerts({ events: new CollectorEvents(), outbox: new SqlAlertOutbox(db.db), config: config(receiver.url), logger });
    await receiver.waitFor(3);
    expect(receiver.got.map((g) => (JSON.parse(g.body) as { nodeId: string }).nodeId)).toEqual(['gpu-a', 'gpu-b', 'gpu-c']);
    for (const g of receiver.got) expectSigned(g.headers, g.body);
    await settled(alerts, { pending: 0, dead: 0 });
    // The cursor says these were queued: the next start's scan queues nothing again.
    await alerts.stop();
    alerts = startAlerts({ events: new CollectorEvents(), outbox: new SqlAlertOutbox(db.db), config: config(receiver.url), logger });
    await alerts.flushed();
    expect(await alerts.counts()).toEqual({ pending: 0, dead: 0 });
    await new Promise((r) => setTimeout(r, 150));
    expect(receiver.got).toHaveLength(3);
  });

  it('dead-letters after maxAttempts, moves on, and lets an operator list and requeue dead letters', async () => {
    const events = new CollectorEvents();
    ({ db } = await openDb());
    receiver.status = 500;
    const outbox = new SqlAlertOutbox(db.db);
    alerts = startAlerts({ events, outbox, config: config(receiver.url, { maxAttempts: 3, events: ['drift'] }), logger });
    await commitVerdict(db, 'gpu-dead', 1, 'untrusted', [vbios], { drift: [vbios] });
    events.emit('drift', { nodeId: 'gpu-dead', seq: 1, reasons: [vbios], at: new Date().toISOString() });
    await alerts.flushed();
    const deadline = Date.now() + 5000;
    while ((await outbox.counts()).dead < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 30));
    const [dead] = await outbox.listDead(10);
    expect(dead).toMatchObject({ nodeId: 'gpu-dead', attempts: 3, status: 'dead', lastError: 'ERR_ALERT_DELIVERY: HTTP 500' });
    receiver.status = 200;
    await commitVerdict(db, 'gpu-next', 2, 'untrusted', [vbios], { drift: [vbios] });
    events.emit('drift', { nodeId: 'gpu-next', seq: 2, reasons: [vbios], at: new Date().toISOString() });
    await receiver.waitFor(1);
    expect(JSON.parse(receiver.got[0]!.body)).toMatchObject({ nodeId: 'gpu-next' });
    await settled(outbox, { pending: 0, dead: 1 });

    // Operators see the dead letter over HTTP and put it back in the queue.
    const api = await serveRoutes(alerts.routes, { op: { name: 'op', role: 'operator' }, v: { name: 'v', role: 'viewer' } });
    try {
      expect((await fetch(`${api.url}/v1/alerts`, { headers: { authorization: 'Bearer v' } })).status).toBe(403);
      const listed = (await (await fetch(`${api.url}/v1/alerts`, { headers: { authorization: 'Bearer op' } })).json()) as {
        pending: number;
        dead: number;
        deadLetters: Array<{ nodeId: string; lastError: string; attempts: number }>;
      };
      expect(listed).toMatchObject({
        pending: 0,
        dead: 1,
        deadLetters: [{ nodeId: 'gpu-dead', lastError: 'ERR_ALERT_DELIVERY: HTTP 500', attempts: 3 }],
      });
      const requeue = await fetch(`${api.url}/v1/alerts/requeue`, { method: 'POST', headers: { authorization: 'Bearer op' } });
      expect(await requeue.json()).toEqual({ requeued: 1 });
      await receiver.waitFor(2);
      expect(JSON.parse(receiver.got[1]!.body)).toMatchObject({ nodeId: 'gpu-dead', type: 'drift' });
      await settled(outbox, { pending: 0, dead: 0 });
    } finally {
      await api.close();
    }
  });

  it('follows the trust cache when given one, so a node going stale raises an alert', async () => {
    const events = new CollectorEvents();
    let clock = Date.parse('2026-11-25T10:00:00.000Z');
    const trust = new TrustCache({ now: () => clock, sweepMs: 0, freshnessTtlSec: 180 });
    trust.attach(events);
    ({ db } = await openDb());
    alerts = startAlerts({ events, trust, outbox: new SqlAlertOutbox(db.db), config: config(receiver.url), logger, now: () => clock });
    await commitVerdict(db, 'gpu-quiet', 4, 'trusted', [], { at: new Date(clock).toISOString() });
    trust.setFromRecord((await db.getNode('gpu-quiet'))!);
    await receiver.waitFor(1); // first sight: null → trusted
    clock += 181_000;
    trust.sweep(); // no report within the TTL: the cache publishes trusted → stale
    await receiver.waitFor(2);
    expect(JSON.parse(receiver.got[1]!.body)).toMatchObject({
      type: 'status-changed',
      nodeId: 'gpu-quiet',
      from: 'trusted',
      to: 'stale',
      reasons: [{ code: 'freshness.expired' }],
    });
    // The bus's own status-changed is not sent twice when the trust cache is the source.
    await commitVerdict(db, 'gpu-quiet', 5, 'untrusted', [vbios], { drift: [vbios], at: new Date(clock).toISOString() });
    events.emit('status-changed', {
      nodeId: 'gpu-quiet',
      from: 'stale',
      to: 'untrusted',
      reasons: [vbios],
      at: new Date(clock).toISOString(),
    });
    await receiver.waitFor(3);
    await new Promise((r) => setTimeout(r, 200));
    expect(
      receiver.got.filter((g) => g.headers['x-nodeseal-event'] === 'status-changed').map((g) => (JSON.parse(g.body) as { to: string }).to),
    ).toEqual(['trusted', 'stale', 'untrusted']);
    trust.close();
  });

  it('sends a Slack-compatible {text} body when asked', async () => {
    const events = new CollectorEvents();
    ({ db } = await openDb());
    alerts = startAlerts({
      events,
      outbox: new SqlAlertOutbox(db.db),
      config: config(receiver.url, { format: 'slack', secret: null, events: ['status-changed'] }),
      logger,
    });
    await commitVerdict(db, 'gpu-x', 1, 'untrusted', [vbios], { drift: [vbios] });
    events.emit('drift', { nodeId: 'gpu-x', seq: 1, reasons: [vbios], at: new Date().toISOString() }); // the drift is not subscribed
    await commitVerdict(db, 'gpu-<x>', 1, 'trusted', []);
    events.emit('status-changed', { nodeId: 'gpu-<x>', from: null, to: 'trusted', reasons: [], at: new Date().toISOString() });
    await commitVerdict(db, 'gpu-<x>', 2, 'untrusted', [vbios]);
    events.emit('status-changed', { nodeId: 'gpu-<x>', from: 'trusted', to: 'untrusted', reasons: [vbios], at: new Date().toISOString() });
    await receiver.waitFor(3);
    await new Promise((r) => setTimeout(r, 150));
    // gpu-x's status change is sent; its drift is not (only status-changed subscribed).
    expect(receiver.got.map((g) => g.headers['x-nodeseal-event'])).toEqual(['status-changed', 'status-changed', 'status-changed']);
    const body = JSON.parse(receiver.got[2]!.body) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['text']);
    expect(body.text).toContain('`gpu-&lt;x&gt;` is now *untrusted* (was trusted)');
    expect(body.text).toContain('`gpu.vbios_changed` GPU 0 VBIOS changed');
    expect(receiver.got[0]!.headers['x-nodeseal-signature']).toBeUndefined();
  });
});

describe('parseAlertsConfig', () => {
  it.each([
    [{ webhooks: [{ name: 'a', url: 'ftp://x', secret: SECRET }] }, 'alerts.webhooks.0.url'],
    [{ webhooks: [{ name: 'a', url: 'http://x' }] }, 'secret: required'],
    [{ webhooks: [{ name: 'a', url: 'http://x', secret: SECRET, extra: 1 }] }, 'alerts.webhooks.0'],
    [
      {
        webhooks: [
          { name: 'a', url: 'http://x', secret: SECRET },
          { name: 'a', url: 'http://y', secret: SECRET },
        ],
      },
      'duplicate name',
    ],
    [{ backoff: { baseMs: 1000, maxMs: 10 } }, 'maxMs'],
  ])('rejects %j with ERR_CONFIG', (raw, fragment) => {
    expect(() => parseAlertsConfig(raw)).toThrowError(
      expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining(fragment) }),
    );
  });
  it('never echoes the secret', () => {
    try {
      parseAlertsConfig({ webhooks: [{ name: 'a', url: 'nope', secret: 'super-secret-value-123456' }] });
      expect.unreachable();
    } catch (e) {
      expect(JSON.stringify(e) + String(e)).not.toContain('super-secret-value');
    }
  });
});
