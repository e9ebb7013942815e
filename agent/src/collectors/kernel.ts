import { createHash } from 'node:crypto';
import type { Kernel } from '../../../shared/src/report/types.js';
import { ERR_SOURCE_ABSENT } from './errors.js';
import { OK, attr, statusFromError, unavailable, type CollectContext, type SourceResult } from './source.js';

/** "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.54.03  Tue Jun  6 ..." → "535.54.03". Pure. */
export function parseNvidiaProcVersion(text: string): string | null {
  const m = /Kernel Module(?:\s+for\s+\S+)?\s+([0-9]+(?:\.[0-9]+)+)/.exec(text);
  return m ? m[1]! : null;
}

/** Kernel release (/proc/sys/kernel/osrelease), digest of /proc/cmdline, NVIDIA kernel module version. */
export async function collectKernel(ctx: CollectContext): Promise<SourceResult<Kernel | null>> {
  try {
    const release = await attr(ctx, '/proc/sys/kernel/osrelease');
    const cmdline = await ctx.files.readText('/proc/cmdline');
    let nvidia = await attr(ctx, '/sys/module/nvidia/version');
    if (nvidia === null) {
      const proc = await ctx.files.readText('/proc/driver/nvidia/version');
      nvidia = proc === null ? null : parseNvidiaProcVersion(proc);
    }
    if (release === null && cmdline === null) return { status: unavailable(ERR_SOURCE_ABSENT, '/proc is not mounted'), value: null };
    // The command line itself may hold secrets (root passwords, tokens): only its digest leaves the host.
    const cmdlineDigest = cmdline === null ? null : `sha256:${createHash('sha256').update(cmdline.trim()).digest('hex')}`;
    return { status: OK, value: { release, cmdlineDigest, nvidiaModuleVersion: nvidia } };
  } catch (e) {
    return { status: statusFromError(e), value: null };
  }
}
