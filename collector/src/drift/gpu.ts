import type { Gpu, Reason } from '../../../shared/src/report/types.js';
import { arrow, reason } from './codes.js';
import { ident, matchDevices, pciAddr } from './match.js';

/** "GPU 3 (0000:3B:00.0)" — index and bus id as the node reports them. */
export function gpuName(g: Gpu): string {
  return g.pciBusId ? `GPU ${g.index} (${g.pciBusId})` : `GPU ${g.index}`;
}

function identity(g: Gpu): { serial: string | null; uuid: string | null } {
  return { serial: g.serial, uuid: g.uuid };
}

function summary(g: Gpu): Record<string, string | number | null> {
  return { index: g.index, pciBusId: g.pciBusId, productName: g.productName, serial: g.serial, uuid: g.uuid, vbiosVersion: g.vbiosVersion };
}

/** True when both sides carry a usable value for the field and the values differ. */
const differs = (a: string | null, b: string | null): boolean => ident(a) !== null && ident(b) !== null && ident(a) !== ident(b);

function recordDiff(a: Record<string, string> | null, b: Record<string, string> | null): Record<string, [string | null, string | null]> {
  const out: Record<string, [string | null, string | null]> = {};
  for (const k of new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])) {
    const x = a?.[k] ?? null;
    const y = b?.[k] ?? null;
    if (x !== y) out[k] = [x, y];
  }
  return out;
}

/** Attribute changes of one physical GPU (same serial/UUID, or same bus id without identity). */
function diffSameGpu(b: Gpu, a: Gpu): Reason[] {
  const out: Reason[] = [];
  const name = gpuName(a);
  if (pciAddr(b.pciBusId) !== pciAddr(a.pciBusId)) {
    out.push(
      reason(
        'gpu.moved',
        `${name} moved from ${b.pciBusId ?? 'unknown bus'} (serial ${a.serial ?? a.uuid ?? 'unknown'})`,
        b.pciBusId,
        a.pciBusId,
      ),
    );
  }
  if (b.vbiosVersion !== a.vbiosVersion)
    out.push(reason('gpu.vbios_changed', `${name} VBIOS ${arrow(b.vbiosVersion, a.vbiosVersion)}`, b.vbiosVersion, a.vbiosVersion));
  for (const k of ['image', 'oem', 'ecc', 'power'] as const) {
    const x = b.inforom?.[k] ?? null;
    const y = a.inforom?.[k] ?? null;
    if (x !== y) out.push(reason('gpu.inforom_changed', `${name} InfoROM ${k} ${arrow(x, y)}`, x, y));
  }
  for (const [label, k] of [
    ['driver', 'driverVersion'],
    ['CUDA', 'cudaVersion'],
    ['GSP firmware', 'gspFirmwareVersion'],
  ] as const) {
    if (b[k] !== a[k]) out.push(reason('gpu.driver_changed', `${name} ${label} ${arrow(b[k], a[k])}`, b[k], a[k]));
  }
  for (const [label, k] of [
    ['MIG mode', 'migMode'],
    ['ECC mode', 'eccMode'],
    ['persistence mode', 'persistenceMode'],
  ] as const) {
    if (b[k] !== a[k]) out.push(reason('gpu.config_changed', `${name} ${label} ${arrow(b[k], a[k])}`, b[k], a[k]));
  }
  for (const [group, label] of [
    ['confidentialCompute', 'confidential computing'],
    ['fabric', 'fabric'],
  ] as const) {
    for (const [k, [x, y]] of Object.entries(recordDiff(b[group], a[group]))) {
      out.push(reason('gpu.config_changed', `${name} ${label} ${k} ${arrow(x, y)}`, x, y));
    }
  }
  return out;
}

/**
 * GPU drift. Pairing: UUID, then serial (each only where present, unique and not a
 * placeholder), then PCI bus id. A bus-id pair whose serial or UUID differs is a replaced GPU;
 * leftovers are removed/added.
 */
export function diffGpus(before: readonly Gpu[], after: readonly Gpu[]): Reason[] {
  const m = matchDevices(before, after, [(g) => ident(g.uuid), (g) => ident(g.serial), (g) => pciAddr(g.pciBusId)]);
  const out: Reason[] = [];
  for (const { before: b, after: a } of m.pairs) {
    if (differs(b.serial, a.serial) || differs(b.uuid, a.uuid)) {
      const what = differs(b.serial, a.serial) ? `serial ${arrow(b.serial, a.serial)}` : `UUID ${arrow(b.uuid, a.uuid)}`;
      out.push(
        reason(
          'gpu.replaced',
          `${gpuName(a)} replaced: ${what}`,
          { ...identity(b), productName: b.productName },
          { ...identity(a), productName: a.productName },
        ),
      );
      continue;
    }
    out.push(...diffSameGpu(b, a));
  }
  for (const b of m.removed)
    out.push(
      reason(
        'gpu.removed',
        `${gpuName(b)} ${b.productName ?? ''} serial ${b.serial ?? 'unknown'} removed`.replace(/\s+/g, ' '),
        summary(b),
        null,
      ),
    );
  for (const a of m.added)
    out.push(
      reason(
        'gpu.added',
        `${gpuName(a)} ${a.productName ?? ''} serial ${a.serial ?? 'unknown'} added`.replace(/\s+/g, ' '),
        null,
        summary(a),
      ),
    );
  return out;
}
