import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Store, VersionedNode } from '../store/index.js';
import { PgListener } from './listener.js';
import { applicationName, nodeChannel } from './names.js';

export interface NodeFeedOptions {
  /** The collector's --postgres URL (the LISTEN session is opened from it). */
  url: string;
  /** Schema of the store; default: the store's current schema. */
  schema?: string;
  /** The (PostgreSQL) store: node rows are read through getNodes / nodeVersions. */
  store: Pick<Store, 'getNodes' | 'nodeVersions' | 'db'>;
  logger: Logger;
  /** Full catch-up read this often: the bound on a missed notification (default 2,000 ms). */
  catchUpMs?: number;
  /** Notifications within this window are read together (default 5 ms). */
  coalesceMs?: number;
  /** Listener reconnect backoff and ping (see PgListener). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  pingMs?: number;
  now?: () => number;
}

export interface NodeFeedStats {
  /** Whether the LISTEN session is up. */
  listening: boolean;
  /** Notifications received. */
  notifications: number;
  /** 'node' events emitted (initial load included). */
  emitted: number;
  /** Completed catch-up reads (the initial load is the first). */
  catchUps: number;
  /** Nodes emitted by a later catch-up rather than by their notification: each is a missed or late NOTIFY. */
  healed: number;
  /** LISTEN sessions replaced after a loss. */
  reconnects: number;
  /** Reads that failed (database down); retried by the next catch-up. */
  readErrors: number;
  /** Nodes whose version this feed has seen. */
  known: number;
}

export interface NodeFeedEvents {
  /** A node row as committed by any collector, never older than one emitted before for that node. */
  node: [node: VersionedNode];
}

/**
 * Version guard (pure): the rows newer than what `seen` holds for their node, at most one per node
 * (the newest), in input order of first appearance.
 */
export function pickNewer(seen: ReadonlyMap<string, number>, rows: readonly VersionedNode[]): VersionedNode[] {
  const best = new Map<string, VersionedNode>();
  for (const r of rows) {
    const prev = best.get(r.nodeId)?.version ?? seen.get(r.nodeId) ?? Number.NEGATIVE_INFINITY;
    if (r.version > prev) best.set(r.nodeId, r);
  }
  return [...best.values()];
}

/** Ids whose stored version is newer than the seen one (pure). */
export function staleIds(seen: ReadonlyMap<string, number>, versions: ReadonlyMap<string, number>): string[] {
  const out: string[] = [];
  for (const [id, v] of versions) if (v > (seen.get(id) ?? Number.NEGATIVE_INFINITY)) out.push(id);
  return out;
}

/**
 * The cluster change feed: emits 'node' for every committed change of a node row made by any
 * collector on the database. A notification (trigger of migration 0400_node_version, payload the
 * node id) queues the id; ids queued within coalesceMs are read together with getNodes. Every
 * catchUpMs a catch-up compares nodeVersions() with the versions seen and reads what is newer, so a
 * missed notification (listener down, reconnecting, or a write that bypassed the trigger) is healed
 * within catchUpMs; a reconnected listener catches up at once. Reads are serialised, and the
 * version guard drops any row not newer than the one last emitted for its node.
 */
export class NodeFeed extends EventEmitter<NodeFeedEvents> {
  /** Resolves after the initial load (every node emitted once); rejects if the feed closes first. */
  readonly ready: Promise<void>;
  private readonly seen = new Map<string, number>();
  private readonly pending = new Set<string>();
  private readonly now: () => number;
  private readonly catchUpMs: number;
  private readonly coalesceMs: number;
  private listener: PgListener | null = null;
  private flushTimer: NodeJS.Timeout | null = null;
  private catchUpTimer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly startedAt: number;
  /** Start time of the last completed catch-up: every change committed before it has been emitted. */
  private coveredUntil: number | null = null;
  private readonly counters = { notifications: 0, emitted: 0, catchUps: 0, healed: 0, readErrors: 0 };

  constructor(private readonly opts: NodeFeedOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.catchUpMs = opts.catchUpMs ?? 2_000;
    this.coalesceMs = opts.coalesceMs ?? 5;
    this.startedAt = this.now();
    this.ready = this.start();
    this.ready.catch(() => undefined);
  }

