import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectorEvents } from '../../../collector/src/events.js';
import { createMetrics, parseMetricsConfig, type Metrics } from '../../../collector/src/metrics.js';
import { TrustCache } from '../../../collector/src/trust/cache.js';
import type { NodeRecord } from '../../../collector/src/store/store.js';
import { serveRoutes } from './routes-server.js';
import { nodeRecord } from '../../helpers/records.js';

/** Minimal Prometheus text parser (the test's own): name{labels} value, plus HELP/TYPE lines. */
function parseProm(text: string): {
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
  help: Map<string, string>;
  type: Map<string, string>;
} {
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    let m = /^# HELP (\S+) (.+)$/.exec(line);
    if (m) {
      help.set(m[1]!, m[2]!);
      continue;
    }
    m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) {
      type.set(m[1]!, m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparseable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, help, type };
}

const T0 = Date.parse('2026-11-25T12:00:00.000Z');
const record = (nodeId: string, status: NodeRecord['status'], verifiedAgoSec: number | null): NodeRecord =>
  nodeRecord({
    nodeId,
    status,
    firstSeenAt: new Date(T0 - 86_400_000).toISOString(),
    lastSeenAt: null,
    verifiedAt: verifiedAgoSec === null ? null : new Date(T0 - verifiedAgoSec * 1000).toISOString(),
  });

