import type { Pool } from 'pg';
import { fromDb, type AlertOutbox, type NewOutboxRow, type OutboxDbRow, type OutboxRow } from './outbox.js';

/**
 * The outbox in PostgreSQL (the store's pool). One dispatcher per fleet is assumed: several
 * collectors sharing a database would each deliver the same rows (receivers dedupe on the
 * delivery id).
 */
export class PgAlertOutbox implements AlertOutbox {
  constructor(private readonly pool: Pool) {}

  async enqueue(rows: NewOutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      for (const r of rows)
        await client.query(
          `INSERT INTO alert_outbox (webhook, event_id, kind, node_id, body, created_at, attempts, next_attempt_at, status, last_error)
           VALUES ($1, $2, $3, $4, $5, $6, 0, $7, 'pending', NULL)`,
          [r.webhook, r.eventId, r.kind, r.nodeId, r.body, r.createdAt, r.nextAttemptAt],
        );
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async head(webhook: string): Promise<OutboxRow | null> {
    const r = await this.pool.query<OutboxDbRow>(`SELECT * FROM alert_outbox WHERE webhook = $1 AND status = 'pending' ORDER BY id LIMIT 1`, [webhook]);
    return r.rows[0] ? fromDb(r.rows[0]) : null;
  }

  async delivered(id: number): Promise<void> {
    await this.pool.query(`DELETE FROM alert_outbox WHERE id = $1`, [id]);
  }

  async failed(id: number, attempts: number, nextAttemptAt: number, error: string, dead: boolean): Promise<void> {
    await this.pool.query(`UPDATE alert_outbox SET attempts = $1, next_attempt_at = $2, last_error = $3, status = $4 WHERE id = $5`, [
      attempts,
      nextAttemptAt,
      error.slice(0, 500),
      dead ? 'dead' : 'pending',
      id,
    ]);
  }

  async counts(): Promise<{ pending: number; dead: number }> {
    const r = await this.pool.query<{ status: string; n: string }>(`SELECT status, COUNT(*) AS n FROM alert_outbox GROUP BY status`);
    const n = (s: string) => Number(r.rows.find((x) => x.status === s)?.n ?? 0);
    return { pending: n('pending'), dead: n('dead') };
  }

  async listDead(limit: number): Promise<OutboxRow[]> {
    const r = await this.pool.query<OutboxDbRow>(`SELECT * FROM alert_outbox WHERE status = 'dead' ORDER BY id DESC LIMIT $1`, [limit]);
    return r.rows.map(fromDb);
  }
}
