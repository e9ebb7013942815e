import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Inventory } from '../../../shared/src/report/types.js';

/** Run the real `nodeseal` CLI in a child process. */
function nodeseal(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/nodeseal.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'nodeseal-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('nodeseal inventory on this real machine', () => {
  it('exits 0, reports each source, and gives the same digest twice', async () => {
    const first = await nodeseal(['inventory', '--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const a = JSON.parse(first.stdout) as { inventory: Inventory; inventoryDigest: string };
    const b = JSON.parse((await nodeseal(['inventory', '--json'])).stdout) as { inventory: Inventory; inventoryDigest: string };
    expect(b.inventoryDigest).toBe(a.inventoryDigest);
    expect(a.inventoryDigest).toMatch(/^sha256:[0-9a-f]{64}$/);

    // No NVIDIA driver here: the GPU source says why.
    const hasNvidiaSmi = (process.env.PATH ?? '')
      .split(':')
      .concat(['/usr/bin', '/usr/sbin'])
      .some((d) => existsSync(join(d, 'nvidia-smi')));
    if (hasNvidiaSmi) expect(a.inventory.sources.gpu!.status).toBe('ok');
    else {
      expect(a.inventory.sources.gpu).toMatchObject({ status: 'unavailable', code: 'ERR_COMMAND_NOT_FOUND' });
      expect(a.inventory.sources.gpu!.reason).toMatch(/nvidia-smi/);
    }

    expect(a.inventory.sources.cpu).toEqual({ status: 'ok' });
    expect(a.inventory.cpu?.model).toBeTruthy();
    expect(a.inventory.sources.kernel).toEqual({ status: 'ok' });
    expect(a.inventory.kernel?.release).toBe((await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim());
    expect(a.inventory.sources.pci).toEqual({ status: 'ok' });
    expect(a.inventory.pci.map((p) => p.address).sort()).toEqual(readdirSync('/sys/bus/pci/devices').sort());
    // Platform: DMI when the machine has it; a virtual machine without SMBIOS says so.
    if (existsSync('/sys/class/dmi/id/sys_vendor')) {
      expect(a.inventory.sources.platform!.status).toBe('ok');
      expect(a.inventory.platform).not.toBeNull();
    } else {
      expect(a.inventory.sources.platform).toMatchObject({ status: 'unavailable', code: 'ERR_PLATFORM_NO_DMI' });
    }
    for (const s of Object.values(a.inventory.sources)) if (s.status !== 'ok') expect(s.reason).toBeTruthy();
  });

  it('prints a readable table by default', async () => {
    const r = await nodeseal(['inventory']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Sources\n/);
    expect(r.stdout).toMatch(/inventoryDigest: sha256:[0-9a-f]{64}\n$/);
  });

  it('dump records this host; inventory --root replays it to the same digest', async () => {
    const dir = join(tmp, 'dump');
    const d = await nodeseal(['dump', dir, '--json']);
    expect(d.code).toBe(0);
    const live = JSON.parse(d.stdout) as { inventoryDigest: string };
    expect(existsSync(join(dir, 'proc', 'cpuinfo'))).toBe(true);
    expect(existsSync(join(dir, 'sys', 'bus', 'pci', 'devices'))).toBe(true);
    const replay = await nodeseal(['inventory', '--json', '--root', dir]);
    expect(replay.code).toBe(0);
    expect((JSON.parse(replay.stdout) as { inventoryDigest: string }).inventoryDigest).toBe(live.inventoryDigest);
    const again = await nodeseal(['dump', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/ERR_DUMP_DIR_NOT_EMPTY/);
  });

  it('replays the recorded 8-GPU host with --root', async () => {
    const r = await nodeseal(['inventory', '--json', '--root', 'test/fixtures/hosts/gpu8']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { inventory: Inventory }).inventory.gpus).toHaveLength(8);
  });
});

describe('nodeseal inspect nvidia-smi', () => {
  it('prints the GPUs of a recorded file as JSON', async () => {
    const r = await nodeseal(['inspect', 'nvidia-smi', 'test/fixtures/nvidia-smi/xml/datakit__v100s-pcie-32gb-x8.xml', '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as unknown[]).length).toBe(8);
  });
  it('rejects nvidia-smi -q text with its code (exit 1)', async () => {
    const dir = 'test/fixtures/nvidia-smi/q-text';
    const r = await nodeseal(['inspect', 'nvidia-smi', join(dir, readdirSync(dir)[0]!)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERR_NVIDIA_SMI_TEXT_FORMAT/);
  });
  it('user mistakes exit 2 with one line', async () => {
    const r = await nodeseal(['inspect', 'nvidia-smi', join(tmp, 'missing.xml')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')[0]).toMatch(/cannot read .*ERR_USAGE/);
    expect((await nodeseal(['inventory', '--bogus'])).code).toBe(2);
    expect((await nodeseal(['inventory', '--timeout', 'soon'])).code).toBe(2);
  });
});