describe('GET /metrics', () => {
  const events = new CollectorEvents();
  let clock = T0;
  const trust = new TrustCache({ now: () => clock, sweepMs: 0, freshnessTtlSec: 180 });
  let metrics: Metrics;
  let server: Awaited<ReturnType<typeof serveRoutes>>;

  beforeAll(async () => {
    // 30 nodes: 25 verified 10 s ago, n-25..n-27 verified long ago (stale), 2 never verified.
    for (let i = 0; i < 30; i++) {
      const ago = i < 25 ? 10 : i < 28 ? 1000 * (i - 24) : null;
      trust.setFromRecord(
        record(`n-${String(i).padStart(2, '0')}`, ago === null ? 'unknown' : i === 3 ? 'untrusted' : 'trusted', ago),
        false,
      );
    }
    trust.attach(events);
    metrics = createMetrics({
      events,
      trust,
      now: () => clock,
      perNodeLimit: 2,
      maxCodeLabels: 3,
      liveClients: () => 4,
      alerts: { counts: async () => ({ pending: 5, dead: 1 }) },
    });
    server = await serveRoutes(metrics.routes);
  });
  afterAll(async () => {
    await server.close();
    metrics.close();
    trust.close();
  });

  async function scrape() {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseProm(await res.text());
  }
  const value = (p: ReturnType<typeof parseProm>, name: string, labels: Record<string, string> = {}) =>
    p.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

  it('has HELP for every nodeseal_* family, and process metrics', async () => {
    const p = await scrape();
    const families = new Set([...p.type.keys()].filter((n) => n.startsWith('nodeseal_')));
    expect(families.size).toBeGreaterThan(15);
    for (const f of families) expect(p.help.get(f)?.length, f).toBeGreaterThan(10);
    expect([...p.type.keys()].filter((n) => !n.startsWith('nodeseal_'))).toEqual([]);
    expect(value(p, 'nodeseal_process_resident_memory_bytes')).toBeGreaterThan(1e6);
  });

  it('counts nodes by status, with stale computed from the freshness TTL', async () => {
    const p = await scrape();
    expect(value(p, 'nodeseal_nodes', { status: 'trusted' })).toBe(24);
    expect(value(p, 'nodeseal_nodes', { status: 'untrusted' })).toBe(1);
    expect(value(p, 'nodeseal_nodes', { status: 'stale' })).toBe(3);
    expect(value(p, 'nodeseal_nodes', { status: 'unknown' })).toBe(2);
    expect(value(p, 'nodeseal_live_clients')).toBe(4);
    expect(value(p, 'nodeseal_alert_outbox', { state: 'pending' })).toBe(5);
  });

  it('reports verified, rejected by code (bounded), latency, drift, connections and spool backlog', async () => {
    events.emit('agent-connected', { nodeId: 'n-00' });
    events.emit('agent-connected', { nodeId: 'n-01' });
    events.emit('agent-connected', { nodeId: 'n-01' }); // reconnect before the old socket closed
    events.emit('agent-disconnected', { nodeId: 'n-01' });
    events.emit('report-verified', { nodeId: 'n-00', seq: 2, status: 'trusted', latencyMs: 3, fresh: true, spoolBacklog: 0 });
    events.emit('report-verified', { nodeId: 'n-01', seq: 2, status: 'trusted', latencyMs: 7, fresh: false, spoolBacklog: 12 });
    events.emit('report-verified', { nodeId: 'n-02', seq: 2, status: 'untrusted', latencyMs: 400, fresh: true, spoolBacklog: 3 });
    for (const code of ['ERR_REPORT_SIGNATURE', 'ERR_REPORT_SIGNATURE', 'ERR_NONCE_REUSED', 'ERR_SEQ_REPLAY', 'ERR_FOURTH', 'garbage{"}'])
      events.emit('report-rejected', { nodeId: null, code });
    events.emit('drift', {
      nodeId: 'n-02',
      seq: 2,
      reasons: [{ code: 'gpu.vbios_changed', claim: 'firmware', detail: 'x' }],
      at: new Date(clock).toISOString(),
    });
    metrics.alertAttempt('ops', 'retry');
    const p = await scrape();
    expect(value(p, 'nodeseal_agents_connected')).toBe(2);
    expect(value(p, 'nodeseal_reports_verified_total', { status: 'trusted', kind: 'fresh' })).toBe(1);
    expect(value(p, 'nodeseal_reports_verified_total', { status: 'trusted', kind: 'history' })).toBe(1);
    expect(value(p, 'nodeseal_reports_rejected_total', { code: 'ERR_REPORT_SIGNATURE' })).toBe(2);
    // maxCodeLabels 3: the fourth distinct code and the malformed one count as other.
    expect(value(p, 'nodeseal_reports_rejected_total', { code: 'other' })).toBe(2);
    expect(p.samples.filter((s) => s.name === 'nodeseal_reports_rejected_total')).toHaveLength(4);
    expect(value(p, 'nodeseal_verification_duration_seconds_count')).toBe(3);
    expect(value(p, 'nodeseal_verification_duration_seconds_bucket', { le: '0.005' })).toBe(1);
    expect(value(p, 'nodeseal_verification_duration_seconds_bucket', { le: '0.5' })).toBe(3);
    expect(value(p, 'nodeseal_drift_total', { code: 'gpu.vbios_changed' })).toBe(1);
    expect(value(p, 'nodeseal_agent_spool_backlog_reports')).toBe(15);
    expect(value(p, 'nodeseal_agent_spool_backlog_max_reports')).toBe(12);
    expect(value(p, 'nodeseal_agent_spool_backlog_count')).toBe(3);
    expect(value(p, 'nodeseal_alert_attempts_total', { outcome: 'retry' })).toBe(1);
  });

  it('bounds per-node freshness series to the N oldest nodes and summarises the rest', async () => {
    clock = T0 + 5000;
    const p = await scrape();
    const perNode = p.samples.filter((s) => s.name === 'nodeseal_node_last_verified_age_seconds');
    expect(perNode.map((s) => s.labels.node)).toEqual(['n-27', 'n-26']);
    expect(perNode[0]!.value).toBeCloseTo(3005, 3);
    expect(value(p, 'nodeseal_last_verified_age_max_seconds')).toBeCloseTo(3005, 3);
    // n-00 and n-02 were verified fresh at T0 (age 5 s); 23 others at T0-10 s (age 15 s).
    expect(value(p, 'nodeseal_nodes_verified_within', { window: '60' })).toBe(25);
    expect(value(p, 'nodeseal_nodes_verified_within', { window: '900' })).toBe(25);
    expect(value(p, 'nodeseal_nodes_verified_within', { window: '3600' })).toBe(28);
    expect(value(p, 'nodeseal_nodes_verified_within', { window: '+Inf' })).toBe(28);
  });
});

describe('metrics config', () => {
  it('defaults to a public endpoint with 20 per-node series, and rejects unknown or bad fields with ERR_CONFIG', () => {
    expect(parseMetricsConfig(undefined)).toEqual({ public: true, perNodeLimit: 20, maxCodeLabels: 64 });
    expect(() => parseMetricsConfig({ perNodeLimit: -1 })).toThrowError(
      expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining('metrics.perNodeLimit') }),
    );
    expect(() => parseMetricsConfig({ pubic: false })).toThrowError(expect.objectContaining({ code: 'ERR_CONFIG' }));
  });

  it('asks for a viewer token when not public', async () => {
    const events = new CollectorEvents();
    const trust = new TrustCache({ sweepMs: 0 });
    const m = createMetrics({
      events,
      trust,
      role: parseMetricsConfig({ public: false }).public ? 'public' : 'viewer',
      processMetrics: false,
    });
    const s = await serveRoutes(m.routes, { prom: { name: 'prometheus', role: 'viewer' } });
    try {
      expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
      const ok = await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer prom' } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('# HELP nodeseal_nodes ');
    } finally {
      await s.close();
      m.close();
      trust.close();
    }
  });
});
