import type { CollectorEventMap, CollectorEvents } from '../events.js';
import { type Route, route } from '../http/router.js';
import { SseServer } from '../http/sse.js';
import type { Logger } from '../logger.js';
import type { TrustChange } from '../trust/cache.js';

/** The collector holds as many live streams as it allows (for this token's role: the operator reserve is kept). */
export const ERR_LIVE_CLIENT_LIMIT = 'ERR_LIVE_CLIENT_LIMIT';
/** This token already holds as many live streams as one token may (HTTP 429). */
export const ERR_LIVE_TOKEN_LIMIT = 'ERR_LIVE_TOKEN_LIMIT';

/**
 * GET /v1/events: Server-Sent Events for live dashboards, fed by the collector's event bus and
 * served by the collector's one SSE server (collector/src/http/sse.ts).
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
 *
 * Admission: at most `maxClients` streams in all (503 ERR_LIVE_CLIENT_LIMIT), at most
 * `maxClientsPerToken` for one token (429 ERR_LIVE_TOKEN_LIMIT), and the last
 * `operatorReserve` slots only for operator tokens, so viewers filling the rest cannot lock
 * operators out of the dashboard.
 */
export interface LiveOptions {
  /** Default 100. */
  maxClients?: number;
  /** Default 10. */
  maxClientsPerToken?: number;
  /** Slots of maxClients only operator tokens may take. Default 10. */
  operatorReserve?: number;
  heartbeatMs?: number;
  maxBufferedBytes?: number;
  replay?: number;
  activityMs?: number;
  logger?: Logger;
}

export const LIVE_DEFAULTS = { maxClients: 100, maxClientsPerToken: 10, operatorReserve: 10 } as const;

/** Trust changes (including silent expiries to stale) come from the trust cache when given. */
export interface TrustChanges {
  on(e: 'change', fn: (c: TrustChange) => void): unknown;
  off(e: 'change', fn: (c: TrustChange) => void): unknown;
}

export class LiveHub {
  private readonly sse: SseServer;
  private readonly timers: NodeJS.Timeout[] = [];
  private activity = { verified: 0, nodeIds: new Set<string>() };
  private readonly detach: Array<() => void> = [];

  constructor(events: CollectorEvents, trust: TrustChanges | null, opts: LiveOptions = {}) {
    const maxClients = opts.maxClients ?? LIVE_DEFAULTS.maxClients;
    this.sse = new SseServer({
      name: 'live',
      limits: {
        maxStreams: maxClients,
        maxPerToken: opts.maxClientsPerToken ?? LIVE_DEFAULTS.maxClientsPerToken,
        reserved: Math.min(opts.operatorReserve ?? LIVE_DEFAULTS.operatorReserve, maxClients),
        reservedFor: 'operator',
        full: { status: 503, code: ERR_LIVE_CLIENT_LIMIT },
        perToken: { status: 429, code: ERR_LIVE_TOKEN_LIMIT },
      },
      heartbeatMs: opts.heartbeatMs ?? 15_000,
      maxBufferedBytes: opts.maxBufferedBytes ?? 256 * 1024,
      replay: opts.replay ?? 1000,
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
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
    const act = setInterval(() => this.flushActivity(), opts.activityMs ?? 1000);
    act.unref();
    this.timers.push(act);
  }

  get count(): number {
    return this.sse.count;
  }

  routes(): Route[] {
    return [
      route({
        method: 'GET',
        path: '/v1/events',
        role: 'viewer',
        handler: ({ req, res, principal }) => {
          this.sse.open(req, res, { principal });
          return undefined;
        },
      }),
    ];
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    for (const d of this.detach.splice(0)) d();
    this.sse.close();
  }

  private flushActivity(): void {
    if (this.activity.verified === 0) return;
    const a = this.activity;
    this.activity = { verified: 0, nodeIds: new Set() };
    this.publish('activity', { verified: a.verified, nodeIds: [...a.nodeIds] });
  }

  private publish(event: string, data: unknown): void {
    this.sse.publish(event, data);
  }
}
