import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** remove_tree from scripts/systemd/install-lib.sh, as a real (no DESTDIR) uninstall calls it. */
async function removeTree(path: string, destdir = ''): Promise<{ code: number; stderr: string }> {
  const script = `set -eu; PROG=test; source scripts/systemd/install-lib.sh; remove_tree "$1"`;
  return run('bash', ['-c', script, 'bash', path], { env: { ...process.env, DESTDIR: destdir } }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
}

describe('installer remove_tree', () => {
  let dir: string;
  afterAll(async () => dir && rm(dir, { recursive: true, force: true }));

  it('removes an install path on a real install (empty DESTDIR)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'nodeseal-rm-'));
    await mkdir(join(dir, 'opt', 'nodeseal'), { recursive: true });
    await writeFile(join(dir, 'opt', 'nodeseal', 'f'), 'x');
    expect(await removeTree(join(dir, 'opt', 'nodeseal'))).toEqual({ code: 0, stderr: '' });
    expect(existsSync(join(dir, 'opt', 'nodeseal'))).toBe(false);
    expect(existsSync(join(dir, 'opt'))).toBe(true);
  });

  it.each(['', '/', '/opt', 'relative/path', '/opt/../etc'])('refuses %j', async (p) => {
    const r = await removeTree(p);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('refusing to remove');
  });
});
