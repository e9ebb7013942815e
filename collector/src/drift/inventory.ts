import type { Claim, Inventory, Reason } from '../../../shared/src/report/types.js';
import { canonicalDigest } from '../../../shared/src/canonical.js';
import { canonicaliseInventory } from '../../../shared/src/inventory/canonicalise.js';
import type { DriftCode } from './codes.js';
import { reason } from './codes.js';
import { diffGpus } from './gpu.js';
import { diffDisks, diffHcas, diffNics, diffPci } from './devices.js';
import { diffCpu, diffKernel, diffPlatform, diffSecureBoot } from './platform.js';
import { pciAddr } from './match.js';

type Section = 'platform' | 'cpu' | 'kernel' | 'secureBoot' | 'gpus' | 'nvswitches' | 'nics' | 'hcas' | 'disks' | 'pci';

/** Inventory source names (agent/src/inventory.ts SOURCE_NAMES) → the section they fill, its claim and label. */
const SOURCES: Record<string, { section: Section | 'bmc'; claim: Claim; label: string }> = {
  gpu: { section: 'gpus', claim: 'hardware', label: 'GPU inventory (nvidia-smi)' },
  platform: { section: 'platform', claim: 'firmware', label: 'platform inventory (DMI)' },
  bmc: { section: 'bmc', claim: 'firmware', label: 'BMC inventory' },
  cpu: { section: 'cpu', claim: 'hardware', label: 'CPU inventory' },
  kernel: { section: 'kernel', claim: 'executables', label: 'kernel inventory' },
  secureBoot: { section: 'secureBoot', claim: 'configuration', label: 'Secure Boot state' },
  nics: { section: 'nics', claim: 'hardware', label: 'NIC inventory' },
  hcas: { section: 'hcas', claim: 'hardware', label: 'HCA inventory' },
  disks: { section: 'disks', claim: 'hardware', label: 'disk inventory' },
  pci: { section: 'pci', claim: 'hardware', label: 'PCI inventory' },
};

const SECTIONS: Section[] = ['platform', 'cpu', 'kernel', 'secureBoot', 'gpus', 'nvswitches', 'nics', 'hcas', 'disks', 'pci'];

/**
 * At most this many reasons per section; the rest are folded into one reason that counts them
 * (a verdict message carries at most 1,024 reasons, and an operator reads the first few anyway).
 */
export const MAX_REASONS_PER_SECTION = 100;

function capped(section: Section, rs: Reason[]): Reason[] {
  if (rs.length <= MAX_REASONS_PER_SECTION) return rs;
  const keep = rs.slice(0, MAX_REASONS_PER_SECTION - 1);
  const rest = rs.slice(MAX_REASONS_PER_SECTION - 1);
  const codes = [...new Set(rest.map((r) => r.code))].sort();
  const first = rest[0]!;
  return [
    ...keep,
    {
      code: first.code,
      claim: first.claim,
      detail: `${rest.length} more ${section} changes not listed (${codes.join(', ')})`,
      before: null,
      after: { omitted: rest.length, codes },
    },
  ];
}

const ok = (inv: Inventory, name: string): boolean => (inv.sources[name]?.status ?? 'ok') === 'ok';

/**
 * Compares a node's current inventory with its baseline and names every difference with a
 * specific drift code (collector/src/drift/codes.ts). Pure.
 *
 * - A source that worked in the baseline and fails now gives inventory.source_unavailable and
 *   its section is not compared (a failing nvidia-smi is not eight removed GPUs, nor silence).
 * - Devices are paired by natural keys (GPU UUID/serial then bus id; NIC permanent MAC then
 *   bus info; HCA node GUID; disk serial; PCI address). PCI additions/removals at an address
 *   already reported as a GPU or NIC added/removed are not repeated.
 * - Safety net: a section whose canonical form differs but got no specific reason yields
 *   inventory.changed, so no digest change goes unexplained.
 */
