import { createPrivateKey, generateKeyPairSync, type JsonWebKey, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AcceptanceService, type AgentConnection, type Clock } from '../../../collector/src/accept/index.js';
import { CollectorEvents } from '../../../collector/src/events.js';
import { silentLogger } from '../../../collector/src/logger.js';
import { createEvidencePorts } from '../../../collector/src/pipeline/ports.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';
import type { Store } from '../../../collector/src/store/store.js';
import { inventoryDigest } from '../../../shared/src/inventory/canonicalise.js';
import { generateIdentity, type Identity, signCompact } from '../../../shared/src/jws/index.js';
import { type CollectorMessage, type Inventory, REPORT_JWS_TYP, type ReportPayload } from '../../../shared/src/report/types.js';
import { softwareQuote } from '../../../shared/src/tpm/index.js';
import { clone, recordedInventory } from '../drift/hosts.js';

/**
 * The acceptance rules without sockets: an in-memory link stands for the WebSocket, a manual
 * clock for time, a real SQLite store and real signed reports with software TPM quotes.
 */
class ManualClock implements Clock {
  t = Date.parse('2026-03-01T00:00:00.000Z');
  private timers: Array<{ at: number; fn: () => void }> = [];
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): () => void {
    const e = { at: this.t + ms, fn };
    this.timers.push(e);
    return () => {
      this.timers = this.timers.filter((x) => x !== e);
    };
  }
  /** Moves time on, running each timer due on the way at its own time. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}

const INTERVAL_SEC = 60;
const PCRS = { sha256: Object.fromEntries([0, 1, 2, 7].map((i) => [String(i), randomBytes(32).toString('hex')])) };
const ak = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
let inv: Inventory;
let dir: string;
let store: Store;
let clock: ManualClock;
let events: CollectorEvents;
let svc: AcceptanceService;

beforeAll(async () => {
  inv = await recordedInventory('gpu8');
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-accept-'));
  store = await openSqliteStore(join(dir, 'c.db'));
  clock = new ManualClock();
  events = new CollectorEvents();
  svc = new AcceptanceService({
    store,
    events,
    logger: silentLogger(),
    ports: createEvidencePorts(),
    config: { intervalSec: INTERVAL_SEC, helloTimeoutMs: 10_000, rateLimitPerSec: 5, maxPayloadBytes: 4 * 1024 * 1024 },
    clock,
  });
});
afterEach(async () => {
  svc.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

interface Agent {
  conn: AgentConnection;
  sent: CollectorMessage[];
  fails: Array<{ code: string; fatal?: boolean; seq?: number }>;
  closed: boolean;
  id: Identity;
  nodeId: string;
}

function connect(nodeId: string, id: Identity): Agent {
  const a = { sent: [], fails: [], closed: false, id, nodeId } as unknown as Agent;
  a.conn = svc.connect({
    send: (m) => a.sent.push(m),
    fail: (code, _message, opts = {}) => {
      a.fails.push({ code, ...opts });
      if (opts.fatal) {
        a.closed = true;
        svc.disconnected(a.conn);
      }
    },
    close: () => {
      a.closed = true;
      svc.disconnected(a.conn);
    },
  });
  return a;
}

async function hello(a: Agent): Promise<void> {
  await svc.hello(a.conn, { type: 'hello', nodeId: a.nodeId, agentVersion: 'test', kid: a.id.kid, jwk: a.id.publicJwk });
}

/** Waits for the microtasks and I/O of the service (the group commit writes on a later tick). */
const settle = () => new Promise((r) => setImmediate(r));

function lastNonce(a: Agent): string {
  const c = [...a.sent].reverse().find((m) => m.type === 'challenge');
  if (c?.type !== 'challenge') throw new Error('no challenge sent');
  return c.nonce;
}

