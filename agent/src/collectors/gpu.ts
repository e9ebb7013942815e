import type { Gpu } from '../../../shared/src/report/types.js';
import { parseNvidiaSmiXml } from './nvidia-smi-xml.js';
import { OK, runChecked, statusFromError, type CollectContext, type SourceResult } from './source.js';

export const NVIDIA_SMI_ARGV = ['nvidia-smi', '-q', '-x'] as const;

/** GPUs from `nvidia-smi -q -x` (missing tool: unavailable; failure, hang or bad XML: error). */
export async function collectGpus(ctx: CollectContext): Promise<SourceResult<Gpu[]>> {
  try {
    const r = await runChecked(ctx, NVIDIA_SMI_ARGV);
    return { status: OK, value: parseNvidiaSmiXml(r.stdout).gpus };
  } catch (e) {
    const status = statusFromError(e);
    if (status.status === 'unavailable') status.reason = 'nvidia-smi not found: no NVIDIA driver installed on this host';
    return { status, value: [] };
  }
}
