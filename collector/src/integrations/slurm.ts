import type { Logger } from 'pino';
import { NodesealError } from '../../../shared/src/errors.js';
import type { TrustStatus } from '../../../shared/src/report/types.js';
import type { TrustCache, TrustView } from '../trust/cache.js';
import { ERR_INTEGRATION_COMMAND, type CommandRunner } from './exec-runner.js';

/**
 * Slurm integration: turns trust changes into node drains and resumes.
 *
 * - A node whose trust is in `drainOn` (default untrusted, stale) is drained with
 *   `scontrol update NodeName=X State=DRAIN Reason="nodeseal: <code> <detail>"`, unless it is
 *   already drained (an admin's reason is never overwritten).
 * - A node that is trusted again is resumed only when its current Reason begins with
 *   `nodeseal:`: a node an admin drained for any other reason stays drained.
 * - mode `report-only` logs what it would do; `off` does nothing.
 * - Commands go through an injected runner with a timeout, one at a time per node (the
 *   latest wanted state wins when changes arrive faster than scontrol answers). Failures are
 *   logged and counted, never thrown to the event bus.
 */
export type SlurmMode = 'off' | 'drain' | 'report-only';

export interface SlurmOptions {
  mode: SlurmMode;
  runner: CommandRunner;
  logger: Logger;
  /** Statuses that drain a node (default ['untrusted', 'stale']; 'unknown' nodes are left alone). */
  drainOn?: TrustStatus[];
  scontrol?: string;
  sinfo?: string;
  timeoutMs?: number;
  /** Maps a nodeseal node id to a Slurm node name (default: the id up to its first dot). */
  nodeName?: (nodeId: string) => string;
  /**
   * How often every node is compared with Slurm's view (default 60,000 ms; 0 = only at attach).
   * This resumes nodes drained by the prolog (reason `nodeseal: ...`) once they are trusted
   * again, and drains untrusted nodes that someone resumed by hand.
   */
  reconcileMs?: number;
  /**
   * After attach, `stale` does not drain for this long (default 120,000 ms): a collector that
   * was down longer than the freshness TTL finds every node stale at start, and agents need a
   * moment to reconnect and report before the whole cluster is drained. Reconcile catches up.
   */
  staleGraceMs?: number;
}

export const REASON_PREFIX = 'nodeseal:';
export const ERR_SLURM_NODE_STATE = 'ERR_SLURM_NODE_STATE';

export interface SlurmCounters {
  drained: number;
  resumed: number;
  reported: number;
  skipped: number;
  errors: number;
}

type Wanted = { action: 'drain'; reason: string } | { action: 'resume' } | { action: 'none' };

interface NodeState {
  drained: boolean;
  reason: string | null;
}

/** `sinfo -h -N -n X -o '%T|%E'` → first line: state (drained, draining, idle, ...) and reason ("none" when empty). */
export function parseSinfoNode(stdout: string): NodeState | null {
  const line = stdout.split('\n').find((l) => l.trim() !== '');
  if (!line) return null;
  const bar = line.indexOf('|');
  if (bar < 0) throw new NodesealError(ERR_SLURM_NODE_STATE, 'unexpected sinfo output', { details: { line: line.slice(0, 200) } });
  const state = line.slice(0, bar).trim().toLowerCase();
  const reason = line.slice(bar + 1).trim();
  return { drained: state.startsWith('drain') || state.includes('+drain'), reason: reason === '' || reason === 'none' ? null : reason };
}

