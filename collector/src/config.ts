import { UserError, ERR_CONFIG } from '../../shared/src/errors.js';
import {
  applyConfigLayers,
  coerceScalar,
  optionTable,
  type ConfigLayerSources,
  type OptionSpec,
  type ScalarKind,
} from '../../shared/src/config/layers.js';

/**
 * Collector configuration. Layers, later wins: defaults → config file (JSON) → environment
 * (NODESEAL_*) → command-line flags. Every problem in every layer is collected and reported
 * at once as one ERR_CONFIG user error. Every limit has a documented default here.
 */
export interface CollectorConfig {
  /** host:port for HTTP and WebSocket (one port). Default 127.0.0.1:8443. */
  listen: { host: string; port: number };
  /** SQLite file (embedded store). Default /var/lib/nodeseal/collector.db. */
  db: string;
  /** PostgreSQL connection string; when set, used instead of `db`, and collectors sharing it form one fleet (cluster mode). */
  postgresUrl: string | null;
  /** This collector's name in the fleet (cluster mode). Default: hostname:port. */
  collectorId: string | null;
  /** Cluster mode: how often each collector re-reads node versions to heal a missed notification, ms. Default 2,000. */
  clusterCatchUpMs: number;
  /** TLS certificate and key (PEM files); when both set the collector serves https/wss. */
  tlsCert: string | null;
  tlsKey: string | null;
  /** Allow plain http/ws on a non-loopback address. Default false. */
  insecure: boolean;
  /** Report interval told to agents, seconds. Default 60. */
  intervalSec: number;
  /** Freshness TTL, seconds. Default 3 × intervalSec. */
  freshnessTtlSec: number;
  /** WebSocket ping interval, seconds; a connection without pong for two pings is dropped. Default 15. */
  heartbeatSec: number;
  /** Largest WebSocket frame accepted, bytes. Default 4 MiB. */
  maxPayloadBytes: number;
  /** A connection must send hello within this many ms. Default 10,000. */
  helloTimeoutMs: number;
  /** Per-connection token bucket: sustained messages per second and burst. Defaults 10/s, burst 40. */
  rateLimitPerSec: number;
  rateLimitBurst: number;
  /** Errors tolerated on one connection (reset by a verified report) before it is closed. Default 50. */
  maxErrorsPerConnection: number;
  /** Concurrent agent connections. Default 20,000. */
  maxConnections: number;
  /** Largest HTTP request body, bytes. Default 1 MiB. */
  maxBodyBytes: number;
  /** Largest HTTP request head (request line and headers), bytes; larger ones are answered 431. Default 16 KiB. */
  maxHeaderBytes: number;
  /** Live dashboard streams (GET /v1/events) in all. Default 100. */
  liveMaxStreams: number;
  /** Live streams one token may hold. Default 10. */
  liveMaxStreamsPerToken: number;
  /** Of liveMaxStreams, slots only operator tokens may take. Default 10. */
  liveOperatorReserve: number;
  /** Longest wait allowed for POST /v1/nodes/:id/attest?wait=N, seconds. Default 30. */
  maxAttestWaitSec: number;
  /** Worker threads that verify reports (0 = in the main thread). Default 0. */
  verifyWorkers: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Sections owned by other features (alerts, metrics, trust, slurm), passed through verbatim and validated by their owners. */
  sections: Record<string, unknown>;
}

export const SECTION_KEYS = ['alerts', 'metrics', 'trust', 'slurm'] as const;

type Spec = OptionSpec<Exclude<keyof CollectorConfig, 'sections'>, ScalarKind | 'bool' | 'listen' | 'loglevel'>;

