import Database from 'better-sqlite3';
import type { SqlDb, SqlExecutor, SqlRow, SqlValue } from './sql.js';
import { ERR_STORE_CLOSED, ERR_STORE_CONFLICT, ERR_STORE_OPEN, StoreError, isUniqueViolation } from './errors.js';

export interface SqliteOptions {
  /** Milliseconds a writer waits for another process's lock (default 5000). */
  busyTimeoutMs?: number;
}

/** A tiny FIFO lock: better-sqlite3 has one connection, so an open transaction must not interleave. */
class Lock {
  private tail: Promise<void> = Promise.resolve();
  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const prev = this.tail;
    this.tail = prev.then(() => next);
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

function wrap(e: unknown): unknown {
  if (isUniqueViolation(e)) return new StoreError(ERR_STORE_CONFLICT, 'unique key violated', { cause: e });
  return e;
}

/**
 * SQLite through better-sqlite3 12: WAL journal, synchronous=FULL (a committed transaction
 * survives kill -9 and power loss), foreign keys on, busy timeout for other processes
 * (CLI verbs such as `token create --db`).
 */
export function openSqliteDb(path: string, opts: SqliteOptions = {}): SqlDb {
  let db: Database.Database;
  try {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
  } catch (e) {
    throw new StoreError(ERR_STORE_OPEN, `cannot open SQLite database ${path}: ${(e as Error).message}`, { cause: e, details: { path } });
  }
  const lock = new Lock();
  const cache = new Map<string, Database.Statement>();
  let closed = false;

  const stmt = (sql: string): Database.Statement => {
    if (closed) throw new StoreError(ERR_STORE_CLOSED, 'store is closed');
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      if (cache.size > 500) cache.clear();
      cache.set(sql, s);
    }
    return s;
  };

  const direct: SqlExecutor = {
    dialect: 'sqlite',
    async all<T extends SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
      try {
        return stmt(sql).all(...params) as T[];
      } catch (e) {
        throw wrap(e);
      }
    },
    async get<T extends SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
      try {
        return stmt(sql).get(...params) as T | undefined;
      } catch (e) {
        throw wrap(e);
      }
    },
    async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
      try {
        return { changes: stmt(sql).run(...params).changes };
      } catch (e) {
        throw wrap(e);
      }
    },
    async exec(sql: string): Promise<void> {
      if (closed) throw new StoreError(ERR_STORE_CLOSED, 'store is closed');
      try {
        db.exec(sql);
      } catch (e) {
        throw wrap(e);
      }
    },
  };

  return {
    dialect: 'sqlite',
    all: (sql, params) => lock.run(() => direct.all(sql, params)),
    get: (sql, params) => lock.run(() => direct.get(sql, params)),
    run: (sql, params) => lock.run(() => direct.run(sql, params)),
    exec: (sql) => lock.run(() => direct.exec(sql)),
    transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      return lock.run(async () => {
        if (closed) throw new StoreError(ERR_STORE_CLOSED, 'store is closed');
        db.exec('BEGIN IMMEDIATE');
        try {
          const out = await fn(direct);
          db.exec('COMMIT');
          return out;
        } catch (e) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw e;
        }
      });
    },
    close: () =>
      lock.run(async () => {
        if (closed) return;
        closed = true;
        cache.clear();
        db.close();
      }),
  };
}
