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
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), allowPositionals, options, strict: true });
  } catch (e) {
    // parseArgs messages can span lines; the dispatcher prints one line per error.
    throw new UserError(ERR_USAGE, (e as Error).message.split('\n')[0]!.trim());
  }
}

/**
 * `--interval -5` reads to parseArgs as a missing value followed by an unknown flag; join a
 * negative number to its string-valued flag (`--interval=-5`) so that the verb's own range check
 * answers with what is wrong ("--interval must be at least ...") instead.
 */
function joinNegativeValues(argv: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : null;
    if (name && options[name]?.type === 'string' && next !== undefined && /^-\d+(\.\d+)?$/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
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
