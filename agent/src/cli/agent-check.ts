import { access, constants, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { CliIo } from '../../../shared/src/cli/verb.js';
import type { SourceStatus } from '../../../shared/src/report/types.js';
import { ERR_CONFIG } from '../../../shared/src/errors.js';
import { resolveAgentConfig, type AgentConfig } from '../config.js';
import { ERR_AGENT_TPM_DISABLED } from '../daemon/evidence.js';
import { ERR_AGENT_STATE_DIR } from '../daemon/errors.js';
import { collectInventory, SOURCE_NAMES } from '../inventory.js';
import { createHostPorts } from '../ports/host-ports.js';
import { DEFAULT_EVENT_LOG_PATH, MAX_EVENT_LOG_BYTES } from '../tpm/evidence.js';
import { ERR_TPM_EVENTLOG } from '../tpm/errors.js';
import { probeTpm } from '../tpm/probe.js';
import { parseEventLog } from '../../../shared/src/eventlog/parse.js';
import { probeCollector } from './agent-check-collector.js';

/**
 * `nodeseal agent --check`: what this host can and cannot give the agent, before it is installed
 * or started. Nothing is changed on the host (no AK is created, the state directory is probed
 * with a temporary entry that is removed again). Blocking items (configuration, state directory,
 * CA file, --root) mean the agent cannot run; everything else (TPM, event log, GPUs, sources,
 * collector reachability) is a warning: the agent runs and reports what it lacks.
 */
export interface CheckItem extends SourceStatus {
  /** Stable name: config, root, stateDir, caFile, collector, tpm, tpm.pcrs, tpm.ak, tpm.ek, tpm.ekCert, eventLog, enrolment, gpus, source.<name>. */
  name: string;
  /** true: the agent cannot run while this item is not ok. */
  blocking: boolean;
  detail?: Record<string, unknown>;
}

export interface AgentCheckReport {
  canRun: boolean;
  nodeId: string;
  tcti: string;
  root: string | null;
  items: CheckItem[];
}

type Flags = Record<string, string | string[] | boolean | undefined>;

const item = (name: string, blocking: boolean, s: SourceStatus, detail?: Record<string, unknown>): CheckItem => ({
  name,
  blocking,
  status: s.status,
  ...(s.reason !== undefined ? { reason: s.reason } : {}),
  ...(s.code !== undefined ? { code: s.code } : {}),
  ...(detail ? { detail } : {}),
});

/** The state directory (created by the agent with mkdir -p) must be writable, or its nearest existing parent. */
export async function probeStateDir(dir: string): Promise<SourceStatus> {
  let at = resolve(dir);
  for (;;) {
    const s = await stat(at).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? null : e));
    if (s instanceof Error) return { status: 'error', reason: `${at}: ${s.code ?? s.message}`, code: ERR_AGENT_STATE_DIR };
    if (s) {
      if (!s.isDirectory()) return { status: 'error', reason: `${at} is not a directory`, code: ERR_AGENT_STATE_DIR };
      try {
        await access(at, constants.W_OK | constants.X_OK);
        const probe = await mkdtemp(join(at, '.nodeseal-check-'));
        await rm(probe, { recursive: true, force: true });
      } catch (e) {
        return {
          status: 'error',
          reason: `${at} is not writable by this user: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          code: ERR_AGENT_STATE_DIR,
        };
      }
      return at === resolve(dir) ? { status: 'ok' } : { status: 'ok', reason: `${dir} will be created under ${at}` };
    }
    const up = dirname(at);
    if (up === at) return { status: 'error', reason: `no existing parent of ${dir}`, code: ERR_AGENT_STATE_DIR };
    at = up;
  }
}

async function probeCaFile(path: string): Promise<SourceStatus> {
  try {
    const pem = await readFile(path, 'utf8');
    const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    return certs.length ? { status: 'ok' } : { status: 'error', reason: `${path} holds no PEM certificate`, code: ERR_CONFIG };
  } catch (e) {
    return {
      status: 'error',
      reason: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      code: ERR_CONFIG,
    };
  }
}

/** The event log the agent will send: present, within the size limit, and parseable. */
export async function probeEventLog(path: string): Promise<{ status: SourceStatus; detail?: Record<string, unknown> }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      return {
        status: { status: 'unavailable', reason: `${path} does not exist (no TPM driver, or not a UEFI boot)`, code: ERR_TPM_EVENTLOG },
      };
    return {
      status: {
        status: 'error',
        reason: `cannot read ${path}: ${code ?? (e as Error).message}${code === 'EACCES' ? ' (root-only; the systemd unit copies it at start)' : ''}`,
        code: ERR_TPM_EVENTLOG,
      },
    };
  }
  if (bytes.length > MAX_EVENT_LOG_BYTES)
    return { status: { status: 'error', reason: `${path} is larger than ${MAX_EVENT_LOG_BYTES} bytes`, code: ERR_TPM_EVENTLOG } };
  try {
    const log = parseEventLog(bytes);
    return { status: { status: 'ok' }, detail: { bytes: bytes.length, events: log.events.length } };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    return {
      status: {
        status: 'error',
        reason: `${path} does not parse: ${(e as Error).message}`,
        code: typeof code === 'string' ? code : ERR_TPM_EVENTLOG,
      },
      detail: { bytes: bytes.length },
    };
  }
}

async function tpmItems(config: AgentConfig): Promise<CheckItem[]> {
  if (config.tcti === 'none')
    return [
      item('tpm', false, {
        status: 'unavailable',
        reason: 'TPM disabled by configuration (tcti none): reports carry no quote',
        code: ERR_AGENT_TPM_DISABLED,
      }),
    ];
  const p = await probeTpm(config.tcti);
  const tpm = item('tpm', false, p.tpm, { tcti: config.tcti, ...(p.tpm.manufacturer ? { manufacturer: p.tpm.manufacturer } : {}) });
  if (p.tpm.status !== 'ok') return [tpm];
  return [
    tpm,
    item('tpm.pcrs', false, p.pcrs, p.pcrs.banks ? { banks: p.pcrs.banks } : undefined),
    item('tpm.ak', false, p.ak, { handle: p.ak.handle }),
    item('tpm.ek', false, p.ek, p.ek.persistent !== undefined ? { persistent: p.ek.persistent } : undefined),
    item('tpm.ekCert', false, p.ekCert, p.ekCert.bytes !== undefined ? { bytes: p.ekCert.bytes } : undefined),
  ];
}

async function inventoryItems(root: string | null): Promise<CheckItem[]> {
  const { inventory } = await collectInventory(createHostPorts(root !== null ? { root } : {}));
  const gpu = inventory.sources.gpu ?? { status: 'error', reason: 'no gpu source status' };
  const gpus = inventory.gpus.map((g) => ({ index: g.index, name: g.productName, uuid: g.uuid }));
  const items = [item('gpus', false, gpu, { count: gpus.length, gpus })];
  for (const name of SOURCE_NAMES)
    items.push(item(`source.${name}`, false, inventory.sources[name] ?? { status: 'error', reason: 'no status reported' }));
  return items;
}

/** Runs every probe; pure of output (the caller renders). */
export async function agentCheck(flags: Flags, env: NodeJS.ProcessEnv): Promise<AgentCheckReport> {
  const file = (flags.config as string | undefined) ?? env.NODESEAL_AGENT_CONFIG ?? null;
  const { config, problems } = resolveAgentConfig({ file, env, flags });
  const items: CheckItem[] = problems.length
    ? problems.map((p) => item('config', true, { status: 'error', reason: p, code: ERR_CONFIG }))
    : [item('config', true, { status: 'ok' }, { collector: config.collector, nodeId: config.nodeId, ...(file ? { file } : {}) })];
  if (config.root !== null) {
    const s = await stat(config.root).catch(() => null);
    items.push(
      item(
        'root',
        true,
        s?.isDirectory()
          ? { status: 'ok' }
          : { status: 'error', reason: `${config.root} is not a directory (a host recorded by nodeseal dump)`, code: ERR_CONFIG },
        { root: config.root },
      ),
    );
  }
  items.push(item('stateDir', true, await probeStateDir(config.stateDir), { path: config.stateDir }));
  if (config.caFile) items.push(item('caFile', true, await probeCaFile(config.caFile), { path: config.caFile }));
  const collectorValid = !problems.some((p) => /collector/i.test(p));
  const [collectors, tpm, log, inventory] = await Promise.all([
    collectorValid ? Promise.all(config.collector.map((url) => probeCollector(url, config.caFile))) : Promise.resolve([]),
    tpmItems(config),
    probeEventLog(config.eventLogPath ?? DEFAULT_EVENT_LOG_PATH),
    inventoryItems(items.some((i) => i.name === 'root' && i.status !== 'ok') ? null : config.root),
  ]);
  // Each collector is probed; one that does not answer is a warning (the agent moves to the next).
  for (const c of collectors) items.push(item('collector', false, c.status, { url: c.url }));
  items.push(...tpm);
  items.push(item('eventLog', false, log.status, { path: config.eventLogPath ?? DEFAULT_EVENT_LOG_PATH, ...log.detail }));
  if (config.enrollToken !== null) {
    const tpmOk = tpm.every((i) => i.name === 'tpm.ak' || i.status === 'ok' || (i.name === 'tpm.ekCert' && i.status === 'unavailable'));
    items.push(
      item(
        'enrolment',
        false,
        tpmOk
          ? { status: 'ok' }
          : {
              status: 'error',
              reason: 'an enrolment token is configured but the TPM cannot give its EK and AK: enrolment will fail',
              code: tpm[0]?.code ?? ERR_AGENT_TPM_DISABLED,
            },
      ),
    );
  }
  items.push(...inventory);
  return {
    canRun: !items.some((i) => i.blocking && i.status !== 'ok'),
    nodeId: config.nodeId,
    tcti: config.tcti,
    root: config.root,
    items,
  };
}

/** Text rendering: one line per item, then the verdict. */
export function renderCheck(r: AgentCheckReport): string {
  const lines = [`nodeseal agent --check: node ${r.nodeId}, tcti ${r.tcti}${r.root ? `, recorded host ${r.root}` : ''}`];
  const width = Math.max(...r.items.map((i) => i.name.length));
  for (const i of r.items) {
    const extra = i.status === 'ok' ? okNote(i) : `${i.reason ?? ''}${i.code ? ` (${i.code})` : ''}`;
    lines.push(`  ${i.status.padEnd(11)} ${i.name.padEnd(width)}  ${extra}`.trimEnd());
  }
  const blocking = r.items.filter((i) => i.blocking && i.status !== 'ok').length;
  const warnings = r.items.filter((i) => !i.blocking && i.status !== 'ok').length;
  lines.push(
    r.canRun
      ? `the agent can run${warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'}: it will report what it lacks)` : ''}`
      : `the agent cannot run: ${blocking} blocking problem${blocking === 1 ? '' : 's'}`,
  );
  return `${lines.join('\n')}\n`;
}

function okNote(i: CheckItem): string {
  const d = i.detail ?? {};
  switch (i.name) {
    case 'config':
      return `collector ${(d.collector as string[]).join(', ')}`;
    case 'tpm':
      return `${String(d.tcti)}${d.manufacturer ? `, manufacturer ${String(d.manufacturer)}` : ''}`;
    case 'tpm.pcrs':
      return `banks ${(d.banks as string[]).join(', ')}`;
    case 'tpm.ak':
      return `present at ${String(d.handle)}`;
    case 'tpm.ek':
      return d.persistent ? 'persistent at 0x81010001' : 'derived from the TCG default template (not persistent)';
    case 'tpm.ekCert':
      return `${String(d.bytes)} bytes in NV`;
    case 'eventLog':
      return `${String(d.path)}: ${String(d.events)} events`;
    case 'gpus':
      return `${String(d.count)} GPU${d.count === 1 ? '' : 's'}${(d.gpus as Array<{ name: string | null }>).length ? `: ${[...new Set((d.gpus as Array<{ name: string | null }>).map((g) => g.name ?? '?'))].join(', ')}` : ''}`;
    case 'stateDir':
    case 'caFile':
      return `${String(d.path)}${i.reason ? ` (${i.reason})` : ''}`;
    case 'collector':
      return `${String(d.url)} answers`;
    default:
      return i.reason ?? '';
  }
}

export async function runAgentCheck(flags: Flags, io: CliIo): Promise<number> {
  const report = await agentCheck(flags, io.env);
  io.stdout(flags.json ? `${JSON.stringify(report, null, 2)}\n` : renderCheck(report));
  return report.canRun ? 0 : 1;
}
