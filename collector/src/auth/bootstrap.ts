import { readFile } from 'node:fs/promises';
import { UserError } from '../../../shared/src/errors.js';
import { ERR_AUTH_TOKEN_INPUT } from './errors.js';

/** Shortest bootstrap token accepted (characters): about 190 bits in base64. */
export const BOOTSTRAP_MIN_LENGTH = 32;

/**
 * The bootstrap operator token, from `--bootstrap-token-file FILE` (first line, trimmed) or,
 * when no file is given, from env NODESEAL_BOOTSTRAP_TOKEN. Null when neither is set.
 * A short or unreadable token stops the collector at start (UserError).
 */
export async function loadBootstrapToken(opts: { file?: string | undefined; env: NodeJS.ProcessEnv }): Promise<string | null> {
  let token: string | undefined;
  let from: string;
  if (opts.file !== undefined) {
    from = opts.file;
    try {
      token = (await readFile(opts.file, 'utf8')).split(/\r?\n/, 1)[0]!.trim();
    } catch (e) {
      throw new UserError(
        ERR_AUTH_TOKEN_INPUT,
        `cannot read bootstrap token file ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  } else {
    from = 'NODESEAL_BOOTSTRAP_TOKEN';
    token = opts.env.NODESEAL_BOOTSTRAP_TOKEN?.trim();
    if (token === undefined || token === '') return null;
  }
  if (token.length < BOOTSTRAP_MIN_LENGTH || /\s/.test(token)) {
    throw new UserError(
      ERR_AUTH_TOKEN_INPUT,
      `bootstrap token from ${from} must be at least ${BOOTSTRAP_MIN_LENGTH} characters without spaces`,
    );
  }
  return token;
}
