import type { Gpu, Inventory } from '../../../shared/src/report/types.js';

/** Plain-text rendering of an inventory for people (the `--json` output is for programs). */
function rows(title: string, pairs: Array<[string, unknown]>): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return [title, ...pairs.map(([k, v]) => `  ${k.padEnd(width)}  ${v === null || v === undefined ? '-' : String(v)}`)];
}

function table(title: string, head: string[], body: Array<Array<string | number | null>>): string[] {
  if (body.length === 0) return [`${title}: none`];
  const cells = [head, ...body.map((r) => r.map((c) => (c === null ? '-' : String(c))))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return [title, ...cells.map((r) => `  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd())];
}

export function gpuTable(gpus: Gpu[]): string[] {
  return table(
    'GPUs',
    ['#', 'PCI bus id', 'product', 'serial', 'UUID', 'VBIOS', 'driver', 'InfoROM'],
    gpus.map((g) => [g.index, g.pciBusId, g.productName, g.serial, g.uuid, g.vbiosVersion, g.driverVersion, g.inforom.image]),
  );
}

export function renderInventory(inv: Inventory, digest: string): string {
  const p = inv.platform;
  const out: string[] = [
    ...table(
      'Sources',
      ['source', 'status', 'code', 'reason'],
      Object.entries(inv.sources).map(([n, s]) => [n, s.status, s.code ?? null, s.reason ?? null]),
    ),
    '',
    ...(p
      ? rows('Platform', [
          ['system', [p.systemVendor, p.systemProduct].filter(Boolean).join(' ') || null],
          ['serial', p.systemSerial],
          ['uuid', p.systemUuid],
          ['board', [p.boardVendor, p.boardName].filter(Boolean).join(' ') || null],
          ['board serial', p.boardSerial],
          ['BIOS', [p.biosVendor, p.biosVersion, p.biosDate].filter(Boolean).join(' ') || null],
          ['chassis', [p.chassisType, p.chassisSerial].filter(Boolean).join(' ') || null],
          ['BMC firmware', p.bmcFirmware],
        ])
      : ['Platform: unavailable']),
    '',
    ...rows('CPU and OS', [
      ['CPU', inv.cpu?.model],
      ['sockets', inv.cpu?.sockets],
      ['microcode', inv.cpu?.microcode],
      ['kernel', inv.kernel?.release],
      ['cmdline', inv.kernel?.cmdlineDigest],
      ['NVIDIA module', inv.kernel?.nvidiaModuleVersion],
      [
        'Secure Boot',
        inv.secureBoot ? (inv.secureBoot.enabled === null ? 'unknown' : inv.secureBoot.enabled ? 'enabled' : 'disabled') : null,
      ],
    ]),
    '',
    ...gpuTable(inv.gpus),
    '',
    ...table(
      'NICs',
      ['name', 'driver', 'version', 'firmware', 'bus', 'permanent MAC'],
      inv.nics.map((n) => [n.name, n.driver, n.driverVersion, n.firmwareVersion, n.busInfo, n.permanentMac]),
    ),
    '',
    ...table(
      'HCAs',
      ['name', 'type', 'board', 'firmware', 'node GUID', 'ports'],
      inv.hcas.map((h) => [
        h.name,
        h.hcaType,
        h.boardId,
        h.fwVersion,
        h.nodeGuid,
        h.ports.map((x) => `${x.port}:${x.linkLayer ?? '-'}`).join(' '),
      ]),
    ),
    '',
    ...table(
      'Disks',
      ['name', 'model', 'serial', 'firmware'],
      inv.disks.map((d) => [d.name, d.model, d.serial, d.firmwareRevision]),
    ),
    '',
    `PCI: ${inv.pci.length} devices (--json lists them)`,
    `inventoryDigest: ${digest}`,
  ];
  return `${out.join('\n')}\n`;
}
