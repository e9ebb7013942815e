import type { Disk, Hca, Nic, PciDevice, Reason } from '../../../shared/src/report/types.js';
import { arrow, reason } from './codes.js';
import { ident, matchDevices, pciAddr } from './match.js';

const mac = (v: string | null): string | null => {
  const t = ident(v);
  return t === null ? null : t.toLowerCase();
};

function nicName(n: Nic): string {
  const where = [n.busInfo, n.permanentMac ? `MAC ${n.permanentMac}` : null].filter(Boolean).join(', ');
  return where ? `NIC ${n.name} (${where})` : `NIC ${n.name}`;
}

/**
 * NICs paired by permanent MAC, then by PCI bus info, then by name — each later key only for
 * devices without the earlier one, so another MAC at the same bus address is removed + added.
 */
export function diffNics(before: readonly Nic[], after: readonly Nic[]): Reason[] {
  const m = matchDevices(before, after, [
    (n) => mac(n.permanentMac),
    (n) => (mac(n.permanentMac) === null ? pciAddr(ident(n.busInfo)) : null),
    (n) => (mac(n.permanentMac) === null && ident(n.busInfo) === null ? n.name : null),
  ]);
  const out: Reason[] = [];
  for (const { before: b, after: a } of m.pairs) {
    if (b.firmwareVersion !== a.firmwareVersion) {
      out.push(
        reason(
          'nic.firmware_changed',
          `${nicName(a)} firmware ${arrow(b.firmwareVersion, a.firmwareVersion)}`,
          b.firmwareVersion,
          a.firmwareVersion,
        ),
      );
    }
    if (b.driver !== a.driver || b.driverVersion !== a.driverVersion) {
      const show = (n: Nic) => [n.driver, n.driverVersion].filter(Boolean).join(' ') || null;
      out.push(
        reason(
          'nic.driver_changed',
          `${nicName(a)} driver ${arrow(show(b), show(a))}`,
          { driver: b.driver, version: b.driverVersion },
          { driver: a.driver, version: a.driverVersion },
        ),
      );
    }
  }
  for (const b of m.removed) out.push(reason('nic.removed', `${nicName(b)} removed`, b, null));
  for (const a of m.added) out.push(reason('nic.added', `${nicName(a)} added`, null, a));
  return out;
}

function hcaName(h: Hca): string {
  return h.nodeGuid ? `HCA ${h.name} (node GUID ${h.nodeGuid})` : `HCA ${h.name}`;
}

/** HCAs paired by node GUID, then by name for adapters without one. */
export function diffHcas(before: readonly Hca[], after: readonly Hca[]): Reason[] {
  const m = matchDevices(before, after, [(h) => mac(h.nodeGuid), (h) => (mac(h.nodeGuid) === null ? h.name : null)]);
  const out: Reason[] = [];
  for (const { before: b, after: a } of m.pairs) {
    if (b.fwVersion !== a.fwVersion)
      out.push(reason('hca.firmware_changed', `${hcaName(a)} firmware ${arrow(b.fwVersion, a.fwVersion)}`, b.fwVersion, a.fwVersion));
  }
  const brief = (h: Hca) => ({ name: h.name, hcaType: h.hcaType, boardId: h.boardId, fwVersion: h.fwVersion, nodeGuid: h.nodeGuid });
  for (const b of m.removed) out.push(reason('hca.removed', `${hcaName(b)} removed`, brief(b), null));
  for (const a of m.added) out.push(reason('hca.added', `${hcaName(a)} added`, null, brief(a)));
  return out;
}

function diskName(d: Disk): string {
  return `disk ${d.name} (${[d.model, d.serial ? `serial ${d.serial}` : null].filter(Boolean).join(', ') || 'no identity'})`;
}

/** Disks paired by serial, then by name for disks without one. */
export function diffDisks(before: readonly Disk[], after: readonly Disk[]): Reason[] {
  const m = matchDevices(before, after, [(d) => ident(d.serial), (d) => (ident(d.serial) === null ? d.name : null)]);
  const out: Reason[] = [];
  for (const { before: b, after: a } of m.pairs) {
    if (b.firmwareRevision !== a.firmwareRevision) {
      out.push(
        reason(
          'disk.firmware_changed',
          `${diskName(a)} firmware ${arrow(b.firmwareRevision, a.firmwareRevision)}`,
          b.firmwareRevision,
          a.firmwareRevision,
        ),
      );
    }
  }
  for (const b of m.removed) out.push(reason('disk.removed', `${diskName(b)} removed`, b, null));
  for (const a of m.added) out.push(reason('disk.added', `${diskName(a)} added`, null, a));
  return out;
}

const pciIds = (p: PciDevice): string =>
  `${p.vendor}:${p.device}` +
  (p.subsystemVendor || p.subsystemDevice ? ` (subsystem ${p.subsystemVendor ?? '?'}:${p.subsystemDevice ?? '?'})` : '') +
  ` class ${p.class}`;

/**
 * PCI functions paired by address. `covered` holds normalised addresses already explained by
 * a GPU/NIC reason (added/removed), so one physical change is not reported twice.
 */
export function diffPci(before: readonly PciDevice[], after: readonly PciDevice[], covered: ReadonlySet<string> = new Set()): Reason[] {
  const m = matchDevices(before, after, [(p) => pciAddr(p.address)]);
  const out: Reason[] = [];
  for (const { before: b, after: a } of m.pairs) {
    const same =
      b.vendor === a.vendor &&
      b.device === a.device &&
      b.subsystemVendor === a.subsystemVendor &&
      b.subsystemDevice === a.subsystemDevice &&
      b.class === a.class;
    if (!same) out.push(reason('pci.device_changed', `PCI ${a.address} ${pciIds(b)} → ${pciIds(a)}`, b, a));
  }
  for (const b of m.removed)
    if (!covered.has(pciAddr(b.address) ?? '')) out.push(reason('pci.device_removed', `PCI ${b.address} ${pciIds(b)} removed`, b, null));
  for (const a of m.added)
    if (!covered.has(pciAddr(a.address) ?? '')) out.push(reason('pci.device_added', `PCI ${a.address} ${pciIds(a)} added`, null, a));
  return out;
}
