import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { UserError, ERR_CONFIG } from '../../shared/src/errors.js';
import { nodeIdSchema } from '../../shared/src/report/schema.js';
import {
  applyConfigLayers,
  coerceScalar,
  optionTable,
  type ConfigLayer,
  type ConfigLayerSources,
  type OptionSpec,
  type ScalarKind,
} from '../../shared/src/config/layers.js';

/**
 * Agent configuration. Layers, later wins: defaults → config file (JSON) → environment
 * (NODESEAL_*) → flags. Every problem is collected and reported at once (ERR_CONFIG).
 */
export interface AgentConfig {
  /**
   * Collector base URLs (wss://host:port, or ws:// on loopback), in order of preference: the agent
   * sticks to one and moves to the next when it fails. Required. Flag repeated or comma-separated,
   * environment comma-separated, config file a list or one string.
   */
  collector: string[];
  /** Default: this host's name. */
  nodeId: string;
  /** Identity key, seq counter and spool. Default /var/lib/nodeseal. */
  stateDir: string;
  /** tpm2-tss TCTI; 'none' disables the TPM. Default device:/dev/tpmrm0. */
  tcti: string;
  /** A recorded host directory to read instead of this host (tests, demos). */
  root: string | null;
  /** Report interval until the collector sends its own, seconds. Default 60. */
  intervalSec: number;
  /** Ping interval, seconds. Default 15. */
  heartbeatSec: number;
  /** Reconnect backoff cap, seconds. Default 60. */
  backoffCapSec: number;
  /** TCG event log path. Default /sys/kernel/security/tpm0/binary_bios_measurements. */
  eventLogPath: string | null;
  /** Extra CA bundle (PEM) for wss. */
  caFile: string | null;
  /** Spool bounds. Defaults 1,000 reports and 64 MiB. */
  spoolMaxCount: number;
  spoolMaxBytes: number;
  logLevel: string;
  /**
   * One-time enrolment token (first contact only; needs the TPM). After loading it holds the
   * token read from `enrollTokenFile` when that one wins. Never logged. Default none.
   */
  enrollToken: string | null;
  /** File whose first line is the enrolment token. Default none. */
  enrollTokenFile: string | null;
}

type Spec = OptionSpec<keyof AgentConfig, ScalarKind | 'urls'>;

const SPECS: Spec[] = [
  { key: 'collector', kind: 'urls', env: 'NODESEAL_COLLECTOR', flag: 'collector' },
  { key: 'nodeId', kind: 'string', env: 'NODESEAL_NODE_ID', flag: 'node-id' },
  { key: 'stateDir', kind: 'string', env: 'NODESEAL_STATE_DIR', flag: 'state-dir' },
  { key: 'tcti', kind: 'string', env: 'NODESEAL_TCTI', flag: 'tcti' },
  { key: 'root', kind: 'nstring', env: 'NODESEAL_ROOT', flag: 'root' },
  { key: 'intervalSec', kind: 'number', env: 'NODESEAL_INTERVAL_SEC', flag: 'interval', min: 0.2, max: 86_400 },
  { key: 'heartbeatSec', kind: 'number', env: 'NODESEAL_HEARTBEAT_SEC', flag: 'heartbeat', min: 0.2, max: 3600 },
  { key: 'backoffCapSec', kind: 'number', env: 'NODESEAL_BACKOFF_CAP_SEC', min: 0.1, max: 3600 },
  { key: 'eventLogPath', kind: 'nstring', env: 'NODESEAL_EVENT_LOG', flag: 'event-log' },
  { key: 'caFile', kind: 'nstring', env: 'NODESEAL_CA_FILE', flag: 'ca' },
  { key: 'spoolMaxCount', kind: 'int', env: 'NODESEAL_SPOOL_MAX_COUNT', min: 1, max: 1_000_000 },
  { key: 'spoolMaxBytes', kind: 'int', env: 'NODESEAL_SPOOL_MAX_BYTES', min: 1024, max: 16 * 1024 ** 3 },
  { key: 'logLevel', kind: 'string', env: 'NODESEAL_LOG_LEVEL', flag: 'log-level' },
  { key: 'enrollToken', kind: 'nstring', env: 'NODESEAL_ENROLL_TOKEN', flag: 'enroll-token' },
  { key: 'enrollTokenFile', kind: 'nstring', env: 'NODESEAL_ENROLL_TOKEN_FILE', flag: 'enroll-token-file' },
];

/** Every agent option: config-file key, environment variable and flag (docs and `config check` use it). */
export const AGENT_CONFIG_OPTIONS: ReadonlyArray<{ key: string; env: string; flag: string | null }> = optionTable(SPECS);

/** Shape of enrolment tokens (the collector issues nse_ + 43 base64url characters; the installer accepts the same set). */
const ENROLL_TOKEN_SHAPE = /^[A-Za-z0-9._~+/=-]{8,512}$/;

export function defaultAgentConfig(): AgentConfig {
  return {
    collector: [],
    nodeId: hostname(),
    stateDir: '/var/lib/nodeseal',
    tcti: 'device:/dev/tpmrm0',
    root: null,
    intervalSec: 60,
    heartbeatSec: 15,
    backoffCapSec: 60,
    eventLogPath: null,
    caFile: null,
    spoolMaxCount: 1000,
    spoolMaxBytes: 64 * 1024 * 1024,
    logLevel: 'info',
    enrollToken: null,
    enrollTokenFile: null,
  };
}

