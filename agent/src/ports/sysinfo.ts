import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ERR_FILE_UNREADABLE, PortError } from './errors.js';
import { SYSINFO_DIR } from './recorded-names.js';

/** One physical disk as the systeminformation library reports it (the fields we use). */
export interface DiskLayoutEntry {
  device: string;
  model: string;
  serial: string;
  firmwareRevision: string;
}

/**
 * The port for facts we take from the systeminformation library rather than reading sysfs
 * ourselves (see docs/ARCHITECTURE.md "Inventory sources"). Recorded hosts keep its answers as
 * JSON under DIR/sysinfo/.
 */
export interface SysInfo {
  diskLayout(): Promise<DiskLayoutEntry[]>;
}

export const DISK_LAYOUT_FILE = 'disk-layout.json';

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Keep only well-formed entries of an untrusted diskLayout array. */
export function parseDiskLayout(value: unknown): DiskLayoutEntry[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter(
      (d): d is Record<string, unknown> => typeof d === 'object' && d !== null && typeof (d as Record<string, unknown>).device === 'string',
    )
    .map((d) => ({ device: str(d.device), model: str(d.model), serial: str(d.serial), firmwareRevision: str(d.firmwareRevision) }));
}

/** systeminformation on this host, bounded by a timeout (it runs lsblk, smartctl ... itself). */
export class LiveSysInfo implements SysInfo {
  constructor(private readonly timeoutMs: number) {}

  async diskLayout(): Promise<DiskLayoutEntry[]> {
    const si = (await import('systeminformation')).default;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`systeminformation diskLayout did not finish within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    try {
      return parseDiskLayout(await Promise.race([si.diskLayout(), timeout]));
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Answers recorded by `nodeseal dump` under ROOT/sysinfo/ (absent file: no disks known). */
export class RecordedSysInfo implements SysInfo {
  constructor(readonly root: string) {}

  async diskLayout(): Promise<DiskLayoutEntry[]> {
    const path = join(this.root, SYSINFO_DIR, DISK_LAYOUT_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new PortError(ERR_FILE_UNREADABLE, `cannot read ${path}`, { cause: e });
    }
    try {
      return parseDiskLayout(JSON.parse(text));
    } catch (e) {
      throw new PortError(ERR_FILE_UNREADABLE, `${path} is not JSON`, { cause: e });
    }
  }
}