const SPECS: Spec[] = [
  { key: 'listen', kind: 'listen', env: 'NODESEAL_LISTEN', flag: 'listen' },
  { key: 'db', kind: 'string', env: 'NODESEAL_DB', flag: 'db' },
  { key: 'postgresUrl', kind: 'nstring', env: 'NODESEAL_POSTGRES_URL', flag: 'postgres' },
  { key: 'collectorId', kind: 'nstring', env: 'NODESEAL_COLLECTOR_ID', flag: 'collector-id' },
  { key: 'clusterCatchUpMs', kind: 'int', env: 'NODESEAL_CLUSTER_CATCH_UP_MS', min: 100, max: 60_000 },
  { key: 'tlsCert', kind: 'nstring', env: 'NODESEAL_TLS_CERT', flag: 'tls-cert' },
  { key: 'tlsKey', kind: 'nstring', env: 'NODESEAL_TLS_KEY', flag: 'tls-key' },
  { key: 'insecure', kind: 'bool', env: 'NODESEAL_INSECURE', flag: 'insecure' },
  { key: 'intervalSec', kind: 'number', env: 'NODESEAL_INTERVAL_SEC', flag: 'interval', min: 0.2, max: 86_400 },
  { key: 'freshnessTtlSec', kind: 'number', env: 'NODESEAL_FRESHNESS_TTL_SEC', flag: 'freshness-ttl', min: 1, max: 7 * 86_400 },
  { key: 'heartbeatSec', kind: 'number', env: 'NODESEAL_HEARTBEAT_SEC', flag: 'heartbeat', min: 0.2, max: 3600 },
  { key: 'maxPayloadBytes', kind: 'int', env: 'NODESEAL_MAX_PAYLOAD_BYTES', min: 64 * 1024, max: 64 * 1024 * 1024 },
  { key: 'helloTimeoutMs', kind: 'int', env: 'NODESEAL_HELLO_TIMEOUT_MS', min: 100, max: 600_000 },
  { key: 'rateLimitPerSec', kind: 'number', env: 'NODESEAL_RATE_LIMIT_PER_SEC', min: 0.1, max: 10_000 },
  { key: 'rateLimitBurst', kind: 'int', env: 'NODESEAL_RATE_LIMIT_BURST', min: 1, max: 100_000 },
  { key: 'maxErrorsPerConnection', kind: 'int', env: 'NODESEAL_MAX_ERRORS_PER_CONNECTION', min: 1, max: 100_000 },
  { key: 'maxConnections', kind: 'int', env: 'NODESEAL_MAX_CONNECTIONS', min: 1, max: 1_000_000 },
  { key: 'maxBodyBytes', kind: 'int', env: 'NODESEAL_MAX_BODY_BYTES', min: 1024, max: 64 * 1024 * 1024 },
  { key: 'maxHeaderBytes', kind: 'int', env: 'NODESEAL_MAX_HEADER_BYTES', min: 1024, max: 1024 * 1024 },
  { key: 'liveMaxStreams', kind: 'int', env: 'NODESEAL_LIVE_MAX_STREAMS', min: 1, max: 100_000 },
  { key: 'liveMaxStreamsPerToken', kind: 'int', env: 'NODESEAL_LIVE_MAX_STREAMS_PER_TOKEN', min: 1, max: 100_000 },
  { key: 'liveOperatorReserve', kind: 'int', env: 'NODESEAL_LIVE_OPERATOR_RESERVE', min: 0, max: 100_000 },
  { key: 'maxAttestWaitSec', kind: 'number', env: 'NODESEAL_MAX_ATTEST_WAIT_SEC', min: 0, max: 600 },
  { key: 'verifyWorkers', kind: 'int', env: 'NODESEAL_VERIFY_WORKERS', flag: 'verify-workers', min: 0, max: 64 },
  { key: 'logLevel', kind: 'loglevel', env: 'NODESEAL_LOG_LEVEL', flag: 'log-level' },
];

