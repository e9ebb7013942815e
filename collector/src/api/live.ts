import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CollectorEventMap, CollectorEvents } from '../events.js';
import { HttpError, type Route } from '../http/router.js';
import type { TrustChange } from '../trust/cache.js';

export const ERR_LIVE_CLIENT_LIMIT = 'ERR_LIVE_CLIENT_LIMIT';

/**
 * GET /v1/events: Server-Sent Events for live dashboards, fed by the collector's event bus.
 *
 *   event: status    {nodeId, from, to, reasons, at}      trust status changed (effective, incl. stale)
 *   event: drift     {nodeId, seq, reasons, at}
 *   event: approved  {nodeId, actor, reason, at}
 *   event: agent     {nodeId, connected}
 *   event: activity  {verified, nodeIds}                   reports verified since the last one, coalesced
 *   event: reset     {}                                    the client missed events: reload its view
 *
 * Each event has an increasing `id`; a client reconnecting with `Last-Event-ID` gets what it
 * missed from a ring of the last `replay` events, or `reset` when they are gone. A `: ping`
 * comment every heartbeat keeps proxies from closing the stream. A client that stops reading
 * (more than maxBufferedBytes waiting in its socket) is dropped rather than buffered without
 * bound; it reconnects and catches up. Report-verified events are coalesced per
 * `activityMs` and carry at most 200 node ids, so a busy fleet cannot flood dashboards.
 */
export interface LiveOptions {
  maxClients?: number;
  heartbeatMs?: number;
  maxBufferedBytes?: number;
  replay?: number;
  activityMs?: number;
}

interface Client {
  res: ServerResponse;
}

interface Sent {
  id: number;
  frame: string;
}

/** Trust changes (including silent expiries to stale) come from the trust cache when given. */
export interface TrustChanges {
  on(e: 'change', fn: (c: TrustChange) => void): unknown;
  off(e: 'change', fn: (c: TrustChange) => void): unknown;
}

export class LiveHub {
  private readonly clients = new Set<Client>();
  private readonly ring: Sent[] = [];
  private seq = 0;
  private readonly opts: Required<LiveOptions>;
  private readonly timers: NodeJS.Timeout[] = [];
  private activity = { verified: 0, nodeIds: new Set<string>() };
  private readonly detach: Array<() => void> = [];

  constructor(events: CollectorEvents, trust: TrustChanges | null, opts: LiveOptions = {}) {
    this.opts = { maxClients: 100, heartbeatMs: 15_000, maxBufferedBytes: 256 * 1024, replay: 1000, activityMs: 1000, ...opts };
    const sub = <K extends keyof CollectorEventMap>(name: K, fn: (...a: CollectorEventMap[K]) => void) => {
      events.on(name, fn as never);
      this.detach.push(() => events.off(name, fn as never));
    };
    if (trust) {
      const onChange = (c: TrustChange) =>
        this.publish('status', { nodeId: c.nodeId, from: c.from, to: c.status, reasons: c.reasons, at: c.at, verifiedAt: c.verifiedAt });
      trust.on('change', onChange);
      this.detach.push(() => trust.off('change', onChange));
    } else sub('status-changed', (e) => this.publish('status', e));
    sub('drift', (e) => this.publish('drift', e));
    sub('approved', (e) => this.publish('approved', e));
    sub('agent-connected', (e) => this.publish('agent', { nodeId: e.nodeId, connected: true }));
    sub('agent-disconnected', (e) => this.publish('agent', { nodeId: e.nodeId, connected: false }));
    sub('report-verified', (e) => {
      this.activity.verified++;
      if (this.activity.nodeIds.size < 200) this.activity.nodeIds.add(e.nodeId);
    });
    const hb = setInterval(() => {
      for (const c of this.clients) this.write(c, ': ping\n\n');
    }, this.opts.heartbeatMs);
    const act = setInterval(() => this.flushActivity(), this.opts.activityMs);
    hb.unref();
    act.unref();
    this.timers.push(hb, act);
  }

  get count(): number {
    return this.clients.size;
  }

  routes(): Route[] {
    return [{ method: 'GET', path: '/v1/events', role: 'viewer', handler: ({ req, res }) => this.open(req, res) }];
  }

  /** Takes over the response (the stream stays open until the client leaves). */
  open(req: IncomingMessage, res: ServerResponse): undefined {
    if (this.clients.size >= this.opts.maxClients)
      throw new HttpError(503, ERR_LIVE_CLIENT_LIMIT, `too many live streams (limit ${this.opts.maxClients})`);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const c: Client = { res };
    this.clients.add(c);
    res.on('close', () => this.clients.delete(c));
    req.socket.setNoDelay(true);
    this.write(c, `retry: 2000\n: connected\n\n`);
    const last = req.headers['last-event-id'];
    if (typeof last === 'string' && /^\d{1,15}$/.test(last)) {
      const from = Number(last);
      const oldest = this.ring[0]?.id ?? this.seq + 1;
      if (from < this.seq && from + 1 < oldest) this.write(c, this.frame('reset', {}));
      else for (const s of this.ring) if (s.id > from) this.write(c, s.frame);
    }
    return undefined;
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    for (const d of this.detach.splice(0)) d();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private flushActivity(): void {
    if (this.activity.verified === 0) return;
    const a = this.activity;
    this.activity = { verified: 0, nodeIds: new Set() };
    this.publish('activity', { verified: a.verified, nodeIds: [...a.nodeIds] });
  }

  private frame(event: string, data: unknown, id?: number): string {
    return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  }

  private publish(event: string, data: unknown): void {
    const id = ++this.seq;
    const frame = this.frame(event, data, id);
    this.ring.push({ id, frame });
    if (this.ring.length > this.opts.replay) this.ring.shift();
    for (const c of this.clients) this.write(c, frame);
  }

  private write(c: Client, text: string): void {
    if (c.res.writableLength > this.opts.maxBufferedBytes) {
      this.clients.delete(c);
      c.res.destroy();
      return;
    }
    c.res.write(text);
  }
}
