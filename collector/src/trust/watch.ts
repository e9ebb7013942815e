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
  /** Streams one principal (token) may hold at once (default 100), so one stolen viewer token cannot take every slot. */
  maxWatchersPerPrincipal?: number;
  heartbeatMs?: number;
  maxBufferedBytes?: number;
}

interface Watcher {
  res: ServerResponse;
  filter: Set<string> | null;
  owner: string | null;
}

export class TrustWatchHub {
  private readonly watchers = new Set<Watcher>();
  private readonly maxWatchers: number;
  private readonly maxPerOwner: number;
  private readonly byOwner = new Map<string, number>();
  private readonly maxBuffered: number;
  private readonly heartbeat: NodeJS.Timeout;
  private seq = 0;
  private readonly onChange = (c: TrustChange) => this.publish(c);

  constructor(
    private readonly cache: TrustCache,
    opts: TrustWatchOptions = {},
  ) {
    this.maxWatchers = opts.maxWatchers ?? 1000;
    this.maxPerOwner = opts.maxWatchersPerPrincipal ?? 100;
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

  /** Takes over the response; resolves at once (the stream stays open until the client leaves). `owner`: the principal's name. */
  open(res: ServerResponse, filter: Set<string> | null, snapshot: boolean, owner: string | null = null): void {
    if (this.watchers.size >= this.maxWatchers)
      throw new HttpError(503, ERR_TRUST_WATCH_LIMIT, `too many trust watchers (limit ${this.maxWatchers})`);
    if (owner !== null && (this.byOwner.get(owner) ?? 0) >= this.maxPerOwner) {
      throw new HttpError(503, ERR_TRUST_WATCH_LIMIT, `too many trust watchers for this token (limit ${this.maxPerOwner})`);
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const w: Watcher = { res, filter, owner };
    this.watchers.add(w);
    if (owner !== null) this.byOwner.set(owner, (this.byOwner.get(owner) ?? 0) + 1);
    res.on('close', () => this.remove(w));
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
    this.byOwner.clear();
  }

  /** Forgets a watcher (once: the close event and a slow-client drop may both call it). */
  private remove(w: Watcher): void {
    if (!this.watchers.delete(w) || w.owner === null) return;
    const n = (this.byOwner.get(w.owner) ?? 1) - 1;
    if (n <= 0) this.byOwner.delete(w.owner);
    else this.byOwner.set(w.owner, n);
  }

  private publish(c: TrustChange): void {
    if (this.watchers.size === 0) return;
    const frame = `event: trust\nid: ${++this.seq}\ndata: ${JSON.stringify(c)}\n\n`;
    for (const w of this.watchers) if (!w.filter || w.filter.has(c.nodeId)) this.write(w, frame);
  }

  private write(w: Watcher, text: string): void {
    if (w.res.writableLength > this.maxBuffered) {
      this.remove(w);
      w.res.destroy();
      return;
    }
    w.res.write(text);
  }
}
