import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import { UserError, ERR_CONFIG } from '../../shared/src/errors.js';
import type { TrustStatus } from '../../shared/src/report/types.js';
import type { CollectorEventMap, CollectorEvents } from './events.js';
import type { Role, Route } from './http/router.js';
import type { TrustView } from './trust/cache.js';

/**
 * Prometheus metrics (`GET /metrics`, text format), all named `nodeseal_*` with HELP lines.
 *
 * Cardinality stays bounded whatever the fleet size:
 *   - no metric has a node label except nodeseal_node_last_verified_age_seconds, which lists
 *     only the `perNodeLimit` (default 20, 0 = none) nodes with the oldest verified report;
 *   - freshness of the whole fleet is a fixed set of age windows (nodes_verified_within) plus the max;
 *   - spool backlog is a sum, a max and a histogram, never per node;
 *   - code labels (rejections, drift) accept only well-formed codes and at most `maxCodeLabels`
 *     distinct values each; anything else counts under `other`.
 * Per-node state kept in memory is one number per node (latest spool backlog).
 */
export interface MetricsDeps {
  events: CollectorEvents;
  /** The trust cache: current (effective) status and last fresh verification of every node. */
  trust: { all(): TrustView[] };
  now?: () => number;
  perNodeLimit?: number;
  maxCodeLabels?: number;
  /** Alert outbox sizes, when alerts are configured. */
  alerts?: { counts(): Promise<{ pending: number; dead: number }> };
  /** Open live dashboard streams. */
  liveClients?: () => number;
  /** Who may scrape: 'public' (default, like most exporters) or a minimum role. */
  role?: Role | 'public';
  /** Process metrics (CPU, memory, event loop, GC); default true. */
  processMetrics?: boolean;
}

export interface Metrics {
  registry: Registry;
  routes: Route[];
  /** Feed alert dispatcher outcomes here (startAlerts's onAttempt). */
  alertAttempt(webhook: string, outcome: 'delivered' | 'retry' | 'dead'): void;
  /** Feed alert outbox overflows here (startAlerts's onOverflow). */
  alertOverflow(webhook: string, moved: number): void;
  close(): void;
}

/** The `metrics` config section: `{public: true, perNodeLimit: 20, maxCodeLabels: 64}` by default. */
export interface MetricsConfig {
  /** false: scraping needs a viewer token (Prometheus `authorization` / bearer_token_file). */
  public: boolean;
  perNodeLimit: number;
  maxCodeLabels: number;
}

const metricsSchema = z
  .object({
    public: z.boolean().default(true),
    perNodeLimit: z.number().int().min(0).max(1000).default(20),
    maxCodeLabels: z.number().int().min(1).max(1000).default(64),
  })
  .strict();

export function parseMetricsConfig(raw: unknown): MetricsConfig {
  const r = metricsSchema.safeParse(raw ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `metrics.${i.path.join('.')}: ${i.message}`);
    throw new UserError(ERR_CONFIG, `invalid metrics config: ${problems.join('; ')}`, { details: { problems } });
  }
  return r.data;
}

const STATUSES: TrustStatus[] = ['trusted', 'untrusted', 'unknown', 'stale'];
const AGE_WINDOWS: Array<[string, number]> = [
  ['60', 60],
  ['300', 300],
  ['900', 900],
  ['3600', 3600],
  ['86400', 86400],
  ['+Inf', Number.POSITIVE_INFINITY],
];

