import { connect } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LiveHub } from '../../../collector/src/api/live.js';
import { CollectorEvents } from '../../../collector/src/events.js';
import { serveRoutes } from '../metrics/routes-server.js';

const viewer = { v: { name: 'viewer', role: 'viewer' as const } };

/** Reads an SSE stream over fetch (the test's own parser). */
async function stream(url: string, headers: Record<string, string> = {}) {
  const ac = new AbortController();
  const res = await fetch(`${url}/v1/events`, { headers: { authorization: 'Bearer v', ...headers }, signal: ac.signal });
  const frames: Array<{ id?: string; event?: string; data?: string; comment?: string }> = [];
  let buf = '';
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const f: (typeof frames)[number] = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) f.comment = line.slice(1).trim();
          else {
            const k = line.slice(0, line.indexOf(':'));
            const v = line.slice(line.indexOf(':') + 1).trimStart();
            if (k === 'id' || k === 'event' || k === 'data') f[k] = v;
          }
        }
        frames.push(f);
      }
    }
  })();
  const waitFor = async (pred: (f: (typeof frames)[number]) => boolean, ms = 5000) => {
    const end = Date.now() + ms;
    for (;;) {
      const f = frames.find(pred);
      if (f) return f;
      if (Date.now() > end) throw new Error(`no matching SSE frame; got ${JSON.stringify(frames)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return {
    res,
    frames,
    waitFor,
    close: async () => {
      ac.abort();
      await pump;
    },
  };
}

describe('GET /v1/events (live stream)', () => {
  const events = new CollectorEvents();
  const hubs: LiveHub[] = [];
  const servers: Array<{ close(): Promise<void> }> = [];
  async function start(opts: ConstructorParameters<typeof LiveHub>[2] = {}) {
    const hub = new LiveHub(events, null, { heartbeatMs: 50, activityMs: 30, ...opts });
    hubs.push(hub);
    const s = await serveRoutes(hub.routes(), viewer);
    servers.push(s);
    return { hub, url: s.url };
  }
  afterEach(async () => {
    for (const h of hubs.splice(0)) h.close();
    for (const s of servers.splice(0)) await s.close();
  });
  afterAll(() => events.removeAllListeners());

  it('needs a token, streams bus events with ids, heartbeats and coalesced activity', async () => {
    const { url } = await start();
    expect((await fetch(`${url}/v1/events`)).status).toBe(401);
    const s = await stream(url);
    expect(s.res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await s.waitFor((f) => f.comment === 'connected');
    events.emit('status-changed', {
      nodeId: 'gpu-01',
      from: 'trusted',
      to: 'untrusted',
      reasons: [{ code: 'gpu.replaced', claim: 'hardware', detail: 'x' }],
      at: '2026-11-25T10:00:00Z',
    });
    events.emit('drift', { nodeId: 'gpu-01', seq: 4, reasons: [], at: '2026-11-25T10:00:00Z' });
    for (let i = 0; i < 5; i++)
      events.emit('report-verified', { nodeId: `gpu-0${i}`, seq: 1, status: 'trusted', latencyMs: 1, fresh: true, spoolBacklog: 0 });
    const st = await s.waitFor((f) => f.event === 'status');
    expect(JSON.parse(st.data!)).toMatchObject({ nodeId: 'gpu-01', from: 'trusted', to: 'untrusted' });
    const dr = await s.waitFor((f) => f.event === 'drift');
    expect(Number(dr.id)).toBe(Number(st.id) + 1);
    const act = await s.waitFor((f) => f.event === 'activity');
    expect(JSON.parse(act.data!)).toEqual({ verified: 5, nodeIds: ['gpu-00', 'gpu-01', 'gpu-02', 'gpu-03', 'gpu-04'] });
    await s.waitFor((f) => f.comment === 'ping');
    await s.close();
  });

  it('replays missed events after Last-Event-ID, and says reset when they are gone', async () => {
    const { url } = await start({ replay: 3 });
    for (let i = 1; i <= 5; i++) events.emit('approved', { nodeId: `n${i}`, actor: 'op', reason: 'planned', at: 'x' });
    const again = await stream(url, { 'last-event-id': '3' });
    await again.waitFor((f) => f.id === '5');
    expect(again.frames.filter((f) => f.event === 'approved').map((f) => JSON.parse(f.data!).nodeId)).toEqual(['n4', 'n5']);
    await again.close();
    const late = await stream(url, { 'last-event-id': '1' });
    await late.waitFor((f) => f.event === 'reset');
    expect(late.frames.filter((f) => f.event === 'approved')).toHaveLength(0);
    await late.close();
  });

  it('refuses clients beyond the limit with ERR_LIVE_CLIENT_LIMIT', async () => {
    const { url, hub } = await start({ maxClients: 1, operatorReserve: 0 });
    const a = await stream(url);
    await a.waitFor((f) => f.comment === 'connected');
    const res = await fetch(`${url}/v1/events`, { headers: { authorization: 'Bearer v' } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_LIVE_CLIENT_LIMIT');
    expect(hub.count).toBe(1);
    await a.close();
  });

  it('drops a client that stops reading instead of buffering without bound', async () => {
    const { url, hub } = await start({ maxBufferedBytes: 64 * 1024, heartbeatMs: 60_000 });
    const port = Number(new URL(url).port);
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer v\r\n\r\n');
    const end = Date.now() + 3000;
    while (hub.count === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(hub.count).toBe(1);
    sock.pause(); // never reads again
    const big = 'x'.repeat(8000);
    for (let i = 0; i < 5000 && hub.count > 0; i++) {
      events.emit('drift', { nodeId: 'n', seq: i, reasons: [{ code: 'gpu.replaced', claim: 'hardware', detail: big }], at: 'x' });
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(hub.count).toBe(0);
    sock.destroy();
  });
});
