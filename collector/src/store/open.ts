import type { Store } from './store.js';
import { createSqlStore } from './sql-store.js';
import { openSqliteDb } from './sqlite-db.js';
import type { SqliteOptions } from './sqlite-db.js';
import { openPostgresDb } from './postgres-db.js';
import type { PostgresOptions } from './postgres-db.js';

/**
 * Open (and migrate) the embedded SQLite store: WAL, synchronous=FULL, busy timeout.
 * `path` ':memory:' works for throwaway use; production uses a file (default --db path).
 */
export async function openSqliteStore(path: string, opts: SqliteOptions & { migrate?: boolean } = {}): Promise<Store> {
  const store = createSqlStore(openSqliteDb(path, opts));
  if (opts.migrate !== false) await migrateOrClose(store);
  return store;
}

/** Open (and migrate) the PostgreSQL store, for several collectors sharing one fleet. */
export async function openPostgresStore(connectionString: string, opts: PostgresOptions & { migrate?: boolean } = {}): Promise<Store> {
  const store = createSqlStore(openPostgresDb(connectionString, opts));
  if (opts.migrate !== false) await migrateOrClose(store);
  return store;
}

async function migrateOrClose(store: Store): Promise<void> {
  try {
    await store.migrate();
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
}

/** `postgres://` / `postgresql://` URLs open PostgreSQL; anything else is a SQLite path. */
export function openStore(target: string, opts: { schema?: string } = {}): Promise<Store> {
  return /^postgres(ql)?:\/\//.test(target) ? openPostgresStore(target, opts) : openSqliteStore(target);
}
