import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CollectorEvents } from '../../../collector/src/events.js';
import type { NodeRecord, NodeQuery, Store } from '../../../collector/src/store/store.js';
import { createTrust, TrustCache, TrustWatchHub, trustRoutes, type TrustModule } from '../../../collector/src/trust/index.js';
import { serveRoutes } from './serve-routes.js';
import { nodeRecord } from '../../helpers/records.js';

function record(nodeId: string, status: NodeRecord['status'], verifiedAt: string | null, extra: Partial<NodeRecord> = {}): NodeRecord {
  return nodeRecord({
    nodeId,
    status,
    reasons:
      status === 'untrusted'
        ? [{ code: 'gpu.vbios_changed', claim: 'firmware', detail: 'GPU 0 VBIOS 96.00.5E.00.01 -> 96.00.5E.00.02' }]
        : [],
    firstSeenAt: '2026-01-01T00:00:00.000Z',
    lastSeenAt: verifiedAt,
    verifiedAt,
    ...extra,
  });
}

/** A hand-written store fake: only listNodes, with real paging. */
function fakeStore(nodes: NodeRecord[]): Pick<Store, 'listNodes'> & { calls: NodeQuery[] } {
  const calls: NodeQuery[] = [];
  return {
    calls,
    async listNodes(q: NodeQuery = {}) {
      calls.push(q);
      const off = q.offset ?? 0;
      return { nodes: nodes.slice(off, off + (q.limit ?? nodes.length)), total: nodes.length };
    },
  };
}

describe('TrustCache', () => {
  it('loads every page from the store and computes stale at read time', async () => {
    let now = Date.parse('2026-05-01T12:00:00.000Z');
    const nodes = Array.from({ length: 5 }, (_, i) => record(`gpu00${i}`, 'trusted', '2026-05-01T11:59:00.000Z'));
    nodes.push(record('old1', 'trusted', '2026-05-01T11:00:00.000Z'), record('bad1', 'untrusted', '2026-05-01T11:59:30.000Z'));
    const store = fakeStore(nodes);
    const cache = new TrustCache({ freshnessTtlSec: 180, now: () => now, sweepMs: 0 });
    expect(await cache.load(store, 2)).toBe(7);
    expect(store.calls.length).toBe(4);
    expect(cache.get('gpu000')).toEqual({
      nodeId: 'gpu000',
      status: 'trusted',
      reasons: [],
      verifiedAt: '2026-05-01T11:59:00.000Z',
      expiresAt: '2026-05-01T12:02:00.000Z',
    });
    expect(cache.get('old1')!.status).toBe('stale');
    expect(cache.get('old1')!.reasons[0]!.code).toBe('freshness.expired');
    expect(cache.get('bad1')!.status).toBe('untrusted');
    expect(cache.get('nope')).toBeNull();
    now += 200_000;
    expect(cache.get('gpu000')!.status).toBe('stale');
    // untrusted stays untrusted when it expires: staleness never hides drift
    expect(cache.get('bad1')!.status).toBe('untrusted');
    cache.close();
  });

  it('follows the event bus and publishes silent expiries once', async () => {
    let now = Date.parse('2026-05-01T12:00:00.000Z');
    const events = new CollectorEvents();
    const cache = new TrustCache({ freshnessTtlSec: 60, now: () => now, sweepMs: 0 });
    cache.attach(events);
    const changes: string[] = [];
    cache.on('change', (c) => changes.push(`${c.nodeId}:${c.from}->${c.status}`));
    events.emit('report-verified', { nodeId: 'n1', seq: 1, status: 'trusted', latencyMs: 3, fresh: true, spoolBacklog: 0 });
    events.emit('status-changed', { nodeId: 'n1', from: null, to: 'trusted', reasons: [], at: new Date(now).toISOString() });
    expect(cache.get('n1')!.verifiedAt).toBe('2026-05-01T12:00:00.000Z');
    // a spooled (history) report is not fresh proof: verifiedAt does not move
    now += 30_000;
    events.emit('report-verified', { nodeId: 'n1', seq: 2, status: 'trusted', latencyMs: 3, fresh: false, spoolBacklog: 3 });
    expect(cache.get('n1')!.verifiedAt).toBe('2026-05-01T12:00:00.000Z');
    now += 31_000;
    cache.sweep();
    cache.sweep();
    events.emit('status-changed', {
      nodeId: 'n1',
      from: 'trusted',
      to: 'untrusted',
      reasons: [{ code: 'gpu.replaced', claim: 'hardware', detail: 'x' }],
      at: '',
    });
    expect(changes).toEqual(['n1:null->unknown', 'n1:unknown->trusted', 'n1:trusted->stale', 'n1:stale->untrusted']);
    cache.close();
  });

  it('marks a revoked node untrusted', async () => {
    const cache = new TrustCache({ sweepMs: 0, now: () => Date.parse('2026-05-01T12:00:00.000Z') });
    await cache.load(fakeStore([record('r1', 'trusted', '2026-05-01T11:59:59.000Z', { revokedAt: '2026-05-01T11:59:59.500Z' })]));
    expect(cache.get('r1')!.status).toBe('untrusted');
    expect(cache.get('r1')!.reasons[0]!.code).toBe('node.revoked');
    cache.close();
  });
});

