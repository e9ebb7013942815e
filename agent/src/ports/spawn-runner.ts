import { spawn } from 'node:child_process';
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  MAX_COMMAND_OUTPUT_BYTES,
  type CommandResult,
  type CommandRunner,
  type RunOptions,
} from './command-runner.js';
import { ERR_COMMAND_NOT_FOUND, ERR_COMMAND_OUTPUT_LIMIT, ERR_COMMAND_TIMEOUT, PortError } from './errors.js';

/** Where system tools live even when the service manager gives us a short PATH. */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SpawnRunnerOptions {
  /** Default timeout for commands that do not pass their own. */
  timeoutMs?: number;
  /** Directories searched before the system ones (tests put fake tools here). */
  pathPrefix?: string[];
  maxOutputBytes?: number;
}

/**
 * Runs tools on this host. Each command gets its own process group so that a timeout kills the
 * whole tree (a wrapper script and the tool it started), with LC_ALL=C so output is parseable.
 */
export class SpawnRunner implements CommandRunner {
  private readonly timeoutMs: number;
  private readonly env: NodeJS.ProcessEnv;
  private readonly maxOutputBytes: number;

  constructor(opts: SpawnRunnerOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.maxOutputBytes = opts.maxOutputBytes ?? MAX_COMMAND_OUTPUT_BYTES;
    const path = [...(opts.pathPrefix ?? []), process.env.PATH ?? '', SYSTEM_PATH].filter(Boolean).join(':');
    this.env = { ...process.env, PATH: path, LC_ALL: 'C', LANG: 'C' };
  }

  run(argv: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const [cmd, ...args] = argv;
    if (!cmd) return Promise.reject(new PortError(ERR_COMMAND_NOT_FOUND, 'empty command line'));
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return new Promise<CommandResult>((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.env, detached: true });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let bytes = 0;
      let settled = false;
      const killGroup = () => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const finish = (e: Error | null, result?: CommandResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e) reject(e);
        else resolve(result!);
      };
      const timer = setTimeout(() => {
        killGroup();
        child.stdout.destroy();
        child.stderr.destroy();
        finish(
          new PortError(ERR_COMMAND_TIMEOUT, `${cmd} did not finish within ${timeoutMs} ms`, { details: { argv: [...argv], timeoutMs } }),
        );
      }, timeoutMs);
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > this.maxOutputBytes) {
          killGroup();
          finish(
            new PortError(ERR_COMMAND_OUTPUT_LIMIT, `${cmd} wrote more than ${this.maxOutputBytes} bytes`, {
              details: { argv: [...argv] },
            }),
          );
          return;
        }
        into.push(chunk);
      };
      child.stdout.on('data', collect(out));
      child.stderr.on('data', collect(err));
      child.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') finish(new PortError(ERR_COMMAND_NOT_FOUND, `${cmd} not found`, { details: { argv: [...argv] } }));
        else if (e.code === 'EACCES')
          finish(new PortError(ERR_COMMAND_NOT_FOUND, `${cmd} is not executable`, { cause: e, details: { argv: [...argv] } }));
        else finish(e);
      });
      child.on('close', (code, signal) => {
        finish(null, {
          exitCode: code ?? (signal ? 128 + 9 : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        });
      });
    });
  }
}
