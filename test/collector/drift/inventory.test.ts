import { beforeAll, describe, expect, it } from 'vitest';
import type { Gpu, Inventory, Reason } from '../../../shared/src/report/types.js';
import { MAX_REASONS_PER_SECTION, diffInventory } from '../../../collector/src/drift/inventory.js';
import { DRIFT_CODES } from '../../../collector/src/drift/codes.js';
import { clone, recordedInventory } from './hosts.js';

let gpu8: Inventory;
let a100: Inventory;

beforeAll(async () => {
  gpu8 = await recordedInventory('gpu8');
  a100 = await recordedInventory('a100');
});

const gpu = (inv: Inventory, index: number): Gpu => {
  const g = inv.gpus.find((x) => x.index === index);
  if (!g) throw new Error(`no GPU ${index} in the recorded host`);
  return g;
};
const brief = (rs: Reason[]) => rs.map((r) => ({ code: r.code, before: r.before, after: r.after }));

describe('recorded hosts are what these cases assume', () => {
  it('gpu8 holds eight V100S with VBIOS 88.00.98.00.01, one NIC, one HCA, one disk and PCI functions', () => {
    expect(gpu8.gpus).toHaveLength(8);
    expect(new Set(gpu8.gpus.map((g) => g.vbiosVersion))).toEqual(new Set(['88.00.98.00.01']));
    expect(gpu(gpu8, 3).pciBusId).toBe('00000000:00:10.0');
    expect(gpu8.nics.length).toBeGreaterThan(0);
    expect(gpu8.hcas.length).toBeGreaterThan(0);
    expect(gpu8.disks.length).toBeGreaterThan(0);
    expect(gpu8.pci.length).toBeGreaterThan(0);
    expect(gpu8.sources.gpu?.status).toBe('ok');
  });
  it('an unchanged inventory has no drift', () => {
    expect(diffInventory(gpu8, clone(gpu8))).toEqual([]);
    expect(diffInventory(a100, clone(a100))).toEqual([]);
  });
});

interface Case {
  name: string;
  mutate: (inv: Inventory) => void;
  /** The baseline may be adjusted first (e.g. Secure Boot on). */
  base?: (inv: Inventory) => void;
  expected: Array<{ code: string; before: unknown; after: unknown }>;
  detail?: string;
}

