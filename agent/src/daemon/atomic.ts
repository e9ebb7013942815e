import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/**
 * Writes a file atomically: a temporary sibling is written with the final mode, fsynced, and
 * renamed over the target; the directory is fsynced so the rename itself survives a crash.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  await syncDir(dirname(path));
}

export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r').catch(() => null);
  if (!d) return;
  await d.sync().catch(() => undefined);
  await d.close();
}
