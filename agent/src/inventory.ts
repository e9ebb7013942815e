import type { Inventory, SourceStatus } from '../../shared/src/report/types.js';
import { inventoryDigest } from '../../shared/src/inventory/canonicalise.js';
import { DEFAULT_COMMAND_TIMEOUT_MS } from './ports/command-runner.js';
import type { HostPorts } from './ports/host-ports.js';
import { collectCpu } from './collectors/cpu.js';
import { collectDisks } from './collectors/disks.js';
import { ERR_SOURCE_TIMEOUT } from './collectors/errors.js';
import { collectGpus } from './collectors/gpu.js';
import { collectHcas } from './collectors/hcas.js';
import { collectKernel } from './collectors/kernel.js';
import { collectNics } from './collectors/nics.js';
import { collectPci } from './collectors/pci.js';
import { collectBmc, collectPlatform } from './collectors/platform.js';
import { collectSecureBoot } from './collectors/secure-boot.js';
import { statusFromError, type CollectContext, type SourceResult } from './collectors/source.js';

export interface CollectOptions {
  /** Per-command timeout in milliseconds (default 15 s). */
  timeoutMs?: number;
  /** Deadline for one whole source; default: three command timeouts (a source runs a few tools). */
  sourceDeadlineMs?: number;
}

export interface InventoryResult {
  inventory: Inventory;
  inventoryDigest: string;
}

/** The sources, in the order their statuses are listed. */
export const SOURCE_NAMES = ['gpu', 'platform', 'bmc', 'cpu', 'kernel', 'secureBoot', 'nics', 'hcas', 'disks', 'pci'] as const;

/** Run one source under a deadline; a throw or a hang becomes that source's status, never the caller's problem. */
async function guarded<T>(fallback: T, deadlineMs: number, run: () => Promise<SourceResult<T>>): Promise<SourceResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<SourceResult<T>>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          status: { status: 'error', code: ERR_SOURCE_TIMEOUT, reason: `source did not finish within ${deadlineMs} ms` },
          value: fallback,
        }),
      deadlineMs,
    );
    timer.unref?.();
  });
  try {
    return await Promise.race([run().catch((e: unknown) => ({ status: statusFromError(e), value: fallback })), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Collect the whole inventory through the given ports. Sources run concurrently and
 * independently: one failing, missing or hanging source never stops the others, and each
 * source's status is in `inventory.sources`.
 */
export async function collectInventory(ports: HostPorts, opts: CollectOptions = {}): Promise<InventoryResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const ctx: CollectContext = { ...ports, timeoutMs };
  const deadline = opts.sourceDeadlineMs ?? timeoutMs * 3 + 1000;
  const g = <T>(fallback: T, fn: (c: CollectContext) => Promise<SourceResult<T>>) => guarded(fallback, deadline, () => fn(ctx));
  const [gpu, platform, bmc, cpu, kernel, secureBoot, nics, hcas, disks, pci] = await Promise.all([
    g([], collectGpus),
    g(null, collectPlatform),
    g(null, collectBmc),
    g(null, collectCpu),
    g(null, collectKernel),
    g(null, collectSecureBoot),
    g([], collectNics),
    g([], collectHcas),
    g([], collectDisks),
    g([], collectPci),
  ]);
  const platformValue = platform.value === null && bmc.value !== null ? emptyPlatform() : platform.value;
  if (platformValue) platformValue.bmcFirmware = bmc.value;
  const sources: Record<string, SourceStatus> = {
    gpu: gpu.status,
    platform: platform.status,
    bmc: bmc.status,
    cpu: cpu.status,
    kernel: kernel.status,
    secureBoot: secureBoot.status,
    nics: nics.status,
    hcas: hcas.status,
    disks: disks.status,
    pci: pci.status,
  };
  const inventory: Inventory = {
    platform: platformValue,
    cpu: cpu.value,
    kernel: kernel.value,
    secureBoot: secureBoot.value,
    gpus: gpu.value,
    nvswitches: [],
    nics: nics.value,
    hcas: hcas.value,
    disks: disks.value,
    pci: pci.value,
    sources,
  };
  return { inventory, inventoryDigest: inventoryDigest(inventory) };
}

function emptyPlatform(): NonNullable<Inventory['platform']> {
  return {
    systemVendor: null,
    systemProduct: null,
    systemSerial: null,
    systemUuid: null,
    boardVendor: null,
    boardName: null,
    boardSerial: null,
    biosVendor: null,
    biosVersion: null,
    biosDate: null,
    chassisType: null,
    chassisSerial: null,
    bmcFirmware: null,
  };
}
