import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../http/router.js';
import { SseServer } from '../http/sse.js';
import type { Logger } from '../logger.js';
import type { TrustCache, TrustChange } from './cache.js';
import { ERR_TRUST_WATCH_LIMIT } from './errors.js';

/**
 * GET /v1/trust/watch: a Server-Sent Events stream of trust changes, served by the collector's
 * one SSE server (collector/src/http/sse.ts).
 *
 *   event: trust
 *   id: <increasing number>
 *   data: {"nodeId","from","status","reasons","verifiedAt","expiresAt","at"}
 *
 * `?nodes=EXPR` (hostlist) limits the stream to those nodes; `?snapshot=1` first sends one
 * `event: snapshot` per (matching) node with its current trust. A client reconnecting with
 * Last-Event-ID gets the changes it missed (of the last `replay`), or `event: reset` when they
 * are gone: then it should read GET /v1/trust again. `: ping` comments every heartbeat; a client
 * that stops reading (more than maxBufferedBytes queued) is dropped (ERR_SSE_SLOW_CLIENT).
 */
export interface TrustWatchOptions {
  /** Streams in all. Default 1,000. */
  maxWatchers?: number;
  /** Streams one principal (token) may hold at once (default 100), so one stolen viewer token cannot take every slot. */
  maxWatchersPerPrincipal?: number;
  heartbeatMs?: number;
  /** Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Changes kept for Last-Event-ID. Default 1,000. */
  replay?: number;
  logger?: Logger;
}

export class TrustWatchHub {
  private readonly sse: SseServer;
  private readonly onChange = (c: TrustChange) => this.sse.publish('trust', c, c.nodeId);

  constructor(
    private readonly cache: TrustCache,
    opts: TrustWatchOptions = {},
  ) {
    const limit = { status: 503, code: ERR_TRUST_WATCH_LIMIT };
    this.sse = new SseServer({
      name: 'trust-watch',
      limits: {
        maxStreams: opts.maxWatchers ?? 1000,
        maxPerToken: opts.maxWatchersPerPrincipal ?? 100,
        reserved: 0,
        reservedFor: 'operator',
        full: limit,
        perToken: limit,
      },
      maxBufferedBytes: opts.maxBufferedBytes ?? 1 << 20,
      ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
      ...(opts.replay !== undefined ? { replay: opts.replay } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    cache.on('change', this.onChange);
  }

  get count(): number {
    return this.sse.count;
  }

  /** Takes over the response (the stream stays open until the client leaves); throws ERR_TRUST_WATCH_LIMIT when full. */
  open(
    req: IncomingMessage,
    res: ServerResponse,
    opts: { filter: Set<string> | null; snapshot: boolean; principal: Principal | null },
  ): void {
    const { filter } = opts;
    const stream = this.sse.open(req, res, {
      principal: opts.principal,
      ...(filter ? { accepts: (tag: string | undefined) => tag === undefined || filter.has(tag) } : {}),
    });
    if (opts.snapshot) {
      const views = filter ? [...filter].map((n) => this.cache.getOrUnknown(n)) : this.cache.all();
      for (const v of views) this.sse.send(stream, 'snapshot', v);
    }
  }

  close(): void {
    this.cache.off('change', this.onChange);
    this.sse.close();
  }
}
