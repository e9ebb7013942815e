import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetIndex } from '../../../collector/src/dashboard/fleet.js';
import { CollectorEvents } from '../../../collector/src/events.js';
import { openSqliteStore } from '../../../collector/src/store/index.js';
import type { NodeRecord, Store } from '../../../collector/src/store/store.js';
import { TrustCache } from '../../../collector/src/trust/cache.js';
import type { TrustStatus } from '../../../shared/src/report/types.js';

const NOW = Date.parse('2026-11-25T12:00:00.000Z');
const dir = mkdtempSync(join(tmpdir(), 'nodeseal-fleet-'));

function record(i: number): NodeRecord {
  const id = `node-${String(i).padStart(4, '0')}`;
  const status: TrustStatus = i % 10 === 0 ? 'untrusted' : i % 17 === 0 ? 'unknown' : 'trusted';
  return {
    nodeId: id,
    jwk: null,
    kid: null,
    akPublic: null,
    lastSeq: 1,
    status,
    reasons:
      status === 'untrusted'
        ? [{ code: i % 20 === 0 ? 'gpu.replaced' : 'platform.bios_changed', claim: 'hardware', detail: `detail ${i}` }]
        : [],
    firstSeenAt: new Date(NOW - 86_400_000).toISOString(),
    lastSeenAt: new Date(NOW).toISOString(),
    // Every 7th trusted node last verified an hour ago: stale with a 180 s TTL.
    verifiedAt: status === 'unknown' ? null : new Date(NOW - (i % 7 === 0 ? 3_600_000 : 10_000)).toISOString(),
    enrolledVia: 'tofu',
    revokedAt: null,
    summary: {
      gpuCount: 8,
      gpuModel: i % 2 ? 'NVIDIA H100 80GB HBM3' : 'NVIDIA A100-SXM4-80GB',
      driver: i % 3 ? '550.54.15' : '535.54.03',
      vbios: ['96.00.5E.00.01'],
      biosVersion: '2.1',
      inventoryDigest: 'sha256:00',
      pcrDigest: null,
    },
  };
}

describe('FleetIndex over a real SQLite store', () => {
  let store: Store;
  const events = new CollectorEvents();
  const trust = new TrustCache({ now: () => NOW, sweepMs: 0, freshnessTtlSec: 180 });
  let fleet: FleetIndex;
  beforeAll(async () => {
    store = await openSqliteStore(join(dir, 'fleet.db'));
    for (let i = 1; i <= 120; i++) await store.upsertNode(record(i));
    await trust.load(store);
    trust.attach(events);
    fleet = new FleetIndex({ store, events, trust });
    await fleet.load(50); // several pages
  });
  afterAll(async () => {
    fleet.close();
    trust.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts by effective status and lists nodes needing attention first', () => {
    const p = fleet.query({ limit: 500 });
    // untrusted: multiples of 10 (12); unknown: multiples of 17 (7); stale: the other multiples of 7 (15).
    expect(p.counts).toEqual({ untrusted: 12, unknown: 7, stale: 15, trusted: 86 });
    expect(p.total).toBe(120);
    const order = p.rows.map((r) => r.status);
    expect(order.indexOf('stale')).toBe(12);
    expect(order.lastIndexOf('untrusted')).toBe(11);
    expect(order.indexOf('unknown')).toBe(27);
    expect(order.slice(34).every((s) => s === 'trusted')).toBe(true);
    expect(p.rows[0]!.nodeId).toBe('node-0010');
  });

  it('filters by status, drift code, GPU model, driver and id search, and pages', () => {
    expect(fleet.query({ status: 'stale' }).rows.every((r) => r.status === 'stale' && Number(r.nodeId.slice(5)) % 7 === 0)).toBe(true);
    expect(fleet.query({ code: 'gpu.replaced' }).rows.map((r) => r.nodeId)).toEqual([
      'node-0020',
      'node-0040',
      'node-0060',
      'node-0080',
      'node-0100',
      'node-0120',
    ]);
    const h100 = fleet.query({ gpuModel: 'NVIDIA H100 80GB HBM3', driver: '535.54.03', limit: 500 });
    expect(h100.total).toBe(20); // odd multiples of 3 up to 120
    expect(fleet.query({ search: 'NODE-011' }).total).toBe(10);
    const p2 = fleet.query({ offset: 50, limit: 50 });
    expect([p2.offset, p2.rows.length, p2.total]).toEqual([50, 50, 120]);
    expect(fleet.query({ offset: 100, limit: 50 }).rows).toHaveLength(20);
    expect(fleet.query({}).facets).toEqual({
      codes: ['freshness.expired', 'gpu.replaced', 'node.never_verified', 'platform.bios_changed'],
      gpuModels: ['NVIDIA A100-SXM4-80GB', 'NVIDIA H100 80GB HBM3'],
      drivers: ['535.54.03', '550.54.15'],
    });
  });

  it('picks up changes from the event bus without reloading the fleet', async () => {
    const n = record(3);
    const changed: NodeRecord = {
      ...n,
      status: 'untrusted',
      reasons: [{ code: 'gpu.vbios_changed', claim: 'firmware', detail: 'GPU 0' }],
      summary: { ...n.summary!, driver: '560.28.03' },
    };
    await store.upsertNode(changed);
    events.emit('status-changed', {
      nodeId: n.nodeId,
      from: 'trusted',
      to: 'untrusted',
      reasons: changed.reasons,
      at: new Date(NOW).toISOString(),
    });
    await fleet.flush();
    const p = fleet.query({ code: 'gpu.vbios_changed' });
    expect(p.rows.map((r) => [r.nodeId, r.status, r.driver])).toEqual([['node-0003', 'untrusted', '560.28.03']]);
    expect(p.counts.untrusted).toBe(13);
  });
});
