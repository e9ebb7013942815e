import type { ServerResponse } from 'node:http';
import { HttpError } from '../http/router.js';
import type { TrustCache, TrustChange } from './cache.js';
import { ERR_TRUST_WATCH_LIMIT } from './errors.js';

/**
 * GET /v1/trust/watch: a Server-Sent Events stream of trust changes.
 *
 *   event: trust
 *   id: <increasing number>
 *   data: {"nodeId","from","status","reasons","verifiedAt","expiresAt","at"}
 *
 * `?nodes=EXPR` (hostlist) limits the stream to those nodes; `?snapshot=1` first sends one
 * `event: snapshot` per (matching) node with its current trust. A comment line `: ping` every
 * heartbeat keeps proxies from closing the stream. A client that stops reading (more than
 * maxBufferedBytes queued) is disconnected rather than buffered without bound.
 */
export interface TrustWatchOptions {
  maxWatchers?: number;
  heartbeatMs?: number;
  maxBufferedBytes?: number;
}

interface Watcher {
  res: ServerResponse;
  filter: Set<string> | null;
}

export class TrustWatchHub {
  private readonly watchers = new Set<Watcher>();
  private readonly maxWatchers: number;
  private readonly maxBuffered: number;
  private readonly heartbeat: NodeJS.Timeout;
  private seq = 0;
  private readonly onChange = (c: TrustChange) => this.publish(c);

  constructor(
    private readonly cache: TrustCache,
    opts: TrustWatchOptions = {},
  ) {
    this.maxWatchers = opts.maxWatchers ?? 1000;
    this.maxBuffered = opts.maxBufferedBytes ?? 1 << 20;
    this.heartbeat = setInterval(() => {
      for (const w of this.watchers) this.write(w, ': ping\n\n');
    }, opts.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
    cache.on('change', this.onChange);
  }

  get count(): number {
    return this.watchers.size;
  }

  /** Takes over the response; resolves at once (the stream stays open until the client leaves). */
  open(res: ServerResponse, filter: Set<string> | null, snapshot: boolean): void {
    if (this.watchers.size >= this.maxWatchers) throw new HttpError(503, ERR_TRUST_WATCH_LIMIT, `too many trust watchers (limit ${this.maxWatchers})`);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const w: Watcher = { res, filter };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
    this.write(w, 'retry: 2000\n\n');
    if (snapshot) {
      const views = filter ? [...filter].map((n) => this.cache.getOrUnknown(n)) : this.cache.all();
      for (const v of views) this.write(w, `event: snapshot\ndata: ${JSON.stringify(v)}\n\n`);
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.cache.off('change', this.onChange);
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  private publish(c: TrustChange): void {
    if (this.watchers.size === 0) return;
    const frame = `event: trust\nid: ${++this.seq}\ndata: ${JSON.stringify(c)}\n\n`;
    for (const w of this.watchers) if (!w.filter || w.filter.has(c.nodeId)) this.write(w, frame);
  }

  private write(w: Watcher, text: string): void {
    if (w.res.writableLength > this.maxBuffered) {
      this.watchers.delete(w);
      w.res.destroy();
      return;
    }
    w.res.write(text);
  }
}
