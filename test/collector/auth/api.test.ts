import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthStore,
  authRoutes,
  auditApprovals,
  createApiToken,
  createAuthenticator,
  hashToken,
  loadBootstrapToken,
} from '../../../collector/src/auth/index.js';
import { defaultCollectorConfig } from '../../../collector/src/config.js';
import { EnrollStore } from '../../../collector/src/enroll/index.js';
import { silentLogger } from '../../../collector/src/logger.js';
import { startCollector, type RunningCollector } from '../../../collector/src/server.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';
import type { NodeRecord, Store } from '../../../collector/src/store/store.js';

/**
 * Access control through the real collector (startCollector on 127.0.0.1:0, real SQLite file):
 * bearer tokens with roles, coded 401/403 answers, revocation and the audit log.
 */
let dir: string;
let store: Store;
let collector: RunningCollector;
const tokens: Record<string, string> = {};
const bootstrap = `bootstrap-${'k'.repeat(40)}`;
const revokedCalls: string[] = [];

async function call(
  method: string,
  path: string,
  opts: { token?: string; header?: string; body?: unknown } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.header !== undefined) headers.authorization = opts.header;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(collector.url + path, {
    method,
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

function node(nodeId: string): NodeRecord {
  const at = new Date().toISOString();
  return {
    nodeId,
    jwk: null,
    kid: null,
    akPublic: null,
    lastSeq: 0,
    status: 'trusted',
    reasons: [],
    firstSeenAt: at,
    lastSeenAt: at,
    verifiedAt: at,
    enrolledVia: 'token',
    revokedAt: null,
    summary: null,
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-auth-'));
  store = await openSqliteStore(join(dir, 'collector.db'));
  const authStore = new AuthStore(store.db);
  for (const role of ['viewer', 'scheduler', 'operator'] as const) {
    tokens[role] = (
      await createApiToken(authStore, { name: `${role}-1`, role, actor: 'cli:root', reason: 'test setup', now: new Date() })
    ).token;
  }
  const enrollStore = new EnrollStore(store.db);
  await store.upsertNode(node('gpu-001'));
  await store.upsertNode(node('gpu-002'));
  const config = { ...defaultCollectorConfig(), listen: { host: '127.0.0.1', port: 0 } };
  const auth = createAuthenticator({ store: authStore, bootstrapToken: bootstrap });
  collector = await startCollector(config, {
    logger: silentLogger(),
    store,
    auth,
    routes: [
      authRoutes({
        auth: authStore,
        enroll: enrollStore,
        // How the collector's main wires it: publish the new status (the trust cache follows the bus).
        onRevoked: (n) => {
          revokedCalls.push(n.nodeId);
          collector.events.emit('status-changed', {
            nodeId: n.nodeId,
            from: 'trusted',
            to: n.status,
            reasons: n.reasons,
            at: n.revokedAt!,
          });
        },
      }),
    ],
  });
  auditApprovals(collector.events, authStore);
}, 30_000);

afterAll(async () => {
  await collector?.close();
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('bearer tokens and roles', () => {
  it('refuses a request without a token with 401 ERR_AUTH_REQUIRED', async () => {
    const r = await call('GET', '/v1/nodes');
    expect(r).toEqual({ status: 401, body: { error: { code: 'ERR_AUTH_REQUIRED', message: expect.any(String) } } });
  });

  it('refuses forged, malformed and unknown tokens with 401 ERR_AUTH_INVALID', async () => {
    const forged = `nst_${Buffer.alloc(32, 7).toString('base64url')}`;
    for (const opts of [
      { token: forged },
      { token: `${tokens.viewer!.slice(0, -1)}x` },
      { header: `Basic ${tokens.viewer}` },
      { header: 'Bearer' },
      { token: 'not-a-token' },
    ]) {
      const r = await call('GET', '/v1/nodes', opts);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('ERR_AUTH_INVALID');
    }
  });

  it('lets a viewer read but not approve (403 ERR_AUTH_FORBIDDEN, nothing stored)', async () => {
    expect((await call('GET', '/v1/nodes', { token: tokens.viewer })).status).toBe(200);
    const before = await store.listApprovals('gpu-001');
    const r = await call('POST', '/v1/nodes/gpu-001/approve', { token: tokens.viewer, body: { reason: 'looks fine' } });
    expect(r).toEqual({ status: 403, body: { error: { code: 'ERR_AUTH_FORBIDDEN', message: expect.stringContaining('operator') } } });
    expect(await store.listApprovals('gpu-001')).toEqual(before);
    const s = await call('POST', '/v1/nodes/gpu-001/approve', { token: tokens.scheduler, body: { reason: 'looks fine' } });
    expect(s.body.error.code).toBe('ERR_AUTH_FORBIDDEN');
  });

  it('lets an operator past the role check', async () => {
    const r = await call('POST', '/v1/nodes/gpu-001/approve', { token: tokens.operator, body: { reason: 'approved in test' } });
    expect([401, 403]).not.toContain(r.status);
  });

  it('keeps public routes public, even with a bad token', async () => {
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/healthz', { token: 'nst_bad' })).status).toBe(200);
  });

  it('accepts the bootstrap token as an operator', async () => {
    const r = await call('GET', '/v1/audit', { token: bootstrap });
    expect(r.status).toBe(200);
  });

  it('stores only hashes of tokens', async () => {
    const rows = await store.db.all('SELECT * FROM api_tokens');
    const dump = JSON.stringify(rows);
    for (const t of Object.values(tokens)) {
      expect(dump).not.toContain(t);
      expect(dump).toContain(hashToken(t));
    }
  });

  it('creates a token through the API (operator only), and a revoked token stops working', async () => {
    expect((await call('POST', '/v1/tokens', { token: tokens.scheduler, body: { name: 'x', role: 'viewer' } })).status).toBe(403);
    const made = await call('POST', '/v1/tokens', {
      token: tokens.operator,
      body: { name: 'dash', role: 'viewer', reason: 'dashboard kiosk' },
    });
    expect(made.status).toBe(200);
    expect(made.body.token).toMatch(/^nst_[A-Za-z0-9_-]{43}$/);
    expect((await call('GET', '/v1/nodes', { token: made.body.token })).status).toBe(200);
    const dup = await call('POST', '/v1/tokens', { token: tokens.operator, body: { name: 'dash', role: 'viewer' } });
    expect(dup.body.error.code).toBe('ERR_AUTH_TOKEN_EXISTS');
    const bad = await call('POST', '/v1/tokens', { token: tokens.operator, body: { name: 'root', role: 'admin' } });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'ERR_AUTH_TOKEN_INPUT' } } });
    expect((await call('POST', '/v1/tokens/dash/revoke', { token: tokens.operator, body: { reason: 'kiosk retired' } })).status).toBe(200);
    expect((await call('GET', '/v1/nodes', { token: made.body.token })).body.error.code).toBe('ERR_AUTH_INVALID');
    const list = await call('GET', '/v1/tokens', { token: tokens.operator });
    expect(JSON.stringify(list.body)).not.toMatch(/nst_|token_hash|tokenHash/);
  });
});

