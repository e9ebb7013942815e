import type { Database } from 'better-sqlite3';
import { fromDb, type AlertOutbox, type NewOutboxRow, type OutboxDbRow, type OutboxRow } from './outbox.js';

/** The outbox in the collector's SQLite database (the store's connection; WAL, synchronous=FULL). */
export class SqliteAlertOutbox implements AlertOutbox {
  private readonly insert;
  private readonly selectHead;
  private readonly del;
  private readonly fail;
  constructor(private readonly db: Database) {
    this.insert = db.prepare(
      `INSERT INTO alert_outbox (webhook, event_id, kind, node_id, body, created_at, attempts, next_attempt_at, status, last_error)
       VALUES (@webhook, @eventId, @kind, @nodeId, @body, @createdAt, 0, @nextAttemptAt, 'pending', NULL)`,
    );
    this.selectHead = db.prepare(`SELECT * FROM alert_outbox WHERE webhook = ? AND status = 'pending' ORDER BY id LIMIT 1`);
    this.del = db.prepare(`DELETE FROM alert_outbox WHERE id = ?`);
    this.fail = db.prepare(`UPDATE alert_outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, status = ? WHERE id = ?`);
  }

  async enqueue(rows: NewOutboxRow[]): Promise<void> {
    this.db.transaction((rs: NewOutboxRow[]) => {
      for (const r of rs) this.insert.run(r);
    })(rows);
  }

  async head(webhook: string): Promise<OutboxRow | null> {
    const r = this.selectHead.get(webhook) as OutboxDbRow | undefined;
    return r ? fromDb(r) : null;
  }

  async delivered(id: number): Promise<void> {
    this.del.run(id);
  }

  async failed(id: number, attempts: number, nextAttemptAt: number, error: string, dead: boolean): Promise<void> {
    this.fail.run(attempts, nextAttemptAt, error.slice(0, 500), dead ? 'dead' : 'pending', id);
  }

  async counts(): Promise<{ pending: number; dead: number }> {
    const rows = this.db.prepare(`SELECT status, COUNT(*) AS n FROM alert_outbox GROUP BY status`).all() as Array<{ status: string; n: number }>;
    return { pending: rows.find((r) => r.status === 'pending')?.n ?? 0, dead: rows.find((r) => r.status === 'dead')?.n ?? 0 };
  }

  async listDead(limit: number): Promise<OutboxRow[]> {
    return (this.db.prepare(`SELECT * FROM alert_outbox WHERE status = 'dead' ORDER BY id DESC LIMIT ?`).all(limit) as OutboxDbRow[]).map(fromDb);
  }
}
