import type { SqlDb } from '../store/sql.js';
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

/**
 * The outbox in the collector's own database (the store's SQL port, SQLite or PostgreSQL),
 * table alert_outbox from migration 0200_alert_outbox. One dispatcher per database is assumed:
 * several collectors sharing a PostgreSQL fleet would each deliver the same rows (receivers
 * dedupe on the delivery id).
 */
export class SqlAlertOutbox implements AlertOutbox {
  constructor(private readonly db: SqlDb) {}

  async enqueue(rows: NewOutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.transaction(async (tx) => {
      for (const r of rows)
        await tx.run(
          `INSERT INTO alert_outbox (webhook, event_id, kind, node_id, body, created_at, attempts, next_attempt_at, status, last_error)
           VALUES (?, ?, ?, ?, ?, ?, 0, ?, 'pending', NULL)`,
          [r.webhook, r.eventId, r.kind, r.nodeId, r.body, r.createdAt, r.nextAttemptAt],
        );
    });
  }

  async head(webhook: string): Promise<OutboxRow | null> {
    const r = await this.db.get<DbRow>(`SELECT * FROM alert_outbox WHERE webhook = ? AND status = 'pending' ORDER BY id LIMIT 1`, [webhook]);
    return r ? fromDb(r) : null;
  }

  async delivered(id: number): Promise<void> {
    await this.db.run(`DELETE FROM alert_outbox WHERE id = ?`, [id]);
  }

  async failed(id: number, attempts: number, nextAttemptAt: number, error: string, dead: boolean): Promise<void> {
    await this.db.run(`UPDATE alert_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, status = ? WHERE id = ?`, [
      attempts,
      nextAttemptAt,
      error.slice(0, 500),
      dead ? 'dead' : 'pending',
      id,
    ]);
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
    return (await this.db.run(`UPDATE alert_outbox SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE status = 'dead'`, [nextAttemptAt])).changes;
  }
}
