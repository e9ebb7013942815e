import { execFile } from 'node:child_process';
import { NodesealError } from '../../../shared/src/errors.js';

/**
 * The collector's port for running scheduler tools (scontrol, sinfo). Same shape as the
 * agent's CommandRunner: resolves with the exit code for any command that ran; rejects with a
 * coded error when the command could not run or was killed at its timeout.
 */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  run(argv: readonly string[], opts?: { timeoutMs?: number }): Promise<CommandResult>;
}

export const ERR_INTEGRATION_COMMAND = 'ERR_INTEGRATION_COMMAND';
export const ERR_INTEGRATION_TIMEOUT = 'ERR_INTEGRATION_TIMEOUT';

/** Runs commands without a shell (argv as given), output capped, killed after the timeout. */
export function execRunner(env: NodeJS.ProcessEnv = process.env): CommandRunner {
  return {
    run(argv, opts = {}) {
      const timeoutMs = opts.timeoutMs ?? 10_000;
      return new Promise((resolve, reject) => {
        execFile(
          argv[0]!,
          argv.slice(1),
          { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024, env, encoding: 'utf8' },
          (err, stdout, stderr) => {
            if (!err) return resolve({ exitCode: 0, stdout, stderr });
            const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown; signal?: string | null };
            if (e.killed || e.signal === 'SIGKILL') {
              return reject(
                new NodesealError(ERR_INTEGRATION_TIMEOUT, `${argv[0]} timed out after ${timeoutMs} ms`, { details: { command: argv[0] } }),
              );
            }
            if (typeof e.code === 'number') return resolve({ exitCode: e.code, stdout, stderr });
            reject(
              new NodesealError(ERR_INTEGRATION_COMMAND, `${argv[0]} could not run: ${e.message}`, {
                cause: err,
                details: { command: argv[0] },
              }),
            );
          },
        );
      });
    },
  };
}
