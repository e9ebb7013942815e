import { access } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tpmEnrollment } from '../../../agent/src/daemon/enroll.js';
import { withTpm } from '../../../agent/src/tpm/index.js';
import { AuthStore, authRoutes, createApiToken, createAuthenticator } from '../../../collector/src/auth/index.js';
import { loadCollectorConfig } from '../../../collector/src/config.js';
import { createEnrollToken, EnrollService, EnrollStore, loadEkCaDir } from '../../../collector/src/enroll/index.js';
import { startCollector, type RunningCollector } from '../../../collector/src/server.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';
import type { Store } from '../../../collector/src/store/store.js';
import { WS_PATH, WS_SUBPROTOCOL } from '../../../shared/src/report/types.js';
import { copyHost, removeHost } from '../../helpers/hosts.js';
import { startSwtpm, type Swtpm } from '../../helpers/swtpm.js';
import { INTERVAL_SEC, removeDir, silent, startTestAgent, tempDir, waitFor, type TestAgent } from '../../e2e/harness.js';

/**
 * The whole protocol: agent daemons with real swtpm TPMs (EK certificates from swtpm's local CA)
 * enrol over a real WebSocket with a collector that refuses nodes without a token; the AK is
 * pinned by credential activation (agent's ESAPI ActivateCredential) and then quotes.
 */
let dir: string;
let tpmA: Swtpm;
let tpmB: Swtpm;
let store: Store;
let collector: RunningCollector;
let operator: string;
let root: string;
const agents: TestAgent[] = [];

async function token(nodes: string): Promise<string> {
  return (
    await createEnrollToken(new EnrollStore(store.db), { nodes, ttl: '10m', uses: '1', actor: 'token:ops', reason: 'e2e', now: new Date() })
  ).token;
}

function rejections(a: TestAgent): string[] {
  const codes: string[] = [];
  a.daemon.on('rejected', (e) => codes.push(e.code));
  return codes;
}

beforeAll(async () => {
  dir = await tempDir('enroll-e2e');
  [tpmA, tpmB] = await Promise.all([startSwtpm({ ekCert: true }), startSwtpm({ ekCert: true })]);
  root = await copyHost('gpu8');
  store = await openSqliteStore(join(dir, 'collector.db'));
  const authStore = new AuthStore(store.db);
  operator = (await createApiToken(authStore, { name: 'ops', role: 'operator', actor: 'cli:root', reason: 'e2e', now: new Date() })).token;
  const enrollStore = new EnrollStore(store.db);
  const config = loadCollectorConfig({
    flags: { listen: '127.0.0.1:0', db: join(dir, 'collector.db'), interval: String(INTERVAL_SEC), heartbeat: '1' },
  });
  collector = await startCollector(config, {
    logger: silent,
    store,
    auth: createAuthenticator({ store: authStore }),
    enroll: new EnrollService({ store: enrollStore, anchors: await loadEkCaDir('/var/lib/swtpm-localca'), allowTofu: false }),
    routes: [authRoutes({ auth: authStore, enroll: enrollStore })],
  });
}, 60_000);

afterAll(async () => {
  for (const a of agents) await a.stop();
  await collector?.close();
  await store?.close();
  await Promise.all([tpmA?.stop(), tpmB?.stop()]);
  if (root) await removeHost(root);
  if (dir) await removeDir(dir);
});

