import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CommandResult, CommandRunner, RunOptions } from './command-runner.js';
import { ERR_COMMAND_TIMEOUT, PortError } from './errors.js';
import type { Files } from './files.js';
import type { HostPorts } from './host-ports.js';
import { COMMANDS_DIR, SYSINFO_DIR, commandBaseName } from './recorded-names.js';
import { DISK_LAYOUT_FILE, type DiskLayoutEntry, type SysInfo } from './sysinfo.js';

/**
 * Ports that pass every call through to the real ones and write what they saw under `dir` in
 * the recorded-host format, so `nodeseal dump DIR` records exactly what the agent reads.
 */
export function recordingPorts(inner: Required<HostPorts>, dir: string): Required<HostPorts> {
  const put = async (rel: string, data: string | Buffer) => {
    const path = join(dir, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
  };

  const files: Files = {
    async readBytes(path) {
      const buf = await inner.files.readBytes(path);
      if (buf !== null) await put(path, buf);
      return buf;
    },
    async readText(path) {
      const buf = await files.readBytes(path);
      return buf === null ? null : buf.toString('utf8');
    },
    async list(path) {
      const names = await inner.files.list(path);
      if (names !== null) {
        await mkdir(join(dir, path), { recursive: true });
        // Entries become directories so the listing replays even when nothing inside was read.
        await Promise.all(
          names.map(async (n) => {
            await mkdir(join(dir, path, n), { recursive: true }).catch(() => undefined);
            await writeFile(join(dir, path, n, '.keep'), '').catch(() => undefined);
          }),
        );
      }
      return names;
    },
  };

  const runner: CommandRunner = {
    async run(argv: readonly string[], opts?: RunOptions): Promise<CommandResult> {
      const base = join(COMMANDS_DIR, commandBaseName(argv));
      try {
        const r = await inner.runner.run(argv, opts);
        await put(`${base}.stdout`, r.stdout);
        if (r.exitCode !== 0) await put(`${base}.exit`, `${r.exitCode}\n`);
        if (r.stderr) await put(`${base}.stderr`, r.stderr);
        return r;
      } catch (e) {
        if (e instanceof PortError && e.code === ERR_COMMAND_TIMEOUT) await put(`${base}.exit`, 'timeout\n');
        throw e;
      }
    },
  };

  const sysinfo: SysInfo = {
    async diskLayout(): Promise<DiskLayoutEntry[]> {
      const disks = await inner.sysinfo.diskLayout();
      await put(join(SYSINFO_DIR, DISK_LAYOUT_FILE), `${JSON.stringify(disks, null, 2)}\n`);
      return disks;
    },
  };
  return { runner, files, sysinfo };
}