export type AgentConfigSources = ConfigLayerSources;

/**
 * Resolves the layers and returns the configuration together with every problem found (invalid
 * values keep their default). `loadAgentConfig` throws when there is any; `nodeseal agent --check`
 * and `nodeseal config check` list them.
 */
export function resolveAgentConfig(src: AgentConfigSources = {}): { config: AgentConfig; problems: string[] } {
  const cfg = defaultAgentConfig() as unknown as Record<string, unknown>;
  const problems: string[] = [];
  /** Layer that last set a key: 1 file, 2 environment, 3 flags. */
  const layer = applyConfigLayers(SPECS, src, cfg, problems, coerceOption);
  const c = cfg as unknown as AgentConfig;
  if (c.collector.length === 0)
    problems.push('--collector is required (e.g. wss://collector.example:8443; several: repeat it or separate with commas)');
  for (const url of c.collector) {
    const why = collectorUrlProblem(url);
    if (why)
      problems.push(
        `collector URL ${JSON.stringify(url).slice(0, 80)}${c.collector.length > 1 ? ` (${c.collector.indexOf(url) + 1} of ${c.collector.length})` : ''} ${why}`,
      );
  }
  if (!nodeIdSchema.safeParse(c.nodeId).success)
    problems.push(`node id ${JSON.stringify(c.nodeId).slice(0, 80)} must be letters, digits, dot, dash, underscore (max 253)`);
  resolveEnrollToken(c, layer, problems);
  // An event log named explicitly must be there: a typo would otherwise only show as "event log
  // unavailable" in every report. The default path missing is fine (the evidence says so).
  if (c.eventLogPath !== null) {
    const why = fileProblem(c.eventLogPath);
    if (why) problems.push(`event log ${c.eventLogPath} (--event-log) ${why}`);
  }
  return { config: c, problems };
}

/** Scalars as usual; a collector list from a list (config file), a string with commas, or repeated flags. */
function coerceOption(spec: Spec, raw: unknown, where: string, problems: string[]): unknown {
  if (spec.kind !== 'urls') return coerceScalar(spec as OptionSpec<string, ScalarKind>, raw, where, problems);
  const parts = typeof raw === 'string' ? [raw] : Array.isArray(raw) && raw.every((v) => typeof v === 'string') ? raw : null;
  if (!parts) {
    problems.push(`${where}: must be a URL or a list of URLs`);
    return undefined;
  }
  const urls = parts
    .flatMap((p: string) => p.split(','))
    .map((u: string) => u.trim())
    .filter((u: string) => u.length > 0);
  if (urls.length === 0) {
    problems.push(`${where}: must name at least one collector URL`);
    return undefined;
  }
  return [...new Set(urls)];
}

/** What is wrong with one collector base URL, or null. */
export function collectorUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a URL';
  }
  // Every problem of the URL at once, so one edit fixes it.
  const problems: string[] = [];
  if (u.protocol !== 'wss:' && u.protocol !== 'ws:') problems.push('must start with wss:// (or ws:// on loopback)');
  if (u.protocol === 'ws:' && !/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(u.hostname))
    problems.push('uses plain ws://, which is only allowed to a loopback collector; use wss://');
  if (u.pathname !== '/' && u.pathname !== '') problems.push('must be the base URL (the agent adds /v1/agent)');
  return problems.length ? problems.join(' and ') : null;
}

/** Why `path` is not a readable regular file, or null when it is one. */
function fileProblem(path: string): string | null {
  try {
    if (!statSync(path).isFile()) return 'is not a file';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT'
      ? 'does not exist'
      : `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  return null;
}

/**
 * enrollToken and enrollTokenFile: the one set by the later layer wins (so a flag beats the
 * installer's NODESEAL_ENROLL_TOKEN); both in the same layer is a contradiction. The token's
 * value never appears in a problem.
 */
function resolveEnrollToken(c: AgentConfig, layer: Map<string, ConfigLayer>, problems: string[]): void {
  const tokenAt = c.enrollToken !== null ? (layer.get('enrollToken') ?? 0) : 0;
  const fileAt = c.enrollTokenFile !== null ? (layer.get('enrollTokenFile') ?? 0) : 0;
  if (tokenAt && fileAt && tokenAt === fileAt) {
    problems.push('enrollToken and enrollTokenFile are both given in the same place; give one');
    c.enrollToken = null;
    return;
  }
  if (fileAt > tokenAt) {
    try {
      c.enrollToken = readFileSync(c.enrollTokenFile!, 'utf8').split(/\r?\n/, 1)[0]!.trim();
    } catch (e) {
      problems.push(`cannot read enrollTokenFile ${c.enrollTokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      c.enrollToken = null;
      return;
    }
  }
  if (c.enrollToken === null) return;
  if (!ENROLL_TOKEN_SHAPE.test(c.enrollToken))
    problems.push(
      `the enrolment token${fileAt > tokenAt ? ` in ${c.enrollTokenFile}` : ''} must be 8-512 characters of [A-Za-z0-9._~+/=-]`,
    );
  if (c.tcti === 'none') problems.push('enrolment needs the TPM: an enrolment token cannot be used with tcti none');
}

export function loadAgentConfig(src: AgentConfigSources = {}): AgentConfig {
  const { config, problems } = resolveAgentConfig(src);
  if (problems.length) throw new UserError(ERR_CONFIG, `invalid agent configuration: ${problems.join('; ')}`, { details: { problems } });
  return config;
}
