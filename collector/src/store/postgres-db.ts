import { userInfo } from 'node:os';
import pg from 'pg';
import type { SqlDb, SqlExecutor, SqlRow, SqlValue } from './sql.js';
import { ERR_STORE_CLOSED, ERR_STORE_CONFLICT, ERR_STORE_OPEN, StoreError, isUniqueViolation } from './errors.js';

export interface PostgresOptions {
  /** Schema to use (created by migrate() if missing); default: the server's search_path. */
  schema?: string;
  /** Pool size (default 10). */
  max?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Rewrite `?` placeholders to `$1..$n`, leaving quoted literals and identifiers alone. */
export function toPgPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else out += ch;
  }
  return out;
}

/**
 * Like libpq, use the OS user's role when the URL names none and PGUSER is unset
 * (`postgresql:///test?host=/var/run/postgresql` as root connects as root). pg itself would
 * fall back to $USER, which is empty under some service managers.
 */
export function withDefaultUser(connectionString: string, osUser: () => string = () => userInfo().username): string {
  if (process.env.PGUSER) return connectionString;
  const m = /^(postgres(?:ql)?:\/\/)([^/?#]*)(.*)$/.exec(connectionString);
  if (!m) return connectionString;
  if (m[2]!.includes('@') || /[?&]user=/.test(m[3]!)) return connectionString;
  const sep = m[3]!.includes('?') ? '&' : '?';
  return `${connectionString}${sep}user=${encodeURIComponent(osUser())}`;
}

function wrap(e: unknown): unknown {
  if (isUniqueViolation(e)) return new StoreError(ERR_STORE_CONFLICT, 'unique key violated', { cause: e });
  return e;
}

function executor(q: (text: string, values?: unknown[]) => Promise<pg.QueryResult>): SqlExecutor {
  const cache = new Map<string, string>();
  const text = (sql: string): string => {
    let t = cache.get(sql);
    if (t === undefined) {
      t = toPgPlaceholders(sql);
      if (cache.size > 500) cache.clear();
      cache.set(sql, t);
    }
    return t;
  };
  const query = async (sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> => {
    try {
      return await q(text(sql), [...params]);
    } catch (e) {
      throw wrap(e);
    }
  };
  return {
    dialect: 'postgres',
    async all<T extends SqlRow>(sql: string, params: readonly SqlValue[] = []) {
      return (await query(sql, params)).rows as T[];
    },
    async get<T extends SqlRow>(sql: string, params: readonly SqlValue[] = []) {
      return (await query(sql, params)).rows[0] as T | undefined;
    },
    async run(sql: string, params: readonly SqlValue[] = []) {
      return { changes: (await query(sql, params)).rowCount ?? 0 };
    },
    async exec(sql: string) {
      try {
        await q(sql);
      } catch (e) {
        throw wrap(e);
      }
    },
  };
}

/**
 * PostgreSQL through a pg Pool. Committed transactions are durable (the server's fsync).
 * `schema` pins search_path on every pooled connection (tests use a random schema per run).
 */
export function openPostgresDb(connectionString: string, opts: PostgresOptions = {}): SqlDb {
  if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema)) {
    throw new StoreError(ERR_STORE_OPEN, `invalid PostgreSQL schema name ${JSON.stringify(opts.schema)}`);
  }
  const config: pg.PoolConfig = { connectionString: withDefaultUser(connectionString), max: opts.max ?? 10 };
  if (opts.schema) config.options = `-c search_path=${opts.schema}`;
  const pool = new pg.Pool(config);
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  let closed = false;
  let schemaReady: Promise<unknown> | null = null;
  /** Fails after close(); creates the configured schema once, before the first statement. */
  const ready = async (): Promise<void> => {
    if (closed) throw new StoreError(ERR_STORE_CLOSED, 'store is closed');
    if (!opts.schema) return;
    schemaReady ??= pool.query(`CREATE SCHEMA IF NOT EXISTS ${opts.schema}`).catch((e: unknown) => {
      // Two collectors creating it at once: IF NOT EXISTS still races in the catalog; the loser sees it exists.
      const code = (e as { code?: string }).code;
      if (code === '23505' || code === '42P06') return;
      schemaReady = null;
      throw new StoreError(ERR_STORE_OPEN, `cannot prepare PostgreSQL schema: ${(e as Error).message}`, { cause: e });
    });
    await schemaReady;
  };
  const base = executor(async (t, v) => {
    await ready();
    return pool.query(t, v);
  });

  return {
    ...base,
    async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      let client: pg.PoolClient;
      try {
        await ready();
        client = await pool.connect();
      } catch (e) {
        if (e instanceof StoreError) throw e;
        throw new StoreError(ERR_STORE_OPEN, `cannot connect to PostgreSQL: ${(e as Error).message}`, { cause: e });
      }
      try {
        await client.query('BEGIN');
        const out = await fn(executor((t, v) => client.query(t, v)));
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
