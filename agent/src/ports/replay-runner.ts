import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_COMMAND_TIMEOUT_MS, type CommandResult, type CommandRunner, type RunOptions } from './command-runner.js';
import { ERR_COMMAND_NOT_FOUND, ERR_COMMAND_TIMEOUT, ERR_FILE_UNREADABLE, PortError } from './errors.js';
import { COMMANDS_DIR, commandBaseName } from './recorded-names.js';

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PortError(ERR_FILE_UNREADABLE, `cannot read recorded output ${path}`, { cause: e });
  }
}

/**
 * Replays command outputs recorded under ROOT/commands/ (see recorded-names.ts). Files are read
 * at every call, so a test may edit a recorded output between two collections.
 */
export class ReplayRunner implements CommandRunner {
  constructor(
    readonly root: string,
    private readonly timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ) {}

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const base = join(this.root, COMMANDS_DIR, commandBaseName(argv));
    const [stdout, exit, stderr] = await Promise.all([
      readOptional(`${base}.stdout`),
      readOptional(`${base}.exit`),
      readOptional(`${base}.stderr`),
    ]);
    if (exit?.trim() === 'timeout') {
      const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
      throw new PortError(ERR_COMMAND_TIMEOUT, `${argv[0]} did not finish within ${timeoutMs} ms (recorded)`, {
        details: { argv: [...argv], timeoutMs },
      });
    }
    if (stdout === null && exit === null)
      throw new PortError(ERR_COMMAND_NOT_FOUND, `${argv[0]} not found (not in the recorded host)`, { details: { argv: [...argv] } });
    const exitCode = exit === null ? 0 : Number.parseInt(exit.trim(), 10);
    return { exitCode: Number.isFinite(exitCode) ? exitCode : 1, stdout: stdout ?? '', stderr: stderr ?? '' };
  }
}
