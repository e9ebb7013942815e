import type { SourceStatus } from '../../../shared/src/report/types.js';
import { isNodesealError } from '../../../shared/src/errors.js';
import type { CommandResult } from '../ports/command-runner.js';
import { ERR_COMMAND_FAILED, ERR_COMMAND_NOT_FOUND, ERR_FILE_UNREADABLE, PortError } from '../ports/errors.js';
import type { HostPorts } from '../ports/host-ports.js';
import { ERR_SOURCE_FAILED } from './errors.js';

/** What every collector receives: the ports, and the per-command timeout. */
export interface CollectContext extends HostPorts {
  timeoutMs: number;
}

/** A collector's answer: its status and its value (the value is empty/null when not ok). */
export interface SourceResult<T> {
  status: SourceStatus;
  value: T;
}

export const OK: SourceStatus = { status: 'ok' };

export function unavailable(code: string, reason: string): SourceStatus {
  return { status: 'unavailable', code, reason };
}

export function failed(code: string, reason: string): SourceStatus {
  return { status: 'error', code, reason };
}

/** Map a thrown error to a source status: a missing tool is 'unavailable', anything else 'error'. */
export function statusFromError(e: unknown): SourceStatus {
  if (isNodesealError(e)) {
    return e.code === ERR_COMMAND_NOT_FOUND ? unavailable(e.code, e.message) : failed(e.code, e.message);
  }
  return failed(ERR_SOURCE_FAILED, `unexpected failure: ${(e as Error)?.message ?? String(e)}`);
}

/** Run a tool; a non-zero exit becomes ERR_COMMAND_FAILED with the first line of stderr. */
export async function runChecked(ctx: CollectContext, argv: readonly string[]): Promise<CommandResult> {
  const r = await ctx.runner.run(argv, { timeoutMs: ctx.timeoutMs });
  if (r.exitCode !== 0) {
    const first = (r.stderr.trim() || r.stdout.trim()).split('\n')[0]?.slice(0, 200) ?? '';
    throw new PortError(ERR_COMMAND_FAILED, `${argv.join(' ')} exited with ${r.exitCode}${first ? `: ${first}` : ''}`, {
      details: { argv: [...argv], exitCode: r.exitCode },
    });
  }
  return r;
}

/** A trimmed sysfs/procfs attribute; null when absent, empty, or unreadable (noted in `denied`). */
export async function attr(ctx: CollectContext, path: string, denied?: string[]): Promise<string | null> {
  try {
    const t = await ctx.files.readText(path);
    if (t === null) return null;
    const v = t.replace(/\0/g, '').trim();
    return v === '' ? null : v;
  } catch (e) {
    if (e instanceof PortError && e.code === ERR_FILE_UNREADABLE) {
      denied?.push(path);
      return null;
    }
    throw e;
  }
}

/** `key: value` lines (ethtool -i, ipmitool mc info, uevent with '=') into a map. */
export function keyValues(text: string, sep = ':'): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(sep);
    if (i <= 0) continue;
    const k = line.slice(0, i).trim();
    if (!k || k.startsWith('#') || m.has(k)) continue;
    m.set(k, line.slice(i + 1).trim());
  }
  return m;
}

export function orNull(v: string | undefined | null): string | null {
  if (v === undefined || v === null) return null;
  const t = v.trim();
  return t === '' ? null : t;
}
