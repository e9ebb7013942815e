import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpawnRunner } from '../../../agent/src/ports/spawn-runner.js';
import { isNodesealError } from '../../../shared/src/errors.js';

let bin: string;

async function tool(name: string, body: string): Promise<void> {
  const p = join(bin, name);
  await writeFile(p, `#!/bin/sh\n${body}\n`);
  await chmod(p, 0o755);
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    if (isNodesealError(e)) return e.code;
    throw e;
  }
  return undefined;
}

/** Running (not gone, not a zombie waiting for a reaper that a container's init may never be). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

beforeAll(async () => {
  bin = await mkdtemp(join(tmpdir(), 'nodeseal-bin-'));
  await tool('fake-ok', 'echo "out:$1"; echo "err" >&2');
  await tool('fake-exit3', 'echo partial; echo "boom" >&2; exit 3');
  // The tool starts a child that would outlive it; the timeout must kill the whole group.
  await tool('fake-hang', `sleep 30 & echo $! > "${'$'}1"; wait`);
  await tool('fake-flood', 'yes 0123456789012345678901234567890123456789');
  await tool('fake-env', 'echo "$LC_ALL"');
});

afterAll(async () => {
  await rm(bin, { recursive: true, force: true });
});

describe('SpawnRunner (real child processes)', () => {
  const runner = () => new SpawnRunner({ timeoutMs: 5000, pathPrefix: [bin] });

  it('returns stdout, stderr and exit code 0', async () => {
    expect(await runner().run(['fake-ok', 'a b'])).toEqual({ exitCode: 0, stdout: 'out:a b\n', stderr: 'err\n' });
  });

  it('returns a non-zero exit code without throwing', async () => {
    const r = await runner().run(['fake-exit3']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toBe('boom\n');
  });

  it('rejects a missing binary with ERR_COMMAND_NOT_FOUND', async () => {
    expect(await codeOf(runner().run(['nodeseal-no-such-tool-x']))).toBe('ERR_COMMAND_NOT_FOUND');
  });

  it('kills a command that hangs past its timeout, with its children, and says ERR_COMMAND_TIMEOUT', async () => {
    const pidFile = join(bin, 'hang.pid');
    const t0 = Date.now();
    expect(await codeOf(runner().run(['fake-hang', pidFile], { timeoutMs: 300 }))).toBe('ERR_COMMAND_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(5000);
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
  });

  it('stops a command that floods output with ERR_COMMAND_OUTPUT_LIMIT', async () => {
    const r = new SpawnRunner({ timeoutMs: 5000, pathPrefix: [bin], maxOutputBytes: 64 * 1024 });
    expect(await codeOf(r.run(['fake-flood']))).toBe('ERR_COMMAND_OUTPUT_LIMIT');
  });

  it('runs tools in the C locale so their output parses', async () => {
    expect((await runner().run(['fake-env'])).stdout).toBe('C\n');
  });
});
