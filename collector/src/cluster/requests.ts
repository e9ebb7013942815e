import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { NodesealError } from '../../../shared/src/errors.js';
import { HttpError } from '../http/router.js';
import type { SqlDb } from '../store/index.js';
import { PgListener } from './listener.js';
import { answerChannel, applicationName, requestChannel } from './names.js';
import { openClusterDb } from './pg.js';
import {
  ClusterError,
  ERR_CLUSTER_CLOSED,
  ERR_CLUSTER_HANDLER_FAILED,
  ERR_CLUSTER_REQUEST_KIND,
  ERR_CLUSTER_ROW_SCHEMA,
  holderGone,
  requestTimeout,
} from './errors.js';

export interface RequestBusOptions {
  url: string;
  schema?: string;
  collectorId: string;
  logger: Logger;
  /** Whether a collector is alive (Membership.isAlive); without it every target counts as alive. */
  isAlive?: (collectorId: string) => Promise<boolean>;
  /**
   * Poll period (default 1,000 ms): unclaimed requests for this collector are picked up, pending
   * answers re-read and targets' liveness checked, so a lost NOTIFY costs at most this much.
   */
  pollMs?: number;
  /** Rows whose expiry passed this long ago are deleted by any bus (default 60 s): requesters that died. */
  gcAfterMs?: number;
  now?: () => number;
}

export interface RequestMeta {
  id: string;
  kind: string;
  /** The collector that asked. */
  requester: string;
}

export type RequestHandler = (body: unknown, meta: RequestMeta) => Promise<unknown> | unknown;

/** The error shape that crosses between collectors in cluster_requests.error. */
const wireError = z
  .object({
    status: z.number().int().min(400).max(599),
    code: z.string().regex(/^ERR_[A-Z0-9_]+$/),
    message: z.string().max(10_000),
    details: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
type WireError = z.infer<typeof wireError>;

const answerRow = z.object({
  answered_at: z.union([z.string(), z.number()]).nullable(),
  answer: z.string().nullable(),
  error: z.string().nullable(),
});

const claimedRow = z.object({ id: z.string(), kind: z.string(), body: z.string(), requester: z.string() });

/** How a handler's failure is written for the requester (pure): HTTP errors keep status and code. */
export function encodeError(e: unknown): WireError {
  if (e instanceof HttpError) return withDetails({ status: e.status, code: e.code, message: e.message }, e.details);
  if (e instanceof NodesealError) return withDetails({ status: 500, code: e.code, message: e.message }, e.details);
  return { status: 500, code: ERR_CLUSTER_HANDLER_FAILED, message: e instanceof Error ? e.message : String(e) };
}

function withDetails(w: WireError, details: Record<string, unknown> | undefined): WireError {
  return details ? { ...w, details } : w;
}

/** The requester's side of encodeError: the same HttpError (status, code, message, details). */
export function decodeError(text: string): HttpError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ClusterError(ERR_CLUSTER_ROW_SCHEMA, 'a cluster answer carries an error that is not JSON', { cause: e });
  }
  const r = wireError.safeParse(parsed);
  if (!r.success) throw new ClusterError(ERR_CLUSTER_ROW_SCHEMA, `a cluster answer carries a malformed error: ${r.error.message}`);
  return new HttpError(r.data.status, r.data.code, r.data.message, r.data.details);
}

interface Waiter {
  id: string;
  target: string;
  kind: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  checking: boolean;
}

/**
 * Operator actions routed to the collector that holds a node's connection, through the database.
 * `request` inserts a cluster_requests row and, in the same transaction, NOTIFYs the target's
 * request channel; the target claims the row (an atomic UPDATE, so a request runs once), runs the
 * handler registered for its kind and writes the answer or the error, NOTIFYing the requester's
 * answer channel in that transaction. The requester deletes the row once it has the answer or
 * gives up (timeout: 504 ERR_CLUSTER_REQUEST_TIMEOUT; target dead: 503 ERR_CLUSTER_HOLDER_GONE).
 * Every pollMs each bus also picks up requests and answers whose NOTIFY it missed.
 */
export class RequestBus {
  private readonly handlers = new Map<string, RequestHandler>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly now: () => number;
  private readonly pollMs: number;
  private readonly gcAfterMs: number;
  private listener!: PgListener;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly running = new Set<Promise<void>>();

