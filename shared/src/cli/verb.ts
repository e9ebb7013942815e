import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError, ERR_USAGE } from '../errors.js';

/** What a CLI verb may touch: its own output streams and environment (tests pass their own). */
export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); long-running verbs await it. */
  stopSignal?: AbortSignal;
}

/** A CLI verb: small module, parses its own flags, returns the process exit code. */
export interface Verb {
  summary: string;
  usage: string;
  run(argv: string[], io: CliIo): Promise<number>;
}

/**
 * parseArgs with our conventions: unknown flags and missing values are user errors with
 * ERR_USAGE, printed as one line by the dispatcher together with the verb's usage.
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UserError(ERR_USAGE, (e as Error).message);
  }
}

export function processIo(): CliIo {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    env: process.env,
    stopSignal: ac.signal,
  };
}