/** `nodeseal: <code> <detail>`: one line, printable ASCII, bounded. */
export function drainReason(view: TrustView): string {
  const r = view.reasons[0];
  const more = view.reasons.length > 1 ? ` (+${view.reasons.length - 1} more)` : '';
  const text = r ? `${r.code} ${r.detail}${more}` : view.status;
  const clean = text
    .replace(/[^\x20-\x7e]/g, ' ')
    .replace(/["'`\\]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return `${REASON_PREFIX} ${clean}`.slice(0, 200);
}

export class SlurmIntegration {
  readonly counters: SlurmCounters = { drained: 0, resumed: 0, reported: 0, skipped: 0, errors: 0 };
  private readonly drainOn: Set<TrustStatus>;
  private readonly queues = new Map<string, { running: Promise<void>; next: Wanted | null }>();
  private readonly onChange = (v: TrustView) => this.submit(v);
  private cache: TrustCache | null = null;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private graceUntil = 0;

  constructor(private readonly opts: SlurmOptions) {
    this.drainOn = new Set(opts.drainOn ?? ['untrusted', 'stale']);
  }

  /** Follows the trust cache's changes; resolves when the first reconciliation is done. */
  attach(cache: TrustCache): Promise<void> {
    this.cache = cache;
    this.graceUntil = Date.now() + (this.opts.staleGraceMs ?? 120_000);
    if (this.opts.mode === 'off') return Promise.resolve();
    cache.on('change', this.onChange);
    const first = this.reconcile();
    const every = this.opts.reconcileMs ?? 60_000;
    if (every > 0) {
      this.reconcileTimer = setInterval(() => void this.reconcile(), every);
      this.reconcileTimer.unref();
    }
    return first;
  }

  detach(): void {
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    this.reconcileTimer = null;
    this.cache?.off('change', this.onChange);
    this.cache = null;
  }

  /**
   * One `sinfo` for the whole cluster, then queues an action for each node whose Slurm state
   * disagrees with its trust: drained by nodeseal but trusted, or to be drained but not drained.
   */
  async reconcile(): Promise<void> {
    const cache = this.cache;
    if (!cache || this.opts.mode === 'off') return;
    let listing: Map<string, NodeState>;
    try {
      const r = await this.opts.runner.run([this.opts.sinfo ?? 'sinfo', '-h', '-N', '-o', '%N|%T|%E'], {
        timeoutMs: this.opts.timeoutMs ?? 10_000,
      });
      if (r.exitCode !== 0)
        throw new NodesealError(ERR_INTEGRATION_COMMAND, `sinfo exited ${r.exitCode}: ${r.stderr.trim().slice(0, 200)}`);
      listing = new Map();
      for (const line of r.stdout.split('\n')) {
        const bar = line.indexOf('|');
        if (bar <= 0) continue;
        const st = parseSinfoNode(line.slice(bar + 1));
        if (st && !listing.has(line.slice(0, bar))) listing.set(line.slice(0, bar), st);
      }
    } catch (e) {
      this.counters.errors++;
      this.opts.logger.error(
        { integration: 'slurm', code: (e as NodesealError).code ?? 'ERR_INTERNAL', err: (e as Error).message },
        'slurm reconcile failed',
      );
      return;
    }
    const work: Promise<void>[] = [];
    for (const v of cache.all()) {
      const st = listing.get(this.nameOf(v.nodeId));
      if (!st) continue;
      const ours = st.drained && (st.reason ?? '').startsWith(REASON_PREFIX);
      if ((v.status === 'trusted' && ours) || (this.drainOn.has(v.status) && !st.drained)) work.push(this.submit(v)); // submit applies the stale grace
    }
    await Promise.all(work);
  }

  private nameOf(nodeId: string): string {
    return (this.opts.nodeName ?? ((id: string) => id.split('.')[0]!))(nodeId);
  }

  /** Queues the action for this view; resolves when the node's queue is idle. */
  submit(view: TrustView): Promise<void> {
    if (this.opts.mode === 'off') return Promise.resolve();
    const inGrace = view.status === 'stale' && Date.now() < this.graceUntil;
    const wanted: Wanted =
      this.drainOn.has(view.status) && !inGrace
        ? { action: 'drain', reason: drainReason(view) }
        : view.status === 'trusted'
          ? { action: 'resume' }
          : { action: 'none' };
    const name = this.nameOf(view.nodeId);
    if (!/^[A-Za-z0-9._-]{1,253}$/.test(name)) {
      this.counters.errors++;
      this.opts.logger.error({ integration: 'slurm', code: ERR_SLURM_NODE_STATE }, 'node id is not a valid Slurm node name; ignored');
      return Promise.resolve();
    }
    const q = this.queues.get(name);
    if (wanted.action === 'none') return q?.running ?? Promise.resolve();
    if (q) {
      q.next = wanted;
      return q.running;
    }
    const entry: { running: Promise<void>; next: Wanted | null } = { running: Promise.resolve(), next: null };
    const loop = async (first: Wanted) => {
      let w: Wanted | null = first;
      while (w) {
        await this.apply(name, w);
        w = entry.next;
        entry.next = null;
      }
      this.queues.delete(name);
    };
    this.queues.set(name, entry);
    entry.running = loop(wanted);
    return entry.running;
  }

  /** Resolves when every queued command has finished (tests, shutdown). */
  async drainQueues(): Promise<void> {
    while (this.queues.size) await Promise.all([...this.queues.values()].map((q) => q.running));
  }

  private async apply(name: string, w: Wanted): Promise<void> {
    const log = this.opts.logger.child({ integration: 'slurm', node: name });
    try {
      const st = await this.query(name);
      if (!st) {
        this.counters.skipped++;
        log.debug('not a Slurm node; nothing to do');
        return;
      }
      if (w.action === 'drain') {
        if (st.drained && !(st.reason ?? '').startsWith(REASON_PREFIX)) {
          this.counters.skipped++;
          log.info({ reason: st.reason }, 'already drained by someone else; leaving it as it is');
          return;
        }
        if (st.drained && st.reason === w.reason) return;
        if (this.opts.mode === 'report-only') {
          this.counters.reported++;
          log.warn({ reason: w.reason }, 'report-only: would drain');
          return;
        }
        await this.scontrol(['update', `NodeName=${name}`, 'State=DRAIN', `Reason=${w.reason}`]);
        this.counters.drained++;
        log.warn({ reason: w.reason }, 'drained');
      } else if (w.action === 'resume') {
        if (!st.drained) return;
        if (!(st.reason ?? '').startsWith(REASON_PREFIX)) {
          this.counters.skipped++;
          log.info({ reason: st.reason }, 'drained for another reason; not resuming');
          return;
        }
        if (this.opts.mode === 'report-only') {
          this.counters.reported++;
          log.info('report-only: would resume');
          return;
        }
        await this.scontrol(['update', `NodeName=${name}`, 'State=RESUME']);
        this.counters.resumed++;
        log.info('resumed');
      }
    } catch (e) {
      this.counters.errors++;
      log.error({ code: (e as NodesealError).code ?? 'ERR_INTERNAL', err: (e as Error).message }, 'slurm command failed');
    }
  }

  private async query(name: string): Promise<NodeState | null> {
    const r = await this.opts.runner.run([this.opts.sinfo ?? 'sinfo', '-h', '-N', '-n', name, '-o', '%T|%E'], {
      timeoutMs: this.opts.timeoutMs ?? 10_000,
    });
    if (r.exitCode !== 0) throw new NodesealError(ERR_INTEGRATION_COMMAND, `sinfo exited ${r.exitCode}: ${r.stderr.trim().slice(0, 200)}`);
    return parseSinfoNode(r.stdout);
  }

  private async scontrol(args: string[]): Promise<void> {
    const r = await this.opts.runner.run([this.opts.scontrol ?? 'scontrol', ...args], { timeoutMs: this.opts.timeoutMs ?? 10_000 });
    if (r.exitCode !== 0)
      throw new NodesealError(ERR_INTEGRATION_COMMAND, `scontrol exited ${r.exitCode}: ${r.stderr.trim().slice(0, 200)}`);
  }
}
