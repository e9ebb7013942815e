import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { CollectorEvents } from '../../../collector/src/events.js';
import { route } from '../../../collector/src/http/router.js';
import { SseServer, type SseServerOptions } from '../../../collector/src/http/sse.js';
import { readEventStream, type SseEvent } from '../../../collector/src/http/sse-reader.js';
import { createLogger } from '../../../collector/src/logger.js';
import { openSqliteStore } from '../../../collector/src/store/open.js';
import { createTrust } from '../../../collector/src/trust/index.js';
import type { LoopbackServer } from '../../helpers/net.js';
import { serveRoutes } from '../metrics/routes-server.js';

const limits: SseServerOptions['limits'] = {
  maxStreams: 10,
  maxPerToken: 10,
  reserved: 0,
  reservedFor: 'operator',
  full: { status: 503, code: 'ERR_TEST_FULL' },
  perToken: { status: 429, code: 'ERR_TEST_TOKEN' },
};

/** A client on real HTTP reading with the project's spec reader; waitFor polls with a deadline. */
async function client(url: string, headers: Record<string, string> = {}) {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  const events: SseEvent[] = [];
  let ended = false;
  const done = readEventStream(res.body!, (e) => events.push(e), { signal: ac.signal })
    .catch(() => {})
    .finally(() => {
      ended = true;
    });
  const waitFor = async (what: string, pred: () => boolean, ms = 5000) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(events)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return {
    res,
    events,
    ended: () => ended,
    waitFor,
    close: async () => {
      ac.abort();
      await done;
    },
  };
}

describe('the one SSE server (real HTTP)', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function serve(opts: Partial<SseServerOptions> = {}): Promise<{ sse: SseServer; srv: LoopbackServer }> {
    const sse = new SseServer({ limits, heartbeatMs: 60_000, ...opts });
    const srv = await serveRoutes([
      route({
        method: 'GET',
        path: '/s',
        role: 'public',
        handler: ({ req, res, principal }) => {
          sse.open(req, res, { principal });
          return undefined;
        },
      }),
    ]);
    cleanup.push(
      () => srv.close(),
      () => sse.close(),
    );
    return { sse, srv };
  }

  it('replays after Last-Event-ID; an id this process never issued gets reset carrying the current id', async () => {
    const { sse, srv } = await serve({ replay: 10 });
    for (let i = 1; i <= 3; i++) sse.publish('n', { i });
    const back = await client(`${srv.url}/s`, { 'last-event-id': '1' });
    await back.waitFor('replay', () => back.events.length === 2);
    expect(back.events.map((e) => [e.id, e.data])).toEqual([
      ['2', '{"i":2}'],
      ['3', '{"i":3}'],
    ]);
    await back.close();
    // Ids from before a collector restart (or from another collector): the client must reload.
    const foreign = await client(`${srv.url}/s`, { 'last-event-id': '500' });
    await foreign.waitFor('reset', () => foreign.events.length === 1);
    expect(foreign.events[0]).toEqual({ event: 'reset', id: '3', data: '{}' });
    await foreign.close();
    const current = await client(`${srv.url}/s`, { 'last-event-id': '3' });
    sse.publish('n', { i: 4 });
    await current.waitFor('the next event', () => current.events.length === 1);
    expect(current.events[0]).toMatchObject({ id: '4', event: 'n' });
    await current.close();
  });

  it('ends every stream on close (shutdown), and sends heartbeats meanwhile', async () => {
    const { sse, srv } = await serve({ heartbeatMs: 20 });
    const a = await client(`${srv.url}/s`);
    const b = await client(`${srv.url}/s`);
    await a.waitFor('both open', () => sse.count === 2);
    const comments: string[] = [];
    const raw = await fetch(`${srv.url}/s`);
    const reading = readEventStream(raw.body!, () => {}, { onComment: (c) => comments.push(c.trim()) });
    await a.waitFor('a ping', () => comments.includes('ping'));
    sse.close();
    await a.waitFor('a to end', a.ended);
    await b.waitFor('b to end', b.ended);
    await reading;
    expect(sse.count).toBe(0);
  });

  it('drops a client that stops reading, logging ERR_SSE_SLOW_CLIENT', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      destination: new Writable({
        write(chunk, _enc, cb) {
          lines.push(String(chunk));
          cb();
        },
      }),
    });
    const { sse, srv } = await serve({ maxBufferedBytes: 32 * 1024, logger, name: 'test' });
    const sock = connect(Number(new URL(srv.url).port), '127.0.0.1');
    sock.write('GET /s HTTP/1.1\r\nHost: x\r\n\r\n');
    cleanup.push(() => sock.destroy());
    const end = Date.now() + 5000;
    while (sse.count === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    sock.pause();
    const big = 'x'.repeat(8000);
    for (let i = 0; i < 5000 && sse.count > 0; i++) {
      sse.publish('big', { big });
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(sse.count).toBe(0);
    expect(sse.dropped).toBe(1);
    expect(lines.map((l) => JSON.parse(l))).toContainEqual(expect.objectContaining({ code: 'ERR_SSE_SLOW_CLIENT', stream: 'test' }));
  });
});

describe('GET /v1/trust/watch with Last-Event-ID (real HTTP, real SQLite)', () => {
  it('replays only the missed changes of the watched nodes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nodeseal-watch-replay-'));
    const store = await openSqliteStore(join(dir, 'collector.db'));
    const events = new CollectorEvents();
    const trust = await createTrust({ store, events, cache: { freshnessTtlSec: 300, sweepMs: 0 }, watch: { heartbeatMs: 60_000 } });
    const srv = await serveRoutes(trust.routes, { v: { name: 'sched', role: 'viewer' } });
    try {
      // A verdict and a verified report: the cache publishes the node's new trust.
      const change = (nodeId: string, to: 'trusted' | 'untrusted') => {
        events.emit('status-changed', { nodeId, from: null, to, reasons: [], at: new Date().toISOString() });
        events.emit('report-verified', { nodeId, seq: 1, status: to, latencyMs: 1, fresh: true, spoolBacklog: 0 });
      };
      const first = await client(`${srv.url}/v1/trust/watch?nodes=gpu%5B1-2%5D`, { authorization: 'Bearer v' });
      await first.waitFor('open', () => trust.watch.count === 1);
      change('gpu1', 'trusted');
      await first.waitFor('gpu1 trusted', () => first.events.some((e) => JSON.parse(e.data).status === 'trusted'));
      const lastId = first.events.at(-1)!.id!;
      await first.close();
      // While it is away: one change it watches, one it does not, another it watches.
      change('gpu2', 'untrusted');
      change('other', 'untrusted');
      change('gpu1', 'untrusted');
      const again = await client(`${srv.url}/v1/trust/watch?nodes=gpu%5B1-2%5D`, { authorization: 'Bearer v', 'last-event-id': lastId });
      await again.waitFor('the replayed changes', () => again.events.some((e) => JSON.parse(e.data).nodeId === 'gpu1'));
      const replayed = again.events.map((e) => [e.event, JSON.parse(e.data).nodeId, JSON.parse(e.data).status]);
      expect(replayed.at(-1)).toEqual(['trust', 'gpu1', 'untrusted']);
      expect(replayed).toContainEqual(['trust', 'gpu2', 'untrusted']);
      expect(replayed.map((r) => r[1])).not.toContain('other');
      expect(again.events.every((e) => Number(e.id) > Number(lastId))).toBe(true);
      await again.close();
    } finally {
      trust.close();
      await srv.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
