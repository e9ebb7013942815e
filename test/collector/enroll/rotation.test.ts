import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCollectorConfig } from '../../../collector/src/config.js';
import { EnrollService, EnrollStore } from '../../../collector/src/enroll/index.js';
import { startCollector, type RunningCollector } from '../../../collector/src/server.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';
import type { Store } from '../../../collector/src/store/store.js';
import { generateIdentity, importPrivateJwk, signCompact, type Identity } from '../../../shared/src/jws/index.js';
import { REPORT_JWS_TYP, WS_PATH, WS_SUBPROTOCOL, type ReportPayload } from '../../../shared/src/report/types.js';
import { copyHost, removeHost } from '../../helpers/hosts.js';
import { removeDir, silent, softTpmSource, tempDir } from '../../e2e/harness.js';

/**
 * JWS key rotation over the real protocol: a report signed by the pinned key announces the next
 * key; after its verdict only the new key is accepted. A raw WebSocket client plays the agent
 * (simulated TPM evidence, real JWS), so every frame is under the test's control.
 */
let dir: string;
let root: string;
let store: Store;
let collector: RunningCollector;

class RawAgent {
  private inbox: Array<Record<string, any>> = [];
  private waiting: Array<(m: Record<string, any>) => void> = [];
  seq = 0;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as Record<string, any>;
      const w = this.waiting.shift();
      if (w) w(m);
      else this.inbox.push(m);
    });
  }
  static async open(): Promise<RawAgent> {
    const ws = new WebSocket(collector.wsUrl + WS_PATH, WS_SUBPROTOCOL);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    return new RawAgent(ws);
  }
  next(): Promise<Record<string, any>> {
    const m = this.inbox.shift();
    return m ? Promise.resolve(m) : new Promise((r) => this.waiting.push(r));
  }
  async until(type: string): Promise<Record<string, any>> {
    for (;;) {
      const m = await this.next();
      if (m.type === type || m.type === 'error') return m;
    }
  }
  send(m: unknown): void {
    this.ws.send(JSON.stringify(m));
  }
}

let evidence: ReturnType<typeof softTpmSource>;

async function report(agent: RawAgent, id: Identity, nonce: string, extra: Partial<ReportPayload> = {}): Promise<string> {
  const ev = await evidence.collect(nonce);
  agent.seq++;
  const payload: ReportPayload = {
    v: 1,
    nodeId: 'rot-1',
    seq: agent.seq,
    nonce,
    collectedAt: new Date().toISOString(),
    inventory: ev.inventory,
    inventoryDigest: ev.inventoryDigest,
    tpm: ev.tpm,
    ...extra,
  };
  return signCompact(payload, await importPrivateJwk(id.privateJwk, 'ES256'), { alg: 'ES256', kid: id.kid, typ: REPORT_JWS_TYP });
}

beforeAll(async () => {
  dir = await tempDir('rotation');
  root = await copyHost('a100');
  evidence = softTpmSource(root);
  store = await openSqliteStore(join(dir, 'collector.db'));
  const config = loadCollectorConfig({
    flags: { listen: '127.0.0.1:0', db: join(dir, 'collector.db'), interval: '3600', heartbeat: '30' },
  });
  collector = await startCollector(config, {
    logger: silent,
    store,
    enroll: new EnrollService({ store: new EnrollStore(store.db), anchors: [], allowTofu: true }),
  });
}, 30_000);

afterAll(async () => {
  await collector?.close();
  await store?.close();
  if (root) await removeHost(root);
  if (dir) await removeDir(dir);
});

describe('JWS key rotation', () => {
  it('switches to the key announced under the pinned key, audited; the old key stops working', async () => {
    const [oldId, newId, otherId] = await Promise.all([generateIdentity('ES256'), generateIdentity('ES256'), generateIdentity('ES256')]);
    const a = await RawAgent.open();
    a.send({ type: 'hello', nodeId: 'rot-1', agentVersion: 't', kid: oldId.kid, jwk: oldId.publicJwk });
    let ch = await a.until('challenge');
    a.send({ type: 'report', jws: await report(a, oldId, ch.nonce) });
    expect(await a.until('verdict')).toMatchObject({ seq: 1 });

    // A bad announcement (kid not the thumbprint) is refused with its code and changes nothing.
    ch = await a.until('challenge');
    a.send({
      type: 'report',
      jws: await report(a, oldId, ch.nonce, { nextKey: { jwk: newId.publicJwk as Record<string, unknown>, kid: otherId.kid } }),
    });
    expect(await a.until('error')).toMatchObject({ code: 'ERR_ENROLL_KEY_ROTATION' });
    expect((await store.getNode('rot-1'))?.kid).toBe(oldId.kid);

    ch = await a.until('challenge');
    a.send({
      type: 'report',
      jws: await report(a, oldId, ch.nonce, { nextKey: { jwk: newId.publicJwk as Record<string, unknown>, kid: newId.kid } }),
    });
    expect(await a.until('verdict')).toMatchObject({ seq: a.seq });
    expect((await store.getNode('rot-1'))?.kid).toBe(newId.kid);
    const audit = await store.db.all("SELECT actor, action, details FROM audit_log WHERE action = 'node.key-rotate'");
    expect(audit).toEqual([
      { actor: 'node:rot-1', action: 'node.key-rotate', details: JSON.stringify({ oldKid: oldId.kid, kid: newId.kid }) },
    ]);

    // The old key no longer verifies; the new one does, on this connection and after a reconnect.
    ch = await a.until('challenge');
    a.send({ type: 'report', jws: await report(a, oldId, ch.nonce) });
    expect((await a.until('error')).code).toMatch(/^ERR_/);
    ch = await a.until('challenge');
    a.send({ type: 'report', jws: await report(a, newId, ch.nonce) });
    expect(await a.until('verdict')).toMatchObject({ seq: a.seq });
    a.ws.close();

    const b = await RawAgent.open();
    b.seq = a.seq;
    b.send({ type: 'hello', nodeId: 'rot-1', agentVersion: 't', kid: oldId.kid, jwk: oldId.publicJwk });
    expect(await b.until('challenge')).toMatchObject({ type: 'error', code: 'ERR_HELLO_KEY_MISMATCH' });
    const c = await RawAgent.open();
    c.seq = a.seq;
    c.send({ type: 'hello', nodeId: 'rot-1', agentVersion: 't', kid: newId.kid, jwk: newId.publicJwk });
    ch = await c.until('challenge');
    c.send({ type: 'report', jws: await report(c, newId, ch.nonce) });
    expect(await c.until('verdict')).toMatchObject({ type: 'verdict', seq: c.seq });
    c.ws.close();
  }, 30_000);
});
