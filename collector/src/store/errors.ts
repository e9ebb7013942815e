import { areaError } from '../../../shared/src/errors.js';

/** A report with this (nodeId, seq) is already stored: a replay or a re-sent spooled report. */
export const ERR_STORE_DUPLICATE_SEQ = 'ERR_STORE_DUPLICATE_SEQ';
/** A unique key other than (nodeId, seq) was violated. */
export const ERR_STORE_CONFLICT = 'ERR_STORE_CONFLICT';
/** A schema migration failed; the database is left at the last migration that committed. */
export const ERR_STORE_MIGRATION = 'ERR_STORE_MIGRATION';
/** The database could not be opened (path, permissions, connection string). */
export const ERR_STORE_OPEN = 'ERR_STORE_OPEN';
/** A stored value could not be read back (JSON column damaged outside nodeseal). */
export const ERR_STORE_CORRUPT = 'ERR_STORE_CORRUPT';
/** The store was used after close(). */
export const ERR_STORE_CLOSED = 'ERR_STORE_CLOSED';

export class StoreError extends areaError('StoreError') {}

/** True when `e` is a unique/primary-key violation from either engine. */
export function isUniqueViolation(e: unknown): boolean {
  if (e instanceof StoreError) return e.code === ERR_STORE_CONFLICT;
  const code = (e as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