async function signed(a: Agent, seq: number, nonce: string | null, inventory = inv): Promise<string> {
  const n = nonce ?? randomBytes(16).toString('hex');
  const selection = [{ bank: 'sha256' as const, pcrs: [0, 1, 2, 7] }];
  const q = softwareQuote({ privateKey: ak, nonce: Buffer.from(n, 'hex'), pcrs: PCRS, selection });
  const payload: ReportPayload = {
    v: 1,
    nodeId: a.nodeId,
    seq,
    nonce,
    collectedAt: new Date(clock.now()).toISOString(),
    inventory,
    inventoryDigest: inventoryDigest(inventory),
    tpm: {
      status: 'ok',
      pcrs: PCRS,
      quote: { attest: q.attest.toString('hex'), signature: q.signature.toString('hex') },
      akPublic: q.akPublic.toString('hex'),
      eventLog: null,
    },
  };
  return signCompact(payload, createPrivateKey({ key: a.id.privateJwk as JsonWebKey, format: 'jwk' }), {
    alg: 'ES256',
    kid: a.id.kid,
    typ: REPORT_JWS_TYP,
  });
}

/** Sends a report and returns the answer it got (verdict, ack or error). */
async function report(a: Agent, seq: number, nonce: string | null, inventory = inv): Promise<CollectorMessage | { code: string }> {
  const before = a.sent.length;
  const fails = a.fails.length;
  await svc.report(a.conn, await signed(a, seq, nonce, inventory));
  if (a.fails.length > fails) return a.fails[fails]!;
  return a.sent.slice(before).find((m) => m.type === 'verdict' || m.type === 'ack')!;
}

