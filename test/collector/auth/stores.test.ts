import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { AuthStore, createApiToken, hashToken } from '../../../collector/src/auth/index.js';
import { createEnrollToken, EnrollStore, type NodeIdentity, type PendingEnrolment } from '../../../collector/src/enroll/index.js';
import { openPostgresStore, openSqliteStore } from '../../../collector/src/store/open.js';
import { withDefaultUser } from '../../../collector/src/store/postgres-db.js';
import type { Store } from '../../../collector/src/store/store.js';

/**
 * The auth and enrolment tables through the portable SQL port, on both engines: SQLite file and
 * PostgreSQL (unix socket; NODESEAL_TEST_PG overrides). Same assertions for each.
 */
const pgUrl = process.env.NODESEAL_TEST_PG ?? 'postgresql:///test?host=/var/run/postgresql';
const pgSchema = `nodeseal_test_auth_${randomBytes(4).toString('hex')}`;
let dir: string | null = null;

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  const c = new pg.Client({ connectionString: withDefaultUser(pgUrl) });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
  } finally {
    await c.end();
  }
});

const engines: Array<[string, () => Promise<Store>]> = [
  ['SQLite', async () => openSqliteStore(join((dir ??= await mkdtemp(join(tmpdir(), 'nodeseal-authstores-'))), 'c.db'))],
  ['PostgreSQL', () => openPostgresStore(pgUrl, { schema: pgSchema })],
];

function identity(nodeId: string, ekName: string, at: string): NodeIdentity {
  return {
    nodeId,
    ekName,
    ekPublic: 'aa',
    ekCertIssuer: 'CN=ca',
    akPublic: 'bb',
    akName: 'cc',
    kid: 'kid-1',
    jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
    enrolledAt: at,
    enrolledVia: 'token',
    enrolledBy: 'enroll-token:x',
    revokedAt: null,
  };
}

describe.each(engines)('auth and enrolment stores on %s', (_name, open) => {
  it('keeps tokens hashed, consumes enrolment tokens once, pins, revokes, rotates and audits', async () => {
    const store = await open();
    try {
      const auth = new AuthStore(store.db);
      const enroll = new EnrollStore(store.db);
      const now = new Date('2026-06-01T10:00:00.000Z');
      const t = await createApiToken(auth, { name: 'ops', role: 'operator', actor: 'cli:root', reason: 'setup', now });
      expect(await auth.findTokenByHash(hashToken(t.token))).toMatchObject({ name: 'ops', role: 'operator', revokedAt: null });
      await expect(createApiToken(auth, { name: 'ops', role: 'viewer', actor: 'cli:root', reason: 'dup', now })).rejects.toMatchObject({
        code: 'ERR_AUTH_TOKEN_EXISTS',
      });
      expect(await auth.revokeToken('ops', 'cli:root', 'rotated', now.toISOString())).toBe(true);
      expect(await auth.revokeToken('ops', 'cli:root', 'again', now.toISOString())).toBe(false);

      const et = await createEnrollToken(enroll, { nodes: 'gpu-*', ttl: '1h', uses: '1', actor: 'token:ops', reason: 'rack', now });
      const row = await enroll.findToken(hashToken(et.token));
      expect(row).toMatchObject({ nodeGlob: 'gpu-*', usesLeft: 1, maxUses: 1 });
      const pending = (nodeId: string): PendingEnrolment => ({
        challengeId: 'c',
        nodeId,
        identity: identity(nodeId, 'ek-1', now.toISOString()),
        tokenHash: row!.tokenHash,
        tokenId: row!.tokenId,
        decision: null,
        credentialHash: '00',
        expiresAt: now.toISOString(),
      });
      const at = '2026-06-01T10:05:00.000Z';
      const node = await enroll.commitEnrolment(identity('gpu-1', 'ek-1', at), pending('gpu-1'));
      expect(node).toMatchObject({ nodeId: 'gpu-1', kid: 'kid-1', akPublic: 'bb', enrolledVia: 'token', status: 'unknown' });
      expect(await store.getNode('gpu-1')).toMatchObject({ kid: 'kid-1', akPublic: 'bb' });
      await expect(enroll.commitEnrolment(identity('gpu-2', 'ek-2', at), pending('gpu-2'))).rejects.toMatchObject({
        code: 'ERR_ENROLL_TOKEN_USED',
      });
      expect(await store.getNode('gpu-2')).toBeNull();

      const rotated = await enroll.rotateKey('gpu-1', 'kid-1', { kty: 'EC', crv: 'P-256', x: 'x2', y: 'y2' }, 'kid-2', at);
      expect(rotated.kid).toBe('kid-2');
      expect((await enroll.getIdentity('gpu-1'))?.kid).toBe('kid-2');
      await expect(enroll.rotateKey('gpu-1', 'kid-1', {}, 'kid-3', at)).rejects.toMatchObject({ code: 'ERR_ENROLL_KEY_ROTATION' });

      const revoked = await enroll.revokeNode('gpu-1', 'token:ops', 'stolen', at);
      expect(revoked).toMatchObject({ from: 'unknown', node: { status: 'untrusted', revokedAt: at } });
      expect((await enroll.getIdentity('gpu-1'))?.revokedAt).toBe(at);
      expect(await enroll.revokeNode('nope', 'token:ops', 'x', at)).toBeNull();

      await enroll.recordEkDecision({ nodeId: 'lab-1', ekName: 'ek-9', actor: 'token:ops', reason: 'no vendor cert', at });
      expect(await enroll.findEkDecision('lab-1', 'ek-9')).toMatchObject({ actor: 'token:ops', usedAt: null });

      const entries = await auth.listAudit({ limit: 100 });
      expect(entries.map((e) => e.action)).toEqual([
        'node.ek-decision',
        'node.revoke',
        'node.key-rotate',
        'node.enrol',
        'enroll-token.create',
        'token.revoke',
        'token.create',
      ]);
      expect(await auth.listAudit({ target: 'node:gpu-1', action: 'node.revoke' })).toEqual([
        expect.objectContaining({ actor: 'token:ops', reason: 'stolen' }),
      ]);
      const page = await auth.listAudit({ limit: 2 });
      expect((await auth.listAudit({ beforeId: page[1]!.id, limit: 1 }))[0]!.action).toBe('node.key-rotate');
      expect(JSON.stringify(await store.db.all('SELECT * FROM audit_log'))).not.toContain(t.token);
    } finally {
      await store.close();
    }
  }, 30_000);
});
