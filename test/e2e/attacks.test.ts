import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnrollStore } from '../../collector/src/enroll/index.js';
import type { RunningCollector } from '../../collector/src/server.js';
import { generateIdentity, importPrivateJwk, signCompact, type Identity } from '../../shared/src/jws/index.js';
import { REPORT_JWS_TYP } from '../../shared/src/report/types.js';
import { copyHost, removeHost } from '../helpers/hosts.js';
import { api, removeDir, softTpmSource, startTestAgent, startTestCollector, tempDir, waitFor } from './harness.js';
import { RawClient } from './raw-client.js';

/**
 * An attacker root on one node (holds the agent's JWS key, runs its own client) against a live
 * collector: approval must not re-pin the AK or approve a state the operator did not look at,
 * and a nonce held past the freshness TTL must not make a report fresh proof.
 */
describe('attacks from a node the attacker controls', () => {
  let dir: string;
  let root: string;
  let collector: RunningCollector;
  const FRESHNESS_TTL_SEC = 2;

  /** A connection as `nodeId`, after the challenge sent on hello. */
  async function connect(nodeId: string, who: Identity): Promise<RawClient> {
    const c = await RawClient.open(collector.wsUrl);
    c.send({ type: 'hello', nodeId, agentVersion: 'x', kid: who.kid, jwk: who.publicJwk });
    await c.next((m) => m.type === 'challenge');
    return c;
  }
  const lastNonce = (c: RawClient) => [...c.messages].reverse().find((m) => m.type === 'challenge').nonce as string;

  /** Sends a report quoted by `ak` over the simulated boot chain `variant`; resolves with the collector's answer. */
  async function report(
    c: RawClient,
    who: Identity,
    o: { nodeId: string; seq: number; nonce: string; ak: KeyObject; variant?: string; noTpm?: boolean },
  ): Promise<any> {
    const ev = await softTpmSource(root, { ak: o.ak, variant: o.variant ?? '' }).collect(o.nonce);
    if (o.noTpm) Object.assign(ev, { tpm: { status: 'unavailable', reason: 'no TPM on this host', code: 'ERR_TPM_UNAVAILABLE' } });
    const payload = { v: 1 as const, nodeId: o.nodeId, seq: o.seq, nonce: o.nonce, collectedAt: new Date().toISOString(), ...ev };
    const jws = await signCompact(payload, await importPrivateJwk(who.privateJwk, 'ES256'), {
      alg: 'ES256',
      kid: who.kid,
      typ: REPORT_JWS_TYP,
    });
    const from = c.messages.length;
    c.send({ type: 'report', jws });
    const answer = await c.next((m) => m.type === 'verdict' || m.type === 'ack' || m.type === 'error', 5000, from);
    // The nonce for the next round follows a verdict/ack.
    if (answer.type !== 'error') await c.next((m) => m.type === 'challenge' && m.next === true, 5000, from);
    return answer;
  }
  const newAk = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

  beforeAll(async () => {
    dir = await tempDir('attacks');
    root = await copyHost('gpu8');
    collector = await startTestCollector(join(dir, 'collector.db'), { freshnessTtlSec: FRESHNESS_TTL_SEC });
  });

  afterAll(async () => {
    await collector?.close();
    await removeHost(root);
    await removeDir(dir);
  });

  it('approving a state quoted by another AK is refused (same or new PCRs); the pinned AK stays and the other AK stays untrusted', async () => {
    const who = await generateIdentity();
    const [ak1, ak2] = [newAk(), newAk()];
    const c = await connect('node-ak', who);
    expect((await report(c, who, { nodeId: 'node-ak', seq: 1, nonce: lastNonce(c), ak: ak1 })).status).toBe('trusted');
    // Same PCRs and inventory under another AK: the stored state must be this report, not the earlier one by the pinned AK.
    const same = await report(c, who, { nodeId: 'node-ak', seq: 2, nonce: lastNonce(c), ak: ak2 });
    expect(same.status).toBe('untrusted');
    expect(same.reasons.map((r: any) => r.code)).toContain('tpm.ak_changed');
    let r = await api(collector.url, 'POST', '/v1/nodes/node-ak/approve', { reason: 'looks fine' });
    expect(r.status).toBe(409);
    expect(r.json.error?.code ?? r.json.code).toBe('ERR_APPROVE_AK_CHANGED');
    expect((await api(collector.url, 'GET', '/v1/nodes/node-ak')).json.status).toBe('untrusted');

    // A key outside the TPM can quote any boot chain: shown as a boot update, it must still not be approvable.
    const forged = await report(c, who, { nodeId: 'node-ak', seq: 3, nonce: lastNonce(c), ak: ak2, variant: 'b' });
    expect(forged.reasons.map((x: any) => x.code)).toEqual(expect.arrayContaining(['tpm.ak_changed', 'tpm.pcr_changed']));
    r = await api(collector.url, 'POST', '/v1/nodes/node-ak/approve', { reason: 'grub update' });
    expect(r.status).toBe(409);
    expect(r.json.error?.code ?? r.json.code).toBe('ERR_APPROVE_AK_CHANGED');

    const after = await report(c, who, { nodeId: 'node-ak', seq: 4, nonce: lastNonce(c), ak: ak2, variant: 'b' });
    expect(after.status).toBe('untrusted');
    expect(after.reasons.map((x: any) => x.code)).toContain('tpm.ak_changed');
    c.close();
  });

  it('approve with the digests the operator saw refuses a newer state sent meanwhile, and approves the one seen', async () => {
    const who = await generateIdentity();
    const ak = newAk();
    const c = await connect('node-race', who);
    expect((await report(c, who, { nodeId: 'node-race', seq: 1, nonce: lastNonce(c), ak })).status).toBe('trusted');
    const original = (await api(collector.url, 'GET', '/v1/nodes/node-race')).json.baseline.pcrDigest as string;
    expect((await report(c, who, { nodeId: 'node-race', seq: 2, nonce: lastNonce(c), ak, variant: 'b' })).status).toBe('untrusted');
    const seen = (await api(collector.url, 'GET', '/v1/nodes/node-race')).json.summary;
    // While the operator reads, the node reports yet another boot chain.
    expect((await report(c, who, { nodeId: 'node-race', seq: 3, nonce: lastNonce(c), ak, variant: 'c' })).status).toBe('untrusted');

    const bad = await api(collector.url, 'POST', '/v1/nodes/node-race/approve', {
      reason: 'grub update b',
      inventoryDigest: seen.inventoryDigest,
      pcrDigest: 'sha256:xyz',
    });
    expect(bad.status).toBe(400);
    const stale = await api(collector.url, 'POST', '/v1/nodes/node-race/approve', {
      reason: 'grub update b',
      inventoryDigest: seen.inventoryDigest,
      pcrDigest: seen.pcrDigest,
    });
    expect(stale.status).toBe(409);
    expect(stale.json.error?.code ?? stale.json.code).toBe('ERR_APPROVE_STATE_CHANGED');
    expect((await api(collector.url, 'GET', '/v1/nodes/node-race')).json.baseline.pcrDigest).toBe(original);

    const now = (await api(collector.url, 'GET', '/v1/nodes/node-race')).json.summary;
    expect(now.pcrDigest).not.toBe(seen.pcrDigest);
    const ok = await api(collector.url, 'POST', '/v1/nodes/node-race/approve', {
      reason: 'grub update c',
      inventoryDigest: now.inventoryDigest,
      pcrDigest: now.pcrDigest,
    });
    expect(ok.status).toBe(200);
    expect(ok.json.status).toBe('trusted');
    expect((await api(collector.url, 'GET', '/v1/nodes/node-race')).json.baseline.pcrDigest).toBe(now.pcrDigest);
    c.close();
  });

  it('a nonce held past the freshness TTL makes its report history: no verdict, verifiedAt unchanged', async () => {
    const who = await generateIdentity();
    const ak = newAk();
    const c = await connect('node-hoard', who);
    expect((await report(c, who, { nodeId: 'node-hoard', seq: 1, nonce: lastNonce(c), ak })).status).toBe('trusted');
    const verifiedAt = (await api(collector.url, 'GET', '/v1/nodes/node-hoard')).json.verifiedAt as string;
    const held = lastNonce(c);
    await new Promise((r) => setTimeout(r, FRESHNESS_TTL_SEC * 1000 + 500));
    const late = await report(c, who, { nodeId: 'node-hoard', seq: 2, nonce: held, ak });
    expect(late.type).toBe('ack');
    expect((await api(collector.url, 'GET', '/v1/nodes/node-hoard')).json.verifiedAt).toBe(verifiedAt);
    // The nonce handed out after it is fresh again.
    expect((await report(c, who, { nodeId: 'node-hoard', seq: 3, nonce: lastNonce(c), ak })).type).toBe('verdict');
    c.close();
  });

  it('a burst of on-demand challenges (stolen scheduler token) does not get the honest agent disconnected', async () => {
    const codes: string[] = [];
    const onRejected = (e: { nodeId: string | null; code: string }) => void (e.nodeId === 'node-busy' && codes.push(e.code));
    const onGone = (e: { nodeId: string }) => void (e.nodeId === 'node-busy' && codes.push('disconnected'));
    collector.events.on('report-rejected', onRejected);
    collector.events.on('agent-disconnected', onGone);
    const agent = await startTestAgent({ collector: collector.wsUrl, nodeId: 'node-busy', evidence: softTpmSource(root) });
    try {
      await waitFor('node-busy verified', async () => (await api(collector.url, 'GET', '/v1/nodes/node-busy')).json.verifiedAt);
      const calls = await Promise.all(Array.from({ length: 120 }, () => api(collector.url, 'POST', '/v1/nodes/node-busy/attest')));
      expect(calls.filter((c) => c.json?.challenged !== true).map((c) => c.json)).toEqual([]);
      // One more, awaited: the node answers it with a verdict on the same connection.
      const r = await api(collector.url, 'POST', '/v1/nodes/node-busy/attest?wait=10');
      expect(codes).toEqual([]);
      expect(r.status).toBe(200);
      expect(r.json.status).toBe('trusted');
    } finally {
      collector.events.off('report-rejected', onRejected);
      collector.events.off('agent-disconnected', onGone);
      await agent.stop();
    }
  });

  it('an unauthenticated connection cannot send a megabyte frame before its hello (closed 1009, ERR_WS_FRAME_TOO_LARGE)', async () => {
    const c = await RawClient.open(collector.wsUrl);
    c.send({ type: 'report', jws: 'a'.repeat(1024 * 1024) });
    const err = await c.next((m) => m.type === 'error');
    expect(err.code).toBe('ERR_WS_FRAME_TOO_LARGE');
    expect((await c.waitClosed()).code).toBe(1009);
    // A normal hello still fits.
    const who = await generateIdentity();
    const ok = await connect('node-small-hello', who);
    expect(ok.closed).toBeNull();
    ok.close();
  });

  it('approving a state without TPM evidence keeps the approved PCRs: a changed boot chain later is compared PCR by PCR', async () => {
    const who = await generateIdentity();
    const ak = newAk();
    const c = await connect('node-notpm', who);
    expect((await report(c, who, { nodeId: 'node-notpm', seq: 1, nonce: lastNonce(c), ak })).status).toBe('trusted');
    const original = (await api(collector.url, 'GET', '/v1/nodes/node-notpm')).json.baseline.pcrDigest as string;
    expect(original).toMatch(/^sha256:/);
    const blind = await report(c, who, { nodeId: 'node-notpm', seq: 2, nonce: lastNonce(c), ak, noTpm: true });
    expect(blind.reasons.map((r: any) => r.code)).toContain('tpm.unavailable');
    expect((await api(collector.url, 'POST', '/v1/nodes/node-notpm/approve', { reason: 'TPM glitch' })).status).toBe(200);
    expect((await api(collector.url, 'GET', '/v1/nodes/node-notpm')).json.baseline.pcrDigest).toBe(original);

    const changed = await report(c, who, { nodeId: 'node-notpm', seq: 3, nonce: lastNonce(c), ak, variant: 'b' });
    expect(changed.status).toBe('untrusted');
    const pcrReasons = changed.reasons.filter((r: any) => r.code === 'tpm.pcr_changed');
    expect(pcrReasons.length).toBeGreaterThan(0);
    for (const r of pcrReasons) expect(r.detail).toMatch(/^PCR \d+ \(sha256\) changed/);
    // The unchanged boot chain is trusted again without a new approval.
    expect((await report(c, who, { nodeId: 'node-notpm', seq: 4, nonce: lastNonce(c), ak })).status).toBe('trusted');
    c.close();
  });

  it('while an on-demand challenge is unanswered (a slow TPM), more attest calls send no more challenges; one follows the answer', async () => {
    const who = await generateIdentity();
    const ak = newAk();
    const c = await connect('node-slow', who);
    const onDemand = () => c.messages.filter((m) => m.type === 'challenge' && !m.next).length;
    expect(onDemand()).toBe(1);
    for (let i = 0; i < 10; i++) {
      await Promise.all([0, 1, 2].map(() => api(collector.url, 'POST', '/v1/nodes/node-slow/attest')));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(onDemand()).toBe(1);
    // The quote is done at last: the requests that came meanwhile get one challenge, sent after them.
    expect((await report(c, who, { nodeId: 'node-slow', seq: 1, nonce: lastNonce(c), ak })).status).toBe('trusted');
    await waitFor('the deferred challenge', () => onDemand() === 2, 3000, 20);
    await new Promise((r) => setTimeout(r, 500));
    expect(onDemand()).toBe(2);
    c.close();
  });

  it('a revocation committed while a report of the node is being verified and stored is not undone by that report', async () => {
    const who = await generateIdentity();
    const ak = newAk();
    const c = await connect('node-revoke', who);
    expect((await report(c, who, { nodeId: 'node-revoke', seq: 1, nonce: lastNonce(c), ak })).status).toBe('trusted');

    // Hold the next report's commit until the revocation has committed (a gate in front of the store's port).
    const store = collector.store;
    const real = store.recordReports.bind(store);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = false;
    store.recordReports = async (batch) => {
      held = true;
      await gate;
      return real(batch);
    };
    try {
      const answer = report(c, who, { nodeId: 'node-revoke', seq: 2, nonce: lastNonce(c), ak }).catch((e: unknown) => e);
      await waitFor('the report at the store', () => held, 5000, 10);
      const done = await new EnrollStore(store.db).revokeNode('node-revoke', 'token:op', 'key stolen', new Date().toISOString());
      expect(done?.node.revokedAt).toBeTruthy();
      release();
      await answer;
    } finally {
      store.recordReports = real;
      release();
    }
    const node = (await api(collector.url, 'GET', '/v1/nodes/node-revoke')).json;
    expect(node.revokedAt).toBeTruthy();
    expect(node.status).toBe('untrusted');
    c.close();
    // And it stays revoked for the next connection.
    const again = await RawClient.open(collector.wsUrl);
    again.send({ type: 'hello', nodeId: 'node-revoke', agentVersion: 'x', kid: who.kid, jwk: who.publicJwk });
    expect((await again.next((m) => m.type === 'error')).code).toBe('ERR_NODE_REVOKED');
    again.close();
  });

  it('ten connections racing to pin different keys for a new node id: exactly one key is pinned, the others are refused', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, () => generateIdentity()));
    const clients = await Promise.all(ids.map(() => RawClient.open(collector.wsUrl)));
    for (const [i, c] of clients.entries())
      c.send({ type: 'hello', nodeId: 'node-race-pin', agentVersion: 'x', kid: ids[i]!.kid, jwk: ids[i]!.publicJwk });
    const first = await Promise.all(clients.map((c) => c.next((m) => m.type === 'challenge' || m.type === 'error')));
    const winners = first.flatMap((m, i) => (m.type === 'challenge' ? [i] : []));
    expect(winners).toHaveLength(1);
    expect(first.filter((m) => m.type === 'error').map((m) => m.code)).toEqual(Array(9).fill('ERR_HELLO_KEY_MISMATCH'));
    expect((await api(collector.url, 'GET', '/v1/nodes/node-race-pin')).json.kid).toBe(ids[winners[0]!]!.kid);
    for (const c of clients) c.close();
  });
});
