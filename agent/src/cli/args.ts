import { stat } from 'node:fs/promises';
import { ERR_USAGE, UserError } from '../../../shared/src/errors.js';

/** `--timeout MS`: a whole number of milliseconds between 1 and 600000. */
export function parseTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 600_000)
    throw new UserError(ERR_USAGE, `--timeout must be milliseconds between 1 and 600000, not '${v}'`);
  return Number(v);
}

export async function requireDirectory(path: string, what: string): Promise<void> {
  const s = await stat(path).catch(() => null);
  if (!s?.isDirectory()) throw new UserError(ERR_USAGE, `${what} ${path} is not a directory`);
}
