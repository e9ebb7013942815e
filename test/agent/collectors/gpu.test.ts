import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectGpus } from '../../../agent/src/collectors/gpu.js';
import type { CollectContext } from '../../../agent/src/collectors/source.js';
import { collectInventory } from '../../../agent/src/inventory.js';
import { ReplayRunner } from '../../../agent/src/ports/replay-runner.js';
import { RootedFiles } from '../../../agent/src/ports/rooted-files.js';
import { SpawnRunner } from '../../../agent/src/ports/spawn-runner.js';
import { copyHost, removeHost } from '../../helpers/hosts.js';

/** Each case is a directory holding a fake `nvidia-smi` executable, put first on PATH. */
let tmp: string;
const cases: Record<string, string> = {
  good: 'cat "$(dirname "$0")/out.xml"',
  hang: 'exec sleep 30',
  exit9: 'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver." ; exit 9',
  empty: 'exit 0',
  malformed: 'echo "<nvidia_smi_log><gpu id=\\"1\\"><serial>1</gpu>"',
  truncated: 'head -c 4000 "$(dirname "$0")/../good/out.xml"',
};

function ctx(name: string, timeoutMs = 5000): CollectContext {
  return { runner: new SpawnRunner({ timeoutMs, pathPrefix: [join(tmp, name)] }), files: new RootedFiles('/'), timeoutMs };
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'nodeseal-gpu-'));
  for (const [name, body] of Object.entries(cases)) {
    await mkdir(join(tmp, name));
    await writeFile(join(tmp, name, 'nvidia-smi'), `#!/bin/sh\n${body}\n`);
    await chmod(join(tmp, name, 'nvidia-smi'), 0o755);
  }
  await copyFile('test/fixtures/nvidia-smi/xml/datakit__v100s-pcie-32gb-x8.xml', join(tmp, 'good', 'out.xml'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('GPU source with a real nvidia-smi process', () => {
  it('reads 8 GPUs from a working tool', async () => {
    const r = await collectGpus(ctx('good'));
    expect(r.status).toEqual({ status: 'ok' });
    expect(r.value).toHaveLength(8);
  });

  it.each([
    ['hang', 'error', 'ERR_COMMAND_TIMEOUT'],
    ['exit9', 'error', 'ERR_COMMAND_FAILED'],
    ['empty', 'error', 'ERR_NVIDIA_SMI_EMPTY'],
    ['malformed', 'error', 'ERR_NVIDIA_SMI_XML'],
    ['truncated', 'error', 'ERR_NVIDIA_SMI_XML'],
  ])('%s → %s %s, no GPUs, a reason', async (name, status, code) => {
    const r = await collectGpus(ctx(name, 400));
    expect(r.status).toMatchObject({ status, code });
    expect(r.status.reason).toBeTruthy();
    expect(r.value).toEqual([]);
  });

  it('the exit-9 reason quotes the tool', async () => {
    expect((await collectGpus(ctx('exit9'))).status.reason).toMatch(/exited with 9: NVIDIA-SMI has failed/);
  });

  it('a missing nvidia-smi is unavailable with ERR_COMMAND_NOT_FOUND', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'nodeseal-empty-'));
    try {
      const r = await collectGpus({ runner: new ReplayRunner(empty), files: new RootedFiles(empty), timeoutMs: 1000 });
      expect(r.status).toMatchObject({ status: 'unavailable', code: 'ERR_COMMAND_NOT_FOUND' });
      expect(r.status.reason).toMatch(/nvidia-smi not found/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('a hanging nvidia-smi does not stop the other sources', async () => {
    const root = await copyHost('gpu8');
    try {
      const runner = new SpawnRunner({ timeoutMs: 400, pathPrefix: [join(tmp, 'hang')] });
      const t0 = Date.now();
      const { inventory } = await collectInventory({ runner, files: new RootedFiles(root) }, { timeoutMs: 400 });
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(inventory.sources.gpu).toMatchObject({ status: 'error', code: 'ERR_COMMAND_TIMEOUT' });
      expect(inventory.sources.cpu!.status).toBe('ok');
      expect(inventory.sources.pci!.status).toBe('ok');
      expect(inventory.pci.length).toBeGreaterThan(0);
      expect(inventory.hcas.map((h) => h.name)).toEqual(['mlx4_0']);
    } finally {
      await removeHost(root);
    }
  });
});
