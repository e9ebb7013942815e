import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collectInventory } from '../../agent/src/inventory.js';
import { createHostPorts } from '../../agent/src/ports/host-ports.js';
import { RootedFiles } from '../../agent/src/ports/rooted-files.js';
import type { Files } from '../../agent/src/ports/files.js';
import { PortError } from '../../agent/src/ports/errors.js';
import { copyHost, nvidiaSmiFile, removeHost, setGpuField } from '../helpers/hosts.js';

const roots: string[] = [];
async function host(name: string): Promise<string> {
  const r = await copyHost(name);
  roots.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(roots.splice(0).map(removeHost));
});

const collect = (root: string) => collectInventory(createHostPorts({ root, timeoutMs: 2000 }), { timeoutMs: 2000 });

/** A value from a recorded file, read here independently of the collectors. */
async function recorded(root: string, rel: string): Promise<string> {
  return (await readFile(join(root, rel), 'utf8')).trim();
}

describe("recorded host gpu8 (this machine's dump + an 8-GPU V100S nvidia-smi + platform samples)", () => {
  it('replays every source', async () => {
    const root = await host('gpu8');
    const { inventory, inventoryDigest } = await collect(root);
    expect(inventoryDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(inventory.gpus).toHaveLength(8);
    expect(inventory.sources.gpu).toEqual({ status: 'ok' });
    const xml = await readFile(nvidiaSmiFile(root), 'utf8');
    expect(inventory.gpus.map((g) => g.uuid)).toEqual([...xml.matchAll(/<uuid>([^<]+)<\/uuid>/g)].map((m) => m[1]));
    const dmi = await readFile(join(root, 'commands', 'dmidecode_-t_0%2C1%2C2%2C3.stdout'), 'utf8');
    const systemSerial = /System Information\n(?:\t.*\n)*?\tSerial Number: (.*)\n/.exec(dmi)![1];
    expect(inventory.platform?.systemSerial).toBe(systemSerial);
    expect(inventory.platform?.biosVersion).toBe(/BIOS Information\n(?:\t.*\n)*?\tVersion: (.*)\n/.exec(dmi)![1]);
    expect(inventory.hcas).toHaveLength(1);
    expect(inventory.hcas[0]).toMatchObject({
      name: 'mlx4_0',
      fwVersion: await recorded(root, 'sys/class/infiniband/mlx4_0/fw_ver'),
      boardId: await recorded(root, 'sys/class/infiniband/mlx4_0/board_id'),
      hcaType: await recorded(root, 'sys/class/infiniband/mlx4_0/hca_type'),
    });
    expect(inventory.hcas[0]!.ports.map((p) => p.port)).toEqual([1, 2]);
    expect(inventory.nics[0]).toMatchObject({ name: 'eth0', driver: 'e1000e', firmwareVersion: '0.5-4', busInfo: '0000:00:1f.6' });
    expect(inventory.kernel?.nvidiaModuleVersion).toBe(await recorded(root, 'sys/module/nvidia/version'));
    expect(inventory.pci.length).toBe((await import('node:fs')).readdirSync(join(root, 'sys/bus/pci/devices')).length);
  });

  it('gives the same digest on two collections of an unchanged host', async () => {
    const root = await host('gpu8');
    expect((await collect(root)).inventoryDigest).toBe((await collect(root)).inventoryDigest);
  });

  it('changes the digest when a GPU VBIOS or serial changes, and changes it back when reverted', async () => {
    const root = await host('gpu8');
    const before = await collect(root);
    await setGpuField(root, 3, 'vbios', '88.00.99.00.07');
    const flashed = await collect(root);
    expect(flashed.inventoryDigest).not.toBe(before.inventoryDigest);
    expect(flashed.inventory.gpus[3]!.vbiosVersion).toBe('88.00.99.00.07');
    expect(flashed.inventory.gpus.filter((_g, i) => i !== 3)).toEqual(before.inventory.gpus.filter((_g, i) => i !== 3));
    await setGpuField(root, 3, 'vbios', before.inventory.gpus[3]!.vbiosVersion!);
    expect((await collect(root)).inventoryDigest).toBe(before.inventoryDigest);
    await setGpuField(root, 0, 'serial', '9999999999999');
    const swapped = await collect(root);
    expect(swapped.inventory.gpus[0]!.serial).toBe('9999999999999');
    expect(swapped.inventoryDigest).not.toBe(before.inventoryDigest);
  });

  it('keeps the digest when only volatile values change (temperatures, utilisation, HCA link state)', async () => {
    const root = await host('gpu8');
    const before = await collect(root);
    const file = nvidiaSmiFile(root);
    const xml = await readFile(file, 'utf8');
    await writeFile(file, xml.replace(/<gpu_temp>[^<]*</g, '<gpu_temp>88 C<').replace(/<gpu_util>[^<]*</g, '<gpu_util>1 %<'));
    await writeFile(join(root, 'sys/class/infiniband/mlx4_0/ports/1/state'), '1: DOWN\n');
    const after = await collect(root);
    expect(after.inventory.hcas[0]!.ports[0]!.state).toBe('1: DOWN');
    expect(after.inventoryDigest).toBe(before.inventoryDigest);
  });

  it('changes the digest when a PCI device is added', async () => {
    const root = await host('gpu8');
    const before = await collect(root);
    const dev = join(root, 'sys/bus/pci/devices/0000:17:00.0');
    await (await import('node:fs/promises')).mkdir(dev, { recursive: true });
    for (const [f, v] of [
      ['vendor', '0x10de'],
      ['device', '0x1df6'],
      ['class', '0x030200'],
      ['subsystem_vendor', '0x10de'],
      ['subsystem_device', '0x13d6'],
    ])
      await writeFile(join(dev, f!), `${v}\n`);
    const after = await collect(root);
    expect(after.inventory.pci.map((p) => p.address)).toContain('0000:17:00.0');
    expect(after.inventoryDigest).not.toBe(before.inventoryDigest);
  });

  it('a recorded hang of nvidia-smi is an error for the GPU source only', async () => {
    const root = await host('gpu8');
    await writeFile(join(root, 'commands', 'nvidia-smi_-q_-x.exit'), 'timeout\n');
    const { inventory } = await collect(root);
    expect(inventory.sources.gpu).toMatchObject({ status: 'error', code: 'ERR_COMMAND_TIMEOUT' });
    expect(inventory.gpus).toEqual([]);
    expect(inventory.sources.platform!.status).toBe('ok');
  });

  it('a non-zero exit of nvidia-smi is ERR_COMMAND_FAILED', async () => {
    const root = await host('gpu8');
    await writeFile(join(root, 'commands', 'nvidia-smi_-q_-x.exit'), '9\n');
    expect((await collect(root)).inventory.sources.gpu).toMatchObject({ status: 'error', code: 'ERR_COMMAND_FAILED' });
  });

  it('a missing nvidia-smi is unavailable', async () => {
    const root = await host('gpu8');
    await rm(nvidiaSmiFile(root));
    expect((await collect(root)).inventory.sources.gpu).toMatchObject({ status: 'unavailable', code: 'ERR_COMMAND_NOT_FOUND' });
  });

  it('a source whose file reads never return misses its deadline alone', async () => {
    const root = await host('gpu8');
    const real = new RootedFiles(root);
    const stuck: Files = {
      readText: (p) => (p.startsWith('/sys/bus/pci') ? new Promise(() => undefined) : real.readText(p)),
      readBytes: (p) => real.readBytes(p),
      list: (p) => real.list(p),
    };
    const { runner } = createHostPorts({ root });
    const { inventory } = await collectInventory({ runner, files: stuck }, { timeoutMs: 200, sourceDeadlineMs: 300 });
    expect(inventory.sources.pci).toMatchObject({ status: 'error', code: 'ERR_SOURCE_TIMEOUT' });
    expect(inventory.pci).toEqual([]);
    expect(inventory.gpus).toHaveLength(8);
    expect(inventory.sources.cpu!.status).toBe('ok');
  });

  it('an unreadable DMI file (permission) leaves the platform filled by dmidecode', async () => {
    const root = await host('gpu8');
    const files: Files = {
      readText: (p) =>
        p.startsWith('/sys/class/dmi')
          ? Promise.reject(new PortError('ERR_FILE_UNREADABLE', `cannot read ${p}: EACCES`))
          : new RootedFiles(root).readText(p),
      readBytes: (p) => new RootedFiles(root).readBytes(p),
      list: (p) => new RootedFiles(root).list(p),
    };
    const { inventory } = await collectInventory({ runner: createHostPorts({ root }).runner, files }, { timeoutMs: 1000 });
    expect(inventory.sources.platform!.status).toBe('ok');
    expect(inventory.platform?.systemSerial).not.toBeNull();
    expect(inventory.sources.platform!.reason).toMatch(/not readable without root: .*product_serial/);
  });
});

describe('recorded host a100', () => {
  it('replays an A100 with MIG enabled and its GSP firmware', async () => {
    const root = await host('a100');
    const { inventory } = await collect(root);
    expect(inventory.gpus).toHaveLength(1);
    const xml = await readFile(nvidiaSmiFile(root), 'utf8');
    expect(inventory.gpus[0]).toMatchObject({
      migMode: /<current_mig>([^<]+)</.exec(xml)![1],
      gspFirmwareVersion: /<gsp_firmware_version>([^<]+)</.exec(xml)![1],
      vbiosVersion: /<vbios_version>([^<]+)</.exec(xml)![1],
    });
    expect(inventory.sources.hcas).toMatchObject({ status: 'unavailable', code: 'ERR_SOURCE_ABSENT' });
  });
});