const cases: Case[] = [
  {
    name: 'VBIOS re-flashed on GPU 3',
    mutate: (i) => void (gpu(i, 3).vbiosVersion = '88.00.99.00.01'),
    expected: [{ code: 'gpu.vbios_changed', before: '88.00.98.00.01', after: '88.00.99.00.01' }],
    detail: 'GPU 3 (00000000:00:10.0) VBIOS 88.00.98.00.01 → 88.00.99.00.01',
  },
  {
    name: 'GPU 5 swapped for another board (same bus id, new serial and UUID)',
    mutate: (i) => {
      gpu(i, 5).serial = '1562920009999';
      gpu(i, 5).uuid = 'GPU-11111111-2222-3333-4444-555555555555';
    },
    expected: [
      {
        code: 'gpu.replaced',
        before: { serial: '1562920005539', uuid: 'GPU-39c3a168-9034-0b5a-223a-1042f30a9242', productName: 'Tesla V100S-PCIE-32GB' },
        after: { serial: '1562920009999', uuid: 'GPU-11111111-2222-3333-4444-555555555555', productName: 'Tesla V100S-PCIE-32GB' },
      },
    ],
    detail: 'GPU 5 (00000000:00:12.0) replaced: serial 1562920005539 → 1562920009999',
  },
  {
    name: 'InfoROM ECC object updated on GPU 0',
    mutate: (i) => void (gpu(i, 0).inforom.ecc = '5.1'),
    expected: [{ code: 'gpu.inforom_changed', before: '5.0', after: '5.1' }],
  },
  {
    name: 'driver upgraded on GPU 1',
    mutate: (i) => void (gpu(i, 1).driverVersion = '470.82.01'),
    expected: [{ code: 'gpu.driver_changed', before: '460.73.01', after: '470.82.01' }],
  },
  {
    name: 'MIG turned on for GPU 2',
    mutate: (i) => void (gpu(i, 2).migMode = 'Enabled'),
    expected: [{ code: 'gpu.config_changed', before: null, after: 'Enabled' }],
  },
  {
    name: 'ECC turned off on GPU 4',
    mutate: (i) => void (gpu(i, 4).eccMode = 'Disabled'),
    expected: [{ code: 'gpu.config_changed', before: 'Enabled', after: 'Disabled' }],
  },
  {
    name: 'persistence mode on for GPU 6',
    mutate: (i) => void (gpu(i, 6).persistenceMode = 'Enabled'),
    expected: [{ code: 'gpu.config_changed', before: 'Disabled', after: 'Enabled' }],
  },
  {
    name: 'BIOS updated',
    mutate: (i) => void (i.platform!.biosVersion = '3.10'),
    expected: [{ code: 'platform.bios_changed', before: '3.00', after: '3.10' }],
  },
  {
    name: 'baseboard serial differs',
    mutate: (i) => void (i.platform!.boardSerial = 'VM147S099999'),
    expected: [{ code: 'platform.board_changed', before: 'VM147S018307', after: 'VM147S099999' }],
  },
  {
    name: 'system serial differs (another chassis answering for this node)',
    mutate: (i) => void (i.platform!.systemSerial = '9000116999'),
    expected: [{ code: 'platform.system_changed', before: '9000116105', after: '9000116999' }],
  },
  {
    name: 'BMC firmware reported where none was',
    mutate: (i) => void (i.platform!.bmcFirmware = '3.88'),
    expected: [{ code: 'bmc.firmware_changed', before: null, after: '3.88' }],
  },
  {
    name: 'CPU microcode updated',
    mutate: (i) => void (i.cpu!.microcode = '0x1000066'),
    expected: [{ code: 'cpu.microcode_changed', before: '0x1000065', after: '0x1000066' }],
  },
  {
    name: 'CPU model differs',
    mutate: (i) => void (i.cpu!.model = 'AMD EPYC 9654'),
    expected: [{ code: 'cpu.model_changed', before: 'AMD EPYC', after: 'AMD EPYC 9654' }],
  },
  {
    name: 'kernel release differs',
    mutate: (i) => void (i.kernel!.release = '6.18.45-fc-v510'),
    expected: [{ code: 'kernel.changed', before: '6.18.44-fc-v509', after: '6.18.45-fc-v510' }],
  },
  {
    name: 'kernel command line differs',
    mutate: (i) => void (i.kernel!.cmdlineDigest = `sha256:${'0'.repeat(64)}`),
    expected: [
      {
        code: 'kernel.changed',
        before: 'sha256:b91365129f98a96c3f5368fe0a1e6da5231a4ebc7d0c25f8733ca5b435aa25c2',
        after: `sha256:${'0'.repeat(64)}`,
      },
    ],
  },
  {
    name: 'NVIDIA kernel module differs',
    mutate: (i) => void (i.kernel!.nvidiaModuleVersion = '470.82.01'),
    expected: [{ code: 'nvidia.module_changed', before: '460.73.01', after: '470.82.01' }],
  },
  {
    name: 'NIC firmware updated',
    mutate: (i) => void (i.nics[0]!.firmwareVersion = '0.6-1'),
    expected: [{ code: 'nic.firmware_changed', before: '0.5-4', after: '0.6-1' }],
  },
  {
    name: 'NIC driver version differs',
    mutate: (i) => void (i.nics[0]!.driverVersion = '5.15.0-1-generic'),
    expected: [
      {
        code: 'nic.driver_changed',
        before: { driver: 'e1000e', version: '5.11.0-22-generic' },
        after: { driver: 'e1000e', version: '5.15.0-1-generic' },
      },
    ],
  },
  {
    name: 'HCA firmware updated',
    mutate: (i) => void (i.hcas[0]!.fwVersion = '2.42.5000'),
    expected: [{ code: 'hca.firmware_changed', before: '2.31.5050', after: '2.42.5000' }],
  },
  {
    name: 'HCA removed',
    mutate: (i) => void i.hcas.splice(0, 1),
    expected: [
      {
        code: 'hca.removed',
        before: { name: 'mlx4_0', hcaType: 'MT4099', boardId: 'SM_1141000001000', fwVersion: '2.31.5050', nodeGuid: null },
        after: null,
      },
    ],
  },
  {
    name: 'disk firmware updated',
    mutate: (i) => void (i.disks[0]!.firmwareRevision = 'GDC5902Q'),
    expected: [{ code: 'disk.firmware_changed', before: null, after: 'GDC5902Q' }],
  },
  {
    name: 'Secure Boot switched off',
    base: (i) => void (i.secureBoot = { enabled: true, setupMode: false }),
    mutate: (i) => void (i.secureBoot = { enabled: false, setupMode: false }),
    expected: [{ code: 'secureboot.disabled', before: { enabled: true, setupMode: false }, after: { enabled: false, setupMode: false } }],
  },
  {
    name: 'Secure Boot setup mode entered',
    base: (i) => void (i.secureBoot = { enabled: true, setupMode: false }),
    mutate: (i) => void (i.secureBoot = { enabled: true, setupMode: true }),
    expected: [{ code: 'secureboot.disabled', before: { enabled: true, setupMode: false }, after: { enabled: true, setupMode: true } }],
  },
];

