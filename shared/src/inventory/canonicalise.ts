import type { Inventory, SourceStatus } from '../report/types.js';
import { canonicalDigest } from '../canonical.js';

/**
 * The canonical form of an inventory, the input of inventoryDigest. Pure and deterministic, so
 * the agent and the collector compute the same digest from the same inventory.
 *
 * - Arrays are sorted by a natural key: GPUs by PCI bus id (then UUID), PCI devices by address,
 *   NICs, HCAs and disks by name, HCA ports by number.
 * - Volatile fields are dropped: the human-readable `reason` of each source (it may quote a
 *   timeout or a tool's message) and HCA port link state (a cable pulled is not a hardware change).
 *   Status and code of each source stay: a source that starts failing is a change of evidence.
 */
export function canonicaliseInventory(inv: Inventory): Inventory {
  const by =
    <T>(key: (x: T) => string) =>
    (a: T, b: T) => {
      const ka = key(a);
      const kb = key(b);
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    };
  const sources: Record<string, SourceStatus> = {};
  for (const [name, s] of Object.entries(inv.sources))
    sources[name] = s.code === undefined ? { status: s.status } : { status: s.status, code: s.code };
  return {
    platform: inv.platform,
    cpu: inv.cpu,
    kernel: inv.kernel,
    secureBoot: inv.secureBoot,
    gpus: [...inv.gpus].sort(
      by((g) => `${(g.pciBusId ?? '').toLowerCase()}\u0000${g.uuid ?? ''}\u0000${String(g.index).padStart(6, '0')}`),
    ),
    nvswitches: [...inv.nvswitches].sort(by((s) => JSON.stringify(Object.entries(s).sort()))),
    nics: [...inv.nics].sort(by((n) => n.name)),
    hcas: [...inv.hcas]
      .map((h) => ({
        ...h,
        ports: [...h.ports].sort((a, b) => a.port - b.port).map((p) => ({ port: p.port, linkLayer: p.linkLayer, state: null })),
      }))
      .sort(by((h) => h.name)),
    disks: [...inv.disks].sort(by((d) => d.name)),
    pci: [...inv.pci].sort(by((p) => p.address.toLowerCase())),
    sources,
  };
}

/** `sha256:<hex>` of the canonical JSON of the canonical inventory. */
export function inventoryDigest(inv: Inventory): string {
  return canonicalDigest(canonicaliseInventory(inv));
}
