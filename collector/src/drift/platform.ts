import type { Cpu, Kernel, Platform, Reason, SecureBootState } from '../../../shared/src/report/types.js';
import type { DriftCode } from './codes.js';
import { arrow, reason } from './codes.js';

type PlatformField = keyof Platform;

/** Which platform fields belong to which code, with the label used in details. */
const PLATFORM_GROUPS: Array<{ code: DriftCode; fields: Array<[PlatformField, string]> }> = [
  {
    code: 'platform.bios_changed',
    fields: [
      ['biosVendor', 'BIOS vendor'],
      ['biosVersion', 'BIOS version'],
      ['biosDate', 'BIOS date'],
    ],
  },
  {
    code: 'platform.board_changed',
    fields: [
      ['boardVendor', 'board vendor'],
      ['boardName', 'board'],
      ['boardSerial', 'board serial'],
    ],
  },
  {
    code: 'platform.system_changed',
    fields: [
      ['systemVendor', 'system vendor'],
      ['systemProduct', 'system product'],
      ['systemSerial', 'system serial'],
      ['systemUuid', 'system UUID'],
      ['chassisType', 'chassis type'],
      ['chassisSerial', 'chassis serial'],
    ],
  },
  { code: 'bmc.firmware_changed', fields: [['bmcFirmware', 'BMC firmware']] },
];

/** Platform (DMI) and BMC drift: one reason per changed field. `skip` names groups whose source failed now. */
export function diffPlatform(before: Platform | null, after: Platform | null, skip: ReadonlySet<DriftCode> = new Set()): Reason[] {
  if (before === null && after === null) return [];
  const out: Reason[] = [];
  for (const g of PLATFORM_GROUPS) {
    if (skip.has(g.code)) continue;
    for (const [f, label] of g.fields) {
      const x = before?.[f] ?? null;
      const y = after?.[f] ?? null;
      if (x !== y) out.push(reason(g.code, `${label} ${arrow(x, y)}`, x, y));
    }
  }
  return out;
}

export function diffCpu(before: Cpu | null, after: Cpu | null): Reason[] {
  const out: Reason[] = [];
  const mc = [before?.microcode ?? null, after?.microcode ?? null] as const;
  if (mc[0] !== mc[1]) out.push(reason('cpu.microcode_changed', `CPU microcode ${arrow(mc[0], mc[1])}`, mc[0], mc[1]));
  const model = [before?.model ?? null, after?.model ?? null] as const;
  if (model[0] !== model[1]) out.push(reason('cpu.model_changed', `CPU model ${arrow(model[0], model[1])}`, model[0], model[1]));
  const sockets = [before?.sockets ?? null, after?.sockets ?? null] as const;
  if (sockets[0] !== sockets[1])
    out.push(reason('cpu.model_changed', `CPU sockets ${arrow(sockets[0], sockets[1])}`, sockets[0], sockets[1]));
  return out;
}

export function diffKernel(before: Kernel | null, after: Kernel | null): Reason[] {
  const out: Reason[] = [];
  const rel = [before?.release ?? null, after?.release ?? null] as const;
  if (rel[0] !== rel[1]) out.push(reason('kernel.changed', `kernel release ${arrow(rel[0], rel[1])}`, rel[0], rel[1]));
  const cmd = [before?.cmdlineDigest ?? null, after?.cmdlineDigest ?? null] as const;
  if (cmd[0] !== cmd[1]) out.push(reason('kernel.changed', `kernel command line digest ${arrow(cmd[0], cmd[1])}`, cmd[0], cmd[1]));
  const nv = [before?.nvidiaModuleVersion ?? null, after?.nvidiaModuleVersion ?? null] as const;
  if (nv[0] !== nv[1]) out.push(reason('nvidia.module_changed', `NVIDIA kernel module ${arrow(nv[0], nv[1])}`, nv[0], nv[1]));
  return out;
}

/** secureboot.disabled when the baseline had it on and now it is not (or setup mode was entered). */
export function diffSecureBoot(before: SecureBootState | null, after: SecureBootState | null): Reason[] {
  const b = { enabled: before?.enabled ?? null, setupMode: before?.setupMode ?? null };
  const a = { enabled: after?.enabled ?? null, setupMode: after?.setupMode ?? null };
  if (b.enabled === a.enabled && b.setupMode === a.setupMode) return [];
  if (b.enabled === true && a.enabled !== true) return [reason('secureboot.disabled', `Secure Boot ${arrow(b.enabled, a.enabled)}`, b, a)];
  if (b.setupMode !== true && a.setupMode === true)
    return [reason('secureboot.disabled', 'Secure Boot setup mode entered (keys can be replaced)', b, a)];
  return [
    reason('secureboot.changed', `Secure Boot enabled ${arrow(b.enabled, a.enabled)}, setup mode ${arrow(b.setupMode, a.setupMode)}`, b, a),
  ];
}
