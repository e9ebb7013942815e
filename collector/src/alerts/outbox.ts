/**
 * The persisted alert outbox: every alert is a row before any delivery is tried, so a
 * collector restart loses nothing queued. Delivered rows are deleted; rows that used up
 * their attempts stay with status 'dead' (the dead-letter list) for an operator to inspect.
 * Schema: migration 0200_alert_outbox in collector/src/store/migrations.ts.
 */
export type OutboxStatus = 'pending' | 'dead';

export interface OutboxRow {
  id: number;
  webhook: string;
  /** Delivery id sent as `X-Nodeseal-Delivery` (receivers dedupe on it: delivery is at-least-once). */
  eventId: string;
  kind: string;
  nodeId: string;
  body: string;
  createdAt: string;
  attempts: number;
  /** Epoch milliseconds. */
  nextAttemptAt: number;
  status: OutboxStatus;
  lastError: string | null;
}

export type NewOutboxRow = Pick<OutboxRow, 'webhook' | 'eventId' | 'kind' | 'nodeId' | 'body' | 'createdAt' | 'nextAttemptAt'>;

export interface AlertOutbox {
  /** Durable when resolved; resolves with how many oldest pending rows each webhook's cap moved to dead-letter. */
  enqueue(rows: NewOutboxRow[]): Promise<Map<string, number>>;
  /** Oldest pending row of this webhook (per-webhook FIFO), or null. */
  head(webhook: string): Promise<OutboxRow | null>;
  delivered(id: number): Promise<void>;
  /** Records a failed attempt; `dead` moves the row to the dead-letter list. */
  failed(id: number, attempts: number, nextAttemptAt: number, error: string, dead: boolean): Promise<void>;
  counts(): Promise<{ pending: number; dead: number }>;
  listDead(limit: number): Promise<OutboxRow[]>;
  /** Moves every dead-lettered row back to pending with a fresh attempt budget; returns how many. */
  requeueDead(nextAttemptAt: number): Promise<number>;
  /**
   * Takes or renews this webhook's delivery lease for `holder` (several collectors on one
   * database: only the holder delivers). False while another holder's lease runs.
   */
  lease(webhook: string, holder: string, ttlMs: number): Promise<boolean>;
  release(webhook: string, holder: string): Promise<void>;
}
