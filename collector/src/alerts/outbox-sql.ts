import type { SqlDb, SqlExecutor } from '../store/sql.js';
import { num } from '../store/sql.js';
import type { AlertOutbox, NewOutboxRow, OutboxRow } from './outbox.js';

interface DbRow {
  id: unknown;
  webhook: string;
  event_id: string;
  kind: string;
  node_id: string;
  body: string;
  created_at: string;
  attempts: unknown;
  next_attempt_at: unknown;
  status: string;
  last_error: string | null;
  [k: string]: unknown;
}

function fromDb(r: DbRow): OutboxRow {
  return {
    id: num(r.id),
    webhook: r.webhook,
    eventId: r.event_id,
    kind: r.kind,
    nodeId: r.node_id,
    body: r.body,
    createdAt: r.created_at,
    attempts: num(r.attempts),
    nextAttemptAt: num(r.next_attempt_at),
    status: r.status === 'dead' ? 'dead' : 'pending',
    lastError: r.last_error,
  };
}

export const ERR_ALERT_OUTBOX_FULL = 'ERR_ALERT_OUTBOX_FULL';

/** Default cap on one webhook's pending rows (config alerts.webhooks[].maxPending). */
export const DEFAULT_MAX_PENDING = 100_000;

/**
 * Inserts outbox rows inside the caller's transaction, then enforces each touched webhook's cap:
 * when more than `maxPending(webhook)` rows are pending, the oldest are moved to the dead-letter
 * list with last_error ERR_ALERT_OUTBOX_FULL (never dropped). Returns how many were moved, per webhook.
 */
export async function insertOutboxRows(
  tx: SqlExecutor,
  rows: readonly NewOutboxRow[],
  maxPending: (webhook: string) => number,
): Promise<Map<string, number>> {
  const moved = new Map<string, number>();
  for (const r of rows)
    await tx.run(
      `INSERT INTO alert_outbox (webhook, event_id, kind, node_id, body, created_at, attempts, next_attempt_at, status, last_error)
       VALUES (?, ?, ?, ?, ?, ?, 0, ?, 'pending', NULL)`,
      [r.webhook, r.eventId, r.kind, r.nodeId, r.body, r.createdAt, r.nextAttemptAt],
    );
  for (const webhook of new Set(rows.map((r) => r.webhook))) {
    const cap = maxPending(webhook);
    // The newest row past the cap: it and every older pending row are over.
    const edge = await tx.get<{ id: unknown }>(
      `SELECT id FROM alert_outbox WHERE webhook = ? AND status = 'pending' ORDER BY id DESC LIMIT 1 OFFSET ?`,
      [webhook, cap],
    );
    if (!edge) continue;
    const n = await tx.run(`UPDATE alert_outbox SET status = 'dead', last_error = ? WHERE webhook = ? AND status = 'pending' AND id <= ?`, [
      `${ERR_ALERT_OUTBOX_FULL}: more than ${cap} pending alerts for this webhook; oldest moved to dead-letter`,
      webhook,
      num(edge.id),
    ]);
    moved.set(webhook, n.changes);
  }
  return moved;
}

/**
 * The outbox in the collector's own database (the store's SQL port, SQLite or PostgreSQL),
 * table alert_outbox from migration 0200_alert_outbox. Several collectors may share one
 * PostgreSQL: a webhook's queue is delivered by the holder of its lease (table alert_lease,
 * migration 0201), so each alert is sent by one collector and in order.
 */
export class SqlAlertOutbox implements AlertOutbox {
  constructor(
    readonly db: SqlDb,
    private readonly maxPending: (webhook: string) => number = () => DEFAULT_MAX_PENDING,
  ) {}

  async enqueue(rows: NewOutboxRow[]): Promise<Map<string, number>> {
    if (rows.length === 0) return new Map();
    return this.db.transaction((tx) => insertOutboxRows(tx, rows, this.maxPending));
  }

  /** The database's clock in epoch ms (leases compare times taken from one clock). */
  private dbNow(): string {
    return this.db.dialect === 'postgres'
      ? `(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT`
      : `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`;
  }

  async lease(webhook: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.dbNow();
    const taken = await this.db.run(
      `UPDATE alert_lease SET holder = ?, expires_at = ${now} + ? WHERE webhook = ? AND (holder = ? OR expires_at < ${now})`,
      [holder, ttlMs, webhook, holder],
    );
    if (taken.changes > 0) return true;
    const created = await this.db.run(
      `INSERT INTO alert_lease (webhook, holder, expires_at) VALUES (?, ?, ${now} + ?) ON CONFLICT (webhook) DO NOTHING`,
      [webhook, holder, ttlMs],
    );
    return created.changes > 0;
  }

  async release(webhook: string, holder: string): Promise<void> {
    await this.db.run(`UPDATE alert_lease SET expires_at = 0 WHERE webhook = ? AND holder = ?`, [webhook, holder]);
  }

  async head(webhook: string): Promise<OutboxRow | null> {
    const r = await this.db.get<DbRow>(`SELECT * FROM alert_outbox WHERE webhook = ? AND status = 'pending' ORDER BY id LIMIT 1`, [
      webhook,
    ]);
    return r ? fromDb(r) : null;
  }

  async delivered(id: number): Promise<void> {
    await this.db.run(`DELETE FROM alert_outbox WHERE id = ?`, [id]);
  }

  async failed(id: number, attempts: number, nextAttemptAt: number, error: string, dead: boolean): Promise<void> {
    // Only a pending row: one the cap moved to dead-letter meanwhile stays there.
    await this.db.run(
      `UPDATE alert_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, status = ? WHERE id = ? AND status = 'pending'`,
      [attempts, nextAttemptAt, error.slice(0, 500), dead ? 'dead' : 'pending', id],
    );
  }

  async counts(): Promise<{ pending: number; dead: number }> {
    const rows = await this.db.all<{ status: string; n: unknown }>(`SELECT status, COUNT(*) AS n FROM alert_outbox GROUP BY status`);
    const n = (s: string) => num(rows.find((r) => r.status === s)?.n ?? 0);
    return { pending: n('pending'), dead: n('dead') };
  }

  async listDead(limit: number): Promise<OutboxRow[]> {
    return (await this.db.all<DbRow>(`SELECT * FROM alert_outbox WHERE status = 'dead' ORDER BY id DESC LIMIT ?`, [limit])).map(fromDb);
  }

  async requeueDead(nextAttemptAt: number): Promise<number> {
    return (
      await this.db.run(`UPDATE alert_outbox SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE status = 'dead'`, [
        nextAttemptAt,
      ])
    ).changes;
  }
}
