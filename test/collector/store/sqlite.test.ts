import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, afterAll } from 'vitest';
import { openSqliteStore } from '../../../collector/src/store/open.js';
import { openSqliteDb } from '../../../collector/src/store/sqlite-db.js';
import { ERR_STORE_CLOSED, ERR_STORE_OPEN } from '../../../collector/src/store/errors.js';
import { storeContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'nodeseal-store-'));
let n = 0;

storeContract('SQLite file', {
  open: () => openSqliteStore(join(dir, 'contract.db')),
  openEmptyDb: async () => openSqliteDb(join(dir, `empty-${++n}.db`)),
  cleanup: async () => undefined,
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite specifics', () => {
  it('opens in WAL mode with synchronous=FULL and a busy timeout', async () => {
    const store = await openSqliteStore(join(dir, 'pragmas.db'));
    try {
      expect(await store.db.get('PRAGMA journal_mode')).toEqual({ journal_mode: 'wal' });
      expect(await store.db.get('PRAGMA synchronous')).toEqual({ synchronous: 2 });
      expect(await store.db.get('PRAGMA busy_timeout')).toEqual({ timeout: 5000 });
    } finally {
      await store.close();
    }
  });

  it('reopens an existing file with its data and without re-running migrations', async () => {
    const path = join(dir, 'reopen.db');
    const a = await openSqliteStore(path);
    await a.upsertNode({
      nodeId: 'n1',
      jwk: null,
      kid: null,
      akPublic: null,
      lastSeq: 3,
      status: 'unknown',
      reasons: [],
      firstSeenAt: 'x',
      lastSeenAt: null,
      verifiedAt: null,
      enrolledVia: null,
      revokedAt: null,
      summary: null,
    });
    await a.close();
    const b = await openSqliteStore(path);
    try {
      expect((await b.getNode('n1'))?.lastSeq).toBe(3);
    } finally {
      await b.close();
    }
  });

  it('fails to open an unreachable path with ERR_STORE_OPEN, and refuses use after close with ERR_STORE_CLOSED', async () => {
    await expect(openSqliteStore(join(dir, 'no', 'such', 'dir', 'x.db'))).rejects.toMatchObject({ code: ERR_STORE_OPEN });
    const s = await openSqliteStore(join(dir, 'closed.db'));
    await s.close();
    await expect(s.getNode('x')).rejects.toMatchObject({ code: ERR_STORE_CLOSED });
  });
});

describe('migration registry checks', () => {
  it('refuses duplicate, unordered or malformed ids with ERR_STORE_MIGRATION', async () => {
    const { checkMigrations } = await import('../../../collector/src/store/migrate.js');
    const { portable } = await import('../../../collector/src/store/migrations.js');
    const m = (id: string) => portable(id, 'SELECT 1');
    expect(() => checkMigrations([m('0001_a'), m('0001_a')])).toThrow(expect.objectContaining({ code: 'ERR_STORE_MIGRATION' }));
    expect(() => checkMigrations([m('0002_a'), m('0001_b')])).toThrow(expect.objectContaining({ code: 'ERR_STORE_MIGRATION' }));
    expect(() => checkMigrations([m('1_bad')])).toThrow(expect.objectContaining({ code: 'ERR_STORE_MIGRATION' }));
    expect(() => checkMigrations([m('0001_a'), m('0100_b')])).not.toThrow();
  });

  it('a failing migration is ERR_STORE_MIGRATION and leaves the earlier ones applied', async () => {
    const { runMigrations, appliedMigrations } = await import('../../../collector/src/store/migrate.js');
    const { portable } = await import('../../../collector/src/store/migrations.js');
    const db = openSqliteDb(join(dir, 'failing-migration.db'));
    try {
      await expect(
        runMigrations(db, [portable('0001_ok', 'CREATE TABLE t1 (a TEXT)'), portable('0002_bad', 'CREATE TABLE t1 (a TEXT)')]),
      ).rejects.toMatchObject({
        code: 'ERR_STORE_MIGRATION',
      });
      expect(await appliedMigrations(db)).toEqual(['0001_ok']);
    } finally {
      await db.close();
    }
  });
});
