import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPostgresStore } from '../../collector/src/store/open.js';
import { withDefaultUser } from '../../collector/src/store/postgres-db.js';
import type { Store } from '../../collector/src/store/store.js';

/** The local PostgreSQL server the suites use (trust auth, database `test`); NODESEAL_TEST_PG overrides. */
export const pgUrl = process.env.NODESEAL_TEST_PG ?? 'postgresql:///test?host=/var/run/postgresql';

/** One statement on a short-lived admin session (terminate backends, drop schemas, inspect). */
export async function pgAdmin<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: withDefaultUser(pgUrl) });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** Ends one backend as a database restart or a dropped connection would (pg_terminate_backend). */
export async function terminateBackend(pid: number): Promise<boolean> {
  const [r] = await pgAdmin<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
  return r?.ok === true;
}

/**
 * Fresh random schemas for one test file: `schema(tag)` names a new one (created by the first
 * store or pool that uses it), `openStore(tag)` opens a migrated store in it, `dropAll()` (in
 * afterAll) drops every schema handed out.
 */
export function pgSchemas(prefix = 'nodeseal_test') {
  const run = randomBytes(4).toString('hex');
  const made: string[] = [];
  return {
    schema(tag: string): string {
      const s = `${prefix}_${run}_${tag}`.toLowerCase();
      made.push(s);
      return s;
    },
    async openStore(schema: string): Promise<Store> {
      return openPostgresStore(pgUrl, { schema, max: 4 });
    },
    async dropAll(): Promise<void> {
      for (const s of made) await pgAdmin(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    },
  };
}
