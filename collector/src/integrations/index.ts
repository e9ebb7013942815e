import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { UserError, ERR_CONFIG } from '../../../shared/src/errors.js';
import type { TrustStatus } from '../../../shared/src/report/types.js';
import type { Route } from '../http/router.js';
import type { Identity } from '../../../shared/src/jws/index.js';
import { loadOrCreateReceiptKey, receiptRoutes } from '../receipt.js';
import type { Store } from '../store/store.js';
import type { TrustModule } from '../trust/index.js';
import { execRunner, type CommandRunner } from './exec-runner.js';
import { SlurmIntegration, type SlurmMode } from './slurm.js';

export {
  SlurmIntegration,
  drainReason,
  parseSinfoNode,
  REASON_PREFIX,
  type SlurmMode,
  type SlurmOptions,
  type SlurmCounters,
} from './slurm.js';
export { K8sSync, kubeNodesApi, planNode, type NodesApi, type K8sSyncOptions } from './k8s.js';
export { execRunner, type CommandRunner, type CommandResult } from './exec-runner.js';

/**
 * Scheduler-facing features started beside the trust cache: job receipts (routes) and the
 * Slurm integration. Config sections (collector config file):
 *
 *   "slurm": { "mode": "off" | "drain" | "report-only",      default off
 *              "drainOn": ["untrusted", "stale"],             statuses that drain a node
 *              "timeoutSec": 10, "reconcileSec": 60,
 *              "scontrol": "scontrol", "sinfo": "sinfo" }
 *   "trust": { "stateDir": "/var/lib/nodeseal" }              receipt key; default: the db's folder
 *
 * NODESEAL_SLURM_MODE overrides slurm.mode.
 */
export interface SchedulerSettings {
  stateDir: string;
  slurm: { mode: SlurmMode; drainOn: TrustStatus[]; timeoutMs: number; reconcileMs: number; scontrol: string; sinfo: string };
}

const STATUSES = ['trusted', 'untrusted', 'unknown', 'stale'];

export function parseSchedulerSettings(sections: Record<string, unknown>, db: string, env: NodeJS.ProcessEnv = {}): SchedulerSettings {
  const problems: string[] = [];
  const obj = (name: string): Record<string, unknown> => {
    const v = sections[name];
    if (v === undefined) return {};
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      problems.push(`${name}: must be an object`);
      return {};
    }
    return v as Record<string, unknown>;
  };
  const slurm = obj('slurm');
  const trust = obj('trust');
  for (const k of Object.keys(slurm))
    if (!['mode', 'drainOn', 'timeoutSec', 'reconcileSec', 'scontrol', 'sinfo'].includes(k))
      problems.push(`slurm: unknown option ${JSON.stringify(k).slice(0, 40)}`);
  for (const k of Object.keys(trust)) if (k !== 'stateDir') problems.push(`trust: unknown option ${JSON.stringify(k).slice(0, 40)}`);
  const mode = env.NODESEAL_SLURM_MODE ?? slurm.mode ?? 'off';
  if (mode !== 'off' && mode !== 'drain' && mode !== 'report-only') problems.push('slurm.mode must be off, drain or report-only');
  const drainOn = slurm.drainOn ?? ['untrusted', 'stale'];
  if (!Array.isArray(drainOn) || drainOn.some((s) => !STATUSES.includes(s as string) || s === 'trusted'))
    problems.push('slurm.drainOn must list untrusted, stale and/or unknown');
  const secs = (v: unknown, def: number, name: string, min: number) => {
    if (v === undefined) return def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > 86_400) {
      problems.push(`${name} must be a number of seconds between ${min} and 86400`);
      return def;
    }
    return v;
  };
  const str = (v: unknown, def: string, name: string) => {
    if (v === undefined) return def;
    if (typeof v !== 'string' || v === '') {
      problems.push(`${name} must be a non-empty string`);
      return def;
    }
    return v;
  };
  const settings: SchedulerSettings = {
    stateDir: str(trust.stateDir, dirname(db), 'trust.stateDir'),
    slurm: {
      mode: mode as SlurmMode,
      drainOn: drainOn as TrustStatus[],
      timeoutMs: secs(slurm.timeoutSec, 10, 'slurm.timeoutSec', 1) * 1000,
      reconcileMs: secs(slurm.reconcileSec, 60, 'slurm.reconcileSec', 0) * 1000,
      scontrol: str(slurm.scontrol, 'scontrol', 'slurm.scontrol'),
      sinfo: str(slurm.sinfo, 'sinfo', 'slurm.sinfo'),
    },
  };
  if (problems.length) throw new UserError(ERR_CONFIG, `invalid configuration: ${problems.join('; ')}`, { details: { problems } });
  return settings;
}

export interface SchedulerFeatures {
  routes: Route[];
  slurm: SlurmIntegration | null;
  /** The receipt signing key (the fleet's in cluster mode). */
  key: Identity;
  /** Starts the Slurm reconcile/drain/resume (at start, or when this collector is elected leader). */
  lead(): void;
  /** Stops it (deposed: another collector leads). */
  standDown(): void;
  close(): void;
}

/** Loads (or makes) the receipt key, builds the receipt routes, attaches the Slurm integration when enabled. */
export async function startSchedulerFeatures(deps: {
  settings: SchedulerSettings;
  store: Pick<Store, 'getNode'>;
  trust: TrustModule;
  logger: Logger;
  runner?: CommandRunner;
  /** The signing key (cluster mode: the fleet's, cluster/fleet-key.ts); default: loaded or made in stateDir. */
  key?: Identity;
  /** Cluster mode: the Slurm integration waits for lead() (the leader lease) instead of starting at once. */
  waitForLead?: boolean;
}): Promise<SchedulerFeatures> {
  const key = deps.key ?? (await loadOrCreateReceiptKey(deps.settings.stateDir));
  const routes = receiptRoutes({ key, cache: deps.trust.cache, store: deps.store });
  let slurm: SlurmIntegration | null = null;
  if (deps.settings.slurm.mode !== 'off') {
    const s = deps.settings.slurm;
    slurm = new SlurmIntegration({
      mode: s.mode,
      runner: deps.runner ?? execRunner(),
      logger: deps.logger,
      drainOn: s.drainOn,
      timeoutMs: s.timeoutMs,
      reconcileMs: s.reconcileMs,
      scontrol: s.scontrol,
      sinfo: s.sinfo,
    });
  }
  let leading = false;
  const lead = () => {
    if (!slurm || leading) return;
    leading = true;
    void slurm.attach(deps.trust.cache);
    deps.logger.info({ mode: deps.settings.slurm.mode }, 'slurm integration on');
  };
  const standDown = () => {
    if (!slurm || !leading) return;
    leading = false;
    slurm.detach();
    deps.logger.info('slurm integration paused: another collector leads');
  };
  if (!deps.waitForLead) lead();
  return {
    routes,
    slurm,
    key,
    lead,
    standDown,
    close() {
      slurm?.detach();
    },
  };
}
