import type { PciDevice } from '../../../shared/src/report/types.js';
import { ERR_SOURCE_ABSENT } from './errors.js';
import { OK, attr, statusFromError, unavailable, type CollectContext, type SourceResult } from './source.js';

const PCI = '/sys/bus/pci/devices';

/** "0x10DE" → "10de". */
function hex(v: string | null): string | null {
  if (v === null) return null;
  const t = v.trim().toLowerCase().replace(/^0x/, '');
  return /^[0-9a-f]+$/.test(t) ? t : null;
}

/** Every PCI function on the host, so an added or interposed device shows up in the inventory. */
export async function collectPci(ctx: CollectContext): Promise<SourceResult<PciDevice[]>> {
  try {
    const addrs = await ctx.files.list(PCI);
    if (addrs === null) return { status: unavailable(ERR_SOURCE_ABSENT, `${PCI} is absent (no PCI bus visible)`), value: [] };
    const devices: PciDevice[] = [];
    for (const address of addrs) {
      const base = `${PCI}/${address}`;
      const [vendor, device, subsystemVendor, subsystemDevice, cls] = await Promise.all(
        ['vendor', 'device', 'subsystem_vendor', 'subsystem_device', 'class'].map((a) => attr(ctx, `${base}/${a}`)),
      );
      if (hex(vendor!) === null || hex(device!) === null) continue;
      devices.push({
        address: address.toLowerCase(),
        vendor: hex(vendor!)!,
        device: hex(device!)!,
        subsystemVendor: hex(subsystemVendor!),
        subsystemDevice: hex(subsystemDevice!),
        class: hex(cls!) ?? '',
      });
    }
    return { status: OK, value: devices };
  } catch (e) {
    return { status: statusFromError(e), value: [] };
  }
}
