import { userInfo } from 'node:os';
import { UserError, isNodesealError, ERR_CONFIG } from '../../../shared/src/errors.js';
import type { CliIo } from '../../../shared/src/cli/verb.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';

/**
 * For operator verbs that work on the collector's database directly (on the collector host):
 * `--db PATH` (SQLite file or postgres:// URL) > env NODESEAL_DB > /var/lib/nodeseal/collector.db.
 */
export const DEFAULT_DB = '/var/lib/nodeseal/collector.db';

export function dbTarget(flag: string | undefined, io: CliIo): string {
  return flag ?? io.env.NODESEAL_DB ?? DEFAULT_DB;
}

export async function withLocalStore<T>(target: string, fn: (store: Store) => Promise<T>): Promise<T> {
  let store: Store;
  try {
    store = await openStore(target);
  } catch (e) {
    throw new UserError(isNodesealError(e) ? e.code : ERR_CONFIG, `cannot open the collector database ${target}: ${(e as Error).message}`);
  }
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Who runs this command, for the audit log. */
export function cliActor(io: CliIo): string {
  let user = io.env.SUDO_USER ?? io.env.USER;
  try {
    user ??= userInfo().username;
  } catch {
    user ??= 'unknown';
  }
  return `cli:${user}`;
}
