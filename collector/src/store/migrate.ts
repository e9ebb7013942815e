import type { Migration } from './migrations.js';
import type { SqlDb } from './sql.js';
import { ERR_STORE_MIGRATION, StoreError } from './errors.js';

const LEDGER = 'CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)';
/** Arbitrary constant key for pg_advisory_xact_lock: collectors sharing one database migrate one at a time. */
const PG_LOCK_KEY = 7_263_114_501;

/** Check that ids are unique and sorted; a mistake here is a bug in migrations.ts. */
export function checkMigrations(list: readonly Migration[]): void {
  const seen = new Set<string>();
  let prev = '';
  for (const m of list) {
    if (!/^\d{4}_[a-z0-9_]+$/.test(m.id)) throw new StoreError(ERR_STORE_MIGRATION, `bad migration id ${JSON.stringify(m.id)}`);
    if (seen.has(m.id)) throw new StoreError(ERR_STORE_MIGRATION, `duplicate migration id ${m.id}`);
    if (m.id < prev) throw new StoreError(ERR_STORE_MIGRATION, `migration ${m.id} is out of order (after ${prev})`);
    seen.add(m.id);
    prev = m.id;
  }
}

/**
 * Apply every migration not yet recorded in schema_migrations, each in its own transaction
 * together with its ledger row. Safe to call on every start and from several processes:
 * SQLite serialises through BEGIN IMMEDIATE, PostgreSQL through an advisory lock.
 * Returns the ids applied by this call.
 */
export async function runMigrations(
  db: SqlDb,
  list: readonly Migration[],
  now: () => string = () => new Date().toISOString(),
): Promise<string[]> {
  checkMigrations(list);
  await db.transaction(async (tx) => {
    if (tx.dialect === 'postgres') await tx.run(`SELECT pg_advisory_xact_lock(${PG_LOCK_KEY})`);
    await tx.exec(LEDGER);
  });
  const applied: string[] = [];
  for (const m of list) {
    const done = await db.transaction(async (tx) => {
      if (tx.dialect === 'postgres') await tx.run(`SELECT pg_advisory_xact_lock(${PG_LOCK_KEY})`);
      if (await tx.get('SELECT id FROM schema_migrations WHERE id = ?', [m.id])) return false;
      try {
        await tx.exec(tx.dialect === 'sqlite' ? m.sqlite : m.postgres);
      } catch (e) {
        throw new StoreError(ERR_STORE_MIGRATION, `migration ${m.id} failed: ${(e as Error).message}`, { cause: e, details: { id: m.id } });
      }
      await tx.run('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)', [m.id, now()]);
      return true;
    });
    if (done) applied.push(m.id);
  }
  return applied;
}

/** Ids recorded as applied, in order. */
export async function appliedMigrations(db: SqlDb): Promise<string[]> {
  const rows = await db.all<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
  return rows.map((r) => r.id);
}