describe('acceptance service', () => {
  it('pins the key at first hello, challenges, and counts the connection for its node only after a verified report', async () => {
    const a = connect('n1', await generateIdentity());
    await hello(a);
    expect((await store.getNode('n1'))?.kid).toBe(a.id.kid);
    expect(a.sent.filter((m) => m.type === 'challenge')).toHaveLength(1);
    expect(svc.isConnected('n1')).toBe(false);
    const connected: string[] = [];
    events.on('agent-connected', (e) => connected.push(e.nodeId));
    expect(await report(a, 1, lastNonce(a))).toMatchObject({ type: 'verdict', seq: 1, status: 'trusted' });
    expect(svc.isConnected('n1')).toBe(true);
    expect(connected).toEqual(['n1']);
    expect((await store.getNode('n1'))?.lastSeq).toBe(1);
  });

  it('closes a connection that does not prove the key within two intervals of hello', async () => {
    const owner = await generateIdentity();
    const a = connect('n1', owner);
    await hello(a);
    await report(a, 1, lastNonce(a));
    // Another connection names the pinned kid but never signs a report.
    const squatter = connect('n1', owner);
    await hello(squatter);
    clock.advance(2 * INTERVAL_SEC * 1000 - 1);
    expect(squatter.closed).toBe(false);
    clock.advance(1);
    expect(squatter.fails.map((f) => f.code)).toEqual(['ERR_WS_UNPROVEN_TIMEOUT']);
    expect(a.closed).toBe(false);
  });

  it('a nonce older than the freshness TTL makes its report history (ack, not a verdict)', async () => {
    const a = connect('n1', await generateIdentity());
    await hello(a);
    await report(a, 1, lastNonce(a));
    const next = lastNonce(a);
    expect(a.sent.at(-1)).toMatchObject({ type: 'challenge', next: true });
    clock.advance(3 * INTERVAL_SEC * 1000 + 1);
    expect(await report(a, 2, next)).toEqual({ type: 'ack', seq: 2 });
    expect((await store.getReport('n1', 2))?.kind).toBe('history');
  });

  it('within the TTL the held nonce is fresh', async () => {
    const a = connect('n1', await generateIdentity());
    await hello(a);
    await report(a, 1, lastNonce(a));
    const next = lastNonce(a);
    clock.advance(3 * INTERVAL_SEC * 1000);
    expect(await report(a, 2, next)).toMatchObject({ type: 'verdict', seq: 2 });
  });

  it('replays: a stored seq is ERR_REPORT_REPLAY, a reused nonce ERR_REPORT_NONCE_REUSED, each with the seq', async () => {
    const a = connect('n1', await generateIdentity());
    await hello(a);
    const first = lastNonce(a);
    const jws = await signed(a, 1, first);
    await svc.report(a.conn, jws);
    await svc.report(a.conn, jws);
    expect(a.fails.at(-1)).toEqual({ code: 'ERR_REPORT_REPLAY', seq: 1 });
    expect(await report(a, 2, first)).toEqual({ code: 'ERR_REPORT_NONCE_REUSED', seq: 2 });
  });

  it('a seq another collector stored first (the database has it, this collector did not see it) is ERR_REPORT_REPLAY', async () => {
    const a = connect('n1', await generateIdentity());
    await hello(a);
    await report(a, 1, lastNonce(a));
    // Another collector on the same database commits seq 3 for this node meanwhile (the agent's
    // other connection): seq 2 arriving here afterwards would break the node's order.
    const node = (await store.getNode('n1'))!;
    const row = (await store.getReport('n1', 1))!;
    for (const seq of [3])
      await store.recordReport({ ...row, seq, jws: null, kind: 'history', nonce: null }, [], { ...node, lastSeq: seq });
    // This collector's verification read the node before that (simulated by racing the verifier): the
    // store's seq check refuses the stale write, and the agent hears a replay, not an internal error.
    const real = svc.verifier.verify.bind(svc.verifier);
    svc.verifier.verify = (jws, ctx) => real(jws, { ...ctx, node: { ...ctx.node, lastSeq: 1 } });
    expect(await report(a, 2, lastNonce(a))).toEqual({ code: 'ERR_REPORT_REPLAY', seq: 2 });
    expect(await store.getReport('n1', 2)).toBeNull();
    expect((await store.getNode('n1'))?.lastSeq).toBe(3);
  });

  it('on-demand challenges are paced: calls while one is unanswered share one challenge sent after the answer', async () => {
    const a = connect('n1', await generateIdentity());
    await hello(a);
    await report(a, 1, lastNonce(a));
    const onDemand = () => a.sent.filter((m) => m.type === 'challenge' && !m.next).length;
    expect(onDemand()).toBe(1);
    clock.advance(1000);
    const first = svc.challenge('n1', 30_000);
    expect(onDemand()).toBe(2);
    const waits = [svc.challenge('n1', 30_000), svc.challenge('n1', 30_000)];
    clock.advance(5000);
    expect(onDemand()).toBe(2);
    // The answer to the first settles it; the others get the deferred challenge, sent once spacing allows.
    const nonce = [...a.sent].reverse().find((m) => m.type === 'challenge' && !m.next) as { nonce: string };
    await report(a, 2, nonce.nonce);
    expect(await first).toMatchObject({ seq: 2, verdict: { status: 'trusted' } });
    clock.advance(400);
    expect(onDemand()).toBe(3);
    const deferred = [...a.sent].reverse().find((m) => m.type === 'challenge' && !m.next) as { nonce: string };
    await report(a, 3, deferred.nonce);
    for (const w of waits) expect(await w).toMatchObject({ seq: 3 });
  });

  it('an unanswered challenge resolves null after the wait; a node with no proven connection is not connected', async () => {
    const a = connect('n1', await generateIdentity());
    await hello(a);
    await expect(svc.challenge('n2', 0)).rejects.toMatchObject({ code: 'ERR_NODE_NOT_CONNECTED' });
    await report(a, 1, lastNonce(a));
    clock.advance(1000);
    const w = svc.challenge('n1', 2000);
    clock.advance(2000);
    expect(await w).toBeNull();
  });

  it('key rotation: an announcement refused by the enrolment module is answered with the seq; the report still counts', async () => {
    const refusing = new AcceptanceService({
      ...svc.deps,
      enroll: {
        admit: async () => ({ enrolledVia: 'tofu' }),
        rotate: async () => {
          throw Object.assign(new (await import('../../../shared/src/errors.js')).NodesealError('ERR_ENROLL_KEY_ROTATION', 'refused'), {});
        },
      },
    });
    svc.close();
    svc = refusing;
    const a = connect('n1', await generateIdentity());
    await hello(a);
    await report(a, 1, lastNonce(a));
    const next = await generateIdentity();
    const n = lastNonce(a);
    const payload = JSON.parse(Buffer.from((await signed(a, 2, n)).split('.')[1]!, 'base64url').toString()) as ReportPayload;
    const jws = await signCompact(
      { ...payload, nextKey: { jwk: next.publicJwk, kid: next.kid } },
      createPrivateKey({ key: a.id.privateJwk as JsonWebKey, format: 'jwk' }),
      { alg: 'ES256', kid: a.id.kid, typ: REPORT_JWS_TYP },
    );
    const before = a.sent.length;
    await svc.report(a.conn, jws);
    const answers = a.sent.slice(before).filter((m) => m.type !== 'challenge');
    expect(answers).toEqual([
      expect.objectContaining({ type: 'error', code: 'ERR_ENROLL_KEY_ROTATION', seq: 2 }),
      expect.objectContaining({ type: 'verdict', seq: 2 }),
    ]);
    // The connection keeps verifying with the old key.
    expect(await report(a, 3, lastNonce(a))).toMatchObject({ type: 'verdict', seq: 3 });
  });

  it('approval refusals: no verified state, a state other than the one looked at, a foreign AK', async () => {
    await expect(svc.approve('n1', { reason: 'r' }, 'op')).rejects.toMatchObject({ code: 'ERR_APPROVE_NO_STATE' });
    const a = connect('n1', await generateIdentity());
    await hello(a);
    await report(a, 1, lastNonce(a));
    const changed = clone(inv);
    changed.gpus[0]!.vbiosVersion = '96.00.89.00.01';
    expect(await report(a, 2, lastNonce(a), changed)).toMatchObject({ status: 'untrusted' });
    await expect(svc.approve('n1', { reason: 'r', inventoryDigest: inventoryDigest(inv) }, 'op')).rejects.toMatchObject({
      code: 'ERR_APPROVE_STATE_CHANGED',
    });
    const ok = await svc.approve('n1', { reason: 'VBIOS rollout', inventoryDigest: inventoryDigest(changed) }, 'op');
    expect(ok).toMatchObject({ status: 'trusted', approvedBy: 'op', at: new Date(clock.now()).toISOString() });
    expect((await store.getBaseline('n1'))?.inventoryDigest).toBe(inventoryDigest(changed));
    // A report quoted by another AK than the pinned one is never approved in.
    const node = (await store.getNode('n1'))!;
    await store.upsertNode({ ...node, akPublic: `${node.akPublic!.slice(0, -4)}0000` });
    await expect(svc.approve('n1', { reason: 'r' }, 'op')).rejects.toMatchObject({ code: 'ERR_APPROVE_AK_CHANGED' });
  });

  it('a revoked node: its connections are closed and a report already queued is refused', async () => {
    const a = connect('n1', await generateIdentity());
    await hello(a);
    await report(a, 1, lastNonce(a));
    const node = (await store.getNode('n1'))!;
    await store.upsertNode({ ...node, revokedAt: new Date(clock.now()).toISOString() });
    // Revoked through another collector: the store says so before the feed closes the connection here.
    expect(await report(a, 2, lastNonce(a))).toEqual({ code: 'ERR_NODE_REVOKED', fatal: true });
    expect((await store.getReport('n1', 2)) ?? null).toBeNull();
    const b = connect('n2', await generateIdentity());
    await hello(b);
    expect(svc.closeNode('n2')).toBe(1);
    expect(b.closed).toBe(true);
    await settle();
  });
});
