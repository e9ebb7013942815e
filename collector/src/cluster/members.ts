import type { Logger } from 'pino';
import { num } from '../store/index.js';
import type { SqlDb } from '../store/index.js';
import { openClusterDb } from './pg.js';
import { ClusterError, ERR_CLUSTER_CLOSED } from './errors.js';

export interface MembershipOptions {
  url: string;
  schema?: string;
  /** This collector's id, stable across restarts (its stale rows are cleared on start). */
  collectorId: string;
  /** Where other collectors or operators reach this one (advertised, informational). */
  advertisedUrl?: string | null;
  /** Heartbeat period (default 2,000 ms). */
  heartbeatMs?: number;
  /** A member whose last heartbeat is older than this is dead (default 3 × heartbeatMs + 1,000 ms). */
  deadAfterMs?: number;
  /** Epoch ms; written as heartbeat times and used to judge them. Hosts share time through NTP (skew adds to deadAfterMs). */
  clock?: () => number;
  logger?: Logger;
}

export interface MemberInfo {
  collectorId: string;
  url: string | null;
  startedAt: number;
  heartbeatAt: number;
  alive: boolean;
}

/** True when a heartbeat at `heartbeatAt` still counts at `now` (pure). */
export function isFresh(heartbeatAt: number, now: number, deadAfterMs: number): boolean {
  return now - heartbeatAt < deadAfterMs;
}

/**
 * Which collectors are alive and which one holds each node's agent connection. Each collector
 * heartbeats its cluster_members row; node_connections has one row per (node, collector) holding a
 * connection. A member whose heartbeat is older than deadAfterMs is dead and its connection rows do
 * not count (they are deleted when it restarts, or pruned after 10 × deadAfterMs). If this
 * collector's own row disappears (pruned while it was stalled), the next heartbeat registers it
 * again with the connections it holds.
 */
