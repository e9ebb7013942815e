import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger.js';
import { ERR_SSE_SLOW_CLIENT } from './errors.js';
import { HttpError, type Principal } from './router.js';
import { admitStream, isPrivileged, type StreamLimits } from './sse-admission.js';

/**
 * One Server-Sent Events server for every stream the collector serves (/v1/events for
 * dashboards, /v1/trust/watch for schedulers): admission (StreamLimits: total, per token,
 * operator reserve), the headers, `retry:` and `: ping` heartbeat comments, numbered events
 * kept in a ring so a client reconnecting with Last-Event-ID gets what it missed (or
 * `event: reset` when those are gone or its ids are from another collector process),
 * backpressure (a client with more than maxBufferedBytes queued in its socket is dropped with
 * ERR_SSE_SLOW_CLIENT rather than buffered without bound; it reconnects and catches up), and
 * closing every stream on shutdown.
 *
 * Frames: `event: NAME\nid: N\ndata: JSON\n\n` (id only on numbered events).
 */
export interface SseServerOptions {
  limits: StreamLimits;
  /** Comment every this many ms. Default 15,000. */
  heartbeatMs?: number;
  /** Bytes queued for one client before it is dropped. Default 256 KiB. */
  maxBufferedBytes?: number;
  /** Reconnect delay told to clients. Default 2,000 ms. */
  retryMs?: number;
  /** Numbered events kept for Last-Event-ID; 0 = no replay (reconnecting clients get nothing missed). Default 1,000. */
  replay?: number;
  /** For the drop log line (which stream). */
  name?: string;
  logger?: Logger;
}

export interface SseStream {
  readonly principal: Principal | null;
  /** Whether this stream wants an event with this tag (a node id); untagged events go to all. */
  readonly accepts: (tag: string | undefined) => boolean;
}

interface Client extends SseStream {
  res: ServerResponse;
  owner: string | null;
  privileged: boolean;
}

interface Kept {
  id: number;
  tag: string | undefined;
  frame: string;
}

/** One SSE frame; data is JSON (split over several data: lines if it ever holds a newline). */
export function sseFrame(event: string, data: unknown, id?: number): string {
  const json = JSON.stringify(data) ?? 'null';
  const lines = json
    .split(/\r\n|\r|\n/)
    .map((l) => `data: ${l}\n`)
    .join('');
  return `event: ${event}\n${id !== undefined ? `id: ${id}\n` : ''}${lines}\n`;
}

export class SseServer {
  private readonly clients = new Set<Client>();
  private readonly byOwner = new Map<string, number>();
  private readonly ring: Kept[] = [];
  private seq = 0;
  private unprivileged = 0;
  private droppedCount = 0;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly maxBuffered: number;
  private readonly replay: number;
  private readonly retryMs: number;

  constructor(private readonly opts: SseServerOptions) {
    this.maxBuffered = opts.maxBufferedBytes ?? 256 * 1024;
    this.replay = opts.replay ?? 1000;
    this.retryMs = opts.retryMs ?? 2000;
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) this.write(c, ': ping\n\n');
    }, opts.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  /** Open streams. */
  get count(): number {
    return this.clients.size;
  }

  /** Streams one principal holds. */
  countFor(owner: string): number {
    return this.byOwner.get(owner) ?? 0;
  }

  /** Clients dropped for not reading. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Id of the last numbered event. */
  get lastId(): number {
    return this.seq;
  }

  /**
   * Admits the request (or throws the limit's HttpError before anything is written), takes over
   * the response and replays what a Last-Event-ID says was missed. The stream stays open until
   * the client leaves or close().
   */
  open(
    req: IncomingMessage,
    res: ServerResponse,
    opts: { principal: Principal | null; accepts?: (tag: string | undefined) => boolean },
  ): SseStream {
    const owner = opts.principal?.name ?? null;
    const counts = { total: this.clients.size, unprivileged: this.unprivileged, forToken: owner === null ? 0 : this.countFor(owner) };
    const verdict = admitStream(this.opts.limits, counts, opts.principal);
    if (!verdict.ok) throw new HttpError(verdict.status, verdict.code, verdict.message);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const privileged = isPrivileged(this.opts.limits, opts.principal);
    const c: Client = { res, owner, privileged, principal: opts.principal, accepts: opts.accepts ?? (() => true) };
    this.clients.add(c);
    if (!privileged) this.unprivileged++;
    if (owner !== null) this.byOwner.set(owner, this.countFor(owner) + 1);
    res.on('close', () => this.remove(c));
    req.socket.setNoDelay(true);
    this.write(c, `retry: ${this.retryMs}\n: connected\n\n`);
    const last = req.headers['last-event-id'];
    if (this.replay > 0 && typeof last === 'string' && /^\d{1,15}$/.test(last)) this.catchUp(c, Number(last));
    return c;
  }

  /** A numbered event to every stream that accepts `tag`, kept for Last-Event-ID replay. Returns its id. */
  publish(event: string, data: unknown, tag?: string): number {
    const id = ++this.seq;
    const frame = sseFrame(event, data, id);
    if (this.replay > 0) {
      this.ring.push({ id, tag, frame });
      if (this.ring.length > this.replay) this.ring.shift();
    }
    for (const c of this.clients) if (c.accepts(tag)) this.write(c, frame);
    return id;
  }

  /** An unnumbered event to one stream (snapshots). */
  send(stream: SseStream, event: string, data: unknown): void {
    const c = stream as Client;
    if (this.clients.has(c)) this.write(c, sseFrame(event, data));
  }

  /** Ends every stream and stops the heartbeat (collector shutdown). */
  close(): void {
    clearInterval(this.heartbeat);
    for (const c of [...this.clients]) {
      this.remove(c);
      c.res.end();
    }
  }

  /** Replays numbered events after `from`, or says `reset` when some are gone (or `from` is from another process). */
  private catchUp(c: Client, from: number): void {
    if (from === this.seq) return;
    const oldest = this.ring[0]?.id ?? this.seq + 1;
    if (from > this.seq || from + 1 < oldest) {
      // The reset carries the current id, so the client's next reconnect starts from here.
      this.write(c, sseFrame('reset', {}, this.seq));
      return;
    }
    for (const k of this.ring) if (k.id > from && c.accepts(k.tag)) this.write(c, k.frame);
  }

  /** Forgets a client (once: the close event and a slow-client drop may both call it). */
  private remove(c: Client): void {
    if (!this.clients.delete(c)) return;
    if (!c.privileged) this.unprivileged--;
    if (c.owner === null) return;
    const n = this.countFor(c.owner) - 1;
    if (n <= 0) this.byOwner.delete(c.owner);
    else this.byOwner.set(c.owner, n);
  }

  private write(c: Client, text: string): void {
    if (c.res.writableLength > this.maxBuffered) {
      this.remove(c);
      this.droppedCount++;
      this.opts.logger?.warn(
        { code: ERR_SSE_SLOW_CLIENT, stream: this.opts.name, principal: c.owner, queuedBytes: c.res.writableLength },
        'event stream client dropped: it stopped reading',
      );
      c.res.destroy();
      return;
    }
    c.res.write(text);
  }
}
