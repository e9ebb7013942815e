import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadOrCreateIdentity } from './identity.js';
import { loadNextIdentity, type SigningIdentity } from './key-rotation.js';
import { Spool, type SpoolLimits } from './spool.js';

/**
 * What the agent keeps in its state directory across restarts and collectors: identity (and a
 * pending next key), the spool, the last seq (never below the spool's newest), and whether this
 * key was enrolled.
 */
export async function loadPersisted(
  stateDir: string,
  spoolLimits: Partial<SpoolLimits>,
  logger: Logger,
): Promise<{
  identity: Awaited<ReturnType<typeof loadOrCreateIdentity>>;
  spool: Spool;
  seq: number;
  enrolled: boolean;
  nextIdentity: SigningIdentity | null;
}> {
  const identity = await loadOrCreateIdentity(stateDir);
  const spool = await Spool.open(join(stateDir, 'spool'), spoolLimits, logger);
  const stored = await readFile(join(stateDir, 'seq'), 'utf8')
    .then((t) => Number.parseInt(t, 10))
    .catch(() => 0);
  const seq = Math.max(Number.isSafeInteger(stored) ? stored : 0, spool.maxSeq);
  const enrolled = (await readFile(join(stateDir, 'enrolled'), 'utf8').catch(() => '')).trim() === identity.kid;
  return { identity, spool, seq, enrolled, nextIdentity: await loadNextIdentity(stateDir) };
}