  private async start(): Promise<void> {
    const { store, logger } = this.opts;
    const schema = this.opts.schema ?? (await store.db.get<{ s: string }>('SELECT current_schema() AS s'))?.s;
    if (!schema) throw new Error('the store has no current PostgreSQL schema');
    if (this.closed) throw new Error('feed closed');
    const listener = new PgListener({
      url: this.opts.url,
      schema,
      channels: [nodeChannel(schema)],
      logger,
      applicationName: applicationName('feed'),
      ...(this.opts.minBackoffMs === undefined ? {} : { minBackoffMs: this.opts.minBackoffMs }),
      ...(this.opts.maxBackoffMs === undefined ? {} : { maxBackoffMs: this.opts.maxBackoffMs }),
      ...(this.opts.pingMs === undefined ? {} : { pingMs: this.opts.pingMs }),
    });
    this.listener = listener;
    listener.on('notification', (_channel, nodeId) => this.enqueue(nodeId));
    listener.on('connected', ({ reconnect }) => {
      if (reconnect) void this.catchUp(true);
    });
    // LISTEN first, then load: a change committed in between is both notified and loaded (the guard drops the repeat).
    await listener.start();
    await this.catchUp(false, true);
    if (this.closed) throw new Error('feed closed');
    this.catchUpTimer = setInterval(() => void this.catchUp(true), this.catchUpMs);
  }

  /** Milliseconds since the start of the last completed catch-up: every change committed before then has been emitted. */
  lagMs(): number {
    return this.now() - (this.coveredUntil ?? this.startedAt);
  }

  stats(): NodeFeedStats {
    return {
      listening: this.listener?.listening ?? false,
      ...this.counters,
      reconnects: this.listener?.reconnectCount ?? 0,
      known: this.seen.size,
    };
  }

  /** The backend pid of the LISTEN session (operators, tests), or null while disconnected. */
  listenerPid(): number | null {
    return this.listener?.pid ?? null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.catchUpTimer) clearInterval(this.catchUpTimer);
    await this.listener?.close();
    await this.chain;
    this.removeAllListeners();
  }

  private enqueue(nodeId: string): void {
    this.counters.notifications++;
    this.pending.add(nodeId);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = null;
      const ids = [...this.pending];
      this.pending.clear();
      void this.serial(() => this.read(ids, false));
    }, this.coalesceMs);
  }

  /** Reads run one at a time (each sees the versions the previous one emitted). */
  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.closed) return;
      try {
        await fn();
      } catch (err) {
        this.counters.readErrors++;
        this.opts.logger.warn({ err }, 'cluster feed read failed; the next catch-up retries');
      }
    });
    this.chain = next;
    return next;
  }

  private async read(ids: readonly string[], healing: boolean): Promise<void> {
    if (ids.length === 0) return;
    const rows = await this.opts.store.getNodes(ids);
    for (const row of pickNewer(this.seen, rows)) {
      if (this.closed) return;
      this.seen.set(row.nodeId, row.version);
      this.counters.emitted++;
      if (healing) this.counters.healed++;
      this.emit('node', row);
    }
  }

  /** One catch-up read; `initial` retries until it succeeds (every min(catchUpMs, 1 s)) or the feed closes. */
  private async catchUp(healing: boolean, initial = false): Promise<void> {
    for (;;) {
      let ok = false;
      await this.serial(async () => {
        const startedAt = this.now();
        const versions = await this.opts.store.nodeVersions();
        await this.read(staleIds(this.seen, versions), healing);
        this.coveredUntil = startedAt;
        this.counters.catchUps++;
        ok = true;
      });
      if (ok || !initial || this.closed) return;
      await new Promise((r) => setTimeout(r, Math.min(this.catchUpMs, 1_000)));
    }
  }
}

/** Starts a NodeFeed; await `feed.ready` for the initial load. */
export function startNodeFeed(opts: NodeFeedOptions): NodeFeed {
  return new NodeFeed(opts);
}