  private constructor(
    private readonly db: SqlDb,
    private readonly schema: string,
    private readonly opts: RequestBusOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.pollMs = opts.pollMs ?? 1_000;
    this.gcAfterMs = opts.gcAfterMs ?? 60_000;
  }

  static async start(opts: RequestBusOptions): Promise<RequestBus> {
    const { db, schema } = await openClusterDb(opts, 3);
    const bus = new RequestBus(db, schema, opts);
    const reqCh = requestChannel(schema, opts.collectorId);
    const ansCh = answerChannel(schema, opts.collectorId);
    bus.listener = new PgListener({
      url: opts.url,
      schema,
      channels: [reqCh, ansCh],
      logger: opts.logger,
      applicationName: applicationName('requests', opts.collectorId),
    });
    bus.listener.on('notification', (channel, id) => {
      if (channel === reqCh) bus.track(bus.claim(id));
      else if (channel === ansCh) {
        const w = bus.waiters.get(id);
        if (w) bus.track(bus.check(w));
      }
    });
    bus.listener.on('connected', ({ reconnect }) => {
      if (reconnect) bus.track(bus.poll());
    });
    try {
      await bus.listener.start();
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
    bus.timer = setInterval(() => bus.track(bus.poll()), bus.pollMs);
    bus.track(bus.poll());
    return bus;
  }

  /** Registers the handler of one kind of request on this collector (replacing an earlier one). */
  handle(kind: string, fn: RequestHandler): void {
    this.handlers.set(kind, fn);
  }

  /**
   * Asks collector `target` to run `kind` with `body` (JSON); resolves with its answer, or rejects
   * with the HttpError the handler threw (same status, code, message, details), 504
   * ERR_CLUSTER_REQUEST_TIMEOUT, or 503 ERR_CLUSTER_HOLDER_GONE.
   */
  async request(target: string, kind: string, body: unknown, timeoutMs: number): Promise<unknown> {
    if (this.closed) throw new ClusterError(ERR_CLUSTER_CLOSED, 'request bus is closed');
    if (this.opts.isAlive && !(await this.opts.isAlive(target))) throw holderGone(target, kind);
    const id = randomUUID();
    const now = this.now();
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.finish(id, () => reject(requestTimeout(target, kind, timeoutMs)));
      }, timeoutMs);
      this.waiters.set(id, { id, target, kind, resolve, reject, timer, checking: false });
    });
    try {
      await this.db.transaction(async (tx) => {
        await tx.run(
          'INSERT INTO cluster_requests (id, requester, target, kind, body, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
          [id, this.opts.collectorId, target, kind, JSON.stringify(body ?? null), now, now + timeoutMs],
        );
        await tx.run('SELECT pg_notify(?, ?)', [requestChannel(this.schema, target), id]);
      });
    } catch (e) {
      const w = this.waiters.get(id);
      if (w) clearTimeout(w.timer);
      this.waiters.delete(id);
      throw e;
    }
    return answer;
  }

  /** Requests this bus is waiting on (metrics). */
  pendingCount(): number {
    return this.waiters.size;
  }

  /** Backend pid of the LISTEN session (operators, tests), or null while disconnected. */
  listenerPid(): number | null {
    return this.listener.pid;
  }

  /**
   * Stops listening; pending requests reject with ERR_CLUSTER_CLOSED; running steps get up to
   * 1 s to finish (a handler still running then has its answer dropped; the requester times out).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const id of [...this.waiters.keys()]) {
      const w = this.waiters.get(id)!;
      this.finish(id, () => w.reject(new ClusterError(ERR_CLUSTER_CLOSED, 'request bus closed while waiting')));
    }
    await this.listener.close();
    await Promise.race([Promise.allSettled([...this.running]), new Promise((r) => setTimeout(r, 1_000).unref())]);
    await this.db.run('DELETE FROM cluster_requests WHERE requester = ?', [this.opts.collectorId]).catch(() => undefined);
    await this.db.close();
  }

  private track(p: Promise<void>): void {
    const q = p.catch((err: unknown) => this.opts.logger.warn({ err }, 'cluster request bus step failed'));
    this.running.add(q);
    void q.finally(() => this.running.delete(q));
  }

  /** Removes a waiter and its row, then settles it. */
  private finish(id: string, settle: () => void): void {
    const w = this.waiters.get(id);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiters.delete(id);
    settle();
    if (!this.closed) this.track(this.db.run('DELETE FROM cluster_requests WHERE id = ?', [id]).then(() => undefined));
  }

  /** Reads a waiter's row; settles it if answered. */
  private async check(w: Waiter): Promise<void> {
    if (w.checking || this.closed) return;
    w.checking = true;
    try {
      const row = await this.db.get('SELECT answered_at, answer, error FROM cluster_requests WHERE id = ?', [w.id]);
      if (!row) return;
      const r = answerRow.safeParse(row);
      if (!r.success) {
        this.finish(w.id, () => w.reject(new ClusterError(ERR_CLUSTER_ROW_SCHEMA, `malformed cluster request row: ${r.error.message}`)));
        return;
      }
      if (r.data.answered_at === null) return;
      const { answer, error } = r.data;
      this.finish(w.id, () => {
        try {
          if (error !== null) w.reject(decodeError(error));
          else w.resolve(answer === null ? null : JSON.parse(answer));
        } catch (e) {
          w.reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    } finally {
      w.checking = false;
    }
  }

  /** Claims one request for this collector (once across the cluster) and answers it. */
  private async claim(id: string): Promise<void> {
    if (this.closed) return;
    const now = this.now();
    const rows = await this.db.all(
      'UPDATE cluster_requests SET claimed_at = ? WHERE id = ? AND target = ? AND claimed_at IS NULL AND expires_at > ? RETURNING id, kind, body, requester',
      [now, id, this.opts.collectorId, now],
    );
    for (const row of rows) await this.answer(row);
  }

  private async answer(row: unknown): Promise<void> {
    const parsed = claimedRow.safeParse(row);
    if (!parsed.success) {
      this.opts.logger.warn({ code: ERR_CLUSTER_ROW_SCHEMA }, 'malformed cluster request row');
      return;
    }
    const { id, kind, body, requester } = parsed.data;
    let answer: unknown = null;
    let error: WireError | null = null;
    const handler = this.handlers.get(kind);
    if (!handler)
      error = { status: 501, code: ERR_CLUSTER_REQUEST_KIND, message: `collector ${this.opts.collectorId} does not handle ${kind}` };
    else {
      try {
        answer = await handler(JSON.parse(body), { id, kind, requester });
      } catch (e) {
        error = encodeError(e);
      }
    }
    await this.db.transaction(async (tx) => {
      const { changes } = await tx.run('UPDATE cluster_requests SET answered_at = ?, answer = ?, error_code = ?, error = ? WHERE id = ?', [
        this.now(),
        error ? null : JSON.stringify(answer ?? null),
        error?.code ?? null,
        error ? JSON.stringify(error) : null,
        id,
      ]);
      // The requester deleted the row (gave up): nobody to tell.
      if (changes > 0) await tx.run('SELECT pg_notify(?, ?)', [answerChannel(this.schema, requester), id]);
    });
  }

  /** Catch-up for lost notifications, liveness of targets, and garbage collection. */
  private async poll(): Promise<void> {
    if (this.closed) return;
    const now = this.now();
    const claimed = await this.db.all(
      'UPDATE cluster_requests SET claimed_at = ? WHERE target = ? AND claimed_at IS NULL AND expires_at > ? RETURNING id, kind, body, requester',
      [now, this.opts.collectorId, now],
    );
    for (const row of claimed) this.track(this.answer(row));
    const alive = new Map<string, boolean>();
    for (const w of [...this.waiters.values()]) {
      await this.check(w);
      if (!this.waiters.has(w.id) || !this.opts.isAlive) continue;
      if (!alive.has(w.target)) alive.set(w.target, await this.opts.isAlive(w.target));
      if (!alive.get(w.target)) this.finish(w.id, () => w.reject(holderGone(w.target, w.kind)));
    }
    await this.db.run('DELETE FROM cluster_requests WHERE expires_at < ?', [now - this.gcAfterMs]);
  }
}

/** Starts listening for requests to `collectorId` and for answers to its own requests. */
export function startRequestBus(opts: RequestBusOptions): Promise<RequestBus> {
  return RequestBus.start(opts);
}
