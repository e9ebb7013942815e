/**
 * The narrow port through which collectors read sysfs, procfs and efivars. Paths are always
 * absolute host paths (`/sys/class/dmi/id/bios_version`); an implementation rooted at DIR reads
 * DIR/sys/class/dmi/id/bios_version instead, so a recorded host replays unchanged.
 *
 * Contract: a path that does not exist reads as null (absence is normal in sysfs); any other
 * failure (permission denied, I/O error, file too large) rejects with a coded PortError.
 */
export interface Files {
  /** UTF-8 text of the file, or null when it does not exist. */
  readText(path: string): Promise<string | null>;
  /** Raw bytes of the file, or null when it does not exist. */
  readBytes(path: string): Promise<Buffer | null>;
  /** Names in a directory (sorted), or null when it does not exist. */
  list(path: string): Promise<string[] | null>;
}

/** sysfs attributes are one page; /proc/cpuinfo on a 256-thread host is about 400 KiB. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;