export function defaultCollectorConfig(): CollectorConfig {
  return {
    listen: { host: '127.0.0.1', port: 8443 },
    db: '/var/lib/nodeseal/collector.db',
    postgresUrl: null,
    collectorId: null,
    clusterCatchUpMs: 2000,
    tlsCert: null,
    tlsKey: null,
    insecure: false,
    intervalSec: 60,
    freshnessTtlSec: 180,
    heartbeatSec: 15,
    maxPayloadBytes: 4 * 1024 * 1024,
    helloTimeoutMs: 10_000,
    rateLimitPerSec: 10,
    rateLimitBurst: 40,
    maxErrorsPerConnection: 50,
    maxConnections: 20_000,
    maxBodyBytes: 1024 * 1024,
    maxHeaderBytes: 16 * 1024,
    liveMaxStreams: 100,
    liveMaxStreamsPerToken: 10,
    liveOperatorReserve: 10,
    maxAttestWaitSec: 30,
    verifyWorkers: 0,
    logLevel: 'info',
    sections: {},
  };
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function parseListen(v: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(v.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: (m[1] ?? m[2])!, port };
}

function coerce(spec: Spec, raw: unknown, where: string, problems: string[]): unknown {
  const bad = (what: string) => {
    problems.push(`${where}: ${what}`);
    return undefined;
  };
  switch (spec.kind) {
    case 'string':
    case 'nstring':
    case 'int':
    case 'number':
      return coerceScalar({ ...spec, kind: spec.kind }, raw, where, problems);
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1' || raw === 'yes') return true;
      if (raw === 'false' || raw === '0' || raw === 'no' || raw === '') return false;
      return bad('must be true or false');
    case 'listen': {
      if (typeof raw !== 'string') return bad('must be HOST:PORT');
      return parseListen(raw) ?? bad(`must be HOST:PORT, got ${JSON.stringify(raw).slice(0, 60)}`);
    }
    case 'loglevel':
      return typeof raw === 'string' && LOG_LEVELS.has(raw) ? raw : bad(`must be one of ${[...LOG_LEVELS].join(', ')}`);
  }
}

export type ConfigSources = ConfigLayerSources;

/** Every top-level collector option: config-file key, environment variable and flag (docs and `config check` use it). */
export const COLLECTOR_CONFIG_OPTIONS: ReadonlyArray<{ key: string; env: string; flag: string | null }> = optionTable(SPECS);

/** Loads and validates the collector configuration; throws UserError(ERR_CONFIG) listing every problem. */
export function loadCollectorConfig(src: ConfigSources = {}): CollectorConfig {
  const { config, problems } = resolveCollectorConfig(src);
  if (problems.length) throw new UserError(ERR_CONFIG, `invalid configuration: ${problems.join('; ')}`, { details: { problems } });
  return config;
}

/**
 * Resolves the layers and returns the configuration (invalid values keep their default; the
 * sections as found in the file) with every problem found. `nodeseal config check` uses it.
 */
export function resolveCollectorConfig(src: ConfigSources = {}): { config: CollectorConfig; problems: string[] } {
  const cfg = defaultCollectorConfig() as unknown as Record<string, unknown>;
  const problems: string[] = [];
  const sections: Record<string, unknown> = {};
  const section = (k: string, v: unknown) => {
    if (!(SECTION_KEYS as readonly string[]).includes(k)) return false;
    sections[k] = v;
    return true;
  };
  const layers = applyConfigLayers(SPECS, src, cfg, problems, coerce, section);
  cfg.sections = sections;

  const c = cfg as unknown as CollectorConfig;
  if (!layers.has('freshnessTtlSec')) c.freshnessTtlSec = 3 * c.intervalSec;
  else if (c.freshnessTtlSec < c.intervalSec)
    problems.push(`freshnessTtlSec (${c.freshnessTtlSec}) must not be shorter than intervalSec (${c.intervalSec})`);
  if ((c.tlsCert === null) !== (c.tlsKey === null)) problems.push('tlsCert and tlsKey must be given together');
  if (c.tlsCert === null && !c.insecure && !isLoopback(c.listen.host)) {
    problems.push(
      `refusing plain (unencrypted) listening on ${c.listen.host}: configure tlsCert/tlsKey, listen on loopback, or pass --insecure`,
    );
  }
  if (c.rateLimitBurst < c.rateLimitPerSec) problems.push('rateLimitBurst must be at least rateLimitPerSec');
  if (c.liveOperatorReserve >= c.liveMaxStreams)
    problems.push(`liveOperatorReserve (${c.liveOperatorReserve}) must be less than liveMaxStreams (${c.liveMaxStreams})`);
  return { config: c, problems };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
