import type { Claim, Reason } from '../../../shared/src/report/types.js';

/**
 * Every drift code, its claim (AR4SI trust-vector name) and what it means. The one table the
 * diff functions, docs/ARCHITECTURE.md ("Drift and verdict") and the tests read.
 */
export const DRIFT_CODES = {
  'gpu.added': { claim: 'hardware', meaning: 'A GPU is present that the baseline does not have.' },
  'gpu.removed': { claim: 'hardware', meaning: 'A baseline GPU is gone.' },
  'gpu.replaced': { claim: 'hardware', meaning: 'The GPU at a PCI bus id has another serial or UUID (a swapped board).' },
  'gpu.moved': { claim: 'hardware', meaning: 'The same GPU (serial/UUID) sits at another PCI bus id.' },
  'gpu.vbios_changed': { claim: 'firmware', meaning: "A GPU's VBIOS version changed." },
  'gpu.inforom_changed': { claim: 'firmware', meaning: "A GPU's InfoROM image, OEM, ECC or power object version changed." },
  'gpu.driver_changed': { claim: 'executables', meaning: 'The NVIDIA driver, CUDA or GSP firmware version reported for a GPU changed.' },
  'gpu.config_changed': {
    claim: 'configuration',
    meaning: "A GPU's MIG, ECC, persistence, confidential-computing or fabric setting changed.",
  },
  'platform.bios_changed': { claim: 'firmware', meaning: 'System BIOS/UEFI vendor, version or date changed.' },
  'platform.board_changed': { claim: 'hardware', meaning: 'Baseboard vendor, name or serial changed.' },
  'platform.system_changed': { claim: 'instance-identity', meaning: 'System vendor, product, serial, UUID or chassis identity changed.' },
  'bmc.firmware_changed': { claim: 'firmware', meaning: 'BMC firmware revision changed.' },
  'cpu.microcode_changed': { claim: 'firmware', meaning: 'CPU microcode revision changed.' },
  'cpu.model_changed': { claim: 'hardware', meaning: 'CPU model or socket count changed.' },
  'kernel.changed': { claim: 'executables', meaning: 'Kernel release or kernel command line (digest) changed.' },
  'nvidia.module_changed': { claim: 'executables', meaning: 'The loaded NVIDIA kernel module version changed.' },
  'nic.added': { claim: 'hardware', meaning: 'A network interface is present that the baseline does not have.' },
  'nic.removed': { claim: 'hardware', meaning: 'A baseline network interface is gone (or has another permanent MAC).' },
  'nic.firmware_changed': { claim: 'firmware', meaning: "A NIC's firmware version changed." },
  'nic.driver_changed': { claim: 'executables', meaning: "A NIC's driver or driver version changed." },
  'hca.added': { claim: 'hardware', meaning: 'An InfiniBand/RDMA adapter is present that the baseline does not have.' },
  'hca.removed': { claim: 'hardware', meaning: 'A baseline InfiniBand/RDMA adapter is gone (or has another node GUID).' },
  'hca.firmware_changed': { claim: 'firmware', meaning: "An HCA's firmware version changed." },
  'disk.added': { claim: 'hardware', meaning: 'A disk is present that the baseline does not have.' },
  'disk.removed': { claim: 'hardware', meaning: 'A baseline disk is gone (or has another serial).' },
  'disk.firmware_changed': { claim: 'firmware', meaning: "A disk's firmware revision changed." },
  'pci.device_added': { claim: 'hardware', meaning: 'A PCI function appeared at an address the baseline does not have.' },
  'pci.device_removed': { claim: 'hardware', meaning: 'A baseline PCI function is gone.' },
  'pci.device_changed': { claim: 'hardware', meaning: 'The PCI function at an address has other vendor, device, subsystem or class ids.' },
  'secureboot.disabled': {
    claim: 'configuration',
    meaning: 'UEFI Secure Boot was enabled in the baseline and is not now, or setup mode was entered.',
  },
  'secureboot.changed': {
    claim: 'configuration',
    meaning: 'Secure Boot state changed in another way (for example enabled where the baseline had it off).',
  },
  'secureboot.claim_mismatch': {
    claim: 'configuration',
    meaning:
      'The inventory claims a Secure Boot state (efivars) that contradicts the one measured into PCR7 of the event log that replayed against the quote; before = measured, after = claimed. Checked on every report, with or without a baseline.',
  },
  'inventory.source_unavailable': {
    claim: 'hardware',
    meaning: 'An inventory source that worked in the baseline failed or is unavailable now, so its devices cannot be compared.',
  },
  'inventory.changed': {
    claim: 'configuration',
    meaning: 'The inventory differs from the baseline in a section that no specific code covers (safety net).',
  },
  'tpm.pcr_changed': {
    claim: 'executables',
    meaning:
      'A quoted PCR differs from the baseline; explained by the event-log entries that differ where both logs are available. Claim by PCR: 0, 2 firmware; 1, 3, 5, 6, 7, 8 configuration; others executables.',
  },
  'tpm.ak_changed': { claim: 'instance-identity', meaning: 'The attestation key differs from the one pinned for the node.' },
} as const satisfies Record<string, { claim: Claim; meaning: string }>;

export type DriftCode = keyof typeof DRIFT_CODES;

/** Build a reason with the code's claim; before/after are kept only when given. */
export function reason(code: DriftCode, detail: string, before?: unknown, after?: unknown, claim?: Claim): Reason {
  const r: Reason = { code, claim: claim ?? DRIFT_CODES[code].claim, detail };
  if (before !== undefined) r.before = before;
  if (after !== undefined) r.after = after;
  return r;
}

/** "x → y" with null shown as "none". */
export function arrow(before: unknown, after: unknown): string {
  const show = (v: unknown): string => (v === null || v === undefined ? 'none' : typeof v === 'string' ? v : JSON.stringify(v));
  return `${show(before)} → ${show(after)}`;
}