describe('trust HTTP API on a real server', () => {
  const events = new CollectorEvents();
  let trust: TrustModule;
  let srv: Awaited<ReturnType<typeof serveRoutes>>;
  const recent = () => new Date(Date.now() - 1000).toISOString();

  beforeAll(async () => {
    trust = await createTrust({
      store: fakeStore([
        record('gpu001', 'trusted', recent()),
        record('gpu002', 'untrusted', recent()),
        record('gpu003', 'trusted', recent()),
      ]),
      events,
      cache: { freshnessTtlSec: 300, sweepMs: 0 },
      watch: { heartbeatMs: 50 },
      hostlistLimits: { maxHosts: 1000 },
    });
    srv = await serveRoutes(trust.routes);
  });
  afterAll(async () => {
    trust.close();
    await srv.close();
  });

  it('GET /v1/nodes/:id/trust answers one node; unknown node is 404 with a code', async () => {
    const r = await fetch(`${srv.url}/v1/nodes/gpu002/trust`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { status: string; reasons: { code: string }[]; expiresAt: string; verifiedAt: string };
    expect(body.status).toBe('untrusted');
    expect(body.reasons[0]!.code).toBe('gpu.vbios_changed');
    expect(Date.parse(body.expiresAt) - Date.parse(body.verifiedAt)).toBe(300_000);
    const nf = await fetch(`${srv.url}/v1/nodes/nope/trust`);
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as { error: { code: string } }).error.code).toBe('ERR_TRUST_NODE_UNKNOWN');
  });

  it('GET /v1/trust expands hostlists and lists unknown names as unknown', async () => {
    const r = await fetch(`${srv.url}/v1/trust?nodes=${encodeURIComponent('gpu[001-004]')}`);
    const body = (await r.json()) as { nodes: { nodeId: string; status: string }[]; counts: Record<string, number> };
    expect(body.nodes.map((n) => `${n.nodeId}=${n.status}`)).toEqual([
      'gpu001=trusted',
      'gpu002=untrusted',
      'gpu003=trusted',
      'gpu004=unknown',
    ]);
    expect(body.counts).toEqual({ trusted: 2, untrusted: 1, unknown: 1, stale: 0 });
    const only = (await (await fetch(`${srv.url}/v1/trust?status=untrusted`)).json()) as { nodes: { nodeId: string }[] };
    expect(only.nodes.map((n) => n.nodeId)).toEqual(['gpu002']);
  });

  it.each([
    ['nodes=gpu[1-', 400, 'ERR_HOSTLIST_SYNTAX'],
    ['nodes=gpu[0-99999999999]', 400, 'ERR_HOSTLIST_TOO_LARGE'],
    ['nodes=n[1-1001]', 400, 'ERR_HOSTLIST_TOO_LARGE'],
    ['status=fine', 400, 'ERR_TRUST_QUERY'],
  ])('GET /v1/trust?%s → %i %s', async (q, status, code) => {
    const r = await fetch(`${srv.url}/v1/trust?${q.replace('[', '%5B').replace(']', '%5D')}`);
    expect(r.status).toBe(status);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe(code);
  });

  it('GET /v1/trust/watch streams snapshot and changes (SSE), filtered by hostlist', async () => {
    const ac = new AbortController();
    const r = await fetch(`${srv.url}/v1/trust/watch?snapshot=1&nodes=gpu%5B001-002%5D`, { signal: ac.signal });
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = r.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    const until = async (pred: (t: string) => boolean) => {
      while (!pred(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += dec.decode(value);
      }
    };
    await until((t) => (t.match(/event: snapshot/g) ?? []).length === 2);
    expect(trust.watch.count).toBe(1);
    events.emit('status-changed', { nodeId: 'gpu003', from: 'trusted', to: 'untrusted', reasons: [], at: '' }); // filtered out
    events.emit('status-changed', {
      nodeId: 'gpu001',
      from: 'trusted',
      to: 'untrusted',
      reasons: [{ code: 'gpu.replaced', claim: 'hardware', detail: 'GPU 1 serial changed' }],
      at: '',
    });
    await until((t) => t.includes('event: trust'));
    await until((t) => t.includes(': ping'));
    const frame = text.split('\n\n').find((f) => f.startsWith('event: trust'))!;
    const data = JSON.parse(
      frame
        .split('\n')
        .find((l) => l.startsWith('data: '))!
        .slice(6),
    ) as { nodeId: string; from: string; status: string; reasons: { code: string }[] };
    expect(data).toMatchObject({ nodeId: 'gpu001', from: 'trusted', status: 'untrusted' });
    expect(data.reasons[0]!.code).toBe('gpu.replaced');
    expect(text).not.toContain('"nodeId":"gpu003","from"');
    ac.abort();
    await new Promise((res) => setTimeout(res, 50));
    expect(trust.watch.count).toBe(0);
  });

  it('drops a watcher that stops reading instead of buffering without bound', async () => {
    const { connect } = await import('node:net');
    const hub = new TrustWatchHub(trust.cache, { maxBufferedBytes: 64 * 1024, heartbeatMs: 60_000 });
    const slow = await serveRoutes(trustRoutes({ cache: trust.cache, watch: hub }));
    const port = Number(new URL(slow.url).port);
    const sock = connect(port, '127.0.0.1');
    sock.write('GET /v1/trust/watch HTTP/1.1\r\nHost: x\r\n\r\n');
    for (let i = 0; i < 50 && hub.count === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(hub.count).toBe(1);
    sock.pause(); // never reads again
    const big = [{ code: 'gpu.replaced', claim: 'hardware' as const, detail: 'x'.repeat(4000) }];
    for (let i = 0; i < 2000 && hub.count > 0; i++) {
      events.emit('status-changed', {
        nodeId: 'gpu003',
        from: null,
        to: i % 2 ? 'trusted' : 'untrusted',
        reasons: i % 2 ? [] : big,
        at: '',
      });
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    expect(hub.count).toBe(0);
    sock.destroy();
    hub.close();
    await slow.close();
  });

  it('refuses watchers beyond the limit with ERR_TRUST_WATCH_LIMIT', async () => {
    const hub = new TrustWatchHub(trust.cache, { maxWatchers: 1 });
    const s2 = await serveRoutes(trustRoutes({ cache: trust.cache, watch: hub }));
    const ac = new AbortController();
    const first = await fetch(`${s2.url}/v1/trust/watch`, { signal: ac.signal });
    expect(first.status).toBe(200);
    const second = await fetch(`${s2.url}/v1/trust/watch`);
    expect(second.status).toBe(503);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('ERR_TRUST_WATCH_LIMIT');
    ac.abort();
    hub.close();
    await s2.close();
  });
});