describe('diffInventory: one field changed per case on the recorded 8-GPU host', () => {
  it.each(cases)('$name', (c) => {
    const base = clone(gpu8);
    c.base?.(base);
    const cur = clone(base);
    c.mutate(cur);
    const rs = diffInventory(base, cur);
    expect(brief(rs)).toEqual(c.expected);
    for (const r of rs) expect(r.claim).toBe(DRIFT_CODES[r.code as keyof typeof DRIFT_CODES].claim);
    if (c.detail) expect(rs[0]!.detail).toBe(c.detail);
  });
});

describe('diffInventory: devices appearing, disappearing and moving', () => {
  it('a GPU pulled out is gpu.removed, naming it', () => {
    const cur = clone(gpu8);
    cur.gpus = cur.gpus.filter((g) => g.index !== 7);
    const rs = diffInventory(gpu8, cur);
    expect(rs.map((r) => r.code)).toEqual(['gpu.removed']);
    expect(rs[0]!.detail).toBe('GPU 7 (00000000:00:14.0) Tesla V100S-PCIE-32GB serial 1562920006372 removed');
    expect(rs[0]!.before).toMatchObject({ serial: '1562920006372', pciBusId: '00000000:00:14.0' });
    expect(rs[0]!.after).toBeNull();
  });

  it('a GPU pulled from the middle, with nvidia-smi renumbering the rest, is one gpu.removed', () => {
    const cur = clone(gpu8);
    cur.gpus = cur.gpus.filter((g) => g.index !== 3).map((g) => ({ ...g, index: g.index > 3 ? g.index - 1 : g.index }));
    const rs = diffInventory(gpu8, cur);
    expect(brief(rs).map((r) => r.code)).toEqual(['gpu.removed']);
    expect(rs[0]!.before).toMatchObject({ index: 3, serial: '1562920007325' });
  });

  it('a GPU from another host plugged in is gpu.added', () => {
    const cur = clone(gpu8);
    cur.gpus.push({ ...clone(a100.gpus[0]!), index: 8 });
    const rs = diffInventory(gpu8, cur);
    expect(rs.map((r) => r.code)).toEqual(['gpu.added']);
    expect(rs[0]!.after).toMatchObject({ serial: a100.gpus[0]!.serial, productName: a100.gpus[0]!.productName });
  });

  it('two GPUs trading slots are two gpu.moved, not replacements', () => {
    const cur = clone(gpu8);
    const [a, b] = [gpu(cur, 0), gpu(cur, 1)];
    [a.pciBusId, b.pciBusId] = [b.pciBusId, a.pciBusId];
    const rs = diffInventory(gpu8, cur);
    expect(brief(rs)).toEqual([
      { code: 'gpu.moved', before: '00000000:00:0D.0', after: '00000000:00:0E.0' },
      { code: 'gpu.moved', before: '00000000:00:0E.0', after: '00000000:00:0D.0' },
    ]);
  });

  it('GPUs with masked identities (serial "0", zero UUID) pair by bus id, so a VBIOS change stays a VBIOS change', () => {
    const mask = (inv: Inventory) => {
      for (const g of inv.gpus) {
        g.serial = '0';
        g.uuid = 'GPU-00000000-0000-0000-0000-000000000000';
      }
    };
    const base = clone(gpu8);
    mask(base);
    const cur = clone(base);
    gpu(cur, 2).vbiosVersion = '88.00.99.00.01';
    expect(brief(diffInventory(base, cur))).toEqual([{ code: 'gpu.vbios_changed', before: '88.00.98.00.01', after: '88.00.99.00.01' }]);
  });

  it('a NIC with another permanent MAC at the same bus address is removed + added', () => {
    const cur = clone(gpu8);
    cur.nics[0]!.permanentMac = '02:fc:00:00:00:99';
    expect(diffInventory(gpu8, cur).map((r) => r.code)).toEqual(['nic.removed', 'nic.added']);
  });

  it('a disk with another serial under the same name is removed + added; a new disk is added', () => {
    const cur = clone(gpu8);
    cur.disks[0]!.serial = 'S4EWNX0R123456';
    cur.disks.push({ name: 'nvme1n1', model: 'SAMSUNG MZQL23T8HCLS', serial: 'S64HNE0T700001', firmwareRevision: 'GDC5902Q' });
    expect(diffInventory(gpu8, cur).map((r) => r.code)).toEqual(['disk.removed', 'disk.added', 'disk.added']);
  });

  it('PCI functions added, removed and changed at an address', () => {
    const cur = clone(gpu8);
    const removed = cur.pci.shift()!;
    cur.pci[0]!.device = 'ffff';
    cur.pci.push({
      address: '0000:af:00.0',
      vendor: '15b3',
      device: '101b',
      subsystemVendor: '15b3',
      subsystemDevice: '0007',
      class: '0x020700',
    });
    const rs = diffInventory(gpu8, cur);
    expect(rs.map((r) => r.code)).toEqual(['pci.device_changed', 'pci.device_removed', 'pci.device_added']);
    expect(rs[1]!.before).toEqual(removed);
    expect(rs[2]!.detail).toBe('PCI 0000:af:00.0 15b3:101b (subsystem 15b3:0007) class 0x020700 added');
  });

  it('a removed GPU whose PCI function also vanished is reported once, as gpu.removed', () => {
    const base = clone(gpu8);
    base.pci.push({
      address: '0000:00:14.0',
      vendor: '10de',
      device: '1df6',
      subsystemVendor: '10de',
      subsystemDevice: '13d6',
      class: '0x030200',
    });
    const cur = clone(base);
    cur.gpus = cur.gpus.filter((g) => g.index !== 7);
    cur.pci = cur.pci.filter((p) => p.address !== '0000:00:14.0');
    expect(diffInventory(base, cur).map((r) => r.code)).toEqual(['gpu.removed']);
  });
});

