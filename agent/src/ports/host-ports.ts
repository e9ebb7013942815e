import { resolve } from 'node:path';
import type { CommandRunner } from './command-runner.js';
import { DEFAULT_COMMAND_TIMEOUT_MS } from './command-runner.js';
import type { Files } from './files.js';
import { ReplayRunner } from './replay-runner.js';
import { RootedFiles } from './rooted-files.js';
import { SpawnRunner } from './spawn-runner.js';
import { LiveSysInfo, RecordedSysInfo, type SysInfo } from './sysinfo.js';

/** Everything the inventory collectors may touch. `sysinfo` is optional: without it disks come from sysfs only. */
export interface HostPorts {
  runner: CommandRunner;
  files: Files;
  sysinfo?: SysInfo;
}

export interface HostPortsOptions {
  /** A recorded host (see docs/ARCHITECTURE.md "Inventory sources"); undefined = this host. */
  root?: string;
  /** Per-command timeout in milliseconds. */
  timeoutMs?: number;
}

/** The real host when `root` is undefined, a recorded host under `root` otherwise. Wired once, in main. */
export function createHostPorts(opts: HostPortsOptions = {}): Required<HostPorts> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  if (opts.root === undefined) {
    return { runner: new SpawnRunner({ timeoutMs }), files: new RootedFiles('/'), sysinfo: new LiveSysInfo(timeoutMs) };
  }
  const root = resolve(opts.root);
  return { runner: new ReplayRunner(root, timeoutMs), files: new RootedFiles(root), sysinfo: new RecordedSysInfo(root) };
}
