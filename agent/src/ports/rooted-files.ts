import { readFile, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { MAX_FILE_BYTES, type Files } from './files.js';
import { ERR_FILE_TOO_LARGE, ERR_FILE_UNREADABLE, ERR_PATH_OUTSIDE_ROOT, PortError } from './errors.js';

function isMissing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Files rooted at `root` ('/' for this host, a recorded host's directory for replay).
 * Host paths must be absolute and may not climb out of the root.
 */
export class RootedFiles implements Files {
  constructor(readonly root: string = '/') {}

  resolve(path: string): string {
    if (!path.startsWith('/')) throw new PortError(ERR_PATH_OUTSIDE_ROOT, `not an absolute host path: ${path}`);
    if (path.split('/').includes('..')) throw new PortError(ERR_PATH_OUTSIDE_ROOT, `path climbs out of the root: ${path}`);
    const normal = posix.normalize(path);
    return this.root === '/' ? normal : join(this.root, normal);
  }

  async readBytes(path: string): Promise<Buffer | null> {
    const full = this.resolve(path);
    let buf: Buffer;
    try {
      buf = await readFile(full);
    } catch (e) {
      if (isMissing(e)) return null;
      throw new PortError(ERR_FILE_UNREADABLE, `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        cause: e,
        details: { path, errno: (e as NodeJS.ErrnoException).code },
      });
    }
    if (buf.length > MAX_FILE_BYTES)
      throw new PortError(ERR_FILE_TOO_LARGE, `${path} is larger than ${MAX_FILE_BYTES} bytes`, { details: { path } });
    return buf;
  }

  async readText(path: string): Promise<string | null> {
    const buf = await this.readBytes(path);
    return buf === null ? null : buf.toString('utf8');
  }

  async list(path: string): Promise<string[] | null> {
    try {
      // `.keep` marks an empty directory in a recorded host kept in git; it is never a host entry.
      return (await readdir(this.resolve(path))).filter((n) => n !== '.keep').sort();
    } catch (e) {
      if (e instanceof PortError) throw e;
      if (isMissing(e)) return null;
      throw new PortError(ERR_FILE_UNREADABLE, `cannot list ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
        cause: e,
        details: { path },
      });
    }
  }
}
