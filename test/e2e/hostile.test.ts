import { createSecretKey } from 'node:crypto';
import { join } from 'node:path';
import { CompactSign } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectInventory } from '../../agent/src/inventory.js';
import { createHostPorts } from '../../agent/src/ports/index.js';
import type { RunningCollector } from '../../collector/src/server.js';
import { generateIdentity, importPrivateJwk, signCompact, type Identity } from '../../shared/src/jws/index.js';
import { REPORT_JWS_TYP, type ReportPayload } from '../../shared/src/report/types.js';
import { copyHost, removeHost } from '../helpers/hosts.js';
import { api, removeDir, softTpmSource, startTestAgent, startTestCollector, tempDir, waitFor, type TestAgent } from './harness.js';
import { RawClient } from './raw-client.js';

/**
 * Hostile clients against a live collector while an honest agent keeps reporting: each is
 * rejected with its own code, and the honest node keeps getting verdicts and stays trusted.
 */
describe('hostile clients are rejected with their codes; honest agents keep being served', () => {
  let dir: string;
  let root: string;
  let collector: RunningCollector;
  let honest: TestAgent;
  let mallory: Identity;
  let inventory: Awaited<ReturnType<typeof collectInventory>>;
  const rejected: Array<{ nodeId: string | null; code: string }> = [];
  let honestVerdicts = 0;

  const payload = (p: Partial<ReportPayload>): ReportPayload => ({
    v: 1,
    nodeId: 'node-mallory',
    seq: 1,
    nonce: null,
    collectedAt: new Date().toISOString(),
    inventory: inventory.inventory,
    inventoryDigest: inventory.inventoryDigest,
    tpm: { status: 'unavailable', reason: 'no TPM on this host', code: 'ERR_TPM_UNAVAILABLE' },
    ...p,
  });
  const sign = async (p: ReportPayload, who: Identity = mallory, kid = who.kid) =>
    signCompact(p, await importPrivateJwk(who.privateJwk, 'ES256'), { alg: 'ES256', kid, typ: REPORT_JWS_TYP });
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const lastChallenge = (c: RawClient) => [...c.messages].reverse().find((m) => m.type === 'challenge')?.nonce as string;

  /** A connection saying hello as `nodeId` (with `jwk` on first contact), after its first challenge. */
  async function hello(nodeId: string, who: { kid: string; publicJwk?: object }): Promise<RawClient> {
    const c = await RawClient.open(collector.wsUrl);
    c.send({ type: 'hello', nodeId, agentVersion: 'x', kid: who.kid, ...(who.publicJwk ? { jwk: who.publicJwk } : {}) });
    await c.next((m) => m.type === 'challenge');
    return c;
  }
  async function expectError(c: RawClient, code: string) {
    const from = c.messages.length;
    const m = await c.next((m) => m.type === 'error', 5000, from);
    expect(m.code).toBe(code);
    return m;
  }

  beforeAll(async () => {
    dir = await tempDir('hostile');
    root = await copyHost('gpu8');
    inventory = await collectInventory(createHostPorts({ root }));
    mallory = await generateIdentity();
    collector = await startTestCollector(join(dir, 'collector.db'));
    collector.events.on('report-rejected', (e) => rejected.push(e));
    honest = await startTestAgent({ collector: collector.wsUrl, nodeId: 'node-honest', evidence: softTpmSource(root) });
    honest.daemon.on('verdict', () => honestVerdicts++);
    await waitFor('honest trusted', async () => (await api(collector.url, 'GET', '/v1/nodes/node-honest/trust')).json.status === 'trusted');
  });

  afterAll(async () => {
    await honest?.stop();
    await collector?.close();
    await removeHost(root);
    await removeDir(dir);
  });

  it('a JWS signed by another key (claiming the honest node and its kid)', async () => {
    const c = await hello('node-honest', { kid: honest.daemon.kid });
    c.send({
      type: 'report',
      jws: await sign(payload({ nodeId: 'node-honest', seq: 1_000_000, nonce: lastChallenge(c) }), mallory, honest.daemon.kid),
    });
    await expectError(c, 'ERR_JWS_SIGNATURE');
    c.close();
  });

  it('a hello with another key for a pinned node id', async () => {
    const c = await RawClient.open(collector.wsUrl);
    c.send({ type: 'hello', nodeId: 'node-honest', agentVersion: 'x', kid: mallory.kid, jwk: mallory.publicJwk });
    await expectError(c, 'ERR_HELLO_KEY_MISMATCH');
    expect((await c.waitClosed()).code).toBe(1008);
  });

  it('alg none', async () => {
    const c = await hello('node-honest', { kid: honest.daemon.kid });
    const p = payload({ nodeId: 'node-honest', seq: 1_000_001, nonce: lastChallenge(c) });
    c.send({ type: 'report', jws: `${b64({ alg: 'none', kid: honest.daemon.kid, typ: REPORT_JWS_TYP })}.${b64(p)}.` });
    await expectError(c, 'ERR_JWS_ALG');
    c.close();
  });

  it('HS256 keyed with the public key', async () => {
    const c = await hello('node-honest', { kid: honest.daemon.kid });
    const p = payload({ nodeId: 'node-honest', seq: 1_000_002, nonce: lastChallenge(c) });
    const node = (await api(collector.url, 'GET', '/v1/nodes/node-honest')).json;
    expect(node.kid).toBe(honest.daemon.kid);
    const { readFile } = await import('node:fs/promises');
    const pub = JSON.parse(await readFile(join(honest.stateDir, 'identity.jwk'), 'utf8'));
    delete pub.d;
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(p)))
      .setProtectedHeader({ alg: 'HS256', kid: honest.daemon.kid, typ: REPORT_JWS_TYP })
      .sign(createSecretKey(Buffer.from(JSON.stringify(pub))));
    c.send({ type: 'report', jws });
    await expectError(c, 'ERR_JWS_ALG');
    c.close();
  });

  it('a replayed report, a reused nonce, seq going back, a report for another node id', async () => {
    const c = await hello('node-mallory', mallory);
    const n1 = lastChallenge(c);
    const first = await sign(payload({ seq: 1, nonce: n1 }));
    c.send({ type: 'report', jws: first });
    expect(await c.next((m) => m.type === 'verdict')).toMatchObject({ seq: 1, status: 'unknown' });

    c.send({ type: 'report', jws: first });
    expect((await expectError(c, 'ERR_REPORT_REPLAY')).seq).toBe(1);

    c.send({ type: 'report', jws: await sign(payload({ seq: 2, nonce: n1 })) });
    await expectError(c, 'ERR_REPORT_NONCE_REUSED');

    const n2 = await c.next((m) => m.type === 'challenge' && m.nonce !== n1);
    c.send({ type: 'report', jws: await sign(payload({ seq: 10, nonce: n2.nonce })) });
    await c.next((m) => m.type === 'verdict' && m.seq === 10);
    const n3 = lastChallenge(c);
    c.send({ type: 'report', jws: await sign(payload({ seq: 5, nonce: n3 })) });
    await expectError(c, 'ERR_REPORT_SEQ');

    c.send({ type: 'report', jws: await sign(payload({ nodeId: 'node-honest', seq: 11, nonce: lastChallenge(c) })) });
    await expectError(c, 'ERR_REPORT_NODE_MISMATCH');

    c.send({ type: 'report', jws: await sign(payload({ seq: 12, nonce: lastChallenge(c), inventoryDigest: `sha256:${'0'.repeat(64)}` })) });
    await expectError(c, 'ERR_REPORT_DIGEST');
    c.close();
  });

  it('an oversized frame closes the connection with 1009', async () => {
    const c = await RawClient.open(collector.wsUrl);
    c.send('x'.repeat(5 * 1024 * 1024));
    expect((await c.waitClosed()).code).toBe(1009);
    await waitFor('ERR_WS_FRAME_TOO_LARGE published', () => rejected.some((r) => r.code === 'ERR_WS_FRAME_TOO_LARGE'));
  });

  it('invalid JSON and schema violations', async () => {
    const c = await RawClient.open(collector.wsUrl);
    c.send('{"type": "hello", nodeId');
    await expectError(c, 'ERR_MSG_JSON');
    c.send({ type: 'hello', nodeId: 'x', agentVersion: '1', kid: 'abc', admin: true });
    await expectError(c, 'ERR_MSG_SCHEMA');
    c.send({ type: 'report', jws: 'a.b.c' });
    await expectError(c, 'ERR_HELLO_REQUIRED');
    expect(c.closed).toBeNull();
    c.close();
  });

  it('1,000 garbage frames in a burst trip the rate limit', async () => {
    const c = await RawClient.open(collector.wsUrl);
    for (let i = 0; i < 1000; i++) c.send(Buffer.from(`\u0000garbage ${i} \u00ff`).toString('latin1'));
    const closed = await c.waitClosed();
    expect(closed.code).toBe(1008);
    expect(closed.reason).toBe('ERR_WS_RATE_LIMIT');
    expect(c.messages.some((m) => m.code === 'ERR_WS_RATE_LIMIT')).toBe(true);
    // It was cut off long before its thousandth frame was answered.
    expect(c.messages.length).toBeLessThan(100);
  });

  it('refuses wrong upgrades before the WebSocket handshake', async () => {
    await expect(RawClient.open(collector.wsUrl, 'other.v1')).rejects.toMatchObject({ status: 400 });
    await expect(RawClient.open(collector.wsUrl, 'nodeseal.v1', '/v1/other')).rejects.toMatchObject({ status: 404 });
  });

  it("a connection that only knows the honest node's kid cannot absorb its on-demand challenge", async () => {
    const squatter = await hello('node-honest', { kid: honest.daemon.kid });
    const res = await api(collector.url, 'POST', '/v1/nodes/node-honest/attest?wait=5');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ nodeId: 'node-honest', status: 'trusted' });
    // The squatter holds an on-demand challenge too (the one of its hello, still unanswered: a new one
    // waits for that answer, ws/challenges.ts), and has nothing it can answer with.
    expect(squatter.messages.filter((m) => m.type === 'challenge' && !m.next).length).toBe(1);
    squatter.close();
  });

  it('meanwhile the honest agent kept being served and stays trusted', async () => {
    const before = honestVerdicts;
    await waitFor('two more honest verdicts', () => honestVerdicts >= before + 2, 5000);
    expect((await api(collector.url, 'GET', '/v1/nodes/node-honest/trust')).json.status).toBe('trusted');
    const codes = new Set(rejected.map((r) => r.code));
    for (const code of [
      'ERR_JWS_SIGNATURE',
      'ERR_JWS_ALG',
      'ERR_REPORT_REPLAY',
      'ERR_REPORT_NONCE_REUSED',
      'ERR_REPORT_SEQ',
      'ERR_REPORT_NODE_MISMATCH',
      'ERR_MSG_JSON',
      'ERR_WS_RATE_LIMIT',
      'ERR_WS_FRAME_TOO_LARGE',
    ]) {
      expect(codes.has(code), code).toBe(true);
    }
    const node = (await api(collector.url, 'GET', '/v1/nodes/node-honest')).json;
    expect(node.lastSeq).toBeLessThan(1_000_000);
  });
});
