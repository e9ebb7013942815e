import { describe, expect, it } from 'vitest';
import { canonicaliseInventory, inventoryDigest } from '../../../shared/src/inventory/canonicalise.js';
import { canonicalJson } from '../../../shared/src/canonical.js';
import type { Gpu, Inventory } from '../../../shared/src/report/types.js';

function gpu(i: number, bus: string): Gpu {
  return {
    index: i,
    uuid: `GPU-${i}`,
    serial: `S${i}`,
    productName: 'p',
    productBrand: 'b',
    architecture: null,
    pciBusId: bus,
    pciDeviceId: null,
    pciSubsystemId: null,
    boardPartNumber: null,
    boardId: null,
    gpuPartNumber: null,
    vbiosVersion: '1',
    inforom: { image: null, oem: null, ecc: null, power: null },
    gspFirmwareVersion: null,
    driverVersion: '1',
    cudaVersion: null,
    migMode: null,
    eccMode: null,
    persistenceMode: null,
    confidentialCompute: null,
    fabric: null,
  };
}

function inventory(): Inventory {
  return {
    platform: null,
    cpu: { model: 'x', microcode: '0x1', sockets: 2 },
    kernel: null,
    secureBoot: null,
    gpus: [gpu(0, '00000000:1B:00.0'), gpu(1, '00000000:0A:00.0')],
    nvswitches: [],
    nics: [
      { name: 'ib0', driver: null, driverVersion: null, firmwareVersion: null, busInfo: null, permanentMac: null },
      { name: 'eth0', driver: null, driverVersion: null, firmwareVersion: null, busInfo: null, permanentMac: null },
    ],
    hcas: [
      {
        name: 'mlx5_1',
        hcaType: null,
        boardId: null,
        fwVersion: '1',
        nodeGuid: null,
        ports: [
          { port: 2, linkLayer: 'IB', state: '4: ACTIVE' },
          { port: 1, linkLayer: 'IB', state: '4: ACTIVE' },
        ],
      },
    ],
    disks: [
      { name: 'nvme1n1', model: null, serial: null, firmwareRevision: null },
      { name: 'nvme0n1', model: null, serial: null, firmwareRevision: null },
    ],
    pci: [
      { address: '0000:1b:00.0', vendor: '10de', device: '20b2', subsystemVendor: null, subsystemDevice: null, class: '030200' },
      { address: '0000:00:00.0', vendor: '8086', device: '0d57', subsystemVendor: null, subsystemDevice: null, class: '060000' },
    ],
    sources: { gpu: { status: 'ok' }, hcas: { status: 'error', code: 'ERR_COMMAND_TIMEOUT', reason: 'after 15000 ms' } },
  };
}

describe('canonicaliseInventory / inventoryDigest', () => {
  it('sorts arrays by natural key', () => {
    const c = canonicaliseInventory(inventory());
    expect(c.gpus.map((g) => g.pciBusId)).toEqual(['00000000:0A:00.0', '00000000:1B:00.0']);
    expect(c.pci.map((p) => p.address)).toEqual(['0000:00:00.0', '0000:1b:00.0']);
    expect(c.nics.map((n) => n.name)).toEqual(['eth0', 'ib0']);
    expect(c.disks.map((d) => d.name)).toEqual(['nvme0n1', 'nvme1n1']);
    expect(c.hcas[0]!.ports.map((p) => p.port)).toEqual([1, 2]);
  });

  it('does not depend on the order sources listed things in', () => {
    const a = inventory();
    const b = inventory();
    b.gpus.reverse();
    b.pci.reverse();
    b.nics.reverse();
    b.disks.reverse();
    b.hcas[0]!.ports.reverse();
    expect(canonicalJson(b)).not.toBe(canonicalJson(a));
    expect(inventoryDigest(b)).toBe(inventoryDigest(a));
  });

  it('drops volatile reasons and link state but keeps status and code', () => {
    const a = inventory();
    const b = inventory();
    b.sources.hcas!.reason = 'after 9000 ms';
    b.hcas[0]!.ports[0]!.state = '1: DOWN';
    expect(inventoryDigest(b)).toBe(inventoryDigest(a));
    b.sources.hcas = { status: 'ok' };
    expect(inventoryDigest(b)).not.toBe(inventoryDigest(a));
  });

  it('changes with any identity or firmware field', () => {
    const a = inventory();
    for (const edit of [
      (i: Inventory) => (i.gpus[0]!.vbiosVersion = '2'),
      (i: Inventory) => (i.gpus[1]!.serial = 'other'),
      (i: Inventory) => (i.cpu!.microcode = '0x2'),
      (i: Inventory) => (i.hcas[0]!.fwVersion = '2'),
      (i: Inventory) =>
        i.pci.push({
          address: '0000:2a:00.0',
          vendor: '15b3',
          device: '1021',
          subsystemVendor: null,
          subsystemDevice: null,
          class: '020700',
        }),
    ]) {
      const b = inventory();
      edit(b);
      expect(inventoryDigest(b)).not.toBe(inventoryDigest(a));
    }
  });

  it('does not modify its input', () => {
    const a = inventory();
    const before = JSON.stringify(a);
    canonicaliseInventory(a);
    expect(JSON.stringify(a)).toBe(before);
  });
});
