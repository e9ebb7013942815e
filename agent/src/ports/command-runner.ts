/**
 * The narrow port through which collectors run external tools (nvidia-smi, ethtool, dmidecode,
 * ipmitool). Implementations: spawn-runner.ts (this host) and replay-runner.ts (a recorded host).
 *
 * Contract: `run` resolves with the exit code and output for any command that ran to completion,
 * whatever its exit code; it rejects with a PortError coded ERR_COMMAND_NOT_FOUND (binary absent),
 * ERR_COMMAND_TIMEOUT (killed after timeoutMs) or ERR_COMMAND_OUTPUT_LIMIT (output too large).
 */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Kill the command (and its process group) after this many milliseconds. */
  timeoutMs?: number;
}

export interface CommandRunner {
  run(argv: readonly string[], opts?: RunOptions): Promise<CommandResult>;
}

/** Default per-command timeout: nvidia-smi on an 8-GPU node takes a few seconds when cold. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;
/** Largest stdout/stderr we accept from a tool (an 8-GPU nvidia-smi -q -x is about 250 KiB). */
export const MAX_COMMAND_OUTPUT_BYTES = 16 * 1024 * 1024;