export class Membership {
  readonly collectorId: string;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  private readonly clock: () => number;
  private readonly connected = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly db: SqlDb,
    private readonly opts: MembershipOptions,
  ) {
    this.collectorId = opts.collectorId;
    this.heartbeatMs = opts.heartbeatMs ?? 2_000;
    this.deadAfterMs = opts.deadAfterMs ?? 3 * this.heartbeatMs + 1_000;
    this.clock = opts.clock ?? Date.now;
  }

  static async start(opts: MembershipOptions): Promise<Membership> {
    const { db } = await openClusterDb(opts);
    const m = new Membership(db, opts);
    try {
      await m.register();
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
    m.timer = setInterval(() => {
      m.heartbeat().catch((err: unknown) => opts.logger?.warn({ err }, 'cluster heartbeat failed'));
    }, m.heartbeatMs);
    return m;
  }

  /** Clears this collector's rows from a previous run and registers it afresh. */
  private async register(): Promise<void> {
    const now = this.clock();
    await this.db.transaction(async (tx) => {
      await tx.run('DELETE FROM node_connections WHERE collector_id = ?', [this.collectorId]);
      await tx.run(
        `INSERT INTO cluster_members (collector_id, url, started_at, heartbeat_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (collector_id) DO UPDATE SET url = excluded.url, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
        [this.collectorId, this.opts.advertisedUrl ?? null, now, now],
      );
    });
  }

  /** One heartbeat (the timer calls it every heartbeatMs); also prunes long-dead members. */
  async heartbeat(): Promise<void> {
    this.assertOpen();
    const now = this.clock();
    const { changes } = await this.db.run('UPDATE cluster_members SET heartbeat_at = ? WHERE collector_id = ?', [now, this.collectorId]);
    if (changes === 0) {
      this.opts.logger?.warn({ collectorId: this.collectorId }, 'cluster member row was gone; registering again');
      await this.db.transaction(async (tx) => {
        await tx.run(
          'INSERT INTO cluster_members (collector_id, url, started_at, heartbeat_at) VALUES (?, ?, ?, ?) ON CONFLICT (collector_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at',
          [this.collectorId, this.opts.advertisedUrl ?? null, now, now],
        );
        for (const nodeId of this.connected) await this.insertConnection(tx, nodeId, now);
      });
    }
    const pruneBefore = now - 10 * this.deadAfterMs;
    await this.db.transaction(async (tx) => {
      await tx.run(
        'DELETE FROM node_connections WHERE collector_id IN (SELECT collector_id FROM cluster_members WHERE heartbeat_at < ? AND collector_id <> ?)',
        [pruneBefore, this.collectorId],
      );
      await tx.run('DELETE FROM cluster_members WHERE heartbeat_at < ? AND collector_id <> ?', [pruneBefore, this.collectorId]);
    });
  }

  private async insertConnection(tx: Pick<SqlDb, 'run'>, nodeId: string, now: number): Promise<void> {
    await tx.run(
      'INSERT INTO node_connections (node_id, collector_id, since) VALUES (?, ?, ?) ON CONFLICT (node_id, collector_id) DO UPDATE SET since = excluded.since',
      [nodeId, this.collectorId, now],
    );
  }

  /** Records that this collector holds (true) or no longer holds (false) a connection of `nodeId`. */
  async setConnected(nodeId: string, on: boolean): Promise<void> {
    this.assertOpen();
    if (on) {
      this.connected.add(nodeId);
      await this.insertConnection(this.db, nodeId, this.clock());
    } else {
      this.connected.delete(nodeId);
      await this.db.run('DELETE FROM node_connections WHERE node_id = ? AND collector_id = ?', [nodeId, this.collectorId]);
    }
  }

  /** The alive collector holding `nodeId`'s connection (the most recent one if several), or null. */
  async holderOf(nodeId: string): Promise<string | null> {
    this.assertOpen();
    const row = await this.db.get<{ collector_id: string }>(
      `SELECT c.collector_id FROM node_connections c JOIN cluster_members m ON m.collector_id = c.collector_id
       WHERE c.node_id = ? AND m.heartbeat_at > ? ORDER BY c.since DESC, c.collector_id LIMIT 1`,
      [nodeId, this.clock() - this.deadAfterMs],
    );
    return row ? String(row.collector_id) : null;
  }

  /** Every node whose connection another alive collector holds (one read, for listings). */
  async nodesHeldElsewhere(): Promise<Set<string>> {
    this.assertOpen();
    const rows = await this.db.all<{ node_id: string }>(
      `SELECT DISTINCT c.node_id FROM node_connections c JOIN cluster_members m ON m.collector_id = c.collector_id
       WHERE c.collector_id <> ? AND m.heartbeat_at > ?`,
      [this.collectorId, this.clock() - this.deadAfterMs],
    );
    return new Set(rows.map((r) => String(r.node_id)));
  }

  /** Whether any alive collector holds a connection of `nodeId`. */
  async isConnected(nodeId: string): Promise<boolean> {
    return (await this.holderOf(nodeId)) !== null;
  }

  /** Every registered member, alive or dead (until pruned), by id. */
  async members(): Promise<MemberInfo[]> {
    this.assertOpen();
    const now = this.clock();
    const rows = await this.db.all('SELECT collector_id, url, started_at, heartbeat_at FROM cluster_members ORDER BY collector_id');
    return rows.map((r) => ({
      collectorId: String(r.collector_id),
      url: r.url === null || r.url === undefined ? null : String(r.url),
      startedAt: num(r.started_at),
      heartbeatAt: num(r.heartbeat_at),
      alive: isFresh(num(r.heartbeat_at), now, this.deadAfterMs),
    }));
  }

  async isAlive(collectorId: string): Promise<boolean> {
    this.assertOpen();
    const r = await this.db.get<{ heartbeat_at: unknown }>('SELECT heartbeat_at FROM cluster_members WHERE collector_id = ?', [
      collectorId,
    ]);
    return r !== undefined && isFresh(num(r.heartbeat_at), this.clock(), this.deadAfterMs);
  }

  /**
   * Stops heartbeating. `leave` (default true) deletes this member's rows so others see it gone at
   * once; false leaves them to expire after deadAfterMs, as a crash would.
   */
  async close(opts: { leave?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    try {
      if (opts.leave !== false) {
        await this.db.transaction(async (tx) => {
          await tx.run('DELETE FROM node_connections WHERE collector_id = ?', [this.collectorId]);
          await tx.run('DELETE FROM cluster_members WHERE collector_id = ?', [this.collectorId]);
        });
      }
    } finally {
      await this.db.close();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new ClusterError(ERR_CLUSTER_CLOSED, 'membership is closed');
  }
}

/** Registers this collector (clearing its stale rows) and starts heartbeating. */
export function startMembership(opts: MembershipOptions): Promise<Membership> {
  return Membership.start(opts);
}
