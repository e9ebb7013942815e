import type { CliIo } from '../../shared/src/cli/verb.js';

/** A CliIo for running a verb in-process: what it prints collects in `out` and `err`. */
export function captureIo(env: NodeJS.ProcessEnv = {}, stopSignal?: AbortSignal): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    env,
    stdout: (s: string) => void (io.out += s),
    stderr: (s: string) => void (io.err += s),
    ...(stopSignal ? { stopSignal } : {}),
  };
  return io;
}