describe('enrolment over the agent protocol', () => {
  it('an agent with a token and an EK-certified TPM enrols; its activated AK is pinned and quotes', async () => {
    const t = await token('gpu-a');
    const a = await startTestAgent({
      collector: collector.wsUrl,
      nodeId: 'gpu-a',
      root,
      tcti: tpmA.tcti,
      enroll: tpmEnrollment({ tcti: tpmA.tcti, token: t }),
    });
    agents.push(a);
    const verified: number[] = [];
    collector.events.on('report-verified', (e) => e.nodeId === 'gpu-a' && verified.push(e.seq));
    await waitFor('a verified report from gpu-a', () => verified.length > 0, 20_000);
    const ak = await withTpm(tpmA.tcti, (tpm) => tpm.ensureAk());
    const node = await store.getNode('gpu-a');
    expect(node).toMatchObject({ enrolledVia: 'token', akPublic: ak.toString('hex'), kid: a.daemon.kid, revokedAt: null });
    const audit = await store.db.all("SELECT action FROM audit_log WHERE target = 'node:gpu-a'");
    expect(audit).toEqual([{ action: 'node.enrol' }]);
  }, 40_000);

  it('rotates the JWS key: announced under the old key, pinned by the collector, used by the agent', async () => {
    const a = agents[0]!;
    const oldKid = a.daemon.kid;
    const nextKid = await a.daemon.rotateKey();
    expect(nextKid).not.toBe(oldKid);
    await waitFor('collector pinned the next key', async () => (await store.getNode('gpu-a'))?.kid === nextKid, 20_000);
    await waitFor('agent switched keys', () => a.daemon.kid === nextKid, 10_000);
    const verified: number[] = [];
    const onVerified = (e: { nodeId: string; seq: number }) => e.nodeId === 'gpu-a' && verified.push(e.seq);
    collector.events.on('report-verified', onVerified);
    await waitFor('a report verified with the new key', () => verified.length > 0, 20_000);
    collector.events.off('report-verified', onVerified);
    await expect(access(join(a.stateDir, 'identity.next.jwk'))).rejects.toMatchObject({ code: 'ENOENT' });
    const audit = await store.db.all("SELECT action FROM audit_log WHERE target = 'node:gpu-a' ORDER BY id");
    expect(audit.map((r) => r.action)).toEqual(['node.enrol', 'node.key-rotate']);
    expect((await store.getNode('gpu-a'))?.akPublic).toBe((await withTpm(tpmA.tcti, (tpm) => tpm.ensureAk())).toString('hex'));
  }, 60_000);

  it('refuses an agent without a token (no trust on first use)', async () => {
    const b = await startTestAgent({ collector: collector.wsUrl, nodeId: 'gpu-b', root, tcti: 'none' });
    agents.push(b);
    const codes = rejections(b);
    await waitFor('gpu-b refused', () => codes.includes('ERR_ENROLL_NOT_ENROLLED'));
    expect(await store.getNode('gpu-b')).toBeNull();
    await b.stop();
  }, 20_000);

  it('refuses a second TPM claiming the enrolled node id, even with a valid token', async () => {
    const t = await token('gpu-a');
    const c = await startTestAgent({
      collector: collector.wsUrl,
      nodeId: 'gpu-a',
      root,
      tcti: tpmB.tcti,
      enroll: tpmEnrollment({ tcti: tpmB.tcti, token: t }),
    });
    agents.push(c);
    const codes = rejections(c);
    const before = await store.getNode('gpu-a');
    await waitFor('claim refused', () => codes.includes('ERR_ENROLL_NODE_CLAIMED'));
    await c.stop();
    expect(await store.getNode('gpu-a')).toEqual(before);
  }, 20_000);

  it('answers an activation answer nobody asked for with ERR_ENROLL_REPLAY', async () => {
    const ws = new WebSocket(collector.wsUrl + WS_PATH, WS_SUBPROTOCOL);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const reply = new Promise<{ type: string; code: string }>((r) => ws.once('message', (d) => r(JSON.parse(d.toString()))));
    ws.send(JSON.stringify({ type: 'enroll-answer', challengeId: '0'.repeat(32), credential: 'ab'.repeat(32) }));
    expect(await reply).toMatchObject({ type: 'error', code: 'ERR_ENROLL_REPLAY' });
    ws.close();
  });

  it('a revoked node is refused when it reconnects', async () => {
    const res = await fetch(`${collector.url}/v1/nodes/gpu-a/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'e2e revocation' }),
    });
    expect(res.status).toBe(200);
    const a = agents[0]!;
    const codes = rejections(a);
    // Drop the live connection; the agent reconnects on its own.
    for (const s of collector.app.hub.sessions) if (s.nodeId === 'gpu-a') s.close(1000, 'test');
    await waitFor('revoked node refused', () => codes.includes('ERR_NODE_REVOKED'), 15_000);
    expect((await store.getNode('gpu-a'))?.status).toBe('untrusted');
  }, 30_000);
});