/** A label value from an untrusted-ish source, kept to a bounded set. */
class BoundedLabel {
  private readonly seen = new Set<string>();
  constructor(
    private readonly pattern: RegExp,
    private readonly max: number,
  ) {}
  of(v: string): string {
    if (this.seen.has(v)) return v;
    if (!this.pattern.test(v) || this.seen.size >= this.max) return 'other';
    this.seen.add(v);
    return v;
  }
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const now = deps.now ?? Date.now;
  const registry = new Registry();
  if (deps.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'nodeseal_' });
  const perNodeLimit = Math.max(0, deps.perNodeLimit ?? 20);
  const rejectCodes = new BoundedLabel(/^ERR_[A-Z0-9_]{1,60}$/, deps.maxCodeLabels ?? 64);
  const driftCodes = new BoundedLabel(/^[a-z][a-z0-9_]{0,30}\.[a-z0-9_.]{1,60}$/, deps.maxCodeLabels ?? 64);

  /**
   * One pass over the trust cache per scrape (the gauges below share it): counts by status and
   * the age of every verified node's last fresh report. Reused for 1 s so one scrape reads once.
   */
  let snap: { at: number; counts: Record<TrustStatus, number>; ages: Array<{ nodeId: string; age: number }> } | null = null;
  const snapshot = () => {
    const t = now();
    if (snap && t - snap.at < 1000 && t >= snap.at) return snap;
    const counts: Record<TrustStatus, number> = { trusted: 0, untrusted: 0, unknown: 0, stale: 0 };
    const ages: Array<{ nodeId: string; age: number }> = [];
    for (const v of deps.trust.all()) {
      counts[v.status]++;
      if (v.verifiedAt) ages.push({ nodeId: v.nodeId, age: Math.max(0, (t - Date.parse(v.verifiedAt)) / 1000) });
    }
    snap = { at: t, counts, ages };
    return snap;
  };

  new Gauge({
    name: 'nodeseal_nodes',
    help: 'Nodes by current trust status (stale computed from the freshness TTL).',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      const { counts } = snapshot();
      for (const s of STATUSES) this.set({ status: s }, counts[s]);
    },
  });
  const verified = new Counter({
    name: 'nodeseal_reports_verified_total',
    help: 'Reports that passed verification, by verdict and kind (fresh = answered a nonce, history = spooled offline).',
    labelNames: ['status', 'kind'],
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'nodeseal_reports_rejected_total',
    help: 'Reports and frames rejected, by error code (unknown codes count as other).',
    labelNames: ['code'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'nodeseal_verification_duration_seconds',
    help: 'Time from report receipt to verdict (verify, compare, persist).',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const drift = new Counter({
    name: 'nodeseal_drift_total',
    help: 'Drift reasons seen in verified reports, by drift code.',
    labelNames: ['code'],
    registers: [registry],
  });
  const connections = new Map<string, number>();
  new Gauge({
    name: 'nodeseal_agents_connected',
    help: 'Agents with an open WebSocket session.',
    registers: [registry],
    collect() {
      this.set(connections.size);
    },
  });
  const backlog = new Map<string, number>();
  new Gauge({
    name: 'nodeseal_agent_spool_backlog_reports',
    help: "Sum over nodes of the agent's unacknowledged spooled reports, as last reported.",
    registers: [registry],
    collect() {
      let s = 0;
      for (const v of backlog.values()) s += v;
      this.set(s);
    },
  });
  new Gauge({
    name: 'nodeseal_agent_spool_backlog_max_reports',
    help: 'Largest spool backlog any single node last reported.',
    registers: [registry],
    collect() {
      let m = 0;
      for (const v of backlog.values()) m = Math.max(m, v);
      this.set(m);
    },
  });
  const backlogHist = new Histogram({
    name: 'nodeseal_agent_spool_backlog',
    help: 'Spool backlog carried by each verified report.',
    buckets: [0, 1, 2, 5, 10, 50, 100, 500, 1000],
    registers: [registry],
  });

  const ages = () => snapshot().ages;
  new Gauge({
    name: 'nodeseal_nodes_verified_within',
    help: 'Nodes whose last fresh verified report is at most `window` seconds old (+Inf: every node ever verified).',
    labelNames: ['window'],
    registers: [registry],
    collect() {
      const n = AGE_WINDOWS.map(() => 0);
      for (const x of ages()) for (const [i, [, sec]] of AGE_WINDOWS.entries()) if (x.age <= sec) n[i]!++;
      for (const [i, [label]] of AGE_WINDOWS.entries()) this.set({ window: label }, n[i]!);
    },
  });
  new Gauge({
    name: 'nodeseal_last_verified_age_max_seconds',
    help: 'Seconds since the last fresh verified report of the node that has waited longest (nodes ever verified).',
    registers: [registry],
    collect() {
      this.set(ages().reduce((m, x) => Math.max(m, x.age), 0));
    },
  });
  new Gauge({
    name: 'nodeseal_node_last_verified_age_seconds',
    help: `Seconds since the last fresh verified report, only for the ${perNodeLimit} nodes that have waited longest (bounded cardinality).`,
    labelNames: ['node'],
    registers: [registry],
    collect() {
      this.reset();
      if (perNodeLimit === 0) return;
      // Partial selection of the N oldest: O(nodes × N) with N small, no full sort.
      const top: Array<{ nodeId: string; age: number }> = [];
      for (const x of ages()) {
        if (top.length < perNodeLimit) top.push(x);
        else if (x.age > top[top.length - 1]!.age) top[top.length - 1] = x;
        else continue;
        top.sort((p, q) => q.age - p.age);
      }
      for (const x of top) this.set({ node: x.nodeId }, x.age);
    },
  });
  const alertAttempts = new Counter({
    name: 'nodeseal_alert_attempts_total',
    help: 'Webhook delivery attempts by outcome (delivered, retry, dead).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const alertOverflow = new Counter({
    name: 'nodeseal_alert_outbox_overflow_total',
    help: 'Pending alerts moved to dead-letter because a webhook reached its maxPending cap (ERR_ALERT_OUTBOX_FULL).',
    registers: [registry],
  });
  if (deps.alerts) {
    const alerts = deps.alerts;
    new Gauge({
      name: 'nodeseal_alert_outbox',
      help: 'Alert outbox rows waiting for delivery (pending) or dead-lettered (dead).',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        const c = await alerts.counts();
        this.set({ state: 'pending' }, c.pending);
        this.set({ state: 'dead' }, c.dead);
      },
    });
  }
  if (deps.liveClients) {
    const live = deps.liveClients;
    new Gauge({
      name: 'nodeseal_live_clients',
      help: 'Open live event streams (dashboards).',
      registers: [registry],
      collect() {
        this.set(live());
      },
    });
  }

  const on = {
    verified: (e: CollectorEventMap['report-verified'][0]) => {
      verified.inc({ status: e.status, kind: e.fresh ? 'fresh' : 'history' });
      latency.observe(Math.max(0, e.latencyMs) / 1000);
      if (e.spoolBacklog !== null && Number.isFinite(e.spoolBacklog) && e.spoolBacklog >= 0) {
        backlog.set(e.nodeId, e.spoolBacklog);
        backlogHist.observe(e.spoolBacklog);
      }
    },
    rejected: (e: CollectorEventMap['report-rejected'][0]) => rejected.inc({ code: rejectCodes.of(e.code) }),
    drift: (e: CollectorEventMap['drift'][0]) => {
      for (const r of e.reasons) drift.inc({ code: driftCodes.of(r.code) });
    },
    connected: (e: CollectorEventMap['agent-connected'][0]) => connections.set(e.nodeId, (connections.get(e.nodeId) ?? 0) + 1),
    disconnected: (e: CollectorEventMap['agent-disconnected'][0]) => {
      const n = (connections.get(e.nodeId) ?? 0) - 1;
      if (n > 0) connections.set(e.nodeId, n);
      else connections.delete(e.nodeId);
    },
  };
  deps.events.on('report-verified', on.verified);
  deps.events.on('report-rejected', on.rejected);
  deps.events.on('drift', on.drift);
  deps.events.on('agent-connected', on.connected);
  deps.events.on('agent-disconnected', on.disconnected);

  const routes: Route[] = [
    {
      method: 'GET',
      path: '/metrics',
      role: deps.role ?? 'public',
      async handler({ res }) {
        const text = await registry.metrics();
        res.writeHead(200, {
          'content-type': registry.contentType,
          'cache-control': 'no-store',
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
        return undefined;
      },
    },
  ];

  return {
    registry,
    routes,
    alertAttempt: (_webhook, outcome) => alertAttempts.inc({ outcome }),
    alertOverflow: (_webhook, moved) => alertOverflow.inc(moved),
    close() {
      deps.events.off('report-verified', on.verified);
      deps.events.off('report-rejected', on.rejected);
      deps.events.off('drift', on.drift);
      deps.events.off('agent-connected', on.connected);
      deps.events.off('agent-disconnected', on.disconnected);
      registry.clear();
    },
  };
}