describe('revocation and audit', () => {
  it('revokes a node (operator): untrusted with node.revoked, recorded with actor and reason', async () => {
    expect((await call('POST', '/v1/nodes/gpu-002/revoke', { token: tokens.viewer, body: { reason: 'x' } })).body.error.code).toBe(
      'ERR_AUTH_FORBIDDEN',
    );
    expect((await call('POST', '/v1/nodes/gpu-002/revoke', { token: tokens.operator, body: {} })).body.error.code).toBe(
      'ERR_AUTH_TOKEN_INPUT',
    );
    expect((await call('POST', '/v1/nodes/nope/revoke', { token: tokens.operator, body: { reason: 'x' } })).body.error.code).toBe(
      'ERR_AUTH_NODE_UNKNOWN',
    );
    const r = await call('POST', '/v1/nodes/gpu-002/revoke', { token: tokens.operator, body: { reason: 'GPU swapped without a ticket' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ nodeId: 'gpu-002', status: 'untrusted', reasons: [{ code: 'node.revoked' }] });
    const stored = await store.getNode('gpu-002');
    expect(stored).toMatchObject({ status: 'untrusted', revokedAt: expect.any(String) });
    expect(revokedCalls).toEqual(['gpu-002']);
    const trust = await call('GET', '/v1/nodes/gpu-002/trust', { token: tokens.scheduler });
    expect(trust.body).toMatchObject({ status: 'untrusted', reasons: [expect.objectContaining({ code: 'node.revoked' })] });
  });

  it('shows enrolment-token, token, revocation and approval entries in GET /v1/audit (operator)', async () => {
    expect((await call('GET', '/v1/audit', { token: tokens.viewer })).status).toBe(403);
    const et = await call('POST', '/v1/enroll-tokens', {
      token: tokens.operator,
      body: { nodes: 'gpu-*', ttl: '2h', uses: 3, reason: 'rack 7' },
    });
    expect(et.body).toMatchObject({ token: expect.stringMatching(/^nse_/), nodes: 'gpu-*', uses: 3 });
    collector.events.emit('approved', {
      nodeId: 'gpu-001',
      actor: 'token:operator-1',
      reason: 'new driver rolled out',
      at: new Date().toISOString(),
    });
    await new Promise((r) => setTimeout(r, 50));
    const r = await call('GET', '/v1/audit?limit=50', { token: tokens.operator });
    const byAction = (a: string) => r.body.entries.filter((e: { action: string }) => e.action === a);
    expect(byAction('node.revoke')).toEqual([
      expect.objectContaining({ actor: 'token:operator-1', target: 'node:gpu-002', reason: 'GPU swapped without a ticket' }),
    ]);
    expect(
      byAction('token.create')
        .map((e: { target: string }) => e.target)
        .sort(),
    ).toEqual(['token:dash', 'token:operator-1', 'token:scheduler-1', 'token:viewer-1']);
    expect(byAction('token.revoke')).toEqual([expect.objectContaining({ target: 'token:dash', reason: 'kiosk retired' })]);
    expect(byAction('enroll-token.create')).toEqual([expect.objectContaining({ actor: 'token:operator-1', reason: 'rack 7' })]);
    expect(byAction('node.approve')).toEqual([expect.objectContaining({ target: 'node:gpu-001', reason: 'new driver rolled out' })]);
    const filtered = await call('GET', '/v1/audit?target=node:gpu-002', { token: tokens.operator });
    expect(filtered.body.entries.map((e: { action: string }) => e.action)).toEqual(['node.revoke']);
    expect(JSON.stringify(r.body)).not.toContain(et.body.token);
  });
});

describe('bootstrap token', () => {
  it('comes from a file or NODESEAL_BOOTSTRAP_TOKEN, and must be long', async () => {
    const f = join(dir, 'bootstrap');
    await writeFile(f, `${bootstrap}\n`, { mode: 0o600 });
    expect(await loadBootstrapToken({ file: f, env: {} })).toBe(bootstrap);
    expect(await loadBootstrapToken({ env: { NODESEAL_BOOTSTRAP_TOKEN: bootstrap } })).toBe(bootstrap);
    expect(await loadBootstrapToken({ env: {} })).toBeNull();
    await expect(loadBootstrapToken({ env: { NODESEAL_BOOTSTRAP_TOKEN: 'short' } })).rejects.toMatchObject({
      code: 'ERR_AUTH_TOKEN_INPUT',
    });
    await expect(loadBootstrapToken({ file: join(dir, 'missing'), env: {} })).rejects.toMatchObject({ code: 'ERR_AUTH_TOKEN_INPUT' });
  });
});
