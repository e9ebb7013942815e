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

describe('SQLite specifics', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
    await a.upsertNode({ nodeId: 'n1', jwk: null, kid: null, akPublic: null, lastSeq: 3, status: 'unknown', reasons: [], firstSeenAt: 'x', lastSeenAt: null, verifiedAt: null, enrolledVia: null, revokedAt: null, summary: null });
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