export function diffInventory(baseline: Inventory, current: Inventory): Reason[] {
  const out: Reason[] = [];
  const skipped = new Set<Section | 'bmc'>();
  for (const [name, src] of Object.entries(SOURCES)) {
    if (ok(baseline, name) && !ok(current, name)) {
      const s = current.sources[name]!;
      skipped.add(src.section);
      out.push(
        reason(
          'inventory.source_unavailable',
          `${src.label} ${s.status} now${s.code ? ` (${s.code})` : ''}${s.reason ? `: ${s.reason}` : ''}`.slice(0, 500),
          { source: name, status: 'ok' },
          { source: name, status: s.status, code: s.code ?? null },
          src.claim,
        ),
      );
    }
  }

  const bySection = new Map<Section, Reason[]>();
  const add = (section: Section, rs: Reason[]): void => {
    bySection.set(section, [...(bySection.get(section) ?? []), ...rs]);
  };
  if (!skipped.has('platform') || !skipped.has('bmc')) {
    const skipCodes = new Set<DriftCode>();
    if (skipped.has('platform')) skipCodes.add('platform.bios_changed').add('platform.board_changed').add('platform.system_changed');
    if (skipped.has('bmc')) skipCodes.add('bmc.firmware_changed');
    add('platform', diffPlatform(baseline.platform, current.platform, skipCodes));
  }
  if (!skipped.has('cpu')) add('cpu', diffCpu(baseline.cpu, current.cpu));
  if (!skipped.has('kernel')) add('kernel', diffKernel(baseline.kernel, current.kernel));
  if (!skipped.has('secureBoot')) add('secureBoot', diffSecureBoot(baseline.secureBoot, current.secureBoot));

  const covered = new Set<string>();
  if (!skipped.has('gpus')) {
    const rs = diffGpus(baseline.gpus, current.gpus);
    for (const r of rs) {
      if (r.code !== 'gpu.added' && r.code !== 'gpu.removed') continue;
      const bus = ((r.code === 'gpu.added' ? r.after : r.before) as { pciBusId?: string | null } | null)?.pciBusId;
      const a = pciAddr(bus);
      if (a) covered.add(a);
    }
    add('gpus', rs);
  }
  if (!skipped.has('nics')) {
    const rs = diffNics(baseline.nics, current.nics);
    for (const r of rs) {
      if (r.code !== 'nic.added' && r.code !== 'nic.removed') continue;
      const a = pciAddr(((r.code === 'nic.added' ? r.after : r.before) as { busInfo?: string | null } | null)?.busInfo);
      if (a) covered.add(a);
    }
    add('nics', rs);
  }
  if (!skipped.has('hcas')) add('hcas', diffHcas(baseline.hcas, current.hcas));
  if (!skipped.has('disks')) add('disks', diffDisks(baseline.disks, current.disks));
  if (!skipped.has('pci')) add('pci', diffPci(baseline.pci, current.pci, covered));

  // Safety net over the canonical forms (the same ones the inventory digest is computed from).
  const cb = canonicaliseInventory(baseline);
  const cc = canonicaliseInventory(current);
  for (const section of SECTIONS) {
    if (skipped.has(section)) continue;
    const rs = bySection.get(section) ?? [];
    if (rs.length > 0) {
      out.push(...capped(section, rs));
      continue;
    }
    if (section === 'pci') {
      // Functions at addresses a GPU/NIC reason already explains are not unexplained changes.
      const rest = (l: Inventory['pci']) => l.filter((p) => !covered.has(pciAddr(p.address) ?? ''));
      if (canonicalDigest(rest(cb.pci)) === canonicalDigest(rest(cc.pci))) continue;
    } else if (section === 'platform' && skipped.has('bmc')) {
      // bmcFirmware is not compared while the BMC source is down.
      const strip = (p: Inventory['platform']) => (p === null ? null : { ...p, bmcFirmware: null });
      if (canonicalDigest(strip(cb.platform)) === canonicalDigest(strip(cc.platform))) continue;
    } else if (canonicalDigest(cb[section]) === canonicalDigest(cc[section])) continue;
    const b = canonicalDigest(cb[section]);
    const a = canonicalDigest(cc[section]);
    out.push(
      reason('inventory.changed', `${section} changed in fields no specific code covers`, { section, digest: b }, { section, digest: a }),
    );
  }
  return out;
}