describe('diffInventory: sources and the safety net', () => {
  it('nvidia-smi failing now is inventory.source_unavailable, not eight removed GPUs', () => {
    const cur = clone(gpu8);
    cur.gpus = [];
    cur.sources.gpu = { status: 'error', code: 'ERR_SOURCE_TIMEOUT', reason: 'source did not finish within 46000 ms' };
    const rs = diffInventory(gpu8, cur);
    expect(brief(rs)).toEqual([
      {
        code: 'inventory.source_unavailable',
        before: { source: 'gpu', status: 'ok' },
        after: { source: 'gpu', status: 'error', code: 'ERR_SOURCE_TIMEOUT' },
      },
    ]);
    expect(rs[0]!.claim).toBe('hardware');
  });

  it('a source that was down in the baseline and works now shows its devices as added', () => {
    const base = clone(gpu8);
    base.gpus = [];
    base.sources.gpu = { status: 'error', code: 'ERR_SOURCE_TIMEOUT' };
    const rs = diffInventory(base, gpu8);
    expect(rs.map((r) => r.code)).toEqual(Array(8).fill('gpu.added'));
  });

  it('a change no specific code covers is inventory.changed for its section', () => {
    const cur = clone(gpu8);
    cur.nvswitches.push({ uuid: 'NVSWITCH-1', firmware: '1.0' });
    gpu(cur, 0).boardPartNumber = '900-2G500-0040-000';
    const rs = diffInventory(gpu8, cur);
    expect(rs.map((r) => [r.code, (r.after as { section: string }).section])).toEqual([
      ['inventory.changed', 'gpus'],
      ['inventory.changed', 'nvswitches'],
    ]);
  });

  it('folds a flood of device changes into a counted reason so a verdict stays within its limits', () => {
    const cur = clone(gpu8);
    for (let i = 0; i < 300; i++)
      cur.pci.push({
        address: `0001:${(i >> 3).toString(16).padStart(2, '0')}:00.${i & 7}`,
        vendor: '8086',
        device: '1234',
        subsystemVendor: null,
        subsystemDevice: null,
        class: '0x060400',
      });
    const rs = diffInventory(gpu8, cur);
    expect(rs).toHaveLength(MAX_REASONS_PER_SECTION);
    expect(rs.slice(0, -1).every((r) => r.code === 'pci.device_added')).toBe(true);
    expect(rs.at(-1)).toMatchObject({
      code: 'pci.device_added',
      detail: '201 more pci changes not listed (pci.device_added)',
      after: { omitted: 201 },
    });
  });

  it('HCA port link state going down is not drift (it is not identity)', () => {
    const cur = clone(gpu8);
    cur.hcas[0]!.ports[0]!.state = '1: DOWN';
    expect(diffInventory(gpu8, cur)).toEqual([]);
  });

  it('another host entirely: every GPU removed and added, platform identity differs', () => {
    const codes = new Set(diffInventory(gpu8, a100).map((r) => r.code));
    for (const c of ['gpu.removed', 'gpu.added', 'platform.system_changed']) expect(codes.has(c), c).toBe(true);
    const rs = diffInventory(gpu8, a100);
    expect(rs.filter((r) => r.code === 'gpu.removed')).toHaveLength(8);
    expect(rs.filter((r) => r.code === 'gpu.added')).toHaveLength(a100.gpus.length);
  });
});
