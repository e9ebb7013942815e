import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tokenVerb from '../../../collector/src/cli/token.js';
import enrollTokenVerb from '../../../collector/src/cli/enroll-token.js';
import { AuthStore, createAuthenticator, hashToken } from '../../../collector/src/auth/index.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';
import { captureIo } from '../../helpers/cli.js';

/** `nodeseal collector token ...` and `collector enroll-token ...` against a real SQLite file. */
let dir: string;
let db: string;

const io = () => captureIo({ USER: 'alice' });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nodeseal-token-cli-'));
  db = join(dir, 'collector.db');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('collector token', () => {
  it('create prints a token once, stores its hash, and the token authenticates with its role', async () => {
    const x = io();
    expect(await tokenVerb.run(['create', '--role', 'scheduler', '--name', 'slurm', '--db', db], x)).toBe(0);
    const token = x.out.trim();
    expect(token).toMatch(/^nst_[A-Za-z0-9_-]{43}$/);
    const store = await openSqliteStore(db);
    try {
      const rows = await store.db.all('SELECT name, role, token_hash, created_by FROM api_tokens');
      expect(rows).toEqual([{ name: 'slurm', role: 'scheduler', token_hash: hashToken(token), created_by: 'cli:alice' }]);
      expect(JSON.stringify(await store.db.all('SELECT * FROM audit_log'))).not.toContain(token);
      const auth = createAuthenticator({ store: new AuthStore(store.db) });
      expect(await auth.authenticate({ headers: { authorization: `Bearer ${token}` } })).toEqual({ name: 'slurm', role: 'scheduler' });
    } finally {
      await store.close();
    }
  });

  it.each([
    [['create', '--role', 'admin', '--name', 'x'], 'ERR_AUTH_TOKEN_INPUT'],
    [['create', '--role', 'viewer', '--name', 'slurm'], 'ERR_AUTH_TOKEN_EXISTS'],
    [['create', '--role', 'viewer'], 'ERR_USAGE'],
    [['create', '--name', 'x'], 'ERR_USAGE'],
    [['revoke', 'nobody', '--reason', 'r'], 'ERR_AUTH_TOKEN_UNKNOWN'],
    [['revoke', 'slurm'], 'ERR_USAGE'],
    [['frobnicate'], 'ERR_USAGE'],
  ])('%j → %s (user error)', async (args, code) => {
    await expect(tokenVerb.run([...args, '--db', db], io())).rejects.toMatchObject({ name: 'UserError', code });
  });

  it('list --json shows names and roles, never hashes; revoke records the reason', async () => {
    const x = io();
    await tokenVerb.run(['revoke', 'slurm', '--reason', 'rotated', '--db', db], io());
    await tokenVerb.run(['list', '--json', '--db', db], x);
    const out = JSON.parse(x.out);
    expect(out.tokens).toEqual([expect.objectContaining({ name: 'slurm', role: 'scheduler', revokedAt: expect.any(String) })]);
    expect(x.out).not.toMatch(/hash/i);
  });

  it('list prints a header row above the tokens', async () => {
    const x = io();
    expect(await tokenVerb.run(['list', '--db', db], x)).toBe(0);
    const lines = x.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+ROLE\s+STATE\s+CREATED\s+CREATED BY\s+LAST USED$/);
    expect(lines.slice(1)).toEqual([expect.stringMatching(/^slurm\s+scheduler\s+revoked \S+\s+\S+\s+cli:\S+\s+(never|\d{4}-\S+)$/)]);
  });
});

describe('collector enroll-token', () => {
  it('create prints a one-time token with its limits and stores only the hash', async () => {
    const x = io();
    expect(await enrollTokenVerb.run(['create', '--nodes', 'gpu-*', '--ttl', '2h', '--uses', '4', '--db', db, '--json'], x)).toBe(0);
    const made = JSON.parse(x.out);
    expect(made).toMatchObject({ token: expect.stringMatching(/^nse_[A-Za-z0-9_-]{43}$/), nodes: 'gpu-*', uses: 4 });
    const ttl = Date.parse(made.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(7_100_000);
    expect(ttl).toBeLessThanOrEqual(7_200_000);
    const store = await openSqliteStore(db);
    try {
      const rows = await store.db.all('SELECT * FROM enroll_tokens');
      expect(rows).toEqual([expect.objectContaining({ token_hash: hashToken(made.token), node_glob: 'gpu-*', uses_left: 4, max_uses: 4 })]);
      expect(JSON.stringify(rows)).not.toContain(made.token);
    } finally {
      await store.close();
    }
  });

  it.each([
    [['create', '--ttl', '40d'], 'ERR_ENROLL_TOKEN_INPUT'],
    [['create', '--ttl', 'soon'], 'ERR_ENROLL_TOKEN_INPUT'],
    [['create', '--uses', '0'], 'ERR_ENROLL_TOKEN_INPUT'],
    [['create', '--nodes', 'gpu;rm'], 'ERR_ENROLL_TOKEN_INPUT'],
    [['destroy'], 'ERR_USAGE'],
  ])('%j → %s (user error)', async (args, code) => {
    await expect(enrollTokenVerb.run([...args, '--db', db], io())).rejects.toMatchObject({ name: 'UserError', code });
  });
});
