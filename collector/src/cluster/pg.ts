import type pg from 'pg';
import { openPostgresDb, withDefaultUser } from '../store/index.js';
import type { SqlDb } from '../store/index.js';

/** Where a cluster module connects: the collector's --postgres URL and its schema (default: the server's search_path). */
export interface ClusterDbOptions {
  url: string;
  schema?: string;
}

/**
 * A small pool for one cluster module's queries (the store's SQL port, `?` placeholders), and the
 * schema it resolved to (channel names and lock keys are derived from it, see names.ts).
 */
export async function openClusterDb(opts: ClusterDbOptions, max = 2): Promise<{ db: SqlDb; schema: string }> {
  const db = openPostgresDb(opts.url, { ...(opts.schema === undefined ? {} : { schema: opts.schema }), max });
  try {
    const row = await db.get<{ s: string | null }>('SELECT current_schema() AS s');
    if (!row?.s) throw new Error('the PostgreSQL search_path names no existing schema');
    return { db, schema: row.s };
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}

/** Settings of a dedicated (unpooled) session: listener or leader-lock holder. */
export function sessionConfig(url: string, schema: string, applicationName: string): pg.ClientConfig {
  return {
    connectionString: withDefaultUser(url),
    options: `-c search_path=${schema}`,
    application_name: applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: 5_000,
    connectionTimeoutMillis: 5_000,
  };
}

/** Delay before reconnect attempt n (0-based): exponential from minMs, capped at maxMs, full jitter (random in [0, 1)). */
export function backoffMs(attempt: number, minMs: number, maxMs: number, random: number): number {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(minMs / 2 + (cap - minMs / 2) * random);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, Math.max(0, ms));
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Close a session without waiting on a socket that may be half-open. */
export function dropClient(client: pg.Client): void {
  client.removeAllListeners('notification');
  client.on('error', () => undefined);
  const stream = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
  client.end().catch(() => undefined);
  // end() waits for the server's goodbye; a dead peer never sends it.
  setTimeout(() => stream?.destroy?.(), 1_000).unref();
}
