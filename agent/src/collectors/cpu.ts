import type { Cpu } from '../../../shared/src/report/types.js';
import { ERR_SOURCE_ABSENT } from './errors.js';
import { OK, statusFromError, unavailable, type CollectContext, type SourceResult } from './source.js';

/** CPU model, microcode revision(s) and socket count from /proc/cpuinfo (one block per logical CPU). Pure. */
export function parseCpuinfo(text: string): Cpu {
  const models = new Set<string>();
  const microcodes = new Set<string>();
  const sockets = new Set<string>();
  for (const block of text.split(/\n\s*\n/)) {
    for (const line of block.split('\n')) {
      const i = line.indexOf(':');
      if (i < 0) continue;
      const key = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (key === 'model name' && value) models.add(value);
      else if (key === 'microcode' && value) microcodes.add(value.toLowerCase());
      else if (key === 'physical id' && value) sockets.add(value);
    }
  }
  // Mixed microcode across CPUs is itself a finding: report every revision seen, sorted.
  return {
    model: models.size ? [...models].sort().join(' | ') : null,
    microcode: microcodes.size ? [...microcodes].sort().join(',') : null,
    sockets: sockets.size ? sockets.size : models.size ? 1 : null,
  };
}

export async function collectCpu(ctx: CollectContext): Promise<SourceResult<Cpu | null>> {
  try {
    const text = await ctx.files.readText('/proc/cpuinfo');
    if (text === null) return { status: unavailable(ERR_SOURCE_ABSENT, '/proc/cpuinfo is absent'), value: null };
    return { status: OK, value: parseCpuinfo(text) };
  } catch (e) {
    return { status: statusFromError(e), value: null };
  }
}
