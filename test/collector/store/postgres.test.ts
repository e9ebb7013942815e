import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../../collector/src/store/open.js';
import { openPostgresDb, toPgPlaceholders, withDefaultUser } from '../../../collector/src/store/postgres-db.js';
import { ERR_STORE_OPEN } from '../../../collector/src/store/errors.js';
import { MIGRATIONS } from '../../../collector/src/store/migrations.js';
import { appliedMigrations, runMigrations } from '../../../collector/src/store/migrate.js';
import { node, storeContract } from './contract.js';
import { createGroupCommitter } from '../../../collector/src/store/group-commit.js';
import { ERR_STORE_DUPLICATE_SEQ } from '../../../collector/src/store/errors.js';
import type { ReportWrite } from '../../../collector/src/store/store.js';

const url = process.env.NODESEAL_TEST_PG ?? 'postgresql:///test?host=/var/run/postgresql';
const run = randomBytes(4).toString('hex');
const schemas: string[] = [];
const schema = (tag: string): string => {
  const s = `nodeseal_test_${run}_${tag}`;
  schemas.push(s);
  return s;
};
let n = 0;

storeContract('PostgreSQL', {
  open: () => openPostgresStore(url, { schema: schema('main') }),
  openEmptyDb: async () => openPostgresDb(url, { schema: schema(`e${++n}`) }),
  // Schemas are dropped once every suite in this file is done (afterAll below).
  cleanup: async () => undefined,
});

afterAll(async () => {
  const c = new pg.Client({ connectionString: withDefaultUser(url) });
  await c.connect();
  try {
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  } finally {
    await c.end();
  }
});

describe('PostgreSQL specifics', () => {
  it('rewrites ? placeholders outside quoted text', () => {
    expect(toPgPlaceholders(`SELECT ? , '?' , "a?" , ?`)).toBe(`SELECT $1 , '?' , "a?" , $2`);
  });

  it('lets two collectors starting together migrate one database, each migration once', async () => {
    const name = schema('race');
    const a = openPostgresDb(url, { schema: name });
    const b = openPostgresDb(url, { schema: name });
    try {
      const [ra, rb] = await Promise.all([runMigrations(a, MIGRATIONS), runMigrations(b, MIGRATIONS)]);
      expect([...ra, ...rb].sort()).toEqual(MIGRATIONS.map((m) => m.id).sort());
      expect(await appliedMigrations(a)).toEqual(MIGRATIONS.map((m) => m.id));
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses an unsafe schema name with ERR_STORE_OPEN', () => {
    expect(() => openPostgresDb(url, { schema: 'x; DROP TABLE y' })).toThrow(expect.objectContaining({ code: ERR_STORE_OPEN }));
  });
});

describe('withDefaultUser', () => {
  it('adds the OS user only when the URL names no role', () => {
    const u = () => 'root';
    expect(withDefaultUser('postgresql:///test?host=/var/run/postgresql', u)).toBe('postgresql:///test?host=/var/run/postgresql&user=root');
    expect(withDefaultUser('postgres://alice@db/x', u)).toBe('postgres://alice@db/x');
    expect(withDefaultUser('postgres://db/x?user=bob', u)).toBe('postgres://db/x?user=bob');
    expect(withDefaultUser('postgres://db/x', u)).toBe('postgres://db/x?user=root');
  });
});

describe('PostgreSQL group commit', () => {
  const T0 = '2026-01-01T00:00:00.000Z';
  const write = (nodeId: string, seq: number): ReportWrite => ({
    report: {
      nodeId,
      seq,
      receivedAt: T0,
      nonce: null,
      kind: 'history',
      status: 'trusted',
      reasons: [],
      inventoryDigest: 'sha256:i',
      pcrDigest: null,
      jws: `h.p${seq}.s`,
    },
    changes: [{ nodeId, seq, at: T0, code: 'gpu.added', claim: 'hardware', detail: `GPU ${seq}`, before: null, after: seq }],
    node: node(nodeId, { lastSeq: seq }),
  });

  it('reports queued while a commit is in flight form the next transaction; a duplicate fails alone', async () => {
    const store = await openPostgresStore(url, { schema: schema('group') });
    try {
      const batches: number[] = [];
      const w = createGroupCommitter(store, { onBatch: (k) => batches.push(k) });
      const first = Array.from({ length: 10 }, (_, i) => w.record(write(`pg-a${i}`, 1)));
      // Queued after the first batch has started (its commit is a round trip to the server).
      await new Promise((r) => setImmediate(r));
      const later = [...Array.from({ length: 5 }, (_, i) => w.record(write(`pg-b${i}`, 1))), w.record(write('pg-a0', 1))];
      const out = await Promise.allSettled([...first, ...later]);
      expect(out.filter((o) => o.status === 'fulfilled').length).toBe(15);
      expect(((out[15] as PromiseRejectedResult).reason as { code: string }).code).toBe(ERR_STORE_DUPLICATE_SEQ);
      expect(batches).toEqual([10, 6]);
      for (let i = 0; i < 5; i++) expect((await store.getReport(`pg-b${i}`, 1))?.seq).toBe(1);
      expect((await store.listChanges('pg-a0')).length).toBe(1);
    } finally {
      await store.close();
    }
  });
});
