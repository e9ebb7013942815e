/**
 * The narrow SQL port both engines implement, so the Store (sql-store.ts) and other areas'
 * tables (auth, audit, alert outbox) are written once in portable SQL.
 *
 * Placeholders are `?` in every dialect (the PostgreSQL adapter rewrites them to `$n`).
 * Values: string, number, null (JSON goes in TEXT columns as strings). BIGINT columns come
 * back as numbers from SQLite and as strings from PostgreSQL: read them with `num()`.
 */
export type SqlDialect = 'sqlite' | 'postgres';
export type SqlValue = string | number | null;
export type SqlRow = Record<string, unknown>;

export interface SqlExecutor {
  readonly dialect: SqlDialect;
  all<T extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** Statement without result rows; resolves with the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** Several statements separated by `;`, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface SqlDb extends SqlExecutor {
  /**
   * Run `fn` in one transaction: committed (durably) when it resolves, rolled back when it
   * throws. Transactions are serialised on SQLite; on PostgreSQL each takes a pooled client.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Read a BIGINT/COUNT column from either engine as a JavaScript number. */
export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && v !== '') return Number(v);
  return Number.NaN;
}

/** Escape `%`, `_` and `\` for a LIKE pattern used with `ESCAPE '\'`. */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
